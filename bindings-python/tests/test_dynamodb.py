"""`Engine(store="dynamodb://…")` from the wheel, against the DynamoDB-compatible server (moto)
that scripts/test.sh starts on 127.0.0.1 and names in SOCIALLENS_DYNAMODB_ENDPOINT. Without
that variable the tests skip, except under CI, where a missing server is a failure."""

import datetime as dt
import os
import uuid

import pytest

import sociallens
from sociallens import Engine

ENDPOINT = os.environ.get("SOCIALLENS_DYNAMODB_ENDPOINT")

if not ENDPOINT:
    if os.environ.get("CI"):
        raise RuntimeError("SOCIALLENS_DYNAMODB_ENDPOINT is not set under CI")
    pytest.skip("no DynamoDB endpoint (SOCIALLENS_DYNAMODB_ENDPOINT)", allow_module_level=True)


def url(table=None):
    table = table or f"py-{uuid.uuid4().hex[:12]}"
    return f"dynamodb://{table}?region=us-east-1&endpoint={ENDPOINT}&create=true"


@pytest.fixture
def clock():
    return sociallens.ManualClock(dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc))


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    # The standard AWS chain: moto accepts any static key.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", "test"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def test_an_engine_over_dynamodb_keeps_profiles_across_processes(clock):
    store = url()
    a = Engine(store, clock=clock)
    assert a.record_like("ana", "p1", interests=["surfboard", "beach"]).status == "applied"
    assert a.record_like("ana", "p1", interests=["surfboard", "beach"]).status == "already_active"
    a.record_like("ana", "p2", interests=["surfboard"])
    # A second engine on the same table (another process or Lambda) sees the same profile.
    b = Engine(store, clock=clock)
    got = {i.term: (i.weight, i.count) for i in b.interests("ana")}
    assert got == {"surfboard": (2.0, 2), "beach": (1.0, 1)}
    assert b.unlike("ana", "p2").status == "applied"
    assert {i.term: i.count for i in a.interests("ana")} == {"surfboard": 1, "beach": 1}
    report = b.forget_user("ana")
    assert report.interests == 2 and report.total >= 4
    assert a.interests("ana") == []


def test_stateless_serving_over_dynamodb(clock):
    store = url()
    writer = Engine(store, clock=clock)
    writer.add_ads([{"id": "surf-1", "advertiser": "W", "title": "Boards", "category": "surf",
                     "interests": ["surfboard"]}])
    writer.record_like("ana", "p1", interests=["surfboard", "wave"])
    writer.record_like("ben", "p2", interests=["surfboard", "wave"])
    assert writer.build_neighbours(k=10).users == 2
    server = Engine(store, clock=clock, serving="stateless")
    assert [p.user for p in server.similar_users("ana")] == ["ben"]
    assert [m.ad.id for m in server.ads_for("ana")] == ["surf-1"]


def test_dynamodb_errors_are_typed_and_keep_secrets_out():
    dead = "dynamodb://deadtable?region=us-east-1&endpoint=http://127.0.0.1:9&create=true&deadline=1"
    engine = Engine(dead)
    with pytest.raises(sociallens.StorageError) as e:
        engine.interests("ana")
    assert e.value.code == "UNAVAILABLE"
    with pytest.raises(sociallens.InvalidInputError):
        Engine("dynamodb://deadtable?create=maybe")
    with pytest.raises(sociallens.SocialLensError) as e:
        Engine("dynamodb://deadtable?region=us-east-1&deadline=1&endpoint=http://me:s3cret@127.0.0.1:9").interests("x")
    assert "s3cret" not in str(e.value)
