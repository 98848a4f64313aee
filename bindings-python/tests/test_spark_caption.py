"""Batch captioning on Spark (local mode, real Spark and the tiny fixture model): the job's
captions and interests equal the single-process ones, its files import into a store's
caption cache, and later likes of those images are served from it.

Runs in .venv-spark (scripts/test.sh makes it); skipped where pyspark is not installed."""

import datetime as dt
import os
import pathlib

import pytest

pyspark = pytest.importorskip("pyspark")
pq = pytest.importorskip("pyarrow.parquet")

import sociallens  # noqa: E402
import sociallens.spark as sls  # noqa: E402

SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "fixtures"
TINY = SHARED / "vit-gpt2" / "tiny-vit-gpt2"
IMAGES = sorted((SHARED / "vit-gpt2" / "images").glob("*"))



def test_captions_equal_the_single_process_ones_from_paths_and_bytes(spark):
    assert TINY.exists() and len(IMAGES) >= 5, f"fixtures missing at {SHARED}"
    model = sociallens.Captioner.from_dir(TINY)
    expected = model.caption([str(p) for p in IMAGES])
    want_interests = sociallens.extract_interests(expected)

    by_path = spark.createDataFrame(
        [(i, str(p)) for i, p in enumerate(IMAGES)], "id int, image string"
    ).repartition(3)
    rows = sls.caption_images(by_path, TINY, keep=["id"], batch_size=2).collect()
    got = {r.id: r for r in rows}
    assert sorted(got) == list(range(len(IMAGES)))
    for i, p in enumerate(IMAGES):
        r = got[i]
        assert r.error is None
        assert r.caption == expected[i]
        assert r.interests == want_interests[i]
        assert r.model == model.model_id
        import hashlib

        assert r.image_sha256 == hashlib.sha256(p.read_bytes()).hexdigest()

    # The way remote images arrive: binaryFile's path + content.
    files = spark.read.format("binaryFile").load([str(p) for p in IMAGES])
    rows = sls.caption_images(files, TINY, image_col="content", keep=["path"]).collect()
    by_name = {pathlib.Path(r.path.replace("file:", "")).name: r.caption for r in rows}
    assert by_name == {p.name: c for p, c in zip(IMAGES, expected)}


def test_a_bad_image_is_an_error_row_and_the_others_are_captioned(spark):
    model = sociallens.Captioner.from_dir(TINY)
    good = IMAGES[0].read_bytes()
    frame = spark.createDataFrame(
        [("ok", bytearray(good)), ("junk", bytearray(b"not an image")), ("none", None)],
        "id string, image binary",
    )
    rows = {r.id: r for r in sls.caption_images(frame, TINY, keep=["id"]).collect()}
    assert rows["ok"].caption == model.caption([good])[0] and rows["ok"].error is None
    assert rows["junk"].caption is None and rows["junk"].error.split(":")[0].endswith("Error")
    assert rows["junk"].image_sha256 is not None
    assert rows["none"].caption is None and "null" in rows["none"].error
    with pytest.raises(ValueError, match="no column 'picture'"):
        sls.caption_images(frame, TINY, image_col="picture")
    with pytest.raises(ValueError, match="cannot keep 'caption'"):
        sls.caption_images(frame.withColumnRenamed("id", "caption"), TINY, keep=["caption"])


def test_the_worker_bounds_native_threads_by_spark_task_cpus(spark, monkeypatch):
    # In the driver's process, as in a worker: set when unset, the user's value kept.
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    sls._worker_setup(3)
    assert os.environ["RAYON_NUM_THREADS"] == "3"
    monkeypatch.setenv("RAYON_NUM_THREADS", "7")
    sls._worker_setup(2)
    assert os.environ["RAYON_NUM_THREADS"] == "7"
    assert sls._task_cpus(spark) == 1

    # In Spark's Python workers, after a captioning task ran there.
    frame = spark.createDataFrame([(str(IMAGES[0]),)], "image string").coalesce(1)
    sls.caption_images(frame, TINY).collect()

    def env(frames):
        import pandas as pd

        import sociallens.spark as in_worker

        for _ in frames:
            yield pd.DataFrame(
                {
                    "loaded": [bool(in_worker._MODELS)],
                    "threads": [os.environ.get("RAYON_NUM_THREADS")],
                }
            )

    # Spark may hand the probe to a worker that never captioned: judge those that did.
    probes = spark.range(8).repartition(8).mapInPandas(env, "loaded boolean, threads string")
    seen = {r.threads for r in probes.collect() if r.loaded}
    assert seen == {"1"}


def test_written_captions_import_into_the_cache_and_serve_later_likes(spark, tmp_path):
    model = sociallens.Captioner.from_dir(TINY)
    frame = spark.createDataFrame(
        [(str(p),) for p in IMAGES] + [(str(IMAGES[0]),), ("/nonexistent.jpg",)],
        "image string",
    )
    out = tmp_path / "batch"
    written = sls.write_captions(sls.caption_images(frame, TINY), out)
    assert written["rows"] == len(IMAGES)  # the repeated image once, the missing file out
    assert written["failed"] == 1
    assert (out / "manifest.json").is_file()
    table = pq.read_table(out / "captions").to_pylist()
    assert len(table) == len(IMAGES)
    assert {r["model"] for r in table} == {model.model_id}

    clock = sociallens.ManualClock(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    engine = sociallens.Engine(
        f"sqlite://{tmp_path / 'app.db'}", captioner=model, clock=clock
    )
    reports = engine.import_files(out)
    assert [(r["dataset"], r["rows"], r["applied"]) for r in reports] == [
        ("captions", len(IMAGES), len(IMAGES))
    ]
    again = engine.import_files(out)
    assert again[0]["unchanged"] == len(IMAGES)

    outcome = engine.record_like("ana", "p1", image=IMAGES[1].read_bytes())
    by_hash = {r["image_sha256"]: r for r in table}
    import hashlib

    row = by_hash[hashlib.sha256(IMAGES[1].read_bytes()).hexdigest()]
    assert outcome.caption == row["caption"]
    exported = engine.export(tmp_path / "export", datasets=["captions"])
    stored = {r["image_sha256"]: r for r in pq.read_table(exported["captions"]).to_pylist()}
    # Not re-captioned: the time is still the Spark job's, not the engine clock's 2030.
    spark_time = row["created_at"]
    spark_ms = spark_time.replace(microsecond=spark_time.microsecond // 1000 * 1000)
    assert stored[row["image_sha256"]]["created_at"] == spark_ms
    assert len(stored) == len(IMAGES)


def test_the_example_captions_computes_lookalikes_and_imports(tmp_path):
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    db = tmp_path / "app.db"
    engine = sociallens.Engine(f"sqlite://{db}")
    for i in range(4):
        engine.record_like(f"u{i}", f"p{i}", interests=["dog", "park", f"t{i}"])
    images = tmp_path / "images"
    images.mkdir()
    for p in IMAGES[:3]:
        (images / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "batch"
    run = subprocess.run(
        [
            sys.executable,
            str(root / "examples/python/spark_batch.py"),
            "--model-dir", str(TINY),
            "--images", str(images),
            "--store", f"sqlite://{db}",
            "--out", str(out),
            "--k", "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "captions: 3 written, 0 failed" in run.stdout
    server = sociallens.Engine(f"sqlite://{db}", serving="stateless")
    assert len(server.similar_users("u0", k=2)) == 2
