"""Uploaded files are checked before anything parses them: their bytes, and for a zip archive (an XLSX
workbook) its unzipped size, its compression ratio and its rows, read from the zip's directory and by
streaming the sheets, so a 2 MB file that unzips to gigabytes is refused in milliseconds.

Python's zipfile never inflates a member past the size its directory declares, so the declared sizes
checked here bound what openpyxl (or any other reader built on zipfile) will read later.
Every refusal is a ``ValidationError`` whose message says what was wrong and what to do; callers put it on
their file field or wrap it in their own error.
"""

import re
import zipfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError

__all__ = ["upload_check", "upload_size_check", "archive_check", "row_count_check", "ZIP_MAGIC"]

ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1024 * 1024
# Below this size a member's ratio says nothing: a few kB of repeated styles compress very well.
RATIO_FLOOR_BYTES = 1024 * 1024
# A row element of a worksheet, with or without a namespace prefix: <row r="1">, <x:row>.
SHEET_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
SHEET_MEMBER = re.compile(r"xl/worksheets/[^/]+\.xml")

Source = BinaryIO | Path | str


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 1_000_000 else f"{size:,} bytes"


def upload_size_check(*, size: int, what: str = "uploads", hint: str = "") -> None:
    """Refuse a file over CUSTODIAN_MAX_IMPORT_BYTES; `what` names the uploads ("catalog imports")."""
    limit = settings.CUSTODIAN_MAX_IMPORT_BYTES
    if size > limit:
        raise ValidationError(
            f"The file has {_mb(size)}; {what} are limited to {_mb(limit)}.{' ' + hint if hint else ''}",
            code="too_large",
        )


def _is_zip(source: Source) -> bool:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            return handle.read(4) == ZIP_MAGIC
    position = source.tell()
    head = source.read(4)
    source.seek(position)
    return head == ZIP_MAGIC


def _is_json(source: Source) -> bool:
    """Whether a text file starts as JSON does ([ or { after a byte-order mark and whitespace)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            head = handle.read(1024)
    else:
        position = source.tell()
        head = source.read(1024)
        source.seek(position)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"[", b"{")


def _open_zip(source: Source) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ValidationError(
            "The file is not a readable XLSX workbook (it may be truncated or another format).",
            code="bad_zip",
        ) from None


def archive_check(archive: zipfile.ZipFile) -> None:
    """Refuse a zip whose members unzip to more than CUSTODIAN_MAX_UNCOMPRESSED_BYTES in all, or one
    compressed more than CUSTODIAN_MAX_COMPRESSION_RATIO to 1 (the mark of a decompression bomb)."""
    members = archive.infolist()
    total = sum(info.file_size for info in members)
    limit = settings.CUSTODIAN_MAX_UNCOMPRESSED_BYTES
    if total > limit:
        raise ValidationError(
            f"The workbook unzips to {_mb(total)}; a workbook may unzip to at most {_mb(limit)}. "
            "Split it into smaller files or save it as CSV.",
            code="too_large_unzipped",
        )
    max_ratio = settings.CUSTODIAN_MAX_COMPRESSION_RATIO
    for info in members:
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ValidationError(
                f"The workbook's part {info.filename} is compressed {ratio:,} to 1, far beyond what real "
                f"data reaches (at most {max_ratio:,} to 1): it is refused as a possible zip bomb.",
                code="compression_ratio",
            )


def _sheet_rows_over(archive: zipfile.ZipFile, max_rows: int) -> str | None:
    """The first worksheet with more than max_rows rows, counted by streaming its XML (never parsed)."""
    for info in archive.infolist():
        if not SHEET_MEMBER.fullmatch(info.filename):
            continue
        rows, tail = 0, b""
        with archive.open(info) as sheet:
            while chunk := sheet.read(CHUNK):
                window = tail + chunk
                # A tag wholly inside the carried-over tail was counted with the previous chunk.
                rows += sum(1 for match in SHEET_ROW.finditer(window) if match.end() > len(tail))
                tail = window[-64:]
                if rows > max_rows + 1:  # the header row is not a data row
                    return info.filename
    return None


def _text_rows_over(source: Source, max_rows: int) -> bool:
    """Whether a text file has more than max_rows lines below its header (a quoted line break counts too,
    which errs on the side of refusing)."""
    handle = open(source, "rb") if isinstance(source, (str, Path)) else source
    position = None if handle is not source else source.tell()
    try:
        lines = 0
        while chunk := handle.read(CHUNK):
            lines += chunk.count(b"\n")
            if lines > max_rows + 1:
                return True
        return False
    finally:
        if position is None:
            handle.close()
        else:
            source.seek(position)


def row_count_check(source: Source, *, max_rows: int, what: str = "uploads", hint: str = "") -> None:
    """Refuse a CSV or XLSX file with more than max_rows data rows, before it is parsed."""
    message = f"The file has more than {max_rows:,} rows; {what} are limited to {max_rows:,} rows."
    if hint:
        message += " " + hint
    if _is_zip(source):
        with _open_zip(source) as archive:
            if _sheet_rows_over(archive, max_rows):
                raise ValidationError(message, code="too_many_rows")
    elif _is_json(source):
        return  # its lines are not its rows: counted once read, which its byte cap keeps cheap
    elif _text_rows_over(source, max_rows):
        raise ValidationError(message, code="too_many_rows")


def upload_check(
    source: Source, *, size: int, what: str = "uploads", max_rows: int | None = None, hint: str = ""
) -> None:
    """Every check an uploaded file passes before it is parsed: its bytes; if it is a zip (XLSX), its
    unzipped size and compression ratio; with max_rows, its rows. ValidationError saying which failed."""
    upload_size_check(size=size, what=what, hint=hint)
    position = None if isinstance(source, (str, Path)) else source.tell()
    try:
        if _is_zip(source):
            with _open_zip(source) as archive:
                archive_check(archive)
        if max_rows is not None:
            row_count_check(source, max_rows=max_rows, what=what, hint=hint)
    finally:
        if position is not None:
            source.seek(position)  # the caller reads the file next, from where it was
