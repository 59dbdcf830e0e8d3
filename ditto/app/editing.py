"""The command line's side of editing: extend's run folder (report.json, the piece's WAVs, a plot) and its run.

The edit plans, `extend` and the Python API (`ditto.outpaint`, `ditto.inpaint`, `ditto.loop`, `ditto.extend`) live
in the core, `ditto.editing`; their names are re-exported here for the recipes.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing as tp
from pathlib import Path

import torch
from matplotlib.figure import Figure

from . import report
from .cli import (EXIT_FAILED, EXIT_INTERRUPTED, METHOD_ARGUMENTS, Job, Outcome, StopOnSignal, _optimize_arguments,
                  ended, search_candidates, window)
from .runs import RunFolder
from ..audio import write_audio
from ..editing import (MAX_WINDOWS, NATIVE_METHODS, EditPlan, Extension, encode_reference, extend, load_reference,
                       plan_inpaint, plan_loop, plan_outpaint, slice_control)
from ..files import atomic_write, save_torch, to_bytes
from ..loading import Model


def extension_report(extension: Extension, description: str) -> dict:
    """report.json of an extend run: settings, every window's optimization and every join's seam before/after."""
    rate = extension.sample_rate
    worst = {when: max((join["seam_jump"][when] for join in extension.joins), default=None)
             for when in ("before", "after")}
    return {"edit": "extend", "objective": description, "method": extension.settings.get("method", "ditto"),
            "settings": extension.settings, "metrics": piece_metrics(extension),
            "stop_reason": extension.stop_reason, "joins": extension.joins,
            "seams": {when: {"seam_jump": value} for when, value in worst.items()},  # the worst join
            "windows": [{k: v for k, v in window.items() if k != "x_T"} for window in extension.windows],
            "seconds": {"total": sum(w["seconds"]["total"] for w in extension.windows),
                        "per_window": [w["seconds"]["total"] for w in extension.windows]},
            "sample_rate": rate, "audio_seconds": extension.audio.shape[-1] / rate}


def piece_metrics(extension: Extension) -> dict:
    """{"before", "after"} metrics of the whole piece, as the experiment summary reads them: each window's metric
    (overlap reconstruction, a control's) averaged over the windows, and seam_jump, the worst join's."""
    metrics = {}
    for when in ("before", "after"):
        names = [name for window in extension.windows for name in window["metrics"].get(when, {})]
        metrics[when] = {name: float(sum(w["metrics"][when][name] for w in extension.windows
                                         if name in w["metrics"].get(when, {}))
                                     / sum(name in w["metrics"].get(when, {}) for w in extension.windows))
                         for name in dict.fromkeys(names)}
        seams = [join["seam_jump"][when] for join in extension.joins]
        if seams:
            metrics[when]["seam_jump"] = max(seams)
    return metrics


def _envelope(audio: torch.Tensor, points: int = 4000) -> torch.Tensor:
    """Peak level of the mono mixdown in `points` blocks (points,): a waveform of any length, drawn at plot size."""
    mono = audio.mean(0).abs()
    block = max(1, math.ceil(mono.shape[-1] / points))
    return torch.nn.functional.pad(mono, (0, -mono.shape[-1] % block)).reshape(-1, block).amax(-1)


def plot_extension(extension: Extension) -> bytes:
    """plot.png of an extend run: the baseline and result envelopes with every crossfade shaded, and the loss
    of each window's optimization relative to its baseline."""
    figure = Figure(figsize=(12, 7), constrained_layout=True)
    wave_axis, loss_axis = figure.subplots(2, 1, height_ratios=[3, 2])
    duration = extension.audio.shape[-1] / extension.sample_rate
    for audio, label, color in ((extension.baseline_audio, "baseline chain", "tab:gray"),
                                (extension.audio, "result", "tab:blue")):
        envelope = _envelope(audio)
        wave_axis.plot(torch.linspace(0, duration, len(envelope)), envelope, lw=0.6, color=color, label=label)
    for join in extension.joins:
        wave_axis.axvspan(*join["crossfade_s"], color="tab:orange", alpha=0.3)
    wave_axis.set_xlabel("seconds")
    wave_axis.set_title(f"extend: {len(extension.windows)} windows, crossfades shaded (peak level)")
    wave_axis.legend(loc="upper right", fontsize=7)
    for window in extension.windows:
        if not window["losses"]:  # a native render: nothing optimized
            continue
        losses = torch.tensor(window["losses"])
        loss_axis.plot(losses / losses[0], lw=1, label=f"window {window['window']} at {window['start_s']:.1f} s")
    loss_axis.set_xlabel("DITTO iteration")
    loss_axis.set_ylabel("loss / baseline loss")
    loss_axis.grid(alpha=0.3)
    if len(extension.windows) <= 12:
        loss_axis.legend(loc="upper right", fontsize=7)
    return to_bytes(lambda buffer: figure.savefig(buffer, format="png", dpi=100))


def write_extension(out: Path, extension: Extension, description: str) -> list[Path]:
    """Write an extend run into the folder `out`: edited.wav (the piece), baseline_edited.wav, report.json,
    plot.png and x_T.pt (every window's x_T (windows, latent_channels, frames) and seed); returns the paths."""
    paths = [write_audio(out / "edited.wav", extension.audio, extension.sample_rate, overwrite=True),
             write_audio(out / "baseline_edited.wav", extension.baseline_audio, extension.sample_rate, overwrite=True),
             save_torch(out / "x_T.pt", {"x_T": torch.cat([w["x_T"] for w in extension.windows]),
                                         "seeds": [w["seed"] for w in extension.windows],
                                         "settings": extension.settings})]
    report.write_json(out / "report.json", extension_report(extension, description))
    atomic_write(out / "plot.png", plot_extension(extension))
    return paths + [out / "report.json", out / "plot.png"]


@dataclasses.dataclass
class ExtendJob:
    """The extend recipe's job: the opening to continue (a path, or audio at `rate`), the control spanning the
    piece (or None) and the one-line description for report.json."""

    reference: tp.Any
    rate: int | None
    control: tp.Any
    description: str

    def run(self, args, model: Model, folder: RunFolder) -> Outcome:
        """Extend window by window (saving the chain in `folder` for --resume), write the piece and publish it.
        A window whose loss stops being finite ends it as failed, a signal as interrupted: in both the piece so
        far is written."""
        with StopOnSignal() as stop:
            extension = extend(model, self.reference, sample_rate=self.rate, seconds=args.seconds,
                               overlap_s=args.overlap, sample_size=window(args, model), control=self.control,
                               seed=args.seed, method=args.method, max_windows=args.max_windows,
                               progress=not args.quiet, should_stop=lambda: stop.requested, on_window=_print_join,
                               state_path=folder.state_path,
                               resume_from=folder.saved_state() if args.resume else None,
                               **_window_arguments(args, model, self.description))
            written = write_extension(folder.staging, extension, self.description)
            folder.publish()
        paths = [folder.out / path.name for path in written]
        seconds = sum(w["seconds"]["total"] for w in extension.windows)
        count = len(extension.windows)
        print(f"{count} window{'s' * (count != 1)} in {seconds:.1f} s; wrote {', '.join(map(str, paths))}")
        where = f"the piece so far ({extension.audio.shape[-1] / extension.sample_rate:.2f} s) is in {folder.out}"
        if extension.stop_reason == "interrupted":
            return ended(EXIT_INTERRUPTED, f"interrupted; {where}; continue it with the same command and --resume",
                         paths)
        if extension.stop_reason != "done":
            return ended(EXIT_FAILED, f"{extension.stop_reason}; {where}", paths)
        return ended(0, paths=paths)


def _window_arguments(args, model: Model, description: str) -> dict:
    """What each window's method gets from the flags: `optimize`'s arguments for DITTO, the shared ones plus
    --guidance-scale or --candidates / --time-budget for the others (the chain sets seed and window)."""
    arguments = _optimize_arguments(args, model, Job(None, description, whole_window=True))
    if args.method in ("ditto", *NATIVE_METHODS):  # native / both take optimize's arguments (native: 0 iterations)
        chosen = arguments
    else:
        chosen = {name: value for name, value in arguments.items() if name in METHOD_ARGUMENTS}
        chosen.update({"scale": args.guidance_scale} if args.method == "guidance" else
                      {"n": search_candidates(args), "time_budget_s": arguments["time_budget_s"]})
    return {name: value for name, value in chosen.items() if name not in ("seed", "sample_size", "seconds_total")}


def _print_join(join: dict) -> None:
    seam, mse = join["seam_jump"], join["reconstruction_mse"]
    print(f"window {join['window'] + 1}/{join['of']}: join at {join['at_s']:.2f} s, seam {seam['before']:.3g} -> "
          f"{seam['after']:.3g}, overlap reconstruction {mse['before']:.3g} -> {mse['after']:.3g}", flush=True)
    if join.get("warning"):
        print(f"warning: window {join['window'] + 1}: {join['warning']}", file=sys.stderr, flush=True)


__all__ = ["EditPlan", "ExtendJob", "Extension", "MAX_WINDOWS", "encode_reference", "extend", "extension_report", "load_reference",
           "piece_metrics", "plan_inpaint", "plan_loop", "plan_outpaint", "plot_extension",
           "slice_control", "write_extension"]
