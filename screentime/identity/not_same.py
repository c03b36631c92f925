"""A reviewer's "not the same person": a cannot-link between two identities, and what it keeps apart.

A rejected "same person?" suggestion is recorded in the show's registry (`PeopleRegistry.not_same`,
pairs of identity ids, resolved through later merges). It is never suggested again, and the
grouping honours it when it runs again: an episode's track parts that counted for one side are
never grouped with those of the other (`apart_tracks`, the `apart` argument of
`screentime.identity.episode.group_episode`), and a re-linked person that held one side's track
parts is never linked to the other side (`forbidden_links`, used by `link_episode`).
Track parts are named by their key in the analysis run they come from, as the registry's track
edits are: a pair keeps applying while those parts exist (a re-run of the same analysis run).
"""

from __future__ import annotations

from screentime.contracts.errors import ScreentimeError
from screentime.contracts.people import EpisodePerson, PeopleRegistry
from screentime.identity.edits import write_edit
from screentime.storage.base import Storage


class InvalidPair(ScreentimeError):
    """A "not the same" pair that names a person who does not exist, is merged away, or twice."""


def rejections(registry: PeopleRegistry) -> list[tuple[int, int]]:
    """The pairs as recorded (ids at the time). The field is `PeopleRegistry.not_same`; a registry
    model without it (before that field was added) has none."""
    return [(int(a), int(b)) for a, b in getattr(registry, "not_same", None) or ()]


def not_same_pairs(registry: PeopleRegistry) -> set[frozenset[int]]:
    """The pairs of identities, as they count now (merges followed), a reviewer kept apart. A pair
    whose two sides were merged since (a reviewer's later word) no longer counts."""
    out = set()
    for a, b in rejections(registry):
        ra, rb = registry.resolve(a), registry.resolve(b)
        if ra != rb:
            out.add(frozenset((ra, rb)))
    return out


def track_owners(registry: PeopleRegistry, ep_id: str) -> dict[str, int]:
    """track_key -> the identity the part counts for in the episode's current links (moves and
    merges followed; parts left out of screen time still belong to someone)."""
    links = registry.episodes.get(ep_id)
    if links is None:
        return {}
    owners = {}
    for person in links.people:
        for key in person.tracks:
            edit = links.track_edits.get(key)
            moved = edit.identity if edit is not None and edit.identity is not None else None
            owners[key] = registry.resolve(moved if moved is not None else person.identity)
    return owners


def apart_tracks(registry: PeopleRegistry, ep_id: str, run_id: str) -> list[tuple[set[str], set[str]]]:
    """For the episode's people step on analysis run `run_id`: each rejected pair as (track parts of
    one side, of the other). Nothing when the episode's people were linked from another analysis
    run: its track numbers name other faces."""
    links = registry.episodes.get(ep_id)
    if links is None or links.run_id != run_id:
        return []
    sides: dict[int, set[str]] = {}
    for key, identity in track_owners(registry, ep_id).items():
        sides.setdefault(identity, set()).add(key)
    pairs = sorted(tuple(sorted(pair)) for pair in not_same_pairs(registry))
    return [(sides[a], sides[b]) for a, b in pairs if a in sides and b in sides]


def forbidden_links(registry: PeopleRegistry, ep_id: str, run_id: str,
                    people: list[EpisodePerson]) -> dict[int, set[int]]:
    """index in `people` -> identities it may not be linked to: a person of a re-run of the same
    analysis run who holds track parts that counted for A is never linked to B when A and B are
    not the same."""
    old = registry.episodes.get(ep_id)
    pairs = not_same_pairs(registry)
    if old is None or old.run_id != run_id or not pairs:
        return {}
    owners = track_owners(registry, ep_id)
    out: dict[int, set[int]] = {}
    for index, person in enumerate(people):
        was = {owners[key] for key in person.tracks if key in owners}
        banned = {other for pair in pairs for other in pair if (pair - {other}) & was}
        if banned:
            out[index] = banned
    return out


def reject_pair(registry: PeopleRegistry, a: int, b: int) -> tuple[PeopleRegistry, str]:
    """A new registry (unsaved) where `a` and `b` are recorded as not the same, and the reason line."""
    if a == b:
        raise InvalidPair(f"person {a} is the same person as person {a}")
    for identity in (a, b):
        who = registry.identities.get(identity)
        if who is None:
            raise InvalidPair(f"{registry.show} has no person {identity}")
        if who.merged_into is not None:
            raise InvalidPair(f"person {identity} was merged into person {registry.resolve(identity)}")
    if frozenset((a, b)) in not_same_pairs(registry):
        raise InvalidPair(f"person {a} and person {b} are already recorded as not the same")
    updated = registry.model_copy(deep=True)
    updated.not_same = [*rejections(registry), (min(a, b), max(a, b))]
    labels = sorted((registry.identities[a].label, registry.identities[b].label))
    return updated, f"{labels[0]} and {labels[1]} are not the same person"


def record_not_same(storage: Storage, show: str, base_version: int, a: int, b: int, by: str) -> PeopleRegistry:
    """Save "a and b are not the same" as a reviewer's edit (a new registry version; undo takes it
    back), by the rule every edit is written by (`screentime.identity.edits.write_edit`): made on an
    older version, it is rebased when neither person changed since, and refused with Conflict (a
    StaleRegistry) when one did. InvalidPair when it names no such pair."""
    return write_edit(storage, show, base_version, lambda registry: reject_pair(registry, a, b),
                      {("person", a), ("person", b)}, by, invalid=(InvalidPair,))
