"""Named SQL queries, kept as .sql files in ``lookalike_assets/sql`` and loaded with aiosql."""

from __future__ import annotations

from pathlib import Path

import aiosql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

Q = aiosql.from_path(SQL_DIR, "psycopg", mandatory_parameters=False)
