"""A reviewer's edits to a show's people: name, merge, split a track out, leave out, undo.

Each edit is checked against the registry it was made on (ids that exist, a version that is
still the newest) and saved as a new registry version with who made it and why; the history
keeps every version, and `undo_last` restores the one before the last edit as a newer version.
Ids are never reused, even when the edit that made one is undone.

Nothing here recomputes seconds: the show's screen-time table applies the edits when the
roll-up runs (screentime.identity.show_rollup, the `show_people` asset in Dagster).
"""

from __future__ import annotations

from screentime.contracts.edits import Edit, ExcludeTrack, HideIdentity, Merge, MoveTrack, Rename
from screentime.contracts.errors import ScreentimeError
from screentime.contracts.people import Identity, PeopleRegistry, TrackEdit
from screentime.identity.registry import StaleRegistry, load_registry, load_version, save_registry
from screentime.storage.base import Storage


class InvalidEdit(ScreentimeError):
    """An edit that names what does not exist or cannot be done."""


class NothingToUndo(ScreentimeError):
    """The last change was not a reviewer's edit (or there is none)."""


def apply_edit(registry: PeopleRegistry, edit: Edit) -> tuple[PeopleRegistry, str]:
    """A new registry (unsaved) with the edit made, and the reason line for the history."""
    updated = registry.model_copy(deep=True)
    if isinstance(edit, Rename):
        who = _live(updated, edit.identity)
        old = who.label
        who.name = edit.name
        return updated, f"renamed {old} to {who.label}"
    if isinstance(edit, Merge):
        target = _live(updated, edit.into)
        sources = [_live(updated, i) for i in dict.fromkeys(edit.identities)]
        if any(s.id == target.id for s in sources):
            raise InvalidEdit(f"cannot merge {target.label} into itself")
        labels = [s.label for s in sources]
        for source in sources:
            source.merged_into = target.id
            if target.name is None and source.name is not None:
                target.name = source.name  # an unnamed person takes the name of one merged in
        return updated, f"merged {', '.join(labels)} into {target.label}"
    if isinstance(edit, MoveTrack):
        person = _person_of_track(updated, edit.ep_id, edit.track)
        links = updated.episodes[edit.ep_id]
        if edit.to is None:
            target = Identity(id=updated.next_id, name=edit.name)
            updated.identities[target.id] = target
            updated.next_id += 1
            verb = "split"
        else:
            target = _live(updated, edit.to)
            verb = "moved"
        previous = links.track_edits.get(edit.track, TrackEdit())
        if target.id == updated.resolve(person.identity):  # back where the grouping put it
            moved = TrackEdit(excluded=previous.excluded)
        else:
            moved = TrackEdit(identity=target.id, excluded=previous.excluded)
        _set_track_edit(links.track_edits, edit.track, moved)
        return updated, f"{verb} track {edit.track} of {edit.ep_id} to {target.label}"
    if isinstance(edit, ExcludeTrack):
        _person_of_track(updated, edit.ep_id, edit.track)
        links = updated.episodes[edit.ep_id]
        previous = links.track_edits.get(edit.track, TrackEdit())
        _set_track_edit(links.track_edits, edit.track, previous.model_copy(update={"excluded": edit.reason}))
        what = f"marked {_words(edit.reason)}" if edit.reason else "counted again"
        return updated, f"track {edit.track} of {edit.ep_id} {what}"
    if isinstance(edit, HideIdentity):
        who = _live(updated, edit.identity)
        who.hidden = edit.reason
        return updated, f"{who.label} " + (f"marked {_words(edit.reason)}" if edit.reason else "shown again")
    raise InvalidEdit(f"unknown edit {edit!r}")


def edit_people(storage: Storage, show: str, base_version: int, edit: Edit, by: str) -> PeopleRegistry:
    """Make and save one edit; StaleRegistry when the registry moved past `base_version`.

    An edit that changes nothing (a person renamed to the name they have, a track moved to whom it
    counts for) is no edit: no version is written, and the registry comes back as it was (so
    undo still takes back the last real edit)."""
    current = _current(storage, show, base_version)
    updated, reason = apply_edit(current, edit)
    if is_no_op(current, updated):
        return current
    return save_registry(storage, updated, current.version, by=by, reason=reason, change="edit")


# What a write says about itself; the rest (identities, episodes, next id, any field added later) is
# what an edit changes.
WRITE_FIELDS = {"version", "updated_at", "updated_by", "reason", "change", "undoes"}


def is_no_op(before: PeopleRegistry, after: PeopleRegistry) -> bool:
    """The edit left the people as they were: only a write's own fields could differ."""
    return all(getattr(after, name) == getattr(before, name)  # model equality: no dump of every vector
               for name in PeopleRegistry.model_fields if name not in WRITE_FIELDS)


def undo_last(storage: Storage, show: str, base_version: int, by: str) -> PeopleRegistry:
    """Take back the newest edit that is not undone yet, if nothing but edits came after it."""
    current = _current(storage, show, base_version)
    effective = current
    while effective.change == "undo" and effective.undoes:  # after undoing X, the state is X-1's
        effective = load_version(storage, show, effective.undoes - 1)
    if effective.change != "edit":
        last = "nothing yet" if effective.version == 0 else f"the pipeline's ({effective.reason})"
        raise NothingToUndo(f"nothing to undo for {show}: the last change to its people was {last}")
    before = load_version(storage, show, effective.version - 1)
    restored = before.model_copy(update={"next_id": max(before.next_id, current.next_id)})  # ids never reused
    return save_registry(storage, restored, current.version, by=by, reason=f"undo: {effective.reason}",
                         change="undo", undoes=effective.version)


def _current(storage: Storage, show: str, base_version: int) -> PeopleRegistry:
    current = load_registry(storage, show)
    if current.version != base_version:
        raise StaleRegistry(
            f"the people of {show} changed since version {base_version} (now version {current.version}, by "
            f"{current.updated_by or 'the pipeline'}: {current.reason}); reload and make the change again")
    return current


def _live(registry: PeopleRegistry, identity_id: int) -> Identity:
    who = registry.identities.get(identity_id)
    if who is None:
        raise InvalidEdit(f"{registry.show} has no person {identity_id}")
    if who.merged_into is not None:
        raise InvalidEdit(f"person {identity_id} was merged into person {registry.resolve(identity_id)}")
    return who


def _person_of_track(registry: PeopleRegistry, ep_id: str, track: str):
    links = registry.episodes.get(ep_id)
    if links is None:
        raise InvalidEdit(f"{ep_id} is not an episode of {registry.show} with people")
    for person in links.people:
        if track in person.tracks:
            return person
    raise InvalidEdit(f"{ep_id} has no track {track}")


def _set_track_edit(edits: dict[str, TrackEdit], key: str, edit: TrackEdit) -> None:
    if edit.identity is None and edit.excluded is None:
        edits.pop(key, None)  # nothing left to say about it
    else:
        edits[key] = edit


def _words(reason: str) -> str:
    return reason.replace("_", " ")
