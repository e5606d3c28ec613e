"""The dashboard's charts, drawn on the server as inline SVG: no script, no external file, nothing fetched.

Every mark carries a <title> (the browser's tooltip) with its numbers, and every chart scales to its box
(viewBox, width 100%), so the same markup serves 1280px and a phone. Text is escaped (conditional_escape).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

__all__ = [
    "Series",
    "Chart",
    "nice_ticks",
    "duration_label",
    "duration_ticks",
    "duration_tick_label",
    "stacked_bars",
    "duration_boxes",
    "sparkline",
]


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


@dataclass
class Chart:
    """An SVG and its legend (label, colour, total), which the page writes as text beside it."""

    svg: SafeString
    legend: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Frame:
    """The plot area inside the SVG and the days along its x axis, one band each."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    days: Sequence[date]

    @property
    def band(self) -> float:
        return (self.right - self.left) / max(1, len(self.days))

    def centre(self, index: int) -> float:
        return self.left + self.band * (index + 0.5)

    def y(self, value: float, low: float, high: float) -> float:
        share = (min(max(value, low), high) - low) / ((high - low) or 1)
        return self.bottom - (self.bottom - self.top) * share


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 × 10^n) up to the first tick at or above `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


# Steps a duration axis may take, in seconds: round numbers of milliseconds, seconds, minutes and hours.
DURATION_STEPS = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
]  # fmt: skip


def duration_ticks(top: float, count: int = 4) -> list[float]:
    """0 and steps of a round duration up to the first tick at or above `top` seconds."""
    if top <= 0:
        return [0.0, 1.0]
    step = next((s for s in DURATION_STEPS if s * count >= top), top / count)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def duration_tick_label(seconds: float) -> str:
    """A tick's duration in its largest whole unit: 0, 500 ms, 15 s, 5 min, 2 h."""
    if not seconds:
        return "0"
    for unit, size in (("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds * 1000:g} ms"


def duration_label(seconds: float | None) -> str:
    """12 ms, 4.2 s, 3.5 min, 2.1 h."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _tag(template: str, *args, **kwargs) -> SafeString:
    """format_html for SVG elements: numbers are written as they are (coordinates to a tenth of a unit),
    anything else is escaped. Charts have hundreds of elements; escaping numbers is time spent for nothing."""

    def written(value):
        if isinstance(value, float):
            return f"{value:.1f}"
        if isinstance(value, int):
            return str(value)
        return conditional_escape(value)

    return mark_safe(template.format(*map(written, args), **{k: written(v) for k, v in kwargs.items()}))


def _svg(frame: _Frame, title: str, body: list[SafeString], css_class: str) -> SafeString:
    return _tag(
        '<svg class="{}" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">'
        "<title>{}</title>{}</svg>",
        css_class,
        frame.width,
        frame.height,
        title,
        title,
        mark_safe("".join(body)),
    )


def _grid(frame: _Frame, ticks: Sequence[float], label, low: float, high: float) -> list[SafeString]:
    """Horizontal grid lines at the ticks, each labelled on the left."""
    return [
        _tag(
            '<line class="cu-grid" x1="{}" x2="{}" y1="{y}" y2="{y}"></line>'
            '<text class="cu-tick" x="{}" y="{y}" dy="4" text-anchor="end">{}</text>',
            frame.left,
            frame.right,
            frame.left - 5,
            label(tick),
            y=frame.y(tick, low, high),
        )
        for tick in ticks
    ]


def _day_axis(frame: _Frame, every: int = 5) -> list[SafeString]:
    """The base line, and the date under every `every`th day counting back from the last."""
    last = len(frame.days) - 1
    parts = [
        _tag(
            '<text class="cu-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
            frame.centre(i),
            frame.bottom + 16,
            f"{frame.days[i]:%d %b}",
        )
        for i in range(last % every, last + 1, every)
    ]
    parts.append(
        _tag(
            '<line class="cu-axis" x1="{}" x2="{}" y1="{}" y2="{}"></line>',
            frame.left,
            frame.right,
            frame.bottom,
            frame.bottom,
        )
    )
    return parts


def stacked_bars(
    *, days: Sequence[date], series: Sequence[Series], counts: Sequence[dict[str, int]], title: str
) -> Chart:
    """One bar per day, stacked per series in the given order; `counts[i]` maps a series key to the count
    on days[i]. Each day's tooltip lists its counts; the legend gives the totals over all days."""
    frame = _Frame(width=640, height=220, left=40, right=622, top=10, bottom=194, days=days)
    ticks = nice_ticks(max((sum(c.values()) for c in counts), default=0))
    high = ticks[-1]
    width = frame.band * 0.72
    body = _grid(frame, ticks, _number, 0, high) + _day_axis(frame)
    for i, (day, day_counts) in enumerate(zip(days, counts, strict=True)):
        total = sum(day_counts.values())
        if not total:
            continue
        tip = f"{day:%a %d %b %Y}: {total} — " + ", ".join(
            f"{day_counts[s.key]} {s.label.lower()}" for s in series if day_counts.get(s.key)
        )
        rects, below = [], 0
        for s in series:
            n = day_counts.get(s.key, 0)
            if not n:
                continue
            y_top = frame.y(below + n, 0, high)
            rects.append(
                _tag(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"></rect>',
                    frame.centre(i) - width / 2,
                    y_top,
                    width,
                    frame.y(below, 0, high) - y_top,
                    s.colour,
                )
            )
            below += n
        body.append(_tag('<g class="cu-bar"><title>{}</title>{}</g>', tip, mark_safe("".join(rects))))
    legend = [(s.label, s.colour, str(sum(c.get(s.key, 0) for c in counts))) for s in series]
    return Chart(svg=_svg(frame, title, body, "cu-chart"), legend=legend)


def _duration_tip(s, has_quartiles: bool) -> str:
    spread = (
        f"median {duration_label(s.median)}, middle half {duration_label(s.p25)} to {duration_label(s.p75)}, "
        f"95% within {duration_label(s.p95)}"
        if has_quartiles
        else f"mean {duration_label(s.mean)}"
    )
    return (
        f"{s.day:%a %d %b %Y}: {s.runs} successful run(s); {spread}; "
        f"fastest {duration_label(s.low)}, slowest {duration_label(s.high)}"
    )


def duration_boxes(*, days: Sequence[date], stats: Sequence, title: str) -> Chart:
    """A box per day (quartiles, whisker from the fastest run to the 95th percentile, median mark) and a
    line through the medians. Where the database gives no percentiles, a whisker from fastest to slowest
    and a line through the means. `stats` are selectors.DurationDay, for the days that had runs."""
    frame = _Frame(width=640, height=220, left=52, right=622, top=10, bottom=194, days=days)
    index = {day: i for i, day in enumerate(days)}
    placed = [(index[s.day], s) for s in stats if s.day in index]
    has_quartiles = any(s.median is not None for _, s in placed)
    ticks = duration_ticks(max(((s.p95 if has_quartiles else s.high) or 0 for _, s in placed), default=0))
    high = ticks[-1]
    body = _grid(frame, ticks, duration_tick_label, 0, high) + _day_axis(frame)
    width = frame.band * 0.5
    centres = []
    for i, s in placed:
        x, top = frame.centre(i), (s.p95 if has_quartiles else s.high)
        middle = s.median if has_quartiles else s.mean
        marks = [
            _tag(
                '<line class="cu-whisker" x1="{x}" x2="{x}" y1="{}" y2="{}"></line>',
                frame.y(s.low, 0, high),
                frame.y(top, 0, high),
                x=x,
            )
        ]
        if has_quartiles and s.p25 is not None:
            marks.append(
                _tag(
                    '<rect class="cu-box" x="{}" y="{}" width="{}" height="{}"></rect>',
                    x - width / 2,
                    frame.y(s.p75, 0, high),
                    width,
                    max(0.5, frame.y(s.p25, 0, high) - frame.y(s.p75, 0, high)),
                )
            )
        centres.append((x, frame.y(middle, 0, high)))
        tip = _duration_tip(s, has_quartiles)
        body.append(_tag('<g class="cu-day"><title>{}</title>{}</g>', tip, mark_safe("".join(marks))))
    if centres:
        body.append(
            _tag(
                '<polyline class="cu-median" points="{}"></polyline>',
                " ".join(f"{x},{y}" for x, y in centres),
            )
        )
        body += [
            _tag('<circle class="cu-median-dot" cx="{}" cy="{}" r="2.5"></circle>', x, y) for x, y in centres
        ]
    # The legend's middle field names the mark (the page draws a key for it) instead of a colour.
    legend = (
        [
            ("median", "line", ""),
            ("middle half of runs", "box", ""),
            ("fastest to 95th percentile", "whisker", ""),
        ]
        if has_quartiles
        else [("mean", "line", ""), ("fastest to slowest", "whisker", "")]
    )
    return Chart(svg=_svg(frame, title, body, "cu-chart cu-durations"), legend=legend)


def _score_floor(values: Sequence[float]) -> float:
    """Where the score axis starts: high scores drawn from 0 would be one flat line along the top."""
    lowest = min(values, default=0.0)
    return next(floor for floor in (90, 80, 60, 0) if floor <= lowest)


def sparkline(*, days: Sequence[date], points: Sequence[tuple[date, float]], title: str) -> SafeString:
    """A small line of daily scores for a table cell; its axis starts where the scores are."""
    frame = _Frame(width=150, height=30, left=3, right=147, top=4, bottom=26, days=days)
    floor = _score_floor([score for _, score in points])
    index = {day: i for i, day in enumerate(days)}
    placed = [
        (frame.centre(index[day]), frame.y(score, floor, 100), day, score)
        for day, score in points
        if day in index
    ]
    body = [
        _tag(
            '<line class="cu-grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>',
            frame.left,
            frame.right,
            frame.top,
            frame.top,
        )
    ]
    if len(placed) > 1:
        body.append(
            _tag(
                '<polyline class="cu-score" points="{}"></polyline>',
                " ".join(f"{x},{y}" for x, y, _, _ in placed),
            )
        )
    body += [
        _tag(
            '<circle class="cu-score-dot" cx="{}" cy="{}" r="{}"><title>{}</title></circle>',
            x,
            y,
            "2.5" if n == len(placed) - 1 else "1.2",
            f"{day:%d %b}: {score:.1f}",
        )
        for n, (x, y, day, score) in enumerate(placed)
    ]
    return _svg(frame, f"{title} (axis from {floor:g} to 100)", body, "cu-spark")
