"""A reviewer's edits to a show's people on real grouped tracks (group_shots.mp4): name, merge,
split a track out, leave out, hide, undo; stale edits refused; seconds recomputed from frames."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from screentime.contracts.edits import (
    EditRequest,
    ExcludeTrack,
    HideIdentity,
    Merge,
    MoveTrack,
    Rename,
    SplitTrack,
)
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.identity.edits import Conflict, InvalidEdit, NothingToUndo, edit_people, undo_last
from screentime.identity.embedders import calibration
from screentime.identity.episode import episode_people
from screentime.identity.registry import StaleRegistry, load_registry, save_registry
from screentime.identity.screen_time import FrameSeconds, screen_time_table
from screentime.identity.show import EpisodeTables, link_episode, show_screentime
from screentime.storage import LocalStorage, open_storage
from screentime.storage.parquet import table_to_parquet

LINK_THRESHOLD = calibration().link
EP = "group-s01e01"


@pytest.fixture(scope="module")
def linked(group_people):
    """The episode's people linked into an empty show registry, and the tables the roll-up reads."""
    analysis, embeddings, people = group_people
    seconds = screen_time_table(analysis.detections, people, analysis.crops,
                                FrameSeconds(analysis.frames, analysis.analysis_fps), analysis.source.duration_s)
    persons = episode_people(people, embeddings, seconds)
    registry = link_episode(load_registry(LocalStorage("/nonexistent"), "group"), EP, "run1", persons,
                            LINK_THRESHOLD)
    tables = EpisodeTables(detections=analysis.detections, people=people, crops=analysis.crops,
                           analysis_fps=analysis.analysis_fps, frames=analysis.frames)
    return registry, tables, {row["person_id"]: row["seconds"] for row in seconds.to_pylist()}


def seconds_by_identity(storage, tables) -> dict[int, float]:
    table = show_screentime(load_registry(storage, "group"), {EP: tables})
    return dict(zip(table["identity_id"].to_pylist(), table["seconds"].to_pylist(), strict=True))


def frames_of(registry, identity: int, tables) -> set[int]:
    """The frames in which a person's tracks (their parts: first to last frame) have a face."""
    persons = {p.person_id for p in registry.episodes[EP].people if p.identity == identity}
    return parts_frames([row for row in tables.people.to_pylist() if row["person_id"] in persons], tables)


def track_frames(track: str, tables) -> set[int]:
    """The frames in which one track part ("<track_id>.<part>") has a face."""
    return parts_frames([row for row in tables.people.to_pylist()
                         if f"{row['track_id']}.{row['part']}" == track], tables)


def parts_frames(parts: list[dict], tables) -> set[int]:
    return {row["frame_index"] for row in tables.detections.select(["frame_index", "track_id"]).to_pylist()
            if any(row["track_id"] == part["track_id"] and part["first_frame"] <= row["frame_index"]
                   <= part["last_frame"] for part in parts)}


def check_a_review_session(storage, linked) -> None:
    registry, tables, person_seconds = linked
    save_registry(storage, registry, 0, by="pipeline", reason="linked group-s01e01")
    before = seconds_by_identity(storage, tables)
    assert before == pytest.approx({p.identity: person_seconds[p.person_id] for p in registry.episodes[EP].people})
    # a: the longest on screen; b: the one with most frames without a (a group photo puts many
    # people in the same frames, and a merge counts the union of their frames); c: another one.
    a, *others = sorted(before, key=lambda i: -before[i])
    with_a = frames_of(registry, a, tables)
    b = max(others, key=lambda i: len(frames_of(registry, i, tables) - with_a))
    assert frames_of(registry, b, tables) - with_a
    c = next(i for i in others if i != b)

    edit_people(storage, "group", 1, Rename(identity=a, name="  Ann   Lee "), by="tab-1")
    assert load_registry(storage, "group").identities[a].name == "Ann Lee"
    with pytest.raises(StaleRegistry, match="changed since version 1 .*now version 2, by tab-1: renamed.*"
                       f"person {a} changed since"):
        edit_people(storage, "group", 1, Rename(identity=a, name="Ada"), by="tab-2")  # a second tab, same person
    rebased = edit_people(storage, "group", 1, Rename(identity=c, name="Cy"), by="tab-2")  # another person
    assert rebased.version == 3 and rebased.identities[a].name == "Ann Lee" and rebased.identities[c].name == "Cy"

    merged = edit_people(storage, "group", 3, Merge(into=a, identities=[b]), by="tab-1")
    assert merged.identities[b].merged_into == a and merged.reason == f"merged person {b} into Ann Lee"
    after_merge = seconds_by_identity(storage, tables)
    assert b not in after_merge  # b's tracks count as a's: the union of their frames
    assert max(before[a], before[b]) <= after_merge[a] <= before[a] + before[b] + 1e-6
    with pytest.raises(InvalidEdit, match=f"person {b} was merged into person {a}"):
        edit_people(storage, "group", 4, Rename(identity=b, name="Bea"), by="tab-1")

    track = next(t for p in merged.episodes[EP].people if p.identity == b for t in p.tracks
                 if track_frames(t, tables) - with_a)  # a track of b's with frames of its own
    split = edit_people(storage, "group", 4, MoveTrack(ep_id=EP, track=track, name="Bea"), by="tab-1")
    new_id = split.next_id - 1
    assert split.identities[new_id].name == "Bea" and split.episodes[EP].track_edits[track].identity == new_id
    after_split = seconds_by_identity(storage, tables)
    assert after_split[new_id] > 0 and after_split[a] < after_merge[a]

    edit_people(storage, "group", 5, ExcludeTrack(ep_id=EP, track=track, reason="not_a_face"), by="tab-1")
    assert new_id not in seconds_by_identity(storage, tables)  # its only track is left out
    edit_people(storage, "group", 6, HideIdentity(identity=c, reason="ignore"), by="tab-1")
    assert c not in seconds_by_identity(storage, tables)

    undo = undo_last(storage, "group", 7, by="tab-1")  # takes back the hide
    assert undo.undoes == 7 and undo.reason == "undo: Cy marked ignore"
    assert c in seconds_by_identity(storage, tables)
    undo_last(storage, "group", 8, by="tab-1")  # then the exclusion
    assert seconds_by_identity(storage, tables)[new_id] == after_split[new_id]
    undo_last(storage, "group", 9, by="tab-1")  # then the split: the new id is never handed out again
    assert new_id not in load_registry(storage, "group").identities
    again = edit_people(storage, "group", 10, MoveTrack(ep_id=EP, track=track), by="tab-1")
    assert again.next_id - 1 == new_id + 1
    for version in (11, 12, 13):
        undo_last(storage, "group", version, by="tab-1")  # the split again, the merge, the rename...
    assert seconds_by_identity(storage, tables) == pytest.approx(before)
    final = load_registry(storage, "group")
    assert final.identities[a].name is None and final.identities[c].name == "Cy"  # tab-2's edit stays
    with pytest.raises(NothingToUndo, match="nothing of tab-1's to undo"):
        undo_last(storage, "group", 14, by="tab-1")  # ...and never another's edit or the pipeline's links
    assert undo_last(storage, "group", 14, by="tab-2").identities[c].name is None


def test_a_review_session_on_the_local_disk(tmp_path, linked):
    check_a_review_session(LocalStorage(tmp_path), linked)


def test_a_review_session_on_s3(s3_env, linked):
    check_a_review_session(open_storage(s3_env), linked)


def test_edits_name_only_what_exists(tmp_path, linked):
    storage = LocalStorage(tmp_path)
    registry = save_registry(storage, linked[0], 0, by="pipeline", reason="linked")
    with pytest.raises(InvalidEdit, match="group has no person 999"):
        edit_people(storage, "group", 1, Rename(identity=999, name="X"), by="t")
    with pytest.raises(InvalidEdit, match="group-s01e02 is not an episode of group"):
        edit_people(storage, "group", 1, MoveTrack(ep_id="group-s01e02", track="1.0"), by="t")
    with pytest.raises(InvalidEdit, match="group-s01e01 has no track 9999.0"):
        edit_people(storage, "group", 1, ExcludeTrack(ep_id=EP, track="9999.0", reason="ignore"), by="t")
    first = next(iter(registry.identities))
    with pytest.raises(InvalidEdit, match="into itself"):
        edit_people(storage, "group", 1, Merge(into=first, identities=[first]), by="t")
    assert load_registry(storage, "group").version == 1  # nothing written


@pytest.mark.parametrize("body, message", [
    ({"action": "rename", "identity": 1, "name": "x" * 81}, "at most 80 characters"),
    ({"action": "rename", "identity": 1, "name": "<script>"}, "letters and marks of any script.*not '<' '>'"),
    ({"action": "rename", "identity": 1, "name": "a\u0000b"}, r"a name may hold .*not '\\x00'"),
    ({"action": "rename", "identity": 0, "name": "Ann"}, "greater than or equal to 1"),
    ({"action": "move", "ep_id": EP, "track": "../../etc"}, "track_id.part"),
    ({"action": "merge", "into": 1, "identities": []}, "at least 1 item"),
    ({"action": "rename", "identity": 1, "name": "Ann", "extra": 1}, "Extra inputs are not permitted"),
    ({"action": "delete", "identity": 1}, "does not match any of the expected tags"),
])
def test_edit_requests_are_validated(body, message):
    with pytest.raises(ValidationError, match=message):
        EditRequest.model_validate({"base_version": 1, "edit": body})


def test_a_relink_keeps_the_edits_of_tracks_that_still_exist(linked):
    registry, _, _ = linked
    from screentime.contracts.people import TrackEdit

    links = registry.episodes[EP]
    edited = registry.model_copy(deep=True)
    key = links.people[0].tracks[0]
    edited.episodes[EP].track_edits = {key: TrackEdit(excluded="ignore"), "99999.0": TrackEdit(excluded="ignore")}
    relinked = link_episode(edited, EP, "run2", [p.model_copy() for p in links.people], LINK_THRESHOLD)
    assert relinked.episodes[EP].track_edits == {key: TrackEdit(excluded="ignore")}
    assert [p.identity for p in relinked.episodes[EP].people] == [p.identity for p in links.people]


# Several reviewers: a stale edit is rebased when nothing it touches changed, refused when
# something did; undo takes back the reviewer's own last edit, also after a link.

def _saved(tmp_path, linked, tables_too: bool = False):
    storage = LocalStorage(tmp_path)
    registry, tables, _ = linked
    save_registry(storage, registry, 0, by="pipeline", reason="linked group-s01e01")
    if tables_too:  # what a split inside a track reads to check its frame
        layout = EpisodeLayout(parse_episode_id(EP))
        storage.put_bytes(layout.table_key("run1", "people"), table_to_parquet(tables.people))
        storage.put_bytes(layout.table_key("run1", "detections"), table_to_parquet(tables.detections))
    return storage, registry


def _ids(registry) -> list[int]:
    return sorted(registry.identities)


def test_a_stale_edit_on_other_people_is_rebased_and_one_on_the_same_is_refused(tmp_path, linked):
    storage, registry = _saved(tmp_path, linked)
    a, b, c, d, e, f = _ids(registry)[:6]
    edit_people(storage, "group", 1, Merge(into=a, identities=[b]), by="ann")  # v2
    edit_people(storage, "group", 2, HideIdentity(identity=d, reason="ignore"), by="ann")  # v3
    # Bob's page still shows version 1.
    rebased = edit_people(storage, "group", 1, Rename(identity=c, name="Cy"), by="bob")
    assert rebased.version == 4 and rebased.identities[b].merged_into == a and rebased.identities[d].hidden
    for edit, touched in ((Rename(identity=b, name="Bea"), f"person {b}"),  # merged away since
                          (Merge(into=a, identities=[e]), f"person {a}"),  # the target gained b since
                          (Merge(into=d, identities=[e]), f"person {d}"),  # the target was hidden since
                          (Rename(identity=c, name="Cid"), f"person {c}")):  # his own rename since
        with pytest.raises(Conflict, match=f"changed since version 1 \\(now version 4, by bob.*{touched}"):
            edit_people(storage, "group", 1, edit, by="bob")
    assert load_registry(storage, "group").version == 4  # nothing written by a refused edit

    # Tracks: a track edit meets edits of the same track or of its people, not of other tracks.
    links = load_registry(storage, "group").episodes[EP]
    owners = {key: p.identity for p in links.people for key in p.tracks}
    mine = next(key for key, who in owners.items() if who == e)
    other = next(key for key, who in owners.items() if who == f)
    edit_people(storage, "group", 4, ExcludeTrack(ep_id=EP, track=mine, reason="not_a_face"), by="ann")  # v5
    moved = edit_people(storage, "group", 4, MoveTrack(ep_id=EP, track=other), by="bob")  # v6: rebased
    assert moved.episodes[EP].track_edits[mine].excluded == "not_a_face"
    assert moved.episodes[EP].track_edits[other].identity == moved.next_id - 1
    with pytest.raises(Conflict, match=f"track {mine} of {EP}"):
        edit_people(storage, "group", 4, MoveTrack(ep_id=EP, track=mine, to=a), by="bob")
    with pytest.raises(Conflict, match=f"person {e}"):
        edit_people(storage, "group", 4, Rename(identity=e, name="Eve"), by="bob")  # e's track left out since


def test_undo_takes_back_ones_own_last_edit_also_after_a_link(tmp_path, linked):
    storage, registry = _saved(tmp_path, linked)
    a, b, c = _ids(registry)[:3]
    edit_people(storage, "group", 1, Rename(identity=a, name="Ann"), by="ann")  # v2
    edit_people(storage, "group", 2, Merge(into=b, identities=[c]), by="bob")  # v3
    # The pipeline links a second episode (the same people again) after the edits.
    current = load_registry(storage, "group")
    second = [p.model_copy() for p in current.episodes[EP].people]
    linked_again = link_episode(current, "group-s01e02", "run2", second, LINK_THRESHOLD)
    save_registry(storage, linked_again, 3, by="run x", reason="linked group-s01e02", change="link")  # v4

    undone = undo_last(storage, "group", 4, by="ann")  # Ann's rename, not Bob's merge (the last edit)
    assert undone.undoes == 2 and undone.reason == "undo: renamed person %d to Ann" % a
    assert undone.identities[a].name is None and undone.identities[c].merged_into == b
    assert "group-s01e02" in undone.episodes  # the link after the edit stays
    with pytest.raises(NothingToUndo, match="nothing of ann's to undo"):
        undo_last(storage, "group", 5, by="ann")
    assert undo_last(storage, "group", 5, by="bob").identities[c].merged_into is None  # a stale base is fine

    # A conflicting undo is refused: Bob renamed the person Ann named since.
    edit_people(storage, "group", 6, Rename(identity=a, name="Ann"), by="ann")  # v7
    edit_people(storage, "group", 7, Rename(identity=a, name="Anna"), by="bob")  # v8
    with pytest.raises(Conflict, match=f"cannot undo \"renamed person {a} to Ann\" \\(version 7\\): person {a}"):
        undo_last(storage, "group", 8, by="ann")
    assert load_registry(storage, "group").identities[a].name == "Anna"


def test_a_track_edit_meets_a_relink_of_its_episode_from_another_analysis_run(tmp_path, linked):
    storage, registry = _saved(tmp_path, linked)
    a = _ids(registry)[0]
    track = registry.episodes[EP].people[-1].tracks[0]
    relinked = link_episode(registry, EP, "run-new", [p.model_copy() for p in registry.episodes[EP].people],
                            LINK_THRESHOLD)
    save_registry(storage, relinked, 1, by="run y", reason=f"linked {EP}", change="link")  # v2
    with pytest.raises(Conflict, match=f"episode {EP} \\(linked again\\)"):
        edit_people(storage, "group", 1, ExcludeTrack(ep_id=EP, track=track, reason="ignore"), by="ann")
    assert edit_people(storage, "group", 1, Rename(identity=a, name="Ann"), by="ann").version == 3


def _track_frames(tables, key: str):
    track_id, part = (int(x) for x in key.split("."))
    row = next(r for r in tables.people.to_pylist() if (r["track_id"], r["part"]) == (track_id, part))
    dets = tables.detections
    frames = sorted({f for f, t in zip(dets["frame_index"].to_pylist(), dets["track_id"].to_pylist(), strict=True)
                     if t == track_id and row["first_frame"] <= f <= row["last_frame"]})
    return row, frames


def test_a_split_inside_a_track_counts_each_side_for_its_person_to_the_frame(tmp_path, linked):
    storage, registry = _saved(tmp_path, linked, tables_too=True)
    _, tables, _ = linked
    seconds = FrameSeconds(tables.frames, tables.analysis_fps)
    person = registry.episodes[EP].people[0]  # the first person, and their longest track part
    key = max(person.tracks, key=lambda k: len(_track_frames(tables, k)[1]))
    row, frames = _track_frames(tables, key)
    rest = {f for k in person.tracks if k != key for f in _track_frames(tables, k)[1]}  # their other parts
    cut = frames[len(frames) // 2]
    before = seconds_by_identity(storage, tables)[person.identity]
    assert before == pytest.approx(seconds.of(np.array(sorted(rest | set(frames)))))

    for frame, message in ((frames[0], "leaves no face on one side"), (row["last_frame"] + 50, "leaves no face"),
                           (frames[-1] + 1, "leaves no face")):
        if frame < 1:
            continue  # a frame 0 is refused by the request's own check (test_split_requests_are_validated)
        with pytest.raises(InvalidEdit, match=message):
            edit_people(storage, "group", 1, SplitTrack(ep_id=EP, track=key, frame=frame), by="ann")
    split = edit_people(storage, "group", 1, SplitTrack(ep_id=EP, track=key, frame=cut), by="ann")
    new_id = split.next_id - 1
    piece = f"{key}@{cut}"
    assert split.episodes[EP].track_cuts == {key: [cut]} and split.episodes[EP].track_edits[piece].identity == new_id
    assert split.reason == f"split track {key} of {EP} at frame {cut}: from there person {new_id}"
    counted = seconds_by_identity(storage, tables)
    early, late = [f for f in frames if f < cut], [f for f in frames if f >= cut]
    assert counted[person.identity] == pytest.approx(seconds.of(np.array(sorted(rest | set(early)))), abs=1e-3)
    assert counted[new_id] == pytest.approx(seconds.of(np.array(late)), abs=1e-3)  # split exactly at the frame
    assert not rest & set(late) and counted[person.identity] + counted[new_id] == pytest.approx(before, abs=2e-3)

    # The piece can be cut again, and given back: the second half goes to the first person again.
    second_cut = late[len(late) // 2]
    assert second_cut > cut
    again = edit_people(storage, "group", 2, SplitTrack(ep_id=EP, track=piece, frame=second_cut,
                                                        to=person.identity), by="ann")
    assert again.episodes[EP].track_cuts[key] == [cut, second_cut]
    assert f"{key}@{second_cut}" not in again.episodes[EP].track_edits  # back with whom the grouping put it
    counted = seconds_by_identity(storage, tables)
    assert counted[new_id] == pytest.approx(seconds.of(np.array([f for f in late if f < second_cut])), abs=1e-3)
    undo_last(storage, "group", 3, by="ann")
    with pytest.raises(InvalidEdit, match="has no piece"):
        edit_people(storage, "group", load_registry(storage, "group").version,
                    SplitTrack(ep_id=EP, track=f"{key}@{cut + 1}", frame=cut + 2), by="ann")
    # A re-link of the episode keeps the cut and its piece's person; undo takes the cut back.
    current = load_registry(storage, "group")
    kept = link_episode(current, EP, "run1", [p.model_copy() for p in current.episodes[EP].people], LINK_THRESHOLD)
    assert kept.episodes[EP].track_cuts == {key: [cut]} and piece in kept.episodes[EP].track_edits
    undone = undo_last(storage, "group", current.version, by="ann")
    assert undone.episodes[EP].track_cuts == {} and new_id not in undone.identities
    assert seconds_by_identity(storage, tables)[person.identity] == pytest.approx(before)


def test_split_requests_are_validated():
    for body, message in (({"ep_id": EP, "track": "1.0", "frame": 0}, "greater than or equal to 1"),
                          ({"ep_id": EP, "track": "1.0@x", "frame": 5}, "track_id.part"),
                          ({"ep_id": EP, "track": "../1", "frame": 5}, "track_id.part"),
                          ({"ep_id": EP, "track": "1.0", "frame": 5, "extra": 1}, "Extra inputs")):
        with pytest.raises(ValidationError, match=message):
            SplitTrack.model_validate(body)
    assert SplitTrack.model_validate({"ep_id": EP, "track": "1.0@40", "frame": 50}).track == "1.0@40"
