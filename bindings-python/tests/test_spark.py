"""Lookalikes and audiences on Spark (local mode, real Spark): from a store's interest export
to neighbour and audience files, checked against exact numpy cosines, then imported into a
SQLite store and served by a stateless engine.

Runs in .venv-spark (scripts/test.sh makes it); skipped where pyspark is not installed."""

import datetime as dt
import random

import pytest

pyspark = pytest.importorskip("pyspark")
np = pytest.importorskip("numpy")
pq = pytest.importorskip("pyarrow.parquet")

import sociallens  # noqa: E402
import sociallens.spark as sls  # noqa: E402

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
TOPICS = {
    "surf": ["surfboard", "wave", "beach", "wetsuit", "ocean", "sand", "sunset", "palm tree"],
    "cook": ["kitchen", "knife", "pan", "oven", "tomato", "pasta", "bread", "spoon"],
    "pets": ["dog", "cat", "leash", "kitten", "puppy", "bowl", "park", "ball"],
    "city": ["street", "bus", "traffic light", "building", "bicycle", "taxi", "bridge", "sign"],
    "snow": ["skis", "snowboard", "mountain", "snow", "jacket", "lift", "goggles", "sled"],
}
COMMON = ["man", "woman", "table", "picture"]  # in most profiles: capped out of sketches



@pytest.fixture(scope="module")
def population(tmp_path_factory):
    """300 users in a SQLite store: likes over topics, a few clicks and opt-outs."""
    tmp = tmp_path_factory.mktemp("pop")
    clock = sociallens.ManualClock(T0)
    db = tmp / "app.db"
    engine = sociallens.Engine(f"sqlite://{db}", clock=clock)
    engine.add_ads(
        [
            sociallens.Ad("surf-1", "waves inc", "Boards", "sports", interests=["surfboard", "wetsuit"]),
            sociallens.Ad("chef-1", "pans ltd", "Pans", "kitchen", interests=["pan", "Knife "]),
            sociallens.Ad("none-1", "x", "Nobody", "misc", interests=["zeppelin"]),
        ]
    )
    rng = random.Random(7)
    names = sorted(TOPICS)
    users = [f"u{i:03d}" for i in range(300)]
    for i, user in enumerate(users):
        mine = rng.sample(names, rng.choice([1, 1, 2]))
        for j in range(rng.randint(2, 6)):
            topic = rng.choice(mine)
            terms = rng.sample(TOPICS[topic], rng.randint(1, 3))
            if rng.random() < 0.7:
                terms.append(rng.choice(COMMON))
            at = T0 - dt.timedelta(days=rng.uniform(0, 60))
            engine.record_like(user, f"p{i}-{j}", interests=terms, at=at)
    clickers = [u for u in users[:40] if "surfboard" in {x.term for x in engine.interests(u, k=50)}]
    for u in clickers[:5]:
        engine.record_click(u, "surf-1", at=T0 - dt.timedelta(hours=1))
    opted = [u for u in users[40:120] if "wetsuit" in {x.term for x in engine.interests(u, k=50)}]
    for u in opted[:3]:
        engine.set_opt_out(u, "sports")
    paths = engine.export(tmp / "export")
    return {
        "db": db,
        "clock": clock,
        "paths": paths,
        "tmp": tmp,
        "clickers": set(clickers[:5]),
        "opted": set(opted[:3]),
    }


def unit_vectors(paths):
    rows = pq.read_table(paths["interests"]).to_pylist()
    users = sorted({r["user"] for r in rows})
    terms = sorted({r["term"] for r in rows})
    ui = {u: i for i, u in enumerate(users)}
    ti = {t: i for i, t in enumerate(terms)}
    x = np.zeros((len(users), len(terms)))
    for r in rows:
        x[ui[r["user"]], ti[r["term"]]] = r["weight"]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return users, terms, x


def exact_top(users, x, k):
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    out = {}
    for i, u in enumerate(users):
        order = sorted(
            (j for j in range(len(users)) if sims[i, j] > 0), key=lambda j: (-sims[i, j], users[j])
        )[:k]
        out[u] = [(users[j], sims[i, j]) for j in order]
    return out


def test_neighbours_match_exact_cosines(spark, population):
    users, terms, x = unit_vectors(population["paths"])
    want = exact_top(users, x, 10)
    interests = spark.read.parquet(str(population["paths"]["interests"]))
    got = sls.lookalikes(interests, k=10, max_term_users=100).collect()
    by_user = {}
    for r in got:
        by_user.setdefault(r.user, []).append(r)
    hits = total = 0
    ti = {t: i for i, t in enumerate(terms)}
    ui = {u: i for i, u in enumerate(users)}
    for u, rows in by_user.items():
        rows.sort(key=lambda r: r.rank)
        assert [r.rank for r in rows] == list(range(len(rows)))
        assert all(r.neighbour != u for r in rows)
        assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
        for r in rows:
            exact = float(x[ui[u]] @ x[ui[r.neighbour]])
            assert r.score == pytest.approx(exact, abs=1e-5)
            contrib = [x[ui[u], ti[t]] * x[ui[r.neighbour], ti[t]] for t in r.shared_terms]
            assert all(c > 0 for c in contrib)
            assert all(a >= b - 1e-9 for a, b in zip(contrib, contrib[1:]))
            assert 1 <= len(r.shared_terms) <= 5
    for u, best in want.items():
        mine = {r.neighbour for r in by_user.get(u, [])}
        hits += len(mine & {n for n, _ in best})
        total += len(best)
    recall = hits / total
    assert recall >= 0.9, f"recall@10 {recall:.3f}"

    # The same rows twice (a concatenated export): weights summed, the same unit vectors.
    doubled = sls.lookalikes(interests.unionByName(interests), k=10, max_term_users=100)
    assert sorted((r.user, r.neighbour) for r in doubled.collect()) == sorted(
        (r.user, r.neighbour) for r in got
    )
    # A cap so low that most users hold only capped terms: they are compared in groups.
    for r in sls.lookalikes(interests, k=3, max_term_users=5).collect():
        exact = float(x[ui[r.user]] @ x[ui[r.neighbour]])
        assert r.score == pytest.approx(exact, abs=1e-9) and r.rank < 3
    assert sls.lookalikes(interests.limit(0), k=5).count() == 0
    with pytest.raises(ValueError, match="no column 'weight'"):
        sls.lookalikes(interests.drop("weight"))
    with pytest.raises(ValueError, match="k must be"):
        sls.lookalikes(interests, k=0)


def test_neighbours_round_trip_through_import_and_stateless_serving(spark, population, tmp_path):
    interests = spark.read.parquet(str(population["paths"]["interests"]))
    at = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)
    neighbours = sls.lookalikes(interests, k=5, computed_at=at)
    out = tmp_path / "batch"
    written = sls.write_lookalikes(out, neighbours=neighbours)
    assert written["neighbours"]["files"][0].startswith("neighbours/part-")
    spark_rows = pq.read_table(out / "neighbours").to_pylist()
    assert written["neighbours"]["rows"] == len(spark_rows) > 0

    db = tmp_path / "copy.db"
    sociallens.Engine(f"sqlite://{population['db']}").export(tmp_path / "full")
    engine = sociallens.Engine(f"sqlite://{db}", clock=population["clock"])
    engine.import_files(tmp_path / "full")
    [report] = engine.import_files(out)
    assert (report["dataset"], report["rows"], report["applied"]) == (
        "neighbours",
        len(spark_rows),
        len(spark_rows),
    )
    assert engine.import_files(out)[0]["unchanged"] == len(spark_rows)

    stored = pq.read_table(engine.export(tmp_path / "back", datasets=["neighbours"])["neighbours"])
    key = lambda r: (r["user"], r["rank"])  # noqa: E731
    fields = ("user", "neighbour", "rank", "shared_terms")
    assert [tuple(r[f] for f in fields) for r in sorted(stored.to_pylist(), key=key)] == [
        tuple(r[f] for f in fields) for r in sorted(spark_rows, key=key)
    ]
    for a, b in zip(sorted(stored.to_pylist(), key=key), sorted(spark_rows, key=key)):
        assert a["score"] == pytest.approx(b["score"], rel=1e-6)
        assert a["computed_at"] == at

    server = sociallens.Engine(f"sqlite://{db}", clock=population["clock"], serving="stateless")
    some = spark_rows[0]["user"]
    served = server.similar_users(some, k=5)
    mine = sorted((r for r in spark_rows if r["user"] == some), key=lambda r: r["rank"])
    assert [s.user for s in served] == [r["neighbour"] for r in mine]
    assert served[0].computed_at == at


def test_audiences_score_exactly_leave_out_clickers_and_opt_outs_and_serve(
    spark, population, tmp_path
):
    users, terms, x = unit_vectors(population["paths"])
    ti = {t: i for i, t in enumerate(terms)}
    engine = sociallens.Engine(f"sqlite://{population['db']}", clock=population["clock"])
    ads = engine.ads()
    frame = sls.audiences(
        str(population["paths"]["interests"]),
        ads,
        ad_events=str(population["paths"]["ad_events"]),
        opt_outs=str(population["paths"]["opt_outs"]),
        size=1000,
    )
    rows = frame.collect()
    by_ad = {}
    for r in rows:
        by_ad.setdefault(r.ad_id, []).append(r)
    assert "none-1" not in by_ad  # nobody likes zeppelins

    # chef-1: no clicks, so the query is its terms ("Knife " normalised), equal weights.
    q = np.zeros(len(terms))
    q[[ti["pan"], ti["knife"]]] = 1 / np.sqrt(2)
    scores = x @ q
    want = sorted(
        ((users[i], s) for i, s in enumerate(scores) if s >= 0.05), key=lambda p: (-p[1], p[0])
    )
    chef = sorted(by_ad["chef-1"], key=lambda r: r.rank)
    assert {r.user for r in chef} == {u for u, _ in want}
    assert [r.score for r in chef] == pytest.approx([s for _, s in want], abs=1e-9)
    exact = dict(want)
    assert all(r.score == pytest.approx(exact[r.user], abs=1e-9) for r in chef)

    # surf-1: clicked, so its clickers' centroid is mixed in half and half.
    surf = {r.user: r for r in by_ad["surf-1"]}
    assert population["clickers"] and not population["clickers"] & set(surf)
    assert population["opted"] and not population["opted"] & set(surf)
    own = np.zeros(len(terms))
    own[[ti["surfboard"], ti["wetsuit"]]] = 1 / np.sqrt(2)
    ui = {u: i for i, u in enumerate(users)}
    c = sum(x[ui[u]] for u in population["clickers"])
    c /= np.linalg.norm(c)
    mixed = 0.5 * own + 0.5 * c
    mixed /= np.linalg.norm(mixed)
    for u, r in surf.items():
        assert r.score == pytest.approx(float(x[ui[u]] @ mixed), abs=1e-9)

    at = dt.datetime(2026, 6, 2, tzinfo=dt.timezone.utc)
    out = tmp_path / "batch"
    sls.write_lookalikes(out, audiences=sls.audiences(
        population["paths"]["interests"], ads, size=1000, computed_at=at
    ))
    copy = tmp_path / "copy.db"
    sociallens.Engine(f"sqlite://{population['db']}").export(tmp_path / "full")
    cfg = sociallens.AdsConfig(min_audience_size=3)
    restored = sociallens.Engine(
        f"sqlite://{copy}", clock=population["clock"], serving="stateless", ads_config=cfg
    )
    restored.import_files(tmp_path / "full")
    [report] = restored.import_files(out)
    assert report["dataset"] == "audiences" and report["applied"] == report["rows"]
    written = sorted(
        (r for r in pq.read_table(out / "audiences").to_pylist() if r["ad_id"] == "chef-1"),
        key=lambda r: r["rank"],
    )
    served = restored.audience(ad="chef-1", limit=1000)
    assert [m.user for m in served] == [r["user"] for r in written]
    # Opt-outs are checked when served, too: a later opt-out leaves the stored audience.
    restored.set_opt_out(written[0]["user"], "kitchen")
    assert restored.audience(ad="chef-1", limit=1000)[0].user == written[1]["user"]
    # Ads from a DataFrame with numeric ids: written as strings, as the importer reads them.
    numeric = spark.createDataFrame(
        [(7, "kitchen", ["pan"]), (8, None, None)], "id long, category string, interests array<string>"
    )
    ids = {r.ad_id for r in sls.audiences(population["paths"]["interests"], numeric).collect()}
    assert ids == {"7"}
    with pytest.raises(ValueError, match="seed_share"):
        sls.audiences(population["paths"]["interests"], ads, seed_share=2.0)
