"""The analysis code version: what an episode's outputs depend on besides the video.

It names the default detector (name and weights checksum), the tracker (name, version, settings)
and ANALYSIS_REVISION. The analysis assets carry it as their Dagster `code_version`, so a model
or tracker upgrade marks every episode materialised before it as outdated in the UI, and the
nightly schedule re-runs those episodes.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError

from screentime.contracts.errors import InvalidOption

# Bump when the analysis code changes what it writes for the same video, detector and tracker.
# 2: tracks end at shot cuts; shots and face chips in the same pass
# 3: shots with small faces are detected at full size (small_face_px), so more faces are found
# 4: det_size 320 by default, and shots with small faces climb a ladder of inputs (320, 640, ...)
# 5: cuts found by CutDetector (vision/cut_model.py): it finds the cuts between two face-centred
#    close-ups that ShotDetector missed, so tracks no longer carry one face into the next person's
# 6: counts and lengths are what decoded, times monotone (resets repaired), each frame's duration_s
#    (the time until the next analysed frame) in the frames table, shots timed by the stream
# 7: in shots of small faces the whole frame is detected every full_detect_every (8) frames and the
#    faces followed by optical flow in between (vision/flow.py, vision/regions.py)
# 8: a track starts at its first detection, not one analysed frame later (ByteTrack confirms a new
#    track on its second frame; vision/tracking.py puts the first one back), and a shot is detected
#    at an input that finds every face its probe was sure of (vision/small_faces.py, rung_finding)
# 9: ...and finds it with a score that starts a track (new_track_thresh), not merely finds it
ANALYSIS_REVISION = 9

# Why an episode needs a run: it has no manifest, or its outputs predate the current code version.
UNPROCESSED = "unprocessed"
STALE = "stale"


def _short_hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


@lru_cache(maxsize=1)
def analysis_code_version() -> str:
    """e.g. `retinaface-mobilenet0.25@b7a7acab55+bytetrack@3f09c2d1aa/r1` (computed once per process)."""
    from screentime.vision.detectors import default_detector_info
    from screentime.vision.tracking import load_tracker_settings, tracker_identity

    try:
        detector = default_detector_info()
        detector_part = f"{detector.name}@{detector.weights_sha256[:10]}"
    except (InvalidOption, PackageNotFoundError):  # not installed: the definitions still load
        detector_part = "detector-unavailable"
    tracker = {**tracker_identity(), "settings": load_tracker_settings()}
    return f"{detector_part}+{tracker['name']}@{_short_hash(tracker)}/r{ANALYSIS_REVISION}"


def catch_up_reason(has_manifest: bool, recorded_version: str | None, current: str) -> str | None:
    """Why an episode needs a run now (UNPROCESSED, STALE), or None when it is up to date.

    `recorded_version` is the code version its outputs were materialised with (None when this
    Dagster instance has no record of them: they are then taken as current).
    """
    if not has_manifest:
        return UNPROCESSED
    if recorded_version is not None and recorded_version != current:
        return STALE
    return None
