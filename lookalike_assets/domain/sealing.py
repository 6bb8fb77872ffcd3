"""Credentials sealed at rest: Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key derived from
the deployment's secret (LOOKALIKE_SECRET) with HKDF, one key per purpose. A sealed value names its tenant and
destination inside the authenticated data it encrypts, so a ciphertext copied onto another tenant's destination
does not open there."""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(ValueError):
    """A sealed value that does not open: another secret, another owner, or altered."""


def _fernet(secret: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"lookalike-sealing-v1",
               info=purpose.encode()).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, owner: str, values: dict[str, str]) -> bytes:
    """``values`` (credential name -> value) encrypted for ``owner`` (e.g. "<tenant id>/<destination id>")."""
    return _fernet(secret, "destination-credentials").encrypt(json.dumps({"owner": owner, "values": values}).encode())


def unseal(secret: str, owner: str, sealed: bytes) -> dict[str, str]:
    try:
        data = json.loads(_fernet(secret, "destination-credentials").decrypt(bytes(sealed)))
    except InvalidToken:
        raise SealError("the credentials do not open with this deployment's secret (LOOKALIKE_SECRET changed?): "
                        "give them again with `lookalike destinations update`") from None
    if data.get("owner") != owner:
        raise SealError("these credentials belong to another destination")
    return dict(data["values"])
