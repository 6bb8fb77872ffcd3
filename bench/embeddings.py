"""lookalike's embedding path against plain ``SentenceTransformer.encode`` (fp32, same texts, same run), every
available backend of the text encoder on the same texts, then a second pass with nothing changed.

    python bench/embeddings.py --n 2000

What decides the figures is printed with them: the CPU model and its flags (AVX512, VNNI, AMX), cores and
threads, the backend the `minilm` encoder chose on this machine (its calibration), batch size and token budget,
and the texts' mean and maximum token length. ``backends`` gives each backend's encoder-only seconds, speedup
over the reference, and mean/min cosine of its vectors to the reference's.

The texts are demo lead texts (title, industry, company, bio) as lookalike builds them. ``speedup`` is the
reference time over the time of lookalike's whole first embedding pass of a tenant (encoder, tabular blocks,
validation, binary COPY into PostgreSQL); ``encoder_speedup`` is over the encoder alone. Last line, JSON:
speedup, mean_cosine, min_cosine (text vectors against the reference), incremental_embedded (must be 0),
incremental_seconds, and more.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import bench_database, emit, machine, peak_rss_mb

from lookalike_assets.db import admin
from lookalike_assets.db.connect import PIPELINE_ROLE, connect
from lookalike_assets.domain.demo_data import TENANTS, generate_leads
from lookalike_assets.domain.encoder_choice import get_encoder
from lookalike_assets.domain.encoders import model_dir
from lookalike_assets.domain.features import lead_features
from lookalike_assets.pipeline.embeddings import refresh_embeddings
from lookalike_assets.pipeline.features import load_spec, refresh_lead_features
from lookalike_assets.pipeline.leads import upsert_leads


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="leads (texts)")
    ap.add_argument("--encoder", default="minilm", help="lookalike encoder (minilm, or a pinned one: see LOOKALIKE_ENCODER)")
    ap.add_argument("--reference-batch-size", type=int, default=32, help="SentenceTransformer.encode's batch size")
    args = ap.parse_args()

    url = bench_database()
    owner, conn = connect(url), connect(url, role=PIPELINE_ROLE)
    import uuid

    tid = uuid.UUID(admin.create_tenant(owner, "bench-embeddings", "Bench embeddings"))
    leads = []
    per = -(-args.n // len(TENANTS))
    for p in TENANTS:
        for lead, _ in generate_leads(p, per):
            lead["external_id"] = f"{p.slug}:{lead['external_id']}"
            leads.append(lead)
    leads = leads[: args.n]
    upsert_leads(conn, tid, leads)
    refresh_lead_features(conn, tid)
    from lookalike_assets.db.connect import APP_ROLE, tenant_transaction

    with tenant_transaction(conn, tid, APP_ROLE):
        spec = load_spec(conn, tid)
    texts = [lead_features(lead, spec)[1] for lead in leads]

    # Reference: plain sentence-transformers, fp32, on this machine's CPU.
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir()), device="cpu")
    st.encode(texts[:64], batch_size=args.reference_batch_size)  # warm-up
    t = time.perf_counter()
    ref = st.encode(texts, batch_size=args.reference_batch_size, normalize_embeddings=True, convert_to_numpy=True)
    t_ref = time.perf_counter() - t

    from lookalike_assets.domain.encoder_builds import default_cache_dir
    from lookalike_assets.domain.encoder_choice import available_backends, chosen_backend, machine_profile, measure
    from lookalike_assets.domain.encoders import tokenizer

    lengths = [len(e.ids) for e in tokenizer().encode_batch(texts)]
    calibration = chosen_backend(default_cache_dir())

    enc = get_encoder(args.encoder)
    enc.encode(texts[:64])  # warm-up (and, the first time on a machine, the int8 export)
    t = time.perf_counter()
    first = refresh_embeddings(conn, tid, enc, batch_size=4096)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    ours = enc.encode(texts)
    t_encoder = time.perf_counter() - t
    cos = np.einsum("ij,ij->i", ours, ref)
    t = time.perf_counter()
    second = refresh_embeddings(conn, tid, enc, batch_size=4096)
    t_second = time.perf_counter() - t
    # Every backend after lookalike's own passes: with the other runtimes loaded first (their thread pools and
    # memory), the first pass ran 0.25 s slower than in a process that has only its encoder, as a worker has.
    backends = measure(available_backends(), texts, repeats=1, reference=(ref, t_ref))

    with owner.transaction():
        from lookalike_assets.db.queries import Q

        Q.backtest.delete_tenant(owner, tenant_id=tid)
    conn.close()
    owner.close()
    emit({
        "benchmark": "embeddings", "n": args.n, "encoder": enc.version, "unique_texts": len(set(texts)),
        "mean_text_chars": round(float(np.mean([len(x) for x in texts])), 1),
        "reference_seconds": round(t_ref, 3), "reference_texts_per_second": round(args.n / t_ref, 1),
        "first_pass_seconds": round(t_first, 3), "first_pass_embedded": first.embedded,
        "leads_per_second": round(args.n / t_first, 1), "encoder_seconds": round(t_encoder, 3),
        "speedup": round(t_ref / t_first, 3), "encoder_speedup": round(t_ref / t_encoder, 3),
        "mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5),
        "incremental_embedded": second.embedded, "incremental_seconds": round(t_second, 4),
        "incremental_share_of_first": round(t_second / t_first, 4), "peak_rss_mb": peak_rss_mb(),
        "machine": machine(), "profile": machine_profile(), "torch_threads": torch_threads(),
        "calibration_chosen": calibration["chosen"],
        "batch_size": getattr(enc, "batch_size", None), "token_budget": getattr(enc, "token_budget", None),
        "mean_tokens": round(float(np.mean(lengths)), 1), "max_tokens": int(max(lengths)),
        "reference_batch_size": args.reference_batch_size, "backends": backends,
    })


if __name__ == "__main__":
    main()
