"""Writes legacy_v3.db with sociallens as of commit e5d22e6 (SQLite schema version 3, weights
stored as (weight, updated_at)), and expected.json: every user's profile read at three times.

Run once with that release's wheel; `core/tests/decay_migration.rs` opens the file with the
current code and checks the same weights and counts. Do not regenerate with a newer wheel:
the point is a file written by the old schema.
"""
import json, os, sys
from datetime import datetime, timedelta, timezone
import sociallens as sl

here = os.path.dirname(os.path.abspath(__file__))
db = os.path.join(here, "legacy_v3.db")
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.remove(db + suffix)

t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
clock = sl.ManualClock(t0)
eng = sl.Engine(f"sqlite:///{db}", extractor="none", clock=clock)
day = timedelta(days=1)

# ana: likes spread over 40 days, one unlike, an upload.
for i, terms in enumerate([["surfboard", "beach"], ["dog", "beach"], ["surfboard"], ["guitar"]]):
    clock.set(t0 + i * 10 * day)
    eng.record_like("ana", f"a{i}", interests=terms)
clock.set(t0 + 41 * day)
eng.unlike("ana", "a1")
eng.record_upload("ana", "a-up", interests=["camera", "beach"])
# bo: out-of-order event times (within the allowed skew), a like then unlike of the last one.
clock.set(t0 + 20 * day)
eng.record_like("bo", "b1", interests=["pizza"], at=t0 + 20 * day - timedelta(hours=20))
eng.record_like("bo", "b2", interests=["pizza", "beer"])
eng.record_like("bo", "b3", interests=["beer"], at=t0 + 20 * day - timedelta(hours=5))
eng.unlike("bo", "b2")
# cy: one like, read much later.
clock.set(t0)
eng.record_like("cy", "c1", interests=["tennis", "racket"])
# ads and a click: clicks add weight too.
eng.add_ads([{"id": "ad1", "advertiser": "acme", "title": "Boards", "category": "surf",
              "interests": ["surfboard"]}])
clock.set(t0 + 42 * day)
eng.record_click("ana", "ad1")

expected = {"written_by": sl.__version__ if hasattr(sl, "__version__") else "0.1.0 (e5d22e6)",
            "reads": []}
for at_days in (42, 60, 400):
    clock.set(t0 + at_days * day)
    for user in ("ana", "bo", "cy"):
        expected["reads"].append({
            "at_millis": int((t0 + at_days * day).timestamp() * 1000),
            "user": user,
            "interests": [{"term": i.term, "weight": i.weight, "count": i.count,
                           "last_seen_millis": int(i.last_seen.timestamp() * 1000)}
                          for i in eng.interests(user, 100)],
        })
del eng
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("wrote", db)
