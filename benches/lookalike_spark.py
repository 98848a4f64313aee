"""Lookalikes on Spark against the exact cosine top k, and against the in-process index.

Makes a synthetic population (topics with Zipf-distributed terms, a few terms common to
most users), imports it into a store as events (so that both stacks read the same decayed
interests), exports the interests, runs ``sociallens.spark.lookalikes`` in local mode and
measures recall@k on a sample of users against the exact top k (scipy). With
``--in-process`` it also times ``Engine.build_neighbours(k)`` on the same store.

    .venv-spark/bin/python benches/lookalike_spark.py --users 10000 --seed 2 --in-process

Needs the built extension (``maturin develop``) and requirements-spark.txt. Seed 1 is the
population the defaults were tuned on; report seed 2, which was never tuned on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import random
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def synthetic_events(n_users: int, seed: int, path: pathlib.Path) -> None:
    """One event per user (their whole profile as term deltas), as the events dataset."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    n_topics = max(20, n_users // 250)
    per_topic = 80
    topics = [[f"t{t}w{w}" for w in range(per_topic)] for t in range(n_topics)]
    common = [f"common{c}" for c in range(30)]
    zipf = 1.0 / np.arange(1, per_topic + 1) ** 1.1
    zipf /= zipf.sum()
    czipf = 1.0 / np.arange(1, len(common) + 1)
    czipf /= czipf.sum()
    rows = {k: [] for k in ("event_id", "user", "kind", "post_id", "item", "at", "terms", "weights")}
    for u in range(n_users):
        mine = rng.sample(range(n_topics), rng.choice([1, 1, 2, 2, 3]))
        n_terms = int(nrng.integers(8, 40))
        chosen: dict[str, float] = {}
        for _ in range(n_terms):
            if rng.random() < 0.15:
                term = common[int(nrng.choice(len(common), p=czipf))]
            else:
                t = rng.choice(mine)
                term = topics[t][int(nrng.choice(per_topic, p=zipf))]
            chosen[term] = chosen.get(term, 0.0) + float(nrng.lognormal(0.0, 0.7))
        rows["event_id"].append(f"e{u}")
        rows["user"].append(f"user{u:06d}")
        rows["kind"].append("like")
        rows["post_id"].append(f"p{u}")
        rows["item"].append(None)
        rows["at"].append(T0)
        rows["terms"].append(list(chosen))
        rows["weights"].append([round(w, 6) for w in chosen.values()])
    table = pa.table(
        {
            "event_id": pa.array(rows["event_id"], pa.string()),
            "user": pa.array(rows["user"], pa.string()),
            "kind": pa.array(rows["kind"], pa.string()),
            "post_id": pa.array(rows["post_id"], pa.string()),
            "item": pa.array(rows["item"], pa.string()),
            "at": pa.array(rows["at"], pa.timestamp("ms", tz="UTC")),
            "terms": pa.array(rows["terms"], pa.list_(pa.string())),
            "weights": pa.array(rows["weights"], pa.list_(pa.float64())),
        }
    )
    pq.write_table(table, path)


def exact_top(interests: pathlib.Path, sample: np.ndarray, k: int):
    t = pq.read_table(interests, columns=["user", "term", "weight"]).to_pandas()
    users, ui = np.unique(t["user"].to_numpy(), return_inverse=True)
    terms, ti = np.unique(t["term"].to_numpy(), return_inverse=True)
    x = sp.csr_matrix((t["weight"].to_numpy(), (ui, ti)), shape=(len(users), len(terms)))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.diags(1 / norms) @ x
    want = {}
    for start in range(0, len(sample), 500):
        rows = sample[start : start + 500]
        sims = (x[rows] @ x.T).toarray()
        for r, i in enumerate(rows):
            sims[r, i] = -1
            s = sims[r]
            top = np.argpartition(-s, k)[: k + 1]
            top = sorted(top, key=lambda j: (-s[j], users[j]))[:k]
            want[users[i]] = {users[j] for j in top if s[j] > 0}
    return users, want


def recall(got: dict[str, set[str]], want: dict[str, set[str]]):
    per = [len(got.get(u, set()) & w) / len(w) for u, w in want.items() if w]
    per.sort()
    return {
        "recall_mean": round(float(np.mean(per)), 3),
        "recall_p10": round(float(per[len(per) // 10]), 3),
        "recall_min": round(float(per[0]), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--sample", type=int, default=2_000)
    ap.add_argument("--tables", type=int, default=None)
    ap.add_argument("--sketch", type=int, default=None)
    ap.add_argument("--cap", type=int, default=None)
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()

    import sociallens
    import sociallens.spark as sls
    from pyspark.sql import SparkSession

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    events = tmp / "events.parquet"
    synthetic_events(args.users, args.seed, events)
    clock = sociallens.ManualClock(T0)
    engine = sociallens.Engine(f"sqlite://{tmp / 'app.db'}", clock=clock)
    t = time.perf_counter()
    engine.import_files(events, dataset="events")
    import_s = time.perf_counter() - t
    paths = engine.export(tmp / "export", datasets=["interests"])
    rng = np.random.default_rng(args.seed)
    sample_idx = np.sort(rng.choice(args.users, size=min(args.sample, args.users), replace=False))
    t = time.perf_counter()
    users, want = exact_top(paths["interests"], sample_idx, args.k)
    exact_s = time.perf_counter() - t
    result = {
        "users": args.users,
        "seed": args.seed,
        "k": args.k,
        "sample": len(want),
        "load_before": os.getloadavg()[0],
        "import_s": round(import_s, 1),
        "exact_sample_s": round(exact_s, 1),
    }

    spark = (
        SparkSession.builder.master(args.master)
        .appName("lookalike-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "8g")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )
    opts = {}
    if args.tables:
        opts["num_hash_tables"] = args.tables
    if args.sketch:
        opts["sketch_terms"] = args.sketch
    if args.cap:
        opts["max_term_users"] = args.cap
    t = time.perf_counter()
    frame = sls.lookalikes(spark.read.parquet(str(paths["interests"])), k=args.k, **opts)
    sls.write_lookalikes(tmp / "batch", neighbours=frame)
    result["spark_s"] = round(time.perf_counter() - t, 1)
    got: dict[str, set[str]] = {}
    for r in pq.read_table(tmp / "batch" / "neighbours", columns=["user", "neighbour"]).to_pylist():
        if r["user"] in want:
            got.setdefault(r["user"], set()).add(r["neighbour"])
    result.update({f"spark_{k}": v for k, v in recall(got, want).items()})
    result["options"] = opts
    spark.stop()
    t = time.perf_counter()
    engine.import_files(tmp / "batch")
    result["import_neighbours_s"] = round(time.perf_counter() - t, 1)

    if args.in_process:
        fresh = sociallens.Engine(f"sqlite://{tmp / 'inproc.db'}", clock=clock)
        fresh.import_files(events, dataset="events")
        t = time.perf_counter()
        fresh.build_neighbours(args.k)
        result["in_process_s"] = round(time.perf_counter() - t, 1)
        back = fresh.export(tmp / "inproc", datasets=["neighbours"])
        got = {}
        for r in pq.read_table(back["neighbours"], columns=["user", "neighbour"]).to_pylist():
            if r["user"] in want:
                got.setdefault(r["user"], set()).add(r["neighbour"])
        result.update({f"in_process_{k}": v for k, v in recall(got, want).items()})
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
