"""Files a person uploaded, kept between the preview of their import and the import itself.

Each tenant has its own folder (``<home>/uploads/<tenant slug>``, readable by its owner only); a file is named by a
random token the person's next request carries, so a token from another tenant names nothing here. Files older
than a day are removed at the next upload; an import removes its file; erasing a lead rewrites them like exports.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from lookalike_assets.domain.exports import write_atomically

MAX_AGE_SECONDS = 24 * 3600
TOKEN = re.compile(r"^[0-9a-f]{32}$")


class UploadStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _folder(self, slug: str) -> Path:
        folder = self.root / slug
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder

    def save(self, slug: str, content: bytes, suffix: str = ".csv") -> str:
        """Keep ``content`` for the tenant; returns its token. Removes the tenant's stale uploads first."""
        self.sweep(slug)
        token = secrets.token_hex(16)
        write_atomically(self._folder(slug) / f"{token}{suffix}", content)
        return token

    def path(self, slug: str, token: str, suffix: str = ".csv") -> Path | None:
        """The tenant's upload of this token, or None (unknown, expired, malformed, or another tenant's)."""
        if not TOKEN.match(token or ""):
            return None
        p = self.root / slug / f"{token}{suffix}"
        if not p.is_file() or time.time() - p.stat().st_mtime > MAX_AGE_SECONDS:
            return None
        return p

    def discard(self, slug: str, token: str, suffix: str = ".csv") -> None:
        if TOKEN.match(token or ""):
            (self.root / slug / f"{token}{suffix}").unlink(missing_ok=True)

    def sweep(self, slug: str) -> int:
        """Remove the tenant's uploads older than a day; returns how many."""
        folder = self.root / slug
        if not folder.is_dir():
            return 0
        gone = 0
        for f in folder.iterdir():
            if f.is_file() and time.time() - f.stat().st_mtime > MAX_AGE_SECONDS:
                f.unlink(missing_ok=True)
                gone += 1
        return gone

