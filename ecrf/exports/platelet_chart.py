"""The platelet chart of one subject: an SVG drawn with matplotlib from the efficacy projection.

What is drawn (docs/exports.md):

- the platelet counts over the study day (day 0 = the infusion date), on a *linear* y axis from
  0: the two thresholds and small counts stay readable for the usual ITP range, and 0 is a real
  value. Evaluable counts are filled; counts the IWG rules do not use (before day 0, within the
  rescue-therapy window, transfused within 72 h) are drawn hollow;
- horizontal lines at 30 and 100 x10^9/L (the R and CR thresholds of projections.rules.iwg),
  labelled, and a dashed line at the baseline count;
- a vertical line at day 0 (infusion);
- rescue therapy: the therapy itself (start to end date, one day when no end) as a solid span,
  and the window in which counts are not evaluable (start to start + ``rescue_exclusion_days``,
  28 by default) as a hatched span;
- the confirmed response periods of ``efficacy()["responses"]`` as coloured bands (R, and CR on
  top of it), to the loss date or, while ongoing, to the right edge;
- bleeding assessments in a lower panel sharing the day axis: one marker per assessment at its
  WHO grade (0-4), the grade written next to it, red from the grade that blocks a response; the
  panel says "no bleeding assessments" when there are none;
- the legend gives the duration of the first response and says whether it is censored (response
  ongoing at the last evaluable count) or ended by a loss of response.

The title gives the date of the data: the UTC date of the latest recorded change in the casebook
as drawn ("data as of 2026-03-01"), not a log position. Units are typeset with a multiplication
sign and a superscript nine (U+00D7, U+2079: real characters, kept as searchable text).

A subject not infused yet is drawn by day relative to the screening date (day 0 = screening),
every count hollow (nothing is evaluable before an infusion), with "not infused yet" in the
title; no response bands.

Only the object-oriented ``Figure`` API is used (no pyplot, no global figure state). The SVG is
deterministic: fixed ``svg.hashsalt``, no date in the metadata, text kept as text
(``svg.fonttype: none``) so the labels can be searched. Rendering holds a lock because rcParams
are process-wide.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from projections.casebook import Casebook
from projections.efficacy import efficacy, platelet_series
from projections.rules.iwg import CR_PLATELETS, R_PLATELETS
from projections.trial_config import DEFAULT_TRIAL, TrialConfig
from projections.values import entry_values, parse

RC = {"svg.hashsalt": "ecrf-platelet-chart", "svg.fonttype": "none", "svg.id": None,
      "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False}
UNIT = "\u00d710\u2079/L"  # x10^9/L with SUPERSCRIPT NINE: a superscript kept as text
CR_LABEL = f"{CR_PLATELETS:g} {UNIT} (CR)"
R_LABEL = f"{R_PLATELETS:g} {UNIT} (R)"
COLORS = {"count": "#1f4e99", "CR": "#2e9d4a", "R": "#a6dba0", "rescue": "#e08214",
          "bleed": "#c51b1b", "bleed_low": "#7f7f7f", "threshold": "#555555",
          "baseline": "#8c510a", "infusion": "#000000"}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Count:
    day: int
    platelets: float
    evaluable: bool


def platelet_chart_svg(book: Casebook, *, config: TrialConfig = DEFAULT_TRIAL) -> bytes:
    """Draw the subject's platelet chart as of the casebook's position; return the SVG bytes."""
    result = efficacy(book, config=config)
    infused = book.infusion is not None
    anchor = _anchor(book, infused)
    counts = _counts(book, result, anchor, infused)
    bleeding = [(_day(v["assessed_on"], anchor), int(v["who_grade"]))
                for v in map(entry_values, book.current("bleeding_assessment"))]
    rescue = [(_day(v["start_date"], anchor),
               _day(v["end_date"], anchor) if v.get("end_date") else None)
              for v in map(entry_values, book.current("rescue_therapy"))]
    responses = result["responses"] if infused else []
    baseline = result.get("baseline_platelets")

    days = [0, *(c.day for c in counts), *(d for d, _ in bleeding),
            *(d for span in rescue for d in span if d is not None),
            *(d for p in responses for d in (p["start_day"], p["end_day"]) if d is not None)]
    x_min, x_max = min([*days, -7]) - 2, max([*days, 28]) + 2
    y_max = max([150.0, *(1.15 * c.platelets for c in counts),
                 *([1.15 * baseline] if baseline else [])])

    with _LOCK, matplotlib.rc_context(RC):
        figure = Figure(figsize=(11, 6.5), layout="constrained")
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[4, 1])
        handles: list[Any] = []
        _responses(top, responses, x_max, handles)
        _rescue(top, bottom, rescue, config.rescue_exclusion_days, x_max, handles)
        _thresholds(top, baseline, handles)
        _day0(top, bottom, infused, handles)
        _counts_plot(top, counts, handles)
        _bleeding(bottom, bleeding, config.bleeding_grade_threshold, handles)
        _duration(result if infused else {}, handles)
        top.set_xlim(x_min, x_max)
        top.set_ylim(0, y_max)
        top.set_ylabel(f"Platelets ({UNIT})")
        top.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        bottom.set_ylim(-0.5, 4.8)
        bottom.set_yticks(range(5))
        bottom.set_ylabel("WHO bleeding")
        bottom.set_xlabel(_x_label(book, anchor, infused))
        figure.suptitle(_title(book, result, infused), fontsize=12)
        figure.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8,
                      frameon=False)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


# -- data --------------------------------------------------------------------------------------


def _anchor(book: Casebook, infused: bool) -> date:
    if infused:
        return parse(book.infusion.values["infused_at"]).date()  # type: ignore[union-attr]
    return parse(book.registration["screening_date"])


def _day(value: Any, anchor: date) -> int:
    return (value - anchor).days


def _counts(book: Casebook, result: dict[str, Any], anchor: date, infused: bool
            ) -> list[_Count]:
    if infused:
        return [_Count(c["day"], float(c["platelets"]), bool(c["evaluable"]))
                for c in result["counts"]]
    return [_Count(_day(c.day, anchor), float(c.platelets), False)
            for c in platelet_series(book)]


def _x_label(book: Casebook, anchor: date, infused: bool) -> str:
    if infused:
        return f"Study day (day 0 = infusion, {anchor.isoformat()})"
    return f"Days from screening (day 0 = screening date, {anchor.isoformat()})"


def _title(book: Casebook, result: dict[str, Any], infused: bool) -> str:
    head = f"Platelet count: subject {book.subject_id} (site {book.site_id})"
    as_of = data_date(book)
    when = f"data as of {as_of.isoformat()}" if as_of else "no data recorded"
    if not infused:
        return f"{head}: not infused yet ({when})"
    best = result.get("best_response") or "not assessable yet"
    return f"{head}: best response {best} ({when})"


def data_date(book: Casebook) -> date | None:
    """The UTC date of the latest recorded change (entry, correction, void) in the casebook."""
    moments = [v.recorded_at for e in book.entries.values() for v in e.versions]
    return max(moments).astimezone(UTC).date() if moments else None


def duration_label(result: dict[str, Any]) -> str | None:
    """Say how long the first response lasted and whether that duration is censored."""
    days, censored = result.get("duration_of_response_days"), result.get("duration_censored")
    if days is None or censored is None:
        return None
    if censored:
        return f"duration of response {days} d, censored: ongoing at the last evaluable count"
    return f"duration of response {days} d, to the loss of response on {result['loss_date']}"


# -- layers ------------------------------------------------------------------------------------


def _responses(ax: Any, responses: list[dict[str, Any]], x_max: float, handles: list) -> None:
    for level in ("R", "CR"):  # an R period includes the CR periods within it: CR on top
        periods = [p for p in responses if p["level"] == level]
        for p in periods:
            end = p["end_day"] if p["end_day"] is not None else x_max
            ax.axvspan(p["start_day"], end, color=COLORS[level], alpha=0.35, linewidth=0,
                       zorder=0)
        if periods:
            handles.append(Patch(color=COLORS[level], alpha=0.35,
                                 label=f"confirmed {level} period"))


def _rescue(top: Any, bottom: Any, rescue: list[tuple[int, int | None]], window: int,
            x_max: float, handles: list) -> None:
    for start, end in rescue:
        for ax in (top, bottom):
            ax.axvspan(start, min(start + window, x_max), facecolor="none",
                       edgecolor=COLORS["rescue"], hatch="//", alpha=0.35, linewidth=0, zorder=0)
            ax.axvspan(start, max(end if end is not None else start, start) + 1,
                       color=COLORS["rescue"], alpha=0.45, linewidth=0, zorder=0.5)
    if rescue:
        handles.append(Patch(color=COLORS["rescue"], alpha=0.45, label="rescue therapy"))
        handles.append(Patch(facecolor="none", edgecolor=COLORS["rescue"], hatch="//",
                             label=f"rescue window ({window} d, not evaluable)"))


def _thresholds(ax: Any, baseline: float | None, handles: list) -> None:
    transform = ax.get_yaxis_transform()
    for value, label in ((CR_PLATELETS, CR_LABEL), (R_PLATELETS, R_LABEL)):
        ax.axhline(value, color=COLORS["threshold"], linewidth=1, zorder=1)
        ax.text(0.005, value, label, transform=transform, fontsize=8, va="bottom", ha="left",
                color=COLORS["threshold"])
    if baseline is not None:
        ax.axhline(baseline, color=COLORS["baseline"], linestyle="--", linewidth=1, zorder=1)
        ax.text(0.995, baseline, f"baseline {baseline:g}", transform=transform, fontsize=8,
                va="bottom", ha="right", color=COLORS["baseline"])
        handles.append(Line2D([], [], color=COLORS["baseline"], linestyle="--",
                              label=f"baseline ({baseline:g} {UNIT})"))


def _day0(top: Any, bottom: Any, infused: bool, handles: list) -> None:
    label = "infusion (day 0)" if infused else "screening (day 0)"
    style = "-" if infused else ":"
    for ax in (top, bottom):
        ax.axvline(0, color=COLORS["infusion"], linestyle=style, linewidth=1.2, zorder=1)
    handles.append(Line2D([], [], color=COLORS["infusion"], linestyle=style, label=label))


def _counts_plot(ax: Any, counts: list[_Count], handles: list) -> None:
    color = COLORS["count"]
    if counts:
        ax.plot([c.day for c in counts], [c.platelets for c in counts], color=color,
                linewidth=1, alpha=0.6, zorder=2)
    for evaluable, face, label in ((True, color, "count (evaluable)"),
                                   (False, "white", "count (not evaluable)")):
        chosen = [c for c in counts if c.evaluable is evaluable]
        if chosen:
            ax.plot([c.day for c in chosen], [c.platelets for c in chosen], linestyle="none",
                    marker="o", markersize=6, markerfacecolor=face, markeredgecolor=color,
                    zorder=3)
            handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor=face,
                                  markeredgecolor=color, label=label))
    if not counts:
        ax.text(0.5, 0.5, "no platelet counts recorded", transform=ax.transAxes,
                ha="center", va="center", color="#777777")


def _duration(result: dict[str, Any], handles: list) -> None:
    label = duration_label(result)
    if label is not None:
        handles.append(Line2D([], [], linestyle="none", marker="", label=label))


def _bleeding(ax: Any, bleeding: list[tuple[int, int]], threshold: int, handles: list) -> None:
    if not bleeding:
        ax.text(0.5, 0.5, "no bleeding assessments", transform=ax.transAxes, ha="center",
                va="center", color="#777777", fontsize=8)
    for blocking in (False, True):
        chosen = [(d, g) for d, g in bleeding if (g >= threshold) is blocking]
        if not chosen:
            continue
        color = COLORS["bleed" if blocking else "bleed_low"]
        ax.plot([d for d, _ in chosen], [g for _, g in chosen], linestyle="none", marker="v",
                markersize=7, color=color, zorder=3)
        for day, grade in chosen:
            ax.annotate(f"WHO {grade}", (day, grade), xytext=(4, 3),
                        textcoords="offset points", fontsize=7, color=color)
        label = (f"bleeding, WHO grade >= {threshold}" if blocking
                 else f"bleeding, WHO grade < {threshold}")
        handles.append(Line2D([], [], linestyle="none", marker="v", color=color, label=label))
