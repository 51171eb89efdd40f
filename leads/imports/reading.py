"""Reading a messy CSV file as a stream of clean rows: encoding, delimiter, headers, missing values.

The standard `csv` module parses quoting and quoted newlines correctly once it has the right text
and delimiter; what real exports need on top is choosing those two and cleaning the values. No
library: spreadsheet and CRM exports come as UTF-8 (with or without a byte-order mark), UTF-16
with a mark (Excel's "Unicode text") or Windows-1252/Latin-1, and those are told apart reliably
by the mark and by whether the bytes are valid UTF-8. A statistical charset detector would guess
among dozens of encodings and sometimes guess wrong on short files, which is worse here.

Everything streams: the file is read in chunks and rows are yielded one at a time, so memory does
not grow with the file.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils import timezone

CHUNK = 1 << 20
SAMPLE_CHARS = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Bytes that Windows-1252 leaves undefined: a file holding them is Latin-1 (ISO 8859-1).
CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook (or another zip file)",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word document",
    b"%PDF": "a PDF document",
    b"\x89PNG": "an image",
    b"\xff\xd8\xff": "an image",
    b"GIF8": "an image",
}


class FileProblem(ValueError):
    """The file cannot be read as CSV; the message says why, for the person who uploaded it."""


@dataclass(frozen=True)
class FileFormat:
    """How to read a file, found once when it is uploaded."""

    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    rows: int = 0  # data rows, blank lines not counted

    @property
    def delimiter_name(self) -> str:
        return DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))


@dataclass(frozen=True)
class Row:
    """One data row: its number as a spreadsheet shows it (the header is row 1), raw and clean."""

    number: int
    cells: list[str]
    values: dict[str, str | None]  # header -> cleaned text, None when missing
    problem: str = ""


def inspect_file(path: Path) -> FileFormat:
    """Find the encoding, delimiter and headers of a file and count its rows (one streaming pass)."""
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, newline="") as text:
        sample = text.read(SAMPLE_CHARS)
    if not sample.strip():
        raise FileProblem("The file is empty.")
    delimiter = sniff_delimiter(sample, complete=len(sample) < SAMPLE_CHARS)
    headers: tuple[str, ...] = ()
    rows = 0
    try:
        with open(path, encoding=encoding, newline="") as text:
            for cells in csv.reader(text, delimiter=delimiter):
                if not any(cell.strip() for cell in cells):
                    continue
                if not headers:
                    headers = clean_headers(cells)
                else:
                    rows += 1
    except csv.Error as exc:
        raise FileProblem(f"The file cannot be read as CSV: {exc}.") from None
    if rows == 0:
        raise FileProblem("The file has a header line but no rows to import.")
    return FileFormat(encoding=encoding, delimiter=delimiter, headers=headers, rows=rows)


def detect_encoding(path: Path) -> str:
    """UTF-8 or UTF-16 when marked, UTF-8 when every byte fits, else Windows-1252 or Latin-1."""
    with open(path, "rb") as raw:
        head = raw.read(SAMPLE_CHARS)
        if not head:
            raise FileProblem("The file is empty.")
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        for signature, what in SIGNATURES.items():
            if head.startswith(signature):
                raise FileProblem(f"This is {what}, not a CSV file. Save it as CSV and upload that.")
        if b"\x00" in head:
            raise FileProblem("This is not a CSV file: it holds binary data (NUL bytes).")
        raw.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        undefined = False
        try:
            while chunk := raw.read(CHUNK):
                undefined = undefined or not CP1252_UNDEFINED.isdisjoint(chunk)
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        while not undefined and (chunk := raw.read(CHUNK)):
            undefined = not CP1252_UNDEFINED.isdisjoint(chunk)
    return "latin-1" if undefined else "cp1252"


def sniff_delimiter(sample: str, *, complete: bool) -> str:
    """The delimiter that splits the first lines into the most columns, the same number on each line.

    `csv.Sniffer` guesses from character frequencies and is easily fooled by commas in text; parsing
    the sample with each candidate and preferring consistent rows is slower but dependable.
    """
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        try:
            records = [r for r in csv.reader(sample.splitlines(keepends=True), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not complete and len(records) > 1:
            records = records[:-1]  # the sample may end inside a row
        records = records[:50]
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        consistency = sum(len(r) == width for r in records) / len(records)
        score = (round(consistency, 2), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def clean_headers(cells: list[str]) -> tuple[str, ...]:
    """Header names trimmed, blanks named by position, repeated names numbered."""
    headers: list[str] = []
    for position, cell in enumerate(cells, start=1):
        name = " ".join(cell.replace("\ufeff", "").replace("\x00", "").split()).strip("\"'")
        name = name or f"Column {position}"
        candidate, n = name, 2
        while candidate in headers:
            candidate, n = f"{name} ({n})", n + 1
        headers.append(candidate)
    return tuple(headers)


def read_rows(path: Path, fmt: FileFormat) -> Iterator[Row]:
    """Yield the data rows of a file one at a time, values cleaned (see `clean`)."""
    with open(path, encoding=fmt.encoding, newline="") as text:
        reader = csv.reader(text, delimiter=fmt.delimiter)
        seen_header = False
        number = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            number += 1
            if not seen_header:
                seen_header = True
                continue
            values = {name: clean(cells[i] if i < len(cells) else "") for i, name in enumerate(fmt.headers)}
            problem = ""
            extra = [cell for cell in cells[len(fmt.headers) :] if cell.strip()]
            if extra:
                problem = f"the row has {len(cells)} cells but the header names {len(fmt.headers)} columns"
            yield Row(number=number, cells=cells, values=values, problem=problem)


# --- values ------------------------------------------------------------------------------------

# Cells that mean "nothing here": what forms and exports put in place of a value. Compared after
# dropping everything but letters and digits, so "-- Select --", "NULL" and "(blank)" all match.
PLACEHOLDERS = frozenset({"", "null", "none", "select", "pleaseselect", "selectone", "notset"})
# These are placeholders only when written with punctuation or in one exact spelling: "N/A", "n.a.",
# "#N/A", "NA", "NaN" and "(blank)" are, the surnames "Na" and "Blank" and the name "Nan" are not.
PUNCTUATED = frozenset({"na", "blank"})
EXACT = frozenset({"NA", "NaN", "nan", "NAN"})
_NOT_ALNUM = re.compile(r"[\W_]+")


def clean(value: str) -> str | None:
    """The cell's text with surrounding and repeated spaces removed; None for a placeholder."""
    text = " ".join(value.replace("\x00", "").split())
    key = _NOT_ALNUM.sub("", text).lower()
    if key in PLACEHOLDERS or text in EXACT or (key in PUNCTUATED and key != text.lower()):
        return None
    return text


_CURRENCY = re.compile(r"^[A-Za-z$€£¥]{0,3}\s*|\s*[A-Za-z$€£¥]{0,3}$")


def parse_number(text: str) -> Decimal:
    """A number as people type it: `1,234`, `1.234,5`, `12 500`, `1'000`, `$ 1,200.00`, `-3`.

    When only one separator appears once and is followed by exactly three digits it separates
    thousands (`1,234` and `1.234` are both 1234); otherwise the last separator is the decimal one.
    """
    body = _CURRENCY.sub("", text.strip())
    body = re.sub(r"[\s'\u00a0\u202f]", "", body)
    sign = ""
    if body[:1] in "+-":
        sign, body = body[:1].replace("+", ""), body[1:]
    if not re.fullmatch(r"\d[\d.,]*", body or "x") or body[-1] in ".,":
        raise ValueError(f"“{text}” is not a number")
    separators = [c for c in body if c in ".,"]
    if separators:
        last = body.rfind(separators[-1])
        if len(set(separators)) == 2:
            group = "," if separators[-1] == "." else "."
            integer, fraction = body[:last], body[last + 1 :]
            if separators.count(separators[-1]) > 1 or not re.fullmatch(
                rf"\d{{1,3}}(\{group}\d{{3}})+", integer
            ):
                raise ValueError(f"“{text}” is not a number")
            body = integer.replace(group, "") + "." + fraction
        elif len(separators) > 1 or len(body) - last - 1 == 3:
            if not re.fullmatch(r"\d{1,3}([.,]\d{3})+", body):
                raise ValueError(f"“{text}” is not a number")
            body = body.replace(separators[0], "")
        else:
            body = body.replace(",", ".")
    try:
        return Decimal(sign + body)
    except InvalidOperation:
        raise ValueError(f"“{text}” is not a number") from None


def parse_whole_number(text: str) -> int:
    """A whole number, with the separators `parse_number` accepts; fractions round to the nearest."""
    return int(parse_number(text).to_integral_value())


MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january", "jän", "janv"),
            ("feb", "february", "febr", "fév", "fev"),
            ("mar", "march", "mär", "mrz"),
            ("apr", "april", "avr"),
            ("may", "mai"),
            ("jun", "june", "juin"),
            ("jul", "july", "juil"),
            ("aug", "august", "aoû", "aou"),
            ("sep", "sept", "september"),
            ("oct", "october", "okt"),
            ("nov", "november"),
            ("dec", "december", "dez", "déc"),
        ],
        start=1,
    )
    for name in names
}
_TIME = r"(?:[ T,]+(\d{1,2})[:.](\d{2})(?:[:.](\d{2})(?:[.,]\d+)?)?\s*([ap])?\.?m?\.?)?\s*(z|utc|gmt|[+-]\d{2}:?\d{2})?"
_NUMERIC_DATE = re.compile(r"(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})" + _TIME, re.I)
_DAY_MONTH_NAME = re.compile(
    r"(\d{1,2})(?:st|nd|rd|th)?[ ./-]+([^\W\d_]{3,9})\.?[ ,./-]+(\d{2,4})" + _TIME, re.I
)
_MONTH_NAME_DAY = re.compile(
    r"([^\W\d_]{3,9})\.?[ ./-]+(\d{1,2})(?:st|nd|rd|th)?,?[ ./-]+(\d{2,4})" + _TIME, re.I
)
_WEEKDAY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.I)


def parse_datetime(text: str, *, day_first: bool = True, tz: tzinfo | None = None) -> datetime:
    """A moment from the usual ways of writing one; without a zone, it is in `tz` (the site's zone).

    ISO 8601 (`2024-03-05`, `2024-03-05 14:30`, `2024-03-05T14:30:00Z`), numeric dates with `/`, `.`
    or `-` (`05/03/2024` is 5 March when `day_first`, else 3 May), names (`5 Mar 2024`,
    `March 5, 2024`), each with an optional time (`14:30`, `2:30 PM`).
    """
    tz = tz or timezone.get_current_timezone()
    value = _WEEKDAY.sub("", text.strip())
    if re.match(r"\d{4}-\d{2}-\d{2}", value):
        try:
            moment = datetime.fromisoformat(value.replace(" UTC", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else timezone.make_aware(moment, tz)
    if match := _NUMERIC_DATE.fullmatch(value):
        a, b, c = match.group(1, 2, 3)
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif len(c) in (2, 4):
            day, month = (int(a), int(b)) if day_first else (int(b), int(a))
            year = _full_year(c)
        else:
            raise ValueError(f"“{text}” is not a date")
        return _build(text, year, month, day, match.groups()[3:], tz)
    for pattern, order in ((_DAY_MONTH_NAME, "dmy"), (_MONTH_NAME_DAY, "mdy")):
        if match := pattern.fullmatch(value):
            first, second, year = match.group(1, 2, 3)
            day, name = (first, second) if order == "dmy" else (second, first)
            month = MONTHS.get(name.lower()) or MONTHS.get(name.lower()[:3])
            if month is None:
                break
            return _build(text, _full_year(year), month, int(day), match.groups()[3:], tz)
    raise ValueError(f"“{text}” is not a date")


def guess_day_first(values: list[str]) -> bool | None:
    """Whether numeric dates in a column put the day first: True, False, or None when no row tells."""
    for value in values:
        match = _NUMERIC_DATE.fullmatch(_WEEKDAY.sub("", value.strip()))
        if not match or len(match.group(1)) == 4:
            continue
        a, b = int(match.group(1)), int(match.group(2))
        if a > 12 >= b:
            return True
        if b > 12 >= a:
            return False
    return None


def _full_year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


def _build(text: str, year: int, month: int, day: int, time_parts, tz: tzinfo) -> datetime:
    hour, minute, second, half, zone = time_parts
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(f"“{text}” is not a date")
        hour = hour % 12 + (12 if half.lower() == "p" else 0)
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ValueError(f"“{text}” is not a date") from None
    if zone:
        zone = zone.upper()
        if zone in {"Z", "UTC", "GMT"}:
            offset = "+00:00"
        else:
            offset = zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
        return datetime.fromisoformat(moment.isoformat() + offset)
    return timezone.make_aware(moment, tz)
