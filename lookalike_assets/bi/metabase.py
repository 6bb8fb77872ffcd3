"""The BI starter: a Metabase dashboard over the marts, read through one tenant's own bound BI login.

The questions are the SQL files in ``cards/`` (a header of ``-- key: value`` lines says how each is shown). The
provisioning is idempotent: it finishes Metabase's first-run setup (or logs in), adds the tenant's marts as a
database (with a login bound to that tenant, so the dashboard can only ever show that tenant, whatever a user
edits in it), and creates or updates the questions and the dashboard. `lookalike bi metabase` runs it; the
docker-compose service ``metabase-setup`` runs it once Metabase is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CARDS_DIR = Path(__file__).with_name("cards")
DASHBOARD = "lookalike: audience performance"
DISPLAYS = {"bar", "line", "table", "scalar"}


class ProvisioningError(RuntimeError):
    pass


@dataclass
class Card:
    name: str
    sql: str
    display: str = "table"
    description: str = ""
    dimensions: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    def payload(self, database_id: int) -> dict:
        """The body of Metabase's POST/PUT /api/card for this question."""
        settings: dict = {}
        if self.display in ("bar", "line") and self.dimensions and self.metrics:
            settings = {"graph.dimensions": self.dimensions, "graph.metrics": self.metrics}
        return {
            "name": self.name, "description": self.description or None, "display": self.display,
            "dataset_query": {"type": "native", "native": {"query": self.sql}, "database": database_id},
            "visualization_settings": settings,
        }


def load_cards(folder: Path = CARDS_DIR) -> list[Card]:
    """The questions, in file-name order."""
    cards = []
    for path in sorted(folder.glob("*.sql")):
        head, body = {}, []
        for line in path.read_text().splitlines():
            if line.startswith("-- ") and ":" in line and not body:
                k, v = line[3:].split(":", 1)
                head[k.strip()] = v.strip()
            else:
                body.append(line)
        display = head.get("display", "table")
        if display not in DISPLAYS:
            raise ProvisioningError(f"{path.name}: display {display!r} is not one of {', '.join(sorted(DISPLAYS))}")
        split = (lambda v: [x.strip() for x in v.split(",") if x.strip()])
        cards.append(Card(head.get("title") or path.stem, "\n".join(body).strip(), display,
                          head.get("description", ""), split(head.get("dimensions", "")),
                          split(head.get("metrics", ""))))
    if not cards:
        raise ProvisioningError(f"no questions in {folder}")
    return cards


def dashboard_layout(card_ids: list[int]) -> list[dict]:
    """Dashboard cards on Metabase's 24-column grid: charts two per row, tables full width below them."""
    out, row, col = [], 0, 0
    for i, card_id in enumerate(card_ids):
        out.append({"id": -(i + 1), "card_id": card_id, "row": row, "col": col, "size_x": 12, "size_y": 8,
                    "parameter_mappings": [], "visualization_settings": {}})
        col = 12 if col == 0 else 0
        row += 8 if col == 0 else 0
    return out


def database_payload(name: str, conninfo: str) -> dict:
    """Metabase's POST /api/database body for lookalike's marts, as one login."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    return {"engine": "postgres", "name": name, "details": {
        "host": p.get("host", "localhost"), "port": int(p.get("port") or 5432), "dbname": p.get("dbname"),
        "user": p.get("user"), "password": p.get("password"), "ssl": False,
        "schema-filters-type": "inclusion", "schema-filters-patterns": "marts"},
        "is_full_sync": True}


class Metabase:
    """The few Metabase API calls the provisioning needs."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        import requests

        self.url, self.timeout = url.rstrip("/"), timeout
        self.http = requests.Session()

    def call(self, method: str, path: str, json: dict | None = None):
        r = self.http.request(method, f"{self.url}{path}", json=json, timeout=self.timeout)
        if r.status_code >= 400:
            raise ProvisioningError(f"Metabase {method} {path}: HTTP {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None

    def wait(self, seconds: float = 300.0) -> None:
        import requests

        deadline = time.monotonic() + seconds
        while True:
            try:
                if self.http.get(f"{self.url}/api/health", timeout=5).json().get("status") == "ok":
                    return
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ProvisioningError(f"Metabase at {self.url} did not become healthy in {seconds:.0f}s")
            time.sleep(2)

    def login(self, email: str, password: str) -> None:
        """Finish the first-run setup with this admin, or log in as them."""
        props = self.call("GET", "/api/session/properties")
        token = props.get("setup-token")
        if token and not props.get("has-user-setup"):
            self.call("POST", "/api/setup", {
                "token": token, "prefs": {"site_name": "lookalike", "allow_tracking": False},
                "user": {"email": email, "password": password, "first_name": "lookalike", "last_name": "admin"}})
        session = self.call("POST", "/api/session", {"username": email, "password": password})
        self.http.headers["X-Metabase-Session"] = session["id"]


def provision(mb: Metabase, tenant_slug: str, make_login: Callable[[], str], cards: list[Card] | None = None,
              say: Callable[[str], None] = lambda _m: None) -> int:
    """The tenant's database, questions and dashboard (created, or updated to the current files). ``make_login``
    grants the tenant's BI login and returns its connection string; it is only called when Metabase has no
    database for the tenant yet. Returns the dashboard's id."""
    cards = cards or load_cards()
    name = f"lookalike marts ({tenant_slug})"
    databases = mb.call("GET", "/api/database")
    databases = databases.get("data", databases) if isinstance(databases, dict) else databases
    db = next((d for d in databases if d.get("name") == name), None)
    if db is None:
        db = mb.call("POST", "/api/database", database_payload(name, make_login()))
        say(f"database {name!r} added, reading as the tenant's own BI login")
    existing = {c["name"]: c for c in mb.call("GET", "/api/card") or []}
    ids = []
    for card in cards:
        body = card.payload(db["id"])
        if card.name in existing:
            ids.append(mb.call("PUT", f"/api/card/{existing[card.name]['id']}", body)["id"])
        else:
            ids.append(mb.call("POST", "/api/card", body)["id"])
    say(f"{len(ids)} question(s) up to date")
    title = f"{DASHBOARD} ({tenant_slug})"
    dash = next((d for d in mb.call("GET", "/api/dashboard") or [] if d.get("name") == title), None)
    if dash is None:
        dash = mb.call("POST", "/api/dashboard", {"name": title, "description": "Conversion by decile, lift, reach "
                                                  "against precision and the audiences, from lookalike's marts."})
    mb.call("PUT", f"/api/dashboard/{dash['id']}", {"dashcards": dashboard_layout(ids)})
    say(f"dashboard {title!r}: {mb.url}/dashboard/{dash['id']}")
    return dash["id"]
