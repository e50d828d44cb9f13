"""Words: caption text cleaning and the vocabulary that maps caption words to COCO classes, colors and settings.

This room sits below data/, the stages and eval/, which all read caption text.
"""
