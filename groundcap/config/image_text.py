"""The image-text (CLIP-like) model's one config and its shared defaults."""

from __future__ import annotations

from dataclasses import dataclass

from groundcap.config.fields import setting

__all__ = ["ImageTextConfig", "IMAGE_TEXT"]


@dataclass(frozen=True)
class ImageTextConfig:
    """The image-text (CLIP-like) model of the clip scorer, ``train-clip``, ``index`` and ``eval retrieval``.

    The one place its choices and defaults live. :class:`~groundcap.config.RerankConfig` (as
    ``clip_model``, ``clip_pretrained``, ``clip_checkpoint``) and
    :class:`~groundcap.config.TrainClipConfig` (as ``model``, ``pretrained``, ``checkpoint``,
    ``device``) keep their flat fields, so their flags, YAML keys and saved
    configs stay as they were; both take their defaults from here and give
    theirs back as one of these through ``image_text``.

    >>> from groundcap.config import RerankConfig
    >>> RerankConfig(clip_model="ViT-B-32", clip_pretrained="openai").image_text
    ImageTextConfig(model='ViT-B-32', pretrained='openai', checkpoint='', device='auto')
    """

    model: str = setting("embedded", "Image-text model: embedded (offline: EfficientNet-Lite3 + MiniLM with trained "
                                "heads), or an open_clip architecture (ViT-B-32, open_clip:RN50, ...).")
    pretrained: str = setting("", "open_clip weights: a pretrained tag (openai, laion2b_s34b_b79k; downloads once) or a "
                             "checkpoint file; empty for none.")
    checkpoint: str = setting("", "A train-clip output folder whose weights are used; empty for the shipped (embedded) "
                             "or pretrained (open_clip) weights.")
    device: str = setting("auto", "cpu, cuda or auto.")


#: The image-text model's defaults, which every config and command naming one shares.
IMAGE_TEXT = ImageTextConfig()

