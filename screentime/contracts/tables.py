"""The table contracts: the Arrow schemas of an episode's Parquet files (one row type each).

    frames.parquet      one row per analysed frame (+ the JPEG's URI when frames are saved)
    detections.parquet  one row per face box: frame, time, track, box, score, 5 landmarks
    tracks.parquet      one row per face track (within one shot): span, counts, best frame, every box
    crops.parquet       one row per exported face crop (JPEG URI)
    shots.parquet       one row per shot: the episode cut at its hard cuts
    faces.parquet       the few sharpest face chips of each track (JPEG bytes), what embeddings use
    embeddings.parquet  one row per track part: a face vector (a track splits where its face changes)
    people.parquet      one row per judged track part: the person it shows, their nearest others
    screentime.parquet  one row per person: seconds on screen, share, appearances, first/last seen
"""

from __future__ import annotations

import pyarrow as pa

FRAMES_SCHEMA = pa.schema([
    ("frame_index", pa.int32()), ("timestamp_s", pa.float64()), ("faces", pa.int16()), ("path", pa.string()),
    # the seconds this frame stands for: until the next analysed frame (capped; see screentime/vision/video.py)
    ("duration_s", pa.float64()),
])
DETECTIONS_SCHEMA = pa.schema([
    ("frame_index", pa.int32()), ("timestamp_s", pa.float64()), ("track_id", pa.int32()),
    ("x1", pa.float32()), ("y1", pa.float32()), ("x2", pa.float32()), ("y2", pa.float32()),
    ("score", pa.float32()), ("landmarks", pa.list_(pa.float32(), 10)),
])
TRACKS_SCHEMA = pa.schema([
    ("track_id", pa.int32()), ("shot", pa.int32()), ("first_frame", pa.int32()), ("last_frame", pa.int32()),
    ("start_s", pa.float64()), ("end_s", pa.float64()), ("detections", pa.int32()),
    ("mean_score", pa.float32()), ("best_frame", pa.int32()), ("best_score", pa.float32()),
    ("frames", pa.list_(pa.int32())), ("boxes", pa.list_(pa.list_(pa.float32(), 4))),
])
CROPS_SCHEMA = pa.schema([
    ("track_id", pa.int32()), ("frame_index", pa.int32()), ("timestamp_s", pa.float64()),
    ("x1", pa.int32()), ("y1", pa.int32()), ("x2", pa.int32()), ("y2", pa.int32()),
    ("score", pa.float32()), ("path", pa.string()),
])
SHOTS_SCHEMA = pa.schema([
    ("shot", pa.int32()), ("first_frame", pa.int32()), ("last_frame", pa.int32()),
    ("start_s", pa.float64()), ("end_s", pa.float64()),
])
FACES_SCHEMA = pa.schema([
    ("track_id", pa.int32()), ("frame_index", pa.int32()), ("timestamp_s", pa.float64()),
    ("score", pa.float32()),
    # the face box and 5 landmarks inside the chip, in chip pixels
    ("x1", pa.float32()), ("y1", pa.float32()), ("x2", pa.float32()), ("y2", pa.float32()),
    ("landmarks", pa.list_(pa.float32(), 10)), ("jpeg", pa.binary()),
])
EMBEDDINGS_SCHEMA = pa.schema([
    ("track_id", pa.int32()), ("part", pa.int16()), ("first_frame", pa.int32()), ("last_frame", pa.int32()),
    ("shot", pa.int32()), ("samples", pa.int16()), ("embedding", pa.list_(pa.float32())),
    # the best face quality among the part's samples, by the embedder's own measure (NaN: none)
    ("quality", pa.float32()),
])
PEOPLE_SCHEMA = pa.schema([
    ("track_id", pa.int32()), ("part", pa.int16()), ("first_frame", pa.int32()), ("last_frame", pa.int32()),
    ("person_id", pa.int32()),
    # a part too small or unclear to judge that joined this person because it was clearly theirs:
    # worth a reviewer's look. Such parts that were clearly no one's are not in the table at all.
    ("unsure", pa.bool_()),
    # the person's nearest other person in the episode and their average-linkage distance (-1 and
    # NaN when there is none): the review page's "same person?" candidates
    ("nearest_person", pa.int32()), ("nearest_distance", pa.float32()),
    # added later (a table without them still reads: screentime.identity.suggestions falls back to
    # nearest_person): the person's several nearest other people in the episode, nearest first, with
    # their average-linkage distances (never people seen together or a reviewer said are not them),
    # and the people seen in the same frame as them (never the same person)
    ("nearest_people", pa.list_(pa.int32())), ("nearest_distances", pa.list_(pa.float32())),
    ("seen_with", pa.list_(pa.int32())),
])
SCREENTIME_SCHEMA = pa.schema([
    ("person_id", pa.int32()), ("name", pa.string()), ("seconds", pa.float64()), ("share", pa.float64()),
    ("appearances", pa.int32()), ("first_seen_s", pa.float64()), ("last_seen_s", pa.float64()),
    ("crop", pa.string()),
])

SCHEMAS: dict[str, pa.Schema] = {
    "frames": FRAMES_SCHEMA,
    "detections": DETECTIONS_SCHEMA,
    "tracks": TRACKS_SCHEMA,
    "crops": CROPS_SCHEMA,
    "shots": SHOTS_SCHEMA,
    "faces": FACES_SCHEMA,
    "embeddings": EMBEDDINGS_SCHEMA,
    "people": PEOPLE_SCHEMA,
    "screentime": SCREENTIME_SCHEMA,
}
