"""CSV exports that are safe to open in a spreadsheet and stream in constant memory.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by spreadsheet programs
as a formula (CSV injection); such a cell is prefixed with a single quote, which shows the text as
typed. Numbers are written as numbers, so a negative score stays a number.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from numbers import Number

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> object:
    """The value as a spreadsheet should show it, never as a formula."""
    if value is None:
        return ""
    if isinstance(value, Number) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterable[str]:
    """Encoded CSV lines, one at a time, every cell made safe."""
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a byte-order mark, so spreadsheet programs read the file as UTF-8
    yield writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_response(filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A streamed CSV download: rows are written as they are read, never all held in memory."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
