"""The ingest bench shows the committed A/B against the reader before #13 beside its figures."""

from __future__ import annotations

from pathlib import Path

from bench import ingest_ab, ingest_bench


def _ab(path: Path, jobs: int) -> None:
    summary = {
        "other": ingest_ab._summary(
            [{"cpu_rate": 6400.4, "max_rss_mb": 67.51}, {"cpu_rate": 6600.0, "max_rss_mb": 67.4}]
        ),
        "this": ingest_ab._summary(
            [{"cpu_rate": 7000.0, "max_rss_mb": 64.9}, {"cpu_rate": 7200.0, "max_rss_mb": 65.04}]
        ),
    }
    ingest_ab.save(path, Path(__file__).parent, jobs, summary)


def test_each_measured_size_gets_the_baseline_lines(tmp_path: Path) -> None:
    path = tmp_path / "ab.json"
    _ab(path, 1_000_000)
    _ab(path, 100_000)
    rate, peak = ingest_bench.baseline(1_000_000, path)
    assert rate.name.startswith("parse+normalise+hash 1,000,000 jobs before #13 (")
    assert (rate.value, rate.unit, rate.target) == (6500, "jobs/s", None)
    assert "7,100 jobs/s" in rate.note and "python -m bench.ingest_ab" in rate.note
    assert (peak.value, peak.unit) == (67.5, "MB")
    assert "65.0 MB" in peak.note
    assert len(ingest_bench.baseline(100_000, path)) == 2


def test_a_size_without_an_ab_and_a_missing_file_add_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ab.json"
    _ab(path, 100_000)
    assert ingest_bench.baseline(10_000, path) == []
    assert ingest_bench.baseline(100_000, tmp_path / "missing.json") == []


def test_the_committed_ab_covers_100k_and_1m() -> None:
    for size in (100_000, 1_000_000):
        rate, peak = ingest_bench.baseline(size)
        assert "31ed7c7" in rate.name and rate.value > 0 and peak.value > 0
