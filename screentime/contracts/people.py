"""The per-show people registry contract: show-level identities, their names, and which person
of which episode each one is. One JSON document per show in storage, versioned: every write
makes a new version and keeps the old one in the history (the review pages' undo reads it).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_NAME_LENGTH = 80


class Identity(BaseModel):
    id: int = Field(description="stable within the show: never renumbered, never reused")
    name: str | None = Field(None, description="set by a person; None until then ('person <id>')")
    hidden: bool = Field(False, description="marked 'not a face' or 'ignore': left out of screen time tables")

    @property
    def label(self) -> str:
        return self.name or f"person {self.id}"


class EpisodePerson(BaseModel):
    """One person of one episode (people.parquet's person_id) and the identity it is."""

    person_id: int
    identity: int
    seconds: float = 0.0
    embedding: list[float] = Field(default_factory=list, description="the person's mean face vector")


class EpisodeLinks(BaseModel):
    run_id: str = Field(description="the analysis run whose people were linked")
    people_sha256: str = Field("", description="of the people.parquet that was linked: a change re-links")
    people: list[EpisodePerson] = Field(default_factory=list)


class PeopleRegistry(BaseModel):
    show: str
    version: int = 0
    updated_at: str = ""
    updated_by: str = ""
    reason: str = Field("", description="what the last write did, in one line")
    next_id: int = 1
    identities: dict[int, Identity] = Field(default_factory=dict)
    episodes: dict[str, EpisodeLinks] = Field(default_factory=dict)

    def identity_of(self, ep_id: str, person_id: int) -> Identity | None:
        links = self.episodes.get(ep_id)
        for person in links.people if links else []:
            if person.person_id == person_id:
                return self.identities.get(person.identity)
        return None
