"""Photo files too large to decode are refused before decoding (issue #13, hostile input).

A 0.85 MB PNG of 30000x30000 zeros decodes to 2.7 GB of BGR; ``read_image`` reads the header
(``camera.matching.image_header``) and refuses it with ``image_too_large``. The bomb itself only ever
reaches a decoder in a subprocess with a 2 GiB address-space limit, so code without the check fails
there with a memory error instead of taking gigabytes from the machine.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.matching import MatchError, read_image
from conftest import REPO_ROOT

CASIA = "faces/casia"
A = "11010519491231002X"
B = "110101194503151237"
C = "440306193807084568"

# Well above what `kiosk verify` and `kiosk roster import` need (about 1 GiB of address space with
# the dlib models loaded), well below the 2.7 GB the bomb decodes to.
ADDRESS_SPACE_LIMIT = 2 << 30
_LIMITED = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "sys.argv[0] = 'kiosk'\n"
    "runpy.run_module('kiosk', run_name='__main__')\n"
)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ihdr(width: int, height: int) -> bytes:
    """PNG signature and IHDR of an 8-bit grey image."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def bomb_png(width: int, height: int, rows_per_block: int = 100) -> bytes:
    """A valid grey PNG of zeros, built without holding its pixels: one deflate block of
    ``rows_per_block`` zero rows, cut with a full flush so it stands alone, repeated."""
    assert height % rows_per_block == 0
    block = bytes((1 + width) * rows_per_block)  # a filter byte (0) and the row's pixels
    deflate = zlib.compressobj(9)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)  # with the zlib header
    again = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    # An empty final block, then Adler-32 of all zeros: A stays 1, B is the length mod 65521.
    tail = b"\x03\x00" + struct.pack(">I", (((1 + width) * height % 65521) << 16) | 1)
    stream = first + again * (height // rows_per_block - 1) + tail
    return _ihdr(width, height) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, a JFIF APP0 and a baseline frame header of 3 components; no image data."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof


def bmp_header(width: int, height: int) -> bytes:
    """File header and a 40-byte BITMAPINFOHEADER of a 24-bit image; no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 3 * width * abs(height), 0, 0, 54) + info


def webp_vp8x_header(width: int, height: int) -> bytes:
    body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + b"VP8X" + struct.pack("<I", len(body)) + body


def webp_vp8_header(width: int, height: int) -> bytes:
    body = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + b"VP8 " + struct.pack("<I", len(body)) + body


def webp_vp8l_header(width: int, height: int) -> bytes:
    body = b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + b"VP8L" + struct.pack("<I", len(body)) + body


def pnm_header(width: int, height: int) -> bytes:
    return b"P5\n# written by a scanner\n%d %d\n255\n" % (width, height)


HUGE_HEADERS = {
    "png": _ihdr(60000, 60000),
    "jpeg": jpeg_header(60000, 60000),
    "bmp": bmp_header(30000, -30000),  # top-down
    "webp_vp8x": webp_vp8x_header(16000, 16000),
    "webp_vp8": webp_vp8_header(16383, 16383),
    "webp_vp8l": webp_vp8l_header(16384, 16384),
    "pnm": pnm_header(20000, 20000),
}


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30000x30000 grey zeros: 0.88 MB on disk, 2.7 GB decoded as BGR."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bomb_png(30000, 30000))
    assert path.stat().st_size < 1_000_000
    return path


def run_limited(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``kiosk ARGV`` in a subprocess whose address space is capped at ADDRESS_SPACE_LIMIT."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    return subprocess.run([sys.executable, "-c", _LIMITED, str(ADDRESS_SPACE_LIMIT), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_bomb_builder_makes_a_valid_png() -> None:
    small = bomb_png(300, 200)
    image = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image.shape == (200, 300) and not image.any()


@pytest.mark.parametrize("kind", sorted(HUGE_HEADERS))
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "huge.img"
    path.write_bytes(HUGE_HEADERS[kind])  # the header alone: nothing to decode, only a size to check
    with pytest.raises(MatchError) as info:
        read_image(path)
    assert info.value.code == "image_too_large"
    assert "megapixels" in info.value.message and str(path) not in info.value.message


def test_a_complete_png_just_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(bomb_png(6400, 6400))  # 40.96 MP; decodable (120 MB), but past the limit
    with pytest.raises(MatchError) as info:
        read_image(path)
    assert info.value.code == "image_too_large" and "6400x6400" in info.value.message


def test_the_limit_is_on_pixels_and_exactly_forty_megapixels_passes_the_check(tmp_path: Path) -> None:
    from camera.matching.templates import MAX_IMAGE_PIXELS

    assert MAX_IMAGE_PIXELS == 40_000_000
    at_limit, past = tmp_path / "at.png", tmp_path / "past.png"
    at_limit.write_bytes(_ihdr(8000, 5000))
    past.write_bytes(_ihdr(8000, 5001))
    with pytest.raises(MatchError) as info:
        read_image(at_limit)
    assert info.value.code == "image_unreadable"  # passes the size check, then has no pixels
    with pytest.raises(MatchError) as info:
        read_image(past)
    assert info.value.code == "image_too_large"


def test_a_file_past_the_size_cap_is_not_read_into_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from camera.matching import templates

    _, encoded = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "noise.png"
    path.write_bytes(encoded.tobytes())
    assert read_image(path).shape == (64, 64, 3)
    monkeypatch.setattr(templates, "MAX_IMAGE_FILE_BYTES", len(encoded) - 1)
    with pytest.raises(MatchError) as info:
        read_image(path)
    assert info.value.code == "image_too_large" and "MB" in info.value.message
    assert templates.MAX_IMAGE_FILE_BYTES < 1 << 30
    with pytest.raises(MatchError) as info:
        read_image(Path("/dev/zero"))  # endless: read up to the cap, then refused
    assert info.value.code == "image_too_large"


def test_garbage_truncated_and_unknown_files_stay_unreadable(tmp_path: Path) -> None:
    _, png = cv2.imencode(".png", np.full((64, 64, 3), 90, np.uint8))
    _, tiff = cv2.imencode(".tiff", np.full((64, 64, 3), 90, np.uint8))
    files = {
        "garbage.jpg": bytes(np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8)),
        "empty.png": b"",
        "cut_in_header.png": png.tobytes()[:20],
        "cut_in_data.png": png.tobytes()[: len(png) // 2],
        "cut_jpeg.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 40,
        "text.png": b"not an image at all\n",
        # TIFF decodes in OpenCV, but its size is not checked here, so it never reaches a decoder.
        "photo.tiff": tiff.tobytes(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for name in [*files, "missing.png"]:
        with pytest.raises(MatchError) as info:
            read_image(tmp_path / name)
        assert info.value.code == "image_unreadable", name
    with pytest.raises(MatchError) as info:
        read_image(tmp_path)  # a folder
    assert info.value.code == "image_unreadable"


@pytest.mark.parametrize(("extension", "params"), [
    (".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".bmp", []),
    (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
    (".ppm", []), (".pgm", []), (".pbm", []),
])
def test_every_known_format_reads_with_the_size_its_header_gives(extension: str, params: list[int],
                                                                tmp_path: Path) -> None:
    from camera.matching.image_header import read_header

    image = np.random.default_rng(3).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    if extension in (".pgm", ".pbm"):
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ok, encoded = cv2.imencode(extension, image, params)
    assert ok
    header = read_header(encoded.tobytes())
    assert (header.width_px, header.height_px) == (53, 37)
    path = tmp_path / f"photo{extension}"
    path.write_bytes(encoded.tobytes())
    assert read_image(path).shape == (37, 53, 3)


def test_every_shared_photo_has_the_size_its_header_gives(media_dir: Path) -> None:
    from camera.matching.image_header import read_header

    checked = 0
    for path in sorted((media_dir / "faces").rglob("*")) + sorted((media_dir / "spoof").glob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".webp"):
            continue
        header = read_header(path.read_bytes())
        decoded = read_image(path)
        # IMREAD_COLOR applies the EXIF orientation, so a phone photo may come out turned.
        assert sorted(decoded.shape[:2]) == sorted((header.height_px, header.width_px)), path.name
        checked += 1
    assert checked > 100


def test_the_first_frame_header_counts_not_one_inside_a_thumbnail_or_behind_garbage() -> None:
    from camera.matching.image_header import ImageHeaderError, read_header

    huge_sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60000, 60000, 1) + b"\x01\x11\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(huge_sof)) + b"Exif\x00\x00" + huge_sof
    small = jpeg_header(640, 480)
    with_thumbnail = small[:2] + app1 + b"\xff\xff" + small[2:]  # fill bytes before the next marker too
    header = read_header(with_thumbnail)
    assert (header.format, header.width_px, header.height_px) == ("jpeg", 640, 480)
    for hiding in (b"\xff\x00" + struct.pack(">H", 2 + len(huge_sof)), b"\x00\x00\x00"):
        with pytest.raises(ImageHeaderError):  # libjpeg would skip these and find the huge frame
            read_header(small[:2] + hiding + huge_sof + small[2:])
    with pytest.raises(ImageHeaderError):
        read_header(b"\xff\xd8" + b"\xff\xfe\x00\x02" * 70_000)  # endless empty comments, no frame


def test_formats_whose_size_is_not_read_are_refused() -> None:
    from camera.matching.image_header import ImageHeaderError, read_header

    grey = np.full((64, 96), 128, np.uint8)
    samples = {".tiff": grey, ".jp2": grey, ".ras": grey, ".pfm": grey.astype(np.float32) / 255,
               ".hdr": cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32) / 255, ".pam": grey}
    for extension, image in samples.items():
        ok, encoded = cv2.imencode(extension, image)
        assert ok, extension
        with pytest.raises(ImageHeaderError, match="not a JPEG, PNG"):
            read_header(encoded.tobytes())
    for bad in (b"", b"P", b"BM", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
                _ihdr(0, 10), bmp_header(10, 0)[:20], b"RIFF\x00\x00\x00\x00WEBPVP8X", b"P5\n12\n",
                b"P5 99999999999 2 255\n"):
        with pytest.raises(ImageHeaderError):
            read_header(bad)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"P5", b"P1 "]),
       st.binary(max_size=80))
def test_any_bytes_give_a_positive_size_or_a_header_error(prefix: bytes, rest: bytes) -> None:
    from camera.matching.image_header import ImageHeaderError, read_header

    try:
        header = read_header(prefix + rest)
    except ImageHeaderError:
        return
    assert header.width_px > 0 and header.height_px > 0


def test_cli_verify_refuses_the_bomb_and_keeps_its_json(bomb: Path, media_dir: Path, tmp_path: Path) -> None:
    good = str(media_dir / CASIA / "001" / "001_0.png")
    result = run_limited(["verify", str(bomb), good, "--json", "--jitters", "0"], tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    row = json.loads(result.stdout)
    assert row == {"a": str(bomb), "b": good, "error": "image_too_large", "side": "a", "faces_a": 0, "faces_b": 1}
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{good}\t{media_dir / CASIA / '001' / '001_1.png'}\n{good}\t{bomb}\n{good}\t{garbage}\n")
    result = run_limited(["verify", "--pairs", str(pairs), "--json", "--jitters", "0", "--workers", "1"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("match") for r in rows] == [True, None, None]
    assert [(r.get("error"), r.get("side")) for r in rows] == [(None, None), ("image_too_large", "b"),
                                                               ("image_unreadable", "b")]


def test_cli_roster_import_reports_the_bomb_row_and_imports_the_rest(bomb: Path, media_dir: Path,
                                                                     tmp_path: Path) -> None:
    from kiosk.clock import SystemClock
    from kiosk.config import load_config
    from kiosk.store import Store

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "face.jpg").write_bytes(sorted((media_dir / "faces" / "misc").glob("*.jpg"))[0].read_bytes())
    (photos / "bomb.png").write_bytes(bomb.read_bytes())
    (photos / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    roster = tmp_path / "roster.csv"
    roster.write_text("id_number,name,last_certified,photo\n"
                      f"{A},张三,,face.jpg\n{B},李四,,bomb.png\n{C},王五,,cut.jpg\n", encoding="utf-8")
    result = run_limited(["roster", "import", str(roster), "--photos", str(photos)], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "face templates built 1" in result.stdout and "inserted 3" in result.stdout
    assert "line 3: image_too_large" in result.stderr and "line 4: image_unreadable" in result.stderr
    assert "bomb.png" not in result.stderr  # problems name the line, never the person's photo
    with Store.from_config(load_config(), SystemClock()) as store:
        assert store.has_reference(A) and not store.has_reference(B) and not store.has_reference(C)
        assert store.pensioner_count() == 3
