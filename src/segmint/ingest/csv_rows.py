"""CSV rows with the line each starts on; a quote that never closes is reported, not followed.

Python's csv module parses every row. What it cannot tell is where a row ends before parsing it,
so a stray quote (`"Acme` for `Acme`) makes it read on through the following lines as one value,
and those rows vanish without a word. Here each physical line's quote state is followed by
`ends_inside_quotes` (the csv module's own rules, nothing more), so a row that runs over line
ends is seen as such and checked: if its quoted field never ends, does not end where a field may
end, or leaves a row of another width than the header, the quote is taken as unclosed; that row
is reported on the line where the quoted field starts and the lines after it are read again as
rows of their own. A quoted value that spans lines legitimately (an address, a note) and leaves a
row as wide as the header is kept as it is. docs/decisions.md ("Ingestion") says why.

Encodings are checked here too: the first 64 KB of a file are decoded strictly, so a file in
another encoding is refused before anything is written, naming the line and byte.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from segmint.errors import InvalidInput

DELIMITER = ","
QUOTE = '"'
FIELD_SIZE_LIMIT = 1_000_000  # characters in one cell; larger cells are reported, not read
SAMPLE_BYTES = 64 * 1024  # what the import page sends to be checked, and what imports check first

# The encodings a file may be read in, by the name users choose, with Python's codec. UTF-8
# drops a byte order mark; Windows-1252 is what Excel on Windows saves as "CSV".
Encoding = Literal["utf-8", "windows-1252"]
ENCODINGS: dict[str, str] = {"utf-8": "utf-8-sig", "windows-1252": "cp1252"}
ENCODING_LABELS: dict[str, str] = {"utf-8": "UTF-8", "windows-1252": "Windows-1252"}
LINE_END = re.compile(r"\r\n|\r|\n")  # the line ends the csv module and text files split on


@dataclass(frozen=True)
class CsvRow:
    """One CSV row: its cells, or (cells None) why it could not be read."""

    line: int  # where the row starts
    cells: list[str] | None
    problem: str | None = None
    cut_off: bool = False  # the problem is only that a sample ended inside a quoted value


def codec_of(encoding: str, option: str = "encoding") -> str:
    if encoding not in ENCODINGS:
        raise InvalidInput(f"expected one of {', '.join(ENCODINGS)}, got {encoding!r}", option)
    return ENCODINGS[encoding]


def decode_sample(data: bytes, encoding: str, complete: bool) -> str:
    """The text of a file's first bytes; raises InvalidInput naming the first undecodable byte.

    When the sample is not the whole file (`complete` false), a character cut in two at its end
    is no error: the rest of it is in the bytes not sent.
    """
    codec = codec_of(encoding)
    bom = codecs.BOM_UTF8 if codec == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else b""
    body = data[len(bom) :]
    try:
        return codecs.getincrementaldecoder(codec)().decode(body, final=complete)
    except UnicodeDecodeError as error:
        raise _not_in_encoding(body, error.start, encoding, len(bom)) from None


def _not_in_encoding(body: bytes, start: int, encoding: str, skipped: int) -> InvalidInput:
    before = body[:start].decode(ENCODINGS[encoding], errors="replace")
    line = len(LINE_END.findall(before)) + 1
    column = len(before) - max(before.rfind("\n"), before.rfind("\r"))
    label = ENCODING_LABELS[encoding]
    advice = "save the file as UTF-8 (in Excel: Save As, CSV UTF-8)"
    if encoding == "utf-8":
        advice += ", or import it as Windows-1252 (--encoding windows-1252) if Excel saved it"
    return InvalidInput(
        f"the file is not {label}: byte 0x{body[start]:02X} at column {column} (offset "
        f"{start + skipped} in the file) is not valid {label}; {advice}",
        f"line {line}",
    )


def text_lines(text: str, complete: bool) -> list[str]:
    """A decoded sample's lines, split where a text file's lines are; a last line cut off by
    the end of a partial sample is dropped (it would look like a short row)."""
    lines = io.StringIO(text, newline="").readlines()
    if not complete and lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()
    return lines


def ends_inside_quotes(line: str, inside: bool) -> bool:
    """Whether a physical line ends inside a quoted field, given whether it starts inside one.

    The csv module's rules (default dialect, not strict): a quote opens a quoted field only as
    the field's first character; inside, `""` is a quote and a lone quote closes the field; after
    the close, anything up to the next comma joins the value, quotes included.
    """
    pos = 0
    while True:
        if inside:
            close = line.find(QUOTE, pos)
            if close < 0:
                return True
            if line.startswith(QUOTE, close + 1):
                pos = close + 2
                continue
            inside = False
            pos = close + 1
        elif line.startswith(QUOTE, pos):
            inside = True
            pos += 1
            continue
        comma = line.find(DELIMITER, pos)
        if comma < 0:
            return False
        pos = comma + 1


class _Lines:
    """Physical lines numbered from 1; lines given back are read again, in order, first."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._numbered = enumerate(lines, start=1)
        self._again: deque[tuple[int, str]] = deque()

    def next(self) -> tuple[int, str] | None:
        if self._again:
            return self._again.popleft()
        return next(self._numbered, None)

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        self._again.extendleft(reversed(lines))


def read_rows(lines: Iterable[str], complete: bool = True) -> Iterator[CsvRow]:
    """Every row of a CSV file's lines, the header first; rows after it must be as wide.

    `complete` false: the lines are a sample, so a quoted field still open at their end is
    reported as cut off (a warning), not as unclosed.
    """
    csv.field_size_limit(FIELD_SIZE_LIMIT)
    source = _Lines(lines)
    width: int | None = None
    while (first := source.next()) is not None:
        line, text = first
        if QUOTE not in text and len(text) <= FIELD_SIZE_LIMIT:
            # Most lines: nothing quoted, so splitting is what the csv module would do.
            stripped = text.rstrip("\r\n")
            row = CsvRow(line, stripped.split(DELIMITER) if stripped else [])
        elif not ends_inside_quotes(text, inside=False):
            row = _one_line_row(line, text)
        else:
            row = _spanning_row(line, text, source, width, complete)
        if width is None and row.cells is not None:
            width = len(row.cells)
        yield row


def _one_line_row(line: int, text: str) -> CsvRow:
    try:
        return CsvRow(line, next(csv.reader([text]), []))
    except csv.Error as exc:
        return CsvRow(line, None, f"malformed CSV ({exc})")


def _spanning_row(
    line: int, text: str, source: _Lines, width: int | None, complete: bool
) -> CsvRow:
    """A row whose quoted field runs past the end of its first line: kept if it is a well-formed
    row as wide as the header, else reported as an unclosed quote and its lines read again."""
    taken = [(line, text)]
    size = len(text)
    inside = True
    following: tuple[int, str] | None = None
    while inside and size <= FIELD_SIZE_LIMIT:
        following = source.next()
        if following is None:
            break
        taken.append(following)
        size += len(following[1])
        inside = ends_inside_quotes(following[1], inside=True)
    last = taken[-1][0]
    if inside and following is None and not complete:
        return CsvRow(line, None, _cut_off(last), cut_off=True)
    cells = None if inside else _strict_cells([t for _, t in taken])
    if cells is not None and (width is None or len(cells) == width):
        return CsvRow(line, cells)
    source.give_back(taken[1:])
    if inside:
        how = "never ends" if following is None else f"is still open after {size:,} characters"
    elif cells is None:
        how = f"is closed on line {last} in the middle of a value"
    else:
        how = f"runs to line {last} and leaves a row that does not fit the header"
    return CsvRow(line, None, _unclosed(how, line, last))


def _strict_cells(texts: list[str]) -> list[str] | None:
    """The row the lines make, or None when a quote closes where no field may end (`"a"b`)."""
    try:
        return next(csv.reader(texts, strict=True), [])
    except csv.Error:
        return None


def _unclosed(how: str, line: int, last: int) -> str:
    taken = ""
    if last == line + 1:
        taken = f", so line {last} is read as a row of its own"
    elif last > line:
        taken = f", so lines {line + 1}-{last} are read as rows of their own"
    return (
        f"unclosed quote: the quoted field starting on this line {how}{taken}; close the quote, "
        'or double a quote that is part of a value ("")'
    )


def _cut_off(last: int) -> str:
    return (
        f"a quoted field starting on this line is still open at line {last}, where the checked "
        "part of the file ends: if the value is not meant to span lines, close its quote"
    )
