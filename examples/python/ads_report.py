"""A week of ads, recorded through sociallens, and the HTML click report it gives.

Nothing here feeds made-up numbers to a plot. The script simulates a small platform:

1. 200 users in six taste groups (surf, cooking, gardening, dogs, cycling, photography) like
   posts whose captions come from their group (80 %) or any other (20 %), during the week
   before. The engine extracts interests from the captions and builds each profile.
2. Twelve ads in six categories target interests of those groups; some have frequency caps,
   a few users opt out of a category.
3. Every simulated hour of the week, the users online at that hour (more in the evening)
   open the app: ``engine.ads_for(user, k=2)`` picks their ads, each shown ad is recorded
   with ``record_impression`` at that minute, and the user clicks it with a probability that
   grows with how well it matched and follows an hour-of-day pattern of its category
   (coffee-time cycling ads, dinner-time kitchen ads, ...), recorded with ``record_click``.
   The engine's clock (a ``ManualClock``) moves with the simulation, so caps and decay see
   simulated time.
4. ``engine.click_report(("category", "date", "hour"), time_zone=...)`` reads the recorded
   events back; ``sociallens.plots`` draws them. One self-contained HTML file (plotly.js
   inlined) holds the three figures and a table; a PNG of the heatmap is written with
   kaleido, or with headless Chromium when kaleido cannot render.

Run (from the repository root, after building the package into the venv and installing the
extras: ``pip install 'sociallens[plots]'``, optionally ``kaleido``):

    .venv/bin/python examples/python/ads_report.py --out out/ads-report

Writes ``ads_report.html``, ``clicks_heatmap.png``, ``click_report.csv`` and the SQLite store
``sociallens.db`` into ``--out`` (``--no-png`` skips the PNG; ``--users``, ``--seed``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import math
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zoneinfo

import sociallens
from sociallens import AdsConfig, Engine, ManualClock

try:
    from sociallens import plots
except ImportError as e:
    sys.exit(str(e))

TIME_ZONE = "America/New_York"
WEEK_START = dt.datetime(2026, 6, 1, tzinfo=zoneinfo.ZoneInfo(TIME_ZONE))  # a Monday

# What each taste group posts and likes: ViT-GPT2-style captions.
CAPTIONS = {
    "surf": [
        "a man riding a wave on top of a surfboard",
        "a woman carrying a surfboard on the beach",
        "a surfer in a wetsuit paddling out to sea",
        "a group of surfboards leaning against a wall",
        "a person riding a large wave in the ocean",
        "a beach with surfboards at sunset",
        "a young man holding a surfboard near the water",
        "a wetsuit hanging on a fence by the beach",
    ],
    "cooking": [
        "a plate of pasta with tomato sauce and basil",
        "a kitchen with a stove and a cutting board",
        "a chef cutting vegetables with a knife",
        "a pot of soup on a stove",
        "a loaf of bread on a wooden cutting board",
        "a woman baking a cake in a kitchen",
        "a frying pan with eggs and bacon",
        "a bowl of salad with tomatoes and cucumbers",
    ],
    "gardening": [
        "a row of tomato plants in a vegetable garden",
        "a woman watering flowers in a garden",
        "a wheelbarrow full of soil next to a shed",
        "a garden with roses and a wooden bench",
        "a man planting seeds in a raised bed",
        "a basket of vegetables from the garden",
        "a lawn mower on a green lawn",
        "a greenhouse full of seedlings",
    ],
    "dogs": [
        "a dog catching a frisbee in a park",
        "a puppy sleeping on a couch",
        "a brown dog running on the grass",
        "a woman walking her dog on a leash",
        "a dog with a ball in its mouth",
        "two dogs playing in the snow",
        "a puppy chewing on a toy",
        "a dog sitting next to a food bowl",
    ],
    "cycling": [
        "a man riding a bike down a mountain trail",
        "a bicycle parked next to a brick wall",
        "a group of cyclists riding down a road",
        "a woman riding a bike in a city street",
        "a mountain bike leaning against a tree",
        "a cyclist wearing a helmet on a road",
        "a row of bicycles parked on a sidewalk",
        "a man fixing a bicycle tire",
    ],
    "photography": [
        "a camera on a tripod at sunset",
        "a person holding a camera near a lake",
        "a photographer taking a picture of a mountain",
        "a camera lens on a wooden table",
        "a woman taking a photo of the city skyline",
        "a view of a lake with mountains in the background",
        "a vintage camera on a shelf",
        "a man with a camera on a bridge",
    ],
}

ADS = [
    ("surf-boards", "WaveCo", "Boards for every wave", "surf", ["surfboard", "wave"]),
    ("surf-wetsuits", "ColdWater", "Wetsuits that stay warm", "surf", ["wetsuit", "surfer", "ocean"]),
    ("kitchen-knives", "Edge & Co", "Knives that stay sharp", "kitchen", ["knife", "cutting board", "chef"]),
    ("kitchen-pans", "Castiron", "Pans for a lifetime", "kitchen", ["frying pan", "stove", "pot"]),
    ("garden-seeds", "GreenRow", "Heirloom seeds", "garden", ["vegetable garden", "seed", "tomato plant"]),
    ("garden-tools", "ShedWorks", "Tools that last", "garden", ["wheelbarrow", "lawn mower", "soil"]),
    ("pets-food", "GoodBoy", "Food dogs love", "pets", ["dog", "puppy", "food bowl"]),
    ("pets-toys", "Fetch!", "Toys for every chewer", "pets", ["frisbee", "ball", "toy"]),
    ("bike-helmets", "SafeRide", "Light helmets", "cycling", ["helmet", "cyclist", "bike"]),
    ("bike-repair", "Spokes", "Repair kits", "cycling", ["bicycle tire", "bicycle", "mountain bike"]),
    ("photo-lenses", "Glass", "Sharper lenses", "photo", ["camera lens", "camera", "tripod"]),
    ("photo-prints", "PrintLab", "Prints of your best shots", "photo", ["photo", "photographer", "picture"]),
]

GROUP_CATEGORY = {
    "surf": "surf",
    "cooking": "kitchen",
    "gardening": "garden",
    "dogs": "pets",
    "cycling": "cycling",
    "photography": "photo",
}


def bump(hour: float, peak: float, width: float) -> float:
    """A smooth daily peak around `peak` (local hours, wrapping at midnight)."""
    d = min(abs(hour - peak), 24 - abs(hour - peak))
    return math.exp(-(d / width) ** 2)


# When people are online (local hour) and when each category's ads get clicked.
def online_share(hour: int, weekend: bool) -> float:
    base = 0.02 + 0.10 * bump(hour, 8, 1.5) + 0.12 * bump(hour, 13, 1.5) + 0.22 * bump(hour, 21, 2.5)
    return base * (1.3 if weekend else 1.0)


def click_mood(category: str, hour: int, weekend: bool) -> float:
    peaks = {
        "surf": [(6, 1.5, 1.0), (17, 2.0, 0.6)],
        "kitchen": [(18, 1.5, 1.0), (12, 1.0, 0.4)],
        "garden": [(10, 2.0, 1.0)],
        "pets": [(21, 2.0, 1.0), (7, 1.0, 0.5)],
        "cycling": [(7, 1.2, 1.0), (17, 1.5, 0.7)],
        "photo": [(13, 2.5, 0.8), (20, 2.0, 0.6)],
    }[category]
    mood = 0.15 + sum(w * bump(hour, p, s) for p, s, w in peaks)
    if weekend and category in ("garden", "surf"):
        mood *= 1.6
    return mood


def simulate(engine: Engine, clock: ManualClock, rng: random.Random, users: int) -> dict:
    groups = list(CAPTIONS)
    membership = {f"user-{n:03d}": groups[n % len(groups)] for n in range(users)}
    posts = {(g, i): f"post-{g}-{i}" for g in groups for i in range(len(CAPTIONS[g]))}

    # The week before: likes build the profiles.
    before = WEEK_START - dt.timedelta(days=7)
    clock.set(WEEK_START)  # events may not lie ahead of the clock (beyond a day's skew)
    likes = 0
    for user, group in membership.items():
        for _ in range(rng.randint(6, 12)):
            g = group if rng.random() < 0.8 else rng.choice(groups)
            i = rng.randrange(len(CAPTIONS[g]))
            at = before + dt.timedelta(seconds=rng.randrange(7 * 86400))
            engine.record_like(user, posts[(g, i)], caption=CAPTIONS[g][i], at=at)
            likes += 1

    engine.add_ads(
        [
            {
                "id": ad_id,
                "advertiser": advertiser,
                "title": title,
                "category": category,
                "interests": interests,
                "landing_url": f"https://shop.example/{ad_id}",
                "cap_per_day": 3 if n % 3 == 0 else None,
            }
            for n, (ad_id, advertiser, title, category, interests) in enumerate(ADS)
        ]
    )
    opted_out = rng.sample(sorted(membership), k=users // 20)
    for user in opted_out:
        engine.set_opt_out(user, "pets")

    # The week: every hour, the users online open the app and see up to two ads.
    category_of = {a[0]: a[3] for a in ADS}
    shown = clicked = 0
    for h in range(7 * 24):
        hour_start = WEEK_START + dt.timedelta(hours=h)
        local = hour_start.astimezone(zoneinfo.ZoneInfo(TIME_ZONE))
        weekend = local.weekday() >= 5
        online = [u for u in membership if rng.random() < online_share(local.hour, weekend)]
        visits = sorted((rng.randrange(3600), u) for u in online)
        for second, user in visits:
            at = hour_start + dt.timedelta(seconds=second)
            clock.set(at)
            for match in engine.ads_for(user, k=2):
                ad = match.ad.id
                engine.record_impression(user, ad, at=at)
                shown += 1
                category = category_of[ad]
                fits = GROUP_CATEGORY[membership[user]] == category
                p = 0.02 + 0.2 * match.interest_score + 0.1 * match.lookalike_score + (0.06 if fits else 0.0)
                p *= click_mood(category, local.hour, weekend)
                if rng.random() < min(p, 0.9):
                    engine.record_click(user, ad, at=at + dt.timedelta(seconds=rng.randrange(5, 90)))
                    clicked += 1
    clock.set(WEEK_START + dt.timedelta(days=7))
    return {"membership": membership, "likes": likes, "shown": shown, "clicked": clicked, "opted_out": opted_out}


def quality(engine: Engine, membership: dict) -> tuple[float, float]:
    """Share of top-5 similar users in the same taste group, and of top-2 ads in the group's
    category, over all users."""
    same = total = ads_in = ads_total = 0
    for user, group in membership.items():
        peers = engine.similar_users(user, k=5)
        same += sum(membership[p.user] == group for p in peers)
        total += len(peers)
        for m in engine.ads_for(user, k=2):
            ads_in += m.ad.category == GROUP_CATEGORY[group]
            ads_total += 1
    return same / max(total, 1), ads_in / max(ads_total, 1)


def table_html(report) -> str:
    per_category: dict[str, list[int]] = {}
    for r in report.rows:
        c = per_category.setdefault(r.category, [0, 0])
        c[0] += r.impressions
        c[1] += r.clicks
    best_hour: dict[str, tuple[int, int]] = {}
    hourly: dict[tuple[str, int], int] = {}
    for r in report.rows:
        hourly[(r.category, r.hour)] = hourly.get((r.category, r.hour), 0) + r.clicks
    for (c, h), n in hourly.items():
        if n > best_hour.get(c, (-1, 0))[1]:
            best_hour[c] = (h, n)
    rows = []
    for c, (imp, clk) in sorted(per_category.items(), key=lambda kv: -kv[1][1]):
        h, n = best_hour.get(c, (0, 0))
        rows.append(
            f"<tr><td>{html.escape(c)}</td><td>{imp}</td><td>{clk}</td><td>{clk / imp:.1%}</td>"
            f"<td>{h:02d}:00 ({n} clicks)</td></tr>"
        )
    rows.append(
        f"<tr class='total'><td>all</td><td>{report.impressions}</td><td>{report.clicks}</td>"
        f"<td>{report.ctr or 0:.1%}</td><td></td></tr>"
    )
    return (
        "<table><thead><tr><th>category</th><th>impressions</th><th>clicks</th><th>CTR</th>"
        f"<th>busiest hour ({html.escape(report.time_zone)})</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ad clicks, week of {week}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1a202c; }}
table {{ border-collapse: collapse; margin: 1rem 0 2rem; }}
th, td {{ padding: .35rem .9rem; border-bottom: 1px solid #e2e8f0; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.total td {{ font-weight: 600; }}
p.note {{ color: #4a5568; }}
</style></head><body>
<h1>Ad clicks, week of {week}</h1>
<p class="note">{summary}</p>
{table}
{figures}
</body></html>
"""


def write_png(fig, path: pathlib.Path) -> str:
    """Writes the figure as PNG with kaleido, else with headless Chromium; returns how."""
    try:
        fig.write_image(str(path), width=1100, height=520, scale=1)
        return "kaleido"
    except Exception as e:  # kaleido missing, or no browser it can drive
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        raise SystemExit(f"no PNG: kaleido failed ({reason}) and no chromium on PATH (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        page = pathlib.Path(tmp) / "figure.html"
        fig.write_html(page, include_plotlyjs=True, full_html=True, config={"staticPlot": True},
                       default_width="1100px", default_height="520px")
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
             "--window-size=1116,536", "--virtual-time-budget=5000", f"--screenshot={path.resolve()}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    return f"headless Chromium (kaleido: {reason})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out/ads-report"))
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-png", action="store_true", help="skip the PNG (no kaleido or chromium needed)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.out / "sociallens.db"
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(f"{db}{suffix}").unlink(missing_ok=True)

    started = time.perf_counter()
    clock = ManualClock(WEEK_START - dt.timedelta(days=7))
    engine = Engine(f"sqlite://{db}", clock=clock, ads_config=AdsConfig(min_audience_size=20))
    sim = simulate(engine, clock, random.Random(args.seed), args.users)
    peers_same, ads_in_group = quality(engine, sim["membership"])

    report = engine.click_report(
        ("category", "date", "hour"), start=WEEK_START, end=WEEK_START + dt.timedelta(days=7), time_zone=TIME_ZONE
    )
    (args.out / "click_report.csv").write_text(report.to_csv())
    heatmap = plots.clicks_heatmap(report)
    figures = [heatmap, plots.ctr_by_category(report), plots.clicks_over_time(report)]
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    try:
        surf_audience = f"{engine.audience_size(ad='surf-boards')} users"
    except sociallens.PrivacyError:  # fewer than min_audience_size: not reported
        surf_audience = "too small to report"
    summary = (
        f"{len(sim['membership'])} users in {len(CAPTIONS)} taste groups liked {sim['likes']} posts; "
        f"over the week they were shown {report.impressions} ads and clicked {report.clicks} "
        f"(CTR {report.ctr:.1%}). {len(sim['opted_out'])} users opted out of pet ads. "
        f"Top-5 similar users from the same taste group: {peers_same:.0%}; top-2 ads in the group's "
        f"category: {ads_in_group:.0%}. Audience of the surfboard ad: {surf_audience}. "
        f"Hours and dates in {TIME_ZONE}. Every number comes from events recorded through "
        f"sociallens {sociallens.__version__} and read back with Engine.click_report."
    )
    page = PAGE.format(
        week=WEEK_START.date().isoformat(),
        summary=html.escape(summary),
        table=table_html(report),
        figures="\n".join(parts),
    )
    out_html = args.out / "ads_report.html"
    out_html.write_text(page)
    how = None if args.no_png else write_png(heatmap, args.out / "clicks_heatmap.png")

    print(summary)
    print(f"report: {out_html} ({out_html.stat().st_size / 1e6:.1f} MB, self-contained)")
    if how:
        print(f"png:    {args.out / 'clicks_heatmap.png'} (by {how})")
    print(f"csv:    {args.out / 'click_report.csv'} ({len(report)} rows)")
    print(f"took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
