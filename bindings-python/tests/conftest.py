import pytest

import sociallens


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "sociallens.db"


@pytest.fixture
def engine(db_path):
    return sociallens.Engine(f"sqlite://{db_path}")
