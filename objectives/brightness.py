"""Brightness control: the spectral-centroid curve, in semitones (log frequency), against a target curve.

The feature is librosa.feature.spectral_centroid's definition: per STFT frame, the magnitude-weighted mean of the
bin frequencies. The loss works on its logarithm, 69 + 12·log2(centroid / 440 Hz) (the MIDI scale, so an octave
is 12 whatever the register), smoothed like the intensity curve by a short Savitzky–Golay filter; it is the MSE
in semitones² against the target, which is a named shape between two frequencies, a curve in Hz, or the
reference clip's own curve. metric: {"centroid_mse_st2": that MSE}.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import torch

from .base import (Objective, as_audio_batch, check_sample_rate, finite_curve, is_number, power_spectrogram,
                   single_reference)
from .intensity import shape_curve
from .smoothing import interpolate_curve, savgol_smooth, savgol_window
from .metrics import declare_metric

BrightnessShape = Literal["brighter", "darker", "swell", "dip", "pulse"]
BRIGHTNESS_SHAPES: tuple[str, ...] = ("brighter", "darker", "swell", "dip", "pulse")
SILENCE = 1e-5  # a reference whose peak is at most this (-100 dBFS) has no centroid to follow
_INTENSITY_SHAPE = {"brighter": "crescendo", "darker": "decrescendo", "swell": "swell", "dip": "swell",
                    "pulse": "pulse"}


CENTROID_MSE = declare_metric(
    "centroid_mse_st2", higher_is_better=False, unit="semitones²",
    description="MSE between the output's smoothed log spectral centroid and the target curve")

@dataclasses.dataclass(frozen=True)
class BrightnessConfig:
    """Hyperparameters of the brightness feature; n_fft and hop_length are librosa's defaults."""

    n_fft: int = 2048  # STFT size (periodic Hann window)
    hop_length: int = 512  # samples between frame centres (86 frames/s at 44.1 kHz)
    smoothing_s: float = 0.25  # Savitzky–Golay window in seconds over the semitone curve
    polyorder: int = 2  # Savitzky–Golay polynomial order
    magnitude_floor: float = 1e-8  # added under the square root of each bin's power: finite gradients at silence

    def __post_init__(self):
        for name in ("n_fft", "hop_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive number of samples")
        if not self.smoothing_s > 0:
            raise ValueError(f"smoothing_s {self.smoothing_s} is invalid; expected a positive duration in seconds")
        if self.polyorder < 0:
            raise ValueError(f"polyorder {self.polyorder} is invalid; expected 0 or more")


def hz_to_semitones(hz: torch.Tensor) -> torch.Tensor:
    """Frequency in Hz as semitones on the MIDI scale: 69 + 12·log2(hz / 440) (440 Hz = 69, 880 Hz = 81)."""
    return 69.0 + 12.0 * torch.log2(hz / 440.0)


def semitones_to_hz(semitones: torch.Tensor) -> torch.Tensor:
    """Inverse of hz_to_semitones."""
    return 440.0 * 2.0 ** ((semitones - 69.0) / 12.0)


def spectral_centroid(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    magnitude_floor: float = 1e-8,
) -> torch.Tensor:
    """Spectral centroid in Hz (batch, frames) of the mono mixdown, as librosa.feature.spectral_centroid(y, sr).

    Σ_f freq_f · |X_ft| / Σ_f |X_ft| on a periodic-Hann STFT with center=True constant padding; frames =
    1 + samples // hop_length. |X| is sqrt(power + magnitude_floor²), so silent frames read sample_rate / 4.
    """
    sample_rate = check_sample_rate(sample_rate)
    x = as_audio_batch(audio).mean(dim=1)  # (batch, samples)
    with torch.autocast(x.device.type, enabled=False):
        magnitude = torch.sqrt(power_spectrogram(x, n_fft, hop_length) + magnitude_floor ** 2)  # (batch, freqs, frames)
        freqs = torch.linspace(0.0, sample_rate / 2.0, magnitude.shape[1], dtype=x.dtype, device=x.device)
        return torch.einsum("f,bft->bt", freqs, magnitude) / magnitude.sum(dim=1)


def brightness_st(audio: torch.Tensor, sample_rate: int, config: BrightnessConfig | None = None) -> torch.Tensor:
    """The brightness feature: spectral centroid in semitones (hz_to_semitones), Savitzky–Golay smoothed.

    Returns (batch, frames).
    """
    config = config or BrightnessConfig()
    sample_rate = check_sample_rate(sample_rate)
    centroid = spectral_centroid(audio, sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                                 magnitude_floor=config.magnitude_floor)  # (batch, frames)
    window = savgol_window(config.smoothing_s, sample_rate, config.hop_length, config.polyorder)
    with torch.autocast(centroid.device.type, enabled=False):
        return savgol_smooth(hz_to_semitones(centroid), window, config.polyorder)


def brightness_shape(shape: str, low_hz: float, high_hz: float, *, cycles: int = 4,
                     num_points: int = 257) -> torch.Tensor:
    """A named centroid curve in Hz, num_points values spread over the clip, geometric between low_hz and high_hz.

    brighter: low→high; darker: high→low; swell: low→high at the middle→low; dip: high→low at the
    middle→high; pulse: `cycles` raised-cosine rises starting and ending at low. Interpolated in semitones
    (log frequency).
    """
    if shape not in BRIGHTNESS_SHAPES:
        raise ValueError(f"unknown brightness shape {shape!r}; expected one of {', '.join(BRIGHTNESS_SHAPES)}")
    for name, value in (("low_hz", low_hz), ("high_hz", high_hz)):
        if not is_number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} {value!r} is invalid; expected a positive number of Hz")
    if low_hz >= high_hz:
        raise ValueError(f"low_hz {low_hz} must be below high_hz {high_hz}")
    low_st, high_st = (float(hz_to_semitones(torch.tensor(float(v), dtype=torch.float64))) for v in (low_hz, high_hz))
    curve = shape_curve(_INTENSITY_SHAPE[shape], low_st, high_st, cycles=cycles, num_points=num_points)
    if shape == "dip":
        curve = low_st + high_st - curve
    return semitones_to_hz(curve)


class Brightness(Objective):
    """Brightness objective: MSE in semitones² between the smoothed log spectral centroid and a target curve.

    target_hz: centroid values in Hz spread evenly over the clip, interpolated in semitones onto the feature
    frames, whatever the clip length. metric: {"centroid_mse_st2": that MSE averaged over the batch}.
    """

    def __init__(self, target_hz: Any, *, config: BrightnessConfig | None = None):
        target_hz = finite_curve(target_hz, "brightness target_hz")
        if (target_hz <= 0).any():
            raise ValueError(f"brightness target_hz has value {float(target_hz[target_hz <= 0][0])}; "
                             "expected positive frequencies in Hz")
        self.target_hz = target_hz.float()  # (points,)
        self.target_st = hz_to_semitones(target_hz).float()  # (points,)
        self.config = config or BrightnessConfig()

    @classmethod
    def from_shape(cls, shape: BrightnessShape, low_hz: float = 500.0, high_hz: float = 4000.0, *, cycles: int = 4,
                   config: BrightnessConfig | None = None) -> Brightness:
        """Target = a named curve between low_hz and high_hz (see brightness_shape for the shapes)."""
        return cls(brightness_shape(shape, low_hz, high_hz, cycles=cycles), config=config)

    @classmethod
    def from_audio(cls, audio: Any, sample_rate: int, *, config: BrightnessConfig | None = None) -> Brightness:
        """Target = the reference clip's own smoothed centroid curve (brightness_st of its mono mixdown)."""
        config = config or BrightnessConfig()
        reference = single_reference(audio, config.n_fft)
        if not float(reference.abs().max()) > SILENCE:
            raise ValueError(f"reference audio is silent (peak {float(reference.abs().max()):.3g}): it has no spectral "
                             f"centroid to follow; expected audio with sound (peak above {SILENCE:g})")
        return cls(semitones_to_hz(brightness_st(reference, sample_rate, config)[0].double()), config=config)

    def targets(self, num_frames: int) -> torch.Tensor:
        """Target curve in semitones (frames,) for a clip with num_frames feature frames."""
        return interpolate_curve(self.target_st, num_frames)

    def check_rate(self, sample_rate: int) -> None:
        """Refuse a target the audio cannot reach: a centroid lies in (0, Nyquist) of `sample_rate`."""
        nyquist = check_sample_rate(sample_rate) / 2
        if float(self.target_hz.max()) >= nyquist:
            raise ValueError(f"brightness target {float(self.target_hz.max()):g} Hz is invalid for {sample_rate} Hz "
                             f"audio; expected centroid targets in (0, {nyquist:g}) Hz (below the Nyquist frequency)")

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.check_rate(sample_rate)
        centroid_st = brightness_st(audio, sample_rate, self.config)  # (batch, frames)
        target_st = self.targets(centroid_st.shape[-1]).to(centroid_st)  # (frames,)
        return (centroid_st - target_st).pow(2).mean(dim=-1)

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        with torch.no_grad():
            return {CENTROID_MSE.name: float(self(audio, sample_rate).mean())}

    def __repr__(self) -> str:
        low, high = float(self.target_hz.min()), float(self.target_hz.max())
        return f"Brightness({len(self.target_hz)} points, {low:.0f}..{high:.0f} Hz)"
