"""What the review and Screentime pages read: a show's people as a reviewer sees them (the
registry's current identities and track parts, with the numbers of the last show table), and the
show's screen-time rows. The API returns these models; the pages' JavaScript reads their fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from screentime.contracts.people import MAX_NAME_LENGTH, Change, Exclusion


class CropRef(BaseModel):
    """One saved face crop: the API serves it at /crops/{ep_id}/{run_id}/{track_id}/{frame_index}.jpg."""

    ep_id: str
    run_id: str
    track_id: int
    frame_index: int
    timestamp_s: float | None = Field(None, description="the moment in the episode (presentation time)")
    box: tuple[int, int, int, int] | None = Field(None, description="the face in the frame: x1, y1, x2, y2 pixels")
    frame: bool = Field(False, description="the whole frame was saved too: /frames/{ep_id}/{run_id}/{frame_index}.jpg")


class TrackView(BaseModel):
    ep_id: str
    track: str = Field(description="track_id.part, the key edits name ('12.0'); a piece a reviewer cut from "
                       "frame 340 on: '12.0@340'")
    seconds: float = Field(description="analysed frames of this track part with a face, times 1/fps")
    start_s: float
    end_s: float
    first_frame: int | None = Field(None, description="the analysed frames the part (or piece) spans, inclusive")
    last_frame: int | None = None
    crops: list[CropRef] = Field(default_factory=list, description="a few crops across the part, best first")
    excluded: Exclusion | None = Field(None, description="left out of screen time by a reviewer")
    moved: bool = Field(False, description="a reviewer moved it here from the person the grouping chose")


class PersonView(BaseModel):
    id: int
    name: str | None
    label: str = Field(description="the name, or 'person <id>'")
    hidden: Exclusion | None = None
    reviewed: str | None = Field(None, description="who marked the person reviewed; None: not reviewed yet")
    seconds: float | None = Field(description="on screen, from the last show table; None until a run counts "
                                  "this person (a new person from a split, say)")
    appearances: int | None = None
    episodes: int = Field(description="episodes with at least one of their track parts")
    crop: CropRef | None = Field(None, description="the representative crop: their best-scored face")
    tracks: list[TrackView] = Field(default_factory=list)
    tracks_total: int = Field(0, description="track parts in all; `tracks` holds the first ones only")
    tracks_counted: int = Field(0, description="track parts not left out: 0 when every one is")


class Target(BaseModel):
    """A person an edit can name (merge into, move a track to), with their face for the search."""

    id: int
    label: str
    named: bool = False
    crop: CropRef | None = None


class PeopleView(BaseModel):
    show: str
    ep_id: str | None = Field(None, description="set for one episode's review; None for the whole show")
    version: int = Field(description="the registry version this view shows: edits name it as base_version")
    numbers_version: int | None = Field(description="the registry version the seconds were counted at; "
                                        "behind `version` while Dagster recounts after an edit")
    updated_at: str
    updated_by: str
    reason: str
    change: Change
    can_undo: bool
    episodes: list[str] = Field(description="the show's episodes with people, in order")
    run_ids: dict[str, str] = Field(description="ep_id -> the analysis run its people come from")
    total: int = Field(description="people that match the filters; `people` is one page of them")
    offset: int
    limit: int
    people: list[PersonView]
    targets: list[Target] = Field(description="every person an edit can name, by label")
    name_max: int = Field(MAX_NAME_LENGTH, description="the longest name an edit takes (longer is refused)")
    videos: dict[str, str] = Field(default_factory=dict, description="ep_id -> 'file' or 's3' for the episodes "
                                   "whose source video GET /episodes/{ep_id}/video can play")


class PersonTracks(BaseModel):
    """One page of one person's track parts (a lead has hundreds; a card shows a page at a time)."""

    show: str
    id: int
    version: int
    total: int = Field(description="the person's track parts in all (in this episode, with ep_id)")
    offset: int
    limit: int
    tracks: list[TrackView]


class ScreentimeRow(BaseModel):
    identity_id: int
    name: str
    named: bool
    ep_id: str
    season: int
    episode: int
    seconds: float
    appearances: int
    crop: CropRef | None = None


class ScreentimeView(BaseModel):
    show: str
    season: int | None = None
    ep_id: str | None = None
    numbers_version: int | None = Field(description="the registry version the table was counted at")
    version: int = Field(description="the registry's version now")
    episodes: list[str] = Field(description="the episodes in the table, in order")
    rows: list[ScreentimeRow] = Field(description="one per person and episode, most seconds first")


class TrackCrops(BaseModel):
    """A track part's (or piece's) crops in time order: where a reviewer picks the frame the face
    changes at (the split_track edit's `frame`)."""

    show: str
    ep_id: str
    track: str
    version: int = Field(description="the registry version the track's pieces were read at")
    first_frame: int
    last_frame: int
    total: int = Field(description="the crops of the track in all; `crops` spreads over them when there are more")
    crops: list[CropRef] = Field(description="in frame order")
