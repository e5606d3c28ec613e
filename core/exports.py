"""Files people open in a spreadsheet: cells that would run as a formula are written as text.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after leading whitespace too)
is prefixed with an apostrophe, as OWASP recommends against CSV injection, so Excel, LibreOffice and
Google Sheets show it as text instead of evaluating ``=HYPERLINK(...)`` or ``-2+3+cmd|' /C calc'!A0``. Real
numbers are kept as numbers: a value typed as a number, or a numeric text in a column the caller knows
to be numeric. Every hand-written CSV export goes through :func:`csv_download`; the catalog resources through
:func:`spreadsheet_cell`.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import StreamingHttpResponse

__all__ = ["formula_escaped", "formula_unescaped", "spreadsheet_cell", "csv_lines", "csv_download"]

# What a spreadsheet reads as the start of a formula; whitespace before it does not stop it.
FORMULA_START = re.compile(r"[\t\r]|\s*[=+\-@]")
# A number as a numeric column holds it: sign, digits, decimals, exponent; nothing after it.
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
ESCAPE = "'"


def formula_escaped(text: str) -> str:
    """The text, with an apostrophe in front when a spreadsheet would run it as a formula."""
    return ESCAPE + text if FORMULA_START.match(text) else text


def formula_unescaped(text: str) -> str:
    """The text before :func:`formula_escaped`: an export read back in is imported as it was exported."""
    if text.startswith(ESCAPE) and FORMULA_START.match(text, 1):
        return text[1:]
    return text


def spreadsheet_cell(value, *, numeric: bool = False):
    """A value ready for a spreadsheet cell: numbers as they are, text escaped, None as an empty cell.

    ``numeric`` says the column holds numbers, so a text that is exactly a number ("-5") stays one.
    """
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)):  # bool is an int: True/False cannot start a formula
        return value
    text = str(value)
    if numeric and PLAIN_NUMBER.fullmatch(text):
        return text
    return formula_escaped(text)


class _Echo:
    """A file whose write() hands back the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def csv_lines(
    header: list[str], rows: Iterable[Iterable], numeric_columns: Iterable[str] = ()
) -> Iterator[str]:
    """The CSV lines of a header and its rows, every cell through :func:`spreadsheet_cell`.

    ``numeric_columns`` names the header's columns that hold numbers.
    """
    writer = csv.writer(_Echo())
    numeric = {str(name) for name in numeric_columns}
    flags = [name in numeric for name in header]
    yield writer.writerow([formula_escaped(str(name)) for name in header])
    for row in rows:
        yield writer.writerow(
            [
                spreadsheet_cell(value, numeric=is_numeric)
                for value, is_numeric in zip(row, flags, strict=True)
            ]
        )


def csv_download(
    *, filename: str, header: list[str], rows: Iterable[Iterable], numeric_columns: Iterable[str] = ()
) -> StreamingHttpResponse:
    """A streamed CSV attachment of the rows, with formula-leading cells escaped."""
    response = StreamingHttpResponse(
        csv_lines(header, rows, numeric_columns), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
