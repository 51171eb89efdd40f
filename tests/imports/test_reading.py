"""Reading messy files: encodings, delimiters, quoting, placeholders, numbers and dates."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.imports.reading import (
    FileProblem,
    clean,
    guess_day_first,
    inspect_file,
    parse_datetime,
    parse_number,
    read_rows,
)

HEADERS = ["Email", "Name", "Note"]


def write(tmp_path, data: bytes, name="f.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def encode(rows, *, delimiter=",", encoding="utf-8", newline="\r\n", bom=False) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows([HEADERS, *rows])
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + data


def read_back(path):
    fmt = inspect_file(path)
    return fmt, [[row.values[h] for h in fmt.headers] for row in read_rows(path, fmt)]


# Letters, digits, punctuation (the delimiters and quotes too), tabs and newlines, and Latin-1 letters
# (À-ÿ). Latin-1 text without the symbols 0x80-0xBF is never valid UTF-8, so every encoding of these
# values can be told apart from the bytes alone.
CHARS = st.sampled_from(
    [chr(c) for c in range(32, 127)] + ["\t", "\n", "\r\n"] + [chr(c) for c in range(0xC0, 0x100)]
)
VALUE = st.lists(CHARS, max_size=12).map("".join)
ROW = st.tuples(st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True), VALUE, VALUE).map(list)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    rows=st.lists(ROW, min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-bom", "utf-16", "cp1252", "latin-1"]),
    newline=st.sampled_from(["\r\n", "\n"]),
)
def test_every_encoding_delimiter_and_line_ending_reads_to_the_same_rows(
    tmp_path, rows, delimiter, encoding, newline
):
    data = encode(
        rows,
        delimiter=delimiter,
        encoding=encoding.removesuffix("-bom"),
        newline=newline,
        bom=encoding.endswith("-bom"),
    )
    fmt, read = read_back(write(tmp_path, data))
    assert fmt.headers == tuple(HEADERS)
    assert fmt.delimiter == delimiter
    assert fmt.rows == len(rows)
    assert read == [[clean(v) for v in row] for row in rows]


def test_quoted_newlines_and_delimiters_stay_inside_their_cell(tmp_path):
    path = write(tmp_path, b'Email;Note\r\nann@example.org;"line one\r\nline two; still the note"\r\n')
    fmt, rows = read_back(path)
    assert fmt.delimiter == ";"
    assert rows == [["ann@example.org", "line one line two; still the note"]]


def test_windows_1252_quotes_and_euro_sign_survive(tmp_path):
    path = write(tmp_path, "Email,Note\nann@example.org,“Café” costs 5 €\n".encode("cp1252"))
    fmt, rows = read_back(path)
    assert fmt.encoding == "cp1252"
    assert rows == [["ann@example.org", "“Café” costs 5 €"]]


def test_blank_lines_are_skipped_and_row_numbers_count_as_a_spreadsheet_does(tmp_path):
    path = write(tmp_path, b"Email,Name\n\nann@example.org,Ann\n,\nbo@example.org,Bo\n")
    fmt = inspect_file(path)
    assert [(r.number, r.values["Name"]) for r in read_rows(path, fmt)] == [(2, "Ann"), (3, "Bo")]


def test_headers_are_trimmed_named_and_numbered(tmp_path):
    fmt = inspect_file(write(tmp_path, b" Email ,,Email,Name\nann@example.org,x,y,z\n"))
    assert fmt.headers == ("Email", "Column 2", "Email (2)", "Name")


def test_a_row_with_more_cells_than_the_header_names_the_problem(tmp_path):
    path = write(tmp_path, b"Email,Name\nann@example.org,Ann,extra\n")
    (row,) = read_rows(path, inspect_file(path))
    assert "3 cells" in row.problem


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (b"Email,Name\r\n", "no rows"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel"),
        (b"%PDF-1.7\n", "PDF"),
        (b"\x00\x01\x02binary\x00", "binary"),
    ],
)
def test_files_that_are_not_csv_are_refused_with_a_reason(tmp_path, data, message):
    with pytest.raises(FileProblem, match=message):
        inspect_file(write(tmp_path, data))


@pytest.mark.parametrize(
    "value", ["", "  ", "N/A", "n/a", "#N/A", "Select", "-- Select --", "null", "None", "-", "nan"]
)
def test_placeholders_mean_missing(value):
    assert clean(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" Ann  Lee ", "Ann Lee"),
        ("0", "0"),
        ("Nancy", "Nancy"),
        ("Na", "Na"),
        ("Nan", "Nan"),
        ("Blank", "Blank"),
    ],
)
def test_real_values_are_kept_with_spaces_tidied(value, expected):
    assert clean(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234", "1234"),
        ("1.234", "1234"),
        ("1.234.567,89", "1234567.89"),
        ("1,234.50", "1234.50"),
        ("12 500", "12500"),
        ("1'000", "1000"),
        ("$ 1,200.00", "1200.00"),
        ("1200 EUR", "1200"),
        ("2,5", "2.5"),
        ("-3", "-3"),
    ],
)
def test_numbers_with_thousands_separators(text, expected):
    assert parse_number(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["abc", "12,34.5", "1,2.3", "12.", "1e5", "--1"])
def test_text_that_is_not_a_number_is_refused(text):
    with pytest.raises(ValueError, match="not a number"):
        parse_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-05 14:30",
        "2024-03-05T14:30:00Z",
        "05/03/2024 14:30",
        "5.3.2024 14:30",
        "05-03-2024 2:30 PM",
        "5 Mar 2024 14:30",
        "March 5, 2024 2:30 pm",
        "Tue, 5 Mar 2024 14:30",
        "2024/03/05 14:30:00",
    ],
)
def test_common_date_formats_read_the_same_moment(text):
    assert parse_datetime(text, day_first=True, tz=UTC) == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


def test_month_first_dates_when_told():
    assert parse_datetime("03/05/2024", day_first=False, tz=UTC) == datetime(2024, 3, 5, tzinfo=UTC)


def test_a_stated_offset_wins_over_the_site_zone():
    moment = parse_datetime("2024-03-05 10:00 +0200", tz=UTC)
    assert moment == datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["31/31/2024", "yesterday", "2024-13-01", "13:00", "5 Foo 2024"])
def test_text_that_is_not_a_date_is_refused(text):
    with pytest.raises(ValueError, match="not a date"):
        parse_datetime(text, tz=UTC)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["01/02/2024", "25/02/2024"], True),
        (["02/25/2024"], False),
        (["01/02/2024"], None),
        (["2024-02-25"], None),
    ],
)
def test_the_date_order_is_guessed_from_the_values(values, expected):
    assert guess_day_first(values) is expected


MISSING = st.sampled_from(
    ["", " ", "N/A", "n/a", "#N/A", "Select", "-- Select --", "null", "NULL", "-", "none", "nan"]
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True),
            # Names, but not the words that are placeholders themselves ("None", "Null", "Select").
            st.one_of(
                st.none(),
                st.from_regex(r"[A-Z][a-z]{1,8}", fullmatch=True).filter(
                    lambda n: n.lower() not in {"none", "null", "select"}
                ),
            ),
            st.one_of(st.none(), st.integers(0, 10**9)),
        ),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_any_placeholder_reads_as_missing_and_any_thousands_style_as_the_number(tmp_path, rows, data):
    written = []
    for email, name, number in rows:
        style = data.draw(st.sampled_from([",", ".", " ", "'", ""]))
        written.append(
            [
                email,
                data.draw(MISSING) if name is None else name,
                data.draw(MISSING) if number is None else f"{number:,}".replace(",", style),
            ]
        )
    _, read = read_back(write(tmp_path, encode(written, delimiter=";")))
    assert [[r[0], r[1], None if r[2] is None else int(parse_number(r[2]))] for r in read] == [
        list(r) for r in rows
    ]
