"""Fixing a split show with the "same person?" page: actions per fixed person, seconds per action.

Runs the browser test tests/test_suggestions_page.py (real Chromium, `screentime api`, `dagster
dev`, two real episode runs of the committed identity clip, five of six people split) and writes
its figures to the "Same person? suggestions" section of bench/RESULTS.md, and its screenshots
to docs/screenshots/.

    .venv/bin/python bench/bench_suggestions.py [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_pipeline import write_section  # noqa: E402

TEST = "tests/test_suggestions_page.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md and docs/screenshots alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures_path = Path(tmp) / "figures.json"
        shots = Path(tmp) if args.no_write else REPO / "docs" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SCREENTIME_SUGGESTIONS_FIGURES": str(figures_path), "SCREENSHOT_DIR": str(shots)}
        done = subprocess.run([sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"], cwd=REPO,
                              env=env)
        if done.returncode != 0 or not figures_path.exists():
            print("the browser test failed: no figures", file=sys.stderr)
            return 1
        figures = json.loads(figures_path.read_text())
    accepted = sum(d["same"] for d in figures["decisions"])
    report = "\n".join([
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; API, "
        "`dagster dev` and Chromium on the same machine.",
        "",
        f"`{TEST}`: the committed identity clip (6 people x 3 photos) cut into two episodes, each run "
        "through the real episode job, linked with a strict link distance (0.15) so that people are split "
        "across the episodes (and one inside the first). The reviewer only presses `a` (same person) or "
        "`r` (not the same) on the pair the page shows; each key is an action, timed from the key to the "
        "next pair shown (the merge's POST and the page's reload of the suggestions).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| split people | {figures['split_people']} |",
        f"| actions to fix them (accepted / rejected) | {figures['actions']} ({accepted} / "
        f"{figures['actions'] - accepted}) |",
        f"| **actions per fixed person** (goal <= 2) | **{figures['actions_per_fixed_person']:.2f}** |",
        f"| **seconds per action** (mean) | **{figures['seconds_per_action']:.2f} s** |",
        f"| slowest action | {figures['slowest_action_s']:.2f} s |",
        f"| Dagster recount runs started by the decisions | {figures['recount_runs']} |",
        f"| the last version counted by Dagster, after the last decision | {figures['recount_s']:.0f} s |",
    ])
    print(report)
    if not args.no_write:
        write_section("Same person? suggestions (bench/bench_suggestions.py)", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
