"""Editing objectives (DITTO §4: outpainting, inpainting, looping): masked MSE on latents, plus audio seam metrics.

Editing losses compare the model's *latents* (VAE latent frames) with a reference clip's latents, so the
optimizer needs no backward pass through the decoder. They are latent-domain objectives:

    loss = obj(latents (batch, latent_channels, frames), frame_rate)   # frame_rate = sample_rate / 2048 for SAO

and carry ``domain = "latent"``; audio objectives (Intensity, Melody, Structure) have no ``domain`` attribute and
are audio-domain. ``domain_of(objective)`` reads the domain of any objective, weighted sums included, and raises
when one sum mixes the two. Latent objectives weight and add among themselves like audio ones
(``0.5 * LatentMatch(...) + SelfLoop(8)`` stays latent); adding an audio objective to one raises ValueError.

The seam metrics (spectral_flux, seam_jump, loop_seam_jump) work on decoded audio and say whether a join is
audible; equal_power_crossfade joins two clips.
"""

from __future__ import annotations

import abc
import math
from typing import Any, Literal

import numpy as np
import torch

from .base import (
    FunctionObjective,
    LossFn,
    MetricFn,
    Objective,
    Sum,
    Weighted,
    as_audio_batch,
    check_sample_rate,
    mono,
)

Domain = Literal["audio", "latent"]
DOMAINS: tuple[str, ...] = ("audio", "latent")


# ---------------------------------------------------------------- domains and latent-domain arithmetic


def domain_of(objective: Any) -> Domain:
    """The domain ("audio" or "latent") an objective is called in, looking inside weighted terms and sums.

    Objects without a ``domain`` attribute (the audio objectives, plain callables) are "audio". A sum whose
    terms disagree raises ValueError naming both domains: this also catches ``audio_objective + latent_objective``,
    which Objective.__add__ builds as a plain Sum without complaint.
    """
    if isinstance(objective, Sum):
        first_term: dict[str, Any] = {}  # domain -> first term in it
        for term in objective.terms:
            first_term.setdefault(domain_of(term), term)
        if len(first_term) > 1:
            raise ValueError(
                f"objective {objective!r} mixes audio-domain terms ({first_term['audio']!r}) with latent-domain "
                f"terms ({first_term['latent']!r}); expected terms of one domain"
            )
        return next(iter(first_term))  # type: ignore[return-value]
    if isinstance(objective, Joint):
        raise ValueError(f"objective {objective!r} joins audio-domain and latent-domain parts; use split_domains()")
    if isinstance(objective, Weighted):
        return domain_of(objective.objective)
    if isinstance(objective, FunctionObjective) and not isinstance(objective, LatentObjective):
        return domain_of(objective.fn)
    domain = getattr(objective, "domain", "audio")
    if domain not in DOMAINS:
        raise ValueError(f"objective {objective!r} has domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    return domain


def _check_latent(objective: Any, built: str) -> None:
    """Raise ValueError unless objective is latent-domain; built names what was being built."""
    domain = domain_of(objective)
    if domain != "latent":
        raise ValueError(
            f"{built} got the {domain}-domain objective {objective!r}; expected latent-domain terms only: "
            "audio-domain and latent-domain objectives cannot share one sum "
            "(wrap a latent loss function with LatentObjective.wrap)"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class LatentObjective(Objective):
    """A differentiable loss on latents: obj(latents (batch, latent_channels, frames), frame_rate) -> loss (batch,).

    frame_rate is latent frames per second (a float: 44100 / 2048 ≈ 21.53 for Stable Audio Open). Weighting and
    adding latent objectives gives LatentWeighted / LatentSum, which keep ``domain = "latent"``.
    """

    domain: Domain = "latent"

    @abc.abstractmethod
    def __call__(self, latents: torch.Tensor, frame_rate: float) -> torch.Tensor:
        """Loss per clip, shape (batch,), differentiable with respect to latents."""

    def metric(self, latents: torch.Tensor, frame_rate: float) -> dict[str, float]:
        """Evaluation numbers (floats averaged over the batch); objectives without one report none."""
        return {}

    @staticmethod
    def wrap(fn: LossFn, metric: MetricFn | None = None, name: str | None = None) -> LatentObjective:
        """A LatentObjective around a plain callable (latents, frame_rate) -> loss (batch,); latent objectives pass."""
        if isinstance(fn, LatentObjective):
            return fn
        if isinstance(fn, Objective):
            raise ValueError(
                f"{fn!r} is already a {domain_of(fn)}-domain Objective; expected a plain loss callable to wrap"
            )
        if not callable(fn):
            raise ValueError(f"{fn!r} is not callable; expected (latents, frame_rate) -> loss of shape (batch,)")
        return LatentFunctionObjective(fn, metric=metric, name=name)

    def __mul__(self, weight: float) -> Objective:
        if not _is_number(weight):
            return NotImplemented
        return LatentWeighted(self, weight)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Objective:
        if not _is_number(divisor):
            return NotImplemented
        if divisor == 0:
            raise ValueError("cannot divide an objective by 0; expected a non-zero number")
        return LatentWeighted(self, 1.0 / float(divisor))

    def __add__(self, other: Any) -> Objective:
        if not callable(other):
            return NotImplemented
        if domain_of(other) == "audio" and isinstance(other, Objective):
            return Joint(latent=self, audio=other)
        return LatentSum(self, other)

    def __radd__(self, other: Any) -> Objective:
        if _is_number(other) and other == 0:
            return self  # lets built-in sum() start from 0
        if not callable(other):
            return NotImplemented
        if domain_of(other) == "audio" and isinstance(other, Objective):
            return Joint(latent=self, audio=other)
        return LatentSum(other, self)


class LatentFunctionObjective(FunctionObjective, LatentObjective):
    """A LatentObjective around a plain loss callable (see LatentObjective.wrap); checks the loss has shape (batch,)."""

    def __repr__(self) -> str:
        return f"LatentObjective.wrap({self.name})"


class LatentWeighted(Weighted, LatentObjective):
    """weight × latent objective: Weighted with ``domain = "latent"``; the objective must be latent-domain."""

    def __init__(self, objective: Objective, weight: float):
        _check_latent(objective, "LatentWeighted")
        super().__init__(objective, weight)


class LatentSum(Sum, LatentObjective):
    """Sum of latent objectives: Sum with ``domain = "latent"``; an audio-domain term raises ValueError.

    Plain callables count as audio-domain (like ``getattr(fn, "domain", "audio")``) unless they carry
    ``fn.domain = "latent"``; wrap them with LatentObjective.wrap.
    """

    def __init__(self, *terms: Any):
        for term in terms:
            _check_latent(term, "LatentSum")
        super().__init__(*(term if isinstance(term, Objective) else LatentObjective.wrap(term) for term in terms))


class Joint(Objective):
    """An editing loss on latents plus a control loss on audio: loss = latent(latents) + audio(audio).

    Built by adding an audio-domain Objective to a latent-domain one (``edit + 0.025 * intensity``, the paper's
    outpainting + intensity combination) or directly. The optimizer feeds each part its own input; use
    ``split_domains`` to get the parts.
    """

    domain = "joint"

    def __init__(self, latent: Any, audio: Any):
        _check_latent(latent, "Joint(latent=...)")
        if domain_of(audio) != "audio":
            raise ValueError(f"Joint(audio=...) got the latent-domain objective {audio!r}; expected an audio-domain one")
        self.latent, self.audio = latent, Objective.wrap(audio)

    def __call__(self, *args: Any) -> torch.Tensor:
        raise TypeError("a Joint objective needs both latents and audio: call joint_loss(latents, frame_rate, "
                        "audio, sample_rate), or let ditto.optimize do it")

    def joint_loss(self, latents: torch.Tensor, frame_rate: float, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return self.latent(latents, frame_rate) + self.audio(audio, sample_rate)

    def __add__(self, other: Any) -> Objective:
        if not callable(other):
            return NotImplemented
        if isinstance(other, Joint):
            return Joint(latent=self.latent + other.latent, audio=self.audio + other.audio)
        if domain_of(other) == "latent":
            return Joint(latent=self.latent + other, audio=self.audio)
        return Joint(latent=self.latent, audio=self.audio + other)

    __radd__ = __add__

    def __mul__(self, weight: float) -> Objective:
        if not _is_number(weight):
            return NotImplemented
        return Joint(latent=self.latent * weight, audio=self.audio * weight)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Joint(latent={self.latent!r}, audio={self.audio!r})"


def split_domains(objective: Any) -> tuple[Any, Any]:
    """(latent part or None, audio part or None) of any objective: a Joint, a sum mixing domains, or one domain."""
    if isinstance(objective, Joint):
        return objective.latent, objective.audio
    if isinstance(objective, Sum) and not isinstance(objective, LatentSum):
        parts: dict[str, list] = {"latent": [], "audio": []}
        for term in objective.terms:
            latent, audio = split_domains(term)
            if latent is not None:
                parts["latent"].append(latent)
            if audio is not None:
                parts["audio"].append(audio)
        latent = LatentSum(*parts["latent"]) if parts["latent"] else None
        audio = (parts["audio"][0] if len(parts["audio"]) == 1 else Sum(*parts["audio"])) if parts["audio"] else None
        return latent, audio
    return (objective, None) if domain_of(objective) == "latent" else (None, objective)


# ---------------------------------------------------------------- argument checks


def check_frame_rate(frame_rate: Any) -> float:
    """The latent frame rate as a positive finite float (frames per second); a ValueError names anything else."""
    if not _is_number(frame_rate) or not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(
            f"frame_rate {frame_rate!r} is invalid; expected latent frames per second > 0, e.g. 44100 / 2048"
        )
    return float(frame_rate)


def as_latent_batch(latents: Any) -> torch.Tensor:
    """Latents as a float tensor (batch, latent_channels, frames); one clip (latent_channels, frames) gains a batch dim.

    Half-precision input is promoted to float32 so the squared errors are summed in full precision.
    """
    if not isinstance(latents, torch.Tensor):
        latents = torch.as_tensor(np.asarray(latents))
    if latents.ndim == 2:
        latents = latents[None]
    elif latents.ndim != 3:
        raise ValueError(
            f"latents have {latents.ndim} dims, shape {tuple(latents.shape)}; "
            "expected (batch, latent_channels, frames) or (latent_channels, frames)"
        )
    if not latents.is_floating_point():
        raise ValueError(f"latents have dtype {latents.dtype}; expected a floating-point tensor")
    if latents.dtype in (torch.float16, torch.bfloat16):
        latents = latents.float()
    if 0 in latents.shape:
        raise ValueError(f"latents have shape {tuple(latents.shape)}; batch, channels and frames must be non-empty")
    return latents


def _check_seconds(value: Any, name: str) -> float:
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} {value!r} is invalid; expected a finite number of seconds")
    return float(value)


def _as_cpu_tensor(value: Any, name: str) -> torch.Tensor:
    """A detached CPU float32 tensor of value (a tensor, array or nested sequence of numbers)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float()
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float32))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} {value!r} is not an array of numbers: {error}") from None


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} {value!r} is invalid; expected an integer ≥ {minimum}")
    return int(value)


# ---------------------------------------------------------------- masks in latent frames


def frames_for_seconds(seconds: float, frame_rate: float) -> int:
    """Number of latent frames in `seconds`, rounded to the nearest frame (halves round up)."""
    seconds = _check_seconds(seconds, "seconds")
    if seconds < 0:
        raise ValueError(f"seconds {seconds} is negative; expected a duration of 0 s or more")
    return math.floor(seconds * check_frame_rate(frame_rate) + 0.5)


def region_mask(num_frames: int, start_s: float, end_s: float, frame_rate: float) -> torch.Tensor:
    """Mask (frames,) float32: 1 on the latent frames of [start_s, end_s), 0 elsewhere; edges round to frames.

    The region must lie inside the clip (num_frames / frame_rate seconds) and cover at least one frame.
    """
    num_frames = _check_count(num_frames, "num_frames", 1)
    frame_rate = check_frame_rate(frame_rate)
    start_s, end_s = _check_seconds(start_s, "start_s"), _check_seconds(end_s, "end_s")
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


# ---------------------------------------------------------------- latent objectives


class LatentMatch(LatentObjective):
    """Masked latent MSE (DITTO outpainting / inpainting / looping): generated latents against a reference's.

    target: (latent_channels, frames) reference latents aligned to the generated frames; mask: (frames,) weights,
    1 where the output must match (bool or float ≥ 0).
    loss = Σ_t w_t Σ_c (x_ct − target_ct)² / (Σ_t w_t · channels): for a 0/1 mask, the squared error summed over
    masked frames and channels, over (masked frames × channels); for soft weights, a weighted mean.
    Unmasked frames get no gradient. metric: {"reconstruction_mse": that loss averaged over the batch}.
    """

    def __init__(self, target: Any, mask: Any):
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
        mask = _as_cpu_tensor(mask, "LatentMatch mask")
        if mask.ndim != 1 or len(mask) != target.shape[1]:
            raise ValueError(
                f"LatentMatch mask has shape {tuple(mask.shape)}; expected ({target.shape[1]},), "
                "one weight per target frame"
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
        self.target = target  # (latent_channels, frames)
        self.mask = mask  # (frames,)
        self.frames = mask.nonzero()[:, 0]  # (masked_frames,) indices; unmasked frames never enter the loss

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
            return {"reconstruction_mse": float(self(latents, frame_rate).mean())}

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
        self.overlap_frames = _check_count(overlap_frames, "SelfLoop overlap_frames", 1)

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
            return {"loop_mse": float(self(latents, frame_rate).mean())}

    def __repr__(self) -> str:
        return f"SelfLoop({self.overlap_frames})"


# ---------------------------------------------------------------- audio seam metrics


def spectral_flux(
    audio: torch.Tensor,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    *,
    top_db: float = 80.0,
) -> torch.Tensor:
    """L2 spectral flux of the mono mixdown: RMS over STFT bins of the frame-to-frame change in log power (dB).

    S_t = 10·log10(|STFT_t|² + floor), Hann window, frames not centred (frame t covers samples
    [t·hop_length, t·hop_length + n_fft)), floor = the clip's loudest bin − top_db (so near-silent bins do
    not add noise). flux_t = sqrt(mean_k (S_{t+1,k} − S_{t,k})²): rises and falls both count, so a click
    (broadband splatter) and a level or timbre jump both read as flux. Returns (batch, frames − 1) in dB.
    """
    check_sample_rate(sample_rate)
    n_fft, hop_length = _check_count(n_fft, "n_fft", 2), _check_count(hop_length, "hop_length", 1)
    if not _is_number(top_db) or not top_db > 0:
        raise ValueError(f"top_db {top_db!r} is invalid; expected a positive number of dB such as 80")
    x = mono(audio)  # (batch, samples)
    if x.shape[-1] < n_fft + hop_length:
        raise ValueError(
            f"audio has {x.shape[-1]} samples; spectral flux needs two STFT frames, "
            f"at least n_fft + hop_length = {n_fft + hop_length} samples"
        )
    with torch.autocast(x.device.type, enabled=False):
        window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
        spectrum = torch.stft(x, n_fft, hop_length, window=window, center=False, return_complex=True)
        power = spectrum.abs().pow(2)  # (batch, bins, frames)
        floor = power.detach().amax(dim=(-2, -1), keepdim=True) * 10.0 ** (-top_db / 10.0) + 1e-20
        level_db = 10.0 * torch.log10(power + floor)  # (batch, bins, frames)
        change_db = level_db.diff(dim=-1)  # (batch, bins, frames - 1)
        return (change_db.pow(2).mean(dim=-2) + 1e-12).sqrt()  # (batch, frames - 1); eps keeps sqrt'(0) finite


def seam_jump(
    audio: torch.Tensor,
    sample_rate: int,
    seam_sample: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    min_flux_db: float = 0.1,
) -> float:
    """How audible a join is: max spectral flux over the frames covering seam_sample / median flux of the clip.

    Dimensionless: ≈ 1 when the seam changes the spectrum no more than the rest of the clip does, ≫ 1 for a
    click or jump (a phase jump in a sine reads in the hundreds). min_flux_db (dB) is added to both sides so a
    pure tone or digital silence, whose flux is ~0, reads ≈ 1 rather than a ratio of rounding errors. Averaged
    over the batch.
    """
    samples = as_audio_batch(audio).shape[-1]
    if isinstance(seam_sample, bool) or not isinstance(seam_sample, (int, np.integer)) or not 0 < seam_sample < samples:
        raise ValueError(f"seam_sample {seam_sample!r} is invalid; expected an integer in 1..{samples - 1}")
    if not _is_number(min_flux_db) or not min_flux_db > 0:
        raise ValueError(f"min_flux_db {min_flux_db!r} is invalid; expected a positive number of dB such as 0.1")
    flux = spectral_flux(audio, sample_rate, n_fft, hop_length)  # (batch, frames - 1)
    # Frames t with t·hop ≤ seam < t·hop + n_fft hold the seam; flux t compares frames t and t + 1.
    last_flux = flux.shape[-1] - 1
    first = max(0, math.ceil((seam_sample - n_fft + 1) / hop_length) - 1)
    last = min(last_flux, seam_sample // hop_length)
    first = min(first, last)
    with torch.no_grad():
        at_seam = flux[:, first:last + 1].amax(dim=-1)  # (batch,)
        typical = flux.median(dim=-1).values  # (batch,)
        return float(((at_seam + min_flux_db) / (typical + min_flux_db)).mean())


def loop_seam_jump(
    audio: torch.Tensor,
    sample_rate: int,
    overlap_samples: int = 0,
    *,
    head_s: float = 0.5,
    n_fft: int = 2048,
    hop_length: int = 512,
) -> float:
    """seam_jump at the join when the clip plays as a loop: audio[: L − overlap_samples] then its first head_s.

    overlap_samples matches SelfLoop: a clip whose last overlap repeats its start loops as audio[: −overlap].
    """
    sample_rate = check_sample_rate(sample_rate)
    x = as_audio_batch(audio)  # (batch, channels, samples)
    samples = x.shape[-1]
    if isinstance(overlap_samples, bool) or not isinstance(overlap_samples, (int, np.integer)) \
            or not 0 <= overlap_samples < samples:
        raise ValueError(f"overlap_samples {overlap_samples!r} is invalid; expected an integer in 0..{samples - 1}")
    head_s = _check_seconds(head_s, "head_s")
    if head_s <= 0:
        raise ValueError(f"head_s {head_s} is invalid; expected a positive number of seconds such as 0.5")
    body = samples - int(overlap_samples)
    head = min(round(head_s * sample_rate), body)
    looped = torch.cat([x[..., :body], x[..., :head]], dim=-1)  # (batch, channels, body + head)
    return seam_jump(looped, sample_rate, body, n_fft=n_fft, hop_length=hop_length)


def equal_power_crossfade(a: torch.Tensor, b: torch.Tensor, overlap_samples: int) -> torch.Tensor:
    """a then b, overlapping by overlap_samples with equal-power fades: a·cos(πu/2) + b·sin(πu/2) over the overlap.

    a (channels, n), b (channels, m) (any equal leading dims) -> (channels, n + m − overlap_samples). u runs over
    sample midpoints (i + ½) / overlap, so fade_in² + fade_out² = 1 at every sample: uncorrelated signals keep
    their power through the join (identical ones swell by up to +3 dB at its middle).
    """
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.ndim == 0 or a.shape[:-1] != b.shape[:-1]:
        raise ValueError(
            f"crossfade clips have shapes {tuple(a.shape)} and {tuple(b.shape)}; "
            "expected (channels, n) and (channels, m) with the same channels"
        )
    n, m = a.shape[-1], b.shape[-1]
    if isinstance(overlap_samples, bool) or not isinstance(overlap_samples, (int, np.integer)) \
            or not 0 <= overlap_samples <= min(n, m):
        raise ValueError(
            f"overlap_samples {overlap_samples!r} is invalid for clips of {n} and {m} samples; "
            f"expected an integer in 0..{min(n, m)}"
        )
    overlap = int(overlap_samples)
    dtype = torch.promote_types(a.dtype, b.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    a, b = a.to(dtype), b.to(dtype=dtype, device=a.device)
    u = (torch.arange(overlap, dtype=dtype, device=a.device) + 0.5) / max(overlap, 1)  # (overlap,)
    fade_out, fade_in = torch.cos(0.5 * math.pi * u), torch.sin(0.5 * math.pi * u)  # (overlap,)
    middle = a[..., n - overlap:] * fade_out + b[..., :overlap] * fade_in  # (channels, overlap)
    return torch.cat([a[..., : n - overlap], middle, b[..., overlap:]], dim=-1)
