"""Noun extraction through Python, against the shared fixtures."""

import json
import pathlib

import pytest

import sociallens

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "nouns"


def test_default_mode_lemmas_compounds_no_filler():
    got = sociallens.extract_interests(
        [
            "a close up of two giraffes standing next to a red fire hydrant",
            "a man holding a cell phone holding a cell phone",
            "",
            "a naïve café with crème brûlée",
        ]
    )
    assert got == [["giraffe", "fire hydrant"], ["cell phone"], [], ["café", "crème brûlée"]]


def test_textblob_mode_matches_textblob_with_nltk_model():
    assert FIXTURES.exists(), f"fixtures missing at {FIXTURES}"
    rows = [json.loads(l) for l in (FIXTURES / "textblob_reference.jsonl").read_text().splitlines()]
    got = sociallens.extract_interests(
        [r["text"] for r in rows], mode="textblob", nltk_model_dir=FIXTURES / "nltk-perceptron"
    )
    assert got == [r["nouns"] for r in rows]


def test_bad_mode_and_model_dir():
    with pytest.raises(sociallens.InvalidInputError):
        sociallens.extract_interests(["a dog"], mode="spacy")
    with pytest.raises(sociallens.ModelError):
        sociallens.extract_interests(["a dog"], mode="textblob", nltk_model_dir="/no/such/dir")
    with pytest.raises(TypeError):
        sociallens.extract_interests("a dog")


def test_engine_extracts_from_captions(tmp_path):
    engine = sociallens.Engine(f"sqlite://{tmp_path / 'x.db'}")
    out = engine.record_like("u", "p", caption="a teddy bear sitting on a bed")
    assert out.interests == ["teddy bear", "bed"]
    blob = sociallens.Engine("memory://", extractor="textblob")
    assert blob.record_like("u", "p", caption="a man on a horse").interests == ["man", "horse"]
    with pytest.raises(ValueError):
        sociallens.Engine("memory://", extractor="spacy")
