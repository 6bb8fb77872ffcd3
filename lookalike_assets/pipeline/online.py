"""The online half, without any web framework: similar leads, scoring a lead that just arrived, members by
page. Same feature spec, encoder, vectors and validation as the pipeline; every call runs in the tenant's own
transaction (so only the tenant's vectors are ever read)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
import psycopg

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.encoders import TextEncoder
from lookalike_assets.domain.features import lead_features
from lookalike_assets.domain.identifiers import normalize_email
from lookalike_assets.domain.similarity import reasons
from lookalike_assets.domain.vectors import DIM, normalize
from lookalike_assets.pipeline.common import uuid_ref
from lookalike_assets.pipeline.embeddings import embed_rows, tenant_encoder
from lookalike_assets.pipeline.features import lead_row, load_spec


def as_array(value) -> np.ndarray:
    """A vector from the database (pgvector's ``Vector`` or a numpy array) as float32."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


class OnlineError(ValueError):
    """A request the data cannot answer (an unknown lead, a lead without a vector, no feature spec yet)."""

    def __init__(self, message: str, code: str = "not_found"):
        super().__init__(message)
        self.code = code


@dataclass
class Neighbor:
    lead_id: str
    external_id: str
    similarity_score: float
    reasons: dict[str, float] = field(default_factory=dict)


def similar_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, ref: str, k: int = 10,
                  min_score: float | None = None) -> list[Neighbor]:
    """The tenant's k leads most like one of its leads (exact search over the tenant's own vectors), each with
    the similarity broken down by block."""
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        spec = load_spec(conn, tenant_id)
        row = Q.online.lead_vector(conn, tenant_id=tenant_id, ref=ref, ref_id=uuid_ref(ref))
        if row is None:
            raise OnlineError(f"no lead {ref!r} in this tenant")
        if row.embedding is None or spec is None:
            raise OnlineError(f"lead {ref!r} has no vector yet: it is embedded by the next refresh", "not_embedded")
        vec = as_array(row.embedding)
        rows = nearest(conn, tenant_id, vec, k, exclude=[row.lead_id])
    return _neighbors(rows, vec, spec, min_score)


def nearest(conn: psycopg.Connection, tenant_id: uuid.UUID, vec: np.ndarray, k: int, exclude=()) -> list:
    """The k stored leads nearest to ``vec`` (inside the tenant's transaction): through the tenant's approximate
    index when it has one, and exactly k rows whenever the tenant has k eligible leads (an approximate search that
    came back short is answered again exactly)."""
    exclude = list(exclude)
    Q.online.set_ef_search(conn, ef=min(1000, max(64, 2 * (k + len(exclude)))))
    rows = list(Q.online.nearest_leads(conn, tenant_id=tenant_id, vector=vec, exclude=exclude, k=k))
    if len(rows) < k and Q.online.eligible_count(conn, tenant_id=tenant_id, exclude=exclude) > len(rows):
        rows = list(Q.online.nearest_leads_exact(conn, tenant_id=tenant_id, vector=vec, exclude=exclude, k=k))
    return rows


def _neighbors(rows, vec: np.ndarray, spec, min_score: float | None) -> list[Neighbor]:
    rows = [r for r in rows if min_score is None or r.similarity >= min_score]
    if not rows:
        return []
    why = reasons(np.stack([as_array(r.embedding) for r in rows]), vec, spec.layout)
    return [Neighbor(str(r.lead_id), r.external_id, round(float(r.similarity), 6), w) for r, w in zip(rows, why)]


def calibrated_spec_for(spec, encoder: TextEncoder):
    """The tenant's spec, calibrated for this encoder by the pipeline; an encoder the tenant's leads were not
    embedded with cannot score against them."""
    if spec.needs_calibration(encoder.version):
        raise OnlineError(f"the tenant's leads were not embedded with {encoder.version}: materialize the tenant "
                          "with the encoder the API uses (LOOKALIKE_ENCODER)", "not_ready")
    return spec


def tenant_spec(conn: psycopg.Connection, tenant_id: uuid.UUID):
    """The tenant's feature spec (inside its transaction), else not_ready."""
    spec = load_spec(conn, tenant_id)
    if spec is None:
        raise OnlineError("the tenant has no feature spec yet: import leads and materialize it first", "not_ready")
    return spec


def vector_of(conn: psycopg.Connection, tenant_id: uuid.UUID, attributes: dict, encoder: TextEncoder, spec=None):
    """A lead's vector from its attributes, as the pipeline would embed it (inside the tenant's transaction);
    ``spec``: the tenant's spec when the caller read it already."""
    spec = spec or tenant_spec(conn, tenant_id)
    encoder = tenant_encoder(spec, encoder)  # a tenant its first pass moved to a faithful backend: that one
    spec = calibrated_spec_for(spec, encoder)
    feats, blob, _ = lead_features(lead_row({"attributes": {}, **attributes}), spec)
    raw, ok = embed_rows([(None, feats, blob)], encoder, spec)
    if not ok[0]:
        raise OnlineError("the lead has no value in any feature column", "no_features")
    return normalize(raw, DIM)[0], spec


def score_lead(conn: psycopg.Connection, tenant_id: uuid.UUID, attributes: dict, encoder: TextEncoder,
               k: int = 5) -> dict:
    """s_look: the highest cosine to a published audience's seed profile (and which); s_novel: 1 minus the
    cosine to the nearest existing customer (a 'won' seed or a closed deal), so 1 is entirely new; contrast:
    s_look - (1 - s_novel), how much more the lead looks like an audience than like any one customer;
    rank_score: the champion's score when the tenant has one; decile: where the lead would fall in that
    audience's pool; the k nearest stored leads; and a duplicate by external id or normalized email."""
    from lookalike_assets.domain.columns import LEAD_FIELDS, resolve_lead_keys
    from lookalike_assets.pipeline.ranking import score_new_leads

    with tenant_transaction(conn, tenant_id, APP_ROLE):
        # the tenant's own column names are accepted; a key that names nothing it is scored by is an error, never
        # ignored (its columns from the spec read anyway: no scan of its leads on this path)
        spec = tenant_spec(conn, tenant_id)
        known = {c.name for b in spec.blocks for c in b.columns} - set(LEAD_FIELDS)
        lead, unknown = resolve_lead_keys(attributes, known)
        if unknown:
            names = ", ".join(sorted(known)[:30]) + (", ..." if len(known) > 30 else "")
            raise OnlineError(f"unknown field(s) {', '.join(map(repr, unknown))}: not a column the tenant's leads "
                              f"are scored by (lead fields: {', '.join(LEAD_FIELDS)}; its own columns: "
                              f"{names or 'none'})", "unknown_fields")
        attributes = lead
        vec, spec = vector_of(conn, tenant_id, attributes, encoder, spec)
        profiles = list(Q.online.published_profiles(conn, tenant_id=tenant_id))
        looks = sorted(((float(np.dot(vec, as_array(p.profile))), p) for p in profiles),
                       key=lambda sp: -sp[0])
        customer = Q.online.nearest_customer(conn, tenant_id=tenant_id, vector=vec)
        dup = Q.online.duplicate_lead(conn, tenant_id=tenant_id, external_id=_str(attributes.get("external_id")),
                                      email=normalize_email(attributes.get("email")))
        near = nearest(conn, tenant_id, vec, k)
        best = looks[0][1] if looks else None
        floors = list(Q.online.audience_deciles(conn, tenant_id=tenant_id, audience_id=best.audience_id)) if best else []
    rank = score_new_leads(conn, tenant_id, [attributes], vec[None, :], spec=spec)
    rank_score = None if rank is None else float(rank[0])
    s_look = looks[0][0] if looks else None
    s_novel = None if customer is None else 1.0 - float(customer.similarity)
    score = s_look if rank_score is None else rank_score  # what the audience's pool is cut by
    decile = next((f.decile for f in floors if score is not None and f.floor is not None and score >= f.floor), None)
    if decile is None and floors and score is not None:
        decile = min(f.decile for f in floors)
    return {
        "s_look": s_look,
        "audience_id": None if best is None else str(best.audience_id),
        "audience": None if best is None else best.name,
        "s_novel": s_novel,
        "contrast": None if s_look is None or s_novel is None else s_look - (1.0 - s_novel),
        "rank_score": rank_score,
        "decile": decile,
        "neighbors": [n.__dict__ for n in _neighbors(near, vec, spec, None)],
        "duplicate_of": None if dup is None else str(dup.lead_id),
    }


def _str(v) -> str | None:
    return str(v).strip() if v is not None and str(v).strip() else None
