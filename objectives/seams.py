"""Seam metrics and joins in decoded audio: is a join audible (spectral_flux, seam_jump, loop_seam_jump), and
equal_power_crossfade, the one crossfade that joins two clips.

These work on audio (batch, channels, samples) after decoding, not on latents; they are evaluation numbers and
tools for stitching edits, not optimization objectives.
"""

from __future__ import annotations

import math

import torch

from .base import as_audio_batch, check_count, check_sample_rate, check_seconds, is_integer, is_number, mono
from .metrics import declare_metric

SEAM_JUMP = declare_metric(
    "seam_jump", higher_is_better=False, unit="ratio",
    description="max spectral flux at a join over the clip's median flux: about 1 is inaudible, much more is a click")


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
    n_fft, hop_length = check_count(n_fft, "n_fft", 2), check_count(hop_length, "hop_length", 1)
    if not is_number(top_db) or not top_db > 0:
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
    if not is_integer(seam_sample) or not 0 < seam_sample < samples:
        raise ValueError(f"seam_sample {seam_sample!r} is invalid; expected an integer in 1..{samples - 1}")
    if not is_number(min_flux_db) or not min_flux_db > 0:
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
    if not is_integer(overlap_samples) or not 0 <= overlap_samples < samples:
        raise ValueError(f"overlap_samples {overlap_samples!r} is invalid; expected an integer in 0..{samples - 1}")
    head_s = check_seconds(head_s, "head_s")
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
    if not is_integer(overlap_samples) or not 0 <= overlap_samples <= min(n, m):
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
