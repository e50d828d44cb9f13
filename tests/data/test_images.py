"""Tests for groundcap.data.images: every reason, every conversion, EXIF, bombs.

Every file is generated in ``tmp_path``; no binary fixtures are committed.
"""

from __future__ import annotations

import hashlib
import io
import os
import resource
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, features

from groundcap.data import DEFAULT_MAX_PIXELS, load_image
from groundcap.errors import ImageError

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
RED, GREEN, BLUE, BLACK, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0), (255, 255, 255)


def noise(w: int = 96, h: int = 64, seed: int = 0) -> Image.Image:
    """Random pixels compress badly, so a file cut in half is cut mid-pixels."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def save(tmp_path: Path, name: str, img: Image.Image, fmt: str | None = None, **kw) -> Path:
    path = tmp_path / name
    img.save(path, fmt, **kw)
    return path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims another size, with a valid CRC."""
    data = bytearray(encoded(Image.new("L", (1, 1)), "PNG"))
    # IHDR: length at 8, type at 12, width/height at 16..24, CRC over type+data at 29.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def check_rgb(rgb: np.ndarray) -> None:
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.flags.c_contiguous and rgb.flags.writeable


# --- failures -----------------------------------------------------------------


def make_symlink(tmp_path: Path, name: str, target: Path) -> Path:
    link = tmp_path / name
    link.symlink_to(target)
    return link


def make_loop(tmp_path: Path) -> Path:
    make_symlink(tmp_path, "b.jpg", tmp_path / "a.jpg")
    return make_symlink(tmp_path, "a.jpg", tmp_path / "b.jpg")


def make_unreadable(tmp_path: Path) -> Path:
    path = save(tmp_path, "locked.png", Image.new("RGB", (2, 2)))
    path.chmod(0)
    return path


def make_fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    return path


def make_closed_pil(tmp_path: Path) -> Image.Image:
    img = Image.open(save(tmp_path, "c.png", Image.new("RGB", (2, 2))))
    img.close()
    return img


Make = Callable[[Path], Any]


def cut(fmt: str, keep: float | int) -> Make:
    """A file of ``fmt`` cut to a fraction (float) or a byte count (int)."""
    def make(tmp_path: Path) -> Path:
        data = encoded(noise(), fmt)
        n = int(len(data) * keep) if isinstance(keep, float) else keep
        return write(tmp_path, f"cut.{fmt.lower()}", data[:n])

    return make


def damaged(fmt: str, where: int | bytes) -> bytes:
    """A complete file with bytes flipped at an offset or just after a marker."""
    data = bytearray(encoded(noise(), fmt))
    at = where if isinstance(where, int) else data.index(where) + 20
    data[at:at + 64] = bytes(b ^ 0xFF for b in data[at:at + 64])
    return bytes(data)


def file_of(name: str, data: bytes) -> Make:
    return lambda tmp_path: write(tmp_path, name, data)


def value(v: Any) -> Make:
    return lambda tmp_path: v


def row(case: str, make: Make, reason: str, marks: Any = ()) -> Any:
    return pytest.param(make, reason, id=case, marks=marks)


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")
not_root = pytest.mark.skipif(IS_ROOT, reason="root reads a chmod 000 file anyway")

HTML = b"<!DOCTYPE html><html><body>404 Not Found</body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
RANDOM = bytes(np.random.default_rng(1).integers(1, 256, 500, dtype=np.uint8))

FAILURES = [
    row("missing file", lambda p: p / "missing.jpg", "not_found"),
    row("parent is a file", lambda p: write(p, "f.png", b"x") / "x.png", "not_found"),
    row("empty path", value(""), "not_found"),
    row("directory named x.jpg", lambda p: (p / "x.jpg").mkdir() or p / "x.jpg", "is_directory"),
    row("chmod 000", make_unreadable, "permission_denied", marks=not_root),
    row("empty file", file_of("empty.jpg", b""), "empty_file"),
    row("html named .jpg", file_of("page.jpg", HTML), "not_an_image"),
    row("text named .png", file_of("notes.png", b"just some text\n"), "not_an_image"),
    row("json named .webp", file_of("a.webp", b'{"error": "rate limited"}'), "not_an_image"),
    row("pdf named .jpg", file_of("doc.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), "not_an_image"),
    row("random bytes", file_of("rand.jpg", RANDOM), "not_an_image"),
    row("one byte", file_of("one.jpg", b"\x00"), "not_an_image"),
    row("jpeg cut in half", cut("JPEG", 0.5), "truncated"),
    row("jpeg cut near the end", cut("JPEG", 0.95), "truncated"),
    row("jpeg header only", cut("JPEG", 40), "truncated"),
    row("png cut in half", cut("PNG", 0.5), "truncated"),
    row("png header only", cut("PNG", 20), "truncated"),
    row("gif cut in half", cut("GIF", 0.5), "truncated"),
    row("webp cut in half", cut("WEBP", 0.5), "truncated"),
    row("tiff cut in half", cut("TIFF", 0.5), "truncated"),
    row("bmp cut in half", cut("BMP", 0.5), "truncated"),
    row("png declaring 30000x30000", file_of("bomb.png", png_declaring(30_000, 30_000)), "too_large"),
    row("dangling symlink", lambda p: make_symlink(p, "l.jpg", p / "gone.jpg"), "broken_link", posix_only),
    row("symlink loop", make_loop, "symlink_loop", marks=posix_only),
    row("self link", lambda p: make_symlink(p, "s.jpg", p / "s.jpg"), "symlink_loop", posix_only),
    row("fifo", make_fifo, "unsupported", marks=posix_only),
    row("svg named .png", file_of("v.png", SVG), "unsupported"),
    row("heic", file_of("p.heic", HEIC), "unsupported"),
    row("eps is never run", file_of("p.eps", EPS), "unsupported"),
    row("png with a bad header checksum", lambda p: write(p, "crc.png", damaged("PNG", 30)), "unsupported"),
    row("png with garbled pixels", lambda p: write(p, "idat.png", damaged("PNG", b"IDAT")), "unsupported"),
    row("closed PIL image", make_closed_pil, "unsupported"),
    row("bytes", value(b"\xff\xd8\xff"), "unsupported"),
    row("list", value([[0, 0], [0, 0]]), "unsupported"),
    row("int64 array", value(np.zeros((4, 4), np.int64)), "bad_array"),
    row("object array", value(np.zeros((4, 4), object)), "bad_array"),
    row("complex array", value(np.zeros((4, 4), np.complex64)), "bad_array"),
    row("float array with NaN", value(np.array([[0.5, np.nan]])), "bad_array"),
    row("float array with inf", value(np.array([[0.5, np.inf]], np.float32)), "bad_array"),
    row("float array in 0..255", value(np.full((2, 2), 200.0)), "bad_array"),
    row("negative float array", value(np.full((2, 2), -0.5)), "bad_array"),
    row("empty array", value(np.zeros((0, 5), np.uint8)), "bad_array"),
    row("1-D array", value(np.zeros(16, np.uint8)), "bad_array"),
    row("4-D array", value(np.zeros((1, 4, 4, 3), np.uint8)), "bad_array"),
    row("two channels", value(np.zeros((4, 4, 2), np.uint8)), "bad_array"),
    row("channels first", value(np.zeros((3, 8, 8), np.uint8)), "bad_array"),
]


@pytest.mark.parametrize(("make", "reason"), FAILURES)
def test_failure_reason(tmp_path, make, reason):
    source = make(tmp_path)
    with pytest.raises(ImageError) as caught:
        load_image(source)
    assert caught.value.reason == reason, str(caught.value)
    if isinstance(source, (str, Path)) and str(source):
        assert caught.value.source == str(source)
        assert str(source) in str(caught.value)


def test_failures_leave_pil_globals_alone(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    for make in (cut("JPEG", 0.5), file_of("bomb.png", png_declaring(30_000, 30_000))):
        with pytest.raises(ImageError):
            load_image(make(tmp_path))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS == limit


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF"])
def test_truncated_even_if_someone_else_pads_truncated_files(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageError) as caught:
        load_image(cut(fmt, 0.5)(tmp_path))
    assert caught.value.reason == "truncated"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "JPEG2000"])
def test_padding_switch_does_not_fail_whole_files(tmp_path, monkeypatch, fmt):
    if fmt == "JPEG2000" and not features.check("jpg_2000"):
        pytest.skip("Pillow built without OpenJPEG")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    rgb, _ = load_image(save(tmp_path, "whole." + fmt.lower(), noise(), fmt))
    assert rgb.shape == (64, 96, 3)


# --- size limits -----------------------------------------------------------------


def test_bomb_is_refused_fast_without_allocating(tmp_path):
    path = write(tmp_path, "bomb.png", png_declaring(30_000, 30_000))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert time.perf_counter() - start < 1.0
    assert caught.value.reason == "too_large"
    # 30000^2 pixels would take at least 900 MB; ru_maxrss is in KiB on Linux.
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 200


@pytest.mark.parametrize("warnings_are", [
    pytest.param("ignored", marks=pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")),
    pytest.param("errors", marks=pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")),
])
def test_header_over_our_limit_but_under_pils_is_refused_before_decoding(tmp_path, warnings_are):
    # 12000 x 10000 sits between PIL's warning (89 M) and its error (179 M).
    path = write(tmp_path, "big.png", png_declaring(12_000, 10_000))
    assert 12_000 * 10_000 > DEFAULT_MAX_PIXELS
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert caught.value.reason == "too_large"
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("source", "max_pixels", "reason"),
    [
        ("png", 100, None),
        ("png", 99, "too_large"),
        ("array", 100, None),
        ("array", 99, "too_large"),
        ("pil", 99, "too_large"),
    ],
)
def test_max_pixels_boundary(tmp_path, source, max_pixels, reason):
    img = Image.new("RGB", (10, 10))
    src = {"png": lambda: save(tmp_path, "a.png", img), "array": lambda: np.asarray(img),
           "pil": lambda: img}[source]()
    if reason is None:
        assert load_image(src, max_pixels=max_pixels)[0].shape == (10, 10, 3)
    else:
        with pytest.raises(ImageError) as caught:
            load_image(src, max_pixels=max_pixels)
        assert caught.value.reason == reason


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_max_pixels_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(np.zeros((2, 2), np.uint8), max_pixels=bad)


def test_permission_denied_when_the_os_refuses_even_as_root(tmp_path, monkeypatch):
    # The chmod row above is skipped as root, which reads anyway; this stands in.
    import groundcap.data.images as images

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    path = save(tmp_path, "a.png", Image.new("RGB", (2, 2)))
    monkeypatch.setattr(images, "open", refuse, raising=False)
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert caught.value.reason == "permission_denied"


# --- conversions -----------------------------------------------------------------


def pixels(mode: str, values: list) -> Image.Image:
    """A one-row image of ``mode`` holding ``values`` left to right."""
    img = Image.new(mode, (len(values), 1))
    for x, v in enumerate(values):
        img.putpixel((x, 0), v)
    return img


def palette_image(transparent_index: int | None = None) -> Image.Image:
    img = Image.new("P", (4, 1))
    img.putpalette([*RED, *GREEN, *BLUE, 255, 255, 0] + [0] * (256 - 4) * 3)
    img.putdata([0, 1, 2, 3])
    if transparent_index is not None:
        img.info["transparency"] = transparent_index
    return img


def cmyk_jpeg(tmp_path: Path) -> Path:
    return save(tmp_path, "cmyk.jpg", Image.new("CMYK", (16, 16), (255, 0, 0, 0)), quality=95)


CONVERSIONS = [
    # (id, build(tmp_path) -> source, expected mode, expected first-row pixels, tolerance)
    ("rgb png", lambda p: save(p, "a.png", pixels("RGB", [RED, GREEN, BLUE])), "RGB", [RED, GREEN, BLUE], 0),
    ("gray L png", lambda p: save(p, "a.png", pixels("L", [0, 128, 255])), "L",
     [BLACK, (128, 128, 128), WHITE], 0),
    ("gray jpeg", lambda p: save(p, "a.jpg", Image.new("L", (8, 8), 77), quality=100), "L",
     [(77, 77, 77)], 1),
    ("LA: transparent black is white", lambda p: save(p, "a.png", pixels("LA", [(0, 0), (0, 255), (0, 128)])),
     "LA", [WHITE, BLACK, (127, 127, 127)], 0),
    ("1-bit", lambda p: save(p, "a.png", pixels("1", [0, 1, 0])), "1", [BLACK, WHITE, BLACK], 0),
    ("RGBA: red with alpha 0 is white", lambda p: save(p, "a.png", pixels(
        "RGBA", [(255, 0, 0, 0), (255, 0, 0, 255), (255, 0, 0, 128), (0, 0, 0, 0)])),
     "RGBA", [WHITE, RED, (255, 127, 127), WHITE], 0),
    ("palette colors kept", lambda p: save(p, "a.png", palette_image()), "P",
     [RED, GREEN, BLUE, (255, 255, 0)], 0),
    ("palette with a transparent index", lambda p: save(p, "a.png", palette_image(1), transparency=1), "P",
     [RED, WHITE, BLUE, (255, 255, 0)], 0),
    ("gif with transparency", lambda p: save(p, "a.gif", palette_image(2), transparency=2), "P",
     [RED, GREEN, WHITE, (255, 255, 0)], 0),
    ("rgb png with a tRNS color", lambda p: save(p, "a.png", pixels("RGB", [RED, GREEN]), transparency=GREEN),
     "RGB", [RED, WHITE], 0),
    ("cmyk jpeg cyan", cmyk_jpeg, "CMYK", [(0, 255, 255)], 6),
    ("cmyk tiff magenta", lambda p: save(p, "a.tiff", pixels("CMYK", [(0, 255, 0, 0), (0, 0, 0, 255)])),
     "CMYK", [(255, 0, 255), BLACK], 0),
    ("float F tiff in [0,1]", lambda p: save(p, "a.tiff", pixels("F", [0.0, 0.5, 1.0])), "F",
     [BLACK, (128, 128, 128), WHITE], 0),
    ("float F in 0..255", value(pixels("F", [0.0, 100.0, 255.0])), "F", [BLACK, (100, 100, 100), WHITE], 0),
    ("float F beyond 0..255 is stretched", value(pixels("F", [-10.0, 0.0, 245.0])), "F",
     [BLACK, (10, 10, 10), WHITE], 0),
    ("premultiplied La", value(pixels("La", [(0, 0), (255, 255)])), "La", [WHITE, WHITE], 0),
    ("YCbCr", value(Image.new("RGB", (2, 1), RED).convert("YCbCr")), "YCbCr", [RED], 2),
    ("PIL RGB", value(pixels("RGB", [RED, BLUE])), "RGB", [RED, BLUE], 0),
]


@pytest.mark.parametrize(("build", "mode", "expected", "tol"),
                         [pytest.param(*r[1:], id=r[0]) for r in CONVERSIONS])
def test_conversion_gives_the_right_pixels(tmp_path, build, mode, expected, tol):
    rgb, info = load_image(build(tmp_path))
    check_rgb(rgb)
    assert info.mode == mode
    got = rgb[0, : len(expected)].astype(int)
    np.testing.assert_allclose(got, np.array(expected), atol=tol, err_msg=f"{got.tolist()}")


def sixteen_bit_gradient() -> np.ndarray:
    return np.linspace(0, 65535, 1024).round().astype(np.uint16).reshape(1, -1).repeat(3, axis=0)


GRADIENTS = [
    ("png I;16 file", lambda p, g: save(p, "g.png", Image.fromarray(g)), "I;16"),
    ("tiff I;16 file", lambda p, g: save(p, "g.tiff", Image.fromarray(g)), "I;16"),
    ("tiff 32-bit I file", lambda p, g: save(p, "g.tiff", Image.fromarray(g.astype(np.int32))), "I"),
    ("PIL I;16", lambda p, g: Image.fromarray(g), "I;16"),
    ("PIL I;16B", lambda p, g: Image.frombytes("I;16B", g.shape[::-1], g.astype(">u2").tobytes()), "I;16B"),
    ("PIL I", lambda p, g: Image.fromarray(g.astype(np.int32)), "I"),
    ("uint16 array", lambda p, g: g, "I;16"),
]


@pytest.mark.parametrize(("build", "mode"), [pytest.param(*r[1:], id=r[0]) for r in GRADIENTS])
def test_sixteen_bit_gradient_stays_a_gradient(tmp_path, build, mode):
    gradient = sixteen_bit_gradient()
    source = build(tmp_path, gradient)
    rgb, info = load_image(source)
    check_rgb(rgb)
    assert info.mode == mode
    row = rgb[0, :, 0].astype(int)
    # Scaled by the true range, not clipped at 255 as PIL's convert("L") does.
    np.testing.assert_array_equal(row, np.round(gradient[0] / 257.0).astype(int))
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row) >= 0) and len(np.unique(row)) == 256
    assert (rgb[:, :, 0] == rgb[:, :, 2]).all()


def test_pils_own_sixteen_bit_convert_would_have_been_wrong():
    # Guards the premise of the test above: the naive path really is broken.
    naive = np.asarray(Image.fromarray(sixteen_bit_gradient()).convert("L"))
    assert (naive == 255).mean() > 0.9


# --- EXIF orientation ------------------------------------------------------------------

# Where the red block stored top-left and the green block stored top-right end
# up once orientation k is applied, and whether width and height swap.
ORIENTATIONS = [
    (1, "TL", "TR", False),
    (2, "TR", "TL", False),
    (3, "BR", "BL", False),
    (4, "BL", "BR", False),
    (5, "TL", "BL", True),
    (6, "TR", "BR", True),
    (7, "BR", "TR", True),
    (8, "BL", "TL", True),
]


def marked_image() -> Image.Image:
    """32x16 black, red 8x8 block stored top-left, green block stored top-right."""
    arr = np.zeros((16, 32, 3), np.uint8)
    arr[:8, :8] = RED
    arr[:8, -8:] = GREEN
    return Image.fromarray(arr)


def corner(rgb: np.ndarray, where: str) -> np.ndarray:
    h, w = rgb.shape[:2]
    y = 3 if where[0] == "T" else h - 4
    x = 3 if where[1] == "L" else w - 4
    return rgb[y, x].astype(int)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
@pytest.mark.parametrize(("k", "red_at", "green_at", "swapped"), ORIENTATIONS)
def test_exif_orientation_is_applied(tmp_path, fmt, k, red_at, green_at, swapped):
    exif = Image.Exif()
    exif[0x0112] = k
    options = {"JPEG": {"quality": 100, "subsampling": 0}, "WEBP": {"lossless": True}}.get(fmt, {})
    path = save(tmp_path, f"o{k}.{fmt.lower()}", marked_image(), fmt, exif=exif, **options)
    rgb, info = load_image(path)
    check_rgb(rgb)
    assert info.orientation == k
    assert (info.width, info.height) == ((16, 32) if swapped else (32, 16))
    assert rgb.shape == (info.height, info.width, 3)
    tol = 12 if fmt == "JPEG" else 0
    np.testing.assert_allclose(corner(rgb, red_at), RED, atol=tol)
    np.testing.assert_allclose(corner(rgb, green_at), GREEN, atol=tol)
    if fmt in ("PNG", "TIFF"):
        # Agrees with PIL's reference implementation pixel for pixel.
        expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        np.testing.assert_array_equal(rgb, expected)


def test_orientation_is_applied_to_pil_input_too(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(tmp_path, "o.png", marked_image(), exif=exif)
    from_path, _ = load_image(path)
    with Image.open(path) as img:
        from_pil, info = load_image(img)
    assert info.orientation == 6 and info.source == "<PIL>"
    np.testing.assert_array_equal(from_path, from_pil)


@pytest.mark.parametrize("bogus", [0, 9, 65535])
def test_out_of_range_orientation_is_ignored(tmp_path, bogus):
    exif = Image.Exif()
    exif[0x0112] = bogus
    rgb, info = load_image(save(tmp_path, "o.png", marked_image(), exif=exif))
    assert info.orientation == 1 and rgb.shape == (16, 32, 3)


# --- animations and tiny images --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PNG"])
def test_animation_gives_its_first_frame(tmp_path, fmt):
    frames = [Image.new("RGB", (8, 6), c) for c in (RED, GREEN, BLUE)]
    path = tmp_path / f"anim.{fmt.lower()}"
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    assert Image.open(path).n_frames == 3
    rgb, info = load_image(path)
    check_rgb(rgb)
    assert (info.width, info.height) == (8, 6)
    np.testing.assert_allclose(rgb.reshape(-1, 3), np.tile(RED, (48, 1)), atol=2)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "JPEG", "BMP", "WEBP"])
def test_one_by_one_image_is_valid(tmp_path, fmt):
    rgb, info = load_image(save(tmp_path, f"dot.{fmt.lower()}", Image.new("RGB", (1, 1), WHITE), fmt))
    assert rgb.shape == (1, 1, 3) and (info.width, info.height) == (1, 1)


# --- arrays ------------------------------------------------------------------------


ARRAYS = [
    # (id, array, expected mode, expected RGB of pixel (0, 0))
    ("uint8 gray", np.full((3, 4), 7, np.uint8), "L", (7, 7, 7)),
    ("uint8 HxWx1", np.full((3, 4, 1), 9, np.uint8), "L", (9, 9, 9)),
    ("uint8 rgb is RGB not BGR", np.tile(np.uint8([255, 0, 0]), (3, 4, 1)), "RGB", RED),
    ("uint8 rgba alpha 0 is white", np.tile(np.uint8([0, 0, 255, 0]), (3, 4, 1)), "RGBA", WHITE),
    ("uint8 rgba opaque", np.tile(np.uint8([0, 0, 255, 255]), (3, 4, 1)), "RGBA", BLUE),
    ("float64 [0,1]", np.full((3, 4), 0.5), "F", (128, 128, 128)),
    ("float32 rgb [0,1]", np.tile(np.float32([1.0, 0.0, 0.25]), (3, 4, 1)), "RGB", (255, 0, 64)),
    ("float16", np.ones((3, 4), np.float16), "F", WHITE),
    ("float with rounding overshoot", np.full((3, 4), 1.0000001), "F", WHITE),
    ("uint16", np.full((3, 4), 65535, np.uint16), "I;16", WHITE),
    ("uint16 big-endian", np.full((3, 4), 257 * 10, ">u2"), "I;16", (10, 10, 10)),
    ("bool", np.ones((3, 4), bool), "1", WHITE),
    ("non-contiguous view", np.tile(np.uint8([1, 2, 3]), (3, 8, 1))[:, ::2], "RGB", (1, 2, 3)),
    ("1x1", np.zeros((1, 1, 3), np.uint8), "RGB", BLACK),
]


@pytest.mark.parametrize(("arr", "mode", "first"), [pytest.param(*r[1:], id=r[0]) for r in ARRAYS])
def test_array_input(arr, mode, first):
    before = arr.copy()
    rgb, info = load_image(arr)
    check_rgb(rgb)
    assert rgb.shape[:2] == arr.shape[:2] == (info.height, info.width)
    assert (info.mode, info.source, info.orientation) == (mode, "<array>", 1)
    assert tuple(rgb[0, 0]) == first
    assert not np.shares_memory(rgb, arr), "the result must not alias the caller's array"
    rgb[...] = 99
    np.testing.assert_array_equal(arr, before)


def test_array_hash_follows_the_pixels():
    a = np.zeros((4, 5, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1
    assert load_image(a)[1].sha256 == load_image(a.copy())[1].sha256
    assert load_image(a)[1].sha256 != load_image(b)[1].sha256
    # Same bytes, other shape: a different image.
    assert load_image(np.zeros((5, 4, 3), np.uint8))[1].sha256 != load_image(a)[1].sha256


# --- paths -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["with space.png", "ünïcødé 图片.png", "-leading-dash.png", "--.png",
                                  "no_extension", "wrong extension.gif"])
@pytest.mark.parametrize("as_str", [True, False])
def test_odd_file_names_load(tmp_path, name, as_str):
    path = save(tmp_path, name, pixels("RGB", [RED, GREEN]), "PNG")
    rgb, info = load_image(str(path) if as_str else path)
    assert info.source == str(path)
    assert tuple(rgb[0, 1]) == GREEN


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_path_hash_is_the_file_hash_and_matches_its_array(tmp_path, fmt):
    path = save(tmp_path, "n." + fmt.lower(), noise(), fmt)
    rgb, info = load_image(path)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (info.width, info.height, info.orientation) == (96, 64, 1)
    again, array_info = load_image(rgb)
    assert (array_info.width, array_info.height) == (info.width, info.height)
    np.testing.assert_array_equal(again, rgb)


def test_symlink_to_an_image_loads(tmp_path):
    target = save(tmp_path, "real.png", pixels("RGB", [BLUE]))
    rgb, info = load_image(make_symlink(tmp_path, "link.png", target))
    assert tuple(rgb[0, 0]) == BLUE and info.source.endswith("link.png")


def test_ultralytics_patch_of_pil_open_is_bypassed(tmp_path, monkeypatch):
    """Importing ultralytics patches PIL.Image.open to pip-install pi-heif on unknown files."""
    pytest.importorskip("ultralytics")
    import ultralytics.utils.patches as patches
    from PIL import Image

    assert Image.open is patches.image_open  # the patch is live in this process
    monkeypatch.setattr(patches, "_pil_plugins_registered", False)
    monkeypatch.setattr("ultralytics.utils.checks.check_requirements",
                        lambda *a, **k: pytest.fail("groundcap let ultralytics try a run-time install"))
    page = tmp_path / "page.jpg"
    page.write_bytes(b"<!doctype html><html><body>404</body></html>")
    with pytest.raises(ImageError) as info:
        load_image(page)
    assert info.value.reason == "not_an_image"
