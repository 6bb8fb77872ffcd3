"""Shared set-up of the benchmarks: a fresh `lookalike_bench` database on lookalike's server (the embedded one,
or LOOKALIKE_DATABASE_URL's), the machine's description, peak RSS, and the JSON line every benchmark ends with."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def bench_database(name: str = "lookalike_bench") -> str:
    """A freshly created and migrated database; returns its conninfo."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from lookalike_assets.db.admin import prepare_database
    from lookalike_assets.db.connect import server_url, with_database

    url = with_database(server_url(), name)
    params = conninfo_to_dict(url)
    with psycopg.connect(make_conninfo(**{**params, "dbname": "postgres"}), autocommit=True) as c:
        c.execute(psycopg.sql.SQL("drop database if exists {} with (force)").format(psycopg.sql.Identifier(name)))
        c.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
    prepare_database(url)
    return url


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def emit(result: dict) -> None:
    """Print the result as the last line: one JSON object."""
    print(json.dumps(result, default=str), flush=True)
