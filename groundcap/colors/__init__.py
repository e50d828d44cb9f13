"""Object and image colors, named the way a caption names them.

:func:`colors_of` gives each detected object its dominant colors,
:func:`palette` the whole image's; :func:`name_color` attaches the nearest
CSS3 name (:func:`css3_name`, CIEDE2000 in CIELAB) and a caption word
(:func:`basic_name`) to a measured color. scikit-learn is not needed at
import or at run time; only numpy and webcolors are.
"""

from groundcap.colors.extract import colors_of, palette
from groundcap.colors.naming import basic_name, css3_name, name_color, rgb_to_lab

__all__ = ["colors_of", "palette", "name_color", "css3_name", "basic_name", "rgb_to_lab"]
