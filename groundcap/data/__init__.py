"""Reading inputs: decoding images into upright RGB arrays (:func:`load_image`)."""

from groundcap.data.images import DEFAULT_MAX_PIXELS, load_image

__all__ = ["DEFAULT_MAX_PIXELS", "load_image"]
