#!/usr/bin/env python3
"""Side by side, in one run: noun extraction by TextBlob 0.17.1 (the prototype) and by
sociallens, in Rust and through the Python binding's batch call, on the same 10,000 captions.

Needs (not part of CI):
    pip install textblob==0.17.1 nltk==3.8.1          # into the venv that has sociallens
    cargo build --release -p sociallens-benches --bin extract_throughput
Run from the repository root:
    .venv/bin/python benches/interests_vs_textblob.py

NLTK data cannot be downloaded here, so TextBlob's tagger gets NLTK's genuine model from the
JSON export in ../shared/fixtures/nouns/nltk-perceptron, and sentence splitting uses an
untrained Punkt splitter (as the fixtures were made). Prints captions/s and ratios.
"""

import json
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIX = ROOT.parent / "shared" / "fixtures" / "nouns"
N = 10_000


def captions():
    pool = [json.loads(l)["text"] for l in (FIX / "textblob_reference.jsonl").read_text().splitlines()
            if json.loads(l)["kind"] == "caption"]
    for name in ("interest_gold.jsonl", "interest_holdout.jsonl"):
        pool += [json.loads(l)["caption"] for l in (ROOT / "core/tests/data" / name).read_text().splitlines()]
    rng = random.Random(7)
    return [rng.choice(pool) for _ in range(N)], len(set(pool))


def textblob_setup():
    import nltk
    import nltk.tag
    import nltk.tokenize
    from nltk.tag.perceptron import PerceptronTagger
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    t0 = time.perf_counter()
    tagger = PerceptronTagger(load=False)
    model = FIX / "nltk-perceptron"
    tagger.model.weights = json.loads((model / "weights.json").read_text())
    tagger.tagdict = json.loads((model / "tagdict.json").read_text())
    tagger.classes = set(json.loads((model / "classes.json").read_text()))
    tagger.model.classes = tagger.classes
    load = time.perf_counter() - t0
    punkt = PunktSentenceTokenizer()
    nltk.tokenize.sent_tokenize = lambda text, language="english": punkt.tokenize(text)
    nltk.tag._get_tagger = lambda lang=None: tagger
    import textblob.tokenizers
    textblob.tokenizers.sent_tokenize = nltk.tokenize.sent_tokenize
    from textblob import TextBlob
    return TextBlob, load


def best_of(fn, n=3):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    caps, distinct = captions()
    TextBlob, tb_load = textblob_setup()
    tb_time, tb_out = best_of(lambda: [[w for (w, pos) in TextBlob(c).pos_tags if pos[0] == "N"] for c in caps], n=2)

    import sociallens

    t0 = time.perf_counter()
    sociallens.extract_interests(["a dog"])
    py_load = time.perf_counter() - t0
    py_time, _ = best_of(lambda: sociallens.extract_interests(caps))
    py_tb_time, py_tb_out = best_of(lambda: sociallens.extract_interests(caps, mode="textblob", nltk_model_dir=FIX / "nltk-perceptron"))
    parity = py_tb_out == [[str(w) for w in ws] for ws in tb_out]

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(caps))
    exe = ROOT / "target" / "release" / "extract_throughput"
    if not exe.exists():
        exe = ROOT / "target" / "x86_64-unknown-linux-gnu" / "release" / "extract_throughput"
    rust = json.loads(subprocess.check_output([str(exe), f.name, "interests"]))
    rust_tb = json.loads(subprocess.check_output([str(exe), f.name, "textblob", str(FIX / "nltk-perceptron")]))

    tb_rate = N / tb_time
    rows = [
        ("TextBlob 0.17.1 (NLTK model)", tb_rate, tb_load * 1000),
        ("sociallens Rust, interests mode", rust["captions_per_s"], rust["load_ms"]),
        ("sociallens Rust, textblob mode (NLTK model)", rust_tb["captions_per_s"], rust_tb["load_ms"]),
        ("sociallens Python batch, interests mode", N / py_time, py_load * 1000),
        ("sociallens Python batch, textblob mode", N / py_tb_time, None),
    ]
    print(f"{N:,} captions ({distinct} distinct), best of several passes, one process each")
    for name, rate, load in rows:
        load_s = f"load {load:7.1f} ms" if load is not None else ""
        print(f"  {name:<45} {rate:>12,.0f} captions/s  {rate / tb_rate:>7.1f}x  {load_s}")
    print(f"  textblob-mode output identical to TextBlob's: {parity}")


if __name__ == "__main__":
    sys.exit(main())
