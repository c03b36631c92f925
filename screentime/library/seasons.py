"""Seasons as a selection over episode ids: "season 2 of the-office", "seasons 1-3".

Partition keys stay episode ids; a season is the set of keys starting `<show>-s<SS>e`. The same
selection gives the CLI its keys and the UI's backfill dialog the filter to type (`ui_filters`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId, InvalidOption

_SEASONS = re.compile(r"\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*")


def parse_seasons(text: str) -> tuple[int, ...]:
    """`2` -> (2,); `1-3` -> (1, 2, 3); `1-3,5` -> (1, 2, 3, 5)."""
    cleaned = (text or "").replace(" ", "")
    if not _SEASONS.fullmatch(cleaned):
        raise InvalidOption(f"invalid seasons {text!r}: use a number (2), a range (1-3) or a list (1-3,5)")
    seasons: set[int] = set()
    for part in cleaned.split(","):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise InvalidOption(f"invalid season range {part!r}: the first season comes first (1-3)")
        seasons.update(range(low, high + 1))
    return tuple(sorted(seasons))


@dataclass(frozen=True)
class SeasonSelection:
    show: str
    seasons: tuple[int, ...] = ()  # empty: every season of the show

    def __post_init__(self) -> None:
        EpisodeId(self.show, 0, 0)  # the episode id's own check of the show slug

    def matches(self, ep: EpisodeId) -> bool:
        return ep.show == self.show and (not self.seasons or ep.season in self.seasons)

    def select(self, keys: Iterable[str]) -> list[str]:
        """The episode ids among `keys` in this selection, sorted, once each; keys that are not ids
        are skipped."""
        chosen = []
        for key in keys:
            try:
                ep = parse_episode_id(key)
            except InvalidEpisodeId:
                continue
            if self.matches(ep):
                chosen.append(ep)
        return [str(ep) for ep in sorted(set(chosen))]

    def ui_filters(self, keys: Iterable[str] = ()) -> list[str]:
        """What to type in the UI backfill dialog's partition filter, one season at a time:
        `the-office-s02e` (then "Select all"). With no seasons given, the seasons come from `keys`.
        """
        seasons = self.seasons or sorted({parse_episode_id(key).season for key in self.select(keys)})
        return [f"{self.show}-s{season:02d}e" for season in seasons]

    def __str__(self) -> str:
        if not self.seasons:
            return f"{self.show}, every season"
        return f"{self.show}, season{'s' if len(self.seasons) > 1 else ''} {', '.join(map(str, self.seasons))}"
