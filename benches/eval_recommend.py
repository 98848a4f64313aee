"""Scores offline product recommendations against the labelled sets of benches/eval/ (issue 15).

For each caption of relevance_{dev,test}.jsonl, a user with no history likes one post with that
caption, on an in-memory engine holding the catalog of benches/eval/products.jsonl and the
MiniLM embedder from $SOCIALLENS_MINILM_DIR; the engine's top 5 (`recommend_products(user,
k=5)`) are compared with the caption's labels:

- top-5 relevant share: products in a relevant category / products returned, over the
  captions that should not abstain (micro);
- hit@1: the first product is in a relevant category (no product counts as a miss);
- irrelevant rate: products in a clearly irrelevant category / products returned;
- abstention correctness: an abstain caption gets nothing and any other caption gets
  something (accuracy over all captions, with both error kinds counted).

By default all captions share one engine, one fresh user each: a user's recommendations
depend only on that user's interests and the catalog, and the catalog's vectors are then
computed once. `--fresh-engine` builds a new engine per caption (the literal protocol; slower).

The same metrics are printed for a reference ranker: plain MiniLM cosine between the caption
and each product's text, top 5, no abstention.

    SOCIALLENS_MINILM_DIR=.../model PYTHONPATH=bindings-python/python python3 benches/eval_recommend.py

Dev and test are reported separately; tune on dev only.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
EVAL = HERE / "eval"
K = 5


def load(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def product_text(p: dict) -> str:
    return f"{p['title']}. {p.get('description', '')} {p.get('category', '')}. {', '.join(p.get('keywords', []))}"


class Scores:
    def __init__(self) -> None:
        self.returned = self.relevant = self.irrelevant = 0
        self.answerable = self.hits = 0
        self.abstain_ok = self.should_abstain = self.false_abstain = self.missed_abstain = 0
        self.captions = 0

    def add(self, row: dict, categories: list[str | None]) -> None:
        self.captions += 1
        rel, irr = set(row["relevant_categories"]), set(row["irrelevant_categories"])
        if row["abstain"]:
            self.should_abstain += 1
            if categories:
                self.missed_abstain += 1
            else:
                self.abstain_ok += 1
            return
        self.answerable += 1
        if not categories:
            self.false_abstain += 1
        else:
            self.abstain_ok += 1
            self.hits += categories[0] in rel
        top = categories[:K]
        self.returned += len(top)
        self.relevant += sum(c in rel for c in top)
        self.irrelevant += sum(c in irr for c in top)

    def summary(self) -> dict:
        d = max(self.returned, 1)
        return {
            "captions": self.captions,
            "top5_relevant_share": self.relevant / d,
            "hit_at_1": self.hits / max(self.answerable, 1),
            "top5_irrelevant_rate": self.irrelevant / d,
            "abstention_correct": self.abstain_ok / max(self.captions, 1),
            "abstain_captions": self.should_abstain,
            "missed_abstentions": self.missed_abstain,
            "false_abstentions": self.false_abstain,
            "products_returned": self.returned,
        }

    def line(self, name: str) -> str:
        s = self.summary()
        return (
            f"{name:<22} n={s['captions']:<4} top5-relevant={s['top5_relevant_share']:.3f} "
            f"hit@1={s['hit_at_1']:.3f} top5-irrelevant={s['top5_irrelevant_rate']:.3f} "
            f"abstention-correct={s['abstention_correct']:.3f} "
            f"(should abstain {s['abstain_captions']}, answered {s['missed_abstentions']}; "
            f"empty for answerable {s['false_abstentions']}; {s['products_returned']} products)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["dev", "test", "both"], default="both")
    ap.add_argument("--products", type=pathlib.Path, default=EVAL / "products.jsonl")
    ap.add_argument("--dev", type=pathlib.Path, default=EVAL / "relevance_dev.jsonl")
    ap.add_argument("--test", type=pathlib.Path, default=EVAL / "relevance_test.jsonl")
    ap.add_argument("--fresh-engine", action="store_true", help="a new engine per caption")
    ap.add_argument("--no-embedder", action="store_true", help="lexical matching only")
    ap.add_argument("--no-reference", action="store_true", help="skip the MiniLM-cosine reference")
    ap.add_argument("--show", type=int, default=10, help="worst dev captions to list (lowest relevant share)")
    ap.add_argument("--limit", type=int, help="only the first N captions of each set (quick checks)")
    ap.add_argument("--json", type=pathlib.Path, help="also write the scores to this file")
    args = ap.parse_args()

    import sociallens

    embedder = None
    if not args.no_embedder:
        model = os.environ.get("SOCIALLENS_MINILM_DIR")
        if not model:
            sys.exit("set SOCIALLENS_MINILM_DIR to an all-MiniLM-L6-v2 folder, or pass --no-embedder")
        embedder = sociallens.MiniLmEmbedder.from_dir(model)

    products = load(args.products)
    category_of = {p["id"]: p.get("category") for p in products}
    print(
        f"sociallens {getattr(sociallens, '__version__', '?')}; {len(products)} products in "
        f"{len(set(category_of.values()))} categories; embedder: {'MiniLM' if embedder else 'none'}"
    )

    def new_engine():
        engine = sociallens.Engine("memory://", embedder=embedder)
        engine.add_products(products)
        return engine

    shared = None if args.fresh_engine else new_engine()

    product_vectors = None
    if embedder is not None and not args.no_reference:
        product_vectors = embedder.embed([product_text(p) for p in products])

    results = []
    sets = [("dev", args.dev), ("test", args.test)]
    for name, path in sets:
        if args.set not in (name, "both"):
            continue
        rows = load(path)[: args.limit]
        engine_scores, reference_scores = Scores(), Scores()
        misses = []
        started = time.perf_counter()
        for i, row in enumerate(rows):
            engine = shared if shared is not None else new_engine()
            user = f"eval-{name}-{i}"
            engine.record_like(user, f"post-{name}-{i}", caption=row["caption"])
            recs = engine.recommend_products(user, k=K)
            cats = [r.product.category if r.product is not None else None for r in recs]
            engine_scores.add(row, cats)
            if row["abstain"]:
                if recs:
                    misses.append((-1.0, row["caption"], [r.name for r in recs], cats))
            else:
                top = cats[:K]
                share = sum(c in row["relevant_categories"] for c in top) / max(len(top), 1)
                wrong = any(c in row["irrelevant_categories"] for c in top)
                if share < 0.6 or wrong:
                    misses.append((share - wrong, row["caption"], [r.name for r in recs], cats))
        elapsed = time.perf_counter() - started
        if product_vectors is not None:
            caption_vectors = embedder.embed([r["caption"] for r in rows])
            for row, cv in zip(rows, caption_vectors):
                sims = [sum(a * b for a, b in zip(cv, pv)) for pv in product_vectors]
                order = sorted(range(len(products)), key=lambda j: -sims[j])[:K]
                reference_scores.add(row, [products[j].get("category") for j in order])
        print(f"== {name}: {len(rows)} captions ({elapsed:.1f}s)")
        print(engine_scores.line("engine"))
        result = {"set": name, "engine": engine_scores.summary()}
        if product_vectors is not None:
            print(reference_scores.line("reference: caption cos"))
            result["reference_caption_cosine"] = reference_scores.summary()
        if name == "dev" and misses[: args.show]:
            misses.sort(key=lambda m: (m[0], m[1]))
            print(
                f"  {len(misses)} dev captions answered though they should abstain, with under 60% "
                f"relevant or with an irrelevant product; worst {min(args.show, len(misses))}:"
            )
            for _, caption, names, cats in misses[: args.show]:
                print(f"    {caption!r}: {list(zip(names, cats))}")
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
