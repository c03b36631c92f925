"""Counting a show's screen time at one registry version: the version a reviewer's edit made,
which the edit's Dagster run names in its tags (`screentime/registry_version`).

The run reads that version from the history (not whatever is newest when it starts), counts it
from the analysis runs that version links, and writes the show's table, which says the version
it counted. A table already counted at a newer version is left as it is (a run that waited in
the queue never puts older numbers back); the run then says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from screentime.analysis.publish import read_manifest
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout, ShowLayout
from screentime.identity.registry import load_registry, load_version
from screentime.identity.show import (
    REGISTRY_VERSION_METADATA,
    EpisodeTables,
    nearest_key,
    show_nearest,
    show_screentime,
)
from screentime.storage.base import Storage
from screentime.storage.parquet import PARQUET, table_from_parquet, table_to_parquet


class UnknownVersion(ValueError):
    """The version asked for is not in the show's history."""


@dataclass
class Recount:
    show: str
    version: int  # the registry version counted
    written: bool  # False: the table already counts a newer version, and was left as it is
    table_version: int | None  # the version the show's table counts now
    episodes: int
    identities: int
    named: int
    table_uri: str


def count_version(storage: Storage, show: str, version: int) -> Recount:
    """Count the show at registry version `version` and write its table (unless a newer one is there)."""
    layout = ShowLayout(show)
    newest = load_registry(storage, show).version
    if not 1 <= version <= newest:
        raise UnknownVersion(f"the people of {show} have no version {version} (versions 1 to {newest})")
    registry = load_version(storage, show, version)
    before = table_version(storage, show)
    written = before is None or before <= version
    if written:
        loaded = {ep_id: tables for ep_id in registry.episodes
                  if (tables := episode_tables(storage, ep_id, registry.episodes[ep_id].run_id)) is not None}
        storage.put_bytes(nearest_key(show), table_to_parquet(show_nearest(registry)), PARQUET)
        storage.put_bytes(layout.screentime_key, table_to_parquet(show_screentime(registry, loaded)), PARQUET)
    return Recount(show=show, version=version, written=written, table_version=version if written else before,
                   episodes=len(registry.episodes), identities=len(registry.identities),
                   named=sum(1 for i in registry.identities.values() if i.name),
                   table_uri=storage.uri(layout.screentime_key))


def table_version(storage: Storage, show: str) -> int | None:
    """The registry version the show's table was counted at; None without a table (or unsaid)."""
    try:
        table = table_from_parquet(storage.get_bytes(ShowLayout(show).screentime_key))
    except FileNotFoundError:
        return None
    value = (table.schema.metadata or {}).get(REGISTRY_VERSION_METADATA)
    return int(value) if value is not None else None


def episode_tables(storage: Storage, ep_id: str, run_id: str) -> EpisodeTables | None:
    """What the show table needs of one analysis run; None when its tables are gone (replaced)."""
    layout = EpisodeLayout(parse_episode_id(ep_id))
    manifest = read_manifest(storage, layout.ep)
    fps = manifest.analysis_fps if manifest is not None and manifest.run_id == run_id else 0.0

    def table(name: str):
        return table_from_parquet(storage.get_bytes(layout.table_key(run_id, name)))

    try:
        return EpisodeTables(detections=table("detections"), people=table("people"), crops=table("crops"),
                             analysis_fps=fps, frames=table("frames"))
    except FileNotFoundError:
        return None
