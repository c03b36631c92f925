"""A held-out identity set: 61 photos of 13 real people (deepface's test images), as a TV-like clip.

The sets made by fetch.py (beside this file) are what Screentime's distances were calibrated on. This
one was not: it checks that they hold for people they were never set on. Its photos are web and press
photos of public figures (actors, singers, founders) taken years apart, in colour, in every light,
pose and make-up: the variation a person shows from one TV shot to the next.

Source: the GitHub repository serengil/deepface at commit DEEPFACE_COMMIT, tests/unit/dataset/ (MIT
licence; the photos' provenance is not stated). No package registry ships them (every deepface sdist
leaves them out), so this set is optional and fetched explicitly:

    .venv/bin/python bench/identity_sets/celebs.py --download     # fetches the repository's tarball at that commit
    .venv/bin/python bench/identity_sets/celebs.py --from DIR      # DIR holds the photos (tests/unit/dataset)

Either way each photo's sha256 is checked, then CACHE/celebs.labels.json is written and
make_identity_clip.py makes CACHE/celebs.mp4 and CACHE/celebs.json (1280x720, 61 shots, 86 s), which
bench/bench_identity.py then scores with the other sets, and CACHE/celebs_ep1.mp4 and celebs_ep2.mp4
(each person's photos dealt alternately: two episodes of one show, for linking people across a
show). It also makes CACHE/celebs_grey.mp4 + .json,
the same photos as shared/media/bbt_people.mp4 shows its stills: 150x150 greyscale crops of the face
(the middle 1.1/1.5 of each crop) shown 300-420 px tall. Who is who: deepface's own pair files
(master.csv, face-recognition-pivot.csv) agree with every label below; img11_reflection.jpg (a mirrored
copy of img11) is left out. Crops: a square 1.5 times the side of the face RetinaFace is surest of (checked by eye).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEEPFACE_COMMIT = "243209fd7b46ecdecf72665cc25219f6e8181f25"
TARBALL_URL = f"https://codeload.github.com/serengil/deepface/tar.gz/{DEEPFACE_COMMIT}"
DATASET = "tests/unit/dataset/"

# photo -> (person, sha256, crop [x, y, w, h] in the photo's pixels)
PHOTOS: dict[str, tuple[str, str, list[int]]] = {
    "img1.jpg": ("angelina_jolie", "897c073e8af7c297cf179fadf4f59538d1efa17722679447475463d61c72bac3", [111, 23, 1239, 1239]),
    "img2.jpg": ("angelina_jolie", "b43c2b1c32553f6fd87ecfdb9eceebd07ffb0139dfe9f4a68bd8ff07b066d136", [361, 20, 811, 811]),
    "img4.jpg": ("angelina_jolie", "e768a47e85ff53b637f868817e6a489185fe914dad1f780be6e3fe853d0b4e2c", [137, 6, 1504, 1504]),
    "img5.jpg": ("angelina_jolie", "a2d3fba5f4773f496cdd2fd1c8353cc3ce309ecc83ce59de0c7e715a9e3a1243", [0, 61, 330, 330]),
    "img6.jpg": ("angelina_jolie", "55aa6c46b9ebd87ac2332892cc055dc414c28e5f16ccca762016213cd7a60934", [0, 106, 750, 750]),
    "img7.jpg": ("angelina_jolie", "36530bf4e0135d9f0d7c2554afa2be50ba66da328616bced2904129ffb07589f", [95, 208, 1211, 1211]),
    "img10.jpg": ("angelina_jolie", "be61f855c9498d351c3b3c6c3c05f8671199ce84e8198c834de8eaf8f5ce140d", [0, 37, 408, 408]),
    "img11.jpg": ("angelina_jolie", "c7973a7bc764f40b27ba929448f21a24caa4706a508c97a9317dee06580056f4", [15, 0, 551, 551]),
    "img3.jpg": ("jennifer_aniston", "99379580084327f343cbeb8f02b003618ee37871c5781ec26044178a374b3138", [172, 139, 1320, 1320]),
    "img12.jpg": ("jennifer_aniston", "f40ad637226eca54738b04c0940be06cd8504cd89d03161dd1f82c98a8dcf063", [146, 13, 296, 296]),
    "img53.jpg": ("jennifer_aniston", "0f7a87b6e50c978417e919387afcbbace944f5c50aee8cd2b073d0d6c504cef2", [304, 0, 528, 528]),
    "img54.jpg": ("jennifer_aniston", "eba926c903809bcb749c9cfcda9a70db4c31ed8e960f04990c5efec97ead7b54", [343, 186, 1236, 1236]),
    "img55.jpg": ("jennifer_aniston", "c21eabe40bb56c9a9bba94ccfecc7ed9424d55cb28cb1b61404d333de258cceb", [346, 70, 511, 511]),
    "img56.jpg": ("jennifer_aniston", "cd8168f16e1fdb6c0e570a8ce0c65bef315088dc0956575a16b6ffbb2b36566a", [343, 0, 530, 530]),
    "img8.jpg": ("scarlett_johansson", "4af18d79ce7124fd13a36cadc406e0d2a135602b5946b51afdbd739dbad8313a", [46, 26, 542, 542]),
    "img9.jpg": ("scarlett_johansson", "9bd61146377aec0e9e882ce111a1ca80d91b1d4b89c794273e3994ce65e1834d", [0, 72, 997, 997]),
    "img47.jpg": ("scarlett_johansson", "9953c4c352ba6027367e3a36f23afc44f30b33d896104c073c4bc99b9f07af3a", [0, 114, 1300, 1300]),
    "img48.jpg": ("scarlett_johansson", "e02dfee3f3c05c0e0b3852f079adb84b5dc7c25d9aa1cbd5b63fe46a65f9b74a", [0, 55, 744, 744]),
    "img49.jpg": ("scarlett_johansson", "9fbfd108597f42e7b7f04c4b0e0070b74c0dc1dba06208abed70166a30da7615", [1439, 75, 2100, 2100]),
    "img50.jpg": ("scarlett_johansson", "aba7ca02f2dec29207fa9d080b256361ab92162ce68b9bc1ec7d0a961e22ce25", [29, 32, 366, 366]),
    "img51.jpg": ("scarlett_johansson", "1a7e9e7a90b5f335d3bb0f89a837dae1e4f9789a4c7aca3f15d983e881572d28", [85, 0, 417, 417]),
    "img13.jpg": ("mark_zuckerberg", "008abcc9464f39cdd8d0f097b54e5d6fc064073b07cc2917f80d787351563190", [531, 16, 917, 917]),
    "img14.jpg": ("mark_zuckerberg", "3d648be13e536f7f7b8c15bc14124bf580e4ad955aace23cb07350bba31ccb4a", [260, 18, 308, 308]),
    "img15.jpg": ("mark_zuckerberg", "c9f50e3505e50cb8446b032c022eef578653fd8ba498b21924f598b306732636", [453, 150, 572, 572]),
    "img57.jpg": ("mark_zuckerberg", "17f52a4d10787c754e25518d11882f64887a1277b6c5690f7500f66c87c6c54c", [801, 158, 463, 463]),
    "img58.jpg": ("mark_zuckerberg", "e5ff4ee133b86a3f2816ec5bd7b1ed877c951f797f4c2dfc6fea249b5ab1df93", [180, 174, 464, 464]),
    "img16.jpg": ("jack_dorsey", "f38be512225744585f09cd6a69e227f3809206093e247436b471c31918bedb43", [185, 0, 398, 398]),
    "img17.jpg": ("jack_dorsey", "73662db96b2d5a453832cca9909d2956aaa0b8831123c531865ea9e47ff643d9", [258, 17, 439, 439]),
    "img59.jpg": ("jack_dorsey", "4f763480eb22a185ebde7daccda2c7ae3c26c69e9c3b79730ec7777f1894ec24", [749, 85, 599, 599]),
    "img61.jpg": ("jack_dorsey", "ab90b6170c3717f97f156441b7cad1592833c54b7bd6de25dc289b79433df4ca", [25, 0, 542, 542]),
    "img62.jpg": ("jack_dorsey", "deac66b91b39393eae8a64d7f81bf509e531792a84313614ed22913981903044", [154, 24, 376, 376]),
    "img18.jpg": ("elon_musk", "a50a7aec94ae4ad9f65c7570580d949d436a96d977abba6190b99f59cd8655a6", [180, 81, 851, 851]),
    "img19.jpg": ("elon_musk", "121c9b2caf53952e90817565d02b474a0e962bfb04f435432349dbc24e9846b6", [0, 100, 1011, 1011]),
    "img67.jpg": ("elon_musk", "74206f3d1509ea8307ef114a49c61653aff1a7930995aa68cccd08cb0149013c", [263, 247, 421, 421]),
    "img20.jpg": ("jeff_bezos", "1f9eb108651fc5f2fb2fc40193c3299f798e862fa259b343c53863d063020950", [142, 0, 598, 598]),
    "img21.jpg": ("jeff_bezos", "06d9079dae415b116d624e0aa2812f59bf175268e04aedd1ed43bb2ffe2f8606", [0, 4, 439, 439]),
    "img22.jpg": ("marissa_mayer", "8ee7e7b9090daa071d26d98c0077c74827aa237a5942b4586a7b69a5a8884104", [614, 67, 579, 579]),
    "img23.jpg": ("marissa_mayer", "cdf08cb1a3cb27c96e662bcc9b5b42e15cc9dc676dd5e76b3438a69ab5631a60", [548, 158, 1238, 1238]),
    "img24.jpg": ("sundar_pichai", "80cdb94f1fe473d85b8c22bf7f79c72637d715070549d23028a2a80c0256507c", [135, 91, 1004, 1004]),
    "img25.jpg": ("sundar_pichai", "1a9bde669f44d9855b653e3f2d3399cf7696cf267f0ef5263265e73bd77dd923", [43, 12, 328, 328]),
    "img26.jpg": ("katy_perry", "ce7e8cac876490264a235eb2634d9a228e75c853d0cf46b9ef48065382bfda34", [110, 85, 1143, 1143]),
    "img27.jpg": ("katy_perry", "798999e0a0a6cc26656ead780f01afbf9b2a3fd28640c69ad20b11bce4cbbac4", [275, 0, 229, 229]),
    "img28.jpg": ("katy_perry", "5a714455912366d609c68961f050daef857736a3e064be4987488477bc4f59c1", [147, 0, 415, 415]),
    "img42.jpg": ("katy_perry", "98e26cfe55a0e4341ffac6b7e70bebc52bb62f80efd5762cf04af23b288b5604", [116, 28, 486, 486]),
    "img43.jpg": ("katy_perry", "d57f7d092e219a903d93efb474674b974e524b5322dd0946ece9af4412546033", [272, 0, 233, 233]),
    "img44.jpg": ("katy_perry", "fb8455f1d08242a62ea32c74cb5824fb7edc60e093f5ae7ef0554739f4cead9e", [69, 16, 361, 361]),
    "img45.jpg": ("katy_perry", "354a9060623e5188e1e5c466118198c2ed781a9d54ad9be79709bd1aced11e17", [18, 29, 407, 407]),
    "img46.jpg": ("katy_perry", "8dbaffbc8def1b4ed693c68340990c037cd04a8e763e5b1d3442e532df50cc0e", [107, 3, 289, 289]),
    "img29.jpg": ("matt_damon", "25926edd3b72f1220a4ccf6e0814e994e4134dbe0961093ba6b4e02ce4590330", [67, 41, 439, 439]),
    "img30.jpg": ("matt_damon", "88399f082f008097494a02b1a15ea31ededf23348f9978e39d800ca38f97c90a", [131, 51, 910, 910]),
    "img31.jpg": ("matt_damon", "57967cfcd2cf121a5a21b416b46004f3a9fbb063310652bf570b3de3947b37f7", [542, 105, 1191, 1191]),
    "img32.jpg": ("matt_damon", "f5dda7229cad593825960ff06bb93a82ec277e2eaee85638f87a2835a428c631", [0, 246, 1000, 1000]),
    "img33.jpg": ("matt_damon", "9b9fc57883738357c1313366f0f5978a58431d57df7eb9d93bdbbd6be6c6cb45", [257, 201, 1492, 1492]),
    "img34.jpg": ("leonardo_dicaprio", "f3d102fe7d08c51b3233acefde879e8efa631a7b699f46feaa31ca01ff4e59d1", [521, 0, 758, 758]),
    "img35.jpg": ("leonardo_dicaprio", "34f64c009e6c4b15439c10d28a63f50427f63b6ebdb523c33b55bce6d6b496a8", [73, 17, 700, 700]),
    "img36.jpg": ("leonardo_dicaprio", "4177a4d66505070d0533f99342c54e0a49defd8216b02f21ee762273a7068c1c", [526, 134, 523, 523]),
    "img37.jpg": ("leonardo_dicaprio", "8a2b953c01ab1385e9ad175dbb9729241659f3834329d54ecb56750ee89a87ae", [469, 0, 376, 376]),
    "img38.jpg": ("george_clooney", "523a9b2f282f271bcf0074b94cdc80d5ea4cc40a702bbde031440dd27de8a905", [291, 0, 482, 482]),
    "img39.jpg": ("george_clooney", "069ad58967857cc2f12d36ae8b40565b46e5f5f3a22d4268ae2ec53a4cff3eed", [132, 6, 1274, 1274]),
    "img40.jpg": ("george_clooney", "6fed99b8e515a631fb607b615594e1e4d1352cf460c21f974d57870fc4c59acd", [84, 556, 2621, 2621]),
    "img41.jpg": ("george_clooney", "8cbe17656785b1cf626e53bff11c4b78aaec4137e2cba435583784fb0f63201e", [306, 117, 1598, 1598]),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photos_from_tarball(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[-1]
            if name.startswith(DATASET) and name[len(DATASET):] in PHOTOS:
                out[name[len(DATASET):]] = tar.extractfile(member).read()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--download", action="store_true", help=f"fetch {TARBALL_URL}")
    source.add_argument("--from", dest="folder", type=Path, help="a folder holding the photos")
    ap.add_argument("--cache", type=Path, default=REPO / "bench" / "out" / "identity_sets")
    args = ap.parse_args()
    if args.download:
        with urllib.request.urlopen(TARBALL_URL, timeout=120) as response:
            found = photos_from_tarball(response.read())
    else:
        found = {name: (args.folder / name).read_bytes() for name in PHOTOS if (args.folder / name).is_file()}
    missing = sorted(set(PHOTOS) - set(found))
    if missing:
        raise SystemExit(f"missing photos: {', '.join(missing)}")
    photos = args.cache / "photos" / "celebs"
    photos.mkdir(parents=True, exist_ok=True)
    labels = {}
    for name, (person, digest, crop) in PHOTOS.items():
        if sha256(found[name]) != digest:
            raise SystemExit(f"{name}: sha256 {sha256(found[name])}, expected {digest}")
        (photos / name).write_bytes(found[name])
        labels[name] = {"person": person, "crop": crop}
    labels_path = args.cache / "celebs.labels.json"
    labels_path.write_text(json.dumps(labels, indent=1))
    make_clip(photos, labels_path, args.cache / "celebs")
    stills = args.cache / "photos" / "celebs_grey"
    stills.mkdir(parents=True, exist_ok=True)
    grey = {}
    for name, (person, _, crop) in PHOTOS.items():
        still = f"{Path(name).stem}.png"
        cv2.imwrite(str(stills / still), grey_still(photos / name, crop))
        grey[still] = person
    grey_labels = args.cache / "celebs_grey.labels.json"
    grey_labels.write_text(json.dumps(grey, indent=1))
    make_clip(stills, grey_labels, args.cache / "celebs_grey", "--sizes", "0.417,0.5,0.583")
    # two episodes of one show: each person's photos dealt alternately (people with 2 photos are in both)
    dealt = ({}, {})
    seen: dict[str, int] = {}
    for name, entry in labels.items():
        k = seen[entry["person"]] = seen.get(entry["person"], -1) + 1
        dealt[k % 2][name] = entry
    for number, episode in enumerate(dealt, 1):
        path = args.cache / f"celebs_ep{number}.labels.json"
        path.write_text(json.dumps(episode, indent=1))
        make_clip(photos, path, args.cache / f"celebs_ep{number}")


def grey_still(path: Path, crop: list[int], side: int = 150) -> np.ndarray:
    """The face as bbt_people's stills show it: the middle 1.1/1.5 of its crop, greyscale, side x side."""
    x, y, w, _ = crop
    inner = round(w * 1.1 / 1.5)
    x0, y0 = x + (w - inner) // 2, y + (w - inner) // 2
    face = cv2.imread(str(path))[y0:y0 + inner, x0:x0 + inner]
    return cv2.cvtColor(cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)


def make_clip(photos: Path, labels: Path, out: Path, *options: str) -> None:
    subprocess.run([sys.executable, str(HERE / "make_identity_clip.py"), str(photos), str(labels),
                    str(out.with_suffix(".mp4")), str(out.with_suffix(".json")), *options], check=True)


if __name__ == "__main__":
    main()
