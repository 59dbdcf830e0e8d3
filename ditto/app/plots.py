"""The panels of a run's plot.png: the loss curve, and per recipe its feature, target against baseline and result.

Each `plot_*` takes what the recipe optimizes for (its objective, an edit plan, the init audio) and returns
`plot(figure, cell, result)`, which `report.write_run` calls to fill the top row of plot.png (the loss curve goes
below it). The features drawn are the objectives' own, so a panel shows exactly what the loss compared.
"""

from __future__ import annotations

import numpy as np
import torch

import objectives

from ..optimize import Result

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


_RUNS = (("baseline", "tab:gray"), ("result", "tab:blue"))


def _clips(result: Result) -> tuple[tuple[torch.Tensor, str, str], ...]:
    clips = (result.baseline_audio, result.audio)
    return tuple((audio[:1], label, color) for audio, (label, color) in zip(clips, _RUNS))


def plot_rhythm(objective: "objectives.Rhythm"):
    """Onset-strength envelopes of the baseline and result (normalised to their peak), the target pulses, and the
    onsets detected in each (ticks) against the target onsets (dashed lines)."""
    def plot(figure, cell, result: Result):
        axis = figure.add_subplot(cell)
        duration = result.audio.shape[-1] / result.sample_rate
        config = objective.config
        for offset, (audio, label, color) in enumerate(_clips(result)):
            envelope = objectives.rhythm_envelope(audio, result.sample_rate, config)  # (1, frames)
            frames = envelope.shape[-1]
            axis.plot(_seconds_axis(frames, duration), envelope[0] / envelope.max().clamp_min(1e-8), label=label,
                      color=color, lw=1.5)
            onsets = objectives.detect_onsets(envelope, result.sample_rate, config.hop_length)[0]
            axis.plot(onsets, np.full(len(onsets), -0.08 - 0.08 * offset), "|", color=color, ms=12,
                      label=f"{label} onsets")
        target = objective.targets(frames, result.sample_rate)
        axis.plot(_seconds_axis(frames, duration), target, label="target pulses", color="tab:red", ls="--", lw=1.5)
        for time_s in objective.reference_onsets(duration):
            axis.axvline(time_s, color="tab:red", alpha=0.25, lw=0.8)
        axis.set_xlabel("seconds")
        axis.set_ylabel("onset strength (peak = 1)")
        axis.set_title("rhythm: target onsets vs baseline vs result")
        axis.legend(loc="upper right", fontsize=7)
        axis.grid(alpha=0.3)
    return plot


def plot_brightness(objective: "objectives.Brightness"):
    """Spectral-centroid curves (smoothed, log frequency axis in Hz): target vs baseline vs result."""
    def plot(figure, cell, result: Result):
        axis = figure.add_subplot(cell)
        duration = result.audio.shape[-1] / result.sample_rate
        for audio, label, color in _clips(result):
            curve = objectives.semitones_to_hz(objectives.brightness_st(audio, result.sample_rate, objective.config)[0])
            frames = len(curve)
            axis.plot(_seconds_axis(frames, duration), curve, label=label, color=color, lw=2)
        target = objectives.semitones_to_hz(objective.targets(frames))
        axis.plot(_seconds_axis(frames, duration), target, label="target", color="tab:red", ls="--", lw=2)
        axis.set_yscale("log")
        axis.set_xlabel("seconds")
        axis.set_ylabel("spectral centroid (Hz, smoothed)")
        axis.set_title("brightness: target vs baseline vs result")
        axis.legend()
        axis.grid(alpha=0.3, which="both")
    return plot


def plot_pitch(objective: "objectives.Pitch"):
    """Pitch tracks in MIDI numbers (CREPE's decoded pitch on every frame): target notes vs baseline vs result."""
    def plot(figure, cell, result: Result):
        axis = figure.add_subplot(cell)
        duration = result.audio.shape[-1] / result.sample_rate
        for audio, label, color in _clips(result):
            activations = objectives.pitch_activations(audio, result.sample_rate, objective.config)
            midi = objectives.cents_to_midi(objectives.decode_cents(activations)[0])
            frames = len(midi)
            axis.scatter(np.arange(frames) * objective.config.hop_s, midi, s=6, color=color, label=label)
        target = objectives.cents_to_midi(objective.targets(frames))
        axis.plot(np.arange(frames) * objective.config.hop_s, target, color="tab:red", lw=3, alpha=0.6,
                  drawstyle="steps-mid", label="target")
        axis.set_xlim(0, duration)
        axis.set_xlabel("seconds")
        axis.set_ylabel("pitch (MIDI, 60 = C4)")
        axis.set_title("pitch: target vs baseline vs result (CREPE)")
        axis.legend(loc="upper right", fontsize=7)
        axis.grid(alpha=0.3)
    return plot
