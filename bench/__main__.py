"""``python -m bench`` (``make bench``): every scenario against servers it starts on
127.0.0.1, each figure beside its baseline measured in the same run, repeated and
reported as median and spread, with the ratios the README's targets use.
Writes bench/RESULTS.md. ``--quick`` is a smoke run (the same repeats, each shorter).
"""

import argparse
import contextlib
import datetime
import os
import platform
import signal
import sys
from importlib import metadata
from pathlib import Path

from bench import cancellation, common

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


# Every figure is measured this many times, in a quick run too (--quick makes
# each measurement shorter, not rarer: a spread from one sample would read 0%).
REPEATS = 3


def run(quick):
    repeats = REPEATS
    figures, notes = [], []
    with common.database(demo_lines=20_000 if quick else 100_000) as env:
        with common.server(env) as (port, process):
            from bench import roundtrip, throughput

            figures += roundtrip.figures(port, count=100 if quick else 1000, repeats=repeats)
            figures += throughput.figures(port, process, repeats=repeats, seconds=1.0 if quick else 5.0)
            if Path("/usr/bin/chromium").exists():
                from bench import page_open

                figures += page_open.figures(port, "10000", repeats=repeats, loads=2 if quick else 5)
            else:
                notes.append("Scenario 3 skipped: Debian's chromium is not installed (`make chromium`).")
            figures += cancellation.figures(port, process, repeats=repeats, runs=5 if quick else 20)
        figures += _optional("bench.child_sessions", "figures", notes, quick=quick, repeats=repeats)

        from bench import open_pages

        counts = [10, 500] if quick else [10, 1000, 5000]
        figures += open_pages.figures(lambda: common.server(env), counts, repeats=repeats,
                                      samples=100 if quick else 300)
    missing = _missing_services()
    if not missing:
        figures += _optional("bench.scaleout", "figures", notes, quick=quick, repeats=repeats)
    else:
        notes.append(f"Scenario 6 skipped: no {' and no '.join(missing)} on 127.0.0.1.")
    return figures, notes


def _optional(module, function, notes, **kwargs):
    """Scenarios that live in their own module; a missing one is a note, not a crash."""
    try:
        imported = __import__(module, fromlist=[function])
        return getattr(imported, function)(**kwargs)
    except (ImportError, AttributeError) as exc:
        notes.append(f"{module} not run: {exc}")
        return []


def _missing_services():
    """What scenario 6 needs and this machine lacks: Redis (the channel layer) and
    PostgreSQL (the workers' database: several processes, no SQLite file)."""
    from tests.services import reachable

    return [label for service, label in (("redis", "Redis"), ("postgres", "PostgreSQL")) if not reachable(service)]


def ratios(figures):
    """The README's targets, as ratios of figures measured in this run."""
    by_name = {f.name: f.median for f in figures}

    def ratio(label, numerator, denominator, target, better="lower"):
        a, b = by_name.get(numerator), by_name.get(denominator)
        if a is None or b is None or not b:
            return None
        return common.ratio_row(label, a / b, target, better)

    found = [
        ratio("no-op round trip / Daphne echo", "no-op task p50", "baseline: Daphne echo p50", 2.0),
        ratio("no-op round trip / layer + in-process worker", "no-op task p50", "baseline: layer + in-process worker p50", 1.0),
        ratio("no-op tasks/s / echo msgs/s", "no-op tasks/s, 100 pages", "baseline: echo msgs/s, 100 connections", 0.5, "higher"),
        ratio("first paint, slow tasks / no tasks", "card, tasks of 2 s each: first paint", "baseline: card without tasks: first paint", 1.1),
        ratio("first paint, synchronous card / card with tasks", "synchronous card (statistics inline): first paint", "card, tasks of 2 s each: first paint", 1.0, "higher"),
    ]
    cancels = [f for f in figures if f.name.startswith(cancellation.STOPPED) and f.name.endswith(" p99")]
    if cancels:
        # The README's "cancel p99 < 100 ms": the slowest of the three codeunits.
        worst = max(cancels, key=lambda f: f.median)
        value = worst.median
        found.append((f"cancel p99 (ms), navigate to child stopped, worst: {worst.name[len(cancellation.STOPPED):-4]}",
                      value, "< 100", "met" if value < 100 else "MISSED"))
    opens = sorted((f for f in figures if f.name.startswith("no-op round trip p50 with")), key=lambda f: int(f.name.split()[-2]))
    if len(opens) >= 2:
        value = opens[-1].median / opens[0].median
        found.append((f"round trip at {opens[-1].name.split()[-2]} open / at {opens[0].name.split()[-2]} open", value, "<= 1.5", "met" if value <= 1.5 else "MISSED"))
    for figure in figures:
        if getattr(figure, "target", None):
            found.append(figure.target)
    return [row for row in found if row]


def table(figures, ratio_rows, notes):
    lines = ["| scenario | figure | median | spread |", "|---|---|---:|---:|"]
    for f in figures:
        lines.append(f"| {f.scenario} | {f.name} | {f.median:,.2f} {f.unit} | {f.spread:.0%} |")
    lines += ["", "| ratio | value | target | |", "|---|---:|---|---|"]
    for label, value, target, verdict in ratio_rows:
        lines.append(f"| {label} | {value:.2f} | {target} | {verdict} |")
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def machine():
    packages = ", ".join(f"{name} {metadata.version(name)}" for name in ("django", "channels", "daphne", "channels_redis"))
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}; "
            f"{packages}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: shorter repeats")
    parser.add_argument("--output", default=str(RESULTS), help="where to write the results (markdown)")
    args = parser.parse_args(argv)
    # A terminated bench (a CI timeout, the smoke test's) unwinds like Ctrl-C, so that
    # its finally blocks stop the servers it started: scenario 6's run in sessions
    # of their own and would outlive it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    figures, notes = run(args.quick)
    text = table(figures, ratios(figures), notes)
    sys.stdout.write(text)
    header = (f"# Benchmark results\n\n{datetime.date.today().isoformat()}, `python -m bench"
              f"{' --quick' if args.quick else ''}`, {machine()}.\n\n")
    with contextlib.suppress(OSError):
        Path(args.output).write_text(header + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
