"""The warehouse path: `sql/click_report.sql`, the SQL that docs/snowflake.md loads into
Snowflake, run unchanged on DuckDB over files written by `Engine.export`, gives the numbers
of `Engine.click_report`. Real SQLite store, real Parquet files, real DuckDB."""

import datetime as dt
import pathlib
import random

import pytest

import sociallens
from sociallens import AdsConfig, Engine, ManualClock

duckdb = pytest.importorskip("duckdb")
if not hasattr(Engine, "export"):
    pytest.skip("this build of sociallens has no Engine.export", allow_module_level=True)

SQL = (pathlib.Path(__file__).resolve().parents[2] / "sql" / "click_report.sql").read_text()
UTC = dt.timezone.utc
# Ten days around the start of daylight saving time in New York (2026-03-08).
END = dt.datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
ADS = [
    {"id": "surf-1", "advertiser": "WaveCo", "title": "Boards", "category": "Surf", "interests": ["surfboard"]},
    {"id": "knife-1", "advertiser": "Chefs", "title": "Knives", "category": "kitchen", "interests": ["knife"]},
    {"id": "pot-1", "advertiser": "Green", "title": "Pots", "category": "garden", "interests": ["flower pot"]},
    {"id": "gone-1", "advertiser": "Old", "title": "Gone", "category": "travel", "interests": ["suitcase"]},
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("warehouse")
    engine = Engine(f"sqlite://{tmp / 'store.db'}", clock=ManualClock(END), ads_config=AdsConfig(min_audience_size=1))
    engine.add_ads(ADS)
    rng = random.Random(7)
    for i in range(1500):
        user = f"u{rng.randrange(60)}"
        ad = rng.choice(ADS)["id"]
        at = END - dt.timedelta(minutes=rng.randrange(10 * 24 * 60))
        engine.record_impression(user, ad, event_id=f"i{i}", at=at)
        if rng.random() < 0.2:
            engine.record_click(user, ad, event_id=f"c{i}", at=at + dt.timedelta(seconds=30))
    # An ad removed after its events: the SQL must categorise its events as click_report does.
    assert engine.remove_ad("gone-1")
    paths = engine.export(tmp / "export", datasets=["ad_events", "catalog"])
    return engine, paths


def _parquet_glob(path):
    path = pathlib.Path(path)
    return str(path / "**" / "*.parquet") if path.is_dir() else str(path)


def _run_sql(paths, time_zone):
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{time_zone}'")
    for name in ("ad_events", "catalog"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{_parquet_glob(paths[name])}')")
    return con.execute(SQL).fetchall()


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_click_report_sql_on_duckdb_equals_click_report(exported, time_zone):
    engine, paths = exported
    report = engine.click_report(("category", "hour"), time_zone=time_zone)
    want = [(r.category, r.hour, r.impressions, r.clicks, r.ctr) for r in report.rows]
    got = [(c, int(h), int(i), int(k), ctr) for c, h, i, k, ctr in _run_sql(paths, time_zone)]
    assert [w[:4] for w in want] == [g[:4] for g in got]
    for w, g in zip(want, got):
        assert (w[4] is None and g[4] is None) or w[4] == pytest.approx(g[4], rel=1e-12)
    assert sum(g[2] for g in got) == report.impressions
    assert sum(g[3] for g in got) == report.clicks
    assert {g[0] for g in got} == {"surf", "kitchen", "garden", "travel"}
    assert report.impressions == 1500


def test_exported_files_load_in_duckdb_with_their_types(exported):
    _, paths = exported
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    src = _parquet_glob(paths["ad_events"])
    cols = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{src}')").fetchall()}
    assert cols["at"].startswith("TIMESTAMP WITH TIME ZONE")
    assert cols["kind"] == "VARCHAR"
    kinds = dict(con.execute(f"SELECT kind, count(*) FROM read_parquet('{src}') GROUP BY 1").fetchall())
    assert kinds["impression"] == 1500
