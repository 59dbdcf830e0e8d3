"""Editing losses (DITTO §4: outpainting, inpainting, looping) on latents: LatentMatch and SelfLoop.

LatentMatch is a masked MSE against a reference clip's aligned latents (masks come from objectives.masks);
SelfLoop makes a clip's last latent frames repeat its first. Both are LatentObjectives (objectives.domains):
called as obj(latents (batch, latent_channels, frames), frame_rate), so the optimizer needs no decoder backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .base import check_count
from .domains import LatentObjective, as_latent_batch, check_frame_rate
from .metrics import declare_metric

RECONSTRUCTION_MSE = declare_metric(
    "reconstruction_mse", higher_is_better=False, unit="latent units²",
    description="masked MSE between the output's latents and the reference's aligned latents")
LOOP_MSE = declare_metric(
    "loop_mse", higher_is_better=False, unit="latent units²",
    description="MSE between the last overlap latent frames and the first ones (reference-free looping)")


def _as_cpu_tensor(value: Any, name: str) -> torch.Tensor:
    """A detached CPU float32 tensor of value (a tensor, array or nested sequence of numbers)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float()
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float32))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} {value!r} is not an array of numbers: {error}") from None


def _match_target(target: Any) -> torch.Tensor:
    """LatentMatch's target as a finite CPU float32 tensor (latent_channels, frames); a ValueError names a bad one."""
    target = _as_cpu_tensor(target, "LatentMatch target")
    if target.ndim != 2 or 0 in target.shape:
        raise ValueError(
            f"LatentMatch target has shape {tuple(target.shape)}; expected (latent_channels, frames), both > 0"
        )
    bad = (~torch.isfinite(target)).nonzero()
    if len(bad):
        channel, frame = (int(i) for i in bad[0])
        raise ValueError(
            f"LatentMatch target has value {float(target[channel, frame])} at channel {channel}, frame {frame}; "
            "expected finite latents"
        )
    return target


def _match_mask(mask: Any, frames: int) -> torch.Tensor:
    """LatentMatch's mask as CPU float32 weights (frames,), finite, ≥ 0 and not all zero; a ValueError names a bad one."""
    mask = _as_cpu_tensor(mask, "LatentMatch mask")
    if mask.ndim != 1 or len(mask) != frames:
        raise ValueError(
            f"LatentMatch mask has shape {tuple(mask.shape)}; expected ({frames},), one weight per target frame"
        )
    bad = (~torch.isfinite(mask) | (mask < 0)).nonzero()
    if len(bad):
        frame = int(bad[0])
        raise ValueError(
            f"LatentMatch mask has value {float(mask[frame])} at frame {frame}; expected finite weights ≥ 0"
        )
    if not (mask > 0).any():
        raise ValueError(
            f"LatentMatch mask of {len(mask)} frames is all zero; expected at least one nonzero weight"
        )
    return mask


class LatentMatch(LatentObjective):
    """Masked latent MSE (DITTO outpainting / inpainting / looping): generated latents against a reference's.

    target: (latent_channels, frames) reference latents aligned to the generated frames; mask: (frames,) weights,
    1 where the output must match (bool or float ≥ 0).
    loss = Σ_t w_t Σ_c (x_ct − target_ct)² / (Σ_t w_t · channels): for a 0/1 mask, the squared error summed over
    masked frames and channels, over (masked frames × channels); for soft weights, a weighted mean.
    Unmasked frames get no gradient. metric: {"reconstruction_mse": that loss averaged over the batch}.
    """

    def __init__(self, target: Any, mask: Any):
        self.target = _match_target(target)  # (latent_channels, frames)
        self.mask = _match_mask(mask, self.target.shape[1])  # (frames,)
        self.frames = self.mask.nonzero()[:, 0]  # (masked_frames,) indices; unmasked frames never enter the loss

    def __call__(self, latents: torch.Tensor, frame_rate: float) -> torch.Tensor:
        check_frame_rate(frame_rate)
        x = as_latent_batch(latents)  # (batch, latent_channels, frames)
        channels, frames = self.target.shape
        if x.shape[1] != channels:
            raise ValueError(f"latents have {x.shape[1]} channels but the LatentMatch target has {channels}")
        if x.shape[2] != frames:
            raise ValueError(f"latents have {x.shape[2]} frames but the LatentMatch target has {frames}; "
                             "expected the target aligned to the generated frames")
        index = self.frames.to(x.device)
        weights = self.mask.to(x)[index]  # (masked_frames,)
        error = (x[..., index] - self.target.to(x)[:, index]).pow(2).sum(dim=1)  # (batch, masked_frames)
        return (error * weights).sum(dim=-1) / (weights.sum() * channels)

    def metric(self, latents: torch.Tensor, frame_rate: float) -> dict[str, float]:
        with torch.no_grad():
            return {RECONSTRUCTION_MSE.name: float(self(latents, frame_rate).mean())}

    def __repr__(self) -> str:
        channels, frames = self.target.shape
        return f"LatentMatch({channels} channels × {frames} frames, {len(self.frames)} masked)"


class SelfLoop(LatentObjective):
    """Reference-free looping (DITTO): MSE between the last overlap_frames latent frames and the first ones.

    At loss 0 the clip cut to latents[..., : frames − overlap_frames] repeats seamlessly: what follows its end
    is its own beginning. overlap_frames must stay below half the clip. metric: {"loop_mse": the loss averaged
    over the batch}.
    """

    def __init__(self, overlap_frames: int):
        self.overlap_frames = check_count(overlap_frames, "SelfLoop overlap_frames", 1)

    def __call__(self, latents: torch.Tensor, frame_rate: float) -> torch.Tensor:
        check_frame_rate(frame_rate)
        x = as_latent_batch(latents)  # (batch, latent_channels, frames)
        overlap, frames = self.overlap_frames, x.shape[-1]
        if 2 * overlap >= frames:
            raise ValueError(
                f"SelfLoop overlap_frames {overlap} is not below half the clip of {frames} frames; "
                f"expected overlap_frames < {frames / 2:g}"
            )
        return (x[..., frames - overlap:] - x[..., :overlap]).pow(2).mean(dim=(1, 2))

    def metric(self, latents: torch.Tensor, frame_rate: float) -> dict[str, float]:
        with torch.no_grad():
            return {LOOP_MSE.name: float(self(latents, frame_rate).mean())}

    def __repr__(self) -> str:
        return f"SelfLoop({self.overlap_frames})"
