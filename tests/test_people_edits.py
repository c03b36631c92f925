"""A reviewer's edits to a show's people on real grouped tracks (group_shots.mp4): name, merge,
split a track out, leave out, hide, undo; stale edits refused; seconds recomputed from frames."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from screentime.contracts.edits import EditRequest, ExcludeTrack, HideIdentity, Merge, MoveTrack, Rename
from screentime.identity.edits import InvalidEdit, NothingToUndo, edit_people, undo_last
from screentime.identity.embedders import calibration
from screentime.identity.episode import episode_people
from screentime.identity.registry import StaleRegistry, load_registry, save_registry
from screentime.identity.screen_time import FrameSeconds, screen_time_table
from screentime.identity.show import EpisodeTables, link_episode, show_screentime
from screentime.storage import LocalStorage, open_storage

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
    parts = [row for row in tables.people.to_pylist() if row["person_id"] in persons]
    return {row["frame_index"] for row in tables.detections.select(["frame_index", "track_id"]).to_pylist()
            if any(row["track_id"] == part["track_id"] and part["first_frame"] <= row["frame_index"]
                   <= part["last_frame"] for part in parts)}


def check_a_review_session(storage, linked) -> None:
    registry, tables, person_seconds = linked
    save_registry(storage, registry, 0, by="pipeline", reason="linked group-s01e01")
    before = seconds_by_identity(storage, tables)
    assert before == pytest.approx({p.identity: person_seconds[p.person_id] for p in registry.episodes[EP].people})
    # a: the longest on screen; b: the longest never on screen with a (a group photo puts many
    # people in the same frames, and a merge counts the union of their frames); c: the next one.
    a, *others = sorted(before, key=lambda i: -before[i])
    b = next(i for i in others if not frames_of(registry, i, tables) & frames_of(registry, a, tables))
    c = next(i for i in others if i != b)

    edit_people(storage, "group", 1, Rename(identity=a, name="  Ann   Lee "), by="tab-1")
    assert load_registry(storage, "group").identities[a].name == "Ann Lee"
    with pytest.raises(StaleRegistry, match="changed since version 1 .*now version 2, by tab-1: renamed"):
        edit_people(storage, "group", 1, Rename(identity=b, name="Bea"), by="tab-2")  # a second tab, stale

    merged = edit_people(storage, "group", 2, Merge(into=a, identities=[b]), by="tab-1")
    assert merged.identities[b].merged_into == a and merged.reason == f"merged person {b} into Ann Lee"
    after_merge = seconds_by_identity(storage, tables)
    assert b not in after_merge  # b's tracks count as a's: the union of their frames
    assert max(before[a], before[b]) <= after_merge[a] <= before[a] + before[b] + 1e-6
    with pytest.raises(InvalidEdit, match=f"person {b} was merged into person {a}"):
        edit_people(storage, "group", 3, Rename(identity=b, name="Bea"), by="tab-1")

    track = next(p for p in merged.episodes[EP].people if p.identity == b).tracks[0]
    split = edit_people(storage, "group", 3, MoveTrack(ep_id=EP, track=track, name="Bea"), by="tab-1")
    new_id = split.next_id - 1
    assert split.identities[new_id].name == "Bea" and split.episodes[EP].track_edits[track].identity == new_id
    after_split = seconds_by_identity(storage, tables)
    assert after_split[new_id] > 0 and after_split[a] < after_merge[a]

    edit_people(storage, "group", 4, ExcludeTrack(ep_id=EP, track=track, reason="not_a_face"), by="tab-1")
    assert new_id not in seconds_by_identity(storage, tables)  # its only track is left out
    edit_people(storage, "group", 5, HideIdentity(identity=c, reason="ignore"), by="tab-1")
    assert c not in seconds_by_identity(storage, tables)

    undo = undo_last(storage, "group", 6, by="tab-1")  # takes back the hide
    assert undo.undoes == 6 and undo.reason == f"undo: person {c} marked ignore"
    assert c in seconds_by_identity(storage, tables)
    undo_last(storage, "group", 7, by="tab-1")  # then the exclusion
    assert seconds_by_identity(storage, tables)[new_id] == after_split[new_id]
    undo_last(storage, "group", 8, by="tab-1")  # then the split: the new id is never handed out again
    assert new_id not in load_registry(storage, "group").identities
    again = edit_people(storage, "group", 9, MoveTrack(ep_id=EP, track=track), by="tab-1")
    assert again.next_id - 1 == new_id + 1
    for version in (10, 11, 12):
        undo_last(storage, "group", version, by="tab-1")  # the split again, the merge, the rename...
    assert seconds_by_identity(storage, tables) == pytest.approx(before)
    with pytest.raises(NothingToUndo, match="the pipeline's \\(linked group-s01e01\\)"):
        undo_last(storage, "group", 13, by="tab-1")  # ...and never the pipeline's own links


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
