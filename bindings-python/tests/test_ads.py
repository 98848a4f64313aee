"""Ads, similar users, audiences, impressions/clicks, click reports and plots, through the
built module on a real SQLite file. Time is the engine's: a ManualClock moved by the tests."""

import collections
import datetime as dt
import json
import random
import subprocess
import sys
import zoneinfo

import pytest

import sociallens
from sociallens import Ad, AdsConfig, Engine, ManualClock

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def engine(db_path, clock):
    return Engine(f"sqlite://{db_path}", clock=clock, ads_config=AdsConfig(min_audience_size=3))


SURF = {
    "id": "surf-1",
    "advertiser": "WaveCo",
    "title": "Boards for every wave",
    "category": "Surf",
    "interests": ["surfboards", "wetsuit"],
    "landing_url": "https://example.com/boards",
}
KITCHEN = {
    "id": "kitchen-1",
    "advertiser": "Chefs",
    "title": "Knives that stay sharp",
    "category": "kitchen",
    "interests": ["kitchen knife", "cutting board"],
}


def ids(matches):
    return [m.ad.id for m in matches]


def test_ads_for_explains_which_interests_matched(engine):
    assert engine.add_ads([SURF, KITCHEN]) == 2
    engine.record_like("ana", "p1", interests=["surfboard", "beach"])
    engine.record_like("ana", "p2", interests=["knife"])
    [surf, kitchen] = engine.ads_for("ana", k=5)
    assert surf.ad.id == "surf-1" and surf.ad.category == "surf"
    assert [(m.interest, m.ad_term, m.kind) for m in surf.matched] == [("surfboard", "surfboards", "lemma")]
    assert [(m.interest, m.ad_term, m.kind) for m in kitchen.matched] == [("knife", "kitchen knife", "compound")]
    assert 0 < surf.matched[0].strength <= 1 and 0 < surf.matched[0].weight <= 1
    assert surf.interest_score > kitchen.interest_score > 0
    assert surf.score == pytest.approx(surf.interest_score + 0.5 * surf.lookalike_score)
    assert (surf.lookalike_score, surf.similar_users_engaged) == (0.0, 0)
    assert 'AdMatch(ad="surf-1"' in repr(surf) and "surfboard" in repr(surf)
    assert 'MatchedInterest(interest="surfboard"' in repr(surf.matched[0])
    assert ids(engine.ads_for("ana", k=1)) == ["surf-1"]
    assert engine.ads_for("nobody") == []


def test_lookalike_counts_similar_users_who_clicked(engine):
    engine.add_ads([SURF, {**KITCHEN, "interests": ["chef"]}])
    engine.record_like("ana", "p1", interests=["surfboard", "beach", "wave"])
    engine.record_like("ben", "p2", interests=["surfboard", "beach", "wave"])
    engine.record_click("ben", "kitchen-1")
    peers = engine.similar_users("ana", k=5)
    assert [p.user for p in peers] == ["ben"]
    assert 0 < peers[0].score <= 1 and "surfboard" in peers[0].shared
    assert 'SimilarUser(user="ben"' in repr(peers[0])
    by_id = {m.ad.id: m for m in engine.ads_for("ana")}
    assert by_id["kitchen-1"].similar_users_engaged == 1
    assert by_id["kitchen-1"].lookalike_score > 0 and by_id["kitchen-1"].matched == []
    assert engine.similar_users("ana", k=0) == []


def test_stateless_serving_reads_the_neighbour_table(db_path, engine, clock):
    engine.add_ads([SURF, {**KITCHEN, "interests": ["chef"]}])
    engine.record_like("ana", "p1", interests=["surfboard", "beach", "wave"])
    engine.record_like("ben", "p2", interests=["surfboard", "beach", "wave"])
    engine.record_click("ben", "kitchen-1")
    assert engine.similar_users("ana")[0].computed_at is None  # live, from the index
    stats = engine.build_neighbours(k=20)
    assert (stats.users, stats.neighbours, stats.computed_at) == (2, 2, T0)
    assert "NeighbourStats(users=2, neighbours=2)" == repr(stats)
    server = Engine(f"sqlite://{db_path}", clock=clock, serving="stateless", inventory_ttl=5)
    [peer] = server.similar_users("ana")
    assert (peer.user, peer.computed_at) == ("ben", T0)
    by_id = {m.ad.id: m for m in server.ads_for("ana")}
    assert by_id["kitchen-1"].similar_users_engaged == 1
    assert by_id["kitchen-1"].neighbours_computed_at == T0
    assert by_id["surf-1"].matched[0].kind == "lemma"
    # The user's own likes count at once; the neighbours wait for the next build.
    server.record_like("ana", "p3", interests=["chef"])
    assert by_id["kitchen-1"].interest_score == 0
    assert {m.ad.id: m for m in server.ads_for("ana")}["kitchen-1"].interest_score > 0
    assert server.refresh_index().users == 0
    report = server.forget_user("ben")
    assert report.neighbours == 2 and report.total >= 2
    assert server.similar_users("ana") == []
    with pytest.raises(sociallens.InvalidInputError):
        Engine(f"sqlite://{db_path}", serving="everywhere")
    with pytest.raises(sociallens.InvalidInputError):
        server.build_neighbours(k=0)


def test_frequency_caps_per_day_and_lifetime(engine, clock):
    engine.add_ads([{**SURF, "cap_per_day": 2, "cap_lifetime": 3}])
    assert (engine.ad("surf-1").cap_per_day, engine.ad("surf-1").cap_lifetime) == (2, 3)
    engine.record_like("ana", "p1", interests=["surfboard"])
    for _ in range(2):
        assert ids(engine.ads_for("ana")) == ["surf-1"]
        engine.record_impression("ana", "surf-1")
        clock.advance(HOUR)
    assert engine.ads_for("ana") == []  # two in the last 24 hours
    clock.advance(dt.timedelta(hours=23))  # the first impression is now 24 h old
    assert ids(engine.ads_for("ana")) == ["surf-1"]
    engine.record_impression("ana", "surf-1")
    clock.advance(7 * DAY)
    assert engine.ads_for("ana") == []  # three ever
    # Another user has their own count.
    engine.record_like("ben", "p2", interests=["wetsuit"])
    assert ids(engine.ads_for("ben")) == ["surf-1"]


def test_impressions_at_past_times_count_against_the_daily_cap(engine, clock):
    engine.add_ads([{**SURF, "cap_per_day": 1}])
    engine.record_like("ana", "p1", interests=["surfboard"])
    engine.record_impression("ana", "surf-1", at=clock.now() - 25 * HOUR)
    assert ids(engine.ads_for("ana")) == ["surf-1"]
    engine.record_impression("ana", "surf-1", at=(clock.now() - 2 * HOUR).timestamp())
    assert engine.ads_for("ana") == []


def test_start_and_end_dates(engine, clock):
    engine.add_ads([Ad("spring", "WaveCo", "Spring sale", "surf", interests=["surfboard"], start=T0 + DAY, end=T0 + 3 * DAY)])
    ad = engine.ad("spring")
    assert (ad.start, ad.end) == (T0 + DAY, T0 + 3 * DAY)
    engine.record_like("ana", "p1", interests=["surfboard"])
    assert engine.ads_for("ana") == []
    clock.set(T0 + DAY)
    assert ids(engine.ads_for("ana")) == ["spring"]  # start is inclusive
    clock.set(T0 + 3 * DAY - dt.timedelta(seconds=1))
    assert ids(engine.ads_for("ana")) == ["spring"]
    clock.set(T0 + 3 * DAY)
    assert engine.ads_for("ana") == []  # end is exclusive
    assert clock.now() == T0 + 3 * DAY and "ManualClock(2026-03-05" in repr(clock)


def test_pause_resume_remove(engine):
    engine.add_ads([SURF, KITCHEN])
    engine.record_like("ana", "p1", interests=["surfboard", "cutting board"])
    assert sorted(ids(engine.ads_for("ana"))) == ["kitchen-1", "surf-1"]
    engine.pause_ad("surf-1")
    assert engine.ad("surf-1").status == "paused"
    assert ids(engine.ads_for("ana")) == ["kitchen-1"]
    engine.pause_ad("surf-1")  # pausing twice is fine
    engine.resume_ad("surf-1")
    assert engine.ad("surf-1").status == "active"
    assert sorted(ids(engine.ads_for("ana"))) == ["kitchen-1", "surf-1"]
    assert engine.remove_ad("surf-1") is True
    assert engine.remove_ad("surf-1") is False
    assert engine.remove_ad("never-was") is False
    assert [a.id for a in engine.ads()] == ["kitchen-1"]
    assert engine.ad("surf-1").status == "removed"
    assert ids(engine.ads_for("ana")) == ["kitchen-1"]
    with pytest.raises(sociallens.ConflictError):
        engine.resume_ad("surf-1")
    with pytest.raises(sociallens.NotFoundError) as e:
        engine.pause_ad("never-was")
    assert e.value.code == "NOT_FOUND"
    engine.add_ads([SURF])  # adding it again brings it back
    assert sorted(ids(engine.ads_for("ana"))) == ["kitchen-1", "surf-1"]
    assert engine.ad("never-was") is None


def test_opt_outs_are_honoured_in_ads_and_audiences(engine):
    engine.add_ads([SURF, KITCHEN])
    for u in ["ana", "ben", "cleo", "dan"]:
        engine.record_like(u, f"p-{u}", interests=["surfboard", "cutting board"])
    engine.set_opt_out("ana", "  SURF ")
    assert engine.opt_outs("ana") == ["surf"]
    assert ids(engine.ads_for("ana")) == ["kitchen-1"]
    assert sorted(ids(engine.ads_for("ben"))) == ["kitchen-1", "surf-1"]
    assert "ana" not in [m.user for m in engine.audience(ad="surf-1")]
    assert "ana" in [m.user for m in engine.audience(ad="kitchen-1")]
    assert engine.audience_size(ad="surf-1") == 3
    assert engine.audience_size(ad="kitchen-1") == 4
    engine.set_opt_out("ana", "surf", opted_out=False)
    assert engine.opt_outs("ana") == []
    assert sorted(ids(engine.ads_for("ana"))) == ["kitchen-1", "surf-1"]
    engine.set_opt_out("ana", "kitchen")
    assert engine.forget_user("ana").opt_outs == 1
    assert engine.opt_outs("ana") == []


def test_excluded_categories_follow_the_users_clicks(engine):
    engine.add_ads([
        SURF,
        {"id": "rival", "advertiser": "Other", "title": "Boards", "category": "Rival Surf", "interests": ["beach"]},
        {**KITCHEN, "id": "no-rivals", "interests": ["surfboard"], "excluded_categories": ["rival surf"]},
    ])
    assert engine.ad("no-rivals").excluded_categories == ["rival surf"]
    engine.record_like("ana", "p1", interests=["surfboard", "beach"])
    engine.record_like("ben", "p2", interests=["surfboard", "beach"])
    assert "no-rivals" in ids(engine.ads_for("ana"))
    engine.record_click("ana", "rival")
    assert "no-rivals" not in ids(engine.ads_for("ana"))
    assert "no-rivals" in ids(engine.ads_for("ben"))


def test_audience_and_its_minimum_size(engine):
    engine.add_ads([SURF])
    engine.record_like("ana", "p1", interests=["surfboard", "wave"])
    engine.record_like("ben", "p2", interests=["surfboard"])
    engine.record_like("cleo", "p3", interests=["cat"])
    # Two surfers, under the minimum of 3: neither listed nor counted.
    for ask in (engine.audience, engine.audience_size):
        with pytest.raises(sociallens.PrivacyError) as e:
            ask(interests=["surfboards"])
        assert e.value.code == "PRIVACY"
        assert isinstance(e.value, PermissionError) and isinstance(e.value, sociallens.SocialLensError)
        assert "fewer than 3" in str(e.value) and "ana" not in str(e.value)
    internal = engine.audience_bypassing_privacy_minimum(interests=["surfboards"])
    assert [m.user for m in internal] == ["ben", "ana"]
    engine.record_like("dan", "p4", interests=["surfboard"])
    who = engine.audience(interests=["surfboards"])
    assert [m.user for m in who] == ["ben", "dan", "ana"]  # ben and dan are all surfboard
    assert who[0].score >= who[2].score and who[0].matched == ["surfboard"]
    assert 'AudienceMember(user="ben"' in repr(who[0])
    assert len(engine.audience(interests=["surfboards"], limit=1)) == 1
    assert engine.audience_size(interests=["surfboards"]) == 3
    # The default minimum is 50.
    with pytest.raises(sociallens.PrivacyError):
        Engine("memory://").audience_size(interests=["surfboard"])
    for bad in [{}, {"interests": ["x"], "ad": "surf-1"}]:
        with pytest.raises(sociallens.InvalidInputError):
            engine.audience(**bad)
        with pytest.raises(sociallens.InvalidInputError):
            engine.audience_size(**bad)
    with pytest.raises(sociallens.NotFoundError):
        engine.audience(ad="nope")


def test_ad_audience_is_a_lookalike_of_its_clickers(engine):
    engine.add_ads([{**SURF, "interests": ["longboard"]}])
    engine.record_like("ana", "p1", interests=["wave", "beach", "sunset"])
    engine.record_like("ben", "p2", interests=["wave", "beach"])
    engine.record_like("cleo", "p3", interests=["cat", "sofa"])
    engine.record_click("ana", "surf-1")
    assert [m.user for m in engine.audience_bypassing_privacy_minimum(ad="surf-1")] == ["ben"]
    with pytest.raises(sociallens.PrivacyError):
        engine.audience(ad="surf-1")  # one lookalike, under the minimum of 3


def test_replayed_clicks_do_not_double_count(engine):
    engine.add_ads([SURF])
    first = engine.record_click("ana", "surf-1", event_id="click-1", at=T0)
    again = engine.record_click("ana", "surf-1", event_id="click-1", at=T0)
    assert (first.status, again.status) == ("applied", "duplicate")
    assert first.event_id == "click-1" and sorted(first.deltas) == [("surfboards", 0.5), ("wetsuit", 0.5)]
    assert again.deltas == []
    assert engine.record_impression("ana", "surf-1", event_id="imp-1").status == "applied"
    assert engine.record_impression("ana", "surf-1", event_id="imp-1").status == "duplicate"
    report = engine.click_report(())
    assert (report.impressions, report.clicks, report.ctr) == (1, 1, 1.0)
    assert {i.term: (i.weight, i.count) for i in engine.interests("ana")} == {
        "surfboards": (pytest.approx(0.5), 1),
        "wetsuit": (pytest.approx(0.5), 1),
    }
    with pytest.raises(sociallens.ConflictError):
        engine.record_click("ana", "surf-1", event_id="imp-1")
    with pytest.raises(sociallens.NotFoundError):
        engine.record_click("ana", "no-such-ad")


def simulate(engine, rng, start, days):
    """Records impressions and clicks at random times; returns them as (kind, ad, time)."""
    ads = {"surf-1": "surf", "kitchen-1": "kitchen", "garden-1": "garden"}
    engine.add_ads([SURF, KITCHEN, {"id": "garden-1", "advertiser": "Green", "title": "Seeds", "category": "garden"}])
    events = []
    for n in range(300):
        ad = rng.choice(sorted(ads))
        at = start + dt.timedelta(seconds=rng.randrange(int(days * 86400)))
        user = f"u{rng.randrange(40)}"
        engine.record_impression(user, ad, event_id=f"i{n}", at=at)
        events.append(("impression", ad, at))
        if rng.random() < 0.3:
            click_at = at + dt.timedelta(seconds=rng.randrange(1, 120))
            engine.record_click(user, ad, event_id=f"c{n}", at=click_at)
            events.append(("click", ad, click_at))
            if rng.random() < 0.2:  # a retry of the same click
                engine.record_click(user, ad, event_id=f"c{n}", at=click_at)
    return ads, events


def recount(events, ads, tz, key, start=None, end=None):
    counts = collections.defaultdict(lambda: [0, 0])
    for kind, ad, at in events:
        if (start and at < start) or (end and at >= end):
            continue
        local = at.astimezone(tz)
        counts[key(ads[ad], ad, local)][kind == "click"] += 1
    return {k: tuple(v) for k, v in counts.items()}


def test_click_report_equals_a_brute_force_recount(engine, clock):
    # 2026-03-08: New York moves its clocks from 02:00 to 03:00; the week straddles it.
    rng = random.Random(7)
    start = dt.datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    clock.set(start + 8 * DAY)  # event times may not lie ahead of the clock (beyond a day)
    ads, events = simulate(engine, rng, start, days=7)
    ny = zoneinfo.ZoneInfo("America/New_York")

    report = engine.click_report(("category", "hour"), time_zone="America/New_York")
    assert report.group_by == ("category", "hour") and report.time_zone == "America/New_York"
    got = {(r.category, r.hour): (r.impressions, r.clicks) for r in report.rows}
    assert got == recount(events, ads, ny, lambda c, a, t: (c, t.hour))
    assert report.impressions == 300
    assert report.clicks == sum(1 for e in events if e[0] == "click")
    assert [(r.category, r.hour) for r in report.rows] == sorted(got)
    row = report.rows[0]
    assert row.ctr == pytest.approx(row.clicks / row.impressions)
    assert (row.ad, row.date, row.day_of_week) == (None, None, None)

    report = engine.click_report(["ad", "date", "day_of_week"], time_zone="America/New_York")
    got = {(r.ad, r.date, r.day_of_week): (r.impressions, r.clicks) for r in report.rows}
    assert got == recount(events, ads, ny, lambda c, a, t: (a, t.date(), t.weekday()))

    lo, hi = start + 2 * DAY, start + 4 * DAY + 5 * HOUR
    report = engine.click_report("hour", start=lo, end=hi.timestamp())
    got = {r.hour: (r.impressions, r.clicks) for r in report.rows}
    assert got == recount(events, ads, UTC, lambda c, a, t: t.hour, lo, hi)
    assert (report.start, report.end) == (lo, hi)

    # Default grouping: category and hour in UTC.
    report = engine.click_report()
    got = {(r.category, r.hour): (r.impressions, r.clicks) for r in report.rows}
    assert got == recount(events, ads, UTC, lambda c, a, t: (c, t.hour))


def test_report_exports(engine):
    engine.add_ads([SURF, KITCHEN])
    engine.record_impression("ana", "surf-1", at=T0)
    engine.record_impression("ana", "surf-1", at=T0 + HOUR)
    engine.record_click("ana", "surf-1", at=T0 + HOUR)
    engine.record_impression("ben", "kitchen-1", at=T0)
    report = engine.click_report(("category", "date", "hour"), time_zone="Asia/Tokyo")
    assert len(report) == 3
    assert report.to_dicts()[0] == {
        "category": "kitchen", "date": dt.date(2026, 3, 2), "hour": 21, "impressions": 1, "clicks": 0, "ctr": 0.0,
    }
    assert report.to_csv().splitlines() == [
        "category,date,hour,impressions,clicks,ctr",
        "kitchen,2026-03-02,21,1,0,0.000000",
        "surf,2026-03-02,21,1,0,0.000000",
        "surf,2026-03-02,22,1,1,1.000000",
    ]
    df = report.to_pandas()
    assert list(df.columns) == ["category", "date", "hour", "impressions", "clicks", "ctr"]
    assert df["clicks"].sum() == 1 and str(df["impressions"].dtype) == "int64"
    assert "Report(group_by=[" in repr(report) and "ReportRow(category=" in repr(report.rows[0])
    empty = engine.click_report(("ad",), start=T0 + 10 * DAY)
    assert (len(empty), empty.ctr, empty.impressions) == (0, None, 0)
    assert list(empty.to_pandas().columns) == ["ad", "impressions", "clicks", "ctr"]
    totals = engine.click_report(())
    assert totals.group_by == () and [(r.impressions, r.clicks) for r in totals.rows] == [(3, 1)]


def test_plots_show_the_reports_numbers(engine, clock):
    plots = pytest.importorskip("sociallens.plots")
    clock.set(T0 + 3 * DAY)  # event times may not lie ahead of the clock (beyond a day)
    engine.add_ads([SURF, KITCHEN])
    engine.record_impression("ana", "surf-1", at=dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    engine.record_click("ana", "surf-1", at=dt.datetime(2026, 3, 2, 9, 31, tzinfo=UTC))
    engine.record_impression("ben", "surf-1", at=dt.datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    engine.record_impression("ben", "kitchen-1", at=dt.datetime(2026, 3, 4, 18, 0, tzinfo=UTC))
    engine.record_click("ben", "kitchen-1", at=dt.datetime(2026, 3, 4, 18, 1, tzinfo=UTC))
    engine.record_click("ben", "kitchen-1", at=dt.datetime(2026, 3, 4, 18, 2, tzinfo=UTC))
    report = engine.click_report(("category", "date", "hour"))

    heat = plots.clicks_heatmap(report)
    [trace] = heat.data
    assert list(trace.y) == ["kitchen", "surf"] and list(trace.x) == list(range(24))
    z = [list(row) for row in trace.z]
    assert z[0] == [0] * 18 + [2] + [0] * 5
    assert z[1] == [0] * 9 + [1] + [0] * 14
    assert "UTC" in heat.layout.title.text

    ctr = plots.ctr_by_category(report)
    assert list(ctr.data[0].x) == ["kitchen", "surf"]
    assert list(ctr.data[0].y) == [pytest.approx(2.0), pytest.approx(0.5)]

    over = plots.clicks_over_time(report)
    assert [t.name for t in over.data] == ["kitchen", "surf"]
    assert [str(x)[:10] for x in over.data[0].x] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert list(over.data[0].y) == [0, 0, 2] and list(over.data[1].y) == [1, 0, 0]

    with pytest.raises(ValueError, match="grouped by category, hour"):
        plots.clicks_heatmap(engine.click_report(("category",)))
    with pytest.raises(ValueError, match="missing date"):
        plots.clicks_over_time(engine.click_report(("category",)))
    with pytest.raises(TypeError):
        plots.ctr_by_category([1, 2])
    single = plots.clicks_over_time(engine.click_report("date"))
    assert [list(t.y) for t in single.data] == [[1, 0, 2]]


def test_plot_module_and_pandas_say_what_to_install():
    code = (
        "import sys\n"
        "sys.modules['plotly'] = None\n"
        "try:\n"
        "    import sociallens.plots\n"
        "except ImportError as e:\n"
        "    print('plots:', e)\n"
        "sys.modules['pandas'] = None\n"
        "import sociallens\n"
        "try:\n"
        "    sociallens.Engine('memory://').click_report().to_pandas()\n"
        "except ImportError as e:\n"
        "    print('pandas:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "plots: sociallens.plots needs plotly and pandas: pip install 'sociallens[plots]'" in out
    assert "pandas: Report.to_pandas() needs pandas: pip install 'sociallens[plots]'" in out


def test_plot_docstring_example_runs():
    import doctest

    plots = pytest.importorskip("sociallens.plots")
    assert doctest.testmod(plots).failed == 0


@pytest.mark.parametrize(
    "ad, message",
    [
        ({"id": "x", "advertiser": "a", "title": "t"}, "ads[1]: category is missing"),
        ({**SURF, "intrests": ["x"]}, 'unknown ad field "intrests"'),
        ({**SURF, "interests": "surf, wave"}, "interests must be a list of strings, not one string"),
        ({**SURF, "interests": [1, 2]}, "interests must be a list of strings"),
        ({**SURF, "status": "live"}, 'status "live" is not active, paused or removed'),
        ({**SURF, "start": T0, "end": T0 - DAY}, "end is not after start"),
        ({**SURF, "cap_per_day": 0}, "a frequency cap of 0"),
        ({**SURF, "cap_lifetime": -1}, "cap_lifetime must be a count"),
        ({**SURF, "title": "  "}, "title is empty"),
        ({**SURF, "id": ""}, "ad id"),
        ({**SURF, "start": "tomorrow"}, None),
        ({**SURF, "title": 5}, "title must be a string"),
    ],
)
def test_bad_ads_are_rejected_whole(engine, ad, message):
    with pytest.raises((sociallens.InvalidInputError, TypeError)) as e:
        engine.add_ads([KITCHEN, ad])
    if message:
        assert isinstance(e.value, sociallens.InvalidInputError) and e.value.code == "INVALID_INPUT"
        assert message in str(e.value)
    assert engine.ads() == []


def test_bad_input_is_typed(engine):
    with pytest.raises(sociallens.InvalidInputError, match="add_ads takes a list"):
        engine.add_ads(SURF)
    with pytest.raises(sociallens.InvalidInputError, match=r"ads\[0\]: an ad must be a dict or an Ad, not int"):
        engine.add_ads([5])
    with pytest.raises(sociallens.InvalidInputError, match="appears twice"):
        engine.add_ads([SURF, SURF])
    with pytest.raises(sociallens.InvalidInputError, match="cannot open ads"):
        engine.add_ads("no-such-ads.jsonl")
    with pytest.raises(sociallens.InvalidInputError) as e:
        engine.click_report(time_zone="Mars/Olympus_Mons")
    assert "unknown time zone" in str(e.value) and e.value.code == "INVALID_INPUT"
    with pytest.raises(sociallens.InvalidInputError, match="unknown report dimension"):
        engine.click_report(("category", "minute"))
    with pytest.raises(sociallens.InvalidInputError, match="names hour twice"):
        engine.click_report(("hour", "hour_of_day"))
    with pytest.raises(sociallens.InvalidInputError, match="group_by must be"):
        engine.click_report(5)
    with pytest.raises(sociallens.InvalidInputError, match="ends before it starts"):
        engine.click_report(start=T0, end=T0 - DAY)
    with pytest.raises(TypeError):
        engine.click_report(start="yesterday")
    with pytest.raises(sociallens.InvalidInputError, match="user id is empty"):
        engine.ads_for("")
    with pytest.raises(sociallens.InvalidInputError):
        engine.set_opt_out("ana", "  ")
    with pytest.raises(sociallens.InvalidInputError):
        engine.audience(interests=[])
    with pytest.raises(sociallens.InvalidInputError):
        AdsConfig(lookalike_weight=-1)
    with pytest.raises(sociallens.InvalidInputError):
        ManualClock(T0).advance(-5)
    with pytest.raises(TypeError):
        ManualClock("now")
    # A negative size is bad input, not an OverflowError outside SocialLensError.
    with pytest.raises(sociallens.InvalidInputError):
        engine.ads_for("ana", k=-1)


def test_ads_from_files_objects_and_a_second_process(db_path, tmp_path, engine):
    jsonl = tmp_path / "ads.jsonl"
    jsonl.write_text(json.dumps({**SURF, "frequency_cap": {"per_day": 2}, "interests": "surfboards; wetsuit"}) + "\n")
    csv = tmp_path / "ads.csv"
    csv.write_text("id,advertiser,title,category,keywords,cap_lifetime,status\nk1,Chefs,Knives,kitchen,knife|pan,4,paused\n")
    assert engine.add_ads(str(jsonl)) == 1
    assert engine.add_ads(csv) == 1
    surf, k1 = engine.ad("surf-1"), engine.ad("k1")
    assert (surf.interests, surf.cap_per_day) == (["surfboards", "wetsuit"], 2)
    assert (k1.interests, k1.cap_lifetime, k1.status) == (["knife", "pan"], 4, "paused")
    assert Ad(**{k: v for k, v in surf.to_dict().items() if k not in ("id", "advertiser", "title", "category")},
              id="surf-1", advertiser="WaveCo", title=surf.title, category="surf") == surf
    assert 'Ad(id="surf-1"' in repr(surf)
    assert engine.add_ads([Ad("o1", "Adv", "T", "Misc", interests=["Cat", "cat"])]) == 1
    assert engine.ad("o1").interests == ["cat"] and engine.ad("o1").category == "misc"

    # Another engine on the same file (another process) writes; refresh_index picks it up.
    engine.record_like("ana", "p1", interests=["cat"])
    assert ids(engine.ads_for("ana")) == ["o1"]
    other = Engine(f"sqlite://{db_path}")
    other.record_like("ana", "p2", interests=["surfboard"])
    other.add_ads([{**SURF, "id": "surf-2"}])
    stats = engine.refresh_index()
    assert (stats.users, stats.ads) == (1, 4) and stats.terms > 0
    assert "IndexStats(users=1" in repr(stats)
    assert set(ids(engine.ads_for("ana"))) == {"o1", "surf-1", "surf-2"}


def test_ads_config_and_clock_reprs():
    cfg = AdsConfig(min_audience_size=100, lookalike_weight=0.25)
    assert (cfg.min_audience_size, cfg.lookalike_weight, cfg.interest_weight) == (100, 0.25, 1.0)
    assert "AdsConfig(interest_weight=1, lookalike_weight=0.25" in repr(cfg)
    c = ManualClock(0)
    c.advance(dt.timedelta(minutes=1))
    c.advance(30)
    assert c.now() == dt.datetime(1970, 1, 1, 0, 1, 30, tzinfo=UTC)
