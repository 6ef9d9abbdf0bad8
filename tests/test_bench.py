"""``python -m bench --quick`` runs end to end and produces its table.

A smoke check of the benchmark itself: the table, the ratio table and a row per
scenario that ran, never the figures (they depend on the machine and its load).
Scenario 6 needs Redis and PostgreSQL: without them the bench skips it with a
note, and so does this test's check for its rows.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import reachable

ROOT = Path(__file__).resolve().parent.parent
# The quick run takes about a minute here; a loaded machine gets far more.
QUICK_RUN_TIMEOUT_S = 600
# After SIGTERM, the time the bench gets to stop its servers and drop its database.
STOP_TIMEOUT_S = 60


def run_quick_bench(output):
    """Run ``python -m bench --quick --output <output>``; returns its stdout.

    On timeout the bench is terminated (SIGTERM: it unwinds, and its ``finally``
    blocks stop the servers and workers it started, which SIGKILL would leave
    running), then killed if it does not end.
    """
    env = {name: value for name, value in os.environ.items()
           if name not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")}
    process = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--output", str(output)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=QUICK_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        pytest.fail(f"python -m bench --quick did not finish within {QUICK_RUN_TIMEOUT_S} s")
    assert process.returncode == 0, f"python -m bench --quick exited with {process.returncode}:\n{stderr[-4000:]}"
    return stdout


def scenarios(table):
    """The scenario column of the figures table."""
    rows = table.split("| scenario | figure | median | spread |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return {row.split("|")[1].strip() for row in rows}


@pytest.mark.timeout(QUICK_RUN_TIMEOUT_S + STOP_TIMEOUT_S + 30)
def test_quick_bench_writes_the_table_the_ratios_and_a_row_per_scenario(tmp_path):
    output = tmp_path / "RESULTS.md"

    stdout = run_quick_bench(output)

    written = output.read_text()
    assert written.startswith("# Benchmark results\n")
    assert "`python -m bench --quick`" in written and "cores, Python" in written  # the date line names the machine
    assert stdout in written  # the same table on the terminal and in the file
    assert "| scenario | figure | median | spread |" in written
    assert "| ratio | value | target | |" in written
    ran = scenarios(written)
    assert {"1 round trip", "2 throughput", "4 cancellation", "child sessions", "5 open pages"} <= ran
    assert "| cancel p99 (ms), navigate to child stopped" in written  # the target "cancel p99 < 100 ms"
    assert ("3 page open" in ran) == Path("/usr/bin/chromium").exists()
    if reachable("redis") and reachable("postgres"):
        assert "6 scale-out" in ran
        assert "2 workers / 1 worker |" in written  # the ratio two / one
    else:
        assert "6 scale-out" not in ran
        assert "- Scenario 6 skipped: no " in written
    assert "not run:" not in written  # every scenario module was found
