"""A reviewer's edits to a show's people, as data: the request bodies of the review page's API and
the arguments of screentime.identity.edits. Every edit names the registry version it was made on,
so an edit made on a page that is out of date is refused instead of silently undoing another's.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from screentime.contracts.people import MAX_NAME_LENGTH, Exclusion

# Besides letters and marks of any script (Hindi's vowel signs, Thai's, a decomposed "Zoë"),
# digits and spaces: the punctuation real names use. Never < > (so no markup), no control or
# format characters but the joiners some scripts write words with, no underscore.
NAME_PUNCTUATION = frozenset(".,'’‘\"“”()&-‐–!·")
JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner (Persian, Indic scripts)
NAME_RULE = "letters and marks of any script, digits, spaces and . , ' ’ \" “ ” ( ) & - ! · only"
# A track part ("12.0"), or a piece of one a reviewer cut ("12.0@340": from frame 340 on; SplitTrack).
TRACK_PATTERN = re.compile(r"^\d{1,9}\.\d{1,4}(@\d{1,9})?$")


def _name_char(char: str) -> bool:
    if char == " " or char in NAME_PUNCTUATION or char in JOINERS:
        return True
    return unicodedata.category(char)[0] in "LM" or unicodedata.category(char) == "Nd"


def clean_name(value: str | None) -> str | None:
    """A person's name as stored: NFC, spaces collapsed; None or empty clears it. ValueError if unfit
    (over MAX_NAME_LENGTH characters is refused, never cut)."""
    if value is None:
        return None
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        return None
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a name is at most {MAX_NAME_LENGTH} characters (this one has {len(name)})")
    bad = sorted({char for char in name if not _name_char(char)})
    if bad:
        shown = " ".join(repr(char) for char in bad[:5])
        raise ValueError(f"a name may hold {NAME_RULE} (not {shown})")
    if unicodedata.category(name[0])[0] == "M":
        raise ValueError("a name cannot start with a combining mark")
    return name


def check_track(value: str) -> str:
    if not TRACK_PATTERN.match(value):
        raise ValueError("a track is written track_id.part, e.g. '12.0' (a piece of one: '12.0@340')")
    return value


class _Edit(BaseModel):
    model_config = {"extra": "forbid"}


class Rename(_Edit):
    action: Literal["rename"] = "rename"
    identity: int = Field(ge=1)
    name: str | None = Field(None, description="None or empty clears the name ('person <id>' again)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return clean_name(value)


class Merge(_Edit):
    action: Literal["merge"] = "merge"
    into: int = Field(ge=1, description="the identity that stays")
    identities: list[int] = Field(min_length=1, max_length=500, description="merged into `into`")


class MoveTrack(_Edit):
    """Split: a track part moved to another person, or (to=None) to a new one."""

    action: Literal["move"] = "move"
    ep_id: str = Field(max_length=200)
    track: str = Field(description="track_id.part, as people.parquet numbers them ('12.0')")
    to: int | None = Field(None, ge=1, description="None: a new person")
    name: str | None = Field(None, description="a name for the new person")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return clean_name(value)

    @field_validator("track")
    @classmethod
    def _track(cls, value: str) -> str:
        return check_track(value)


class ExcludeTrack(_Edit):
    action: Literal["exclude_track"] = "exclude_track"
    ep_id: str = Field(max_length=200)
    track: str
    reason: Exclusion | None = Field(description="'not_a_face' or 'ignore'; None counts it again")

    @field_validator("track")
    @classmethod
    def _track(cls, value: str) -> str:
        return check_track(value)


class HideIdentity(_Edit):
    action: Literal["hide"] = "hide"
    identity: int = Field(ge=1)
    reason: Exclusion | None = Field(description="'not_a_face' or 'ignore'; None shows the person again")


class Reviewed(_Edit):
    """A reviewer's mark that a person is checked (a name, their tracks): the review page can show
    only the people not reviewed yet."""

    action: Literal["reviewed"] = "reviewed"
    identity: int = Field(ge=1)
    reviewer: str | None = Field(description="who checked the person; None takes the mark back")

    @field_validator("reviewer")
    @classmethod
    def _reviewer(cls, value: str | None) -> str | None:
        return clean_name(value)


class SplitTrack(_Edit):
    """Split inside a track: cut a track (a part, or a piece of one) at `frame`, where its face
    changes (a cut the pipeline missed); the frames from it on become a piece of their own, moved to
    `to` (None: a new person). The registry keeps the cut in `EpisodeLinks.track_cuts`; undo takes
    it back."""

    action: Literal["split_track"] = "split_track"
    ep_id: str = Field(max_length=200)
    track: str = Field(description="track_id.part ('12.0'), or a piece of one ('12.0@340')")
    frame: int = Field(ge=1, le=10**9, description="the analysed frame where the other face starts")
    to: int | None = Field(None, ge=1, description="who the frames from `frame` on are: None makes a new person")

    @field_validator("track")
    @classmethod
    def _track(cls, value: str) -> str:
        return check_track(value)


Edit = Annotated[Rename | Merge | MoveTrack | ExcludeTrack | HideIdentity | Reviewed | SplitTrack,
                 Field(discriminator="action")]


class _Request(BaseModel):
    model_config = {"extra": "forbid"}
    base_version: int = Field(ge=0, description="the registry version the page showed when the edit was made")
    by: str = Field("reviewer", description="who makes the edit, as the history shows it (a name)")

    @field_validator("by")
    @classmethod
    def _by(cls, value: str) -> str:
        return clean_name(value) or "reviewer"


class EditRequest(_Request):
    edit: Edit


class UndoRequest(_Request):
    pass
