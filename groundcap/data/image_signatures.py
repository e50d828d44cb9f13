"""Image file signatures: the format a file's leading bytes announce, before any decoder runs.

:mod:`groundcap.data.images` reads them to name the format in its messages and
to judge a file PIL could not read whole: a damaged or exotic image
(``truncated``, ``unsupported``) or a file that was never an image
(``not_an_image``), and a RIFF (WebP) file that states more bytes than it has.
"""

from __future__ import annotations

# Leading bytes of image formats, decodable by PIL or not. They separate a
# damaged or exotic image (truncated / unsupported) from a file that was never
# an image, such as an HTML error page saved as photo.jpg (not_an_image).
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"II+\x00", "TIFF"), (b"MM\x00+", "TIFF"),
    (b"8BPS", "PSD"), (b"qoif", "QOI"), (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"%!PS", "EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"),
)
# Of those, the ones PIL reads itself, whose header failing means damage.
PIL_KINDS = frozenset({"JPEG", "PNG", "GIF", "TIFF", "PSD", "QOI", "BMP", "WEBP"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif",
                          b"avis"})


def sniff_format(data: bytes) -> str | None:
    """Names the image format the leading bytes announce, or None."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data.startswith(b"BM") and data[6:10] == b"\x00\x00\x00\x00":
        return "BMP"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF/AVIF"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head and head.startswith((b"<?xml", b"<svg", b"<!doctype svg")):
        return "SVG"
    return None


def riff_is_short(data: bytes) -> bool:
    """A RIFF file (WebP) states its length; fewer bytes means it was cut off."""
    return data.startswith(b"RIFF") and int.from_bytes(data[4:8], "little") + 8 > len(data)
