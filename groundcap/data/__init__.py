"""Reading inputs: decoding images into upright RGB arrays (:func:`load_image`)."""

from groundcap.data.images import DEFAULT_MAX_PIXELS, load_image, load_image_bytes, read_image_file

__all__ = ["DEFAULT_MAX_PIXELS", "load_image", "load_image_bytes", "read_image_file"]
