"""Hostile numbers never crash the interpreter (issue 11, items 1 and 2).

Each test runs its calls in a child interpreter (an abort, such as a failed allocation, kills
the child, not pytest), which prints one JSON line per call; the parent checks the exit code
and that every call either returned or raised a SocialLensError (TypeError for a value of the
wrong type), never a PanicException or any other BaseException.
"""

import json
import pathlib
import subprocess
import sys
import textwrap

SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "fixtures"
TINY = SHARED / "vit-gpt2" / "tiny-vit-gpt2"

# Defines `record(name, fn)` (runs fn, prints a JSON line) and a small populated engine.
PRELUDE = textwrap.dedent(
    """
    import json, math, sys
    import sociallens as sl

    def record(name, fn, value=None):
        line = {"call": name, "value": repr(value)}
        try:
            out = fn()
            line["ok"] = True
            try:
                line["len"] = len(out)
            except TypeError:
                pass
        except BaseException as e:  # a PanicException is a BaseException
            line["ok"] = False
            line["error"] = type(e).__name__
            line["sociallens"] = isinstance(e, sl.SocialLensError)
            line["code"] = getattr(e, "code", None)
            line["message"] = str(e)[:200]
        print(json.dumps(line), flush=True)

    def world(**kw):
        # Three users: audiences of them are listed only under a minimum of one.
        kw.setdefault("ads_config", sl.AdsConfig(min_audience_size=1))
        e = sl.Engine("memory://", **kw)
        e.add_ads([
            sl.Ad("ad-1", "WaveCo", "Boards", "surf", interests=["surfboard", "wave"]),
            sl.Ad("ad-2", "Chefs", "Knives", "kitchen", interests=["kitchen knife"]),
        ])
        e.add_products([{"id": "p-1", "title": "Surfboard wax", "keywords": ["surfboard"]}])
        for user, terms in [("ana", ["surfboard", "wave"]), ("ben", ["surfboard", "beach"]), ("cleo", ["surfboard"])]:
            e.record_like(user, "post-" + user, interests=terms)
        return e
    """
)


def run_child(body, args=()):
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    assert proc.returncode == 0, (
        f"the child exited with {proc.returncode} after {lines[-1:] if lines else 'no call'}:\n"
        f"{proc.stderr[-2000:]}"
    )
    return lines


SIZE_CHILD = """
SIZES = [0, 1, 2**32 - 1, 2**50, 2**64 - 1, -1, 2**64, 2**100]
e = world()
calls = {
    "Engine.interests": lambda n: e.interests("ana", n),
    "Engine.interests(k=)": lambda n: e.interests("ana", k=n),
    "Engine.recommend_products": lambda n: e.recommend_products("ana", n),
    "Engine.similar_users": lambda n: e.similar_users("ana", n),
    "Engine.ads_for": lambda n: e.ads_for("ana", n),
    "Engine.audience": lambda n: e.audience(interests=["surfboard"], limit=n),
    "Engine.audience_bypassing_privacy_minimum": lambda n: e.audience_bypassing_privacy_minimum(interests=["surfboard"], limit=n),
    "AdsConfig.lookalike_neighbors": lambda n: sl.AdsConfig(lookalike_neighbors=n),
    "AdsConfig.min_audience_size": lambda n: sl.AdsConfig(min_audience_size=n),
    "AdsConfig.candidate_budget": lambda n: sl.AdsConfig(candidate_budget=n),
    "Ad.cap_per_day": lambda n: sl.Ad("a", "b", "c", "d", cap_per_day=n),
    "Ad.cap_lifetime": lambda n: sl.Ad("a", "b", "c", "d", cap_lifetime=n),
    "Engine.add_ads(cap_per_day)": lambda n: e.add_ads([{"id": "ad-9", "advertiser": "b", "title": "c", "category": "d", "cap_per_day": n}]),
    "OpenAiCompatible.max_retries": lambda n: sl.OpenAiCompatible("http://127.0.0.1:9/v1", "m", max_retries=n),
    "OpenAiCompatible.requests_per_minute": lambda n: sl.OpenAiCompatible("http://127.0.0.1:9/v1", "m", requests_per_minute=n),
}
for name, fn in calls.items():
    for n in SIZES:
        record(name, lambda: fn(n), n)
# An engine whose lookalike part asks for the most neighbours allowed still answers.
record("ads_for with the largest AdsConfig", lambda: world(ads_config=sl.AdsConfig(lookalike_neighbors=100_000, candidate_budget=10**9)).ads_for("ana", 2**64 - 1))
"""


def test_every_size_argument_is_clamped_or_refused_in_a_subprocess():
    lines = run_child(SIZE_CHILD)
    assert len(lines) == 15 * 8 + 1, lines[-1]
    by_call = {}
    for line in lines:
        by_call.setdefault(line["call"], {})[line["value"]] = line
    # Reads: a size beyond what exists returns all there is.
    reads = {
        "Engine.interests": 2, "Engine.interests(k=)": 2, "Engine.recommend_products": 1,
        "Engine.similar_users": 2, "Engine.ads_for": 1, "Engine.audience": 3,
        "Engine.audience_bypassing_privacy_minimum": 3,
    }
    for call, total in reads.items():
        for value, line in by_call[call].items():
            n = eval(value)
            if n < 0:
                assert not line["ok"] and line["sociallens"] and line["code"] == "INVALID_INPUT", line
            else:
                assert line["ok"], line
                assert line["len"] == min(n, total), line
    # Settings: either taken or refused as INVALID_INPUT, never another error.
    for line in lines:
        if not line["ok"]:
            assert line["sociallens"] and line["code"] == "INVALID_INPUT", line
        if line["value"] == "1" and line["call"].startswith(("AdsConfig.min", "Ad.", "Engine.add_ads")):
            assert line["ok"], line
    for call in ["Ad.cap_per_day", "Ad.cap_lifetime", "Engine.add_ads(cap_per_day)"]:
        assert by_call[call]["4294967295"]["ok"], by_call[call]
        assert not by_call[call][repr(2**50)]["ok"], "caps are 32-bit counts"
    assert by_call["AdsConfig.lookalike_neighbors"][repr(2**50)]["code"] == "INVALID_INPUT"
    assert by_call["ads_for with the largest AdsConfig"]["None"]["len"] == 1


WALK_CHILD = """
import datetime, inspect, os, pathlib

HOSTILE = [float("nan"), float("inf"), float("-inf"), -1, 1e300, 2**64]
TINY = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
e = world()
llm = sl.OpenAiCompatible("http://127.0.0.1:9/v1", "m")
clock = sl.ManualClock(1_700_000_000)
report = e.click_report()
AD = dict(id="ad-7", advertiser="a", title="t", category="surf")
import tempfile
XDIR = tempfile.mkdtemp(prefix="sociallens-hostile-")

# Valid keyword arguments of every public callable that takes any; a walked callable that
# is missing here fails the walk.
VALID = {
    "Engine": dict(store="memory://", llm=llm, clock=clock),
    "ManualClock": dict(at=0),
    "ManualClock.set": dict(at=1_700_000_000),
    "ManualClock.advance": dict(by=1),
    "AdsConfig": dict(),
    "Ad": dict(AD),
    "OpenAiCompatible": dict(base_url="http://127.0.0.1:9/v1", model="m"),
    "Captioner.from_dir": dict(path="/nonexistent"),
    "Captioner.from_hub": None,  # only substituted: a valid call would download
    "MiniLmEmbedder.from_dir": dict(path="/nonexistent"),
    "MiniLmEmbedder.from_hub": None,
    "extract_interests": dict(captions=["a dog on a beach"]),
    "Engine.record_like": dict(user="ana", post_id="p-9", interests=["dog"]),
    "Engine.record_upload": dict(user="ana", post_id="p-10", interests=["dog"]),
    "Engine.unlike": dict(user="ana", post_id="p-9"),
    "Engine.interests": dict(user="ana"),
    "Engine.add_products": dict(items=[{"id": "p-2", "title": "Leash", "keywords": ["dog"]}]),
    "Engine.remove_product": dict(product_id="p-2"),
    "Engine.recommend_products": dict(user="nobody"),
    "Engine.add_ads": dict(ads=[AD]),
    "Engine.ad": dict(ad_id="ad-1"),
    "Engine.pause_ad": dict(ad_id="ad-1"),
    "Engine.resume_ad": dict(ad_id="ad-1"),
    "Engine.remove_ad": dict(ad_id="ad-7"),
    "Engine.similar_users": dict(user="ana"),
    "Engine.ads_for": dict(user="ana"),
    "Engine.audience": dict(interests=["surfboard"]),
    "Engine.audience_bypassing_privacy_minimum": dict(interests=["surfboard"]),
    "Engine.audience_size": dict(interests=["surfboard"]),
    "Engine.record_impression": dict(user="ana", ad="ad-1"),
    "Engine.record_click": dict(user="ana", ad="ad-1"),
    "Engine.set_opt_out": dict(user="ana", category="kitchen"),
    "Engine.opt_outs": dict(user="ana"),
    "Engine.click_report": dict(),
    "Engine.forget_user": dict(user="cleo"),
    "Engine.build_neighbours": dict(k=5),
    "Engine.export": dict(dir=XDIR, datasets=["events"], format="ndjson"),
    "Engine.import_files": dict(path=XDIR, dataset="events"),
}
if TINY is not None:
    VALID["Captioner.caption"] = dict(images=[])
    VALID["MiniLmEmbedder.embed"] = dict(texts=["dog"])

instances = {
    "Engine": e, "ManualClock": clock, "AdsConfig": sl.AdsConfig(), "Ad": sl.Ad(**AD),
    "OpenAiCompatible": llm, "Report": report,
}
if TINY is not None:
    instances["Captioner"] = sl.Captioner.from_dir(TINY)
for name, obj in [("Interest", e.interests("ana")[0]), ("EventOutcome", e.record_like("ben", "post-ben")),
                  ("ForgetReport", e.forget_user("nobody")), ("IndexStats", e.refresh_index()),
                  ("SimilarUser", e.similar_users("ana")[0]), ("AdMatch", e.ads_for("ana")[0]),
                  ("MatchedInterest", e.ads_for("ana")[0].matched[0]),
                  ("AudienceMember", e.audience(interests=["surfboard"])[0]),
                  ("Recommendation", e.recommend_products("ana")[0]), ("Product", e.products()[0])]:
    instances[name] = obj
e.record_click("ana", "ad-1")
instances["ReportRow"] = e.click_report().rows[0]

walked = []

def walk(name, fn):
    walked.append(name)
    if name not in VALID:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
        if params:
            print(json.dumps({"call": name, "missing": True}), flush=True)
            return
        record(name, fn)
        return
    valid = VALID[name]
    params = [p.name for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    if valid is not None:
        record(name, lambda: fn(**valid))
    for p in params:
        for v in HOSTILE:
            args = dict(valid or {})
            args[p] = v
            record(f"{name}({p}=)", lambda: fn(**args), v)

for attr in sorted(dir(sl)):
    obj = getattr(sl, attr)
    if attr.startswith("_"):
        continue
    if isinstance(obj, type) and issubclass(obj, BaseException):
        continue
    if isinstance(obj, type):
        if attr in VALID:
            walk(attr, obj)
        for m in sorted(vars(obj)):
            raw = inspect.getattr_static(obj, m)
            # Methods only: fields and getters are data descriptors, not callables.
            if m.startswith("_") or not (inspect.isroutine(raw) or isinstance(raw, staticmethod)):
                continue
            if isinstance(raw, staticmethod) or type(raw).__name__ == "builtin_function_or_method":
                walk(f"{attr}.{m}", getattr(obj, m))
            elif attr in instances:
                walk(f"{attr}.{m}", getattr(instances[attr], m))
            else:
                walked.append(f"{attr}.{m}")
                print(json.dumps({"call": f"{attr}.{m}", "no_instance": True}), flush=True)
    elif callable(obj):
        walk(attr, obj)
print(json.dumps({"walked": walked}), flush=True)
"""


def test_every_public_callable_survives_hostile_numbers_in_a_subprocess():
    args = [str(TINY)] if (TINY / "config.json").exists() else []
    proc_lines = run_child(WALK_CHILD, args)
    walked = proc_lines[-1]["walked"]
    calls = proc_lines[:-1]
    assert not [l for l in calls if l.get("missing")], "every callable with parameters needs valid arguments"
    missing_instances = {l["call"] for l in calls if l.get("no_instance")}
    # Model instances need model files: only the embedder's when the fixture is absent.
    assert missing_instances <= {"MiniLmEmbedder.embed", "Captioner.caption"}, missing_instances
    for required in ["Engine", "ManualClock.advance", "AdsConfig", "Ad", "OpenAiCompatible",
                     "Engine.ads_for", "extract_interests", "Report.to_csv"]:
        assert required in walked, required
    escaped = []
    for line in calls:
        if line.get("ok", True):
            continue
        if line["sociallens"] or line["error"] == "TypeError":
            continue
        if line["call"] == "Report.to_pandas" and line["error"] in ("ImportError", "ModuleNotFoundError"):
            continue
        escaped.append(line)
    assert not escaped, escaped
    # The reported cases: a half-life of 1e300 days and a clock moved by 1e300 s.
    by = {(l["call"], l.get("value")): l for l in calls}
    assert by[("Engine(half_life_days=)", "1e+300")]["code"] == "INVALID_INPUT"
    assert by[("ManualClock.advance(by=)", "1e+300")]["code"] == "INVALID_INPUT"
    assert by[("Engine(llm_cache_ttl=)", "1e+300")]["code"] == "INVALID_INPUT"
    assert by[("OpenAiCompatible(deadline=)", "nan")]["code"] == "INVALID_INPUT"
    # Infinity means "no decay", as documented.
    assert by[("Engine(half_life_days=)", "inf")]["ok"]
    hostile_calls = [l for l in calls if l.get("value") not in (None, "None")]
    assert len(hostile_calls) > 300, len(hostile_calls)


def test_a_residual_panic_is_an_internal_error_in_a_subprocess():
    lines = run_child('record("panic", lambda: sl._native._panic_for_tests("boom"))')
    assert lines[0]["error"] == "InternalError" and lines[0]["code"] == "INTERNAL", lines
