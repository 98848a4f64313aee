"""The Python examples run (small, without the PNG) and write what they promise."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_ads_report_example(tmp_path):
    pytest.importorskip("plotly")
    pytest.importorskip("pandas")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples/python/ads_report.py"), "--out", str(tmp_path), "--users", "36", "--no-png"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "36 users in 6 taste groups" in out.stdout
    page = (tmp_path / "ads_report.html").read_text()
    assert "<script src" not in page and page.count("Plotly.newPlot") == 3
    csv = (tmp_path / "click_report.csv").read_text().splitlines()
    assert csv[0] == "category,date,hour,impressions,clicks,ctr" and len(csv) > 20
