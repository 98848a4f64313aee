"""Batch jobs on Spark, end to end: caption a folder of images, compute lookalike neighbours
and audiences from a store's export, and import all of it back into the store.

    pip install 'sociallens[spark]'
    python examples/python/spark_batch.py --model-dir MODEL --images DIR --store sqlite://app.db

MODEL is a ViT-GPT2 folder (``nlpconnect/vit-gpt2-image-captioning`` downloaded, or the tiny
test model); DIR a folder of images. Local mode by default; ``--master`` for a cluster,
where MODEL must exist on every executor and DIR may be any path Spark reads (s3://...).
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

import sociallens
import sociallens.spark as sls
from pyspark.sql import SparkSession


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--images", required=True, help="a folder of images (any Spark path)")
    ap.add_argument("--store", default="sqlite://app.db")
    ap.add_argument("--out", default=None, help="where the batch files go (default: a temp dir)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--k", type=int, default=50)
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="sociallens-batch-")

    spark = (
        SparkSession.builder.master(args.master)
        .appName("sociallens-batch")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )

    # 1. Captions and interests for every image; the files load into the caption cache.
    images = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.{jpg,jpeg,png,JPG,JPEG,PNG}")
        .load(args.images)
    )
    captions = sls.caption_images(images, args.model_dir, image_col="content", keep=["path"])
    captions = captions.cache()
    for row in captions.select("path", "caption", "interests", "error").collect():
        print(f"{pathlib.Path(row.path).name}: {row.caption!r} {row.interests or row.error}")
    written = sls.write_captions(captions, out)
    print(f"captions: {written['rows']} written, {written['failed']} failed")

    # 2. Lookalikes and audiences from the store's own export.
    engine = sociallens.Engine(args.store)
    export = engine.export(pathlib.Path(out) / "export", datasets=["interests", "ad_events", "opt_outs"])
    interests = spark.read.parquet(str(export["interests"]))
    if interests.select("user").distinct().count() >= 2:
        sls.write_lookalikes(
            out,
            neighbours=sls.lookalikes(interests, k=args.k),
            audiences=sls.audiences(
                interests,
                engine.ads(),
                ad_events=str(export["ad_events"]),
                opt_outs=str(export["opt_outs"]),
            ),
        )
    spark.stop()

    # 3. Back into the store: captions, neighbours and audiences in one import.
    for report in engine.import_files(out):
        print(report)
    print(f"batch files in {out}")


if __name__ == "__main__":
    main()
