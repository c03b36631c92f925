"""What a change to a show's people touches, when two changes conflict, and taking one back.

Several reviewers edit one registry. An edit names the version its page showed; when the registry
moved on since, the edit is not refused outright: it is made again on the newest version when
nothing it touches was touched since (a rebase), and refused (409) only when something was.

A change *touches* these subjects (`changes(before, after)`):

- `("person", id)`: an identity whose record changed (name, mark, merge, reviewed, new), the
  identity it was merged into or out of, and every identity a track part moved from or to;
- `("track", ep_id, key)`: a track part (or a piece of one) whose edit or cuts changed, or that a
  re-link of the same analysis run gave to another person;
- `("episode", ep_id)`: an episode linked from another analysis run, added or dropped (its
  track numbers now name other faces, so it meets every track subject of that episode);
- `("pair", a, b)`: a "not the same" pair said or taken back (it touches both people too).

Two changes conflict when their subjects meet (`conflicts`). An edit's own subjects are those
it changes on the version it was made on plus the people it names (a merge's target, a move's
destination), so merging into a person someone hid meanwhile is a conflict, not a surprise.
"""

from __future__ import annotations

from screentime.contracts.people import EpisodeLinks, Identity, PeopleRegistry, TrackEdit, part_of

Subject = tuple


def changes(before: PeopleRegistry, after: PeopleRegistry) -> set[Subject]:
    """The subjects that differ between two versions of one show's registry."""
    out: set[Subject] = set()
    for identity in before.identities.keys() | after.identities.keys():
        old, new = before.identities.get(identity), after.identities.get(identity)
        if old != new:
            out.add(("person", identity))
            out |= {("person", who.merged_into) for who in (old, new) if who is not None and who.merged_into}
    for ep_id in before.episodes.keys() | after.episodes.keys():
        old, new = before.episodes.get(ep_id), after.episodes.get(ep_id)
        if old is None or new is None or old.run_id != new.run_id:
            if old != new:
                out.add(("episode", ep_id))
            continue
        people_old, people_new = _people_of(old), _people_of(new)
        for key in set(people_old) | set(people_new) | _edited(old) | _edited(new):
            if _part_state(old, people_old, key) != _part_state(new, people_new, key):
                out.add(("track", ep_id, key))
                out |= {("person", i) for i in (owner(before, ep_id, key), owner(after, ep_id, key)) if i}
    for a, b in {tuple(p) for p in before.not_same} ^ {tuple(p) for p in after.not_same}:
        out |= {("pair", min(a, b), max(a, b)), ("person", a), ("person", b)}
    return out


def conflicts(mine: set[Subject], theirs: set[Subject]) -> list[Subject]:
    """The subjects two changes both touch (an episode re-analysed meets each of its tracks)."""
    met = mine & theirs
    for one, other in ((mine, theirs), (theirs, mine)):
        met |= {("episode", s[1]) for s in one if s[0] == "track" and ("episode", s[1]) in other}
    return sorted(met, key=repr)


def describe(subject: Subject) -> str:
    kind = subject[0]
    if kind == "person":
        return f"person {subject[1]}"
    if kind == "track":
        return f"track {subject[2]} of {subject[1]}"
    if kind == "episode":
        return f"episode {subject[1]} (linked again)"
    return f"whether person {subject[1]} and person {subject[2]} are the same"


def owner(registry: PeopleRegistry, ep_id: str, key: str) -> int | None:
    """The identity a track part or piece belongs to (moves and merges followed; left out or not)."""
    links = registry.episodes.get(ep_id)
    if links is None:
        return None
    part = part_of(key)
    person = next((p for p in links.people if part in p.tracks), None)
    if person is None:
        return None
    edit = links.track_edits.get(key)
    return registry.resolve(edit.identity if edit is not None and edit.identity is not None else person.identity)


def revert(current: PeopleRegistry, before: PeopleRegistry, subjects: set[Subject]) -> PeopleRegistry:
    """`current` with every subject of `subjects` put back as it is in `before` (an undo). The
    caller checks first that nothing since touched them; ids are never reused (next_id stays)."""
    restored = current.model_copy(deep=True)
    for subject in subjects:
        if subject[0] == "person":
            _put(restored.identities, subject[1], before.identities.get(subject[1]))
        elif subject[0] == "track":
            _, ep_id, key = subject
            old, new = before.episodes.get(ep_id), restored.episodes.get(ep_id)
            if new is None:
                continue
            _put(new.track_edits, key, old.track_edits.get(key) if old else None)
            _put(new.track_cuts, key, old.track_cuts.get(key) if old else None)
        elif subject[0] == "episode":
            _put(restored.episodes, subject[1], before.episodes.get(subject[1]))
    pairs = {("pair", min(a, b), max(a, b)) for a, b in before.not_same}
    mine = {s for s in subjects if s[0] == "pair"}
    kept = [(a, b) for a, b in restored.not_same if ("pair", min(a, b), max(a, b)) not in mine]
    restored.not_same = kept + [(s[1], s[2]) for s in sorted(mine & pairs)]
    return restored


def _people_of(links: EpisodeLinks) -> dict[str, int]:
    """track part -> the identity the linking gave its person."""
    return {key: person.identity for person in links.people for key in person.tracks}


def _edited(links: EpisodeLinks) -> set[str]:
    return set(links.track_edits) | set(links.track_cuts)


def _part_state(links: EpisodeLinks, people: dict[str, int], key: str) -> tuple:
    return people.get(part_of(key)), links.track_edits.get(key, TrackEdit()), sorted(links.track_cuts.get(key, ()))


def _put(mapping: dict, key, value: Identity | TrackEdit | EpisodeLinks | list | None) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value.model_copy(deep=True) if hasattr(value, "model_copy") else list(value)
