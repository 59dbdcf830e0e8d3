"""Masks in latent frames: frames_for_seconds rounds a duration to latent frames, region_mask marks a span in seconds.

The masks weight LatentMatch (1 where the output must match a reference, 0 where it is free).
"""

from __future__ import annotations

import math

import torch

from .base import check_count, check_seconds
from .domains import check_frame_rate


def frames_for_seconds(seconds: float, frame_rate: float) -> int:
    """Number of latent frames in `seconds`, rounded to the nearest frame (halves round up)."""
    seconds = check_seconds(seconds, "seconds")
    if seconds < 0:
        raise ValueError(f"seconds {seconds} is negative; expected a duration of 0 s or more")
    return math.floor(seconds * check_frame_rate(frame_rate) + 0.5)


def region_mask(num_frames: int, start_s: float, end_s: float, frame_rate: float) -> torch.Tensor:
    """Mask (frames,) float32: 1 on the latent frames of [start_s, end_s), 0 elsewhere; edges round to frames.

    The region must lie inside the clip (num_frames / frame_rate seconds) and cover at least one frame.
    """
    num_frames = check_count(num_frames, "num_frames", 1)
    frame_rate = check_frame_rate(frame_rate)
    start_s, end_s = check_seconds(start_s, "start_s"), check_seconds(end_s, "end_s")
    clip_s = num_frames / frame_rate
    if start_s < 0:
        raise ValueError(f"region start_s {start_s} s is negative; expected 0 ≤ start_s < end_s ≤ {clip_s:.3f} s")
    if end_s <= start_s:
        raise ValueError(f"region end_s {end_s} s is not after start_s {start_s} s; expected start_s < end_s")
    if end_s > clip_s + 0.5 / frame_rate:  # up to half a frame over still rounds to the last frame
        raise ValueError(
            f"region [{start_s}, {end_s}) s ends outside the clip of {clip_s:.3f} s "
            f"({num_frames} frames at {frame_rate:g} frames/s); expected end_s ≤ {clip_s:.3f} s"
        )
    start, end = frames_for_seconds(start_s, frame_rate), min(frames_for_seconds(end_s, frame_rate), num_frames)
    if end <= start:
        raise ValueError(
            f"region [{start_s}, {end_s}) s covers no latent frame at {frame_rate:g} frames/s; "
            f"expected a region at least {1 / frame_rate:.3f} s long"
        )
    mask = torch.zeros(num_frames)  # (frames,)
    mask[start:end] = 1.0
    return mask
