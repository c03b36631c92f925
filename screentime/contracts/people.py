"""The per-show people registry contract: show-level identities, their names, and which person
of which episode each one is. One JSON document per show in storage, versioned: every write
makes a new version and keeps the old one in the history (the review pages' undo reads it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MAX_NAME_LENGTH = 80
Exclusion = Literal["not_a_face", "ignore"]
Change = Literal["link", "edit", "undo"]


def track_key(track_id: int, part: int) -> str:
    """A track part's key in the registry ("12.0"): JSON object keys are strings."""
    return f"{int(track_id)}.{int(part)}"


def piece_key(part: str, frame: int) -> str:
    """The key of the piece of a track part from a reviewer's cut at `frame` on ("12.0@340"). The
    piece before the first cut keeps the part's own key."""
    return f"{part}@{int(frame)}"


def part_of(key: str) -> str:
    """The track part a key names: itself, or the part a piece was cut from ("12.0@340" -> "12.0")."""
    return key.split("@", 1)[0]


def track_pieces(part: str, first_frame: int, last_frame: int, cuts: list[int] | None) -> list[tuple[str, int, int]]:
    """A track part (first to last frame, inclusive) cut at each of `cuts` strictly inside it: its
    pieces as (key, first frame, last frame). A frame at a cut belongs to the piece that starts there;
    cuts outside the part (a re-run that numbered its parts otherwise) are ignored."""
    inside = sorted({int(c) for c in cuts or () if first_frame < int(c) <= last_frame})
    starts = [first_frame, *inside]
    ends = [c - 1 for c in inside] + [last_frame]
    keys = [part] + [piece_key(part, c) for c in inside]
    return list(zip(keys, starts, ends, strict=True))


class Identity(BaseModel):
    id: int = Field(description="stable within the show: never renumbered, never reused")
    name: str | None = Field(None, description="set by a person; None until then ('person <id>')")
    hidden: Exclusion | None = Field(None, description="marked 'not a face' or 'ignore' by a reviewer: left out "
                                     "of the screen-time tables")
    merged_into: int | None = Field(None, description="merged into that identity by a reviewer: its people "
                                    "count there; the id itself is kept, never reused")
    reviewed: str | None = Field(None, description="who marked the person reviewed (checked, nothing left to "
                                 "fix); None until then, or once the mark is taken back")

    @property
    def label(self) -> str:
        return self.name or f"person {self.id}"


class EpisodePerson(BaseModel):
    """One person of one episode (people.parquet's person_id) and the identity it is."""

    person_id: int
    identity: int
    seconds: float = 0.0
    embedding: list[float] = Field(default_factory=list, description="the person's mean face vector")
    tracks: list[str] = Field(default_factory=list, description="the person's track parts (track_key)")


class TrackEdit(BaseModel):
    """A reviewer's word on one track part of one episode, over what the grouping said."""

    identity: int | None = Field(None, description="moved to this identity (a split makes a new one)")
    excluded: Exclusion | None = Field(None, description="'not a face' or 'ignore': left out of screen time")


class EpisodeLinks(BaseModel):
    run_id: str = Field(description="the analysis run whose people were linked")
    people_sha256: str = Field("", description="of the people.parquet that was linked: a change re-links")
    people: list[EpisodePerson] = Field(default_factory=list)
    track_edits: dict[str, TrackEdit] = Field(default_factory=dict, description="by track_key; they survive "
                                              "re-links of the episode while the track part still exists")
    track_cuts: dict[str, list[int]] = Field(default_factory=dict, description="by track_key: the frames where a "
                                             "reviewer cut the part (the face changes there); the piece from each "
                                             "cut on is its own key (piece_key) in track_edits")


class PeopleRegistry(BaseModel):
    show: str
    version: int = 0
    updated_at: str = ""
    updated_by: str = ""
    reason: str = Field("", description="what the last write did, in one line")
    change: Change = Field("link", description="who made the last write: the pipeline linking episodes "
                           "('link'), a reviewer ('edit'), or an undo of one")
    undoes: int | None = Field(None, description="for an undo: the version whose edit it took back")
    next_id: int = 1
    identities: dict[int, Identity] = Field(default_factory=dict)
    episodes: dict[str, EpisodeLinks] = Field(default_factory=dict)
    not_same: list[tuple[int, int]] = Field(default_factory=list, description="pairs of identities a reviewer "
                                            "said are not the same person: never suggested, never grouped together")

    def resolve(self, identity_id: int) -> int:
        """The identity an id counts as, following merges."""
        seen = set()
        while identity_id in self.identities and self.identities[identity_id].merged_into is not None:
            if identity_id in seen:  # a merge cycle cannot be written by the edits; stop rather than spin
                break
            seen.add(identity_id)
            identity_id = self.identities[identity_id].merged_into
        return identity_id

    def identity_of(self, ep_id: str, person_id: int) -> Identity | None:
        links = self.episodes.get(ep_id)
        for person in links.people if links else []:
            if person.person_id == person_id:
                return self.identities.get(self.resolve(person.identity))
        return None

    def track_identity(self, ep_id: str, person: EpisodePerson, key: str) -> int | None:
        """The identity a track part (or a piece of one, `person` being the part's) counts for after
        every edit; None when it is left out."""
        links = self.episodes[ep_id]
        edit = links.track_edits.get(key)
        if edit is not None and edit.excluded:
            return None
        identity = self.resolve(edit.identity if edit is not None and edit.identity is not None else person.identity)
        found = self.identities.get(identity)
        return None if found is None or found.hidden else identity
