"""Makes an identity clip from real photos: TV-like shots of 1.0-2.0 s, one photo per shot, shown with a
slow zoom over a blurred, dimmed copy of itself, in a shuffled order (the style of
shared/media/make_bbt_people.py, with its backdrop by default: the detector finds a blurred face in it),
and its truth JSON in the same format, for calibrating and scoring people grouping
(`shared/tools/score_people.py MANIFEST.json TRUTH.json`).

usage: python make_identity_clip.py PHOTOS_DIR LABELS.json OUT.mp4 OUT.json
           [--width 1280] [--height 720] [--fps 25] [--seed 8] [--crf 20] [--sizes 0.333,0.403,0.472]
           [--bg-blur 25] [--bg-dim 2] [--threads 1]

LABELS.json maps a file in PHOTOS_DIR to its person, either {"obama2.jpg": "Barack_Obama"} or
{"obama2.jpg": {"person": "Barack_Obama", "crop": [x, y, w, h]}}; keys starting with "_" are notes and are
skipped. Only the files listed are used. What is shown of each photo:
  - "crop" given: that rectangle (source pixels), e.g. a square around the one main face with a margin;
  - a small photo (both sides <= 400 px, e.g. a 150x150 face chip): the whole photo;
  - otherwise the largest face found by OpenCV's bundled Haar cascade (OpenCV 4 only; OpenCV 5 dropped
    it), in a square 1.5 times its side; with no cascade, give a crop.
A shot shows that picture `size` px tall, `size` = one of --sizes times the frame height (default
240/290/340 px at 720p), growing 10% over the shot. RetinaFace's box on a 150x150 dlib face chip is about
the chip's height (faces about 250-390 px tall at 720p); on a crop of 1.5 times the face, about 0.67 of
it (160-250 px).
Truth (OUT.json): {"fps", "frames", "shots": [{image, person, first_frame, last_frame, seconds}],
"seconds": {person: seconds on screen}}. The random seed is fixed, so the shot order and timings are the
same on every run; the encoder (PyAV's libx264) may not give the same bytes everywhere.
"""
from __future__ import annotations

import argparse
import json
import random
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

CHIP_MAX = 400  # a photo no larger than this on both sides is shown whole (a face chip)
FACE_MARGIN = 1.5  # the square shown around a detected face, in face sides
DURATIONS = [1.0, 1.2, 1.4, 1.6, 1.8, 2.0]


def load_labels(path: Path) -> dict[str, dict]:
    raw = json.loads(path.read_text())
    labels = {}
    for name, value in raw.items():
        if name.startswith("_"):
            continue
        entry = {"person": value} if isinstance(value, str) else dict(value)
        if not entry.get("person"):
            raise SystemExit(f"{path}: {name} has no person")
        labels[name] = entry
    if not labels:
        raise SystemExit(f"{path}: no photos listed")
    return labels


def haar_face(img: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest frontal face (x, y, w, h) by OpenCV's bundled Haar cascade, or None without one."""
    classifier = getattr(cv2, "CascadeClassifier", None)
    root = getattr(getattr(cv2, "data", None), "haarcascades", "")
    cascade = Path(root) / "haarcascade_frontalface_default.xml" if root else None
    if classifier is None or cascade is None or not cascade.exists():
        return None
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    faces = classifier(str(cascade)).detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
    if len(faces) == 0:
        return None
    return tuple(int(v) for v in max(faces, key=lambda f: f[2] * f[3]))


def square_around(face: tuple[int, int, int, int], width: int, height: int) -> list[int]:
    x, y, w, h = face
    side = min(int(round(FACE_MARGIN * max(w, h))), width, height)
    x0 = min(max(0, int(round(x + w / 2 - side / 2))), width - side)
    y0 = min(max(0, int(round(y + h / 2 - side / 2))), height - side)
    return [x0, y0, side, side]


def picture(path: Path, entry: dict) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    height, width = img.shape[:2]
    crop = entry.get("crop")
    if crop is None and max(height, width) > CHIP_MAX:
        face = haar_face(img)
        if face is None:
            raise SystemExit(f"{path.name}: no face found (or no Haar cascade in this OpenCV); "
                             "give a crop [x, y, w, h] in the labels")
        crop = square_around(face, width, height)
    if crop is not None:
        x, y, w, h = (int(v) for v in crop)
        x, y = max(0, x), max(0, y)
        img = img[y:min(height, y + h), x:min(width, x + w)]
        if img.size == 0:
            raise SystemExit(f"{path.name}: crop {crop} is outside the photo")
    return img


def backdrop(pic: np.ndarray, width: int, height: int, sigma: float) -> np.ndarray:
    """The photo stretched to the frame and Gaussian-blurred by `sigma` frame pixels; blurred at 1/8 size
    and scaled back up, as a full-size blur that wide takes seconds."""
    small = cv2.resize(pic, (max(1, width // 8), max(1, height // 8)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 8, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", type=Path)
    ap.add_argument("labels", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("truth", type=Path)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--crf", type=int, default=20)
    ap.add_argument("--sizes", default="0.333,0.403,0.472",
                    help="picture heights, as fractions of the frame height, one drawn per shot")
    ap.add_argument("--bg-blur", type=float, default=25.0,
                    help="Gaussian sigma of the blurred backdrop, at 1280 px wide: 25, as make_bbt_people.py, "
                         "leaves a big blurred face that RetinaFace finds (score >= 0.5), larger than the real "
                         "one, in about half the shots at det_size 320, as in bbt_people.mp4 and clips made "
                         "like it; the pipeline must leave it out (docs/people.md). 120 shows no such face")
    ap.add_argument("--bg-dim", type=int, default=2, help="the backdrop's brightness is divided by this "
                    "(2, as make_bbt_people.py)")
    ap.add_argument("--threads", type=int, default=1, help="encoder threads (keep CPU use modest)")
    a = ap.parse_args()
    W, H, FPS = a.width, a.height, a.fps
    sizes = [int(round(float(s) * H)) for s in a.sizes.split(",")]
    if max(sizes) * 1.1 > H:
        raise SystemExit("--sizes: a picture must fit the frame height after its 10% zoom")

    labels = load_labels(a.labels)
    rng = random.Random(a.seed)
    shots = [(name, rng.choice(DURATIONS), rng.choice(sizes), rng.uniform(0.3, 0.7)) for name in sorted(labels)]
    rng.shuffle(shots)

    a.out.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(a.out), mode="w")
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    stream.time_base = Fraction(1, FPS)
    stream.options = {"crf": str(a.crf), "preset": "veryfast"}
    stream.codec_context.thread_count = a.threads

    rows, frame = [], 0
    for name, secs, size, cx in shots:
        pic = picture(a.photos / name, labels[name])
        ph, pw = pic.shape[:2]
        n = int(round(secs * FPS))
        bg = backdrop(pic, W, H, a.bg_blur * W / 1280) // a.bg_dim  # the photo, blurred, as the set
        for f in range(n):
            sh = int(size * (1.0 + 0.1 * f / max(1, n - 1)))
            sw = min(W, int(round(sh * pw / ph)))
            img = bg.copy()
            x0 = min(max(0, int(cx * W - sw / 2)), W - sw)
            y0 = (H - sh) // 2
            interp = cv2.INTER_CUBIC if sh > ph else cv2.INTER_AREA
            img[y0:y0 + sh, x0:x0 + sw] = cv2.resize(pic, (sw, sh), interpolation=interp)
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts = frame + f
            for packet in stream.encode(vf):
                container.mux(packet)
        rows.append({"image": name, "person": labels[name]["person"], "first_frame": frame,
                     "last_frame": frame + n - 1, "seconds": n / FPS})
        frame += n
    for packet in stream.encode():
        container.mux(packet)
    container.close()

    seconds: dict[str, float] = {}
    for r in rows:
        seconds[r["person"]] = round(seconds.get(r["person"], 0) + r["seconds"], 3)
    a.truth.write_text(json.dumps({"fps": FPS, "frames": frame, "shots": rows, "seconds": seconds}, indent=1) + "\n")
    print(f"{a.out}: {W}x{H}, {frame} frames ({frame / FPS:.1f} s), {len(rows)} shots, {len(seconds)} people")


if __name__ == "__main__":
    main()
