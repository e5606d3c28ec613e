"""Catalog import from CSV, XLSX and JSON files: read the file, check it, import all rows or none."""

import io
import json
import zipfile
from typing import BinaryIO

import tablib
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from import_export.formats.base_formats import CSV, JSON, XLSX
from import_export.results import Result

from catalog.exceptions import CatalogError
from catalog.resources import RESOURCES
from core.gc_pause import gc_paused
from core.uploads import upload_check

__all__ = [
    "FORMATS",
    "upload_problem",
    "dataset_read",
    "read_error_message",
    "catalog_import",
    "result_error_lines",
]

FORMATS = {"csv": CSV, "xlsx": XLSX, "json": JSON}


def read_error_message(exc: Exception, file_format: str) -> str:
    """Why a file could not be read, in words that say what to do."""
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"The file is not UTF-8 text (byte {exc.start} cannot be decoded); "
            f"save it as UTF-8 {file_format.upper()}."
        )
    if isinstance(exc, json.JSONDecodeError):
        return f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    if isinstance(exc, (zipfile.BadZipFile, KeyError)) and file_format == "xlsx":
        return "The file is not a readable XLSX workbook (it may be truncated or another format)."
    return f"The file could not be read as {file_format.upper()}: {exc}."


def upload_problem(*, source: BinaryIO, size: int, is_blank: bool) -> str | None:
    """Why a file must be refused before it is parsed, if it must: too many bytes, a workbook that unzips
    too far (a zip bomb), too many rows, or nothing in it."""
    try:
        upload_check(
            source,
            size=size,
            what="catalog imports",
            max_rows=settings.CUSTODIAN_MAX_IMPORT_ROWS,
            hint="Split it by data store or entity.",
        )
    except ValidationError as exc:
        return exc.messages[0]
    if is_blank:
        return "The file is empty."
    return None


def dataset_read(*, content: bytes, file_format: str) -> tablib.Dataset:
    """The rows of a catalog file; CatalogError saying why when it is empty, too large or unreadable."""
    if file_format not in FORMATS:
        raise CatalogError(f"'{file_format}' is not a supported format; use one of {', '.join(FORMATS)}.")
    problem = upload_problem(source=io.BytesIO(content), size=len(content), is_blank=not content.strip())
    if problem:
        raise CatalogError(problem)
    reader = FORMATS[file_format]()
    try:
        if not reader.is_binary():
            content = content.decode("utf-8-sig")
        dataset = reader.create_dataset(content)
    except Exception as exc:  # every parser has its own errors; all mean "unreadable"
        raise CatalogError(read_error_message(exc, file_format)) from exc
    if not dataset.headers or len(dataset) == 0:
        raise CatalogError("The file has no rows below its header.")
    if len(dataset) > settings.CUSTODIAN_MAX_IMPORT_ROWS:  # JSON: its rows are known once it is read
        raise CatalogError(
            f"The file has {len(dataset):,} rows; catalog imports are limited to "
            f"{settings.CUSTODIAN_MAX_IMPORT_ROWS:,} rows. Split it by data store or entity."
        )
    return dataset


def catalog_import(
    *,
    resource_name: str,
    content: bytes,
    file_format: str,
    user: AbstractBaseUser | None,
    dry_run: bool = False,
) -> Result:
    """Import one kind of catalog object from a file: every row or, if any row is invalid, none."""
    if resource_name not in RESOURCES:
        raise CatalogError(f"'{resource_name}' is not importable; choose one of {', '.join(RESOURCES)}.")
    dataset = dataset_read(content=content, file_format=file_format)
    resource = RESOURCES[resource_name](user=user, html_diff=False)
    with gc_paused():  # thousands of instances and row results, none garbage until the import ends
        return resource.import_data(dataset, dry_run=dry_run, user=user, rollback_on_validation_errors=True)


def result_error_lines(result: Result) -> list[str]:
    """Each problem of an import on one line: the row, the field and the reason."""
    lines = [f"File: {error.error}" for error in result.base_errors]
    for row_number, errors in result.row_errors():
        lines += [f"Row {row_number}: {error.error}" for error in errors]
    for invalid in result.invalid_rows:
        for field, messages in invalid.error_dict.items():
            where = "" if field == "__all__" else f"{field}: "
            lines += [f"Row {invalid.number}: {where}{message}" for message in messages]
    return lines
