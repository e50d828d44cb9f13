"""Measuring groundcap against human captions: facts agreement, caption metrics (CIDEr-D, BLEU-4, METEOR, ROUGE-L, CHAIR)."""
