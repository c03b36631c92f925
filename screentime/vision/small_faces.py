"""Which detector input each frame gets: `det_size`, or a larger one for shots whose faces are small.

Scaling a 1280x720 frame to a 640 px detector input makes every face half as big. RetinaFace's
smallest anchors are 16 px, so faces under about 30 px in the source (a wide shot of a group, a
crowd, a pan across a table) fall under what the detector sees at 640 and are lost: 42% of them on
a pan over 24-27 px faces. Detecting every frame at full size keeps them, at a quarter of the speed.

The policy here gets both, shot by shot, from what the detector itself reports. A run has a
*ladder* of inputs: `det_size`, doubled until the finest (the source size for HD, 1920 px for 4K
and 8K), e.g. 320 -> 640 -> full size for 1280x720.

- the first frame of every shot is a *probe*: detected at the finest input, so faces too small to
  show up at all at `det_size` are seen;
- a shot climbs the ladder when its probe, or any later frame, finds a face smaller than
  `small_face_px` at the shot's current input (RetinaFace finds 98% of 20-22 px faces at its input
  but 58% of 12-14 px ones): it goes to the smallest input at which that face is `small_face_px`
  or more;
- it stays there until the next cut, or comes down when a frame detected at its input has faces
  and all of them would be comfortably large (`1.5 x small_face_px`) at a smaller input. A face's
  size is the geometric mean of its box's width and height;
- a probe that finds no faces, or only large ones, leaves the shot at `det_size`;
- the shot's input must find what the probe was sure of: the probe's frame is detected again at
  the input the sizes chose, and while a face the probe scored `SURE_SCORE` or more is not found
  there with a score the tracker starts a track on (bytetrack.yaml's `new_track_thresh`, 0.7),
  the shot goes a rung up, and never comes down below that rung until the next cut. Face size
  alone is not enough: a clear 220 px face (a dark face under a cap, over a blurred copy) that
  RetinaFace scores 1.00 at full size is not found at all at 320 px, though 55 px there is far
  above `small_face_px`; its shot would have had no one on screen. Found alone is not enough
  either: a 65 px face beside its 500 px blurred copy is found at 320 px with a score of 0.6,
  which is kept as a detection but never starts a track, so it was no one's screen time.

So a close-up is detected at `det_size`, a group shot whose faces are 40 px in a 1280x720 frame at
640 (not at full size), and only a crowd of 20 px faces at full size.

Measured (bench/bench_small_faces.py, docs/performance.md "Small faces"): probing every 4 s within
long shots as well as at cuts found no more faces on either bench clip, so there are no timed
probes.

The policy is plain state over face sizes, so tests drive it without a detector; `detect_frames`
runs a batch through it (cut at shot starts, so a probe's answer applies to the rest of its batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from screentime.vision.boxes import FaceBoxes, iou_matrix
from screentime.vision.flow import FaceFlow
from screentime.vision.regions import (
    DEFAULT_FACE_PX,
    TRACKED_SCORE_FACTOR,
    FullPassSchedule,
    add_new,
    detect_regions,
    keep_expected,
    plan_strips,
)
from screentime.vision.tracking import load_tracker_settings
from screentime.vision.video import SampledFrame, detector_input_size, detector_scale, resize_for_detector

# The finest input's longest side never exceeds this: full size for HD, a 1920 px input for 4K and
# 8K (whose faces are 2-4x bigger in pixels at the same framing), so memory and time stay bounded.
FINE_MAX_SIDE = 1920
LEAVE_FINE_FACTOR = 1.5  # hysteresis: come down only when every face is this much over small_face_px
SURE_SCORE = 0.95  # a probe's face this sure must be found at its shot's input (blurred backdrop copies: up to 0.89)
FOUND_IOU = 0.3  # a probe face counts as found at the shot's input when a box there overlaps it this much
TRACKABLE_SCORE = float(load_tracker_settings()["new_track_thresh"])  # ...and scores what starts a track


def fine_size(width: int, height: int, det_size: int) -> int:
    """The longest side of the finest detector input for frames of this size (0 = the source size).

    Equal to `det_size` when there is nothing finer to go to (det_size 0, or already that big)."""
    longest = max(width, height)
    if det_size <= 0 or det_size >= longest:
        return det_size
    return 0 if longest <= FINE_MAX_SIDE else max(det_size, FINE_MAX_SIDE)


def input_ladder(width: int, height: int, det_size: int) -> list[int]:
    """The longest sides of the inputs a run may detect at, smallest first (0 = the source size):
    `det_size`, doubled while that stays under the finest input, then the finest."""
    finest = fine_size(width, height, det_size)
    if finest == det_size:
        return [det_size]
    top = finest or max(width, height)
    sides = [det_size]
    while sides[-1] * 2 < top:
        sides.append(sides[-1] * 2)
    return [*sides, finest]


@dataclass
class SmallFacePolicy:
    """Shot by shot: which rung of the input ladder to detect at. See the module docstring."""

    scales: tuple[float, ...]  # source -> each input of the ladder, smallest (det_size) first
    small_face_px: float  # at the shot's input; 0 turns the policy off (always det_size)
    rung: int = 0  # the current shot's rung of the ladder (0 = det_size)
    floor: int = 0  # the current shot never comes down below this rung (see `hold`)
    probes: int = 0

    def __post_init__(self) -> None:
        self.scales = tuple(self.scales)
        if not self.enabled:
            self.small_face_px = 0

    @property
    def enabled(self) -> bool:
        return self.small_face_px > 0 and len(self.scales) > 1

    @property
    def finest(self) -> int:
        return len(self.scales) - 1

    @property
    def fine(self) -> bool:
        """The current shot is detected at a larger input than det_size."""
        return self.rung > 0

    def start_shot(self) -> bool:
        """A shot starts: forget the last one. True when its first frame should be probed (finest)."""
        self.rung = self.floor = 0
        self.probes += int(self.enabled)
        return self.enabled

    def hold(self, rung: int) -> None:
        """The shot's faces need at least this rung (found there, missed below): stay at or above it."""
        self.floor = max(self.floor, rung)
        self.rung = max(self.rung, self.floor)

    def observe(self, face_sizes_px: np.ndarray, rung_used: int) -> None:
        """Report one frame's faces (their sizes in source pixels, see `face_sizes`), in frame order,
        with the rung it was detected at; -1 for a partial view (regions around known faces), which
        may make the shot climb but never come down."""
        if not self.enabled:
            return
        sizes = np.asarray(face_sizes_px, dtype=np.float32)
        if len(sizes) == 0:
            return  # no faces: nothing learnt (the shot stays where it is)
        smallest = float(sizes.min())
        if smallest * self.scales[self.rung] < self.small_face_px:
            self.rung = self._rung_for(smallest, self.small_face_px)
        elif rung_used >= self.rung:  # seen at the shot's input: may come down
            comfortable = self._rung_for(smallest, self.small_face_px * LEAVE_FINE_FACTOR)
            self.rung = max(self.floor, min(self.rung, comfortable))

    def _rung_for(self, face_px: float, wanted_px: float) -> int:
        """The smallest rung at which a face of `face_px` source pixels is `wanted_px` or more."""
        return next((k for k, s in enumerate(self.scales) if face_px * s >= wanted_px), self.finest)


@dataclass(frozen=True)
class DetectorInputs:
    """The input ladder of one video: each rung's scale (source -> input) and size (width, height).
    Rung 0 is the det_size copy the decoder made; the others are resized from the source frame."""

    scales: tuple[float, ...]
    sizes: tuple[tuple[int, int], ...]

    @classmethod
    def for_video(cls, width: int, height: int, det_size: int) -> DetectorInputs:
        ladder = input_ladder(width, height, det_size)
        return cls(tuple(detector_scale(width, height, side) for side in ladder),
                   tuple(detector_input_size(width, height, side) for side in ladder))

    @property
    def largest(self) -> tuple[int, int]:
        return self.sizes[-1]

    def image(self, frame: SampledFrame, rung: int) -> np.ndarray:
        """The frame at the rung's input."""
        if rung == 0:
            return frame.det_image
        return resize_for_detector(frame.image, self.sizes[rung], self.scales[rung])

    def detect(self, detector, frames: list[SampledFrame], rung: int, min_score: float) -> list[FaceBoxes]:
        return detector.detect([self.image(f, rung) for f in frames], self.scales[rung], min_score)


COARSE, FINE, FOLLOWED = "coarse", "fine", "followed"  # how a frame's faces were found (see detect_frames)


def detect_frames(detector, frames: list[SampledFrame], starts_shot: list[bool], policy: SmallFacePolicy,
                  inputs: DetectorInputs, min_score: float, schedule: FullPassSchedule | None = None,
                  flow: FaceFlow | None = None) -> Iterator[tuple[FaceBoxes, str]]:
    """Detect a batch in frame order, each frame at the input the policy chooses; yields each frame's
    faces and how they were found: COARSE (the whole frame at det_size), FINE (the whole frame at
    a larger input) or FOLLOWED (followed from the previous frame, and the edges' new picture
    detected: screentime.vision.regions).

    The batch is cut at shot starts: a shot's first frame is detected alone at the finest input (the
    probe), the rest of the shot's frames in the batch at whatever the probe decided. With a
    `schedule` whose `every` > 1 and a `flow`, frames of a shot above det_size between its full
    passes are followed. `schedule` and `flow` carry over from one batch to the next."""
    schedule = schedule or FullPassSchedule(every=1)
    following = flow is not None and schedule.enabled
    i, count = 0, len(frames)
    while i < count:
        j = next((k for k in range(i + 1, count) if starts_shot[k]), count)  # this segment: i..j-1
        if starts_shot[i]:
            schedule.start_shot()
            if flow is not None:
                flow.forget()
            if policy.start_shot():
                probe = inputs.detect(detector, frames[i:i + 1], policy.finest, min_score)[0]
                policy.observe(face_sizes(probe), rung_used=policy.finest)
                policy.hold(rung_finding(detector, frames[i], probe, policy, inputs, min_score))
                schedule.full_pass(policy.finest)
                if following:
                    flow.remember(frames[i].image, probe)
                yield probe, FINE
                i += 1
        while i < j:
            rung = policy.rung
            if following and schedule.follow_due(rung):
                faces = follow_frame(detector, frames[i], rung, inputs, flow, schedule, min_score)
                if faces is not None:
                    policy.observe(face_sizes(faces), rung_used=-1)  # a partial view: may climb, never come down
                    yield faces, FOLLOWED
                    i += 1
                    continue
            if following and rung > 0:  # one frame in full, faces the flow expects kept down to a lower score
                frame = frames[i]
                if flow.at is not frame.image:  # (a frame the flow lost faces on was followed already)
                    flow.follow(frame.image)
                found = inputs.detect(detector, [frame], rung, min_score * TRACKED_SCORE_FACTOR)[0]
                faces = keep_expected(found, flow.faces, min_score)
                flow.add_faces(faces)  # the flow is at this frame: its faces are the detector's
                policy.observe(face_sizes(faces), rung_used=rung)
                schedule.full_pass(rung)
                yield faces, FINE
                i += 1
                continue
            for faces in inputs.detect(detector, frames[i:j], rung, min_score):  # the rest of the segment
                policy.observe(face_sizes(faces), rung_used=rung)
                schedule.full_pass(rung)
                if flow is not None:
                    flow.forget()  # nothing followed from a det_size frame
                yield faces, FINE if rung else COARSE
            i = j


def rung_finding(detector, frame: SampledFrame, probe: FaceBoxes, policy: SmallFacePolicy, inputs: DetectorInputs,
                 min_score: float) -> int:
    """The lowest rung, from the policy's, at which the probe's frame shows every face the probe
    was sure of (score >= SURE_SCORE) with a score the tracker starts a track on; the finest when
    none below does. The probe's frame is detected again at each rung tried: one det_size pass per
    shot when the sizes were right."""
    sure = probe.xyxy[probe.score >= SURE_SCORE]
    rung = policy.rung
    while len(sure) and rung < policy.finest:
        found = inputs.detect(detector, [frame], rung, min_score)[0]
        trackable = found.xyxy[found.score >= TRACKABLE_SCORE]
        if len(trackable) and bool((iou_matrix(sure, trackable).max(axis=1) >= FOUND_IOU).all()):
            break
        rung += 1
    return rung


def follow_frame(detector, frame: SampledFrame, rung: int, inputs: DetectorInputs, flow: FaceFlow,
                 schedule: FullPassSchedule, min_score: float) -> FaceBoxes | None:
    """One frame between full passes: the previous frame's faces followed into it, and the strips of
    new picture at its edges detected once enough came in (screentime.vision.regions). None when
    the flow lost too many faces: the frame then gets a full pass."""
    followed = flow.follow(frame.image)
    if not schedule.followed(len(followed.faces), followed.lost):
        return None
    faces = followed.faces
    height, width = frame.image.shape[:2]
    sides = schedule.reveal(followed.motion.revealed(width, height)) if followed.motion else []
    if sides:
        face_px = float(face_sizes(faces).max()) if len(faces) else DEFAULT_FACE_PX
        image = inputs.image(frame, rung)
        for plan in plan_strips(sides, schedule.revealed, face_px, inputs.scales[rung], inputs.sizes[rung]):
            faces = add_new(faces, detect_regions(detector, image, plan, inputs.scales[rung], min_score))
        schedule.looked(sides)
        flow.add_faces(faces)
    return faces


def face_sizes(faces: FaceBoxes) -> np.ndarray:
    """Each box's size in source pixels: the geometric mean of its width and height (a face box is
    narrower than tall; the detector's anchors are square)."""
    xyxy = faces.xyxy.reshape(-1, 4)
    return np.sqrt(np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None))
