"""Turns whatever a user hands us into one RGB uint8 array, or a clear :class:`ImageError`.

Every later stage assumes an upright, C-contiguous ``H x W x 3`` uint8 RGB
array without alpha, so all the decoding quirks live here: EXIF orientation,
transparency, 16-bit and float grayscale, CMYK, palettes, animations,
truncated downloads, decompression bombs and files that are not images
(the conversions of each mode and dtype to RGB uint8 are in
:mod:`groundcap.data.pixels`, the format signatures in
:mod:`groundcap.data.image_signatures`).
Nothing from PIL or numpy escapes; every failure is an
:class:`~groundcap.errors.ImageError` whose ``reason`` is one of
``not_found``, ``is_directory``, ``permission_denied``, ``empty_file``,
``broken_link``, ``symlink_loop``, ``not_an_image``, ``truncated``,
``too_large``, ``bad_array`` or ``unsupported``. PIL's global switches
(``ImageFile.LOAD_TRUNCATED_IMAGES``, ``Image.MAX_IMAGE_PIXELS``) are read,
never changed.

>>> import numpy as np
>>> rgb, info = load_image(np.zeros((2, 3), dtype=np.uint8))
>>> rgb.shape, info.width, info.height, info.mode
((2, 3, 3), 3, 2, 'L')
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import sys
from typing import Union

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from groundcap.data.image_signatures import PIL_KINDS, riff_is_short, sniff_format
from groundcap.data.pixels import array_to_uint8, gray_to_rgb, over_white, to_rgb
from groundcap.errors import ImageError
from groundcap.records import ImageInfo

__all__ = ["DEFAULT_MAX_PIXELS", "ImageSource", "load_image", "load_image_bytes", "read_image_file"]

#: Largest ``width * height`` decoded by default. A 100-megapixel camera
#: frame is about the biggest real photo, while a decompression bomb declares
#: billions of pixels in a few kilobytes; decoding one RGB image this size
#: already costs 300 MB.
DEFAULT_MAX_PIXELS = 100_000_000
#: Files larger than this are refused (``too_large``) before they are read: the
#: largest real photos are tens of MB, and a batch reads several files at once.
MAX_FILE_BYTES = 512 << 20

ImageSource = Union[str, "os.PathLike[str]", Image.Image, np.ndarray]

# The PIL mode a 2-D array of (dtype kind, unsigned item size) would have had.
_GRAY_MODES = {("b", 0): "1", ("u", 1): "L", ("u", 2): "I;16", ("f", 0): "F"}

# The same table ImageOps.exif_transpose uses. We transpose ourselves so that
# a broken EXIF block, which exif_transpose rewrites afterwards, cannot fail a
# load whose pixels are fine.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Formats whose decoders never read past their end marker, so hitting the end
# of the bytes while decoding means the file was cut (JPEG 2000 does read on).
_DRY_MEANS_TRUNCATED = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "TIFF"})


def load_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, ImageInfo]:
    """Decodes an image into an upright RGB uint8 array.

    Paths are read once; the hash and the decoder share those bytes. EXIF
    orientation is applied, transparency is composited over white (so a
    transparent logo stays a logo instead of turning black), 16-bit grayscale
    is scaled by its full 0..65535 range, and animations and multi-page files
    give their first frame.

    Arrays are taken as RGB(A), not OpenCV's BGR: convert with
    ``arr[..., ::-1]`` first. Accepted dtypes are uint8, bool (0/255), uint16
    (scaled by 65535) and float in [0, 1]; shapes are ``H x W``,
    ``H x W x 1``, ``H x W x 3`` and ``H x W x 4``. A float ``"F"`` PIL image
    is read as [0, 1] when it fits there, else as 0..255 when it fits there,
    else stretched from its own minimum to maximum.

    Args:
        source: A path (``str`` or ``os.PathLike``), a ``PIL.Image.Image``
            or a numpy array.
        max_pixels: Refuse images whose declared ``width * height`` exceeds
            this, before any pixel is decoded. PIL refuses anything above
            twice its own ``Image.MAX_IMAGE_PIXELS`` regardless, so a larger
            value only helps if the caller raised PIL's limit too.

    Returns:
        ``(rgb, info)``: a new C-contiguous, writable ``H x W x 3`` uint8
        array owned by the caller, and its :class:`ImageInfo`. For files,
        ``info.sha256`` hashes the file's bytes; for arrays and PIL images it
        hashes ``f"{H}x{W}x3\\n"`` followed by the returned pixels.

    Raises:
        ImageError: The source is not a usable image; ``reason`` says why and
            the message names the file.
        ValueError: ``max_pixels`` is not a positive integer.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    if isinstance(source, np.ndarray):
        return _load_array(source, max_pixels)
    if isinstance(source, Image.Image):
        return _load_pil(source, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _load_path(source, max_pixels)
    hint = "; pass a str path, or decode the bytes yourself" if isinstance(source, (bytes, bytearray)) else ""
    raise ImageError(f"<{type(source).__name__}>", "unsupported",
                     f"expected a path, a PIL.Image.Image or a numpy array{hint}")


def _load_path(path: str | os.PathLike[str], max_pixels: int) -> tuple[np.ndarray, ImageInfo]:
    name = os.fsdecode(os.fspath(path))
    return load_image_bytes(read_file_bytes(name), name, max_pixels=max_pixels)


def read_image_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an image file, with every filesystem failure as an :class:`ImageError` reason.

    Only regular, non-empty files are read (a FIFO or a device would block).
    """
    return read_file_bytes(os.fsdecode(os.fspath(path)))


def load_image_bytes(data: bytes, name: str = "<bytes>", *, max_pixels: int = DEFAULT_MAX_PIXELS
                     ) -> tuple[np.ndarray, ImageInfo]:
    """:func:`load_image` for the bytes of an image file that are already in memory.

    ``name`` only labels errors and ``ImageInfo.source``; ``info.sha256`` hashes ``data``.
    """
    if not data:
        raise ImageError(name, "empty_file")
    watch = _ReadWatch(data)
    img = _open(data, watch, name, max_pixels)
    mode = img.mode
    try:
        rgb, orientation = _decode(img, name, max_pixels, data, watch)
    finally:
        img.close()
    h, w = rgb.shape[:2]
    return rgb, ImageInfo(w, h, hashlib.sha256(data).hexdigest(), name, mode, orientation)


def read_file_bytes(name: str) -> bytes:
    """Reads the whole file, turning every filesystem failure into a reason."""
    data = b""
    try:
        st = os.stat(name)
        # Only regular files are read: a FIFO or a device would block or never end.
        if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= MAX_FILE_BYTES:
            with open(name, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        if os.path.islink(name):
            raise ImageError(name, "broken_link", f"points to missing {os.readlink(name)!r}") from None
        raise ImageError(name, "not_found") from None
    except PermissionError as e:
        raise ImageError(name, "permission_denied", e.strerror or "") from None
    except IsADirectoryError:
        raise ImageError(name, "is_directory") from None
    except (OSError, ValueError) as e:
        code = getattr(e, "errno", None)
        if code == errno.ELOOP:
            raise ImageError(name, "symlink_loop", "too many levels of symbolic links") from None
        if code in (errno.ENOTDIR, errno.ENAMETOOLONG) or isinstance(e, ValueError):  # ValueError: a NUL byte
            raise ImageError(name, "not_found", str(e)) from None
        raise ImageError(name, "unsupported", f"could not read: {e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(name, "is_directory")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(name, "unsupported", "not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(name, "too_large", f"the file is {st.st_size / 2**20:,.0f} MiB; images over "
                                            f"{MAX_FILE_BYTES >> 20} MiB are not read")
    if not data:
        raise ImageError(name, "empty_file")
    return data


class _ReadWatch(io.BytesIO):
    """A BytesIO that notes when a reader wanted bytes the file does not have.

    ``BytesIO(data)`` shares ``data`` rather than copying it.
    """

    ran_short = False  # a read got fewer bytes than asked: the file ended early
    ran_dry = False  # a read got nothing at all

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if size is not None and size > 0 and len(chunk) < size:
            self.ran_short = True
            self.ran_dry = self.ran_dry or not chunk
        return chunk


def _open(data: bytes, watch: _ReadWatch, name: str, max_pixels: int) -> ImageFile.ImageFile:
    """Identifies the file from its header; no pixel is decoded yet."""
    # All plugins, so any format works, but not EPS: opening it runs Ghostscript.
    Image.init()
    formats = [f for f in Image.ID if f != "EPS"]
    try:
        img = _pil_open()(watch, formats=formats)
    except Exception as e:
        # The bomb warning arrives here too, as an exception, when warnings are errors.
        raise _failure(name, e, data, watch, sniff_format(data) or "image") from None
    try:
        _check_size(img.size, name, max_pixels)
    except ImageError:
        img.close()
        raise
    return img


def _pil_open():
    """PIL's own ``Image.open``, even after ultralytics has patched it.

    Importing ultralytics replaces ``PIL.Image.open`` process-wide with a
    wrapper that, on an unidentified file, runs ``check_requirements("pi-heif")``
    (a pip install at run time) and retries. Bad input must give a clear error
    here, never an install, so the wrapper is bypassed.
    """
    current = Image.open
    if getattr(current, "__module__", "PIL.Image") != "PIL.Image":
        patches = sys.modules.get("ultralytics.utils.patches")
        original = getattr(patches, "_image_open", None)
        if callable(original) and getattr(original, "__module__", "") == "PIL.Image":
            return original
    return current


def _failure(name: str, e: BaseException, data: bytes, watch: _ReadWatch | None, kind: str) -> ImageError:
    """Maps an exception raised while PIL opened or decoded an image to a reason."""
    if isinstance(e, UnidentifiedImageError):
        if sniff_format(data) is None:
            return ImageError(name, "not_an_image", f"no image signature; starts with {data[:16]!r}")
        if kind == "EPS":
            return ImageError(name, "unsupported", "EPS is not opened: PIL would run Ghostscript on it")
        if kind in PIL_KINDS and watch is not None and (watch.ran_short or riff_is_short(data)):
            return ImageError(name, "truncated", f"{kind} header ends early")
        return ImageError(name, "unsupported", f"{kind} that PIL cannot open")
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageError(name, "too_large", f"PIL refused it: {e}")
    if isinstance(e, MemoryError):
        return ImageError(name, "too_large", "ran out of memory while decoding")
    ran_dry = watch is not None and watch.ran_dry
    if "truncat" in str(e).lower() or isinstance(e, EOFError) or ran_dry or riff_is_short(data):
        return ImageError(name, "truncated", f"{kind}: {e}")
    return ImageError(name, "unsupported", f"{kind}: {type(e).__name__}: {e}")


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ImageError(name, "unsupported", f"declares an empty {w}x{h} image")
    if w * h > max_pixels:
        raise ImageError(name, "too_large", f"{w}x{h} = {w * h} pixels exceeds max_pixels={max_pixels}")


def _load_pil(img: Image.Image, max_pixels: int) -> tuple[np.ndarray, ImageInfo]:
    name = "<PIL>"
    try:
        size, mode = img.size, img.mode
    except Exception as e:
        raise ImageError(name, "unsupported", f"{type(e).__name__}: {e}") from None
    _check_size(size, name, max_pixels)
    rgb, orientation = _decode(img, name, max_pixels, b"", None)
    return rgb, _pixel_info(rgb, name, mode, orientation)


def _decode(img: Image.Image, name: str, max_pixels: int, data: bytes,
            watch: _ReadWatch | None) -> tuple[np.ndarray, int]:
    """Forces the decode, then makes it upright RGB. Returns ``(rgb, orientation)``."""
    kind = img.format or "image"
    try:
        # PIL's TIFF reader applies the orientation itself while loading and
        # drops the tag, so it is read first too; PNG's would force a decode.
        declared = 1 if img.format == "PNG" else _orientation(img)
        if watch is not None:
            watch.ran_short = watch.ran_dry = False
        # PIL decodes lazily; without load() a truncated file fails later, far
        # from here, or not at all.
        img.load()
        ran_dry = watch is not None and watch.ran_dry and kind in _DRY_MEANS_TRUNCATED
        if ImageFile.LOAD_TRUNCATED_IMAGES and (ran_dry or riff_is_short(data)):
            # Someone else switched PIL to pad truncated files with gray; we
            # still refuse to hand those on as if they were whole.
            raise OSError("image file is truncated")
        # Some formats only know their final size once decoded.
        _check_size(img.size, name, max_pixels)
        pending = _orientation(img)
        if pending != 1:
            img = img.transpose(_TRANSPOSE[pending])
        orientation = pending if pending != 1 else declared
        rgb = to_rgb(img, name)
    except ImageError:
        raise
    except Exception as e:
        raise _failure(name, e, data, watch, kind) from None
    return rgb, orientation


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag, or 1 where it is absent, unreadable or out of range."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:
        # A corrupt EXIF block says nothing trustworthy about the pixels, which
        # decoded fine; viewers show such files as stored, and so do we.
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _load_array(arr: np.ndarray, max_pixels: int) -> tuple[np.ndarray, ImageInfo]:
    name = "<array>"
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        hint = "; channels first? pass H x W x C" if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) else ""
        raise ImageError(name, "bad_array", f"shape {arr.shape} is not H x W, H x W x 1, 3 or 4{hint}")
    if arr.size == 0:
        raise ImageError(name, "bad_array", f"shape {arr.shape} has no pixels")
    h, w = arr.shape[:2]
    _check_size((w, h), name, max_pixels)
    pixels = array_to_uint8(arr, name)
    if pixels.ndim == 2:
        rgb = gray_to_rgb(pixels)
        mode = _GRAY_MODES[arr.dtype.kind, arr.dtype.itemsize if arr.dtype.kind == "u" else 0]
    elif pixels.shape[2] == 4:
        rgb, mode = over_white(pixels), "RGBA"
    else:
        # A copy, so the caller's array and ours never alias.
        rgb, mode = np.array(pixels, order="C", copy=True), "RGB"
    return rgb, _pixel_info(rgb, name, mode, 1)


def _pixel_info(rgb: np.ndarray, name: str, mode: str, orientation: int) -> ImageInfo:
    h, w = rgb.shape[:2]
    digest = hashlib.sha256(f"{h}x{w}x3\n".encode())
    digest.update(memoryview(rgb).cast("B"))
    return ImageInfo(w, h, digest.hexdigest(), name, mode, orientation)
