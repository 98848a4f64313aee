"""The Engine through Python, on a real SQLite file."""

import datetime as dt
import sqlite3
import threading
import time

import pytest

import sociallens


def test_like_builds_interests(engine):
    out = engine.record_like("u1", "p1", caption="a dog on a beach", interests=["Dog", "beach", "dog"])
    assert out.status == "applied"
    assert out.interests == ["dog", "beach"]
    assert out.caption == "a dog on a beach"
    assert sorted(out.deltas) == [("beach", 1.0), ("dog", 1.0)]
    engine.record_upload("u1", "p2", interests=["dog"])
    top = engine.interests("u1", k=5)
    assert [i.term for i in top] == ["dog", "beach"]
    assert top[0].weight == pytest.approx(3.0, rel=1e-6)
    assert top[0].count == 2
    assert isinstance(top[0].last_seen, dt.datetime)
    assert top[0].last_seen.tzinfo is not None
    assert "Interest(term=\"dog\"" in repr(top[0])
    assert [i.term for i in engine.interests("u1", k=1)] == ["dog"]


def test_profile_survives_a_new_engine(db_path):
    first = sociallens.Engine(f"sqlite://{db_path}")
    first.record_like("u1", "p1", interests=["surfboard"])
    del first
    second = sociallens.Engine(f"sqlite://{db_path}")
    assert [i.term for i in second.interests("u1")] == ["surfboard"]
    # The post is known now: a like needs only its id.
    assert second.record_like("u2", "p1").interests == ["surfboard"]


def test_replayed_event_changes_nothing(engine):
    assert engine.record_like("u", "p", interests=["kite"], event_id="e1").status == "applied"
    assert engine.record_like("u", "p", interests=["kite"], event_id="e1").status == "duplicate"
    assert engine.record_like("u", "p", event_id="e2").status == "already_active"
    [kite] = engine.interests("u")
    assert (kite.weight, kite.count) == (pytest.approx(1.0), 1)


def test_unlike_removes_what_the_like_added(engine):
    engine.record_like("u", "p1", interests=["dog", "park"])
    # Sorted by term: dog and park tie, and the wall clock moves between the calls, so the
    # unlike can leave dog an ulp under park (what ranks first among equals is not promised).
    before = sorted((i.term, i.count) for i in engine.interests("u"))
    engine.record_like("u", "p2", interests=["dog", "kite"])
    out = engine.unlike("u", "p2")
    assert out.status == "applied"
    assert sorted(out.deltas) == [("dog", -1.0), ("kite", -1.0)]
    assert sorted((i.term, i.count) for i in engine.interests("u")) == before
    assert engine.unlike("u", "p2").status == "nothing_to_undo"


def test_weights_decay_with_half_life(engine):
    month_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    engine.record_like("u", "old", interests=["vintage"], at=month_ago)
    engine.record_like("u", "new", interests=["modern"], at=dt.datetime.now(dt.timezone.utc).timestamp())
    w = {i.term: i.weight for i in engine.interests("u")}
    assert w["vintage"] == pytest.approx(0.5, rel=1e-3)
    assert w["modern"] == pytest.approx(1.0, rel=1e-3)


def test_custom_weights_and_no_decay(tmp_path):
    e = sociallens.Engine("memory://", half_life_days=None, like_weight=3.0)
    e.record_like("u", "p", interests=["x"], at=0.0)
    assert e.interests("u")[0].weight == 3.0


def test_forget_user_leaves_no_row_in_the_file(engine, db_path):
    engine.record_upload("gone", "gp", interests=["cat"])
    engine.record_like("gone", "op", interests=["bike"], event_id="gone-like")
    engine.record_like("stays", "gp")
    report = engine.forget_user("gone")
    assert report.total >= 5
    assert "ForgetReport(" in repr(report)
    con = sqlite3.connect(db_path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for t in tables:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info('{t}')")]
        cond = " OR ".join(f"instr(CAST(\"{c}\" AS TEXT), 'gone') > 0" for c in cols)
        assert con.execute(f'SELECT COUNT(*) FROM "{t}" WHERE {cond}').fetchone()[0] == 0, t
    assert [i.term for i in engine.interests("stays")] == ["cat"]


def test_threads_share_one_engine(engine):
    def worker(n):
        for i in range(50):
            engine.record_like("crowd", f"post-{n}-{i}", interests=["dog"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [dog] = engine.interests("crowd")
    assert dog.count == 400


def test_gil_is_released_during_native_work(engine):
    # A Python thread stamps the time as fast as it can. If the native call held the GIL,
    # no stamp could fall strictly inside it; with the GIL released, many do.
    stamps = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)

    for i in range(200):
        engine.record_like("busy", f"p{i}", caption="two giraffes next to a red fire hydrant")
    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.02)
    start = time.perf_counter()
    sociallens.extract_interests(["a man holding a cell phone next to a teddy bear"] * 20000)
    end = time.perf_counter()
    done.set()
    t.join()
    assert end - start > 0.05, "the call must last long enough to observe"
    inside = [s for s in stamps if start + 0.01 < s < end - 0.01]
    assert len(inside) >= 3, (end - start, len(inside))
