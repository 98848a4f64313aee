"""Plotly figures of click reports.

Each function takes a :class:`sociallens.Report` from ``Engine.click_report`` and returns a
``plotly.graph_objects.Figure``. A report grouped by more dimensions than a figure needs is
summed over the others, so one report grouped by ``("category", "date", "hour")`` feeds all
three figures.

Needs the optional extras: ``pip install 'sociallens[plots]'`` (plotly and pandas).

>>> import sociallens, sociallens.plots
>>> engine = sociallens.Engine("memory://")
>>> _ = engine.add_ads([{"id": "a1", "advertiser": "WaveCo", "title": "Boards", "category": "surf"}])
>>> _ = engine.record_impression("u1", "a1", at=3600 * 13)
>>> _ = engine.record_click("u1", "a1", at=3600 * 13 + 5)
>>> fig = sociallens.plots.clicks_heatmap(engine.click_report(("category", "hour")))
>>> list(fig.data[0].z[0][12:15])
[0, 1, 0]
"""

from __future__ import annotations

try:
    import pandas as pd
    import plotly.graph_objects as go
except ImportError as e:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "sociallens.plots needs plotly and pandas: pip install 'sociallens[plots]' "
        f"(missing: {e.name})"
    ) from e

from ._native import Report

__all__ = ["clicks_heatmap", "ctr_by_category", "clicks_over_time"]

HOURS = list(range(24))


def _frame(report: Report, needs: tuple[str, ...], figure: str):
    if not isinstance(report, Report):
        raise TypeError(f"{figure}() takes a sociallens.Report, not {type(report).__name__}")
    missing = [d for d in needs if d not in report.group_by]
    if missing:
        raise ValueError(
            f"{figure}() needs a report grouped by {', '.join(needs)}; this one is grouped by "
            f"{', '.join(report.group_by) or 'nothing'} (missing {', '.join(missing)})"
        )
    return report.to_pandas()


def _tz(report: Report) -> str:
    return report.time_zone


def clicks_heatmap(report: Report) -> go.Figure:
    """Clicks per category (rows) and hour of day (columns, 0–23 in the report's time zone).

    Hours without clicks are 0. The report must be grouped by ``category`` and ``hour``;
    hovering shows impressions and CTR too.
    """
    df = _frame(report, ("category", "hour"), "clicks_heatmap")
    sums = df.groupby(["category", "hour"])[["impressions", "clicks"]].sum()
    categories = sorted(df["category"].unique())
    index = pd.MultiIndex.from_product([categories, HOURS], names=["category", "hour"])
    sums = sums.reindex(index, fill_value=0)
    clicks = sums["clicks"].unstack("hour").reindex(columns=HOURS, fill_value=0)
    impressions = sums["impressions"].unstack("hour").reindex(columns=HOURS, fill_value=0)
    z = [[int(v) for v in row] for row in clicks.to_numpy()]
    hover = [
        [
            f"{c} at {h:02d}:00<br>{z[i][h]} clicks of {int(impressions.iat[i, h])} impressions"
            + (f" ({z[i][h] / impressions.iat[i, h]:.1%} CTR)" if impressions.iat[i, h] else "")
            for h in HOURS
        ]
        for i, c in enumerate(categories)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=HOURS,
            y=categories,
            text=hover,
            hoverinfo="text",
            colorscale="Blues",
            colorbar={"title": "clicks"},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        title=f"Ad clicks by category and hour of day ({_tz(report)})",
        xaxis={"title": "hour of day", "tickmode": "array", "tickvals": HOURS, "ticktext": [f"{h:02d}" for h in HOURS]},
        yaxis={"title": "category", "autorange": "reversed"},
        template="plotly_white",
        height=max(320, 120 + 36 * len(categories)),
    )
    return fig


def ctr_by_category(report: Report) -> go.Figure:
    """Click-through rate per category (clicks / impressions), best first.

    Categories without impressions are left out. The report must be grouped by
    ``category``; hovering shows the counts.
    """
    df = _frame(report, ("category",), "ctr_by_category")
    sums = df.groupby("category")[["impressions", "clicks"]].sum()
    sums = sums[sums["impressions"] > 0]
    sums = sums.assign(ctr=sums["clicks"] / sums["impressions"]).sort_values(
        ["ctr", "clicks"], ascending=False
    )
    fig = go.Figure(
        go.Bar(
            x=list(sums.index),
            y=[float(v) for v in sums["ctr"]],
            text=[f"{v:.1%}" for v in sums["ctr"]],
            textposition="outside",
            customdata=list(zip(sums["clicks"].astype(int), sums["impressions"].astype(int))),
            hovertemplate="%{x}<br>CTR %{y:.2%}<br>%{customdata[0]} clicks of "
            "%{customdata[1]} impressions<extra></extra>",
            marker_color="#2b6cb0",
        )
    )
    fig.update_layout(
        title="Click-through rate by category",
        xaxis={"title": "category"},
        yaxis={"title": "CTR", "tickformat": ".0%", "rangemode": "tozero"},
        template="plotly_white",
    )
    return fig


def clicks_over_time(report: Report) -> go.Figure:
    """Clicks per day (dates in the report's time zone), one line per category when the
    report is grouped by ``category`` as well as ``date``; days without clicks are 0."""
    df = _frame(report, ("date",), "clicks_over_time")
    per_category = "category" in report.group_by
    keys = ["category", "date"] if per_category else ["date"]
    sums = df.groupby(keys)["clicks"].sum()
    fig = go.Figure()
    if len(df):
        days = pd.date_range(pd.Timestamp(min(df["date"])), pd.Timestamp(max(df["date"])), freq="D")
        dates = [d.date() for d in days]
        groups = sorted(df["category"].unique()) if per_category else [None]
        for g in groups:
            series = sums.loc[g] if per_category else sums
            y = [int(v) for v in series.reindex(dates, fill_value=0)]
            fig.add_trace(
                go.Scatter(
                    x=list(days),
                    y=y,
                    mode="lines+markers",
                    name=g if per_category else "all ads",
                    hovertemplate="%{x|%a %Y-%m-%d}<br>%{y} clicks<extra>" + (g or "all ads") + "</extra>",
                )
            )
    fig.update_layout(
        title=f"Ad clicks per day ({_tz(report)})",
        xaxis={"title": "date", "tickformat": "%a %d %b", "dtick": 86400000},
        yaxis={"title": "clicks", "rangemode": "tozero"},
        template="plotly_white",
        legend={"title": "category"} if per_category else {},
    )
    return fig
