"""Detect less, track more: within a shot of small faces the detector sees the whole frame only every
`full_detect_every` analysed frames; in between, faces follow the picture and the detector looks
only at the strips of new picture the camera brings in at the frame's edges.

A shot whose faces are small is detected at a large input (screentime.vision.small_faces): full
size for 720p, what the plain per-frame script pays on every frame. Video analytics engines do not
run the full detector on every frame (DeepStream's `interval`, with a visual tracker in between).
Here, within a shot detected above det_size:

- the whole frame is detected at the shot's probe (its first frame) and every `every` analysed
  frames after; a face the followed faces expect there (overlap EXPECTED_IOU) is kept down to
  TRACKED_SCORE_FACTOR x min_score, as ByteTrack keeps a low-score box for a known track (a small
  face's score hovers around the threshold from frame to frame);
- on the frames in between, each face of the previous frame is *followed* by optical flow
  (screentime.vision.flow), so nothing is detected there at all, except that
- the picture the camera reveals (a pan or a zoom out, from the followed faces' common motion) is
  watched: each time REVEAL_PX of new picture has come in at an edge, a strip along that edge, as
  deep as what came in plus a face, is detected (a few % of the frame's pixels, on the detector's
  32 px grid so a face there is scored as in a full pass): its faces join the followed ones, or
  replace one they overlap (a face followed from a sliver at the edge is seen whole);
- a frame whose flow loses more than 1 - KEEP_SHARE of the faces (they turned, were covered, or
  moved too fast to follow) gets a full pass instead.

A face that appears inside the frame between full passes (someone walks in behind others, turns
to the camera) is found by the next full pass, at most `every - 1` analysed frames later. Shots
at det_size (close and medium shots: cheap already) are always detected whole. Measured in
docs/performance.md ("Detect less, track more").

The schedule, the strips and the region detector are plain state and plain functions: tests drive
them without a detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from screentime.vision.boxes import FaceBoxes, iou_matrix

GRID_PX = 32  # regions are cut and placed on this grid of the input (the detector's largest stride): the
#               detector sees each face's pixels at the same phase as in a full pass, and scores it alike
GAP_PX = 32  # between regions on a canvas: the detector's padding colour
KEEP_SHARE = 0.9  # a frame whose flow keeps fewer of the faces than this gets a full pass instead
REVEAL_PX = 16  # an edge's strip is looked at each time this much new picture came in there (source px)
STRIP_FACE_FACTOR = 1.3  # a strip is as deep as the new picture plus this many times the shot's largest face
STRIP_CONTEXT_PX = 16  # ... plus this (source px), then out to the grid
DEFAULT_FACE_PX = 48.0  # the largest face of a shot whose faces are all lost (source px)
MERGE_IOU = 0.4  # one face found twice (the detector's own NMS threshold)
TRACKED_SCORE_FACTOR = 0.6  # a face where one is expected is kept down to this share of min_score
EXPECTED_IOU = 0.3  # ... when its box overlaps the expected box by this much; a strip's face this close
#                     to a followed face is that face (and replaces its followed box)
PAD_BGR = (104.0, 117.0, 127.0)  # RetinaFace's mean colour: what the network reads as zeros, as past a frame's edge
LEFT, TOP, RIGHT, BOTTOM = range(4)


@dataclass
class FullPassSchedule:
    """Within a shot detected above det_size: which frames get a full pass, which are followed, and
    how much new picture each edge brought in since the last look (`revealed`, source px)."""

    every: int  # a full-frame pass every this many analysed frames; 1 = every frame in full
    since_full: int = 0  # analysed frames since the shot's last full pass (0: none yet)
    full_rung: int = 0  # the input rung of that pass
    revealed: np.ndarray = field(default_factory=lambda: np.zeros(4))  # left, top, right, bottom

    @property
    def enabled(self) -> bool:
        return self.every > 1

    def follow_due(self, rung: int) -> bool:
        """The next frame may be followed: the shot is above det_size (`rung` > 0), had a full pass
        fewer than `every` frames ago, at that rung or finer (a shot that climbs gets a full pass at
        once)."""
        return self.enabled and rung > 0 and 0 < self.since_full < self.every and rung <= self.full_rung

    def start_shot(self) -> None:
        """A cut: no full pass in this shot yet."""
        self.since_full = 0
        self.revealed = np.zeros(4)

    def full_pass(self, rung: int) -> None:
        self.since_full, self.full_rung, self.revealed = 1, rung, np.zeros(4)

    def followed(self, kept: int, lost: int) -> bool:
        """The flow kept `kept` faces of a frame and lost `lost`: True when that is enough for the
        frame to be followed; False hands the frame over to a full pass."""
        if kept < KEEP_SHARE * (kept + lost):
            return False
        self.since_full += 1
        return True

    def reveal(self, pixels: tuple[float, float, float, float]) -> list[int]:
        """Add the new picture at each edge (left, top, right, bottom); returns the edges whose strip
        is due (REVEAL_PX or more since it was last looked at)."""
        self.revealed += np.asarray(pixels, np.float64)
        return [side for side in range(4) if self.revealed[side] >= REVEAL_PX]

    def looked(self, sides: list[int]) -> None:
        self.revealed[sides] = 0.0


@dataclass(frozen=True)
class RegionPlan:
    """Where the regions of one canvas come from and go: each `regions[k]` (x0, y0, x1, y1 of the
    input, on the grid) is copied to `places[k]` (x, y) of a `size` (width, height) canvas."""

    regions: list[tuple[int, int, int, int]]
    places: list[tuple[int, int]]
    size: tuple[int, int]

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


def plan_strips(sides: list[int], revealed: np.ndarray, face_px: float, scale: float,
                input_size: tuple[int, int]) -> list[RegionPlan]:
    """The strips along `sides` of the input (`scale` from the source, `input_size` (width, height)),
    each as deep as its new picture (`revealed`, source px) plus a face of `face_px` and context, on
    the grid: the left and right ones side by side on one canvas, the top and bottom ones one above
    the other on another (one detector call each)."""
    width, height = input_size
    depth = {side: _grid_ceil((revealed[side] + STRIP_FACE_FACTOR * face_px + STRIP_CONTEXT_PX) * scale)
             for side in sides}
    upright = [(0, 0, min(width, depth[LEFT]), height)] if LEFT in sides else []
    if RIGHT in sides:
        upright.append((max(0, _grid_floor(width - depth[RIGHT])), 0, width, height))
    lying = [(0, 0, width, min(height, depth[TOP]))] if TOP in sides else []
    if BOTTOM in sides:
        lying.append((0, max(0, _grid_floor(height - depth[BOTTOM])), width, height))
    plans = []
    if upright:
        places = [(0, 0)] + ([(_grid_ceil(upright[0][2] - upright[0][0] + GAP_PX), 0)] if len(upright) == 2 else [])
        plans.append(RegionPlan(upright, places, (places[-1][0] + upright[-1][2] - upright[-1][0], height)))
    if lying:
        places = [(0, 0)] + ([(0, _grid_ceil(lying[0][3] - lying[0][1] + GAP_PX))] if len(lying) == 2 else [])
        plans.append(RegionPlan(lying, places, (width, places[-1][1] + lying[-1][3] - lying[-1][1])))
    return plans


def _grid_floor(v: float) -> int:
    return int(np.floor(v / GRID_PX)) * GRID_PX


def _grid_ceil(v: float) -> int:
    return int(np.ceil(v / GRID_PX)) * GRID_PX


def cut_canvas(image: np.ndarray, plan: RegionPlan) -> np.ndarray:
    """The regions of `image` (the frame at the shot's input) on the plan's canvas."""
    canvas = np.empty((plan.size[1], plan.size[0], 3), np.uint8)
    canvas[:] = np.array(PAD_BGR, np.uint8)
    for (x0, y0, x1, y1), (x, y) in zip(plan.regions, plan.places, strict=True):
        canvas[y:y + y1 - y0, x:x + x1 - x0] = image[y0:y1, x0:x1]
    return canvas


def detect_regions(detector, image: np.ndarray, plan: RegionPlan, scale: float, min_score: float) -> FaceBoxes:
    """The faces in the plan's regions of `image` (the frame at the shot's input, `scale` from the
    source), in source pixels. A box is kept only by the region that holds it whole (a box cut
    by a region's edge, where the frame goes on, is not a face's; one cut by the frame's edge is)."""
    if not plan.regions:
        return FaceBoxes.empty()
    height, width = image.shape[:2]
    faces = detector.detect([cut_canvas(image, plan)], scale, min_score)[0]
    box = faces.xyxy * scale  # canvas pixels
    keep = np.zeros(len(faces), bool)
    shift = np.zeros((len(faces), 2), np.float32)
    for (x0, y0, x1, y1), (x, y) in zip(plan.regions, plan.places, strict=True):
        w, h = x1 - x0, y1 - y0
        inside = ((box[:, 0] > x + 1) | ((x0 == 0) & (box[:, 0] > x - GAP_PX / 2)))
        inside &= (box[:, 1] > y + 1) | ((y0 == 0) & (box[:, 1] > y - GAP_PX / 2))
        inside &= (box[:, 2] < x + w - 1) | ((x1 == width) & (box[:, 2] < x + w + GAP_PX / 2))
        inside &= (box[:, 3] < y + h - 1) | ((y1 == height) & (box[:, 3] < y + h + GAP_PX / 2))
        inside &= ~keep
        keep |= inside
        shift[inside] = ((x0 - x) / scale, (y0 - y) / scale)
    xyxy = faces.xyxy + np.concatenate([shift, shift], axis=1)
    landmarks = faces.landmarks + shift[:, None, :]
    return merge_boxes(FaceBoxes(xyxy[keep], faces.score[keep], landmarks[keep]))


def merge_boxes(faces: FaceBoxes) -> FaceBoxes:
    """One box per face where overlapping regions found it twice: the best-scored of each group
    that overlaps by more than MERGE_IOU (greedy NMS, at the detector's own threshold)."""
    faces = faces[np.argsort(-faces.score, kind="stable")]
    overlaps = iou_matrix(faces.xyxy, faces.xyxy)
    keep = np.ones(len(faces), bool)
    for i in range(len(faces)):
        if keep[i]:
            keep[i + 1:] &= overlaps[i, i + 1:] <= MERGE_IOU
    return faces[keep]


def keep_expected(faces: FaceBoxes, expected: FaceBoxes, min_score: float) -> FaceBoxes:
    """A full pass's faces (detected down to TRACKED_SCORE_FACTOR x min_score): those at min_score or
    more, and the lower ones where a followed face was expected (overlap EXPECTED_IOU)."""
    keep = faces.score >= min_score
    if len(faces) and len(expected):
        keep |= iou_matrix(faces.xyxy, expected.xyxy).max(axis=1) >= EXPECTED_IOU
    return faces[keep]


def add_new(followed: FaceBoxes, found: FaceBoxes) -> FaceBoxes:
    """The followed faces with what a strip found: a found face that is one of them (overlap
    EXPECTED_IOU) replaces it (the detector saw it whole now; it may have been followed from a
    sliver at the frame's edge), the others join them."""
    if not len(found):
        return followed
    if len(followed):
        followed = followed[iou_matrix(followed.xyxy, found.xyxy).max(axis=1) < EXPECTED_IOU]
    return FaceBoxes(np.concatenate([followed.xyxy, found.xyxy]), np.concatenate([followed.score, found.score]),
                     np.concatenate([followed.landmarks, found.landmarks]))
