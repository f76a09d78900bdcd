"""The benchmark scripts' SVG charts: well-formed, scaled, and CDFs that keep the tail."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import svgplot

SVG = "{http://www.w3.org/2000/svg}"


def test_linear_ticks_are_round_and_cover_the_range() -> None:
    assert svgplot.linear_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = svgplot.linear_ticks(3, 97)
    assert ticks[0] <= 3
    assert ticks[-1] >= 97
    assert ticks == [0, 20, 40, 60, 80, 100]


def test_log_ticks_are_decades_around_the_data() -> None:
    assert svgplot.log_ticks(42, 6837) == [10, 100, 1000, 10000]


def test_cdf_keeps_every_sample_of_the_last_percent() -> None:
    samples = list(range(10_000, 0, -1))
    points = svgplot.cdf_points(samples, max_points=50)
    assert points[-1] == (10_000, 1.0)
    tail = [p for p in points if p[1] > 0.99]
    assert len(tail) == 100  # ranks 9900..9999, none thinned
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert len(points) < 200


def test_chart_is_valid_svg_with_one_line_per_series_and_a_legend() -> None:
    series = [
        svgplot.Series("QEMU", svgplot.cdf_points([200.0, 250.0, 300.0, 5000.0])),
        svgplot.Series("vmd", svgplot.cdf_points([50.0, 60.0, 70.0, 900.0]), dashed=True),
        svgplot.Series("one point", [(100.0, 0.5)]),
    ]
    text = svgplot.line_chart(
        "t <&>", svgplot.Axis("x", log=True), svgplot.Axis("y"), series, legend="lower right"
    )
    root = ET.fromstring(text)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    assert lines[1].get("stroke-dasharray") == "6 4"
    labels = [t.text for t in root.findall(f"{SVG}text")]
    assert {"QEMU", "vmd", "one point", "t <&>"} <= set(labels)
    # Every plotted coordinate lies inside the frame.
    for line in lines:
        for pair in (line.get("points") or "").split():
            x, y = map(float, pair.split(","))
            assert svgplot.LEFT <= x <= svgplot.WIDTH - svgplot.RIGHT
            assert svgplot.TOP <= y <= svgplot.HEIGHT - svgplot.BOTTOM


def test_non_positive_points_are_left_off_a_log_axis() -> None:
    text = svgplot.line_chart(
        "t",
        svgplot.Axis("x", log=True),
        svgplot.Axis("y"),
        [svgplot.Series("s", [(0.0, 0.1), (10.0, 0.5), (100.0, 1)])],
    )
    (line,) = ET.fromstring(text).findall(f"{SVG}polyline")
    assert len((line.get("points") or "").split()) == 2
