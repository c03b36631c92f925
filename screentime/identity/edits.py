"""A reviewer's edits to a show's people: name, merge, split a track out or inside, leave out, undo.

Each edit names the registry version it was made on. On that version it is checked (ids that
exist) and saved as the next version with who made it and why. Made on an older version, it is
rebased: made again on the newest version when nothing it touches changed since, refused with
StaleRegistry when something did (screentime.identity.rebase says what "touches" means). The
history keeps every version; `undo_last` takes back the reviewer's own last edit, as a newer
version, when nothing it touched changed since (an episode linked meanwhile does not matter).
Ids are never reused, even when the edit that made one is undone.

Nothing here recomputes seconds: the show's screen-time table applies the edits when the
roll-up runs (screentime.identity.show_rollup, the `show_people` asset in Dagster).
"""

from __future__ import annotations

from collections.abc import Callable

from screentime.contracts.edits import (
    Edit,
    ExcludeTrack,
    HideIdentity,
    Merge,
    MoveTrack,
    Rename,
    Reviewed,
    SplitTrack,
)
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import ScreentimeError
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.people import Identity, PeopleRegistry, TrackEdit, part_of, piece_key, track_pieces
from screentime.identity.rebase import Subject, changes, conflicts, describe, revert
from screentime.identity.registry import StaleRegistry, load_registry, load_version, save_registry
from screentime.storage.base import Storage
from screentime.storage.parquet import table_from_parquet

ATTEMPTS = 5  # a write that lost a race is rebased onto the winner's version and tried again
UNDO_LOOKBACK = 200  # versions searched back for the reviewer's own last edit


class InvalidEdit(ScreentimeError):
    """An edit that names what does not exist or cannot be done."""


class NothingToUndo(ScreentimeError):
    """The reviewer has no edit left to take back (or the pipeline's links are all there is)."""


class Conflict(StaleRegistry):
    """An edit made on an older version, or an undo, that meets what changed since: refused (409)."""


def apply_edit(registry: PeopleRegistry, edit: Edit | SplitTrack) -> tuple[PeopleRegistry, str]:
    """A new registry (unsaved) with the edit made, and the reason line for the history."""
    updated = registry.model_copy(deep=True)
    if isinstance(edit, SplitTrack):
        return _split_track(updated, edit)
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
    if isinstance(edit, Reviewed):
        who = _live(updated, edit.identity)
        who.reviewed = edit.reviewer
        return updated, f"{who.label} " + (f"marked reviewed by {edit.reviewer}" if edit.reviewer
                                           else "no longer marked reviewed")
    raise InvalidEdit(f"unknown edit {edit!r}")


def edit_people(storage: Storage, show: str, base_version: int, edit: Edit | SplitTrack, by: str,
                ) -> PeopleRegistry:
    """Make and save one edit made on `base_version`: on the newest version as it is, or rebased
    onto it when nothing the edit touches changed since (Conflict, a StaleRegistry, when something did).

    An edit that changes nothing (a person renamed to the name they have, a track moved to whom it
    counts for) is no edit: no version is written, and the registry comes back as it was (so
    undo still takes back the last real edit)."""
    check = (lambda current: check_split(storage, current, edit)) if isinstance(edit, SplitTrack) else None
    return write_edit(storage, show, base_version, lambda registry: apply_edit(registry, edit), _named(edit), by,
                      check=check)


Change = Callable[[PeopleRegistry], tuple[PeopleRegistry, str]]


def write_edit(storage: Storage, show: str, base_version: int, make: Change, named: set[Subject], by: str,
               invalid: tuple[type[Exception], ...] = (InvalidEdit,),
               check: Callable[[PeopleRegistry], None] | None = None) -> PeopleRegistry:
    """The one rule every reviewer's edit is written by (an edit of people, a "not the same"):
    `make` makes it on a registry (unsaved; it raises one of `invalid` when it cannot). Made on the
    newest version, it is saved as the next one; made on an older one, it is rebased: made again
    on the newest when nothing it touches there (plus the people it names, `named`) was touched
    since, refused with Conflict when something was. `check` vets the newest version first."""
    for _ in range(ATTEMPTS):
        current = load_registry(storage, show)
        if base_version > current.version:
            raise StaleRegistry(f"the people of {show} have no version {base_version} yet (now version "
                                f"{current.version}); reload and make the change again")
        if check is not None:
            check(current)
        if base_version != current.version:
            check_rebase(storage, show, base_version, current, make, named, invalid)
        try:
            updated, reason = make(current)
        except invalid as exc:
            if base_version == current.version:
                raise
            raise Conflict(_stale(show, base_version, current, f"it no longer applies: {exc}")) from exc
        if is_no_op(current, updated):
            return current
        try:
            return save_registry(storage, updated, current.version, by=by, reason=reason, change="edit")
        except StaleRegistry:
            continue  # another write won the race: rebase onto it
    raise StaleRegistry(f"the people of {show} kept changing during {ATTEMPTS} attempts to save the edit")


def check_rebase(storage: Storage, show: str, base_version: int, current: PeopleRegistry, make: Change,
                 named: set[Subject], invalid: tuple[type[Exception], ...] = (InvalidEdit,)) -> None:
    """Conflict when what the edit touches on `base_version` (plus the people it names) was touched
    by the versions since, or when it did not apply on `base_version` but does now (what it names
    was made since); the edit's own error when it applies on neither."""
    base = load_version(storage, show, base_version)
    try:
        after, _ = make(base)
    except invalid as exc:
        make(current)  # applies on neither: the edit's own error
        raise Conflict(_stale(show, base_version, current, f"it did not apply on version {base_version}: {exc}")
                       ) from exc
    clash = conflicts(changes(base, after) | named, changes(base, current))
    if clash:
        raise Conflict(_stale(show, base_version, current, _touched(clash, "changed since")))


# What a write says about itself; the rest (identities, episodes, next id, any field added later) is
# what an edit changes.
WRITE_FIELDS = {"version", "updated_at", "updated_by", "reason", "change", "undoes"}


def is_no_op(before: PeopleRegistry, after: PeopleRegistry) -> bool:
    """The edit left the people as they were: only a write's own fields could differ."""
    return all(getattr(after, name) == getattr(before, name)  # model equality: no dump of every vector
               for name in PeopleRegistry.model_fields if name not in WRITE_FIELDS)


def undo_last(storage: Storage, show: str, base_version: int, by: str) -> PeopleRegistry:
    """Take back `by`'s own last edit that is not undone yet, whoever wrote since: what it touched
    is put back as it was before it, on the newest version. Conflict when another write since
    touched the same (a pipeline link of another episode, or of the same analysis run, does not);
    NothingToUndo when `by` has no edit left to take back."""
    for _ in range(ATTEMPTS):
        current = load_registry(storage, show)
        if base_version > current.version:
            raise StaleRegistry(f"the people of {show} have no version {base_version} yet (now version "
                                f"{current.version}); reload and undo again")
        mine = own_last_edit(storage, show, current, by)
        if mine is None:
            raise NothingToUndo(f"nothing of {by}'s to undo in {show}: no edit of theirs that is not undone "
                                f"in the last {UNDO_LOOKBACK} versions")
        before, edited = load_version(storage, show, mine.version - 1), mine
        touched = changes(before, edited)
        clash = conflicts(touched, changes(edited, current))
        if clash:
            raise Conflict(f"cannot undo \"{mine.reason}\" (version {mine.version}): "
                           f"{_touched(clash, 'changed after it')} (now version {current.version}, by "
                           f"{current.updated_by or 'the pipeline'}: {current.reason}); reload and fix it by hand")
        restored = revert(current, before, touched)
        try:
            return save_registry(storage, restored, current.version, by=by, reason=f"undo: {mine.reason}",
                                 change="undo", undoes=mine.version)
        except StaleRegistry:
            continue
    raise StaleRegistry(f"the people of {show} kept changing during {ATTEMPTS} attempts to undo")


def own_last_edit(storage: Storage, show: str, current: PeopleRegistry, by: str) -> PeopleRegistry | None:
    """The newest version written by `by`'s edit and not undone since (within UNDO_LOOKBACK versions)."""
    undone: set[int] = set()
    version = current
    for _ in range(UNDO_LOOKBACK):
        if version.version == 0:
            return None
        if version.change == "undo" and version.undoes:
            undone.add(version.undoes)
        elif version.change == "edit" and version.updated_by == by and version.version not in undone:
            return version
        version = load_version(storage, show, version.version - 1)
    return None


def _live(registry: PeopleRegistry, identity_id: int) -> Identity:
    who = registry.identities.get(identity_id)
    if who is None:
        raise InvalidEdit(f"{registry.show} has no person {identity_id}")
    if who.merged_into is not None:
        raise InvalidEdit(f"person {identity_id} was merged into person {registry.resolve(identity_id)}")
    return who


def _person_of_track(registry: PeopleRegistry, ep_id: str, track: str):
    """The episode person whose track part `track` is (or was cut from, for a piece)."""
    links = registry.episodes.get(ep_id)
    if links is None:
        raise InvalidEdit(f"{ep_id} is not an episode of {registry.show} with people")
    part = part_of(track)
    if track != part and int(track.rsplit("@", 1)[1]) not in links.track_cuts.get(part, ()):
        raise InvalidEdit(f"{ep_id} has no piece {track}: track {part} was not cut there")
    for person in links.people:
        if part in person.tracks:
            return person
    raise InvalidEdit(f"{ep_id} has no track {track}")


def _split_track(updated: PeopleRegistry, edit: SplitTrack) -> tuple[PeopleRegistry, str]:
    """Cut a track part (or a piece of it) at a frame: the piece from there on starts with the
    edit of the piece it was cut from (whose it was, left out or not), then goes to `to`."""
    person = _person_of_track(updated, edit.ep_id, edit.track)
    links = updated.episodes[edit.ep_id]
    part = part_of(edit.track)
    cuts = links.track_cuts.get(part, [])
    start = int(edit.track.rsplit("@", 1)[1]) if edit.track != part else -1
    following = min((c for c in cuts if c > start), default=None)
    if edit.frame in cuts or edit.frame <= start or (following is not None and edit.frame >= following):
        raise InvalidEdit(f"frame {edit.frame} is not inside track {edit.track} of {edit.ep_id} "
                          "(it starts the track or one of its pieces, or lies outside it)")
    if edit.to is None:
        target = Identity(id=updated.next_id)
        updated.identities[target.id] = target
        updated.next_id += 1
    else:
        target = _live(updated, edit.to)
    links.track_cuts[part] = sorted([*cuts, edit.frame])
    previous = links.track_edits.get(edit.track, TrackEdit())
    piece = piece_key(part, edit.frame)
    if target.id == updated.resolve(person.identity):
        _set_track_edit(links.track_edits, piece, TrackEdit(excluded=previous.excluded))
    else:
        _set_track_edit(links.track_edits, piece, TrackEdit(identity=target.id, excluded=previous.excluded))
    return updated, f"split track {edit.track} of {edit.ep_id} at frame {edit.frame}: from there {target.label}"


def check_split(storage: Storage, registry: PeopleRegistry, edit: SplitTrack) -> None:
    """InvalidEdit unless the cut leaves faces on both sides inside the track (its analysis run's
    people and detections tables say where the track part is)."""
    links = registry.episodes.get(edit.ep_id)
    if links is None:
        raise InvalidEdit(f"{edit.ep_id} is not an episode of {registry.show} with people")
    part = part_of(edit.track)
    layout = EpisodeLayout(parse_episode_id(edit.ep_id))
    try:
        people = table_from_parquet(storage.get_bytes(layout.table_key(links.run_id, "people")))
        detections = table_from_parquet(storage.get_bytes(layout.table_key(links.run_id, "detections")))
    except FileNotFoundError as exc:
        raise InvalidEdit(f"the tables of {edit.ep_id}'s analysis run {links.run_id} are gone") from exc
    row = next((r for r in people.select(["track_id", "part", "first_frame", "last_frame"]).to_pylist()
                if f"{r['track_id']}.{r['part']}" == part), None)
    if row is None:
        raise InvalidEdit(f"{edit.ep_id} has no track {part}")
    pieces = track_pieces(part, row["first_frame"], row["last_frame"], links.track_cuts.get(part))
    piece = next((p for p in pieces if p[0] == edit.track), None)
    if piece is None:
        raise InvalidEdit(f"{edit.ep_id} has no piece {edit.track}")
    tracks, frames = detections["track_id"].to_numpy(), detections["frame_index"].to_numpy()
    mine = frames[(tracks == row["track_id"]) & (frames >= piece[1]) & (frames <= piece[2])]
    if not ((mine < edit.frame).any() and (mine >= edit.frame).any()):
        raise InvalidEdit(f"a cut at frame {edit.frame} leaves no face on one side of track {edit.track} of "
                          f"{edit.ep_id} (its faces are in frames {piece[1]} to {piece[2]})")


def _named(edit: Edit | SplitTrack) -> set[Subject]:
    """The people an edit names besides what it changes (a merge's target, a move's destination)."""
    ids = [getattr(edit, "identity", None), getattr(edit, "into", None), getattr(edit, "to", None),
           *(getattr(edit, "identities", None) or [])]
    return {("person", i) for i in ids if isinstance(i, int)}


def _touched(clash: list[Subject], when: str) -> str:
    shown = ", ".join(describe(s) for s in clash[:3]) + (f" and {len(clash) - 3} more" if len(clash) > 3 else "")
    return f"{shown} {when}"


def _stale(show: str, base_version: int, current: PeopleRegistry, why: str) -> str:
    return (f"the people of {show} changed since version {base_version} (now version {current.version}, by "
            f"{current.updated_by or 'the pipeline'}: {current.reason}): {why}; reload and make the change again")


def _set_track_edit(edits: dict[str, TrackEdit], key: str, edit: TrackEdit) -> None:
    if edit.identity is None and edit.excluded is None:
        edits.pop(key, None)  # nothing left to say about it
    else:
        edits[key] = edit


def _words(reason: str) -> str:
    return reason.replace("_", " ")
