import pytest

import sociallens


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "sociallens.db"


@pytest.fixture
def engine(db_path):
    return sociallens.Engine(f"sqlite://{db_path}")


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (2 cores, UTC) for the Spark tests; they skip without pyspark."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    s = (
        SparkSession.builder.master("local[2]")
        .appName("sociallens-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.task.cpus", "1")
        .getOrCreate()
    )
    yield s
    s.stop()
