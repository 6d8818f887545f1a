"""A production batch from a CSV file (the REST API's ``text/csv`` body and ``cloudbay batches import``).

The header is ``serial_number`` and, optionally, ``model`` and ``hardware_family`` (any order, any case);
one row per device. A row's number is its line's number less one (the line after the header is row 1;
a blank line is skipped). Everything wrong is refused at once: a non-UTF-8 line, a wrong column, a row with
the wrong number of fields, and each bad serial number (``cloudbay_domain.batch``).
"""

from __future__ import annotations

import csv
import io

from cloudbay_domain.batch import BadRow, BatchRefused, BatchSpec

COLUMNS = ("serial_number", "model", "hardware_family")
MAX_BATCH_BYTES = 8 * 1024 * 1024  # a 10,000-device batch is about 200 kB as CSV


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        bad = []
        for n, line in enumerate(raw.split(b"\n")):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(BadRow(n, "this line is not UTF-8" if n else "the header is not UTF-8"))
        raise BatchRefused(f"the file is not UTF-8 text ({len(bad)} lines); nothing was imported", bad) from None
    return text.removeprefix("\ufeff")  # a spreadsheet's byte order mark


def _header(names: list[str]) -> list[str]:
    header = [name.strip().lower() for name in names]
    wrong = [name for name in header if name not in COLUMNS]
    doubled = {name for name in header if header.count(name) > 1}
    if wrong or doubled or "serial_number" not in header:
        why = f"unknown column {wrong[0]!r}" if wrong else ("a column twice" if doubled else "no serial_number column")
        message = f"wrong header: {why}; the columns are serial_number[,model,hardware_family]"
        raise BatchRefused(f"{message}; nothing was imported", [BadRow(0, message)])
    return header


def read_csv(raw: bytes, batch_id: str | None, family: str, model: str) -> BatchSpec:
    """The batch a CSV file describes; ``BatchRefused`` listing every bad row (the first 100) otherwise."""
    reader = csv.reader(io.StringIO(_decode(raw), newline=""))
    try:
        first = next(reader, None)
        if first is None:
            raise BatchRefused("the file is empty; nothing was imported", [BadRow(0, "no header, no devices")])
        header = _header(first)
        rows, numbers, bad = [], [], []
        for record in reader:
            if not record:
                continue
            n = reader.line_num - 1
            if len(record) != len(header):
                bad.append(BadRow(n, f"{len(record)} fields where the header has {len(header)}"))
            rows.append(dict(zip(header, record, strict=False)))
            numbers.append(n)
    except csv.Error as e:
        raise BatchRefused(f"not a CSV file: {e}", [BadRow(reader.line_num - 1, str(e))]) from None
    return BatchSpec.of(batch_id, family, model, rows, numbers, bad)
