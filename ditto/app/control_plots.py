"""Plots of the rhythm, brightness and pitch controls: target vs baseline vs result, each in its objective's feature.

Like `report.plot_intensity`, each function takes the objective and returns `plot(figure, cell, result)`, which
`report.write_run` calls to fill the top row of plot.png (the loss curve goes below it).
"""

from __future__ import annotations

import numpy as np
import torch

import objectives

from ..optimize import Result
from .report import _seconds_axis

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
