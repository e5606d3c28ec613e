"""The score trend, drawn on the server as an inline SVG."""

import math
from dataclasses import dataclass, field
from datetime import datetime

from quality.choices import Dimension

__all__ = ["TrendLine", "TrendChart", "trend_chart"]

# The score trend, drawn on the server as an inline SVG ---------------------------------------------------

SERIES_COLOURS = {
    "": "#263238",
    Dimension.COMPLETENESS: "#2e7d32",
    Dimension.VALIDITY: "#ef6c00",
    Dimension.UNIQUENESS: "#6a1b9a",
    Dimension.CONSISTENCY: "#0277bd",
    Dimension.TIMELINESS: "#ad1457",
    Dimension.ACCURACY: "#6d4c41",
}


# The score axis starts where the scores are: (lowest tick, step), the first whose tick is at most the
# lowest score. Scores of 93 to 100 drawn from 0 would be one flat line at the top.
Y_SCALES = [(98, 0.5), (96, 1), (92, 2), (80, 5), (60, 10), (0, 25)]


@dataclass
class TrendLine:
    label: str
    colour: str
    width: float
    points: str
    dots: list[tuple[str, str, str]] = field(default_factory=list)  # (x, y, tooltip)


@dataclass
class TrendChart:
    """An SVG line chart of scores (0–100) over check runs, oldest on the left; coordinates pre-formatted."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: list[tuple[str, str]]  # (y, label)
    x_ticks: list[tuple[str, str, str]]  # (x, label, text-anchor): the last label ends at the right edge
    lines: list[TrendLine]
    runs: int


def trend_chart(
    runs: list[tuple[int, datetime]], series: dict[str, dict[int, float]], *, width=760, height=260
) -> TrendChart | None:
    """The chart of `series` (dimension, '' = overall → {check run id: score}) over `runs`, oldest first."""
    if not runs:
        return None
    left, right, top, bottom = 40, width - 14, 14, height - 36
    last = len(runs) - 1
    lowest = min((score for scores in series.values() for score in scores.values()), default=0.0)
    floor, tick = next((f, t) for f, t in Y_SCALES if f <= lowest)

    def x(position: int) -> float:
        return left + (right - left) * (position / last if last else 0.5)

    def y(score: float) -> float:
        return bottom - (bottom - top) * (max(floor, min(100.0, score)) - floor) / (100 - floor)

    every = max(1, math.ceil(len(runs) / 6))  # at most about six dates under the axis
    lines = [
        _trend_line(
            dimension,
            [
                (x(i), y(series[dimension][pk]), series[dimension][pk], pk)
                for i, (pk, _) in enumerate(runs)
                if pk in series[dimension]
            ],
        )
        for dimension in ["", *Dimension.values]
        if series.get(dimension)
    ]
    return TrendChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        y_ticks=[
            (f"{y(v):.1f}", f"{v:g}")
            for v in (floor + i * tick for i in range(round((100 - floor) / tick) + 1))
        ],
        x_ticks=[
            (f"{x(i):.1f}", runs[i][1].strftime("%m-%d %H:%M"), "end" if i == last and last else "middle")
            for i in sorted({*range(0, len(runs), every), last})
        ],
        lines=lines,
        runs=len(runs),
    )


def _trend_line(dimension: str, placed: list[tuple[float, float, float, int]]) -> TrendLine:
    """One series: its polyline and a dot per check run (x, y, score, run id) with the score as tooltip."""
    label = Dimension(dimension).label if dimension else "Overall"
    return TrendLine(
        label=label,
        colour=SERIES_COLOURS[dimension],
        width=3 if not dimension else 1.5,
        points=" ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in placed),
        dots=[(f"{px:.1f}", f"{py:.1f}", f"{label}: {s:.1f} (check #{pk})") for px, py, s, pk in placed],
    )
