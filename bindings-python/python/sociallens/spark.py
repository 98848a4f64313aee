"""Batch jobs on Apache Spark: captions for a DataFrame of images, and lookalike neighbours
and audiences from an interest export, written as files that ``Engine.import_files`` loads.

Needs ``pip install 'sociallens[spark]'`` (pyspark 4, pandas, pyarrow, numpy, scipy) on the
driver and the executors, and Java 17 or newer.

Captioning runs through ``mapInPandas``: each Python worker loads the model once (a
module-level cache keyed by model folder and kernels) and keeps it for every later task, as
Spark reuses its Python workers (``spark.python.worker.reuse``, on by default). Before the
model loads, the worker sets ``RAYON_NUM_THREADS`` to ``spark.task.cpus``, so that a task
uses the cores Spark gave it and no more; a value the user set (``spark.executorEnv``) wins.

>>> from pyspark.sql import SparkSession                       # doctest: +SKIP
>>> import sociallens.spark as sls                             # doctest: +SKIP
>>> spark = SparkSession.builder.getOrCreate()                 # doctest: +SKIP
>>> images = spark.read.format("binaryFile").load("s3://bucket/photos/")  # doctest: +SKIP
>>> captions = sls.caption_images(images, "/models/vit-gpt2", image_col="content",
...                               keep=["path"])             # doctest: +SKIP
>>> sls.write_captions(captions, "s3://bucket/sociallens-batch")  # doctest: +SKIP
>>> interests = spark.read.parquet("s3://bucket/export/interests.parquet")  # doctest: +SKIP
>>> sls.write_lookalikes("s3://bucket/sociallens-batch",
...                      neighbours=sls.lookalikes(interests, k=50))  # doctest: +SKIP
>>> # then, next to the store: Engine(store).import_files("sociallens-batch")

``docs/spark.md`` has the whole walk-through and the measured recall and run times.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import threading
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "audiences",
    "caption_images",
    "lookalikes",
    "write_captions",
    "write_lookalikes",
]

FORMAT = "sociallens-export"
FORMAT_VERSION = 1

# One captioner per (model folder, kernels) per Python worker process, loaded on first use.
_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _worker_setup(task_cpus: int) -> None:
    """Bounds the native thread pool to the task's cores, unless the user chose a size.

    Must run before the first native call of the process: rayon sizes its pool once.
    """
    if not os.environ.get("RAYON_NUM_THREADS"):
        os.environ["RAYON_NUM_THREADS"] = str(max(1, int(task_cpus)))


def _captioner(model_dir: str, kernels: str) -> Any:
    key = (model_dir, kernels)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            import sociallens

            model = sociallens.Captioner.from_dir(model_dir, kernels=kernels)
            _MODELS[key] = model
        return model


def _task_cpus(spark: "SparkSession") -> int:
    try:
        return max(1, int(spark.conf.get("spark.task.cpus", "1")))
    except (TypeError, ValueError):
        return 1


def _read_image(value: Any) -> bytes:
    """Bytes as they are; a string is a local path or a ``file:`` URI."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        path = value
        if path.startswith("file:"):
            from urllib.parse import unquote, urlparse

            path = unquote(urlparse(path).path)
        elif "://" in path:
            raise ValueError(
                f"{value!r}: only local paths are read here; load remote images with "
                'spark.read.format("binaryFile") and pass its "content" column'
            )
        with open(path, "rb") as f:
            return f.read()
    if value is None:
        raise ValueError("the image is null")
    raise TypeError(f"an image must be bytes or a path, not {type(value).__name__}")


def _caption_batch(model: Any, images: list[bytes]) -> list[tuple[str | None, str | None]]:
    """(caption, error) per image: the batch at once, or one by one if any image fails."""
    import sociallens

    try:
        return [(c, None) for c in model.caption(images)]
    except sociallens.SocialLensError:
        out: list[tuple[str | None, str | None]] = []
        for img in images:
            try:
                out.append((model.caption([img])[0], None))
            except sociallens.SocialLensError as e:
                out.append((None, f"{type(e).__name__}: {e}"))
        return out


def _caption_fn(
    model_dir: str,
    kernels: str,
    image_col: str,
    keep: list[str],
    batch_size: int,
    task_cpus: int,
    extractor: str,
    nltk_model_dir: str | None,
):
    def run(frames: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        _worker_setup(task_cpus)
        import hashlib

        import pandas as pd

        import sociallens

        model = _captioner(model_dir, kernels)
        model_id = model.model_id
        for frame in frames:
            for start in range(0, len(frame), batch_size):
                chunk = frame.iloc[start : start + batch_size]
                n = len(chunk)
                hashes: list[str | None] = [None] * n
                captions: list[str | None] = [None] * n
                errors: list[str | None] = [None] * n
                good: list[int] = []
                data: list[bytes] = []
                for i, value in enumerate(chunk[image_col].tolist()):
                    try:
                        b = _read_image(value)
                    except (OSError, ValueError, TypeError) as e:
                        errors[i] = f"{type(e).__name__}: {e}"
                        continue
                    hashes[i] = hashlib.sha256(b).hexdigest()
                    good.append(i)
                    data.append(b)
                if data:
                    for i, (cap, err) in zip(good, _caption_batch(model, data)):
                        captions[i], errors[i] = cap, err
                texts = [c for c in captions if c is not None]
                found = iter(
                    sociallens.extract_interests(texts, mode=extractor, nltk_model_dir=nltk_model_dir)
                    if extractor != "none" and texts
                    else [[] for _ in texts]
                )
                interests = [None if c is None else next(found) for c in captions]
                now = pd.Timestamp(_dt.datetime.now(_dt.timezone.utc))
                out = chunk[keep].reset_index(drop=True).copy()
                out["image_sha256"] = hashes
                out["model"] = [model_id if c is not None else None for c in captions]
                out["caption"] = captions
                out["interests"] = interests
                out["created_at"] = [now if c is not None else pd.NaT for c in captions]
                out["error"] = errors
                yield out

    return run


def caption_images(
    images: "DataFrame",
    model_dir: str | os.PathLike[str],
    *,
    image_col: str = "image",
    keep: Sequence[str] = (),
    kernels: str = "auto",
    batch_size: int = 8,
    extractor: str = "interests",
    nltk_model_dir: str | os.PathLike[str] | None = None,
) -> "DataFrame":
    """Captions every image of a DataFrame and extracts each caption's interests.

    ``image_col`` holds the encoded image as bytes (``spark.read.format("binaryFile")``
    gives them in ``content``, from any file system Spark reads) or a local path, the same
    on every executor. ``model_dir`` is a model folder present on every executor (as
    ``Captioner.from_dir`` takes it). ``keep`` names input columns to carry over (an id,
    the path). ``extractor``: ``"interests"`` (the default extractor), ``"textblob"`` (the
    prototype's nouns) or ``"none"``.

    The result has the kept columns, then ``image_sha256``, ``model`` (the captioner's
    ``model_id``), ``caption``, ``interests`` (a list of strings), ``created_at`` and
    ``error``. An image that cannot be read or decoded does not fail the job: its row has
    ``error`` set and nulls where the caption would be. It is lazy, as Spark is: nothing
    runs until the result is written or collected.
    """
    from pyspark.sql.types import (
        ArrayType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if extractor not in ("interests", "textblob", "none"):
        raise ValueError('extractor must be "interests", "textblob" or "none"')
    keep = list(keep)
    missing = [c for c in [image_col, *keep] if c not in images.columns]
    if missing:
        raise ValueError(f"no column {missing[0]!r} in the DataFrame: it has {images.columns}")
    new = ["image_sha256", "model", "caption", "interests", "created_at", "error"]
    clash = [c for c in keep if c in new]
    if clash:
        raise ValueError(f"cannot keep {clash[0]!r}: the output has a column of that name")
    fields = [images.schema[c] for c in keep] + [
        StructField("image_sha256", StringType(), True),
        StructField("model", StringType(), True),
        StructField("caption", StringType(), True),
        StructField("interests", ArrayType(StringType(), False), True),
        StructField("created_at", TimestampType(), True),
        StructField("error", StringType(), True),
    ]
    spark = images.sparkSession
    fn = _caption_fn(
        os.fspath(model_dir),
        kernels,
        image_col,
        keep,
        batch_size,
        _task_cpus(spark),
        extractor,
        os.fspath(nltk_model_dir) if nltk_model_dir is not None else None,
    )
    return images.select(image_col, *[c for c in keep if c != image_col]).mapInPandas(
        fn, StructType(fields)
    )


# ---------------------------------------------------------------------------------------
# Writing files the import path reads


@contextlib.contextmanager
def _conf(spark: "SparkSession", key: str, value: str) -> Iterator[None]:
    """Sets a session conf for the duration of a block, then puts back what was there."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _hadoop_path(spark: "SparkSession", path: str):
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p, p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _read_text(spark: "SparkSession", path: str) -> str | None:
    p, fs = _hadoop_path(spark, path)
    if not fs.exists(p):
        return None
    stream = fs.open(p)
    try:
        reader = spark.sparkContext._jvm.java.io.BufferedReader(
            spark.sparkContext._jvm.java.io.InputStreamReader(stream, "UTF-8")
        )
        lines = []
        line = reader.readLine()
        while line is not None:
            lines.append(line)
            line = reader.readLine()
        return "\n".join(lines)
    finally:
        stream.close()


def _write_text(spark: "SparkSession", path: str, text: str) -> None:
    p, fs = _hadoop_path(spark, path)
    out = fs.create(p, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


def _write_dataset(df: "DataFrame", out_dir: str, name: str) -> tuple[list[str], int]:
    """Writes ``out_dir/name/part-*.parquet`` (SNAPPY, microsecond timestamps); returns the
    part files relative to ``out_dir`` and the row count read back from their footers."""
    spark = df.sparkSession
    target = out_dir.rstrip("/") + "/" + name
    with _conf(spark, "spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS"):
        df.write.mode("overwrite").option("compression", "snappy").parquet(target)
    written = spark.read.parquet(target)
    files = sorted(f"{name}/{f.rstrip('/').rsplit('/', 1)[-1]}" for f in written.inputFiles())
    return files, written.count()


def _update_manifest(
    spark: "SparkSession",
    out_dir: str,
    entries: Mapping[str, Any],
    remove: Sequence[str] = (),
) -> None:
    """Adds datasets to ``out_dir/manifest.json`` and takes ``remove`` out of it, keeping
    the entries of other datasets already there. Writers call it with ``remove`` before
    they overwrite a dataset's files and with ``entries`` after, so that the manifest never
    lists a file that is being replaced: its presence says the files it names are complete.
    """
    path = out_dir.rstrip("/") + "/manifest.json"
    old = _read_text(spark, path)
    manifest: dict[str, Any] = {}
    if old:
        try:
            manifest = json.loads(old)
        except ValueError:
            manifest = {}
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            manifest = {}
    datasets = dict(manifest.get("datasets", {}))
    for name in remove:
        datasets.pop(name, None)
    datasets.update(entries)
    if not datasets:
        p, fs = _hadoop_path(spark, path)
        if fs.exists(p):
            fs.delete(p, False)
        return
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
        "store": "spark",
        "datasets": dict(sorted(datasets.items())),
    }
    _write_text(spark, path, json.dumps(manifest, indent=2) + "\n")


def write_captions(captions: "DataFrame", out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Writes the captioned rows of :func:`caption_images` as the ``captions`` dataset.

    Files go to ``out_dir/captions/part-*.parquet`` and are listed in
    ``out_dir/manifest.json``, so that ``Engine.import_files(out_dir)`` (or
    ``import_files(out_dir + "/captions", dataset="captions")``) loads them into the store's
    caption cache: a later like of the same image with the same model is served from it
    without running the model. Rows with an error are left out (and counted); an image seen
    twice is written once. ``out_dir`` may be on any file system Spark writes to.

    Returns ``{"files": [...], "rows": N, "failed": M}``.
    """
    from pyspark.sql import functions as F

    from pyspark import StorageLevel

    out_dir = os.fspath(out_dir)
    spark = captions.sparkSession
    ok = F.col("error").isNull() & F.col("caption").isNotNull()
    # Counted and written from one run of the model, not two.
    captions = captions.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        failed = captions.where(~ok).count()
        rows = (
            captions.where(ok)
            .select("image_sha256", "model", "caption", "created_at", "interests")
            .dropDuplicates(["image_sha256", "model"])
        )
        _update_manifest(spark, out_dir, {}, remove=["captions"])
        files, n = _write_dataset(rows, out_dir, "captions")
    finally:
        captions.unpersist()
    _update_manifest(spark, out_dir, {"captions": {"files": files, "rows": n}})
    return {"files": files, "rows": n, "failed": failed}


# ---------------------------------------------------------------------------------------
# Lookalikes


def _as_frame(spark: "SparkSession | None", data: Any, what: str) -> "DataFrame":
    from pyspark.sql import DataFrame

    if isinstance(data, DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        if spark is None:
            from pyspark.sql import SparkSession

            spark = SparkSession.builder.getOrCreate()
        return spark.read.parquet(os.fspath(data))
    raise TypeError(f"{what} must be a Spark DataFrame or a path to Parquet files")


def _to_pandas(df: "DataFrame") -> "pd.DataFrame":
    """``toPandas`` through Arrow (columnar, many times faster than pickled rows)."""
    with _conf(df.sparkSession, "spark.sql.execution.arrow.pyspark.enabled", "true"):
        return df.toPandas()


def _unit_vectors(interests: "DataFrame", max_terms: int) -> "DataFrame":
    """(user, term, w): each user's heaviest ``max_terms`` weights, as a unit vector."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    missing = [c for c in ("user", "term", "weight") if c not in interests.columns]
    if missing:
        raise ValueError(
            f"the interests have no column {missing[0]!r}: pass the export's interests "
            "dataset (user, term, weight, ...)"
        )
    w = interests.select(
        F.col("user").cast("string").alias("user"),
        F.col("term").cast("string").alias("term"),
        F.col("weight").cast("double").alias("weight"),
    ).where(
        F.col("user").isNotNull()
        & F.col("term").isNotNull()
        & (F.col("weight") > 0)
        & (F.col("weight") < float("inf"))
    )
    # One weight per (user, term): an export has one row each, a concatenation may not.
    w = w.groupBy("user", "term").agg(F.sum("weight").alias("weight"))
    by_weight = Window.partitionBy("user").orderBy(F.desc("weight"), "term")
    w = w.withColumn("_r", F.row_number().over(by_weight)).where(F.col("_r") <= max_terms)
    norm = Window.partitionBy("user")
    return w.select(
        "user",
        "term",
        (F.col("weight") / F.sqrt(F.sum(F.col("weight") * F.col("weight")).over(norm))).alias(
            "w"
        ),
    )


def _pair_products(x, f: "pd.DataFrame"):
    """Candidate pairs (a, b) of a frame, and the term-wise products of their unit rows."""
    import numpy as np

    a = f["a"].to_numpy(np.int64)
    b = f["b"].to_numpy(np.int64)
    return a, b, x[a].multiply(x[b]).tocsr()


def _score_fn(bc_matrix):
    """Exact cosines of candidate pairs (a, b) from the broadcast CSR matrix of unit rows,
    each pair in both directions (each user ranks their own neighbours)."""

    def run(frames: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        import numpy as np
        import pandas as pd

        for f in frames:
            if len(f) == 0:
                continue
            a, b, prod = _pair_products(bc_matrix.value, f)
            s = np.minimum(np.asarray(prod.sum(axis=1), dtype=np.float64).ravel(), 1.0)
            keep = s > 0
            a, b, s = a[keep], b[keep], s[keep]
            yield pd.DataFrame(
                {"a": np.concatenate([a, b]), "b": np.concatenate([b, a]), "score": np.r_[s, s]}
            )

    return run


def _named_fn(bc_matrix, bc_users, bc_terms, top: int):
    """Ranked pairs by name, with the terms they share, largest contribution first."""

    def run(frames: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        import numpy as np
        import pandas as pd

        users, terms = bc_users.value, bc_terms.value
        for f in frames:
            if len(f) == 0:
                continue
            a, b, prod = _pair_products(bc_matrix.value, f)
            shared = []
            for i in range(prod.shape[0]):
                lo, hi = prod.indptr[i], prod.indptr[i + 1]
                idx, val = prod.indices[lo:hi], prod.data[lo:hi]
                shared.append([terms[j] for j in idx[np.lexsort((idx, -val))[:top]]])
            yield pd.DataFrame(
                {
                    "user": users[a],
                    "neighbour": users[b],
                    "rank": f["rank"].to_numpy(np.int32),
                    "score": f["score"].to_numpy(np.float64),
                    "shared_terms": shared,
                }
            )

    return run


def lookalikes(
    interests: "DataFrame | str | os.PathLike[str]",
    *,
    k: int = 50,
    num_hash_tables: int = 40,
    sketch_terms: int = 8,
    max_term_users: int | None = None,
    max_terms: int = 500,
    seed: int = 1,
    computed_at: _dt.datetime | None = None,
) -> "DataFrame":
    """Each user's ``k`` most similar users (cosine of their interest vectors), as the
    ``neighbours`` dataset that :func:`write_lookalikes` writes and the store imports.

    ``interests``: the export's ``interests`` dataset (weights already decayed to the export
    time), as a DataFrame or a path. Each user is a unit vector of their ``max_terms``
    heaviest terms, as the in-process index makes it.

    Candidates come from ``pyspark.ml.feature.MinHashLSH`` over a sketch of each user: their
    ``sketch_terms`` heaviest terms (by weight times inverse frequency) among the terms held
    by at most ``max_term_users`` users (default: 2% of the users, at least 1,000). Very
    frequent terms are capped out of the sketch because a term in a large share of the
    users puts them all in one bucket, and the self-join grows with the square of it; they
    still count in the scores. ``num_hash_tables`` trades run time for recall. Every
    candidate pair is then scored exactly (a sparse dot product, from the unit vectors
    broadcast as one CSR matrix: they must fit in an executor's memory, about 12 bytes per
    user-term), and each user keeps the ``k`` best, ties by neighbour id.

    Columns: ``user``, ``neighbour``, ``rank`` (0 = most similar), ``score``,
    ``shared_terms`` (the five shared terms adding most to the cosine), ``computed_at``.
    Recall against the exact top 50 is measured in ``docs/spark.md``.
    """
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from pyspark.ml.feature import MinHashLSH
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    if k < 1:
        raise ValueError("k must be at least 1")
    if num_hash_tables < 1 or sketch_terms < 1 or max_terms < 1:
        raise ValueError("num_hash_tables, sketch_terms and max_terms must be at least 1")
    interests = _as_frame(None, interests, "interests")
    spark = interests.sparkSession
    sc = spark.sparkContext
    at = computed_at or _dt.datetime.now(_dt.timezone.utc)
    if at.tzinfo is None:
        raise ValueError("computed_at must carry a time zone")

    # The unit vectors come to the driver once: users and terms are numbered there (sorted,
    # so that uid order is user-id order for the ties), and the CSR matrix is built there.
    vec = _to_pandas(_unit_vectors(interests, max_terms))
    users, uids = np.unique(vec["user"].to_numpy(object), return_inverse=True)
    terms, tids = np.unique(vec["term"].to_numpy(object), return_inverse=True)
    n_users = len(users)
    if n_users < 2:
        return spark.createDataFrame(
            [],
            "user string, neighbour string, rank int, score double, "
            "shared_terms array<string>, computed_at timestamp",
        )
    df = np.bincount(tids)
    coo = pd.DataFrame(
        {"uid": uids, "tid": tids, "w": vec["w"].to_numpy(np.float64), "df": df[tids]}
    )
    del vec
    cap = max_term_users if max_term_users is not None else max(1000, n_users // 50)
    matrix = sp.csr_matrix(
        (coo["w"].to_numpy(), (coo["uid"].to_numpy(), coo["tid"].to_numpy())),
        shape=(n_users, len(terms)),
    )
    matrix.sort_indices()

    # Sketches: heaviest by weight x idf among the capped terms. A user with only frequent
    # terms gets their rarest one, split into groups of at most `cap` users under ids of
    # their own (past the vocabulary), so that these users do not rebuild the big bucket
    # the cap removed: they are compared within their group only.
    idf = np.log(n_users / coo["df"].to_numpy(np.float64))
    coo = coo.assign(key=coo["w"].to_numpy() * idf, rare=coo["df"].to_numpy() <= cap)
    rare = coo[coo["rare"]].sort_values(["uid", "key", "tid"], ascending=[True, False, True])
    picks = rare.groupby("uid", sort=False).head(sketch_terms)
    rest = coo[~coo["uid"].isin(picks["uid"].unique())]
    fallback = rest.sort_values(["uid", "df", "tid"]).groupby("uid", sort=False).head(1)
    fallback = fallback.sort_values(["tid", "uid"]).reset_index(drop=True)
    if len(fallback):
        group = fallback.groupby("tid", sort=True).cumcount().to_numpy() // cap
        keys = fallback["tid"].to_numpy(np.int64) * (n_users + 1) + group
        _, sub = np.unique(keys, return_inverse=True)
        fallback = fallback.assign(tid=len(terms) + sub)
    width = len(terms) + (int(fallback["tid"].max()) + 1 - len(terms) if len(fallback) else 0)
    chosen = pd.concat([picks, fallback]).sort_values(["uid", "tid"])
    c_uid = chosen["uid"].to_numpy(np.int64)
    c_tid = chosen["tid"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, c_uid[1:] != c_uid[:-1]])
    sketch_rows = [
        (int(c_uid[a]), SparseVector(width, c_tid[a:b].tolist(), [1.0] * int(b - a)))
        for a, b in zip(starts, np.r_[starts[1:], len(c_uid)])
    ]
    sketches = spark.createDataFrame(
        sketch_rows,
        StructType([StructField("uid", LongType()), StructField("set", VectorUDT())]),
    ).repartition(max(2, sc.defaultParallelism))
    lsh = MinHashLSH(inputCol="set", outputCol="hashes", numHashTables=num_hash_tables, seed=seed)
    model = lsh.fit(sketches)
    # Distance < 1: sketches that share a term and collided in at least one table.
    pairs = (
        model.approxSimilarityJoin(sketches, sketches, 1.0, "jd")
        .select(F.col("datasetA.uid").alias("a"), F.col("datasetB.uid").alias("b"))
        .where(F.col("a") < F.col("b"))
        .distinct()
    )
    bc_matrix = sc.broadcast(matrix)
    scored = pairs.mapInPandas(_score_fn(bc_matrix), "a long, b long, score double")
    best = Window.partitionBy("a").orderBy(F.desc("score"), "b")
    top = scored.withColumn("rank", (F.row_number().over(best) - 1).cast("int")).where(
        F.col("rank") < k
    )
    named = top.mapInPandas(
        _named_fn(bc_matrix, sc.broadcast(users), sc.broadcast(list(terms)), 5),
        "user string, neighbour string, rank int, score double, shared_terms array<string>",
    )
    return named.withColumn("computed_at", F.lit(at).cast("timestamp"))


def _normalize_term(col):
    from pyspark.sql import functions as F

    return F.regexp_replace(F.lower(F.trim(col)), r"\s+", " ")


def _ads_frame(spark: "SparkSession", ads: Any) -> "DataFrame":
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    if isinstance(ads, DataFrame):
        frame = ads
    elif isinstance(ads, (str, os.PathLike)):
        frame = spark.read.json(os.fspath(ads))
    else:
        rows = []
        for ad in ads:
            d = ad.to_dict() if hasattr(ad, "to_dict") else dict(ad)
            category = d.get("category")
            rows.append(
                (
                    str(d["id"]),
                    None if category is None else str(category),
                    [str(t) for t in (d.get("interests") or [])],
                )
            )
        frame = spark.createDataFrame(rows, "id string, category string, interests array<string>")
    if "ad_id" in frame.columns and "id" not in frame.columns:
        frame = frame.withColumnRenamed("ad_id", "id")
    missing = [c for c in ("id", "interests") if c not in frame.columns]
    if missing:
        raise ValueError(f"the ads have no column {missing[0]!r} (id, interests, category)")
    if "category" not in frame.columns:
        frame = frame.withColumn("category", F.lit(None).cast("string"))
    return frame.select(
        F.col("id").cast("string").alias("id"),
        F.col("category").cast("string").alias("category"),
        F.col("interests").cast("array<string>").alias("interests"),
    ).where(F.col("id").isNotNull() & F.col("interests").isNotNull())


def audiences(
    interests: "DataFrame | str | os.PathLike[str]",
    ads: Any,
    *,
    ad_events: "DataFrame | str | os.PathLike[str] | None" = None,
    opt_outs: "DataFrame | str | os.PathLike[str] | None" = None,
    size: int = 10_000,
    min_score: float = 0.05,
    seed_share: float = 0.5,
    centroid_terms: int = 50,
    max_terms: int = 500,
    computed_at: _dt.datetime | None = None,
) -> "DataFrame":
    """Each ad's audience, best first, as the ``audiences`` dataset the store imports and
    stateless serving hands out (``Engine.audience(ad=...)``).

    The query is the ad's targeting terms (equal weights), and when ``ad_events`` (the
    export's ``ad_events``) show clicks on it, the centroid of its clickers' vectors (its
    ``centroid_terms`` heaviest terms) mixed in with ``seed_share`` of the total, as the
    in-process index mixes them. Each user scores the cosine of their unit vector with the
    query; clickers themselves, users who opted out of the ad's category (``opt_outs``, the
    export's dataset) and scores under ``min_score`` are left out; the best ``size`` stay.

    Terms match exactly (after trimming, lower case and single spaces): unlike the
    in-process index, no lemma, compound or semantic matching. ``ads`` is a DataFrame or
    JSONL path with ``id`` (or ``ad_id``), ``interests`` and ``category``, or a list of
    ``sociallens.Ad`` or dicts. The privacy minimum is applied when the audience is served,
    not here. Columns: ``ad_id``, ``user``, ``rank`` (0 = best), ``score``, ``computed_at``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if size < 1:
        raise ValueError("size must be at least 1")
    if not 0.0 <= seed_share <= 1.0:
        raise ValueError("seed_share must be between 0 and 1")
    if not 0.0 <= min_score <= 1.0:
        raise ValueError("min_score must be between 0 and 1")
    interests = _as_frame(None, interests, "interests")
    spark = interests.sparkSession
    at = computed_at or _dt.datetime.now(_dt.timezone.utc)
    if at.tzinfo is None:
        raise ValueError("computed_at must carry a time zone")
    vec = _unit_vectors(interests, max_terms).cache()
    ad_frame = _ads_frame(spark, ads)

    targeting = (
        ad_frame.select(F.col("id").alias("ad_id"), F.explode("interests").alias("term"))
        .select("ad_id", _normalize_term(F.col("term")).alias("term"))
        .where(F.length("term") > 0)
        .distinct()
    )
    n_terms = Window.partitionBy("ad_id")
    own = targeting.select(
        "ad_id", "term", (F.lit(1.0) / F.sqrt(F.count("*").over(n_terms))).alias("q")
    )
    query = own
    if ad_events is not None:
        events = _as_frame(spark, ad_events, "ad_events")
        seeds = (
            events.where(F.col("kind") == "click")
            .select(F.col("ad_id").cast("string"), F.col("user").cast("string"))
            .distinct()
            .join(ad_frame.select(F.col("id").alias("ad_id")), "ad_id")
        )
        centroid = (
            seeds.join(vec, "user").groupBy("ad_id", "term").agg(F.sum("w").alias("c"))
        )
        by_c = Window.partitionBy("ad_id").orderBy(F.desc("c"), "term")
        centroid = centroid.withColumn("_r", F.row_number().over(by_c)).where(
            F.col("_r") <= centroid_terms
        )
        norm = Window.partitionBy("ad_id")
        centroid = centroid.select(
            "ad_id",
            "term",
            (F.col("c") / F.sqrt(F.sum(F.col("c") * F.col("c")).over(norm))).alias("c"),
        )
        has_own = own.select("ad_id").distinct().withColumn("own", F.lit(True))
        has_seeds = centroid.select("ad_id").distinct().withColumn("seeded", F.lit(True))
        mixed = (
            own.join(centroid, ["ad_id", "term"], "full_outer")
            .join(has_own, "ad_id", "left")
            .join(has_seeds, "ad_id", "left")
            .select(
                "ad_id",
                "term",
                (
                    F.coalesce(F.col("q"), F.lit(0.0))
                    * F.when(F.col("seeded").isNull(), F.lit(1.0)).otherwise(
                        F.lit(1.0 - seed_share)
                    )
                    + F.coalesce(F.col("c"), F.lit(0.0))
                    * F.when(F.col("own").isNull(), F.lit(1.0)).otherwise(F.lit(seed_share))
                ).alias("q"),
            )
        )
        renorm = Window.partitionBy("ad_id")
        query = mixed.select(
            "ad_id",
            "term",
            (F.col("q") / F.sqrt(F.sum(F.col("q") * F.col("q")).over(renorm))).alias("q"),
        ).where(F.col("q") > 0)
    else:
        seeds = None

    scores = (
        vec.join(query, "term")
        .groupBy("ad_id", "user")
        .agg(F.sum(F.col("w") * F.col("q")).alias("score"))
        .where(F.col("score") >= min_score)
    )
    if seeds is not None:
        scores = scores.join(seeds, ["ad_id", "user"], "left_anti")
    if opt_outs is not None:
        outs = _as_frame(spark, opt_outs, "opt_outs").select(
            F.col("user").cast("string"), F.col("category").cast("string")
        )
        cats = ad_frame.select(F.col("id").alias("ad_id"), "category").where(
            F.col("category").isNotNull()
        )
        excluded = cats.join(outs, "category").select("ad_id", "user")
        scores = scores.join(excluded, ["ad_id", "user"], "left_anti")
    best = Window.partitionBy("ad_id").orderBy(F.desc("score"), "user")
    return (
        scores.withColumn("rank", (F.row_number().over(best) - 1).cast("int"))
        .where(F.col("rank") < size)
        .select(
            "ad_id",
            "user",
            "rank",
            F.least(F.col("score"), F.lit(1.0)).alias("score"),
            F.lit(at).cast("timestamp").alias("computed_at"),
        )
    )


def write_lookalikes(
    out_dir: str | os.PathLike[str],
    *,
    neighbours: "DataFrame | None" = None,
    audiences: "DataFrame | None" = None,
) -> dict[str, Any]:
    """Writes :func:`lookalikes` and/or :func:`audiences` results as the ``neighbours`` and
    ``audiences`` datasets (``out_dir/<dataset>/part-*.parquet`` and ``manifest.json``),
    for ``Engine.import_files(out_dir)``: the import replaces each user's (ad's) stored list
    with the new one, and importing the same files twice changes nothing.

    Returns ``{dataset: {"files": [...], "rows": N}}``.
    """
    out_dir = os.fspath(out_dir)
    frames = [(n, f) for n, f in (("neighbours", neighbours), ("audiences", audiences)) if f is not None]
    if not frames:
        raise ValueError("nothing to write: pass neighbours and/or audiences")
    spark = frames[0][1].sparkSession
    _update_manifest(spark, out_dir, {}, remove=[n for n, _ in frames])
    entries: dict[str, Any] = {}
    for name, frame in frames:
        files, n = _write_dataset(frame, out_dir, name)
        entries[name] = {"files": files, "rows": n}
    _update_manifest(spark, out_dir, entries)
    return entries

