"""What the suggestions page reads and sends: "same person?" pairs of a show's people, each person's
likeliest matches, and a reviewer's "not the same" (GET/POST /shows/{show}/suggestions...).

Accepting a pair is the existing merge edit (contracts/edits.py `Merge`, `into` = `a.id`,
`identities` = [`b.id`]); rejecting it is a `NotSameRequest`, remembered in the show's registry.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from screentime.contracts.edits import clean_name
from screentime.contracts.review import CropRef

Scope = Literal["episode", "show"]


class Side(BaseModel):
    """One person of a pair, as the page shows them."""

    id: int
    label: str = Field(description="the name, or 'person <id>'")
    name: str | None = None
    seconds: float | None = Field(None, description="on screen, from the last show table (None: not counted yet)")
    episodes: list[str] = Field(default_factory=list, description="episodes with their track parts")
    crops: list[CropRef] = Field(default_factory=list, description="up to 6 crops, one per track part first")


class Pair(BaseModel):
    """Two people the face distance says may be one. Accepting merges `b` into `a` (`a` is the one
    to keep: named, else more seconds, else the older id)."""

    a: Side
    b: Side
    distance: float = Field(description="the smallest face distance between their people: within an episode "
                            "the grouping's average-linkage distance, across episodes the distance between "
                            "mean face vectors (both cosine; the grouping merges under 0.42 with faceres)")
    scope: Scope = Field(description="'episode': two people of one episode; 'show': people of two episodes")
    episodes: list[str] = Field(description="the episodes the distance comes from")


class SuggestionsView(BaseModel):
    show: str
    ep_id: str | None = Field(None, description="only pairs with a person of this episode")
    version: int = Field(description="the registry version: a merge or a 'not the same' names it as base_version")
    numbers_version: int | None = Field(None, description="the registry version the seconds were counted at")
    total: int = Field(description="pairs in all; `pairs` holds one page, nearest first")
    offset: int
    limit: int
    rejected: int = Field(description="pairs reviewers said are not the same (never suggested again)")
    pairs: list[Pair]


class Match(BaseModel):
    id: int
    label: str
    distance: float
    scope: Scope


class PersonMatches(BaseModel):
    """One person's likeliest matches, nearest first (the card's "same person?" line)."""

    id: int
    label: str
    distance: float = Field(description="to the nearest match: the 'most likely duplicated' sort key")
    matches: list[Match]


class MatchesView(BaseModel):
    show: str
    version: int
    people: list[PersonMatches] = Field(description="every person with at least one match, most likely "
                                        "duplicated (smallest distance) first")


class NotSameRequest(BaseModel):
    """A reviewer's "these two are not the same person": a cannot-link the grouping honours."""

    model_config = {"extra": "forbid"}
    base_version: int = Field(ge=0, description="the registry version the page showed")
    by: str = Field("reviewer", description="who says so, as the history shows it")
    a: int = Field(ge=1)
    b: int = Field(ge=1)

    @field_validator("by")
    @classmethod
    def _by(cls, value: str) -> str:
        return clean_name(value) or "reviewer"
