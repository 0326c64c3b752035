"""Figures a reader scrubs on the website, with no kernel behind the page.

The chapters compute every frame when the book is built; :func:`scrubber` hands them to
matplotlib's JavaScript animation player (``FuncAnimation.to_jshtml``), which embeds the frames
as PNG images in the page and shows them under a slider. The player's HTML is adjusted for the
course's site: it loads nothing from another host (matplotlib's player links a Font Awesome
stylesheet on a CDN for its buttons' icons; the site's theme has Font Awesome, which draws
them), the image and the slider say what they show, and the same frames give byte-identical
HTML (matplotlib names each player with a random id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
from IPython.display import HTML
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

#: matplotlib's player loads its icon font from a CDN; the site's theme already has the icons.
_REMOTE_STYLESHEET = re.compile(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>\s*")
#: The random id matplotlib gives each player (in element ids and a global JS variable).
_PLAYER_ID = re.compile(r"_anim_img([0-9a-f]{32})")


def scrubber(
    fig: Figure,
    update: Callable[[Any], object],
    frames: Sequence[Any],
    *,
    alt: str,
    label: str,
    dpi: float = 80,
    fps: float = 4,
    default_mode: str = "once",
    fixed_layout: bool = True,
) -> HTML:
    """Render ``update(frame)`` on ``fig`` for every frame, as a player with a slider.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render; it is closed afterwards, so no still image of it is shown.
    update : callable
        Called with each element of ``frames`` in turn; it changes ``fig`` to show that frame
        (move the artists, or clear the figure and draw it again).
    frames : sequence
        The values the slider runs over, in order: at least one.
    alt : str
        Text alternative of the displayed image (what every frame shows).
    label : str
        Accessible name of the slider (the parameter it sets).
    dpi : float, optional
        Resolution of the frames; with the figure's size it sets the page's weight.
    fps : float, optional
        Frames per second when the reader presses play.
    default_mode : {"once", "loop", "reflect"}, optional
        What the player does at the last frame.
    fixed_layout : bool, optional
        Lay the figure out for the first frame only (its layout engine, such as constrained
        layout, is then switched off), so that the axes do not move while the reader scrubs and
        the frames render faster. Pass False when ``update`` builds new axes for every frame.

    Returns
    -------
    IPython.display.HTML
        The player: self-contained HTML (frames embedded as data URLs).
    """
    frames = list(frames)
    if not frames:
        plt.close(fig)
        raise ValueError("a scrubber needs at least one frame to show; got none")
    try:
        if fixed_layout:  # lay the figure out once, for the first frame: the axes stay put
            update(frames[0])
            fig.canvas.draw()
            fig.set_layout_engine("none")
        # On a canvas that is not on screen, draw_idle draws at once, and the animation calls
        # it after every frame before saving that frame (a second drawing): skip it.
        fig.canvas.draw_idle = lambda *args, **kwargs: None
        animation = FuncAnimation(
            fig, lambda i: update(frames[i]), frames=len(frames), interval=1000 / fps
        )
        with mpl.rc_context({"savefig.dpi": dpi}):
            html = animation.to_jshtml(embed_frames=True, default_mode=default_mode)
    finally:
        plt.close(fig)
    return HTML(adapt_player(html, alt=alt, label=label))


def adapt_player(html: str, *, alt: str, label: str) -> str:
    """matplotlib's player HTML, made fit for the site: no remote stylesheet, an ``alt`` on the
    image, an ``aria-label`` on the slider, and an id derived from the content."""
    html = _REMOTE_STYLESHEET.sub("", html)
    html = html.replace("<img id=", f'<img alt="{_attribute(alt)}" id=', 1)
    html = html.replace('type="range"', f'type="range" aria-label="{_attribute(label)}"', 1)
    match = _PLAYER_ID.search(html)
    if match is None:
        raise ValueError("matplotlib's player HTML has changed: no _anim_img<id> in it")
    stable = hashlib.sha256(html.replace(match.group(1), "").encode()).hexdigest()[:32]
    return html.replace(match.group(1), stable)


def _attribute(text: str) -> str:
    """``text`` escaped for an HTML attribute in double quotes."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
