"""`cloudbay price-series import|show` as an operator would: a CSV file of day-ahead prices into the store."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli_and_server import cloudbay, env  # noqa: F401 - `env` is a fixture used below

CSV = "start,price_per_kwh\n2026-12-02T00:00:00+01:00,0.21\n2026-12-02T01:00:00+01:00,0.19\n"


def test_a_csv_file_is_published_and_shown(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    prices = tmp_path / "prices.csv"
    prices.write_text(CSV + "2026-12-02T05:00:00+01:00,0.30\n", encoding="utf-8")
    done = cloudbay(env, "price-series", "import", "day-ahead", str(prices), "--currency", "CHF")
    assert "3 prices published in 2 publication(s)" in done.stdout

    shown = cloudbay(env, "price-series", "show", "day-ahead").stdout.splitlines()
    assert len(shown) == 12
    assert shown[0] == "2026-12-01T23:00:00+00:00\t0.21" and shown[-1] == "2026-12-02T04:45:00+00:00\t0.30"


def test_a_bad_csv_file_is_refused_with_a_reason(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    prices = tmp_path / "prices.csv"
    for text, words in [
        ("when,price\n2026-12-02T00:00:00+01:00,0.21\n", "header"),
        ("start,price_per_kwh\n02.12.2026,0.21\n", "line 2"),
        (CSV.replace("0.19", "-0.19"), "negative"),
    ]:
        prices.write_text(text, encoding="utf-8")
        done = cloudbay(env, "price-series", "import", "day-ahead", str(prices), "--currency", "CHF", check=False)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    assert cloudbay(env, "price-series", "show", "day-ahead", check=False).returncode == 1
