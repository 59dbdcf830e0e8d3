"""Audio I/O and conversions: soundfile for files, torchaudio for resampling, atomic writes."""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from .files import atomic_write, to_bytes


def readable_formats() -> str:
    """The common formats this soundfile build reads, as the error messages list them (MP3 from libsndfile 1.1)."""
    known = soundfile.available_formats()
    return ", ".join(name for name in ("WAV", "FLAC", "OGG", "MP3", "AIFF") if name in known)


def read_audio(path: str | PathLike) -> tuple[torch.Tensor, int]:
    """An audio file (WAV, FLAC, OGG, and MP3 where libsndfile reads it: `readable_formats()`) ->
    (audio (channels, samples) float32, sample_rate)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {str(path)!r} does not exist")
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as e:
        raise ValueError(f"cannot read audio file {str(path)!r}: {e}; readable formats: {readable_formats()}") from None
    if data.shape[0] == 0:
        raise ValueError(f"audio file {str(path)!r} holds no samples")
    audio = torch.from_numpy(np.ascontiguousarray(data.T))
    check_finite(audio, f"audio file {str(path)!r}")
    return audio, int(sample_rate)


def check_finite(audio: torch.Tensor, what: str) -> None:
    """Every sample of incoming audio must be finite: NaN or inf would turn the whole generation into NaN."""
    bad = int((~torch.isfinite(audio)).sum())
    if bad:
        raise ValueError(f"{what} holds {bad} NaN/inf samples; audio samples must be finite numbers")


def write_audio(path: str | PathLike, audio: torch.Tensor, sample_rate: int, *, overwrite: bool = False) -> Path:
    """Write audio (channels, samples) or (samples,) as a 32-bit float WAV, atomically (`ditto.files.atomic_write`).

    An existing file is never replaced unless `overwrite=True`.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it")
    audio = torch.as_tensor(audio).detach().to("cpu", torch.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ValueError(f"audio to write must have shape (channels, samples) or (samples,), got {tuple(audio.shape)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = to_bytes(lambda buffer: soundfile.write(buffer, audio.T.numpy(), int(sample_rate), subtype="FLOAT",
                                                  format="WAV"))
    return atomic_write(path, wav)  # a full disk is an OSError naming `path`, not libsndfile's "System error."


def resample(audio: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Band-limited sinc resampling along the last axis (`torchaudio.transforms.Resample`, its defaults: the kernel
    stable-audio-tools resamples init audio with, bit for bit; `functional.resample` rounds its kernel differently)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate!r} -> {to_rate!r}")
    if from_rate == to_rate:
        return audio
    return torchaudio.transforms.Resample(int(from_rate), int(to_rate)).to(audio.device)(audio)


def pad_or_crop(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Keep the first `length` samples, zero-padding at the end if shorter (SAT `PadCrop(randomize=False)`)."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    return torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))


def to_channels(audio: torch.Tensor, channels: int) -> torch.Tensor:
    """(batch, channels, samples) -> `channels` channels: mean to mono, repeat mono, keep the first two (SAT)."""
    if channels == 1:
        return audio.mean(1, keepdim=True)
    if channels == 2:
        if audio.shape[1] == 1:
            return audio.repeat(1, 2, 1)
        return audio[:, :2]
    raise ValueError(f"channels must be 1 or 2, got {channels!r}")


# Integer PCM dtypes and how they map to [-1, 1), as soundfile reads integer files.
_INT_SCALES = {torch.int16: (0.0, 2.0 ** -15), torch.int32: (0.0, 2.0 ** -31), torch.uint8: (128.0, 2.0 ** -7)}


def audio_tensor(audio, what: str = "audio tensor") -> torch.Tensor:
    """An array or tensor of samples -> float32; int16 / int32 / uint8 PCM are scaled to [-1, 1) as soundfile does."""
    audio = torch.as_tensor(audio)
    if audio.dtype in _INT_SCALES:
        offset, scale = _INT_SCALES[audio.dtype]
        return (audio.to(torch.float32) - offset) * scale
    if not audio.is_floating_point():
        raise ValueError(f"{what} has dtype {str(audio.dtype).replace('torch.', '')}; valid: a floating-point "
                         f"tensor, or int16 / int32 / uint8 PCM (scaled to [-1, 1))")
    return audio.to(torch.float32)


def check_sample_rate(sample_rate, what: str = "audio tensor") -> int:
    """A positive whole number of Hz (44100 or 44100.0) -> int; anything else raises."""
    if sample_rate is None:
        raise ValueError(f"sample_rate is required with an {what}; pass (sample_rate, audio)")
    valid = isinstance(sample_rate, (int, float, np.integer, np.floating)) and not isinstance(sample_rate, bool)
    if not (valid and math.isfinite(sample_rate) and sample_rate > 0 and float(sample_rate).is_integer()):
        raise ValueError(f"sample rate of the {what} must be a positive whole number of Hz, got {sample_rate!r}")
    return int(sample_rate)


def as_channels_first(audio: torch.Tensor, what: str = "audio tensor") -> torch.Tensor:
    """(samples,), (channels, samples) or (1, channels, samples) -> (channels, samples), rejecting the transpose."""
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim == 3 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ValueError(f"audio must have shape (channels, samples) or (samples,), got {tuple(audio.shape)}")
    if audio.shape[0] > audio.shape[1]:
        raise ValueError(f"{what} of shape {tuple(audio.shape)} has more channels than samples; (channels, samples) "
                         f"is expected: transpose it (audio.T)")
    return audio


def load_for_model(path_or_audio, sample_rate: int | None, *, target_rate: int, channels: int,
                   length: int | None = None, what: str = "audio tensor") -> torch.Tensor:
    """A file path or (audio, rate) -> (1, channels, samples) at `target_rate`, optionally padded/cropped.

    `what` names a tensor input in error messages (e.g. "init audio tensor"); files are named by their path.
    """
    if isinstance(path_or_audio, (str, PathLike)):
        audio, sample_rate = read_audio(path_or_audio)
    else:
        sample_rate = check_sample_rate(sample_rate, what)
        audio = as_channels_first(audio_tensor(path_or_audio, what), what)
        check_finite(audio, what)
    audio = resample(audio, sample_rate, target_rate)
    if length is not None:
        audio = pad_or_crop(audio, length)
    return to_channels(audio[None], channels)
