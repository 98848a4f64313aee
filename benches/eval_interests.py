"""Scores the interest extractor against the labelled sets of benches/eval/ (issue 15).

Each line of a set is {"caption": ..., "interests": [...], "class": ...}, labelled by
docs/interests.md. Scores are micro-averaged over the set: a caption's predicted and expected
interests are compared as sets (order and repeats do not count), true positives, false
positives and false negatives summed over all captions, then precision, recall and F1.

    PYTHONPATH=bindings-python/python python3 benches/eval_interests.py
    PYTHONPATH=bindings-python/python python3 benches/eval_interests.py --set dev --worst 30

Dev and test are always reported separately. The test set is for reporting only: never look
at its misses to tune the extractor (`--worst` lists dev misses unless --show-test-misses is
given, for auditing labels, not for tuning).
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
EVAL = HERE / "eval"


def load(path: pathlib.Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("caption"), str) or not isinstance(row.get("interests"), list):
            sys.exit(f"{path}:{n}: each line needs a caption string and an interests list")
        rows.append(row)
    return rows


class Counts:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.captions = self.exact = 0

    def add(self, predicted: set[str], expected: set[str]) -> None:
        self.tp += len(predicted & expected)
        self.fp += len(predicted - expected)
        self.fn += len(expected - predicted)
        self.captions += 1
        self.exact += predicted == expected

    def scores(self) -> tuple[float, float, float]:
        # An empty prediction against an empty label is perfect, not undefined.
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    def line(self, name: str) -> str:
        p, r, f = self.scores()
        return (
            f"{name:<14} n={self.captions:<4} P={p:.3f} R={r:.3f} F1={f:.3f} "
            f"exact={self.exact / max(self.captions, 1):.3f} (tp={self.tp} fp={self.fp} fn={self.fn})"
        )


def evaluate(name: str, rows: list[dict], extract, worst: int, show_misses: bool) -> dict:
    predicted_all = extract([r["caption"] for r in rows])
    total = Counts()
    by_class: dict[str, Counts] = collections.defaultdict(Counts)
    false_pos: collections.Counter = collections.Counter()
    false_neg: collections.Counter = collections.Counter()
    misses = []
    for row, predicted in zip(rows, predicted_all):
        got, want = set(predicted), set(row["interests"])
        total.add(got, want)
        by_class[row.get("class", "-")].add(got, want)
        false_pos.update(got - want)
        false_neg.update(want - got)
        errors = len(got ^ want)
        if errors:
            misses.append((errors, row["caption"], predicted, row["interests"]))
    print(f"== {name}: {len(rows)} captions")
    print(total.line("all"))
    for cls in sorted(by_class):
        print(by_class[cls].line(f"  {cls}"))
    if show_misses:
        print(f"  most frequent false positives: {false_pos.most_common(15)}")
        print(f"  most frequent false negatives: {false_neg.most_common(15)}")
        misses.sort(key=lambda m: (-m[0], m[1]))
        if misses[:worst]:
            print(f"  worst {min(worst, len(misses))} of {len(misses)} captions with errors:")
        for errors, caption, got, want in misses[:worst]:
            print(f"    [{errors}] {caption!r}\n        got      {got}\n        expected {want}")
    p, r, f = total.scores()
    return {
        "set": name,
        "captions": len(rows),
        "precision": p,
        "recall": r,
        "f1": f,
        "exact": total.exact / max(total.captions, 1),
        "by_class": {c: dict(zip(("precision", "recall", "f1"), k.scores())) for c, k in by_class.items()},
    }


def lint(paths: list[pathlib.Path]) -> int:
    """Flags labels whose head is on a non-interest list of docs/interests.md and whose whole
    term is not kept (scene words, the lexicalised names the spec lists): a label audit that
    needs no native module."""
    import re

    spec = (HERE.parent / "docs" / "interests.md").read_text(encoding="utf-8")
    lists = {
        name: {w.strip() for w in body.replace("\n", " ").split(",") if w.strip()}
        for name, body in re.findall(r"```([a-z:-]+)\n(.*?)```", spec, re.S)
    }
    non_interest = set().union(*(v for k, v in lists.items() if k.startswith("non-interest")))
    kept = lists.get("scene", set()) | {
        "dining table", "living room", "dining room", "coffee table", "pool table",
        "side table", "picnic table", "ceiling fan",
    }
    problems = 0
    for path in paths:
        for n, row in enumerate(load(path), 1):
            for term in row["interests"]:
                if term not in kept and term.split()[-1] in non_interest:
                    problems += 1
                    print(f"{path.name}:{n}: {term!r} has a non-interest head: {row['caption']!r}")
    print(f"lint: {problems} problem(s)")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["dev", "test", "both"], default="both")
    ap.add_argument("--mode", default="interests", help='extractor mode (default "interests")')
    ap.add_argument("--worst", type=int, default=20, help="misses to list (dev only by default)")
    ap.add_argument("--show-test-misses", action="store_true", help="also list test misses (label audits only)")
    ap.add_argument("--dev", type=pathlib.Path, default=EVAL / "interests_dev.jsonl")
    ap.add_argument("--test", type=pathlib.Path, default=EVAL / "interests_test.jsonl")
    ap.add_argument("--json", type=pathlib.Path, help="also write the scores to this file")
    ap.add_argument(
        "--kwargs",
        type=json.loads,
        default={},
        help='extra keyword arguments for extract_interests, as JSON (e.g. \'{"keep": ["table"]}\')',
    )
    ap.add_argument("--lint", action="store_true", help="check the labels against the spec's lists and exit")
    args = ap.parse_args()
    if args.lint:
        sys.exit(1 if lint([args.dev, args.test]) else 0)

    import sociallens

    def extract(captions: list[str]) -> list[list[str]]:
        return sociallens.extract_interests(captions, mode=args.mode, **args.kwargs)

    print(f"sociallens {getattr(sociallens, '__version__', '?')}, mode={args.mode}" + (f", {args.kwargs}" if args.kwargs else ""))
    results = []
    if args.set in ("dev", "both"):
        results.append(evaluate("dev", load(args.dev), extract, args.worst, True))
    if args.set in ("test", "both"):
        results.append(evaluate("test", load(args.test), extract, args.worst, args.show_test_misses))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
