"""Reading tabular files people hand over: CSV/TSV (any delimiter, any encoding they name) and Parquet.

Nothing in a file stops the reading of the rows after it: a row with the wrong number of fields, a NUL byte or an
over-long cell is yielded with the reason it is unusable, and the caller rejects that row alone. What makes the
whole file unreadable (not found, wrong type, not the named encoding, no header, duplicate column names) raises
``FileFormatError`` before any row is used.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NUL_MARK = "\uffff"  # a noncharacter: stands for a NUL byte so that the csv module does not stop at it
MAX_CELL = 100_000  # characters; longer cells make their row a reject


class FileFormatError(ValueError):
    """The file as a whole cannot be read (nothing of it was used)."""


@dataclass
class Row:
    number: int  # 1-based data row (the header is row 0)
    values: dict[str, Any] | None  # what could be read (None when nothing could)
    problem: str | None = None  # set when the row is unusable
    line: int | None = None  # where the row starts in a text file


def _check_encoding(path: Path, encoding: str) -> None:
    """Decode the whole file once (incrementally) so that a wrong encoding is found before any row is used."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                pos = offset + exc.start
                raise FileFormatError(
                    f"{path.name} is not {encoding} text: byte 0x{chunk[exc.start]:02x} at offset {pos} cannot be "
                    f"decoded{_guess(path)}. Give its encoding, e.g. --encoding latin-1") from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileFormatError(f"{path.name} ends in the middle of a {encoding} character") from None


def _guess(path: Path) -> str:
    try:
        from charset_normalizer import from_bytes

        with path.open("rb") as f:
            best = from_bytes(f.read(1 << 20)).best()
        return f" (it looks like {best.encoding})" if best is not None and best.encoding else ""
    except Exception:  # only a hint in an error message
        return ""


def _without_nul(lines) -> Iterator[str]:
    for line in lines:
        yield line.replace("\x00", NUL_MARK) if "\x00" in line else line


def _sniff(sample: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _header(cells: list[str], path: Path) -> list[str]:
    names = [c.strip().lstrip("\ufeff").strip() for c in cells]
    if not any(names):
        raise FileFormatError(f"{path.name} has no header row")
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        raise FileFormatError(f"{path.name}: column(s) {', '.join(map(str, empty))} of the header have no name")
    seen: set[str] = set()
    dup = sorted({n for n in names if n in seen or seen.add(n)})
    if dup:
        raise FileFormatError(f"{path.name} has duplicate column names: {', '.join(dup)}")
    if any(NUL_MARK in n for n in names):
        raise FileFormatError(f"{path.name}: the header contains a NUL byte")
    return names


class Table:
    """An open tabular file: ``columns`` and an iterator over its rows."""

    def __init__(self, path: str | Path, *, encoding: str | None = None, delimiter: str | None = None,
                 limit: int | None = None) -> None:
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.exists():
            raise FileFormatError(f"file not found: {self.path}")
        if not self.path.is_file():
            raise FileFormatError(f"not a file: {self.path}")
        self.suffix = self.path.suffix.lower()
        self.limit = limit
        if self.suffix in (".parquet", ".pq"):
            self.kind = "parquet"
            self._open_parquet()
        elif self.suffix in (".csv", ".tsv", ".txt", ""):
            self.kind = "csv"
            self.encoding = encoding or "utf-8-sig"
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise FileFormatError(f"unknown encoding {encoding!r}") from None
            _check_encoding(self.path, self.encoding)
            with self.path.open(encoding=self.encoding, newline="") as f:
                sample = f.read(64 * 1024)
            self.delimiter = delimiter or _sniff(sample.replace("\x00", ""), self.suffix)
            with self.path.open(encoding=self.encoding, newline="") as f:
                reader = csv.reader(_without_nul(f), delimiter=self.delimiter)
                try:
                    first = next(reader)
                except StopIteration:
                    raise FileFormatError(f"{self.path.name} is empty") from None
                except csv.Error as exc:
                    raise FileFormatError(f"{self.path.name}: cannot read the header: {exc}") from None
            self.columns = _header(first, self.path)
        else:
            raise FileFormatError(f"unsupported file type {self.suffix!r}: use .csv, .tsv or .parquet")

    def _open_parquet(self) -> None:
        import pyarrow.parquet as pq

        try:
            self._pq = pq.ParquetFile(self.path)
        except Exception as exc:
            raise FileFormatError(f"cannot read {self.path.name} as Parquet: {exc}") from None
        self.columns = _header([str(n) for n in self._pq.schema_arrow.names], self.path)

    def rows(self) -> Iterator[Row]:
        n = 0
        if self.kind == "parquet":
            for batch in self._pq.iter_batches(batch_size=5000):
                for rec in batch.to_pylist():
                    n += 1
                    if self.limit and n > self.limit:
                        return
                    yield _checked(Row(n, {str(k): v for k, v in rec.items()}))
            return
        csv.field_size_limit(sys.maxsize)
        with self.path.open(encoding=self.encoding, newline="") as f:
            reader = csv.reader(_without_nul(f), delimiter=self.delimiter)
            next(reader)
            width = len(self.columns)
            while True:
                line = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    n += 1
                    yield Row(n, None, f"unreadable CSV: {exc}", line)
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip() and width > 1):
                    continue  # a blank line
                n += 1
                if self.limit and n > self.limit:
                    return
                if len(cells) != width:
                    # unusable, but what its first fields say (a conversion's tenant, an id) still places it
                    yield Row(n, dict(zip(self.columns, cells)), f"the row has {len(cells)} field(s), the header "
                              f"has {width}", line)
                    continue
                yield _checked(Row(n, dict(zip(self.columns, cells)), None, line))

    def sample(self, n: int = 2000) -> list[dict]:
        out = []
        for r in self.rows():
            if r.problem is None:
                out.append(r.values)
            if len(out) >= n:
                break
        return out


class Records:
    """Rows given in memory (an API request's leads) read as a file's: ``columns`` in order of first
    appearance, each value as a CSV cell would hold it (None empty, lists and objects as JSON, the rest as text)."""

    def __init__(self, records: list[dict[str, Any]], name: str = "records") -> None:
        self.name = name
        self.columns = _header(list(dict.fromkeys(str(k) for r in records for k in r)), Path(name))
        self._rows = [{c: _cell(r.get(c)) for c in self.columns} for r in records]

    def rows(self) -> Iterator[Row]:
        for n, values in enumerate(self._rows, 1):
            yield _checked(Row(n, values))

    def sample(self, n: int = 2000) -> list[dict]:
        return [r.values for r in self.rows() if r.problem is None and r.values is not None][:n]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    text = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
    return text.replace("\x00", NUL_MARK)  # refused by the row check, as a file's NUL byte is


def _checked(row: Row) -> Row:
    for k, v in (row.values or {}).items():
        if isinstance(v, str):
            if NUL_MARK in v:
                return Row(row.number, row.values, f"column {k!r}: contains a NUL byte", row.line)
            if len(v) > MAX_CELL:
                return Row(row.number, row.values, f"column {k!r}: a value of {len(v):,} characters "
                           f"(at most {MAX_CELL:,})", row.line)
    return row

