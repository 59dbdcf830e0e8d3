"""Rhythm control: a differentiable onset-strength envelope (spectral flux of a log-mel spectrogram) vs onset pulses.

The feature is librosa.onset.onset_strength's definition (Böck & Widmer 2013 without the max filter): the mean
over 128 mel bands of the positive frame-to-frame increase of the log-power mel spectrogram, shifted by the lag and
half a window like librosa. The target is a train of Gaussian pulses at the wanted onset times (from a tempo and
meter, onset times, notes or a MIDI file, or the onsets detected in reference audio); the loss is one minus their
Pearson correlation over frames (the envelope smoothed by the same Gaussian). The metric detects onsets in the
audio with librosa's peak picker on the same envelope and scores them against the target onsets with
mir_eval.onset.f_measure (a match within ±50 ms).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch
import torch.nn.functional as F

from .base import (Objective, as_audio_batch, check_sample_rate, finite_curve, is_number, power_spectrogram,
                   single_reference)
from .melody import check_notes, notes_from_midi, parse_notes
from .metrics import declare_metric

ONSET_F1 = declare_metric(
    "onset_f1", higher_is_better=True, unit="F-measure (0-1)",
    description="mir_eval onset F-measure (±50 ms) of the onsets detected in the output against the target onsets")


@dataclasses.dataclass(frozen=True)
class RhythmConfig:
    """Hyperparameters of the rhythm feature; n_fft, hop_length, n_mels and top_db are librosa's defaults."""

    n_fft: int = 2048  # STFT size (periodic Hann window)
    hop_length: int = 512  # samples between frame centres (86 frames/s at 44.1 kHz)
    n_mels: int = 128  # Slaney mel bands, 0 Hz to Nyquist
    top_db: float = 80.0  # power_to_db floor below the clip's loudest mel bin
    pulse_s: float = 0.02  # standard deviation of a target onset pulse in seconds
    window_s: float = 0.05  # metric: an onset within ± this many seconds of a target onset is a hit (mir_eval)
    merge_s: float = 0.03  # targets: onsets closer than this to the previous one are one onset

    def __post_init__(self):
        for name in ("n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive integer")
        for name in ("top_db", "pulse_s", "window_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive number")
        if not self.merge_s >= 0:
            raise ValueError(f"merge_s {self.merge_s} is invalid; expected 0 or a positive number of seconds")


@functools.lru_cache(maxsize=16)
def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, device: str) -> torch.Tensor:
    filterbank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)  # (n_mels, n_fft // 2 + 1)
    return torch.from_numpy(filterbank).float().to(device)


def onset_strength(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    top_db: float = 80.0,
) -> torch.Tensor:
    """Onset-strength envelope (batch, frames) of the mono mixdown, as librosa.onset.onset_strength(y, sr) computes it.

    Log-power mel spectrogram (power_to_db, ref 1, amin 1e-10, top_db below each clip's maximum), positive
    difference between consecutive frames, mean over mel bands, then shifted right by 1 + n_fft // (2 hop) frames
    (zeros in front) and trimmed to the spectrogram's frames = 1 + samples // hop_length.
    """
    sample_rate = check_sample_rate(sample_rate)
    x = as_audio_batch(audio).mean(dim=1)  # (batch, samples)
    with torch.autocast(x.device.type, enabled=False):
        power = power_spectrogram(x, n_fft, hop_length)  # (batch, freqs, frames)
        mel = torch.einsum("mf,bft->bmt", _mel_filterbank(sample_rate, n_fft, n_mels, str(x.device)).to(power), power)
        log_mel = 10.0 * torch.log10(mel.clamp_min(1e-10))  # (batch, mels, frames)
        log_mel = torch.maximum(log_mel, log_mel.amax(dim=(1, 2), keepdim=True) - top_db)
        flux = F.relu(log_mel[..., 1:] - log_mel[..., :-1]).mean(dim=1)  # (batch, frames - 1)
        shift = 1 + n_fft // (2 * hop_length)
        return F.pad(flux, (shift, 0))[..., :log_mel.shape[-1]]


def rhythm_envelope(audio: torch.Tensor, sample_rate: int, config: RhythmConfig | None = None) -> torch.Tensor:
    """The rhythm feature: onset_strength with config's settings. (batch, frames)."""
    config = config or RhythmConfig()
    return onset_strength(audio, sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                          n_mels=config.n_mels, top_db=config.top_db)


def detect_onsets(envelope: torch.Tensor, sample_rate: int, hop_length: int = 512) -> list[np.ndarray]:
    """Onset times in seconds per clip: librosa.onset.onset_detect's peak picking on each row of (batch, frames)."""
    rows = envelope.detach().cpu().double().numpy()
    return [librosa.onset.onset_detect(onset_envelope=row, sr=sample_rate, hop_length=hop_length, units="time")
            for row in rows]


def merge_onsets(times: Iterable[float], merge_s: float = 0.03) -> np.ndarray:
    """Sorted onset times with any onset closer than merge_s to the previous kept one dropped."""
    kept: list[float] = []
    for time_s in sorted(float(t) for t in times):
        if not kept or time_s - kept[-1] >= merge_s:
            kept.append(time_s)
    return np.asarray(kept, dtype=np.float64)


MIN_ONSET_SPACING_S = 0.01  # the densest onset grid: closer onsets are one onset to the metric (±50 ms)
MAX_GRID_S = 3600.0  # the longest onset grid laid out


def tempo_onsets(bpm: float, duration_s: float, *, beats_per_bar: int = 4, subdivision: int = 1,
                 offset_s: float = 0.0, accent: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Onset times and accents of a metric grid: subdivision onsets per beat from offset_s to duration_s.

    Downbeats (the first beat of each bar) get accent 1, other beats `accent`, subdivisions between beats
    accent² (a 4/4 bar at subdivision 2 reads 1, .36, .6, .36, .6, .36, .6, .36 with the default).
    """
    if not is_number(bpm) or not 1 <= bpm <= 1000:
        raise ValueError(f"tempo {bpm!r} bpm is invalid; expected a number of beats per minute in 1..1000")
    for name, value in (("beats_per_bar", beats_per_bar), ("subdivision", subdivision)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} {value!r} is invalid; expected an integer ≥ 1")
    if not is_number(duration_s) or not 0 < duration_s <= MAX_GRID_S:
        raise ValueError(f"duration_s {duration_s!r} is invalid; expected seconds in (0, {MAX_GRID_S:g}]")
    if not is_number(offset_s) or not 0 <= offset_s < duration_s:
        raise ValueError(f"offset_s {offset_s!r} is invalid; expected seconds in [0, {duration_s})")
    if not is_number(accent) or not 0 < accent <= 1:
        raise ValueError(f"accent {accent!r} is invalid; expected a number in (0, 1]")
    finest = max(1, int(60.0 / bpm / MIN_ONSET_SPACING_S + 1e-9))  # the finest subdivision at this tempo
    if subdivision > finest:
        raise ValueError(f"subdivision {subdivision!r} is invalid at {bpm:g} bpm: onsets would be "
                         f"{60.0 / bpm / subdivision:.3g} s apart; expected an integer in 1..{finest} (onsets at "
                         f"least {MIN_ONSET_SPACING_S:g} s apart)")
    step_s = 60.0 / bpm / subdivision
    index = np.arange(int(math.floor((duration_s - offset_s) / step_s + 1e-9)) + 1)
    times = offset_s + index * step_s
    on_beat = index % subdivision == 0
    downbeat = on_beat & ((index // subdivision) % beats_per_bar == 0)
    accents = np.where(downbeat, 1.0, np.where(on_beat, accent, accent ** 2))
    return times, accents


def onset_pulses(times_s: np.ndarray, accents: np.ndarray, num_frames: int, sample_rate: int, hop_length: int,
                 pulse_s: float) -> torch.Tensor:
    """Target curve (frames,): at each frame centre, the largest accent × Gaussian(pulse_s) of the onsets' distances.

    Pulses sit one frame (the flux lag) after each onset, where onset_strength peaks for a sharp attack.
    """
    centre_s = np.arange(num_frames) * hop_length / sample_rate - hop_length / sample_rate  # (frames,)
    times_s, accents = np.asarray(times_s), np.asarray(accents)
    near = (times_s > centre_s[0] - 10 * pulse_s) & (times_s < centre_s[-1] + 10 * pulse_s)  # the rest add < 1e-21
    times_s, accents = times_s[near], accents[near]
    if len(times_s) == 0:
        return torch.zeros(num_frames, dtype=torch.float64)
    distance = (centre_s[:, None] - times_s[None, :]) / pulse_s  # (frames, onsets in the clip)
    curve = (accents[None, :] * np.exp(-0.5 * distance ** 2)).max(axis=1)
    return torch.from_numpy(curve)


def check_onsets(times_s: Any, accents: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Onset times (≥ 0 s, finite, sorted) and accents in (0, 1] (default 1 each) as float64 arrays."""
    times = finite_curve(times_s, "onset times").numpy()
    if (times < 0).any():
        raise ValueError(f"onset time {float(times[times < 0][0])} s is invalid; expected times of 0 s or later")
    weights = np.ones_like(times) if accents is None else finite_curve(accents, "onset accents").numpy()
    if weights.shape != times.shape:
        raise ValueError(f"onset accents have {len(weights)} values for {len(times)} onsets; expected one per onset")
    if ((weights <= 0) | (weights > 1)).any():
        raise ValueError(f"onset accents {weights.tolist()} are invalid; expected numbers in (0, 1]")
    order = np.argsort(times, kind="stable")
    return times[order], weights[order]


def gaussian_smooth(x: torch.Tensor, sigma_frames: float) -> torch.Tensor:
    """x (batch, frames) convolved along frames with a unit-sum Gaussian of sigma_frames (zero padding)."""
    half = max(int(math.ceil(3.0 * sigma_frames)), 1)
    taps = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma_frames) ** 2)
    return F.conv1d(F.pad(x[:, None], (half, half)), (kernel / kernel.sum()).view(1, 1, -1))[:, 0]


def pearson(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of x (batch, frames) with y (frames,) along the last dim; (batch,)."""
    x = x - x.mean(dim=-1, keepdim=True)
    y = y - y.mean()
    return (x * y).sum(dim=-1) / torch.sqrt(x.pow(2).sum(dim=-1) * y.pow(2).sum() + eps)


class Rhythm(Objective):
    """Rhythm objective: 1 - Pearson correlation between the onset-strength envelope and target onset pulses.

    The envelope is smoothed by the pulses' Gaussian before the correlation, so a sharp attack on time scores
    near 0 and one a few frames off still has a gradient towards the target.

    onsets_s: target onset times in seconds (onsets past the clip end are ignored); accents: optional weights
    in (0, 1] per onset (pulse heights). metric: {"onset_f1": mir_eval onset F-measure in [0, 1] of the onsets
    detected in the audio against the target onsets inside the clip, ±config.window_s}.
    """

    def __init__(self, onsets_s: Any, *, accents: Any = None, config: RhythmConfig | None = None):
        self.config = config or RhythmConfig()
        times, weights = check_onsets(onsets_s, accents)
        keep = np.isin(times, merge_onsets(times, self.config.merge_s))
        self.onsets_s, self.accents = times[keep], weights[keep]
        self._targets: dict[tuple[int, int], torch.Tensor] = {}

    @classmethod
    def from_tempo(cls, bpm: float, *, beats_per_bar: int = 4, subdivision: int = 1, offset_s: float = 0.0,
                   accent: float = 0.6, duration_s: float = 600.0, config: RhythmConfig | None = None) -> Rhythm:
        """Target = a metric grid at bpm (see tempo_onsets), laid out over duration_s (longer than any clip)."""
        times, accents = tempo_onsets(bpm, duration_s, beats_per_bar=beats_per_bar, subdivision=subdivision,
                                      offset_s=offset_s, accent=accent)
        return cls(times, accents=accents, config=config)

    @classmethod
    def from_notes(cls, notes: str | Iterable[Any], *, config: RhythmConfig | None = None) -> Rhythm:
        """Target = the note starts of (start_s, end_s, midi_pitch) notes or of a text list "C4:0.5 r:0.25 G4:1"."""
        notes = parse_notes(notes) if isinstance(notes, str) else check_notes(notes)
        return cls([note.start_s for note in notes], config=config)

    @classmethod
    def from_midi(cls, path: str | Path, *, include_drums: bool = True, config: RhythmConfig | None = None) -> Rhythm:
        """Target = the note starts of every track of a MIDI file, drums (channel 10) included by default."""
        return cls([note.start_s for note in notes_from_midi(path, include_drums=include_drums)], config=config)

    @classmethod
    def from_audio(cls, audio: Any, sample_rate: int, *, config: RhythmConfig | None = None) -> Rhythm:
        """Target = the onsets detected in the reference clip (detect_onsets on its rhythm_envelope).

        Detected peaks trail the attack by one frame (the flux lag), so the targets are one frame earlier.
        """
        config = config or RhythmConfig()
        sample_rate = check_sample_rate(sample_rate)
        reference = single_reference(audio, config.n_fft)
        times = detect_onsets(rhythm_envelope(reference, sample_rate, config), sample_rate, config.hop_length)[0]
        if len(times) == 0:
            raise ValueError("reference audio has no detectable onsets; expected audio with note or drum attacks")
        return cls(np.maximum(times - config.hop_length / sample_rate, 0.0), config=config)

    def targets(self, num_frames: int, sample_rate: int) -> torch.Tensor:
        """Target pulse curve (frames,) for a clip with num_frames envelope frames."""
        key = (num_frames, sample_rate)
        if key not in self._targets:
            self._targets[key] = onset_pulses(self.onsets_s, self.accents, num_frames, sample_rate,
                                              self.config.hop_length, self.config.pulse_s)
        return self._targets[key]

    def _envelope_and_targets(self, audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        envelope = rhythm_envelope(audio, sample_rate, self.config)  # (batch, frames)
        target = self.targets(envelope.shape[-1], check_sample_rate(sample_rate)).to(envelope)  # (frames,)
        if not float(target.max()) > 0.5 * float(self.accents.min()):
            raise ValueError(f"rhythm target has no onsets within the clip's {envelope.shape[-1]} frames (first "
                             f"onset at {self.onsets_s[0]:.3f} s); expected onsets inside the clip")
        return envelope, target

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        envelope, target = self._envelope_and_targets(audio, sample_rate)
        sigma_frames = self.config.pulse_s * sample_rate / self.config.hop_length
        return 1.0 - pearson(gaussian_smooth(envelope, sigma_frames), target)

    def reference_onsets(self, duration_s: float) -> np.ndarray:
        """Target onset times inside a clip of duration_s seconds (those the metric scores against)."""
        return self.onsets_s[self.onsets_s < duration_s]

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        import mir_eval  # imported here: only the metric needs it

        with torch.no_grad():
            envelope, _ = self._envelope_and_targets(audio, sample_rate)
            reference = self.reference_onsets(as_audio_batch(audio).shape[-1] / sample_rate)
            with warnings.catch_warnings():  # mir_eval warns about an empty onset list, which scores 0
                warnings.simplefilter("ignore")
                scores = [mir_eval.onset.f_measure(reference, estimated, window=self.config.window_s)[0]
                          for estimated in detect_onsets(envelope, sample_rate, self.config.hop_length)]
            return {ONSET_F1.name: float(np.mean(scores))}

    def __repr__(self) -> str:
        return f"Rhythm({len(self.onsets_s)} onsets, first at {self.onsets_s[0]:.2f} s)"
