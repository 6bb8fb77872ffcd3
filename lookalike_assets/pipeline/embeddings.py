"""lead_embeddings: text encoder + tabular blocks, unit-normalized, validated, written by binary COPY.

Only leads whose content hash or model version changed are embedded again. Each batch commits on its own,
so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psycopg

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.db.vector_copy import pack_id_hash_vector
from lookalike_assets.domain.encoder_choice import backend_encoder, faithful_for
from lookalike_assets.domain.encoders import KnownTexts, TextEncoder, backend_of
from lookalike_assets.domain.features import FeatureSpec, assemble, calibrate_text
from lookalike_assets.domain.vectors import DIM, normalize
from lookalike_assets.pipeline.common import Timer, analyze_after_bulk, batched, log
from lookalike_assets.pipeline.features import load_spec, save_spec

CALIBRATION_TEXTS = 2000


class NoFeatureSpecError(RuntimeError):
    pass


@dataclass
class EmbedResult:
    model_version: str
    to_embed: int
    embedded: int
    skipped_empty: list[str] = field(default_factory=list)  # external ids of leads with nothing to embed
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def model_version(encoder: TextEncoder, spec: FeatureSpec) -> str:
    """The version of a tenant's vectors: its encoder's (the machine's ``encoder`` or the faithful backend its
    first pass chose instead), its spec's, the dimension."""
    backend = _replacement(spec, encoder)
    return f"{spec.text_calibration.encoder if backend else encoder.version}|{spec.version}|d{DIM}"


def _replacement(spec: FeatureSpec, encoder: TextEncoder) -> str | None:
    """The backend this tenant's first pass chose instead of the machine's ``encoder``, if it did."""
    cal = spec.text_calibration
    return backend_of(cal.encoder) if cal is not None and cal.instead_of == encoder.version else None


def embed_rows(rows: list[tuple], encoder: TextEncoder, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Vectors for rows of (lead_id, features, text_blob, content_hash, ...), and a mask of rows with content."""
    feats = [r[1] for r in rows]
    txt = encoder.encode([r[2] for r in rows]) if spec.has_text else None
    raw = assemble(feats, txt, spec)
    has_content = np.linalg.norm(raw, axis=1) > 1e-9
    return raw, has_content


def calibrated(conn: psycopg.Connection, tenant_id: uuid.UUID, spec: FeatureSpec,
               encoder: TextEncoder) -> tuple[FeatureSpec, TextEncoder]:
    """The spec with the tenant's text calibration for this encoder: the mean and scale of the embeddings of a
    sample of its texts, measured once (and again when the encoder or the spec changes); and the encoder to
    embed with, which reuses the sample's vectors. A quantized encoder must keep the tenant's own texts at the
    floor (mean cosine 0.99 to fp32, checked on the sample): else the next faithful backend embeds this tenant,
    from then on, and its model version says so. Call inside the tenant's transaction."""
    encoder = tenant_encoder(spec, encoder)
    if not spec.needs_calibration(encoder.version):
        return spec, encoder
    texts = [r[0] for r in Q.embeddings.sample_text_blobs(conn, tenant_id=tenant_id, n=CALIBRATION_TEXTS)]
    encoder, vectors, how = faithful_for(texts, encoder)
    spec = spec.model_copy(update={"text_calibration": calibrate_text(encoder.version, vectors, **how)})
    save_spec(conn, tenant_id, spec)
    log.info("text calibration of %d texts with %s%s", len(texts), encoder.version,
             f" (mean cosine {how['fidelity']:.4f} to fp32)" if "fidelity" in how else "")
    return spec, KnownTexts(encoder, texts, vectors)


def tenant_encoder(spec: FeatureSpec, encoder: TextEncoder) -> TextEncoder:
    """The encoder of this tenant's vectors: the machine's ``encoder``, or the faithful backend its first pass
    chose instead because ``encoder`` did not keep the tenant's texts at the floor."""
    backend = _replacement(spec, encoder)
    return backend_encoder(backend) if backend else encoder


def write_embeddings(conn: psycopg.Connection, tenant_id: uuid.UUID, ids: list[uuid.UUID], hashes: list[str],
                     vectors: np.ndarray, version: str) -> int:
    """Validate and store vectors of one batch (inside the caller's tenant transaction)."""
    vecs = normalize(vectors, DIM, ids=ids)
    Q.embeddings.create_embeddings_stage(conn)
    with conn.cursor() as cur, cur.copy(Q.embeddings.copy_embeddings_stage.sql) as copy:
        copy.write(pack_id_hash_vector(ids, hashes, vecs))
    return Q.embeddings.merge_embeddings_stage(conn, tenant_id=tenant_id, model_version=version)


def refresh_embeddings(
    conn: psycopg.Connection,
    tenant_id: uuid.UUID,
    encoder: TextEncoder,
    batch_size: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedResult:
    t = Timer()
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        spec = load_spec(conn, tenant_id)
        if spec is None:
            raise NoFeatureSpecError(f"tenant {tenant_id} has no feature spec: materialize lead_features first")
        spec, encoder = calibrated(conn, tenant_id, spec, encoder)
        version = model_version(encoder, spec)
        todo = list(Q.embeddings.leads_to_embed(conn, tenant_id=tenant_id, model_version=version))
    result = EmbedResult(model_version=version, to_embed=len(todo), embedded=0)
    log.info("%d leads to embed with %s", len(todo), version)
    done = 0
    for batch in batched(todo, batch_size):
        raw, ok = embed_rows(batch, encoder, spec)
        result.skipped_empty += [str(batch[i][4]) for i in np.flatnonzero(~ok)]
        keep = np.flatnonzero(ok)
        if keep.size:
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                result.embedded += write_embeddings(
                    conn, tenant_id, [batch[i][0] for i in keep], [batch[i][3] for i in keep], raw[keep], version
                )
        done += len(batch)
        if progress:
            progress(done, len(todo))
    analyze_after_bulk(conn, "lead_embeddings", result.embedded)
    result.seconds = t.seconds
    return result


def ensure_ann_index(conn: psycopg.Connection, tenant_id: uuid.UUID, min_rows: int) -> str:
    """The tenant's own approximate (HNSW) index for similar-leads search: created once it has ``min_rows``
    vectors, dropped below half of that (see lookalike_tenant_ann_index). Returns created, exists, dropped or
    none. Building it takes a share lock on lead_embeddings for its duration (writes of other tenants wait)."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        return Q.embeddings.tenant_ann_index(conn, tenant_id=tenant_id, min_rows=min_rows)
