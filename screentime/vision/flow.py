"""Between full passes, faces follow the picture: each face's box is moved by the optical flow of
points inside it, from the previous analysed frame (a median-flow tracker: Kalal, Mikolajczyk and
Matas, "Forward-Backward Error", ICPR 2010; what DeepStream's trackers do between `interval`s).

For every face of the previous frame, a GRID x GRID lattice of points inside its box is followed
into the next frame with OpenCV's pyramidal Lucas-Kanade flow. The face grows by the median ratio
of its points' pairwise distances (a zoom) and moves with their median; a point counts when it
moved as the face did, within AGREE_PX (not the background showing through, not an edge sliding
past), and the face's move is then taken from the points that count. Its landmarks
move with it, its score is the last detector score. A face with too few points that count
(turned away, covered, blurred) is *lost*: it is not carried on, and the caller hands over to a
full pass.

Measured on the bench's pan (docs/performance.md): Kalal's forward-backward check (a second flow
back) kept exactly the same faces at 1.3x the cost, so the points' agreement is the check here.
Flow runs on a grey copy of the frame no larger than FLOW_MAX_SIDE: ~3 ms a frame at 720p with
~30 faces on one CPU core, against ~80 ms for the full-size detector. It never looks for new
faces: screentime.vision.regions watches the edges, and the next full pass the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from screentime.vision.boxes import FaceBoxes

FLOW_MAX_SIDE = 1280  # flow on a grey copy at most this long (4K is followed at 1280 px)
GRID = 4  # points per side of each face's lattice
INSET = 0.15  # the lattice keeps this share of the box off each side (the face, not its background)
AGREE_PX = 1.0  # a point counts when its move is within this of its face's median move (flow pixels)
MIN_POINTS = 0.5  # a face needs this share of its points to count, or it is lost
MAX_ZOOM_STEP = 1.25  # a face grows or shrinks by at most this factor from one frame to the next
_LK = {"winSize": (9, 9), "maxLevel": 3,  # pyramid levels: follows up to ~30 px a frame at full size
       "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)}


@dataclass(frozen=True)
class CameraMotion:
    """How the picture moved from one frame to the next, as its followed faces say: a point at x
    goes to zoom * x + dx (and y likewise), source pixels."""

    zoom: float
    dx: float
    dy: float

    def revealed(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Pixels of new picture at each edge (left, top, right, bottom): where the last frame's
        content moved away from the edge; 0 where it moved over it."""
        return (max(0.0, self.dx), max(0.0, self.dy), max(0.0, width - (self.zoom * width + self.dx)),
                max(0.0, height - (self.zoom * height + self.dy)))


@dataclass(frozen=True)
class Followed:
    faces: FaceBoxes  # the faces that moved reliably and are still in the frame
    lost: int  # faces whose points did not follow them (and that had not left the frame)
    motion: CameraMotion | None  # None without faces to say it


class FaceFlow:
    """Carries the faces of one analysed frame into the next (see the module docstring).

    `remember(image, faces)` after every analysed frame (whatever found its faces), `forget()` at a
    cut; `follow(image)` gives the remembered faces moved into `image`, and how many were lost."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.scale = min(1.0, FLOW_MAX_SIDE / max(width, height))
        self._grey: np.ndarray | None = None
        self._faces = FaceBoxes.empty()
        self._motion: CameraMotion | None = None  # the last step's, the guess for the next (a pan goes on)
        self.at: np.ndarray | None = None  # the frame (its image) whose faces are remembered

    def grey(self, image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.scale < 1.0:
            size = (round(self.width * self.scale), round(self.height * self.scale))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return grey

    def remember(self, image: np.ndarray, faces: FaceBoxes, grey: np.ndarray | None = None) -> None:
        self._grey = self.grey(image) if grey is None else grey
        self._faces = faces
        self.at = image

    def forget(self) -> None:
        self._grey, self._faces, self._motion, self.at = None, FaceBoxes.empty(), None, None

    @property
    def faces(self) -> FaceBoxes:
        return self._faces

    def add_faces(self, faces: FaceBoxes) -> None:
        """The remembered frame's faces are `faces` after all (new ones found on it since)."""
        self._faces = faces

    def follow(self, image: np.ndarray) -> Followed:
        """The remembered faces moved into `image` (source pixels). Remembers `image` and the faces
        it gives, so successive calls follow frame to frame."""
        grey = self.grey(image)
        followed = follow_faces(self._grey, grey, self._faces, self.scale, (self.width, self.height), self._motion)
        self.remember(image, followed.faces, grey)
        self._motion = followed.motion
        return followed


def lattice(xyxy: np.ndarray) -> np.ndarray:
    """GRID x GRID points inside each box (N, 4) -> (N, GRID * GRID, 2), INSET off each side."""
    t = np.linspace(INSET, 1 - INSET, GRID, dtype=np.float32)
    u, v = np.meshgrid(t, t)
    u, v = u.ravel(), v.ravel()
    x1, y1, x2, y2 = (xyxy[:, k:k + 1] for k in range(4))
    return np.stack([x1 + (x2 - x1) * u, y1 + (y2 - y1) * v], axis=-1)


def row_median(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The median over axis 1 of `values` (n, P, d), counting only `valid` (n, P) entries; 0 for a
    row with none (np.nanmedian does this 10x slower on small arrays)."""
    n, p, d = values.shape
    ordered = np.sort(np.where(valid[..., None], values, np.inf), axis=1)
    count = valid.sum(axis=1)
    low, high = np.maximum(count - 1, 0) // 2, np.maximum(count, 1) // 2
    rows = np.arange(n)[:, None]
    cols = np.arange(d)[None, :]
    median = (ordered[rows, low[:, None], cols] + ordered[rows, high[:, None], cols]) / 2
    return np.where(count[:, None] > 0, median, 0.0)


def face_zoom(start: np.ndarray, end: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each face's zoom (n,): the median ratio of its valid points' pairwise distances after/before,
    within 1 / MAX_ZOOM_STEP .. MAX_ZOOM_STEP; 1 without two valid points apart."""
    i, j = np.triu_indices(start.shape[1], 1)
    before = np.linalg.norm(start[:, i] - start[:, j], axis=-1)
    after = np.linalg.norm(end[:, i] - end[:, j], axis=-1)
    pair = valid[:, i] & valid[:, j] & (before > 1.0)
    ratio = row_median((after / np.maximum(before, 1e-6))[..., None], pair)[:, 0]
    return np.clip(np.where(pair.any(axis=1), ratio, 1.0), 1 / MAX_ZOOM_STEP, MAX_ZOOM_STEP)


def follow_faces(before: np.ndarray | None, after: np.ndarray, faces: FaceBoxes, scale: float,
                 frame_size: tuple[int, int], guess: CameraMotion | None = None) -> Followed:
    """Move `faces` (source pixels) from the grey frame `before` to `after` (both at `scale` of the
    source). `guess`: the camera's last move, where the flow starts looking (a fast pan moves
    farther from one frame to the next than the flow's search reaches from a standstill)."""
    if before is None or len(faces) == 0:
        return Followed(FaceBoxes.empty(), 0, None)
    n = len(faces)
    start = lattice(faces.xyxy * scale)  # (n, P, 2), flow pixels
    points = start.reshape(-1, 1, 2).astype(np.float32)
    if guess is None:
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(before, after, points, None, **_LK)
    else:
        shifted = points * guess.zoom + np.float32([guess.dx, guess.dy]) * scale
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(before, after, points, shifted.astype(np.float32), **_LK,
                                                flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    end = moved.reshape(n, -1, 2)
    found = ok.reshape(n, -1).astype(bool)
    zoom = face_zoom(start, end, found)
    # A point counts when it moved as the face did (its median move and zoom), within AGREE_PX.
    model = row_median(end, found)[:, None, :] + zoom[:, None, None] * (start - row_median(start, found)[:, None, :])
    good = found & (np.linalg.norm(end - model, axis=-1) <= AGREE_PX)
    keep = good.sum(axis=1) >= max(3, MIN_POINTS * good.shape[1])
    zoom = np.where(keep, zoom, 1.0).astype(np.float32)  # (a median over pairs: the outliers do not move it)
    centre = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2  # source px; the points' medians in flow px
    from_points = centre - row_median(start, good) / scale
    new_centre = np.where(keep[:, None], row_median(end, good) / scale + zoom[:, None] * from_points, centre)
    half = (faces.xyxy[:, 2:] - faces.xyxy[:, :2]) / 2 * zoom[:, None]
    xyxy = np.concatenate([new_centre - half, new_centre + half], axis=1).astype(np.float32)
    landmarks = ((faces.landmarks - centre[:, None, :]) * zoom[:, None, None] + new_centre[:, None, :])
    width, height = frame_size
    inside_w = np.clip(np.minimum(xyxy[:, 2], width) - np.maximum(xyxy[:, 0], 0), 0, None)
    inside_h = np.clip(np.minimum(xyxy[:, 3], height) - np.maximum(xyxy[:, 1], 0), 0, None)
    area = np.maximum((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1e-6)
    in_frame = inside_w * inside_h / area > 0.5  # a face that left the frame is gone, not lost
    motion = None
    if keep.any():  # the camera: one zoom and shift for every face that moved (medians)
        z = float(np.median(zoom[keep]))
        d = np.median(new_centre[keep] - z * centre[keep], axis=0)
        motion = CameraMotion(z, float(d[0]), float(d[1]))
    lost = int(np.count_nonzero(~keep & in_frame))
    keep &= in_frame
    return Followed(FaceBoxes(xyxy[keep], faces.score[keep], landmarks[keep].astype(np.float32)), lost, motion)
