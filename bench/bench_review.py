"""The review and Screentime pages on a show of 20 episodes: API latency, page load, edit round trip.

group_shots.mp4 is run once (`screentime run`, crops saved); its artifacts are copied to 20
episodes over two seasons, and each copy's people are linked as new identities (no matches), so
the show has 20x the clip's people and crops: a few hundred people, thousands of crops, the size
the issue asks the pages to stay fast at. Then a real `screentime api` serves it and headless
Chromium loads the pages. Prints a table; writes its section of bench/RESULTS.md.

    .venv/bin/python bench/bench_review.py [--episodes 20] [--video tests/media/group_shots.mp4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_pipeline import write_section  # noqa: E402
from screentime.analysis.publish import read_manifest  # noqa: E402
from screentime.contracts.episode import parse_episode_id  # noqa: E402
from screentime.contracts.layout import EpisodeLayout  # noqa: E402
from screentime.identity.episode import episode_people  # noqa: E402
from screentime.identity.registry import load_registry, save_registry  # noqa: E402
from screentime.identity.show import link_episode  # noqa: E402
from screentime.identity.show_rollup import update_show  # noqa: E402
from screentime.storage import LocalStorage  # noqa: E402
from screentime.storage.parquet import table_from_parquet  # noqa: E402
from tests.browser import Browser  # noqa: E402
from tests.live_servers import start_api  # noqa: E402

BIN = Path(sys.executable).parent
SHOW = "bench"


def build_show(data: Path, video: str, episodes: int, env: dict) -> int:
    """One real run, copied to `episodes` episodes whose people are all new identities; the crop count."""
    first = f"{SHOW}-s01e01"
    subprocess.run([str(BIN / "screentime"), "run", video, "--ep-id", first, "--fps", "8", "--quiet"],
                   cwd=REPO, env=env, check=True)
    storage = LocalStorage(data)
    source = parse_episode_id(first)
    ids = [f"{SHOW}-s{1 + i // 10:02d}e{1 + i % 10:02d}" for i in range(episodes)]
    for ep_id in ids[1:]:
        ep = parse_episode_id(ep_id)
        for kind in ("crops", "manifests"):
            shutil.copytree(data / "artifacts" / kind / source.relative_dir, data / "artifacts" / kind / ep.relative_dir)
        manifest = data / EpisodeLayout(ep).manifest_key
        manifest.write_text(manifest.read_text().replace(f'"{first}"', f'"{ep_id}"'))
        (data / EpisodeLayout(ep).progress_key).unlink(missing_ok=True)
    registry = load_registry(storage, SHOW)
    run_id = read_manifest(storage, source).run_id
    layout = EpisodeLayout(source)
    tables = {t: table_from_parquet(storage.get_bytes(layout.table_key(run_id, t)))
              for t in ("people", "embeddings", "screentime")}
    persons = episode_people(tables["people"], tables["embeddings"], tables["screentime"])
    digest = hashlib.sha256(storage.get_bytes(layout.table_key(run_id, "people"))).hexdigest()
    for ep_id in ids:  # threshold 0: nobody matches, every episode's people are new identities
        registry = link_episode(registry, ep_id, run_id, persons, threshold=0.0, people_sha256=digest)
    save_registry(storage, registry, 0, by="bench", reason=f"linked {len(ids)} episodes as new people")
    started = time.perf_counter()
    update_show(storage, SHOW)  # counts the table (each episode's people are already linked: no re-link)
    build_show.recount_s = time.perf_counter() - started
    crops = sum(1 for _ in (data / "artifacts/crops").rglob("*.jpg"))
    return crops


def timed_get(url: str, n: int) -> tuple[float, float]:
    """(first, median of the rest) in ms."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = httpx.get(url, timeout=60)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], statistics.median(times[1:])


def page_load(browser: Browser, url: str, ready: str) -> float:
    """ms from navigation to `ready` being true, as the page's own clock sees it."""
    browser.send("Page.navigate", url=url)
    browser.wait_for(f"document.readyState === 'complete' && ({ready})", 60, 0.02)
    return browser.evaluate("performance.now()")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--video", default=str(REPO / "tests" / "media" / "group_shots.mp4"))
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    if not Path(args.video).is_file():
        raise SystemExit(f"{args.video} is missing (tests/media/README.md says where it comes from)")
    with tempfile.TemporaryDirectory(prefix="review-bench-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
               "DAGSTER_HOME": str(root / "home"), "YOLO_CONFIG_DIR": str(root / "yolo")}
        crops = build_show(root / "data", args.video, args.episodes, env)
        api = start_api(env, root / "api.log")
        browser = Browser(root / "chromium")
        try:
            base = f"{api.url}/shows/{SHOW}"
            view = httpx.get(f"{base}/people", params={"limit": 1}, timeout=60).json()
            people = view["total"]
            cold_people, warm_people = timed_get(f"{base}/people?limit=50", 11)
            _, warm_all = timed_get(f"{base}/people?limit=500", 5)
            _, warm_screen = timed_get(f"{base}/screentime", 11)
            review_ms = page_load(browser, f"{api.url}/review?show={SHOW}",
                                  "document.querySelectorAll('.person').length > 0")
            thumbs_ms = page_load(browser, f"{api.url}/review?show={SHOW}",
                                  "[...document.querySelectorAll('.person img.face')].every((i) => i.complete)")
            screen_ms = page_load(browser, f"{api.url}/screentime?show={SHOW}",
                                  "document.querySelectorAll('.chart g.bar').length > 0")
            page_load(browser, f"{api.url}/review?show={SHOW}", "document.querySelectorAll('.person').length > 0")
            rounds = []
            for i in range(5):  # type a name, save: the POST, then the page's reload of its 50 cards
                version = int(browser.evaluate("document.body.dataset.version"))
                started = time.perf_counter()
                browser.evaluate(f"""(() => {{ const card = document.querySelector('.person');
                    card.querySelector('.name').value = 'Name {i}'; card.querySelector('.rename button').click();
                    return 1; }})()""")
                browser.wait_for(f"document.body.dataset.version === '{version + 1}'", 60, 0.01)
                rounds.append((time.perf_counter() - started) * 1000)
        finally:
            browser.close()
            api.stop()
    rows = [
        ("show", f"{args.episodes} episodes of {Path(args.video).name} (fps 8), {people} people, {crops} crops"),
        ("GET people, 50 per page (first, cold)", f"{cold_people:.0f} ms"),
        ("GET people, 50 per page (median, warm)", f"{warm_people:.0f} ms"),
        ("GET people, all 500 per page (median)", f"{warm_all:.0f} ms"),
        ("GET screentime (median)", f"{warm_screen:.0f} ms"),
        ("review page: cards shown", f"{review_ms:.0f} ms"),
        ("review page: every card's face loaded", f"{thumbs_ms:.0f} ms"),
        ("screentime page: chart drawn", f"{screen_ms:.0f} ms"),
        ("edit round trip in the page (median of 5)", f"{statistics.median(rounds):.0f} ms"),
        ("recount of the show table (update_show)", f"{build_show.recount_s:.2f} s"),
    ]
    report = "\n".join([f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
                        "API and Chromium on the same machine.", "",
                        "| measure | value |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]])
    print(report)
    if not args.no_write:
        write_section("Review and Screentime pages (bench/bench_review.py)", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
