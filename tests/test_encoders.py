"""The text encoder's backends, its batching, and the once-per-machine calibration that picks the default one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike_assets.domain.encoder_builds import (
    BUILD_REVISION,
    attention_products,
    build_openvino_int8,
    calibration_texts,
    default_cache_dir,
    export_fp32_onnx,
)
from lookalike_assets.domain.encoder_choice import (
    CALIBRATION_FILE,
    CALIBRATION_MARGIN,
    MIN_MEAN_COSINE,
    available_backends,
    choose,
    chosen_backend,
    machine_profile,
    recorded,
)
from lookalike_assets.domain.encoders import (
    BACKENDS,
    EncoderError,
    compile_openvino,
    load_backend,
    native_bf16,
    token_batches,
    tokenizer,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One build folder for this module: each exported model is built once, as on a machine."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def calibration(cache):
    return chosen_backend(cache)


@pytest.mark.parametrize("step", [1, 8])
def test_token_batches_cover_every_text_once_within_the_budget(step):
    texts = calibration_texts(200) + ["short", "a much longer text " * 40]
    encodings = tokenizer().encode_batch(texts)
    seen, padding, tokens = [], 0, 0
    for idx, feed in token_batches(encodings, batch_size=32, token_budget=2048, width_step=step):
        ids, mask = feed["input_ids"], feed["attention_mask"]
        assert ids.shape == mask.shape and len(idx) <= 32 and ids.shape[1] % step == 0
        assert ids.size <= 2048 or len(idx) == 1  # one long text may exceed the budget alone
        assert all(mask[r].sum() == len(encodings[j].ids) for r, j in enumerate(idx))
        seen.extend(idx.tolist())
        padding += int(ids.size - mask.sum())
        tokens += int(mask.sum())
    assert sorted(seen) == list(range(len(texts)))
    lengths = [len(e.ids) for e in encodings]
    in_order = sum(32 * max(lengths[i:i + 32]) - sum(lengths[i:i + 32]) for i in range(0, len(lengths), 32))
    assert padding < in_order / 3  # sorted by length: a fraction of what batches in input order pad


def test_calibration_picks_the_fastest_backend_that_keeps_the_vectors(calibration, cache):
    results = {r["backend"]: r for r in calibration["results"]}
    assert set(results) == set(available_backends()) and "torch-fp32" in results
    chosen = results[calibration["chosen"]]
    floor = MIN_MEAN_COSINE + CALIBRATION_MARGIN  # the margin above the floor that other texts of the kind need
    assert chosen["mean_cosine"] >= floor and calibration["margin"] == CALIBRATION_MARGIN
    assert calibration["chosen"] == choose(calibration["results"])
    assert all(r["seconds"] >= chosen["seconds"] / 1.05 for r in results.values() if r["mean_cosine"] >= floor)
    assert results["torch-fp32"]["speedup"] == 1.0
    profile = calibration["profile"]
    assert profile["cpu"] and profile["logical_cpus"] >= 1 and profile["libraries"]["torch"]
    assert json.loads((cache / CALIBRATION_FILE).read_text())["chosen"] == calibration["chosen"]


def test_calibration_is_made_once_per_machine(calibration, cache):
    path = cache / CALIBRATION_FILE
    before = path.stat().st_mtime_ns
    assert chosen_backend(cache)["calibrated_at"] == calibration["calibrated_at"]
    assert path.stat().st_mtime_ns == before
    # A record from another machine (another CPU, other libraries) is not this machine's decision.
    other = dict(calibration, key="0" * 16, profile={**machine_profile(), "cpu": "another CPU"})
    elsewhere = cache.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / CALIBRATION_FILE).write_text(json.dumps(other))
    assert recorded(elsewhere) is None
    (elsewhere / CALIBRATION_FILE).write_text("{not json")
    assert recorded(elsewhere) is None


def test_choose_prefers_speed_only_above_the_cosine_floor():
    results = [
        {"backend": "torch-fp32", "seconds": 2.0, "mean_cosine": 1.0},
        {"backend": "onnx-int8", "seconds": 0.5, "mean_cosine": 0.985},
        {"backend": "openvino-bf16", "seconds": 0.7, "mean_cosine": 0.9999},
    ]
    assert choose(results) == "openvino-bf16"
    assert choose(results[:2]) == "torch-fp32"
    # above the floor, but not by the margin: not chosen
    assert choose([*results[:2], {"backend": "onnx-fp32", "seconds": 1.4, "mean_cosine": 1.0},
                   {"backend": "openvino-int8", "seconds": 0.6, "mean_cosine": MIN_MEAN_COSINE + 0.001}]) == "onnx-fp32"
    # Within 5 % of the fastest, timing noise decides nothing: the closer vectors win.
    near = [{"backend": "openvino-int8", "seconds": 0.40, "mean_cosine": 0.995}, {**results[2], "seconds": 0.41}]
    assert choose(near) == "openvino-bf16"
    assert choose([near[0], {**results[2], "seconds": 0.5}]) == "openvino-int8"


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "torch-fp32"])
def test_every_backend_matches_fp32_and_keeps_the_encoder_contract(backend, cache, calibration):
    if backend not in available_backends():
        with pytest.raises(EncoderError, match="native bf16"):
            load_backend(backend, cache_dir=cache)
        return
    texts = calibration_texts(64)
    reference = load_backend("torch-fp32", cache_dir=cache).encode(texts)
    encoder = load_backend(backend, cache_dir=cache)
    assert backend in encoder.version and encoder.version != load_backend("torch-fp32").version
    vecs = encoder.encode(["", texts[0], texts[0], *texts])
    assert vecs.shape == (len(texts) + 3, 384) and vecs.dtype == np.float32
    assert not vecs[0].any()  # an empty text is a zero row
    np.testing.assert_array_equal(vecs[1], vecs[2])
    np.testing.assert_allclose(np.linalg.norm(vecs[1:], axis=1), 1.0, atol=1e-4)
    assert float(np.einsum("ij,ij->i", vecs[3:], reference).mean()) >= MIN_MEAN_COSINE


SHAPE_ONLY = {"Transpose", "Reshape", "Squeeze", "Unsqueeze"}


def quantized_inputs(op) -> int:
    """How many of an operation's inputs come (through shape-only operations) from an int8 quantizer."""
    count = 0
    for i in range(op.get_input_size()):
        node = op.input_value(i).get_node()
        while node.get_type_name() in SHAPE_ONLY:
            node = node.input_value(0).get_node()
        count += node.get_type_name() == "FakeQuantize"
    return count


def test_the_int8_build_quantizes_the_weights_products_and_not_attention(cache):
    import openvino as ov

    core = ov.Core()
    attention = set(attention_products(core.read_model(str(export_fp32_onnx(cache)))))
    assert len(attention) == 12  # queries by keys and weights by values in each of the 6 layers
    ops = {op.get_friendly_name(): op for op in core.read_model(str(build_openvino_int8(cache))).get_ordered_ops()}
    assert attention <= ops.keys()
    assert sum(quantized_inputs(ops[name]) for name in attention) == 0
    assert sum(quantized_inputs(op) for op in ops.values() if op.get_type_name() == "MatMul") == 36  # 6 x 6 layers


def test_a_new_build_revision_builds_in_a_folder_of_its_own():
    # a build made another way gives other vectors: never reused under a new revision's model version
    from lookalike_assets.domain.encoders import _version

    assert default_cache_dir().name.endswith(f"-{BUILD_REVISION}")
    assert all(_version(b).endswith(f"-{BUILD_REVISION}") for b in ("onnx-int8", "openvino-int8", "openvino-bf16"))


def tiny_model():
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 4], ov.Type.f32, name="x")
    return ov.Model([ops.relu(x)], [x], "tiny")


def test_an_openvino_without_the_attention_switch_compiles_without_it_and_says_so(caplog):
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "SNIPPETS_MODE": "NOT_A_MODE"}  # rejected, as a removed key would be
    with caplog.at_level("WARNING", logger="lookalike_assets.domain.encoders"):
        compiled = compile_openvino(core, tiny_model(), config)
    assert compiled({"x": np.array([[-1, 2, -3, 4]], dtype=np.float32)})[0].tolist() == [[0, 2, 0, 4]]
    assert "attention stays fused" in caplog.text
    with pytest.raises(RuntimeError, match="PERFORMANCE_HINT"):  # any other rejected setting is an error
        compile_openvino(core, tiny_model(), {**config, "PERFORMANCE_HINT": "NOT_A_HINT"})


def test_bf16_needs_a_cpu_that_has_it():
    assert native_bf16() == ("torch-bf16" in available_backends())


def test_an_unknown_backend_is_an_error_not_a_fallback():
    with pytest.raises(EncoderError, match="unknown backend"):
        load_backend("tensorrt-fp8")


def test_the_cli_shows_this_machines_calibration(calibration, cli_env):
    from conftest import cli

    default_cache_dir().mkdir(parents=True)
    (default_cache_dir() / CALIBRATION_FILE).write_text(json.dumps(calibration))
    code, out = cli("encoder", "show", "--json")
    assert code == 0 and json.loads(out)["chosen"] == calibration["chosen"]
    code, out = cli("encoder", "show")
    assert code == 0 and "chosen" in out and calibration["profile"]["cpu"] in out


def test_a_first_pass_encodes_its_calibration_sample_once():
    from lookalike_assets.domain.encoders import HashingEncoder, KnownTexts

    class Counting(HashingEncoder):
        seen: list[str] = []

        def encode(self, texts):
            self.seen.extend(texts)
            return super().encode(texts)

    inner = Counting()
    sample = ["alpha beta", "gamma delta"]
    known = KnownTexts(inner, sample, inner.encode(sample))
    inner.seen.clear()
    vecs = known.encode(["gamma delta", "", "epsilon", "alpha beta", "epsilon"])
    assert inner.seen == ["epsilon"]  # only what the sample did not have, once
    np.testing.assert_array_equal(vecs, HashingEncoder().encode(["gamma delta", "", "epsilon", "alpha beta", "epsilon"]))
    assert known.version == inner.version


def test_a_failed_build_says_why_and_leaves_no_file(tmp_path):
    from lookalike_assets.domain.encoder_builds import _build_in_child

    with pytest.raises(EncoderError, match="building model.x.onnx failed: KeyError: 'no_such_build'"):
        _build_in_child("no_such_build", tmp_path / "model.x.onnx")
    assert not list(tmp_path.iterdir())


def test_a_tenants_fallbacks_are_the_slower_faithful_backends_then_the_unquantized_ones(tmp_path):
    """For a tenant whose texts the chosen backend does not keep at the floor: the slower quantized backends the
    calibration found faithful, fastest first, then fp32 (ONNX Runtime's before torch's when it was faster)."""
    from lookalike_assets.domain.encoder_choice import fallbacks, profile_key

    results = [
        {"backend": "torch-fp32", "seconds": 2.0, "mean_cosine": 1.0},
        {"backend": "onnx-fp32", "seconds": 1.4, "mean_cosine": 1.0},
        {"backend": "onnx-int8", "seconds": 0.7, "mean_cosine": 0.9921},
        {"backend": "openvino-int8", "seconds": 1.1, "mean_cosine": 0.9946},
        {"backend": "openvino-bf16", "seconds": 0.9, "mean_cosine": 0.985},
    ]
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(
        {"key": profile_key(machine_profile()), "chosen": "onnx-int8", "results": results}))
    assert fallbacks("onnx-int8", tmp_path) == ["openvino-int8", "onnx-fp32", "torch-fp32"]
    assert fallbacks("openvino-int8", tmp_path) == ["onnx-fp32", "torch-fp32"]
    assert fallbacks("onnx-int8", tmp_path / "nothing recorded") == ["onnx-fp32", "torch-fp32"]
