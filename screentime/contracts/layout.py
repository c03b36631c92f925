"""The artifact layout contract: where each episode's outputs live, relative to the storage root.

    artifacts/frames/<show>/s<SS>/e<EE>/<run_id>/frame_<NNNNNN>.jpg
    artifacts/crops/<show>/s<SS>/e<EE>/<run_id>/track_<NNNN>/frame_<NNNNNN>.jpg
    artifacts/manifests/<show>/s<SS>/e<EE>/<run_id>/<table>.parquet    (each of TABLES: frames ... screentime)
    artifacts/manifests/<show>/s<SS>/e<EE>/<run_id>/progress.jsonl   (the run's progress history)
    artifacts/manifests/<show>/s<SS>/e<EE>/manifest.json    (the commit point, written last)
    artifacts/manifests/<show>/s<SS>/e<EE>/progress.json    (latest progress record)
    artifacts/manifests/<show>/s<SS>/e<EE>/failures.json    (failed runs, until one succeeds)
    artifacts/people/<show>/registry.json                   (the show's people registry, latest)
    artifacts/people/<show>/history/v<NNNNNN>.json          (every earlier version of it)
    artifacts/people/<show>/screentime.parquet              (identity x episode seconds, the show)

Each run writes into its own `<run_id>` folder; `manifest.json` names the run whose outputs are
complete. Once it is replaced, the other run folders are deleted. A crash therefore leaves either
the old manifest with the old outputs, or the new manifest with the new ones, never a mix, on a
local disk and on S3 alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.tables import SCHEMAS

ARTIFACTS = "artifacts"
KINDS = ("frames", "crops", "manifests")
TABLES = tuple(SCHEMAS)  # every table a run writes, one Parquet file each (contracts/tables.py)
RUN_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"  # Dagster's run ids (UUIDs) and the tests' short ones
RUN_ID_JSON_PATTERN = f"^{RUN_ID}$"
_RUN_ID = re.compile(RUN_ID)


def is_run_id(name: str) -> bool:
    return isinstance(name, str) and _RUN_ID.fullmatch(name) is not None


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"invalid run id {run_id!r}")
    return run_id


@dataclass(frozen=True)
class EpisodeLayout:
    ep: EpisodeId

    def episode_prefix(self, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}")
        return f"{ARTIFACTS}/{kind}/{self.ep.relative_dir}/"

    def run_prefix(self, kind: str, run_id: str) -> str:
        return f"{self.episode_prefix(kind)}{validate_run_id(run_id)}/"

    def run_prefixes(self, run_id: str) -> dict[str, str]:
        return {kind: self.run_prefix(kind, run_id) for kind in KINDS}

    def frame_key(self, run_id: str, frame_index: int) -> str:
        return f"{self.run_prefix('frames', run_id)}frame_{frame_index:06d}.jpg"

    def crop_key(self, run_id: str, track_id: int, frame_index: int) -> str:
        return f"{self.run_prefix('crops', run_id)}track_{track_id:04d}/frame_{frame_index:06d}.jpg"

    def table_key(self, run_id: str, table: str) -> str:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return f"{self.run_prefix('manifests', run_id)}{table}.parquet"

    @property
    def manifest_key(self) -> str:
        return f"{self.episode_prefix('manifests')}{MANIFEST_FILE}"

    @property
    def progress_key(self) -> str:
        return f"{self.episode_prefix('manifests')}{PROGRESS_FILE}"

    @property
    def failures_key(self) -> str:
        return f"{self.episode_prefix('manifests')}{FAILURES_FILE}"

    def progress_history_key(self, run_id: str) -> str:
        """One run's progress history, in its own run folder: a record's write cost is bounded by
        that run's records, not the episode's whole history, and the history goes with the folder."""
        return f"{self.run_prefix('manifests', run_id)}progress.jsonl"


# The files directly in an episode's manifests folder (beside the run folders).
MANIFEST_FILE, PROGRESS_FILE, FAILURES_FILE = "manifest.json", "progress.json", "failures.json"


def episode_of_key(key: str, names: tuple[str, ...]) -> EpisodeId | None:
    """`artifacts/manifests/<show>/s<SS>/e<EE>/<name>` with `name` in `names` -> the episode;
    None for any other key (a run folder's file, another name, a folder that is no episode id)."""
    parts = key.split("/")
    if len(parts) != 6 or parts[:2] != [ARTIFACTS, "manifests"] or parts[5] not in names:
        return None
    try:
        return parse_episode_id(f"{parts[2]}-{parts[3]}{parts[4]}")
    except InvalidEpisodeId:
        return None


@dataclass(frozen=True)
class ShowLayout:
    """Where a show's people registry and its show-level tables live."""

    show: str

    def __post_init__(self) -> None:
        EpisodeId(self.show, 1, 1)  # validates the slug the same way episode ids do

    @property
    def prefix(self) -> str:
        return f"{ARTIFACTS}/people/{self.show}/"

    @property
    def registry_key(self) -> str:
        return f"{self.prefix}registry.json"

    def history_key(self, version: int) -> str:
        return f"{self.prefix}history/v{int(version):06d}.json"

    @property
    def screentime_key(self) -> str:
        return f"{self.prefix}screentime.parquet"
