"""Errors arrive as typed exceptions; a Rust panic never kills the interpreter."""

import pytest

import sociallens


def test_hierarchy():
    assert issubclass(sociallens.InvalidInputError, sociallens.SocialLensError)
    assert issubclass(sociallens.InvalidInputError, ValueError)
    assert issubclass(sociallens.StorageError, OSError)
    assert issubclass(sociallens.ConfigError, ValueError)
    assert issubclass(sociallens.UnsupportedError, NotImplementedError)
    assert issubclass(sociallens.InternalError, RuntimeError)
    assert sociallens.InvalidInputError.__module__ == "sociallens"
    assert issubclass(sociallens.TimeoutError, TimeoutError)
    assert issubclass(sociallens.HttpError, OSError)
    assert issubclass(sociallens.RateLimitError, sociallens.SocialLensError)


def test_invalid_input_is_value_error(engine):
    with pytest.raises(ValueError) as e:
        engine.record_like("", "p", interests=["x"])
    assert isinstance(e.value, sociallens.InvalidInputError)
    assert e.value.code == "INVALID_INPUT"
    assert "user id is empty" in str(e.value)


def test_conflicting_event_id_keeps_data(engine):
    engine.record_like("u", "p", interests=["x"], event_id="e")
    with pytest.raises(sociallens.ConflictError):
        engine.record_like("v", "q", interests=["y"], event_id="e")
    assert [i.term for i in engine.interests("u")] == ["x"]
    assert engine.interests("v") == []


def test_caption_without_extractor_is_config_error():
    engine = sociallens.Engine("memory://", extractor="none")
    with pytest.raises(sociallens.ConfigError) as e:
        engine.record_like("u", "p", caption="a cat")
    assert e.value.code == "CONFIG"


def test_bad_store_urls(tmp_path):
    with pytest.raises(sociallens.InvalidInputError):
        sociallens.Engine("postgres://nope")
    # DynamoDB table names are 3-255 characters; the URL is checked before any network call.
    with pytest.raises(sociallens.InvalidInputError):
        sociallens.Engine("dynamodb://t")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 10)
    with pytest.raises(OSError) as e:
        sociallens.Engine(f"sqlite://{junk}")
    assert e.value.code == "STORAGE"
    with pytest.raises(ValueError):
        sociallens.Engine("memory://", half_life_days=0)
    with pytest.raises(ValueError):
        sociallens.Engine("memory://", like_weight=-1)


def test_wrong_types_are_type_errors(engine):
    with pytest.raises(TypeError):
        engine.record_like("u", "p", interests="not-a-list")
    with pytest.raises(TypeError):
        engine.record_like("u", "p", interests=["x"], at="yesterday")


def test_panic_becomes_internal_error_and_engine_still_works(engine):
    with pytest.raises(sociallens.InternalError) as e:
        sociallens._native._panic_for_tests("boom")
    assert "boom" in str(e.value)
    assert e.value.code == "INTERNAL"
    engine.record_like("u", "p", interests=["alive"])
    assert engine.interests("u")[0].term == "alive"


@pytest.mark.parametrize(
    "code, cls, base",
    [
        ("RATE_LIMITED", sociallens.RateLimitError, RuntimeError),
        ("HTTP", sociallens.HttpError, OSError),
        ("TIMEOUT", sociallens.TimeoutError, TimeoutError),
        ("NOT_FOUND", sociallens.NotFoundError, LookupError),
        ("STORAGE", sociallens.StorageError, OSError),
        ("PRIVACY", sociallens.PrivacyError, PermissionError),
    ],
)
def test_every_code_maps_to_its_class(code, cls, base):
    with pytest.raises(cls) as e:
        sociallens._native._raise_for_tests(code)
    assert isinstance(e.value, base) and isinstance(e.value, sociallens.SocialLensError)
    assert e.value.code == code


def test_error_details_travel():
    with pytest.raises(sociallens.RateLimitError) as e:
        sociallens._native._raise_for_tests("RATE_LIMITED")
    assert e.value.retry_after == 1.5
    with pytest.raises(sociallens.HttpError) as e:
        sociallens._native._raise_for_tests("HTTP")
    assert (e.value.status, e.value.request_id) == (503, "req-1")
