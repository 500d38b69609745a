"""The skew of a scanned page, found from its text lines, so that the page can be turned straight first.

Tesseract's layout analysis loses or shuffles whole lines on pages turned 1.5 degrees or more (a page tilted
on the scanner glass): on `python -m bench formats`' noisy, skewed scans it dropped one line in ten. The
angle is the one whose horizontal projection of the dark pixels is sharpest (text lines then fall into few
rows, the gaps between them into empty ones): the classic projection-profile method, computed on a small
copy by shearing pixel coordinates rather than rotating the image for each candidate angle.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

MAX_DEGREES = 6.0  # scanners tilt a page a few degrees; beyond this a page is sideways, which is not skew
_WIDTH = 1000  # pixels across the copy the angle is measured on
_MIN_DEGREES = 0.3  # a smaller tilt does not disturb recognition; leave the page as it is


def _sharpness(ys: np.ndarray, xs: np.ndarray, degrees: float, height: int) -> float:
    """How concentrated the row profile of the dark pixels is, with the page sheared by `degrees`."""
    shifted = np.round(ys - xs * math.tan(math.radians(degrees))).astype(np.int64)
    shifted -= shifted.min()
    profile = np.bincount(shifted, minlength=height).astype(np.float64)
    return float(np.sum(profile**2))


def skew_angle(page: Image.Image) -> float:
    """The page's tilt in degrees, counter-clockwise positive (a page made by `Image.rotate(d)` has tilt d); 0 for
    a tilt too small to matter or a page with next to nothing printed."""
    scale = min(1.0, _WIDTH / page.width)
    small = page.convert("L").resize((max(1, int(page.width * scale)), max(1, int(page.height * scale))))
    pixels = np.asarray(small)
    ys, xs = np.nonzero(pixels < 128)
    if len(ys) < 500:  # next to nothing printed: no lines to measure
        return 0.0
    best = max(np.arange(-MAX_DEGREES, MAX_DEGREES + 0.01, 0.25), key=lambda d: _sharpness(ys, xs, d, small.height))
    fine = np.arange(best - 0.25, best + 0.26, 0.05)
    angle = float(max(fine, key=lambda d: _sharpness(ys, xs, d, small.height)))
    return -angle if abs(angle) >= _MIN_DEGREES else 0.0


def turned(page: Image.Image) -> tuple[Image.Image, float]:
    """`page` turned so that its text lines run level (unchanged when it already is), and the angle it was turned
    by (`Image.rotate`'s degrees; 0: not turned)."""
    angle = skew_angle(page)
    if not angle:
        return page, 0.0
    return page.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255), -angle


def unturned(
    x: float, y: float, degrees: float, original: tuple[int, int], rotated: tuple[int, int]
) -> tuple[float, float]:
    """Where the point (x, y) of a page turned by `Image.rotate(degrees, expand=True)` (size `rotated`) was on the
    page before (size `original`)."""
    if not degrees:
        return x, y
    theta = math.radians(degrees)
    dx, dy = x - rotated[0] / 2, y - rotated[1] / 2
    # rotate() turns the picture counter-clockwise on screen (y grows downwards); this turns it back.
    return (
        original[0] / 2 + math.cos(theta) * dx - math.sin(theta) * dy,
        original[1] / 2 + math.sin(theta) * dx + math.cos(theta) * dy,
    )
