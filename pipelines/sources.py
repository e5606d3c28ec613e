"""Extract: read a pipeline's source in batches of text columns, whatever the format.

Every reader yields `Batch`es: a Polars frame whose columns are the source fields as strings (NULL where a
null marker or a missing value was read), the record number of its first row, and how far through the
source it is. Memory holds one batch at a time, so it does not grow with the source.

Files are read only from uploads or from under CUSTODIAN_IMPORT_ROOT. CSV goes through PyArrow's
streaming reader; JSON arrays through ijson; XLSX through openpyxl's read-only mode; SQL sources through a
server-side cursor in a read-only transaction.
"""

import csv
import hashlib
import io
import json
import os
import re
import time as clock
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from django.conf import settings
from django.core.exceptions import ValidationError

from core.errors import CustodianError
from core.quoting import forced
from core.uploads import archive_check
from pipelines.choices import SourceKind

__all__ = [
    "Batch",
    "SourceReader",
    "PipelineDataError",
    "TransientSourceError",
    "source_open",
    "source_file_path",
    "import_path_resolve",
    "file_fingerprint",
    "source_sql_check",
]

HEAD_BYTES = 65536
ARROW_RECORD_QUOTE = re.compile(r"(columns, got \d+): .*", re.S)
BLOCK_BYTES = 1 << 20


class PipelineDataError(CustodianError):
    """The source, the configuration or the data is wrong: retrying will not help."""


class TransientSourceError(CustodianError):
    """A connection was lost or refused: a retry may succeed."""


@dataclass
class Batch:
    frame: pl.DataFrame
    first_row: int
    bytes_read: int | None = None


@dataclass
class SourceReader:
    """An open source: its field names, a label for lineage, and its batches."""

    fields: list[str]
    label: str
    batches: Iterator[Batch]
    total_bytes: int | None = None
    end_position: dict = field(default_factory=dict)  # filled when a file has been read to its end
    pushed_down_watermark: bool = False


def import_path_resolve(relative: str, *, must_exist: bool = True) -> Path:
    """A path under CUSTODIAN_IMPORT_ROOT; PipelineDataError for anything outside it (or missing)."""
    root = Path(settings.CUSTODIAN_IMPORT_ROOT).resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        raise PipelineDataError(
            f"'{relative}' is outside the import folder ({root}); sources are read only from under it."
        )
    if must_exist and not candidate.is_file():
        raise PipelineDataError(f"No file '{relative}' under the import folder ({root}).")
    return candidate


def source_file_path(pipeline) -> Path:
    if pipeline.source_file:
        path = Path(pipeline.source_file.path)
        if not path.is_file():
            raise PipelineDataError(f"The uploaded file {pipeline.source_file.name} is missing from storage.")
        return path
    if not pipeline.source_path:
        raise PipelineDataError("The pipeline has no source file: upload one or give a path.")
    return import_path_resolve(pipeline.source_path)


class _CountingFile(io.RawIOBase):
    """A binary file that counts the bytes read through it (for progress)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self):
        self.raw.close()
        super().close()


def file_fingerprint(path: Path, offset: int) -> dict:
    """Enough to tell later whether a file only grew since `offset` bytes were read."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        start = max(0, offset - 4096)
        handle.seek(start)
        tail = handle.read(offset - start)
    return {
        "path": str(path),
        "offset": offset,
        "head": hashlib.sha256(head[: min(len(head), offset)]).hexdigest(),
        "tail": hashlib.sha256(tail).hexdigest(),
    }


def _resume_offset(path: Path, position: dict | None) -> tuple[int, int]:
    """(where to resume an append-only file, how many data records lie before it), or (0, 0) when the file
    was replaced, rewritten or truncated. Record numbers of a resumed run go on from the earlier runs'."""
    if not position or position.get("path") != str(path):
        return 0, 0
    offset = int(position.get("offset") or 0)
    if offset <= 0 or path.stat().st_size < offset:
        return 0, 0
    fingerprint = file_fingerprint(path, offset)
    if {name: position.get(name) for name in fingerprint} != fingerprint:
        return 0, 0
    return offset, int(position.get("records") or 0)


def _decode_error(exc: Exception, encoding: str) -> PipelineDataError:
    return PipelineDataError(
        f"The file is not valid {encoding}: {exc}. Set the pipeline's encoding "
        "(for example latin-1 or cp1252)."
    )


def _csv_header(path: Path, pipeline) -> list[str]:
    delimiter = _delimiter(pipeline)
    try:
        with path.open("r", encoding=pipeline.encoding, newline="") as handle:
            first = next(
                csv.reader(handle, delimiter=delimiter, quotechar=pipeline.csv_quotechar or '"'), None
            )
    except UnicodeDecodeError as exc:
        raise _decode_error(exc, pipeline.encoding) from None
    except LookupError:
        raise PipelineDataError(f"Unknown encoding '{pipeline.encoding}'.") from None
    except csv.Error as exc:
        raise PipelineDataError(f"The CSV header cannot be read: {exc}") from None
    if first is None:
        raise PipelineDataError("The file is empty (0 rows).")
    if first and first[0].startswith("\ufeff"):
        first[0] = first[0][1:]
    if not pipeline.has_header:
        return [f"f{i}" for i in range(1, len(first) + 1)]
    names = [name.strip() for name in first]
    if any(not name for name in names):
        raise PipelineDataError(f"The header has an empty field name (column {names.index('') + 1}).")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PipelineDataError(f"The header repeats field names: {', '.join(duplicates)}.")
    return names


def _delimiter(pipeline) -> str:
    return "\t" if pipeline.csv_delimiter in ("\\t", "tab") else pipeline.csv_delimiter


def _csv_reader(
    pipeline, path: Path, position: dict | None, batch_rows: int, limit: int | None
) -> SourceReader:
    if path.stat().st_size == 0:
        raise PipelineDataError("The file is empty (0 bytes).")
    names = _csv_header(path, pipeline)
    size = path.stat().st_size
    offset, records_before = _resume_offset(path, position)
    raw = path.open("rb")
    if offset:
        raw.seek(offset)
    counting = _CountingFile(raw)
    invalid: list = []

    def invalid_row(row):
        invalid.append(row)
        return "error"

    encoding = pipeline.encoding.lower().replace("_", "-")
    read_options = pa_csv.ReadOptions(
        column_names=names,
        skip_rows=1 if (pipeline.has_header and not offset) else 0,
        # PyArrow's streaming reader keeps dozens of blocks in flight (about 400 MB at 8 MB blocks):
        # small blocks keep that down, and _joined() makes frames of batch_rows rows from them.
        block_size=BLOCK_BYTES,
        encoding="utf8" if encoding in ("utf-8", "utf8") else pipeline.encoding,
    )
    parse_options = pa_csv.ParseOptions(
        delimiter=_delimiter(pipeline),
        quote_char=pipeline.csv_quotechar or False,
        newlines_in_values=True,
        invalid_row_handler=invalid_row,
    )
    markers = list(pipeline.null_markers or [""])
    convert_options = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        null_values=markers,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    if offset == size:
        raw.close()
        end = file_fingerprint(path, size) | {"records": records_before}
        return SourceReader(names, f"file:{path.name}", iter(()), size, end)

    def batches() -> Iterator[Batch]:
        row = records_before + 1
        reader = None
        try:
            reader = pa_csv.open_csv(counting, read_options, parse_options, convert_options)
            for frame in _joined(reader, batch_rows):
                if limit is not None and row - 1 + frame.height > limit:
                    frame = frame.head(limit - row + 1)
                yield Batch(frame, row, offset + counting.count)
                row += frame.height
                if limit is not None and row > limit:
                    return
        except pa.ArrowInvalid as exc:
            raise _csv_error(exc, invalid, row, pipeline.encoding, path, pipeline) from None
        except UnicodeDecodeError as exc:
            raise _decode_error(exc, pipeline.encoding) from None
        finally:
            counting.close()
        reader_end = offset + counting.count  # not the size now: the file may have grown since
        with path.open("rb") as handle:
            handle.seek(max(0, reader_end - 1))
            ends_cleanly = handle.read(1) in (b"\n", b"\r")
        if ends_cleanly:
            result.end_position.update(file_fingerprint(path, reader_end), records=row - 1)

    result = SourceReader(names, f"file:{path.name}", batches(), size)
    return result


def _malformed_record(path: Path, pipeline, expected: int) -> int | None:
    """The data record number of the first record whose field count differs (PyArrow cannot say when
    values may hold newlines); only read when a file has already failed to parse."""
    try:
        with path.open("r", encoding=pipeline.encoding, newline="") as handle:
            reader = csv.reader(
                handle, delimiter=_delimiter(pipeline), quotechar=pipeline.csv_quotechar or '"'
            )
            for number, record in enumerate(reader, start=0 if pipeline.has_header else 1):
                if number and len(record) != expected:
                    return number
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


def _joined(reader, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Frames of at least batch_rows rows (the last may be smaller) from the reader's small record batches."""
    pending, rows = [], 0
    for record_batch in reader:
        if record_batch.num_rows:
            pending.append(record_batch)
            rows += record_batch.num_rows
        if rows >= batch_rows:
            yield pl.from_arrow(pa.Table.from_batches(pending))
            pending, rows = [], 0
    if pending:
        yield pl.from_arrow(pa.Table.from_batches(pending))


def _csv_error(
    exc: Exception, invalid: list, row: int, encoding: str, path=None, pipeline=None
) -> PipelineDataError:
    text = str(exc)
    if invalid:
        bad = invalid[-1]
        number = bad.number - 1 if bad.number else None
        if number is None and path is not None:
            number = _malformed_record(path, pipeline, bad.expected_columns)
        where = f"record {number}" if number else f"a record after row {row - 1}"
        # Not the record's text: its values may be personal data, and the run's page is read by users who
        # may not see that; the record number finds it in the file.
        return PipelineDataError(
            f"Malformed CSV at {where}: expected {bad.expected_columns} fields, found {bad.actual_columns}. "
            "Nothing was loaded."
        )
    if "UTF8" in text or "decode" in text.lower():
        return _decode_error(exc, encoding)
    # PyArrow ends "Expected 8 columns, got 3: <the record>": the record is left out, as above.
    text = ARROW_RECORD_QUOTE.sub(r"\1", text)
    return PipelineDataError(f"Malformed CSV after row {row - 1}: {text[:300]}. Nothing was loaded.")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.tzinfo is None and value.time() == time(0):
        return value.date().isoformat()  # spreadsheets store dates as midnight datetimes
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _records_to_batches(
    records: Iterator[dict],
    fields: list[str],
    markers: set,
    batch_rows: int,
    limit: int | None,
    progress=None,
) -> Iterator[Batch]:
    row = 1
    chunk: list[dict] = []

    def flush():
        columns = {name: [] for name in fields}
        for record in chunk:
            for name in fields:
                value = _text(record.get(name))
                columns[name].append(None if value in markers else value)
        return pl.DataFrame(columns, schema={name: pl.String for name in fields})

    for record in records:
        chunk.append(record)
        if limit is not None and row - 1 + len(chunk) >= limit:
            break
        if len(chunk) >= batch_rows:
            yield Batch(flush(), row, progress() if progress else None)
            row += len(chunk)
            chunk = []
    if chunk:
        yield Batch(flush(), row, progress() if progress else None)


def _peek_fields(records: list[dict]) -> list[str]:
    fields: list[str] = []
    for record in records:
        for name in record:
            if name not in fields:
                fields.append(name)
    return fields


def _records_reader(
    pipeline,
    path: Path,
    records: Iterator[dict],
    *,
    empty: str,
    progress,
    size: int,
    batch_rows: int,
    limit: int | None,
) -> SourceReader:
    """A reader over JSON-like records: field names from the first hundred records, then batches."""
    head = []
    for record in records:
        head.append(record)
        if len(head) >= 100:
            break
    if not head:
        raise PipelineDataError(empty)

    def chained():
        yield from head
        yield from records

    fields = _peek_fields(head)
    markers = set(pipeline.null_markers or [])
    batches = _records_to_batches(chained(), fields, markers, batch_rows, limit, progress)
    return SourceReader(fields, f"file:{path.name}", batches, size)


def _jsonl_reader(pipeline, path: Path, batch_rows: int, limit: int | None) -> SourceReader:
    size = path.stat().st_size
    if size == 0:
        raise PipelineDataError("The file is empty (0 bytes).")
    handle = path.open("rb")
    counting = {"bytes": 0}

    def records():
        try:
            for number, line in enumerate(handle, start=1):
                counting["bytes"] += len(line)
                if not line.strip():
                    continue
                try:
                    record = json.loads(line.decode(pipeline.encoding))
                except UnicodeDecodeError as exc:
                    raise _decode_error(exc, pipeline.encoding) from None
                except ValueError as exc:
                    raise PipelineDataError(
                        f"Line {number} is not valid JSON: {exc}. Nothing was loaded."
                    ) from None
                if not isinstance(record, dict):
                    raise PipelineDataError(f"Line {number} is not a JSON object. Nothing was loaded.")
                yield record
        finally:
            handle.close()

    return _records_reader(
        pipeline,
        path,
        records(),
        empty="The file holds no JSON records.",
        progress=lambda: counting["bytes"],
        size=size,
        batch_rows=batch_rows,
        limit=limit,
    )


def _json_reader(pipeline, path: Path, batch_rows: int, limit: int | None) -> SourceReader:
    import ijson

    size = path.stat().st_size
    if size == 0:
        raise PipelineDataError("The file is empty (0 bytes).")
    handle = path.open("rb")
    with path.open("rb") as probe:
        start = probe.read(4096).lstrip()
    if not start.startswith(b"["):
        handle.close()
        raise PipelineDataError(
            "The file is not a JSON array (it should start with '['); for one object per "
            "line choose JSON Lines."
        )

    def records():
        count = 0
        try:
            for record in ijson.items(handle, "item", use_float=True):
                count += 1
                if not isinstance(record, dict):
                    raise PipelineDataError(
                        f"Item {count} of the array is not a JSON object. Nothing was loaded."
                    )
                yield record
        except ijson.JSONError as exc:
            raise PipelineDataError(
                f"The file is not valid JSON after item {count}: {exc}. Nothing was loaded."
            ) from None
        except UnicodeDecodeError as exc:
            raise _decode_error(exc, "utf-8") from None
        finally:
            handle.close()

    return _records_reader(
        pipeline,
        path,
        records(),
        empty="The JSON array is empty.",
        progress=lambda: handle.tell() if not handle.closed else size,
        size=size,
        batch_rows=batch_rows,
        limit=limit,
    )


def _xlsx_reader(pipeline, path: Path, batch_rows: int, limit: int | None) -> SourceReader:
    from openpyxl import load_workbook

    size = path.stat().st_size
    if size == 0:
        raise PipelineDataError("The file is empty (0 bytes).")
    try:
        # Its unzipped size and compression ratio are checked from the zip's directory before openpyxl
        # inflates anything: a small workbook that unzips to gigabytes is refused at once.
        with zipfile.ZipFile(path) as archive:
            archive_check(archive)
    except ValidationError as exc:
        raise PipelineDataError(exc.messages[0]) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise PipelineDataError(
            f"The file is not a readable XLSX workbook (truncated, damaged or another format): {exc}"
        ) from None
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise PipelineDataError(
            f"The file is not a readable XLSX workbook (truncated, damaged or another format): {exc}"
        ) from None
    if pipeline.sheet_name and pipeline.sheet_name not in workbook.sheetnames:
        workbook.close()
        raise PipelineDataError(
            f"The workbook has no sheet '{pipeline.sheet_name}' (it has {', '.join(workbook.sheetnames)})."
        )
    sheet = workbook[pipeline.sheet_name] if pipeline.sheet_name else workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    try:
        first = next(rows, None)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        workbook.close()
        raise PipelineDataError(f"The XLSX workbook is damaged: {exc}") from None
    if first is None:
        workbook.close()
        raise PipelineDataError(f"Sheet '{sheet.title}' is empty.")
    if pipeline.has_header:
        fields = [_text(v).strip() if v is not None else "" for v in first]
        while fields and not fields[-1]:
            fields.pop()
        if any(not name for name in fields):
            workbook.close()
            raise PipelineDataError(
                f"The header row has an empty field name (column {fields.index('') + 1})."
            )
        pending = []
    else:
        fields = [f"f{i}" for i in range(1, len(first) + 1)]
        pending = [first]

    def records():
        try:
            for values in _chain(pending, rows):
                if values is None or all(v is None for v in values):
                    continue
                yield dict(zip(fields, values, strict=False))
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
            raise PipelineDataError(f"The XLSX workbook is damaged: {exc}. Nothing was loaded.") from None
        finally:
            workbook.close()

    markers = set(pipeline.null_markers or [])
    return SourceReader(
        fields,
        f"file:{path.name}#{sheet.title}",
        _records_to_batches(records(), fields, markers, batch_rows, limit),
        size,
    )


def _chain(first, rest):
    yield from first
    yield from rest


def _sql_statement(pipeline, connection) -> tuple[sa.TextClause | sa.Select, str]:
    from catalog.validators import validate_identifier

    if pipeline.source_kind == SourceKind.SQL_TABLE:
        parts = pipeline.source_table.split(".")
        if len(parts) == 1 and pipeline.source_datastore.schema_name and connection.dialect.name != "sqlite":
            parts = [pipeline.source_datastore.schema_name, parts[0]]
        for part in parts:
            try:
                validate_identifier(part)
            except Exception:
                raise PipelineDataError(f"'{pipeline.source_table}' is not a valid table name.") from None
        table = sa.table(forced(parts[-1]), schema=forced(parts[0]) if len(parts) > 1 else None)
        return sa.select(sa.literal_column("*")).select_from(table), ".".join(parts)
    return sa.text(pipeline.source_query.strip().rstrip(";")), "query"


def _every_column_of(statement: sa.TextClause | sa.Select, alias: str) -> sa.Select:
    """SELECT * FROM (statement) AS alias, for SQLAlchemy to compile in the source's dialect."""
    inner = statement.columns() if isinstance(statement, sa.TextClause) else statement
    return sa.select(sa.literal_column("*")).select_from(inner.subquery(alias))


def _source_guard(connection, store, timeout_seconds: float) -> None:
    """Open the transaction that runs the source's SQL as user-written SQL is run: on PostgreSQL read
    only, with a statement timeout, as the store's read-only role, in its schema (catalog's
    datastore_guard); on SQLite read only, and interrupted once the time is up."""
    from core.connections import datastore_guard

    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
        deadline = clock.monotonic() + timeout_seconds
        raw.set_progress_handler(lambda: clock.monotonic() > deadline, 10_000)
        return
    import psycopg

    try:
        with raw.cursor() as cursor:
            datastore_guard(cursor, store, timeout_seconds=timeout_seconds)
    except psycopg.Error as exc:
        raise PipelineDataError(
            f"Data store '{store.name}' refused the guard its source SQL runs under: {_first_line(exc)}. "
            "Check its read-only role (the connecting user must be a member of it)."
        ) from None


def _timed_out(exc: Exception) -> bool:
    """Whether the source's SQL was stopped by its time limit (PostgreSQL's statement or lock timeout,
    or the SQLite progress handler), not by a lost connection."""
    import psycopg

    orig = getattr(exc, "orig", None)
    if isinstance(orig, (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)):
        return True
    return "interrupted" in str(orig or exc)


def _timeout_message(store, timeout_seconds: float) -> str:
    return (
        f"The source SQL on data store '{store.name}' ran longer than its limit of {timeout_seconds:g} s "
        "and was stopped; nothing was loaded. Make the query cheaper (filter, index) or ask for a longer "
        "limit (CUSTODIAN_SOURCE_TIMEOUT_SECONDS for runs, CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS for dry runs)."
    )


def source_sql_check(pipeline) -> None:
    """SqlRefused unless the SQL gate (core.sql_gate) lets the source's SQL through: the query, or a
    SELECT * of the table. A source reads only ordinary tables of its data store's schema and calls only
    allow-listed functions (no system catalogs, files, large objects or other sessions). Checked when the
    pipeline is saved (pipelines.config) and again right before the SQL runs (_sql_reader)."""
    from sqlglot import exp

    from core.sql_gate import SqlRefused, query_check

    store = pipeline.source_datastore
    dialect = "sqlite" if store.engine == "sqlite" else "postgres"
    schema = (store.schema_name or None) if dialect == "postgres" else None
    if pipeline.source_kind == SourceKind.SQL_QUERY:
        query_check(pipeline.source_query, schema=schema, dialect=dialect, what="The source query")
        return
    parts = pipeline.source_table.split(".")
    if len(parts) > 2 or not all(parts):
        raise SqlRefused(f"'{pipeline.source_table}' is not a table name (table or schema.table).")
    table = exp.table_(parts[-1], db=parts[0] if len(parts) == 2 else schema, quoted=True)
    query_check(
        exp.select("*").from_(table).sql(dialect), schema=schema, dialect=dialect, what="The source table"
    )


def _sql_reader(
    pipeline,
    batch_rows: int,
    limit: int | None,
    watermark,
    watermark_column: str | None,
    stack,
    timeout_seconds: float,
) -> SourceReader:
    from core.connections import datastore_connect
    from core.errors import SchemaError, StoreUnreachable
    from core.sql_gate import SqlRefused

    store = pipeline.source_datastore
    if store is None:
        raise PipelineDataError("The pipeline has no source data store.")
    try:
        # Checked when saved; checked again here, right before it runs (the gate may have tightened since).
        source_sql_check(pipeline)
    except SqlRefused as refusal:
        raise PipelineDataError(f"{refusal.message} Nothing was read.") from None
    try:
        connection = stack.enter_context(datastore_connect(store))
    except StoreUnreachable as exc:  # down or refusing: a retry may work
        raise TransientSourceError(exc.message) from None
    except SchemaError as exc:  # no connection, or Custodian's own database: a retry will not help
        raise PipelineDataError(f"{exc.message} Nothing was read.") from None
    _source_guard(connection, store, timeout_seconds)
    statement, label = _sql_statement(pipeline, connection)
    params = {}
    pushed = False
    if watermark is not None and watermark_column:
        source = _every_column_of(statement, "custodian_src")
        statement = source.where(sa.column(forced(watermark_column)) > sa.bindparam("watermark"))
        params["watermark"] = watermark
        pushed = True
    if limit is not None:
        statement = _every_column_of(statement, "custodian_lim").limit(int(limit))
    dialect = connection.dialect.name
    try:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(
            statement, params
        )
    except sa.exc.OperationalError as exc:
        if _timed_out(exc):
            raise PipelineDataError(_timeout_message(store, timeout_seconds)) from None
        if dialect == "sqlite" or "does not exist" in str(exc.orig):
            raise PipelineDataError(_sql_message(exc, pipeline)) from None
        raise TransientSourceError(f"Lost the source data store '{store.name}': {_first_line(exc)}") from None
    except sa.exc.DBAPIError as exc:
        raise PipelineDataError(_sql_message(exc, pipeline)) from None
    fields = list(result.keys())
    duplicates = sorted({name for name in fields if fields.count(name) > 1})
    if duplicates:
        raise PipelineDataError(f"The query returns several columns named {', '.join(duplicates)}.")

    def batches():
        row = 1
        try:
            for partition in result.partitions(batch_rows):
                columns = {name: [_text(r[i]) for r in partition] for i, name in enumerate(fields)}
                frame = pl.DataFrame(columns, schema={name: pl.String for name in fields})
                yield Batch(frame, row)
                row += frame.height
        except sa.exc.OperationalError as exc:
            if _timed_out(exc):
                raise PipelineDataError(_timeout_message(store, timeout_seconds)) from None
            raise TransientSourceError(
                f"Lost the source data store '{store.name}': {_first_line(exc)}"
            ) from None
        except sa.exc.DBAPIError as exc:
            raise PipelineDataError(_sql_message(exc, pipeline)) from None

    source_label = f"{store.name}:{label}"
    return SourceReader(fields, source_label, batches(), None, {}, pushed)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _sql_message(exc: Exception, pipeline) -> str:
    reason = _first_line(exc)
    if pipeline.source_kind == SourceKind.SQL_TABLE and (
        "does not exist" in reason or "no such table" in reason
    ):
        return (
            f"The source table '{pipeline.source_table}' does not exist on data store "
            f"'{pipeline.source_datastore.name}' ({reason})."
        )
    return f"The source query failed on data store '{pipeline.source_datastore.name}': {reason}"


@contextmanager
def source_open(
    pipeline,
    *,
    limit: int | None = None,
    watermark=None,
    watermark_column: str | None = None,
    file_position: dict | None = None,
    batch_rows: int | None = None,
    timeout_seconds: float | None = None,
):
    """An open SourceReader for the pipeline; PipelineDataError or TransientSourceError saying why not.

    `watermark` (with the source column it applies to) is pushed down into SQL sources; file sources are
    filtered by the runner. `file_position` lets an append-only file be read from where the last run ended.
    SQL sources run under the SQL gate, read only, as the store's read-only role, and are stopped after
    `timeout_seconds` (default CUSTODIAN_SOURCE_TIMEOUT_SECONDS).
    """
    from contextlib import ExitStack

    batch_rows = batch_rows or pipeline.batch_size
    with ExitStack() as stack:
        kind = pipeline.source_kind
        if kind in (SourceKind.SQL_TABLE, SourceKind.SQL_QUERY):
            if timeout_seconds is None:
                timeout_seconds = settings.CUSTODIAN_SOURCE_TIMEOUT_SECONDS
            yield _sql_reader(
                pipeline, batch_rows, limit, watermark, watermark_column, stack, float(timeout_seconds)
            )
            return
        path = source_file_path(pipeline)
        if not os.access(path, os.R_OK):
            raise PipelineDataError(f"The file {path.name} cannot be read (permissions).")
        if kind == SourceKind.CSV:
            yield _csv_reader(pipeline, path, file_position, batch_rows, limit)
        elif kind == SourceKind.JSONL:
            yield _jsonl_reader(pipeline, path, batch_rows, limit)
        elif kind == SourceKind.JSON:
            yield _json_reader(pipeline, path, batch_rows, limit)
        elif kind == SourceKind.XLSX:
            yield _xlsx_reader(pipeline, path, batch_rows, limit)
        else:
            raise PipelineDataError(f"Unknown source kind '{kind}'.")
