"""Validate docker-compose.yml without Docker: interpolate its variables as Compose does, validate the result
against the Compose Specification's JSON schema (deploy/schema), and check what the schema cannot: every
``depends_on`` names a service, a dependency on ``service_healthy`` has a health check, the ``lookalike`` image is
built by a service. With ``docker compose`` on the PATH, `docker compose config -q` runs as well.

    python deploy/check_compose.py [docker-compose.yml]        # exit 1 with the reasons when invalid
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "schema" / "compose-spec.json"
# What a user must set (the file refuses to start without them): placeholders for the check.
REQUIRED = {"LOOKALIKE_SECRET": "check-only-secret", "METABASE_ADMIN_PASSWORD": "check-only-password"}
VAR = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value, env: dict[str, str]):
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2) or m.group(5)
        op, arg = m.group(3), m.group(4) or ""
        have = env.get(name)
        if op in (":-", "-"):
            return have if (have if op == ":-" else have is not None) else arg
        if op in (":?", "?"):
            if not have:
                raise ValueError(f"required variable {name} is not set: {arg}")
            return have
        return have or ""

    return VAR.sub(sub, value)


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    env = {**REQUIRED, **(env if env is not None else os.environ)}
    raw = yaml.safe_load(path.read_text())
    doc = interpolate({k: v for k, v in raw.items() if not k.startswith("x-")}, env)
    out = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
           for e in jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(doc)]
    services = doc.get("services", {})
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        for dep, how in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            if dep not in services:
                out.append(f"services/{name}: depends on {dep!r}, which is not a service")
            elif (how or {}).get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                out.append(f"services/{name}: waits for {dep!r} to be healthy, which has no health check")
    if any(s.get("image") == "lookalike:latest" for s in services.values()) and not any(
            "build" in s and s.get("image") == "lookalike:latest" for s in services.values()):
        out.append("no service builds the lookalike:latest image")
    return out


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or `docker-compose`, when one is installed and works."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) and subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
            return cmd
    return None


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "docker-compose.yml"
    found = problems(path)
    compose = compose_command()
    if compose:
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in REQUIRED.items()}}
        res = subprocess.run([*compose, "-f", str(path), "config", "-q"], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            found.append(f"{' '.join(compose)} config: {res.stderr.strip()}")
    for p in found:
        print(f"{path.name}: {p}", file=sys.stderr)
    if not found:
        print(f"{path.name} is valid (Compose Specification schema, dependencies, image)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
