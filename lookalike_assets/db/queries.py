"""Named SQL queries, loaded with aiosql: each ``.sql`` file sits next to the module that uses it
(``pipeline/pools.sql`` beside ``pipeline/pools.py``) and is a namespace of ``Q``: ``Q.pools.top_scored_leads``.

Migrations (``db/migrations``) and the BI starter's questions (``bi/cards``) are not queries of the code and are
not loaded here.
"""

from __future__ import annotations

from pathlib import Path

import aiosql
from aiosql.queries import Queries

PACKAGE = Path(__file__).resolve().parent.parent
QUERY_DIRS = ("db", "pipeline", "reporting")


def query_files() -> dict[str, Path]:
    """Every query file by namespace (its file name); two files of one name would be one namespace: refused."""
    files: dict[str, Path] = {}
    for d in QUERY_DIRS:
        for path in sorted((PACKAGE / d).glob("*.sql")):
            if path.stem in files:
                raise RuntimeError(f"two query files named {path.stem}.sql: {files[path.stem]} and {path}")
            files[path.stem] = path
    return files


def load_queries() -> Queries:
    children = {name: aiosql.from_path(path, "psycopg", mandatory_parameters=False)
                for name, path in query_files().items()}
    queries = Queries(next(iter(children.values())).driver_adapter)
    for name, child in children.items():
        queries.add_child_queries(name, child)
    return queries


Q = load_queries()
