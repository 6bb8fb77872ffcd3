"""API keys: a prefix a person and a secret scanner recognize, 256 random bits, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "lk_"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def new_token() -> str:
    """A one-time sign-in link's or a session's secret: 256 random bits, URL-safe (stored as SHA-256 only)."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX) and 20 <= len(value) <= 200 and value.isascii()
