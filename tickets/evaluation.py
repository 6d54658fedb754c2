"""The monthly evaluation (综合评价) of GB/T 30428.4 as implemented in the open Unicom platform
(reference/evaluation_indicators.json): a score 0–100 per department or region and a grade A–E.

Department: 立案数分值×10% + 结案率×30% + 按期处置率×30% + (100−返工率)×30%.
Region (cell/community/street): (100−监督举报率)×10% + 立案数分值×20% + 结案率×30% + 按期结案率×40%.
The reference code comments the region weights as 10/20/30/10 (70 %); we take the last as 40 % so
they sum to 100 % (unverified against the standard's text), and invert 监督举报率 as that code does.
A rate with nothing due (0/0) scores full marks: nothing was late.
"""
from __future__ import annotations

# (upper bound inclusive, score): cases a department was given in the period — fewer is better.
DEPARTMENT_FILED_BANDS = [(50, 100), (100, 90), (200, 75), (500, 60), (1000, 40)]
# Cases per cell in the period, 一类区域.
REGION_FILED_BANDS = [(0, 100), (2, 90), (4, 75), (6, 60), (8, 40)]
GRADES = [(90, "A"), (75, "B"), (60, "C"), (40, "D")]


def band_score(value: float, bands) -> float:
    for upper, score in bands:
        if value <= upper:
            return float(score)
    return 0.0


def pct(rate: float | None) -> float:
    """A rate as a 0–100 score; none (nothing due) counts as 100."""
    return 100.0 if rate is None else max(0.0, min(100.0, rate * 100))


def grade(score: float) -> str:
    for lower, letter in GRADES:
        if score >= lower:
            return letter
    return "E"


def department_score(row: dict) -> float:
    rework = 0.0 if row["rework_rate"] is None else pct(row["rework_rate"])
    return round(band_score(row["dispatched"], DEPARTMENT_FILED_BANDS) * 0.1 + pct(row["close_rate"]) * 0.3
                 + pct(row["on_time_resolve_rate"]) * 0.3 + (100 - rework) * 0.3, 1)


def region_score(row: dict, cells: int) -> float:
    public = 0.0 if row["public_report_rate"] is None else pct(row["public_report_rate"])
    per_cell = row["filed"] / max(cells, 1)
    return round((100 - public) * 0.1 + band_score(per_cell, REGION_FILED_BANDS) * 0.2
                 + pct(row["close_rate"]) * 0.3 + pct(row["on_time_close_rate"]) * 0.4, 1)
