"""Bringing a show's people up to date: link every published episode whose people changed, drop
episodes that are gone, save the registry (a new version), write the show's screen-time table and
each episode person's nearest people of the other episodes (the "same person?" candidates).

Safe to run often and concurrently: an episode is re-linked only when its people.parquet
changed, and a registry write that lost a race (StaleRegistry) is redone on the new version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from screentime.analysis.publish import read_manifest
from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.layout import ARTIFACTS, EpisodeLayout, ShowLayout
from screentime.identity.embedders import calibration
from screentime.identity.episode import episode_people
from screentime.identity.registry import StaleRegistry, load_registry, save_registry
from screentime.identity.show import EpisodeTables, link_episode, nearest_key, show_nearest, show_screentime
from screentime.storage.base import Storage
from screentime.storage.parquet import PARQUET, table_from_parquet, table_to_parquet

ATTEMPTS = 5


@dataclass
class ShowSummary:
    show: str
    episodes: int
    identities: int
    named: int
    version: int
    table_uri: str
    relinked: list[str] = field(default_factory=list)


def published_episodes(storage: Storage, show: str) -> dict[str, tuple[str, float]]:
    """ep_id -> (run id, analysis fps) of its published manifest, for every episode of the show."""
    ShowLayout(show)  # validates the slug
    found = {}
    for key in storage.list_keys(f"{ARTIFACTS}/manifests/{show}/"):
        parts = key.split("/")  # artifacts/manifests/<show>/sSS/eEE/manifest.json
        if len(parts) != 6 or parts[-1] != "manifest.json":
            continue
        try:
            ep = EpisodeId(show, int(parts[3][1:]), int(parts[4][1:]))
        except ValueError:
            continue
        manifest = read_manifest(storage, ep)
        if manifest is not None:
            found[str(ep)] = (manifest.run_id, manifest.analysis_fps)
    return found


def update_show(storage: Storage, show: str, by: str = "pipeline", link: float | None = None) -> ShowSummary:
    """`link`: the link distance (the embedder's calibrated one unless given)."""
    layout = ShowLayout(show)
    link = calibration().link if link is None else link
    for _ in range(ATTEMPTS):
        registry = load_registry(storage, show)
        base = registry.version
        relinked = []
        episodes = published_episodes(storage, show)
        loaded: dict[str, EpisodeTables] = {}
        for ep_id, (run_id, fps) in sorted(episodes.items()):
            ep = parse_episode_id(ep_id)
            tables = EpisodeLayout(ep)
            try:
                people_bytes = storage.get_bytes(tables.table_key(run_id, "people"))
                embeddings = table_from_parquet(storage.get_bytes(tables.table_key(run_id, "embeddings")))
                screentime = table_from_parquet(storage.get_bytes(tables.table_key(run_id, "screentime")))
                loaded[ep_id] = EpisodeTables(
                    detections=table_from_parquet(storage.get_bytes(tables.table_key(run_id, "detections"))),
                    people=table_from_parquet(people_bytes),
                    crops=table_from_parquet(storage.get_bytes(tables.table_key(run_id, "crops"))),
                    analysis_fps=fps,
                    frames=table_from_parquet(storage.get_bytes(tables.table_key(run_id, "frames"))))
            except FileNotFoundError:
                continue  # published before people existed: nothing to link until it is re-run
            digest = hashlib.sha256(people_bytes).hexdigest()
            links = registry.episodes.get(ep_id)
            if links is not None and links.run_id == run_id and links.people_sha256 == digest:
                continue
            persons = episode_people(table_from_parquet(people_bytes), embeddings, screentime)
            registry = link_episode(registry, ep_id, run_id, persons, link, people_sha256=digest)
            relinked.append(ep_id)
        gone = sorted(set(registry.episodes) - set(episodes))
        for ep_id in gone:
            del registry.episodes[ep_id]
        if relinked or gone:
            reason = "linked " + (", ".join(relinked) or "nothing") + (f"; dropped {', '.join(gone)}" if gone else "")
            try:
                registry = save_registry(storage, registry, base, by=by, reason=reason, change="link")
            except StaleRegistry:
                continue  # someone wrote first: redo on their version
        if load_registry(storage, show).version != registry.version:
            continue  # an edit landed meanwhile: count that version instead (the table names the one it counts)
        if registry.version:  # a show with nothing published yet gets no files
            storage.put_bytes(nearest_key(show), table_to_parquet(show_nearest(registry)), PARQUET)
            storage.put_bytes(layout.screentime_key, table_to_parquet(show_screentime(registry, loaded)), PARQUET)
        return ShowSummary(
            show=show, episodes=len(registry.episodes), identities=len(registry.identities),
            named=sum(1 for i in registry.identities.values() if i.name), version=registry.version,
            table_uri=storage.uri(layout.screentime_key), relinked=relinked,
        )
    raise StaleRegistry(f"the people of {show} kept changing during {ATTEMPTS} attempts to update them")
