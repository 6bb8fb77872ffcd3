"""Binary COPY of fixed-layout rows with pgvector vectors, packed and parsed with numpy in bulk.

Rows of (uuid, vector) and (uuid, 64-char text, vector) have a fixed size in PostgreSQL's binary COPY
format, so a whole batch is one numpy structured array: no per-row Python work on the hot path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np

from lookalike_assets.domain.vectors import DIM

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"


def _read_dtype(dim: int) -> np.dtype:
    return np.dtype([
        ("nfields", ">i2"),
        ("len_id", ">i4"), ("id", "V16"),
        ("len_vec", ">i4"), ("vdim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (dim,)),
    ])


def _write_dtype(dim: int) -> np.dtype:
    return np.dtype([
        ("nfields", ">i2"),
        ("len_id", ">i4"), ("id", "V16"),
        ("len_hash", ">i4"), ("hash", "S64"),
        ("len_vec", ">i4"), ("vdim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (dim,)),
    ])


def pack_id_hash_vector(ids: list[uuid.UUID], hashes: list[str], vectors: np.ndarray, dim: int = DIM) -> bytes:
    """COPY ... FROM STDIN (FORMAT BINARY) payload for columns (uuid, text of 64 chars, vector(dim))."""
    n = len(ids)
    if vectors.shape != (n, dim) or len(hashes) != n:
        raise ValueError(f"expected {n} ids, hashes and vectors of dimension {dim}, got {vectors.shape}")
    arr = np.empty(n, dtype=_write_dtype(dim))
    arr["nfields"] = 3
    arr["len_id"] = 16
    arr["id"] = np.frombuffer(b"".join(u.bytes for u in ids), dtype="V16") if n else arr["id"]
    arr["len_hash"] = 64
    enc = [h.encode("ascii") for h in hashes]
    if any(len(h) != 64 for h in enc):
        raise ValueError("content hashes must be 64 hex characters")
    arr["hash"] = enc
    arr["len_vec"] = 4 + 4 * dim
    arr["vdim"] = dim
    arr["unused"] = 0
    arr["vec"] = vectors
    return HEADER + arr.tobytes() + TRAILER


def iter_id_vector(chunks, dim: int = DIM, batch: int = 20000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Parse a COPY ... TO STDOUT (FORMAT BINARY) stream of (uuid, vector(dim)) into batches of
    (ids as a numpy ``S16`` array, float32 vectors). No Python object per row: make UUIDs (``uuid_of``) only of
    the few rows that are kept. (``S16`` drops trailing NUL bytes when an element is read, which keeps
    equality exact for fixed 16-byte ids; ``uuid_of`` pads them back.)"""
    dt = _read_dtype(dim)
    size = dt.itemsize
    buf = bytearray()
    header_done = False
    for chunk in chunks:
        buf += chunk
        if not header_done:
            if len(buf) < len(HEADER):
                continue
            if bytes(buf[:11]) != HEADER[:11]:
                raise ValueError("not a binary COPY stream")
            del buf[: len(HEADER)]
            header_done = True
        while len(buf) >= size * batch:
            yield _parse(buf, batch, dt, dim)
            del buf[: size * batch]
    if not header_done:
        return
    if buf[-2:] == TRAILER:
        del buf[-2:]
    if len(buf) % size:
        raise ValueError(f"binary COPY stream has a partial row ({len(buf)} bytes left for rows of {size})")
    if buf:
        yield _parse(buf, len(buf) // size, dt, dim)


def _parse(buf: bytearray, n: int, dt: np.dtype, dim: int) -> tuple[np.ndarray, np.ndarray]:
    arr = np.frombuffer(bytes(buf[: n * dt.itemsize]), dtype=dt, count=n)
    if n and ((arr["nfields"] != 2).any() or (arr["vdim"] != dim).any() or (arr["len_id"] != 16).any()):
        raise ValueError(f"unexpected row layout in binary COPY stream (vectors of dimension {dim} expected)")
    ids = np.frombuffer(arr["id"].tobytes(), dtype="S16", count=n)
    return ids, arr["vec"].astype(np.float32)


def uuid_of(raw: bytes) -> uuid.UUID:
    """A UUID from an ``S16`` element (trailing NUL bytes restored)."""
    return uuid.UUID(bytes=bytes(raw).ljust(16, b"\0"))


def to_numpy(value) -> np.ndarray:
    """A pgvector value as returned by psycopg (pgvector's Vector, or an array) as float32."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)
