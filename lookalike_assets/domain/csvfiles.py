"""CSV files lookalike writes for people and their tools (platform uploads, CRM files, indexes, rejects).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula by spreadsheet
programs (CSV injection: ``=HYPERLINK(...)``, ``=cmd|...``, ``@SUM(...)``). Such cells are written with a leading
``'``, which spreadsheets show as text and which platforms' uploads ignore in the columns where it could appear
(names, titles, companies, audience names); a plain number (``-0.125``, ``+4930123456``) is left as it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

from lookalike_assets.domain.columns import NAMES, normalize_name

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet will take it as text, never as a formula: also when the formula follows white
    space or line breaks, which spreadsheets skip before they read a cell (" =1+1", "\n=1+1")."""
    if not isinstance(value, str) or not value:
        return value
    head = value.lstrip(" \t\r\n\u00a0\u2000\u2001\u2002\u2003\u2009\u200b\u3000\ufeff")
    if value.startswith(("\t", "\r")) or head.startswith(DANGEROUS[:4]):
        if _NUMBER.match(head) and head == value.strip():
            return value
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell``."""

    def __init__(self, f: IO[str], **kwargs) -> None:
        kwargs.setdefault("lineterminator", "\n")
        self._w = csv.writer(f, **kwargs)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for r in rows:
            self.writerow(r)


# Columns that identify a person in the files lookalike writes: ids (the tenant's and lookalike's), emails and
# phones in clear or hashed as the platforms take them (Meta's extern_id, Google's Email/Phone, LinkedIn's email).
IDENTIFYING_COLUMNS = frozenset({*NAMES["id"], *NAMES["email"], *NAMES["phone"], "extern_id"})


def without_rows_naming(data: bytes, markers: set[str],
                        identifying: Iterable[str] = IDENTIFYING_COLUMNS) -> tuple[bytes, int]:
    """``data`` (a CSV file lookalike wrote) without the rows in which an *identifying* column (named by
    ``identifying``, compared after ``normalize``) holds one of ``markers`` exactly (hex hashes in any case, a
    cell written by ``safe_cell`` as itself); every other row, and the header, exactly as they were. Returns the
    new content and how many rows left; a file with no identifying column, or that is not UTF-8 CSV, comes back
    unchanged with 0. Never by substring: the id ``1`` names the row whose id is ``1``, not every row with a 1."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data, 0
    lines = text.splitlines(keepends=True)
    if not lines:
        return data, 0
    wanted = {m for m in markers if m} | {m.lower() for m in markers if m}
    names = set(identifying)
    out, removed = [lines[0]], 0
    try:
        header = next(csv.reader([lines[0]]))
        columns = [i for i, h in enumerate(header) if normalize_name(h) in names]
        if not columns:
            return data, 0
        records, pending = [], ""
        for line in lines[1:]:  # records, each with its own raw text (a quoted cell may span lines)
            pending += line
            try:
                rows = list(csv.reader([pending], strict=True))
            except csv.Error:
                continue
            if len(rows) == 1 or not pending.strip():
                records.append((pending, rows[0] if rows else []))
                pending = ""
        if pending:
            return data, 0  # an unterminated quote: not a file this knows how to read
    except csv.Error:
        return data, 0
    for raw, row in records:
        cells = [row[i].strip() for i in columns if i < len(row)]
        if any(c in wanted or c.lower() in wanted or c.removeprefix("'") in wanted for c in cells if c):
            removed += 1
        else:
            out.append(raw)
    return ("".join(out).encode("utf-8"), removed) if removed else (data, 0)
