#!/usr/bin/env python3
"""Builds the data embedded in the sociallens crate for noun extraction (core/data/).

Reproducible from public packages:

* tagger: the averaged-perceptron POS model of PyPI `textblob-aptagger` 0.2.0
  (`trontagger-0.1.0.pickle`, MIT licence), converted to a compact binary:
      pip download --no-deps textblob-aptagger==0.2.0 -d /tmp/apt && unzip it
* WordNet 3.0 from Debian's `wordnet-base` package (WordNet licence), filtered to what the
  extractor uses: noun lemmas (1-3 words), which of them are also verbs/adjectives/adverbs,
  words that are never nouns, verb and adjective lemmas (one word), and the irregular noun
  plurals of noun.exc:
      apt-get install -y wordnet-base

Usage: python3 scripts/build_interest_data.py --pickle PATH/trontagger-0.1.0.pickle \
           [--wordnet /usr/share/wordnet] [--out core/data]

Binary tagger format (little endian), read by core/src/interests/tagger.rs:
  b"SLPT" u8 version(=3)
  u8 n_classes, then per class: u8 len, utf-8 bytes       (classes sorted by label)
  u32 n_tagdict, then per entry: u16 len, utf-8 word, u8 class
  u32 n_features, then per feature (sorted by key): u64 feature_key(template, argument hashes),
      u8 n, then n x (u8 class, zigzag-LEB128 weight in thousandths)
"""

import argparse
import pickle
import struct
from pathlib import Path

M64 = 0xFFFFFFFFFFFFFFFF
K = 0x517CC1B727220A95


def string_hash(data: bytes) -> int:
    """8 bytes at a time: xor, multiply, xor-shift; then murmur3's finaliser (see tagger.rs)."""
    h = len(data)
    for i in range(0, len(data), 8):
        chunk = int.from_bytes(data[i:i + 8].ljust(8, b"\0"), "little")
        h = (h ^ chunk) * K & M64
        h ^= h >> 29
    return fmix(h)


def fmix(h: int) -> int:
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD & M64
    h ^= h >> 33
    h = h * 0xC4CEB9FE1A85EC53 & M64
    h ^= h >> 33
    return h


# NLTK's feature templates, in its order, with how many arguments each takes.
TEMPLATES = [("bias", 0), ("i suffix", 1), ("i pref1", 1), ("i-1 tag", 1), ("i-2 tag", 1),
             ("i tag+i-2 tag", 2), ("i word", 1), ("i-1 tag+i word", 2), ("i-1 word", 1),
             ("i-1 suffix", 1), ("i-2 word", 1), ("i+1 word", 1), ("i+1 suffix", 1), ("i+2 word", 1)]
K2 = 0x9E3779B97F4A7C15


def feature_key(template: int, parts) -> int:
    """A feature "name arg arg" as the template's number and its arguments' string hashes,
    so the tagger hashes each context word once, not once per template (see tagger.rs)."""
    h = (template + 1) * K & M64
    for p in parts:
        h = (h ^ string_hash(p.encode())) * K2 & M64
        h ^= h >> 29
    return fmix(h ^ len(parts))


def split_feature(feat: str):
    """(template number, arguments) of a feature string, or None if no template fits."""
    best = None
    for n, (name, arity) in enumerate(TEMPLATES):
        if feat == name and arity == 0:
            best = (n, [])
        elif feat.startswith(name + " ") and arity > 0:
            parts = feat[len(name) + 1:].split(" ")
            if len(parts) == arity and (best is None or len(name) > len(TEMPLATES[best[0]][0])):
                best = (n, parts)
    return best


def leb_zigzag(v: int) -> bytes:
    z = (v << 1) ^ (v >> 63)
    z &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def build_tagger(pickle_path: Path, out: Path) -> None:
    with open(pickle_path, "rb") as f:
        weights, tagdict, classes = pickle.load(f, encoding="latin1")
    classes = sorted(classes)
    index = {c: i for i, c in enumerate(classes)}
    buf = bytearray(b"SLPT")
    buf.append(3)
    buf.append(len(classes))
    for c in classes:
        b = c.encode()
        buf.append(len(b))
        buf += b
    buf += struct.pack("<I", len(tagdict))
    for word in sorted(tagdict):
        b = word.encode()
        buf += struct.pack("<H", len(b)) + b
        buf.append(index[tagdict[word]])
    feats = []
    seen = {}
    for feat, per_class in weights.items():
        split = split_feature(feat)
        if split is None:
            continue  # a feature no template produces can never fire
        h = feature_key(*split)
        if h in seen:
            raise SystemExit(f"hash collision: {feat!r} and {seen[h]!r}")
        seen[h] = feat
        entries = []
        for label, w in per_class.items():
            milli = round(w * 1000)
            if milli / 1000 != w:
                raise SystemExit(f"weight {w} of {feat!r} is not a multiple of 0.001")
            if milli != 0:
                entries.append((index[label], milli))
        if entries:
            feats.append((h, sorted(entries)))
    feats.sort()
    buf += struct.pack("<I", len(feats))
    for h, entries in feats:
        buf += struct.pack("<QB", h, len(entries))
        for cls, milli in entries:
            buf.append(cls)
            buf += leb_zigzag(milli)
    out.write_bytes(bytes(buf))
    print(f"{out}: {len(buf):,} bytes, {len(feats):,} features, {len(tagdict):,} tagdict words")


def lemmas(index_file: Path):
    for line in index_file.read_text(encoding="latin1").splitlines():
        if not line or line.startswith(" "):
            continue
        yield line.split(" ", 1)[0].replace("_", " ")


def build_wordnet(wn: Path, out: Path) -> None:
    nouns = {w for w in lemmas(wn / "index.noun") if len(w.split(" ")) <= 3}
    other = set()
    for pos in ("verb", "adj", "adv"):
        other |= {w for w in lemmas(wn / f"index.{pos}") if " " not in w}
    also_other = sorted(w for w in nouns if w in other)
    never_noun = sorted(w for w in other if w not in nouns)
    verbs = sorted(w for w in lemmas(wn / "index.verb") if " " not in w)
    adjectives = sorted(w for w in lemmas(wn / "index.adj") if " " not in w)
    exc = []
    for line in (wn / "noun.exc").read_text(encoding="latin1").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            exc.append(f"{parts[0].replace('_', ' ')}\t{parts[1].replace('_', ' ')}")
    text = "\n".join(
        ["#nouns", *sorted(nouns), "#also-other-pos", *also_other, "#never-noun", *never_noun,
         "#verbs", *verbs, "#adjectives", *adjectives, "#noun-exceptions", *sorted(exc), ""]
    )
    out.write_text(text, encoding="utf-8")
    print(f"{out}: {len(text.encode()):,} bytes, {len(nouns):,} nouns, "
          f"{len(also_other):,} also other POS, {len(never_noun):,} never nouns, {len(verbs):,} verbs, {len(adjectives):,} adjectives, "
          f"{len(exc):,} exceptions")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickle", type=Path, required=True)
    ap.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "core" / "data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build_tagger(args.pickle, args.out / "aptagger-0.2.0.bin")
    build_wordnet(args.wordnet, args.out / "wordnet-3.0-nouns.txt")


if __name__ == "__main__":
    main()
