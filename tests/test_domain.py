"""Pure domain logic: vectors, features, similarity, seed sets."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from lookalike_assets.domain.audience import AudienceDefinitionError, SeedRow, parse_seed_set, select_seeds
from lookalike_assets.domain.encoder_choice import get_encoder
from lookalike_assets.domain.encoders import EncoderError, HashingEncoder, NoTextEncoder
from lookalike_assets.domain.features import (
    DEMO_BLOCKS,
    DEMO_TEXT_COLUMNS,
    FeatureError,
    FeatureSpec,
    assemble,
    build_spec,
    calibrate_text,
    lead_features,
    one_block_per_column,
)
from lookalike_assets.domain.similarity import (
    SeedError,
    TopN,
    block_contributions,
    ntile_desc,
    reasons,
    weighted_centroid,
)
from lookalike_assets.domain.vectors import DIM, TEXT_DIM, VectorError, normalize, validate


def unit_rows(n, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("bad, message", [
    (np.ones((2, DIM - 1)), "dimension"),
    (np.full((1, DIM), np.nan), "NaN"),
    (np.concatenate([np.ones((1, DIM)), np.full((1, DIM), np.inf)]), "infinite"),
    (np.zeros((3, DIM)), "zero vector"),
    (np.array([["a"] * DIM]), "numeric"),
])
def test_bad_vectors_are_refused(bad, message):
    with pytest.raises(VectorError, match=message):
        normalize(bad)


def test_bad_vector_error_names_the_rows():
    vecs = unit_rows(4)
    vecs[2] = np.nan
    with pytest.raises(VectorError, match="lead-2"):
        validate(vecs, ids=["lead-0", "lead-1", "lead-2", "lead-3"])


def test_normalize_gives_unit_rows():
    out = normalize(np.random.default_rng(1).standard_normal((5, DIM)) * 7)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


ROWS = [
    {"industry": "software", "company_size": 120, "country": "germany", "region": "berlin", "seniority": "vp",
     "title": "cto", "email_opens": 3, "web_visits": 10, "bio": "Scaling data pipelines", "company": "Acme"},
    {"industry": "retail", "company_size": 9000, "country": "brazil", "region": "sao paulo",
     "seniority": "intern", "title": "buyer", "email_opens": 0, "web_visits": 1, "bio": "", "company": None},
    {"industry": " Software ", "company_size": 150, "country": "germany", "region": None, "seniority": "vp",
     "title": "cto", "email_opens": 2, "web_visits": 12, "bio": "Data pipelines at scale", "company": "Beta"},
]


def demo_spec():
    return build_spec(ROWS, DEMO_BLOCKS, DEMO_TEXT_COLUMNS)


def test_spec_drops_empty_columns_and_versions_by_content():
    spec = demo_spec()
    assert "property" not in [b.name for b in spec.blocks]  # no row has a property type
    assert spec.version == demo_spec().version
    assert abs(sum(spec.block_weights().values()) - 1.0) < 1e-9
    other = build_spec(ROWS, DEMO_BLOCKS, DEMO_TEXT_COLUMNS, text_weight=0.2)
    assert other.version != spec.version


def test_features_are_normalized_and_hashed():
    spec = demo_spec()
    f0, blob0, h0 = lead_features(ROWS[0], spec)
    f2, _, _ = lead_features(ROWS[2], spec)
    assert f2["industry"] == "software"  # trimmed, lower-cased
    assert blob0.startswith("Title: cto.") and "Bio: Scaling data pipelines." in blob0
    assert lead_features(dict(ROWS[0]), spec)[2] == h0
    assert lead_features({**ROWS[0], "bio": "changed"}, spec)[2] != h0


def test_similar_leads_have_similar_vectors():
    spec = demo_spec()
    spec = spec.model_copy(update={"text_calibration": calibrate_text("hashing-v1", HashingEncoder().encode(
        [lead_features(r, spec)[1] for r in ROWS]))})
    feats = [lead_features(r, spec)[0] for r in ROWS]
    vec = normalize(assemble(feats, HashingEncoder().encode([lead_features(r, spec)[1] for r in ROWS]), spec))
    assert vec[0] @ vec[2] > vec[0] @ vec[1]
    with pytest.raises(FeatureError, match="text calibration"):
        assemble(feats, None, demo_spec())


def test_columns_are_centred_and_weigh_the_same_whatever_their_width():
    rng = np.random.default_rng(0)
    rows = [{"wide": f"v{rng.integers(0, 30)}", "narrow": rng.choice(["a", "b"]), "amount": float(rng.lognormal(5, 2)),
             "sparse": rng.choice(["x", "y"]) if rng.random() < 0.1 else None} for _ in range(3000)]
    spec = build_spec(rows, one_block_per_column([("wide", None), ("narrow", None), ("amount", None),
                                                  ("sparse", None)]))
    X = assemble([lead_features(r, spec)[0] for r in rows], None, spec)
    sl = spec.layout.slices()
    for b in spec.blocks:  # centred: mean zero; equal shares of the squared norm (those with a value)
        part = X[:, sl[b.name]]
        assert np.abs(part.mean(axis=0)).max() < 0.02, b.name
        present = np.array([r[b.name] is not None for r in rows])
        assert abs((part[present] ** 2).sum(axis=1).mean() - 0.25) < 0.02, b.name
    assert not X[[r["sparse"] is None for r in rows], sl["sparse"]].any()  # missing: neutral
    assert spec.layout.width < 512 and spec.blocks[0].columns[0].kind == "numeric"


def test_the_layout_does_not_depend_on_the_files_column_order():
    cols = [(f"col{i:02d}", None) for i in range(15)]
    rows = [{c: (i * 7 + j) % 5 for j, (c, _) in enumerate(cols)} for i in range(200)]
    a = build_spec(rows, one_block_per_column(cols))
    b = build_spec([dict(reversed(list(r.items()))) for r in rows], one_block_per_column(list(reversed(cols))))
    assert a.version == b.version and a.layout == b.layout and len(a.blocks) == 15


def test_a_spec_too_wide_for_the_vector_shrinks_then_refuses():
    cols = [(f"c{i:03d}", "categorical") for i in range(60)]
    rows = [{c: f"v{(i * (k + 3)) % 40}" for k, (c, _) in enumerate(cols)} for i in range(400)]
    spec = build_spec(rows, one_block_per_column(cols))  # 60 columns of 40 values: categories are cut to fit
    assert spec.layout.width <= 512 and max(len(c.categories) for b in spec.blocks for c in b.columns) < 32
    too_many = [(f"c{i:03d}", "categorical") for i in range(200)]
    with pytest.raises(FeatureError, match="dimensions, more than the 512 left"):
        build_spec([{c: f"v{i % 9}" for c, _ in too_many} for i in range(50)], one_block_per_column(too_many))


def test_spec_refuses_bad_names_and_empty_specs():
    with pytest.raises(ValueError):
        FeatureSpec.model_validate({"blocks": [{"name": "Bad Name!", "columns": [{"name": "x", "kind": "numeric"}],
                                                "weight": 1}]})
    with pytest.raises(ValueError, match="at least one"):
        FeatureSpec(text_columns=[], blocks=[])


def test_encoders_are_explicit():
    with pytest.raises(EncoderError, match="unknown encoder"):
        get_encoder("bert-huge")
    h = HashingEncoder().encode(["data pipelines", "", "data pipelines"])
    assert h.shape == (3, TEXT_DIM)
    assert np.allclose(h[0], h[2]) and not h[1].any()
    assert not NoTextEncoder().encode(["x"]).any()


def test_weighted_centroid_and_errors():
    v = unit_rows(3)
    c = weighted_centroid(v, [1.0, 1.0, 1.0])
    assert abs(np.linalg.norm(c) - 1) < 1e-5
    with pytest.raises(SeedError, match="empty seed set"):
        weighted_centroid(np.zeros((0, DIM)), [])
    with pytest.raises(SeedError, match="positive"):
        weighted_centroid(v, [1.0, -1.0, 1.0])
    with pytest.raises(VectorError, match="cancel out"):
        weighted_centroid(np.stack([v[0], -v[0]]), [1.0, 1.0])


def test_topn_matches_brute_force_and_excludes():
    vecs = unit_rows(5000, seed=3)
    ids = np.array([f"l{i}" for i in range(len(vecs))], dtype=object)
    profiles = unit_rows(3, seed=4)
    excluded = {f"l{i}" for i in range(0, 5000, 7)}
    top = TopN(profiles, n=100, exclude=[excluded, set(), set()], layout=demo_spec().layout)
    for s in range(0, len(vecs), 999):  # uneven batches
        top.add(ids[s:s + 999], vecs[s:s + 999])
    for a in range(3):
        got, scores, parts = top.result(a)
        assert parts.shape == (100, len(top.block_names))
        mask = np.ones(len(vecs), bool)
        if a == 0:
            mask[::7] = False
        sc = vecs @ profiles[a]
        sc[~mask] = -np.inf
        expect = set(ids[np.argsort(-sc)[:100]])
        assert set(got) == expect
        assert list(scores) == sorted(scores, reverse=True)
    assert top.eligible[0] == 5000 - len(excluded)


def test_reasons_sum_to_similarity():
    spec = demo_spec()
    vecs = unit_rows(10)
    prof = unit_rows(1, seed=9)[0]
    contrib = block_contributions(vecs, prof, spec.layout)
    total = sum(contrib.values())
    # unused tabular slots are zero in real vectors; here they are not, so compare on used slots only
    used = np.zeros(DIM, bool)
    for sl in spec.layout.slices().values():
        used[sl] = True
    assert np.allclose(total, (vecs[:, used] @ prof[used]), atol=1e-5)
    r = reasons(vecs, prof, spec.layout)
    assert set(r[0]) == {"text", *[b.name for b in spec.blocks]}


def test_ntile_matches_sql_semantics():
    d = ntile_desc(23)
    assert d[0] == 10 and d[-1] == 1
    counts = np.bincount(d, minlength=11)[1:]
    assert counts.tolist() == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert ntile_desc(0).size == 0


def test_seed_sets_validate_and_select():
    with pytest.raises(AudienceDefinitionError, match="unknown seed label 'vip'"):
        parse_seed_set({"labels": ["vip"]})
    with pytest.raises(AudienceDefinitionError, match="colour"):
        parse_seed_set({"colour": "red"})
    live = [SeedRow(uuid.uuid4(), uuid.uuid4(), lab, None, emb) for lab, emb in
            [("won", True), ("replied", True), ("won", False), ("scored", True)]]
    sel = select_seeds(parse_seed_set({"labels": ["won", "replied"]}), live)
    assert [s.label for s in sel.seeds] == ["won", "replied"] and sel.weights == [1.0, 0.5]
    assert len(sel.not_embedded) == 1
    stranger = uuid.uuid4()
    sel = select_seeds(parse_seed_set({"seed_ids": [str(live[0].seed_id), str(stranger)]}), live)
    assert sel.unknown_seed_ids == [stranger] and len(sel.seeds) == 1
