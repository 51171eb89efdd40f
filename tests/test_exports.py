"""CSV exports: formula injection neutralised, numbers kept, streamed."""

import csv
import io

import pytest

from config.exports import csv_lines, csv_response, safe_cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Ann", "Ann"),
        ("", ""),
        (None, ""),
        (-5, -5),
        (3.5, 3.5),
        (True, "True"),
    ],
)
def test_cells_never_start_a_formula(value, expected):
    assert safe_cell(value) == expected


def test_lines_read_back_as_the_safe_values():
    text = "".join(csv_lines(["name", "score"], [["=1+1", -3], ['Bo, "the" rep\nline 2', 7]]))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["name", "score"], ["'=1+1", "-3"], ['Bo, "the" rep\nline 2', "7"]]


def test_response_streams_rows_as_they_are_read():
    consumed = []

    def rows():
        for i in range(3):
            consumed.append(i)
            yield [i]

    response = csv_response("leads.csv", ["n"], rows())
    assert response.streaming and consumed == []
    assert response["Content-Disposition"] == 'attachment; filename="leads.csv"'
    body = b"".join(response.streaming_content).decode()
    assert consumed == [0, 1, 2] and body.splitlines()[1:] == ["0", "1", "2"]
