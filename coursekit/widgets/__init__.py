"""Interactive widgets for the lectures, on core ipywidgets only (JupyterLab 4 / ipywidgets 8
and Colab / ipywidgets 7 alike).

* :class:`LatentExplorer`: sliders for a few latent values -> the image a function makes.
* :class:`CompareView`: an input and several models' outputs side by side (A/B comparison).
* :class:`FacadePainter`: edit a synthetic facade's layout, watch pix2pix models translate it.
* :class:`StyleExplorer`: BicycleGAN's latent code z (sliders, interpolation, encoded styles)
  and the photos several models draw from it.
* :class:`SeasonExplorer`: MUNIT's style code s (sliders, reference photos whose style it
  copies, the line between two references, both directions) and the translation it makes,
  with the season, time of day and content kept of the output as shown.
* :class:`LandscapePainter`: paint a landscape label map (brushes, horizon, lake, trees,
  uniform maps), watch SPADE, pix2pix and other models draw it; SPADE's styles in VAE mode.
* :class:`NoiseLevelExplorer`: SDEdit's noise level t0, repeats and noise draws on sliders over
  a stroke guide (the test split's or an uploaded painting), with the output's faithfulness and
  realism and the guide's trade-off curve; every output precomputed per guide.
* Building blocks: :class:`ImageView` (an image updated in place), :class:`Throttle` (a slow
  callback runs for the latest value only), :func:`png_bytes` / :func:`read_png`,
  :func:`to_uint8` / :func:`from_uint8` (an image as shown, and back to a tensor to score).

Every widget's logic runs without a browser: set a control's ``value`` in Python and read the
displayed image back (``.array`` / ``.arrays()``).
"""
from coursekit.widgets.base import ImageView, Throttle, from_uint8, png_bytes, read_png, to_uint8
from coursekit.widgets.facade_painter import FacadePainter
from coursekit.widgets.landscape_painter import LandscapePainter
from coursekit.widgets.noise_explorer import NoiseLevelExplorer
from coursekit.widgets.season_explorer import SeasonExplorer
from coursekit.widgets.style_explorer import StyleExplorer
from coursekit.widgets.views import CompareView, LatentExplorer, SliderEchoes

__all__ = ["CompareView", "FacadePainter", "ImageView", "LandscapePainter", "LatentExplorer",
           "NoiseLevelExplorer", "SeasonExplorer", "SliderEchoes", "StyleExplorer", "Throttle", "from_uint8",
           "png_bytes", "read_png", "to_uint8"]
