"""The embedded PostgreSQL 16 + pgvector server (the `pgserver` package).

The server runs as a child process with its data (and Unix socket) under ``<home>/pg``. It is started
with ``cleanup_mode=None`` so that it outlives the command that started it; `stop()` stops it through
pgserver's own API.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
logging.getLogger("pgserver").setLevel(logging.WARNING)

# A Unix socket path must stay under ~100 bytes: "<pgdata>/.s.PGSQL.5432".
_MAX_SOCKET_PATH = 100


def _check_path(pgdata: Path) -> None:
    sock = pgdata / ".s.PGSQL.5432"
    if len(str(sock)) > _MAX_SOCKET_PATH:
        log.warning(
            "The embedded database folder %s gives a socket path of %d characters; pgserver will put the "
            "socket in its runtime folder instead. Set LOOKALIKE_HOME to a shorter path to keep it local.",
            pgdata,
            len(str(sock)),
        )


def _runtime_dir(pgdata: Path) -> None:
    """pgserver keeps its lock file in the user's runtime folder; without XDG_RUNTIME_DIR (servers, containers,
    CI) it falls back to /tmp with a warning. Give it a private folder beside the data instead (before pgserver
    is imported: it reads the folder at import)."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        run = pgdata.parent / "run"
        run.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(run)


HBA = """\
# Written by lookalike (lookalike_assets/db/embedded.py). The owner, {owner}, logs in over the Unix socket in
# the data folder, which only its operating-system user can enter; every other role (the service logins, a
# tenant's BI or application login) needs its password (SCRAM). No TCP listener.
local   all   {owner}   trust
local   all   all       scram-sha-256
"""


def _secure(pgdata: Path, uri: str) -> None:
    """Client authentication of the embedded server: trust for the owner on its socket, passwords for the rest
    (pgserver's own default trusts everyone). Reloads the server when the file changed."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    owner = conninfo_to_dict(uri).get("user") or "postgres"
    hba = pgdata / "pg_hba.conf"
    text = HBA.format(owner=owner)
    if hba.read_text() == text:
        return
    hba.write_text(text)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("select pg_reload_conf()")


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded server and return its connection URI."""
    pgdata = Path(pgdata).resolve()
    _runtime_dir(pgdata)
    import pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _check_path(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    uri = server.get_uri()
    _secure(pgdata, uri)
    if _reserve_connections(uri):
        # reserved_connections takes effect at a start: restart the server (through pgserver's pg_ctl; the same
        # socket and port, so the URI stays)
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pgdata, user=server.system_user)
    return uri


RESERVED_CONNECTIONS = 10  # connections only the platform's own logins (pg_use_reserved_connections) may take


def _reserve_connections(uri: str) -> bool:
    """Connections kept for the platform's logins, so tenants' logins filling the server never lock the platform
    out (PostgreSQL 16's reserved_connections; the migrations grant pg_use_reserved_connections to the service
    logins). True when the setting was just written and needs a restart."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        current = int(conn.execute("show reserved_connections").fetchone()[0])
        if current >= RESERVED_CONNECTIONS:
            return False
        conn.execute(f"alter system set reserved_connections = {RESERVED_CONNECTIONS}")
    return True


def is_running(pgdata: Path) -> bool:
    _runtime_dir(Path(pgdata).resolve())
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(Path(pgdata).resolve())
    return bool(info is not None and info.is_running())


def stop(pgdata: Path) -> bool:
    """Stop the embedded server if it runs. Returns True when a server was stopped."""
    pgdata = Path(pgdata).resolve()
    if not (pgdata / "PG_VERSION").exists() or not is_running(pgdata):
        return False
    _runtime_dir(pgdata)
    import pgserver
    from pgserver._commands import pg_ctl

    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    server.cleanup()
    if is_running(pgdata):
        # Other handles (processes that attached with cleanup_mode=None and were killed) are still
        # listed: ask pg_ctl, through pgserver, to stop the server anyway.
        pg_ctl(["-w", "stop"], pgdata=pgdata, user=server.system_user)
    return True
