"""An experiment's tables, rebuilt from its job folders: summary.csv, summary.md and summary.png.

summary.csv has one row per job: name, recipe, method, the flags that vary between jobs (a flag named like one
of these columns gets a `flag_` prefix), every metric before and after, seconds, device, status and error.
summary.md is the paper's table (DITTO Table 3): per recipe and method and metric, n, the mean before and after
with a 95 % confidence interval (Student's t), the improvement factor and seconds per job, over the jobs that are
done. summary.png puts each job's metric after against before. Whether a metric is better higher or lower is
what its objective declared (`objectives.metric_info`, or the declaration its report.json carries); a metric
nobody declared is reported without an improvement factor rather than guessed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import objectives  # noqa: E402

from .experiments import recipe_parser  # noqa: E402
from .recipes import RECIPES  # noqa: E402
from .runs import ERROR_FILE, JOBS_FILE, job_status, read_jobs, read_json  # noqa: E402
from ..files import atomic_write, to_bytes  # noqa: E402

STATUSES = ("done", "failed", "interrupted", "pending", "corrupt", "stale")  # runs.job_status
STATUS_ERRORS = {"corrupt": "its report.json is not readable JSON: rerun it with ditto run --retry-failed",
                 "stale": "its folder was run with other flags (its job.json): rename the job or remove the folder"}


def higher_is_better(metric: str) -> bool | None:
    """The metric's declared direction (`objectives.metric_info`); None when nobody declared it."""
    try:
        return objectives.metric_info(metric).higher_is_better
    except ValueError:
        return None


def declare_recorded(report: dict) -> None:
    """Declare the metrics a run's report.json carries (a custom objective's, loaded in the run's process only);
    a record that contradicts a declaration here is left out, and the loaded declaration stands."""
    for name, info in (report.get("metric_info") or {}).items():
        try:
            objectives.declare_metric(name, **info)
        except (TypeError, ValueError):
            continue


def collect(out: Path) -> tuple[list[dict], list[str], list[str]]:
    """(rows, the flags that vary between jobs, the metric names) for the experiment in `out`."""
    if not (out / JOBS_FILE).is_file():
        raise ValueError(f"{str(out)!r} holds no {JOBS_FILE}: not an experiment folder written by ditto run")
    records = read_jobs(out)
    varying = _varying_flags(records)
    rows, metrics = [], []
    for record in records:
        folder = out / record["name"]
        report = read_json(folder / "report.json") or {}
        declare_recorded(report)
        failure = read_json(folder / ERROR_FILE) or {}
        status = job_status(out, record["name"], record)
        if status in STATUS_ERRORS:  # not this job's results, or unreadable: no metrics under its name
            report, failure = {}, {"error": STATUS_ERRORS[status]}
        row = {"name": record["name"], "recipe": record["recipe"],
               "method": report.get("method") or _method(record)}
        row.update({column: _cell(record["flags"].get(flag)) for flag, column in varying.items()})
        for when in ("before", "after"):
            for metric, value in report.get("metrics", {}).get(when, {}).items():
                if metric not in metrics:
                    metrics.append(metric)
                row[f"{metric}_{when}"] = value
        row["seconds"] = report.get("seconds", {}).get("total") or failure.get("seconds")
        row["device"] = report.get("settings", {}).get("device") or failure.get("device")
        row["status"] = status
        row["error"] = failure.get("error") or report.get("error") or ""
        rows.append(row)
    return rows, list(varying.values()), metrics


def _method(record: dict) -> str:
    """The job's --method as given, else its recipe's default ("none" for a recipe without one: generate)."""
    given = record["flags"].get("method")
    if given is None and record["recipe"] in RECIPES:
        given = recipe_parser(record["recipe"]).get_default("method")
    return given or "none"


FIXED_COLUMNS = ("name", "recipe", "method", "seconds", "device", "status", "error")


def _varying_flags(records: list[dict]) -> dict[str, str]:
    """{flag: its column} for the flags whose values differ between jobs. `method` has its own column; a flag
    named like another fixed column gets a `flag_` prefix (`--seconds` varied: `flag_seconds`)."""
    flags = []
    for record in records:
        flags += [flag for flag in record["flags"] if flag not in flags and flag != "method"]
    return {flag: f"flag_{flag}" if flag in FIXED_COLUMNS else flag for flag in flags
            if len({json.dumps(r["flags"].get(flag)) for r in records}) > 1}


def _cell(value) -> str:
    if value is None:
        return ""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def write_summary(out: str | Path) -> list[dict]:
    """Write summary.csv, summary.md and summary.png into `out` from its job folders; returns the rows."""
    out = Path(out)
    rows, varying, metrics = collect(out)
    columns = ["name", "recipe", "method", *varying, *(f"{m}_{when}" for m in metrics for when in ("before", "after")),
               "seconds", "device", "status", "error"]
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out / "summary.csv", table.getvalue())
    atomic_write(out / "summary.md", markdown(out, rows, metrics))
    atomic_write(out / "summary.png", to_bytes(lambda buffer: _plot(rows, metrics).savefig(buffer, format="png",
                                                                                             dpi=100)))
    plt.close("all")
    return rows


def mean_interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of its 95 % confidence interval by Student's t; nan for fewer than two values)."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return float(data.mean()), math.nan
    return float(data.mean()), float(stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))


def markdown(out: Path, rows: list[dict], metrics: list[str]) -> str:
    """The paper-style table over done jobs, then the jobs that failed or are left, one line each."""
    counts = {status: sum(row["status"] == status for row in rows) for status in STATUSES}
    lines = [f"# Experiment summary: {out.name}", "",
             f"{len(rows)} jobs: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n) + ". "
             "Means over the done jobs; ± is the 95 % confidence interval of the mean (Student's t); improvement is "
             "before / after where lower is better and after / before where higher is better, as each metric declares "
             "(objectives.metric_info).", "",
             "| recipe | method | metric | n | before | after | improvement | s / job |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    groups = sorted({(row["recipe"], row["method"]) for row in rows}, key=[(r["recipe"], r["method"]) for r in rows].index)
    for recipe, method in groups:
        done = [row for row in rows if (row["recipe"], row["method"]) == (recipe, method) and row["status"] == "done"]
        seconds = [row["seconds"] for row in done if row["seconds"] is not None]
        per_job = f"{np.mean(seconds):.1f}" if seconds else "—"
        measured = [m for m in metrics if any(f"{m}_after" in row for row in done)] or [None]
        for metric in measured:
            if metric is None:
                lines.append(f"| {recipe} | {method} | — | {len(done)} | — | — | — | {per_job} |")
                continue
            pairs = [(row[f"{metric}_before"], row[f"{metric}_after"]) for row in done if f"{metric}_after" in row]
            before, after = (mean_interval([pair[i] for pair in pairs]) for i in (0, 1))
            direction = {True: "higher is better", False: "lower is better", None: "direction not declared"}[
                higher_is_better(metric)]
            lines.append(f"| {recipe} | {method} | {metric} ({direction}) | {len(pairs)} | {_format(*before)} | "
                         f"{_format(*after)} | {_improvement(metric, before[0], after[0])} | {per_job} |")
    unfinished = [row for row in rows if row["status"] != "done"]
    if unfinished:
        lines += ["", "## Jobs not done", ""]
        lines += [f"- `{row['name']}` ({row['recipe']}): {row['status']}" + (f": {row['error']}" if row["error"] else "")
                  for row in unfinished]
    return "\n".join(lines) + "\n"


def _format(mean: float, half_width: float) -> str:
    return f"{mean:.4g}" if math.isnan(half_width) else f"{mean:.4g} ± {half_width:.2g}"


def _improvement(metric: str, before: float, after: float) -> str:
    higher = higher_is_better(metric)
    if higher is None:
        return "—"
    better, worse = (after, before) if higher else (before, after)
    return f"{better / worse:.3g}×" if worse > 0 else "—"


def _plot(rows: list[dict], metrics: list[str]):
    """One panel per metric: each done job's value after against before, the diagonal for no change."""
    figure, axes = plt.subplots(1, max(len(metrics), 1), figsize=(4.5 * max(len(metrics), 1), 4.2), squeeze=False,
                                constrained_layout=True)
    if not metrics:
        axes[0, 0].text(0.5, 0.5, "no metrics (generation only)", ha="center", va="center")
        axes[0, 0].set_axis_off()
    for axis, metric in zip(axes[0], metrics):
        done = [row for row in rows if row["status"] == "done" and f"{metric}_after" in row]
        for group in sorted({(row["recipe"], row["method"]) for row in done}):
            points = [(row[f"{metric}_before"], row[f"{metric}_after"]) for row in done
                      if (row["recipe"], row["method"]) == group]
            axis.scatter(*zip(*points), s=18, label=" / ".join(group))
        low, high = axis.get_xlim() if done else (0, 1)
        low, high = min(low, axis.get_ylim()[0]), max(high, axis.get_ylim()[1])
        axis.plot([low, high], [low, high], color="gray", lw=0.8, ls="--", label="no change")
        where = {True: "above the line is better", False: "below the line is better",
                 None: "direction not declared"}[higher_is_better(metric)]
        axis.set(xlabel="before (baseline, same seed)", ylabel="after", title=f"{metric}\n({where})")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return figure


__all__ = ["collect", "higher_is_better", "markdown", "mean_interval", "write_summary"]
