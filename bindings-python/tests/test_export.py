"""Export and import through Python: files that pyarrow and pandas read as they are, with
counts and values equal to what the store (a real SQLite file) holds."""

import json
import pathlib
import sqlite3
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sociallens

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def populated(tmp_path):
    db = tmp_path / "source.db"
    clock = sociallens.ManualClock(T0)
    engine = sociallens.Engine(f"sqlite://{db}", clock=clock)
    engine.add_ads([
        sociallens.Ad("ad-surf", "Acme", "Boards", "Surf", interests=["surfboard"]),
        sociallens.Ad("ad-cat", "Purr", "Food", "Pets", interests=["cat"]),
    ])
    for i in range(30):
        user = f"user-{i % 7}"
        engine.record_upload(user, f"post-{i:02}", caption=f"a cat on a surfboard {i}", interests=["cat", f"topic-{i % 4}"])
        engine.record_like(f"user-{(i + 2) % 7}", f"post-{i:02}")
        engine.record_impression(user, "ad-surf" if i % 2 else "ad-cat")
        if i % 3 == 0:
            engine.record_click(user, "ad-surf")
        clock.advance(3600)
    engine.set_opt_out("user-1", "Pets")
    return engine, db, clock


def test_parquet_export_reads_in_pyarrow_and_pandas_with_the_stores_values(populated, tmp_path):
    engine, db, clock = populated
    paths = engine.export(tmp_path / "out")
    assert set(paths) == {"captions", "posts", "interests", "events", "ad_events", "catalog", "opt_outs", "neighbours", "audiences"}
    assert all(isinstance(p, pathlib.Path) and p.is_file() for p in paths.values())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["format"] == "sociallens-export" and manifest["format_version"] == 1

    conn = sqlite3.connect(db)
    stored = {
        row[0]: row[1:]
        for row in conn.execute("SELECT event_id, user_id, kind, post_id, item_id, at, deltas FROM events")
    }
    events = pq.read_table(paths["events"])
    assert events.num_rows == len(stored) == manifest["datasets"]["events"]["rows"]
    assert events.schema.field("at").type == pa.timestamp("ms", tz="UTC")
    assert events.schema.field("terms").type == pa.list_(pa.field("element", pa.string(), nullable=False))
    assert pq.ParquetFile(paths["events"]).metadata.metadata[b"sociallens.dataset"] == b"events"
    for row in events.to_pylist():
        user, kind, post, item, at_ms, deltas = stored[row["event_id"]]
        assert (row["user"], row["kind"], row["post_id"], row["item"]) == (user, kind, post, item)
        assert int(row["at"].timestamp() * 1000) == at_ms
        assert [[t, w] for t, w in zip(row["terms"], row["weights"])] == [[d["term"], d["weight"]] for d in json.loads(deltas)]

    # pandas reads it as it is, with tz-aware timestamps.
    df = pd.read_parquet(paths["events"])
    assert len(df) == len(stored)
    assert str(df["at"].dtype).startswith("datetime64[ms, UTC]")
    assert (df["kind"].value_counts().to_dict()) == {
        k: n for k, n in conn.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind")
    }

    # Interests: the store's weights at the export time (the engine's clock).
    interests = pd.read_parquet(paths["interests"])
    for user in interests["user"].unique():
        want = {i.term: (i.weight, i.count) for i in engine.interests(user, 1000)}
        got = interests[interests["user"] == user]
        assert {r.term: (pytest.approx(r.weight), r.count) for r in got.itertuples()} == want
    assert (interests["exported_at"] == pd.Timestamp(clock.now())).all()

    # Clicks and impressions with their ads' categories: the click report's totals.
    ad_events = pd.read_parquet(paths["ad_events"])
    report = engine.click_report(group_by=["category"])
    totals = ad_events.groupby(["category", "kind"]).size().to_dict()
    for row in report.rows:
        assert totals.get((row.category, "click"), 0) == row.clicks
        assert totals.get((row.category, "impression"), 0) == row.impressions

    posts = pq.read_table(paths["posts"]).to_pylist()
    assert len(posts) == conn.execute("SELECT COUNT(*) FROM posts").fetchone()[0] == 30
    assert pq.read_table(paths["opt_outs"]).to_pylist()[0]["category"] == "pets"


def test_ndjson_export_reads_in_pandas(populated, tmp_path):
    engine, db, _ = populated
    paths = engine.export(tmp_path / "nd", datasets=["events", "catalog"], format="ndjson")
    assert set(paths) == {"events", "catalog"}
    df = pd.read_json(paths["events"], lines=True)
    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert len(df) == n
    first = json.loads(paths["events"].read_text().splitlines()[0])
    assert first["at"].endswith("Z") and "." in first["at"]
    catalog = pd.read_json(paths["catalog"], lines=True)
    assert sorted(catalog["item_id"]) == ["ad-cat", "ad-surf"]


def test_import_restores_and_reimport_changes_nothing(populated, tmp_path):
    engine, _, clock = populated
    engine.export(tmp_path / "out")
    fresh = sociallens.Engine(f"sqlite://{tmp_path / 'restored.db'}", clock=clock)
    first = {r["dataset"]: r for r in fresh.import_files(tmp_path / "out")}
    assert "interests" not in first and "ad_events" not in first
    assert first["events"]["applied"] == first["events"]["rows"] > 0
    for user in ["user-0", "user-3"]:
        assert [(i.term, round(i.weight, 9)) for i in fresh.interests(user, 100)] == [
            (i.term, round(i.weight, 9)) for i in engine.interests(user, 100)
        ]
    rows = lambda e: [(r.category, r.hour, r.impressions, r.clicks) for r in e.click_report().rows]
    assert rows(fresh) == rows(engine)
    again = fresh.import_files(tmp_path / "out")
    assert all(r["applied"] == 0 and r["unchanged"] == r["rows"] for r in again)


def test_pyarrow_written_files_import_whatever_the_timestamp_unit(tmp_path):
    engine = sociallens.Engine(f"sqlite://{tmp_path / 'x.db'}")
    at = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc)
    table = pa.table({
        "image_sha256": ["aa", "bb"],
        "model": ["m", "m"],
        "caption": ["a dog", "a cat"],
        "created_at": pa.array([at, at], pa.timestamp("ns", tz="UTC")),
        "something_else": [1, 2],
    })
    parts = tmp_path / "spark"
    parts.mkdir()
    pq.write_table(table, parts / "part-00000.snappy.parquet")
    # INT96 timestamps, as Spark writes by default.
    pq.write_table(table.slice(1), parts / "part-00001.snappy.parquet", use_deprecated_int96_timestamps=True)
    (parts / "_SUCCESS").write_text("")
    (parts / ".part-00000.snappy.parquet.crc").write_text("x")
    (report,) = engine.import_files(parts, dataset="captions")
    assert (report["rows"], report["applied"], report["unchanged"]) == (3, 2, 1)
    out = engine.export(tmp_path / "back", datasets=["captions"])
    back = pq.read_table(out["captions"]).to_pylist()
    assert [(r["image_sha256"], r["caption"]) for r in back] == [("aa", "a dog"), ("bb", "a cat")]
    assert all(r["created_at"] == at for r in back)


def test_bad_files_raise_typed_errors_and_change_nothing(tmp_path):
    engine = sociallens.Engine(f"sqlite://{tmp_path / 'x.db'}")
    bad = tmp_path / "captions.parquet"
    pq.write_table(pa.table({"image_sha256": ["aa"], "caption": ["a dog"]}), bad)
    with pytest.raises(sociallens.InvalidInputError, match="model"):
        engine.import_files(bad)
    with pytest.raises(sociallens.InvalidInputError, match="events"):
        engine.import_files(bad, dataset="interests")
    with pytest.raises(sociallens.InvalidInputError, match="unknown dataset"):
        engine.export(tmp_path / "o", datasets=["nope"])
    out = engine.export(tmp_path / "o", datasets=["captions"])
    assert pq.read_table(out["captions"]).num_rows == 0
