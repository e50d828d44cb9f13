"""Caption text made safe and tidy: the prior a user hands in, the references a dataset ships.

Both the readers in :mod:`groundcap.data` and the prompts in
:mod:`groundcap.llm_finetune.prompt_templates` use these, so they live below both.

>>> tidy_caption("a dog runs , jumps .")
'A dog runs, jumps.'
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_PRIOR_CHARS", "clean_prior", "tidy_caption"]

#: A prior longer than this is cut at a word boundary.
MAX_PRIOR_CHARS = 500
_JUNK_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")


def clean_prior(prior: str | bytes | None) -> str | None:
    """Makes a prior caption safe to put in a prompt, or ``None`` when nothing usable is left.

    Whitespace is collapsed, control and other invisible characters are dropped,
    ``###`` (the Alpaca block marker) is defused, and a long prior is cut at a
    word boundary to :data:`MAX_PRIOR_CHARS`. Text that looks binary (a NUL, or
    more than a fifth of it undecodable or invisible) is refused as a whole.

    >>> clean_prior("  a dog\\n on\\tgrass\\x07 ")
    'a dog on grass'
    >>> clean_prior(b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00") is None
    True
    >>> clean_prior("un café".encode("latin-1"))  # bytes: UTF-8, else Windows-1252 when mostly ASCII
    'un café'
    """
    if prior is None:
        return None
    if isinstance(prior, (bytes, bytearray)):
        if b"\x00" in prior:
            return None
        prior = _decode_prior(bytes(prior))
    if not isinstance(prior, str):
        raise TypeError(f"a prior caption must be text, got {type(prior).__name__}")
    if "\x00" in prior:
        return None
    kept, junk, visible = [], 0, 0
    for ch in unicodedata.normalize("NFC", prior):
        if ch.isspace():
            kept.append(" ")
            continue
        visible += 1
        if ch == "\ufffd" or unicodedata.category(ch) in _JUNK_CATEGORIES:
            junk += 1
        else:
            kept.append(ch)
    if junk * 5 > visible:
        return None
    text = re.sub(r"#{3,}", "#", " ".join("".join(kept).split()))
    if len(text) > MAX_PRIOR_CHARS:
        cut = text[:MAX_PRIOR_CHARS - 3]
        space = cut.rfind(" ")
        if space > MAX_PRIOR_CHARS // 2:
            cut = cut[:space]
        text = cut.rstrip(" ,;:.-") + "..."
    return text or None


def _decode_prior(data: bytes) -> str:
    """Text of a prior caption's bytes: UTF-8, else Windows-1252 for mostly-ASCII text written by
    an 8-bit editor; anything else decodes with replacement characters, which :func:`clean_prior`
    counts as junk."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if sum(b >= 0x80 for b in data) * 10 <= len(data) * 3:  # random bytes are half high bytes
        return data.decode("cp1252", errors="replace")
    return data.decode("utf-8", errors="replace")


def tidy_caption(caption: str) -> str:
    """A Flickr-style reference (" ." before the stop, maybe lower-case) as a sentence.

    >>> tidy_caption("a dog runs , jumps .")
    'A dog runs, jumps.'
    """
    text = " ".join(caption.replace(" .", ".").replace(" ,", ",").split()).strip()
    if text and not text.endswith((".", "!", "?")):
        text += "."
    return text[:1].upper() + text[1:]
