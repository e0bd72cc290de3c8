"""``cwpro demo`` runs as the README shows it: a subprocess, no credentials, exit 0."""

from __future__ import annotations

import os

from ._helpers import PACKAGE_ROOT, run_cli, summary_line


def test_demo_runs_every_step_and_prints_its_figures() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CWPRO_")}  # no credentials
    env["PYTHONPATH"] = PACKAGE_ROOT
    result = run_cli("demo", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    summary = summary_line(result.stdout)
    assert summary["event"] == "demo.done"
    assert summary["items"] == summary["unique"] == 5000
    assert summary["partitions"] == 8
    assert summary["retries"] >= 3  # the injected 503s were retried
    assert summary["failed_retries"] >= 3
    assert summary["retries"] == summary["throttled_retries"] + summary["failed_retries"]
    assert summary["items_per_second"] > 0 and summary["seconds"] > 0
    assert summary["webhook"]["event"] == "WORKORDER.CREATE"
    assert summary["webhook"]["latency_ms"] < 10_000
    assert summary["portal_links_shown"] == 3
    assert summary["base_url"].startswith("http://127.0.0.1:")
    text = result.stdout
    for step in ("1. export: 5,000 work orders", "2. webhook: created work order", "3. portal"):
        assert step in text
    assert summary["webhook"]["workorder_id"] in text
    assert result.stderr == ""  # not a terminal: no progress bar, no warnings


def test_demo_options() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CWPRO_")}
    env["PYTHONPATH"] = PACKAGE_ROOT
    result = run_cli("demo", "--workorders", "700", "--partitions", "3", "--fault", "none", env=env)
    assert result.returncode == 0, result.stderr
    summary = summary_line(result.stdout)
    assert (summary["items"], summary["partitions"], summary["retries"]) == (700, 3, 0)
    bad = run_cli("demo", "--workorders", "0", env=env)
    assert bad.returncode == 2 and "must be >= 1" in bad.stderr
