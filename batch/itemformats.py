"""Readers of item files: CSV and JSON Lines, one raw item mapping at a time.

Both readers stream: they hold one line (one CSV record) at a time, so a file of millions of
items costs no more memory than a file of ten. Each yields ``(line, mapping)`` where
``line`` is the 1-based physical line the item starts on (the CSV header is line 1), and
reports what is wrong with the file itself (not UTF-8, not CSV, not a JSON object, a bad
header) to a :class:`~batch.validate.Problems` at ``<file name>:<line>``; checking the
mapping as an item is the caller's business. Nothing is echoed from the file but column
names and JSON keys: a cell may hold a signed URL.

Bytes are decoded line by line rather than by a text-mode file, so that a byte that is not
UTF-8 is reported at its own line (a text-mode file decodes in 8 KiB chunks, and would fail
on whichever line happened to start the chunk).
"""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Iterator
from typing import IO, Any, Final

from batch.validate import Problems, type_name

#: The columns of a CSV item list: per-item options and stores need JSON Lines.
CSV_COLUMNS: Final = ("url", "file", "path")
_CSV_HINT: Final = ("a CSV item list has only the columns url, file and path (per-item options "
                    "and stores need a JSON Lines file)")

Record = tuple[int, dict[str, Any]]


def _not_utf8(chunk: bytes, exc: UnicodeDecodeError) -> str:
    return f"not valid UTF-8 (byte 0x{chunk[exc.start]:02x}): save the file as UTF-8"


def _decoded(handle: IO[bytes], name: str, problems: Problems) -> Iterator[str]:
    """The file's lines as text (a BOM on the first is dropped); stops at a non-UTF-8 line."""
    for number, chunk in enumerate(handle, 1):
        try:
            yield chunk.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            problems.add(f"{name}:{number}", _not_utf8(chunk, exc))
            return


def csv_records(handle: IO[bytes], name: str, problems: Problems) -> Iterator[Record]:
    """The data rows of a CSV item list, as mappings of their non-empty known cells.

    A header row is required. Blank lines are skipped; a row with more cells than the
    header has columns is reported. Reading stops at the first line that is not UTF-8 or
    not CSV, since the records after it cannot be delimited reliably.
    """
    reader = csv.reader(_decoded(handle, name, problems))
    before = problems.total
    try:
        header = next(reader, None)
        if header is None:
            if problems.total == before:  # empty, rather than not UTF-8 on line 1
                problems.add("items_from", f"{name} is empty: a CSV item list needs a header "
                             "row (url,path or file,path) and one row per item")
            return
        columns = _csv_header(header, name, problems)
        if columns is None:
            return
        width = len(header)
        line = reader.line_num
        for row in reader:
            first, line = line + 1, reader.line_num
            if not row:
                continue
            if len(row) > width:
                problems.add(f"{name}:{first}",
                             f"has {len(row)} cells, but the header names {width} columns")
                continue
            yield first, {column: row[at] for column, at in columns if at < len(row) and row[at]}
    except csv.Error as exc:  # messages name the rule, never the text
        problems.add(f"{name}:{reader.line_num}", f"not valid CSV: {exc}")


def _csv_header(header: list[str], name: str, problems: Problems) -> list[tuple[str, int]] | None:
    """The known columns and their positions, or ``None`` when the header is unusable."""
    here = f"{name}:1"
    if not header:
        problems.add(here, "must be a header row naming the columns (url or file, and path), "
                     "not a blank line")
        return None
    usable = True
    hinted: set[str] = set()  # a column named by a hint is not also reported as missing
    unknown = [column for column in header if column not in CSV_COLUMNS]
    if unknown:
        described = []
        for column in dict.fromkeys(unknown):
            close = difflib.get_close_matches(column.lower(), CSV_COLUMNS, n=1)
            hinted.update(close)
            described.append(f"{column!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        noun = "column" if len(described) == 1 else "columns"
        problems.add(here, f"unknown {noun} {', '.join(described)}: {_CSV_HINT}")
        usable = False
    for column in CSV_COLUMNS:
        if header.count(column) > 1:
            problems.add(here, f"has the column {column!r} twice")
            usable = False
    if "path" not in header:
        usable = False
        if "path" not in hinted:
            problems.add(here, "needs a path column (the full S3 key of each item)")
    if "url" not in header and "file" not in header:
        usable = False
        if not hinted & {"url", "file"}:
            problems.add(here, "needs a url or a file column (or both, one of them set per "
                         "row)")
    if not usable:
        return None
    return [(column, header.index(column)) for column in CSV_COLUMNS if column in header]


def jsonl_records(handle: IO[bytes], name: str, problems: Problems, *,
                  strict: bool = True) -> Iterator[Record]:
    """The JSON objects of a JSON Lines item list, one per non-blank line.

    ``strict`` also reports a key given twice in one object (JSON, like YAML, would keep
    only the last one without a word); a file that was checked that way is re-read without
    it, since the check costs a Python call per object.
    """
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping = dict(pairs)
        if len(mapping) < len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    duplicates.append(key)
                seen.add(key)
        return mapping

    loads = json.JSONDecoder(object_pairs_hook=pairs_hook).decode if strict else json.loads
    for number, chunk in enumerate(handle, 1):
        try:
            text = chunk.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            problems.add(f"{name}:{number}", _not_utf8(chunk, exc))
            continue
        if not text or text.isspace():
            continue
        try:
            value = loads(text)
        except ValueError as exc:  # JSONDecodeError: its msg and column name no text
            where = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            problems.add(f"{name}:{number}", f"not valid JSON: {message}{where}")
            continue
        if duplicates:
            for key in dict.fromkeys(duplicates):
                problems.add(f"{name}:{number}", f"duplicate key {key!r} in one JSON object; "
                             "JSON would silently keep only the last one")
            duplicates.clear()
        if not isinstance(value, dict):
            problems.add(f"{name}:{number}",
                         f"must be a JSON object (one item), not {type_name(value)}")
            continue
        yield number, value
