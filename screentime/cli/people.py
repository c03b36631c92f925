"""`screentime people SHOW`, and the people summary `screentime run` prints at the end."""

from __future__ import annotations

import argparse

from screentime.analysis.publish import read_manifest
from screentime.contracts.episode import EpisodeId
from screentime.contracts.errors import InvalidOption
from screentime.contracts.layout import EpisodeLayout, ShowLayout
from screentime.identity.registry import load_registry
from screentime.identity.show_rollup import update_show
from screentime.storage import Storage, StorageSettings, open_storage
from screentime.storage.parquet import table_from_parquet

TOP = 5


def episode_summary(storage: Storage, ep: EpisodeId) -> list[str]:
    """Lines for the end of a run: how many people, and a table of the longest on screen."""
    manifest = read_manifest(storage, ep)
    if manifest is None:
        return []
    counts = manifest.counts
    lines = [f"people: {counts.people} in {counts.tracks} track(s) over {counts.shots} shot(s)"]
    try:
        table = table_from_parquet(storage.get_bytes(EpisodeLayout(ep).table_key(manifest.run_id, "screentime")))
    except FileNotFoundError:
        return lines
    if table.num_rows:
        lines.append(f"  {'who':<24} {'on screen':>9}  {'share':>6}  appearances")
    for row in table.slice(0, TOP).to_pylist():
        who = row["name"] or f"person {row['person_id']}"
        lines.append(f"  {who[:24]:<24} {row['seconds']:7.1f} s  {row['share']:6.1%}  {row['appearances']:>11}")
    if table.num_rows > TOP:
        lines.append(f"  ... and {table.num_rows - TOP} more (all of them: `screentime people {ep.show}`)")
    return lines


def cmd_people(args: argparse.Namespace) -> int:
    storage = open_storage(StorageSettings.from_env())
    layout = ShowLayout(args.show)
    update_show(storage, args.show, by="cli")  # links episodes published since (writes only on change)
    registry = load_registry(storage, args.show)
    if not registry.episodes:
        raise InvalidOption(f"no people for {args.show} yet: run its episodes first (screentime run / backfill)")
    try:
        table = table_from_parquet(storage.get_bytes(layout.screentime_key))
    except FileNotFoundError:
        raise InvalidOption(f"no people for {args.show} yet: run its episodes first (screentime run / "
                            "backfill)") from None
    seasons = sorted(set(table["season"].to_pylist()))
    totals: dict[int, dict[int, float]] = {}
    for row in table.to_pylist():
        by_season = totals.setdefault(row["identity_id"], {})
        by_season[row["season"]] = by_season.get(row["season"], 0.0) + row["seconds"]
    header = f"{'id':>4}  {'name':<24}" + "".join(f"{'s%02d' % s:>10}" for s in seasons) + f"{'total':>10}"
    print(f"{args.show}: {len(registry.episodes)} episode(s), {len(totals)} people (registry v{registry.version})")
    print(header)
    for ident, by_season in sorted(totals.items(), key=lambda kv: -sum(kv[1].values())):
        label = registry.identities[ident].label if ident in registry.identities else f"person {ident}"
        cells = "".join(f"{by_season.get(s, 0.0):>9.1f}s" for s in seasons)
        print(f"{ident:>4}  {label[:24]:<24}{cells}{sum(by_season.values()):>9.1f}s")
    return 0


def add_people_command(sub: argparse._SubParsersAction) -> None:
    people = sub.add_parser("people", help="A show's people and their screen time per season (links "
                            "newly published episodes first, as the show_rollup sensor does in Dagster).")
    people.add_argument("show", help="Show slug, e.g. the-office.")
    people.set_defaults(func=cmd_people)
