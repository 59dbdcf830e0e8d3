"""Intensity control (DITTO §4, after Music ControlNet): smoothed frame loudness in dB against a target curve."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .base import Objective, check_sample_rate, finite_curve, mono, single_reference
from .smoothing import interpolate_curve, savgol_smooth, savgol_window
from .metrics import declare_metric

Shape = Literal["crescendo", "decrescendo", "swell", "fade-in", "fade-out", "pulse"]
SHAPES: tuple[str, ...] = ("crescendo", "decrescendo", "swell", "fade-in", "fade-out", "pulse")

INTENSITY_MSE = declare_metric(
    "intensity_mse_db2", higher_is_better=False, unit="dB²",
    description="MSE between the output's smoothed loudness curve and the target curve (DITTO's intensity metric)")


@dataclasses.dataclass(frozen=True)
class IntensityConfig:
    """Hyperparameters of the intensity feature."""

    frame_length: int = 2048  # samples per RMS frame (librosa.feature.rms default; 46 ms at 44.1 kHz)
    hop_length: int = 512  # samples between frame centres (86 frames/s at 44.1 kHz)
    smoothing_s: float = 1.0  # Savitzky–Golay window in seconds (DITTO: ~1 s)
    polyorder: int = 2  # Savitzky–Golay polynomial order (keeps swells rounder than a moving average)
    floor_db: float = -100.0  # level of digital silence: 10**(floor_db/10) is added to the mean square

    def __post_init__(self):
        for name in ("frame_length", "hop_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive number of samples")
        if not self.smoothing_s > 0:
            raise ValueError(f"smoothing_s {self.smoothing_s} is invalid; expected a positive duration in seconds")
        if self.polyorder < 0:
            raise ValueError(f"polyorder {self.polyorder} is invalid; expected 0 or more")


def rms_db(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    frame_length: int = 2048,
    hop_length: int = 512,
    floor_db: float = -100.0,
) -> torch.Tensor:
    """Frame RMS level in dB of the mono mixdown, framed like librosa.feature.rms(center=True, pad_mode="constant").

    Computed as 10·log10(mean square + 10**(floor_db/10)), i.e. 20·log10(rms) with a smooth floor at floor_db:
    silent frames read floor_db and keep finite gradients. Returns (batch, frames), frames = 1 + samples // hop.
    """
    check_sample_rate(sample_rate)
    x = mono(audio)  # (batch, samples)
    with torch.autocast(x.device.type, enabled=False):
        padded = F.pad(x, (frame_length // 2, frame_length // 2))  # zeros, like librosa center=True
        frames = padded.unfold(-1, frame_length, hop_length)  # (batch, frames, frame_length)
        mean_square = frames.pow(2).mean(dim=-1)  # (batch, frames)
        return 10.0 * torch.log10(mean_square + 10.0 ** (floor_db / 10.0))


def intensity_db(audio: torch.Tensor, sample_rate: int, config: IntensityConfig | None = None) -> torch.Tensor:
    """DITTO intensity feature: frame RMS in dB smoothed by a Savitzky–Golay filter over ~1 s. (batch, frames)."""
    config = config or IntensityConfig()
    sample_rate = check_sample_rate(sample_rate)
    level_db = rms_db(
        audio,
        sample_rate,
        frame_length=config.frame_length,
        hop_length=config.hop_length,
        floor_db=config.floor_db,
    )  # (batch, frames)
    window = savgol_window(config.smoothing_s, sample_rate, config.hop_length, config.polyorder)
    with torch.autocast(level_db.device.type, enabled=False):
        return savgol_smooth(level_db, window, config.polyorder)


def shape_curve(shape: str, low_db: float, high_db: float, *, cycles: int = 4, num_points: int = 257) -> torch.Tensor:
    """A named dynamics curve in dB, num_points values spread over the clip.

    crescendo: low→high linearly; decrescendo: high→low; swell: low→high at the middle→low;
    fade-in: low→high over the first quarter, then high; fade-out: high until the last quarter, then →low;
    pulse: `cycles` raised-cosine swells starting and ending at low.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown intensity shape {shape!r}; expected one of {', '.join(SHAPES)}")
    for name, value in (("low_db", low_db), ("high_db", high_db)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise ValueError(f"{name} {value!r} is invalid; expected a finite number of dB")
    if low_db >= high_db:
        raise ValueError(f"low_db {low_db} must be below high_db {high_db}")
    if cycles < 1:
        raise ValueError(f"cycles {cycles} is invalid; expected 1 or more")
    u = torch.linspace(0.0, 1.0, num_points, dtype=torch.float64)  # position in the clip
    if shape == "crescendo":
        level = u
    elif shape == "decrescendo":
        level = 1.0 - u
    elif shape == "swell":
        level = 1.0 - (2.0 * u - 1.0).abs()
    elif shape == "fade-in":
        level = (u / 0.25).clamp(max=1.0)
    elif shape == "fade-out":
        level = ((1.0 - u) / 0.25).clamp(max=1.0)
    else:
        level = 0.5 - 0.5 * torch.cos(2.0 * math.pi * cycles * u)
    return low_db + (high_db - low_db) * level


class Intensity(Objective):
    """Intensity objective (DITTO): MSE in dB² between the smoothed loudness (intensity_db) and a target curve.

    target_db: dB values spread evenly over the clip, linearly interpolated onto the feature frames,
    whatever the clip length. metric: {"intensity_mse_db2": that MSE averaged over the batch}.
    """

    def __init__(self, target_db: Any, *, config: IntensityConfig | None = None):
        self.target_db = finite_curve(target_db, "intensity target_db").float()  # (points,)
        self.config = config or IntensityConfig()

    @classmethod
    def from_shape(
        cls,
        shape: Shape,
        low_db: float = -40.0,
        high_db: float = -10.0,
        *,
        cycles: int = 4,
        config: IntensityConfig | None = None,
    ) -> Intensity:
        """Target = a named curve between low_db and high_db (see shape_curve for the shapes)."""
        return cls(shape_curve(shape, low_db, high_db, cycles=cycles), config=config)

    @classmethod
    def from_audio(cls, audio: Any, sample_rate: int, *, config: IntensityConfig | None = None) -> Intensity:
        """Target = the reference clip's own smoothed loudness curve (intensity_db of its mono mixdown)."""
        config = config or IntensityConfig()
        reference = single_reference(audio, config.frame_length)
        return cls(intensity_db(reference, sample_rate, config)[0], config=config)

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        loudness_db = intensity_db(audio, sample_rate, self.config)  # (batch, frames)
        target_db = interpolate_curve(self.target_db.to(loudness_db), loudness_db.shape[-1])  # (frames,)
        return (loudness_db - target_db).pow(2).mean(dim=-1)

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        with torch.no_grad():
            return {INTENSITY_MSE.name: float(self(audio, sample_rate).mean())}

    def __repr__(self) -> str:
        low, high = float(self.target_db.min()), float(self.target_db.max())
        return f"Intensity({len(self.target_db)} points, {low:.1f}..{high:.1f} dB)"
