"""A run's outputs: result.wav, baseline.wav, report.json, plot.png and x_T.pt, each written atomically.

`ditto.app.runs.RunFolder` decides where they go and publishes the folder whole. Every setting, the loss per
iteration, the metrics before and after and the timings go into report.json, so that a run can be read (and
x_T.pt re-rendered) later.
"""

from __future__ import annotations

import json
import typing as tp
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import objectives  # noqa: E402

from ..audio import write_audio  # noqa: E402
from ..files import atomic_write, save_torch, to_bytes  # noqa: E402
from ..optimize import Result  # noqa: E402
from .plots import plot_losses  # noqa: E402

OUTPUT_FILES = ("result.wav", "baseline.wav", "report.json", "plot.png", "x_T.pt")


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def metric_declarations(metrics: dict) -> dict:
    """{name: {higher_is_better, unit, description}} of every declared metric in `metrics` ({"before": {...}, ...}),
    so a summary made in another process, where a custom objective's declarations are not loaded, still knows them."""
    found = {}
    for name in sorted({name for values in metrics.values() for name in values}):
        try:
            info = objectives.metric_info(name)
        except ValueError:  # an undeclared custom metric: the summary reports it without a direction
            continue
        found[name] = {"higher_is_better": info.higher_is_better, "unit": info.unit, "description": info.description}
    return found


def write_run(out: Path, result: Result, *, objective_description: str, plot: tp.Callable | None = None,
              extra: dict | None = None) -> dict[str, Path]:
    """Write a run's five files into the folder `out`; returns their paths."""
    paths = {name: out / name for name in OUTPUT_FILES}
    write_audio(paths["result.wav"], result.audio[0], result.sample_rate, overwrite=True)
    write_audio(paths["baseline.wav"], result.baseline_audio[0], result.sample_rate, overwrite=True)
    settings = result.settings.to_dict()  # the record's flat mapping: report.json's "settings"
    saved = {"x_T": result.x_T, "settings": settings}
    if result.noises is not None:  # re-render: ditto.generate(..., x_T=saved["x_T"], noises=saved["noises"])
        saved["noises"] = result.noises
    save_torch(paths["x_T.pt"], saved)
    report = {
        "objective": objective_description,
        "method": settings.get("method", "ditto"),
        "variables": result.variables,
        "settings": settings,
        "metrics": result.metrics,
        "metric_info": metric_declarations(result.metrics),
        "losses": result.losses,
        "best_iteration": result.best_iteration,
        "stop_reason": result.stop_reason,
        "improved": result.improved,
        **({"final_loss": result.final_loss} if result.final_loss is not None else {}),
        **({"warning": result.warning} if result.warning else {}),
        "seconds": result.seconds,
        "sample_rate": result.sample_rate,
        "audio_seconds": result.audio.shape[-1] / result.sample_rate,
        **(extra or {}),
    }
    write_json(paths["report.json"], report)
    figure = plt.figure(figsize=(12, 7), constrained_layout=True)
    grid = figure.add_gridspec(2, 3, height_ratios=[3, 2])
    if plot is not None:
        plot(figure, grid[0, :], result)
    loss_axis = figure.add_subplot(grid[1, :])
    plot_losses(loss_axis, result)
    atomic_write(paths["plot.png"], to_bytes(lambda buffer: figure.savefig(buffer, format="png", dpi=100)))
    plt.close(figure)
    return paths
