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
import torch  # noqa: E402

import objectives  # noqa: E402

from ..audio import write_audio  # noqa: E402
from ..files import atomic_write, save_torch, to_bytes  # noqa: E402
from ..optimize import Result  # noqa: E402

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


def plot_losses(axis, result: Result) -> None:
    axis.plot(range(len(result.losses)), result.losses, color="black", lw=1.2)
    if result.best_iteration >= 0:
        axis.scatter([result.best_iteration], [result.losses[result.best_iteration]], color="tab:red", zorder=3,
                     label=f"best (iteration {result.best_iteration})")
        axis.legend(loc="upper right")
    axis.set_xlabel("DITTO iteration")
    axis.set_ylabel("loss")
    axis.set_title("loss of x_T at each iteration")
    axis.grid(alpha=0.3)


def _seconds_axis(frames: int, duration_s: float) -> torch.Tensor:
    return torch.linspace(0, duration_s, frames)


def plot_intensity(objective: "objectives.Intensity"):
    """Loudness curves: target vs baseline vs result (smoothed dB, the objective's own feature)."""
    def plot(figure, cell, result: Result):
        axis = figure.add_subplot(cell)
        duration = result.audio.shape[-1] / result.sample_rate
        for audio, label, color in ((result.baseline_audio, "baseline", "tab:gray"), (result.audio, "result", "tab:blue")):
            curve = objectives.intensity_db(audio[:1], result.sample_rate, objective.config)[0]
            axis.plot(_seconds_axis(len(curve), duration), curve, label=label, color=color, lw=2)
            frames = len(curve)
        target = objectives.interpolate_curve(objective.target_db, frames)
        axis.plot(_seconds_axis(frames, duration), target, label="target", color="tab:red", ls="--", lw=2)
        axis.set_xlabel("seconds")
        axis.set_ylabel("loudness (dB, smoothed)")
        axis.set_title("intensity: target vs baseline vs result")
        axis.legend()
        axis.grid(alpha=0.3)
    return plot


def plot_melody(objective: "objectives.Melody"):
    """Pitch-class rolls: the result's chroma, with the target and the baseline's and result's argmax marked."""
    def plot(figure, cell, result: Result):
        sub = cell.subgridspec(1, 2)
        duration = result.audio.shape[-1] / result.sample_rate
        for i, (audio, label) in enumerate(((result.baseline_audio, "baseline"), (result.audio, "result"))):
            axis = figure.add_subplot(sub[0, i])
            log_probs = objectives.melody_log_probs(audio[:1], result.sample_rate, objective.config)[0]  # (12, frames)
            frames = log_probs.shape[-1]
            axis.imshow(log_probs.exp(), aspect="auto", origin="lower", cmap="magma",
                        extent=(0, duration, -0.5, 11.5))
            target = objective.targets(frames, result.sample_rate)
            times = _seconds_axis(frames, duration)
            has_note = target >= 0
            axis.scatter(times[has_note], target[has_note], s=8, color="cyan", label="target")
            axis.scatter(times, log_probs.argmax(0), s=3, color="white", label=f"{label} argmax")
            axis.set_yticks(range(12), objectives.PITCH_CLASSES)
            axis.set_xlabel("seconds")
            axis.set_title(f"{label}: pitch-class probabilities")
            axis.legend(loc="upper right", fontsize=7)
    return plot


def plot_structure(objective: "objectives.Structure"):
    """Self-similarity matrices side by side: target, baseline, result."""
    def plot(figure, cell, result: Result):
        sub = cell.subgridspec(1, 3)
        baseline = objectives.mfcc_self_similarity(result.baseline_audio[:1], result.sample_rate, objective.config)[0]
        frames = baseline.shape[-1]
        target = objective.target_similarity(frames, result.audio.shape[-1], result.sample_rate)
        produced = objectives.mfcc_self_similarity(result.audio[:1], result.sample_rate, objective.config)[0]
        for i, (matrix, title) in enumerate(((target, "target"), (baseline, "baseline"), (produced, "result"))):
            axis = figure.add_subplot(sub[0, i])
            axis.imshow(matrix.detach().cpu(), origin="lower", cmap="viridis", vmin=0, vmax=1)
            axis.set_title(f"{title} self-similarity")
            axis.set_xlabel("frame")
    return plot


def plot_edit(plan):
    """Edited audio: waveforms of the baseline and result edits with the generated regions shaded, and the result's
    spectrogram. `plan` is a `ditto.app.editing.EditPlan`."""
    def shade(axis, duration_s):
        regions = plan.regions
        if plan.kind == "outpaint":
            start = regions["reference_s"] - regions["overlap_s"]
            axis.axvspan(start, regions["reference_s"], color="tab:orange", alpha=0.25, label="crossfade overlap")
            axis.axvspan(regions["reference_s"], duration_s, color="tab:green", alpha=0.12, label="continuation")
        elif plan.kind == "inpaint":
            axis.axvspan(*regions["gap_s"], color="tab:green", alpha=0.2, label="regenerated gap")
        else:
            axis.axvspan(0, regions["overlap_s"], color="tab:orange", alpha=0.25, label="loop crossfade")

    def plot(figure, cell, result: Result):
        sub = cell.subgridspec(1, 2)
        wave_axis, spec_axis = figure.add_subplot(sub[0, 0]), figure.add_subplot(sub[0, 1])
        edited = plan.stitch(result.audio[0])
        baseline = plan.stitch(result.baseline_audio[0])
        duration = edited.shape[-1] / result.sample_rate
        times = torch.arange(edited.shape[-1]) / result.sample_rate
        wave_axis.plot(times, baseline.mean(0), color="tab:gray", lw=0.5, alpha=0.8, label="baseline edit")
        wave_axis.plot(times, edited.mean(0), color="tab:blue", lw=0.5, alpha=0.8, label="result edit")
        shade(wave_axis, duration)
        wave_axis.set_xlabel("seconds")
        wave_axis.set_title(f"{plan.kind}: waveforms, edited regions shaded")
        wave_axis.legend(loc="upper right", fontsize=7)
        spec_axis.specgram(edited.mean(0).numpy(), NFFT=2048, Fs=result.sample_rate, noverlap=1536, cmap="magma")
        shade(spec_axis, duration)
        spec_axis.set_xlabel("seconds")
        spec_axis.set_ylabel("Hz")
        spec_axis.set_title("result edit: spectrogram")
    return plot


def plot_waveforms(init: torch.Tensor | None):
    """Audio-to-audio: the init audio, the baseline and the result, as waveforms."""
    def plot(figure, cell, result: Result):
        axis = figure.add_subplot(cell)
        for audio, label, color in ((init, "init audio", "tab:orange"), (result.baseline_audio[0], "baseline", "tab:gray"),
                                    (result.audio[0], "result", "tab:blue")):
            if audio is None:
                continue
            audio = audio[..., :result.audio.shape[-1]]
            axis.plot(torch.arange(audio.shape[-1]) / result.sample_rate, audio.mean(0).cpu(), lw=0.5, alpha=0.7,
                      label=label, color=color)
        axis.set_xlabel("seconds")
        axis.set_title("variation: waveforms")
        axis.legend(loc="upper right", fontsize=7)
    return plot
