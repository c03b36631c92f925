"""Detect less, track more: between full-frame passes, the detector looks only around the faces the
tracker expects (`full_detect_every`).

A shot whose faces are small is detected at a large input (screentime.vision.small_faces): full
size for 720p, what the plain per-frame script pays on every frame. Video analytics engines do not
run the full detector on every frame (DeepStream's `interval`). Here, within a shot detected above
det_size, the whole frame is detected every `every` analysed frames, at every cut (the shot's
probe) and on the frame after it (so the tracker has seen its faces move); the frames in between
are detected on *regions*: each expected face (`FaceTracker.predicted`) with CONTEXT_PX around
it, cut from the shot's detector input on the detector's 32 px grid (so the network sees the face
at the same phase as in a full pass and scores it alike), packed on one canvas, one detector call.
Boxes go back to source pixels; a box cut by its region's edge is dropped; a face the tracker
expects is kept down to TRACKED_SCORE_FACTOR x min_score (as ByteTrack keeps low-score boxes for
known tracks).

Regions see only faces already known: a face that enters between full passes is found by the next
one, at most `every - 1` analysed frames after it appears. Regions are used only while cheap and
working: a canvas over MAX_REGION_SHARE of the full pass's pixels makes that frame a full pass,
and a region frame that finds under REFIND_SHARE of the faces it looked for makes the next one a
full pass. Shots at det_size (close and medium shots: cheap already) are always detected whole.
Measured in docs/performance.md ("Detect less, track more").

The schedule and the regions are plain state and plain functions: tests drive them without a
detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from screentime.vision.boxes import FaceBoxes, iou_matrix

GRID_PX = 32  # regions are cut and placed on this grid of the input (the detector's largest stride): the
#               detector sees each face's pixels at the same phase as in a full pass, and scores it alike
CONTEXT_PX = 16  # around each expected face, at least this much more of the frame (input pixels; then to the grid)
GAP_PX = 32  # between regions on the canvas: the detector's padding colour
MAX_REGION_SHARE = 0.5  # regions only when their canvas is at most this share of the full pass's pixels
REFIND_SHARE = 0.9  # regions that find fewer of the expected faces than this hand over to a full pass
MERGE_IOU = 0.4  # one face found in two overlapping regions (the detector's own NMS threshold)
TRACKED_SCORE_FACTOR = 0.6  # a face where the tracker expects one is kept down to this share of min_score
EXPECTED_IOU = 0.3  # ... when its box overlaps the expected box by this much
PAD_BGR = (104.0, 117.0, 127.0)  # RetinaFace's mean colour: what the network reads as zeros, as past a frame's edge


@dataclass
class RegionSchedule:
    """Within a shot detected above det_size: which frames get a full pass, which only regions."""

    every: int  # a full-frame pass every this many analysed frames; 1 = every frame in full
    since_full: int = 0  # analysed frames since the shot's last full pass (0: none yet)
    full_rung: int = 0  # the input rung of that pass
    full_passes: int = 0  # full passes in this shot so far

    @property
    def enabled(self) -> bool:
        return self.every > 1

    def regions_due(self, rung: int) -> bool:
        """The next frame may be detected on regions: the shot is above det_size (`rung` > 0), it had
        two full passes already (its probe and the next frame: the tracker knows how its faces
        move), and its last full pass was at that rung or finer (a shot that climbs gets a full pass
        at once) and fewer than `every` frames ago. A shot without predicted faces gets empty
        regions (nothing to look at) until its next full pass."""
        return (self.enabled and rung > 0 and self.full_passes >= 2 and self.since_full < self.every
                and rung <= self.full_rung)

    @staticmethod
    def regions_cheaper(plan: RegionPlan, full_pixels: int) -> bool:
        """The regions' canvas costs at most MAX_REGION_SHARE of a full pass of `full_pixels`."""
        return plan.pixels <= MAX_REGION_SHARE * full_pixels

    def start_shot(self) -> None:
        """A cut: no full pass in this shot yet."""
        self.since_full = self.full_passes = 0

    def full_pass(self, rung: int) -> None:
        self.since_full, self.full_rung, self.full_passes = 1, rung, self.full_passes + 1

    def regions_pass(self, found: int, expected: int) -> None:
        """A frame detected on regions found `found` faces where `expected` were looked for: fewer
        than REFIND_SHARE of them (fast motion, a zoom the tracker cannot follow) makes the next
        frame a full pass."""
        self.since_full = self.every if found < REFIND_SHARE * expected else self.since_full + 1


@dataclass(frozen=True)
class RegionPlan:
    """Where the regions of one frame come from and go: each `regions[k]` (x0, y0, x1, y1 of the
    input, on the grid) is copied to `places[k]` (x, y) of a `size` (width, height) canvas;
    `faces`: the expected faces they hold."""

    regions: list[tuple[int, int, int, int]]
    places: list[tuple[int, int]]
    size: tuple[int, int]
    faces: int = 0

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


def plan_regions(predicted: np.ndarray, scale: float, input_size: tuple[int, int]) -> RegionPlan:
    """The regions of the input (`scale` from the source, `input_size` (width, height)) around the
    predicted boxes (xyxy, source pixels) that are mostly inside the frame: each box with
    CONTEXT_PX around it, out to the grid; regions merged where that costs no pixels. They are
    packed in rows (tallest first) on a canvas as wide as the input, GAP_PX apart, on the grid."""
    width, height = input_size
    rects = []
    for x1, y1, x2, y2 in np.asarray(predicted, np.float32).reshape(-1, 4) * scale:
        w, h = x2 - x1, y2 - y1
        if w < 1 or h < 1 or min(x2, width) - max(x1, 0) <= w / 2 or min(y2, height) - max(y1, 0) <= h / 2:
            continue  # degenerate, or left the frame
        rects.append([max(0, _grid_floor(x1 - CONTEXT_PX)), max(0, _grid_floor(y1 - CONTEXT_PX)),
                      min(width, _grid_ceil(x2 + CONTEXT_PX)), min(height, _grid_ceil(y2 + CONTEXT_PX))])
    regions = sorted(_merge_touching(list(rects)), key=lambda r: r[1] - r[3])  # tallest first
    places, x, y, row_height = [], 0, 0, 0
    for x0, y0, x1, y1 in regions:
        if x and x + x1 - x0 > width:  # next row
            x, y, row_height = 0, _grid_ceil(y + row_height + GAP_PX), 0
        places.append((x, y))
        x, row_height = _grid_ceil(x + x1 - x0 + GAP_PX), max(row_height, y1 - y0)
    canvas_w = max((p[0] + r[2] - r[0] for p, r in zip(places, regions, strict=True)), default=0)
    return RegionPlan([tuple(r) for r in regions], places, (canvas_w, y + row_height), len(rects))


def _grid_floor(v: float) -> int:
    return int(np.floor(v / GRID_PX)) * GRID_PX


def _grid_ceil(v: float) -> int:
    return int(np.ceil(v / GRID_PX)) * GRID_PX


def _area(r) -> int:
    return (r[2] - r[0]) * (r[3] - r[1])


def _merge_touching(rects: list[list[int]]) -> list[list[int]]:
    """Rectangles merged into their bounding rectangle wherever that costs no more pixels than the
    two apart (overlapping ones, neighbours in a row), until no two are; the rest may overlap."""
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                both = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                if _area(both) <= _area(a) + _area(b):
                    rects[i] = both
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects


def cut_canvas(image: np.ndarray, plan: RegionPlan) -> np.ndarray:
    """The regions of `image` (the frame at the shot's input) on the plan's canvas."""
    canvas = np.empty((plan.size[1], plan.size[0], 3), np.uint8)
    canvas[:] = np.array(PAD_BGR, np.uint8)
    for (x0, y0, x1, y1), (x, y) in zip(plan.regions, plan.places, strict=True):
        canvas[y:y + y1 - y0, x:x + x1 - x0] = image[y0:y1, x0:x1]
    return canvas


def detect_regions(detector, image: np.ndarray, plan: RegionPlan, scale: float, min_score: float,
                   expected: np.ndarray | None = None) -> FaceBoxes:
    """The faces in the plan's regions of `image` (the frame at the shot's input, `scale` from the
    source), in source pixels. A box is kept only by the region that holds it whole (a box cut
    by a region's edge, where the frame goes on, is not a face's)."""
    if not plan.regions:
        return FaceBoxes.empty()
    height, width = image.shape[:2]
    low = min_score * TRACKED_SCORE_FACTOR if expected is not None else min_score
    faces = detector.detect([cut_canvas(image, plan)], scale, low)[0]
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
    if expected is not None and len(faces):  # below min_score: only a face where one was expected
        near = iou_matrix(xyxy, np.asarray(expected, np.float32).reshape(-1, 4)).max(axis=1, initial=0.0)
        keep &= (faces.score >= min_score) | (near >= EXPECTED_IOU)
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
