"""The episode id contract: `<show>-s<SS>e<EE>`, e.g. `the-office-s02e07`.

One parser serves every entry point (CLI, sensor, API, storage). Ids are canonical: the show is a
lowercase slug and season/episode have at least two digits, with no extra leading zeros, so each
episode has exactly one id. A parsed id only yields path segments made of [a-z0-9-], so it cannot
escape the artifact root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from screentime.contracts.errors import InvalidEpisodeId

MAX_EPISODE_ID_LENGTH = 96
MAX_SHOW_LENGTH = 64
SHOW_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"  # lowercase letters and digits, in words joined by single hyphens
_SHOW_SLUG = re.compile(SHOW_SLUG)
_EPISODE_ID = re.compile(rf"(?P<show>{SHOW_SLUG})-s(?P<season>\d{{2,4}})e(?P<episode>\d{{2,4}})")
# The same grammar as JSON Schema patterns, for the API's OpenAPI document: the show's length by a
# lookahead, canonical season and episode numbers (two digits, no other leading zero).
# `parse_episode_id` stays the validator, and says what is wrong.
EPISODE_ID_JSON_PATTERN = (rf"^(?=[a-z0-9-]{{1,{MAX_SHOW_LENGTH}}}-s[0-9]+e[0-9]+$){SHOW_SLUG}"
                           r"-s(0[0-9]|[1-9][0-9]{1,3})e(0[0-9]|[1-9][0-9]{1,3})$")
SHOW_JSON_PATTERN = rf"^(?=.{{1,{MAX_SHOW_LENGTH}}}$){SHOW_SLUG}$"


@dataclass(frozen=True, order=True)
class EpisodeId:
    show: str
    season: int
    episode: int

    def __post_init__(self) -> None:
        if not _SHOW_SLUG.fullmatch(self.show) or len(self.show) > MAX_SHOW_LENGTH:
            raise InvalidEpisodeId(
                f"invalid show slug {self.show[:80]!r}: use lowercase letters, digits and single hyphens"
            )
        if not (0 <= self.season <= 9999 and 0 <= self.episode <= 9999):
            raise InvalidEpisodeId("season and episode numbers must be between 0 and 9999")

    def __str__(self) -> str:
        return f"{self.show}-s{self.season:02d}e{self.episode:02d}"

    @property
    def season_dir(self) -> str:
        return f"s{self.season:02d}"

    @property
    def episode_dir(self) -> str:
        return f"e{self.episode:02d}"

    @property
    def relative_dir(self) -> str:
        """`<show>/s<SS>/e<EE>`: the episode's place under each artifact kind."""
        return f"{self.show}/{self.season_dir}/{self.episode_dir}"


def parse_episode_id(value: object) -> EpisodeId:
    """Parse and validate an episode id, raising InvalidEpisodeId with a clear message."""
    if not isinstance(value, str):
        raise InvalidEpisodeId(f"episode id must be a string, got {type(value).__name__}")
    if len(value) > MAX_EPISODE_ID_LENGTH:
        raise InvalidEpisodeId(
            f"episode id is {len(value)} characters long; the limit is {MAX_EPISODE_ID_LENGTH}"
        )
    match = _EPISODE_ID.fullmatch(value)
    if not match:
        raise InvalidEpisodeId(
            f"invalid episode id {value!r}: expected <show>-s<SS>e<EE> with a lowercase show slug, "
            "e.g. the-office-s02e07"
        )
    ep = EpisodeId(match["show"], int(match["season"]), int(match["episode"]))
    if str(ep) != value:
        raise InvalidEpisodeId(f"episode id {value!r} is not canonical: use {str(ep)!r}")
    return ep
