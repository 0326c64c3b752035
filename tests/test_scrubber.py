"""The website's scrubbable figures (dropout_course/scrubber.py): one player with a slider over
every frame, self-contained, described for screen readers, and the same HTML for the same frames.
"""

from __future__ import annotations

import re

import matplotlib
import matplotlib.pyplot as plt
import pytest

from dropout_course.scrubber import scrubber

matplotlib.use("agg")

#: One embedded frame (matplotlib breaks its base64 into lines).
FRAME = re.compile(r'"data:image/png;base64,[^"]+"')


def player(values, **options) -> str:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    (line,) = ax.plot([0, 1], [0, 0])
    ax.set_ylim(0, 5)
    options = {"alt": 'a line at height "y"', "label": "height y", "dpi": 30, **options}
    return scrubber(fig, lambda y: line.set_ydata([y, y]), values, **options).data


def test_one_slider_over_every_frame_and_nothing_from_another_host():
    html = player([1, 2, 3, 4])
    assert len(FRAME.findall(html)) == 4
    assert len(set(FRAME.findall(html))) == 4, "the frames should differ"
    slider = re.findall(r"<input[^>]*type=\"range\"[^>]*>", html)
    assert len(slider) == 1 and 'aria-label="height y"' in slider[0]
    assert re.search(r'<img alt="a line at height &quot;y&quot;" id="_anim_img', html)
    assert not re.search(r"(href|src)=\"https?://", html), "the player loads from another host"


def test_the_same_frames_give_the_same_html():
    assert player([1, 2]) == player([1, 2])
    assert player([1, 2]) != player([2, 1])


def test_the_figure_is_closed_so_no_still_image_is_shown():
    before = set(plt.get_fignums())
    player([1, 2])
    assert set(plt.get_fignums()) == before


def test_no_frames_is_an_error_that_says_so():
    fig = plt.figure()
    with pytest.raises(ValueError, match="at least one frame"):
        scrubber(fig, lambda _: None, [], alt="nothing", label="nothing")
    assert not plt.fignum_exists(fig.number)
