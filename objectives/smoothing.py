"""Savitzky–Golay smoothing (Savitzky & Golay 1964) as a differentiable conv1d, and target-curve resampling."""

from __future__ import annotations

import functools

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F


def savgol_window(seconds: float, sample_rate: int, hop_length: int, polyorder: int) -> int:
    """Odd Savitzky–Golay window length in frames covering about `seconds`, and longer than polyorder."""
    frames = int(round(seconds * sample_rate / hop_length))
    shortest = polyorder + 1 if polyorder % 2 == 0 else polyorder + 2  # odd and > polyorder
    window = max(frames, shortest)
    return window if window % 2 == 1 else window + 1


@functools.lru_cache(maxsize=64)
def _savgol_kernel(window: int, polyorder: int) -> torch.Tensor:
    # use="dot" orders the taps for a correlation, which is what conv1d computes.
    return torch.from_numpy(scipy.signal.savgol_coeffs(window, polyorder, use="dot").astype(np.float64))


def savgol_smooth(x: torch.Tensor, window: int, polyorder: int, dim: int = -1) -> torch.Tensor:
    """Savitzky–Golay smoothing of x along dim; the ends are padded by repeating the edge values."""
    moved = x.movedim(dim, -1)
    rows = moved.reshape(-1, 1, moved.shape[-1])  # (rows, 1, length)
    kernel = _savgol_kernel(window, polyorder).to(device=x.device, dtype=x.dtype)
    padded = F.pad(rows, (window // 2, window // 2), mode="replicate")
    smoothed = F.conv1d(padded, kernel.view(1, 1, window))
    return smoothed.reshape(moved.shape).movedim(-1, dim)


def savgol_smooth_2d(x: torch.Tensor, window: int, polyorder: int) -> torch.Tensor:
    """Separable 2-D Savitzky–Golay smoothing over the last two dims (the same 1-D filter along each axis)."""
    return savgol_smooth(savgol_smooth(x, window, polyorder, dim=-1), window, polyorder, dim=-2)


def interpolate_curve(values: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Linear interpolation of values (..., points) spread evenly over a clip onto num_frames frames.

    The first value lands on the first frame and the last value on the last frame; one value is a constant.
    """
    points = values.shape[-1]
    if points == num_frames:
        return values
    if points == 1:
        return values.expand(*values.shape[:-1], num_frames)
    if num_frames == 1:
        return values[..., :1]
    position = torch.linspace(0, points - 1, num_frames, dtype=torch.float64, device=values.device)
    left = position.floor().long().clamp(max=points - 2)
    fraction = (position - left).to(values.dtype)
    return torch.lerp(values[..., left], values[..., left + 1], fraction)
