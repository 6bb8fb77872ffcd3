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

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet will take it as text, never as a formula."""
    if not isinstance(value, str) or not value or not value.startswith(DANGEROUS):
        return value
    if _NUMBER.match(value):
        return value
    return "'" + value


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
