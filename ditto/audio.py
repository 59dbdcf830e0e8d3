"""Audio I/O and conversions: soundfile for files, torchaudio for resampling, atomic writes."""

from __future__ import annotations

import os
import tempfile
from os import PathLike
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio


def read_audio(path: str | PathLike) -> tuple[torch.Tensor, int]:
    """A WAV/FLAC/OGG file -> (audio (channels, samples) float32, sample_rate)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {str(path)!r} does not exist")
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as e:
        raise ValueError(f"cannot read audio file {str(path)!r}: {e}; readable formats: WAV, FLAC, OGG") from None
    if data.shape[0] == 0:
        raise ValueError(f"audio file {str(path)!r} holds no samples")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(sample_rate)


def write_audio(path: str | PathLike, audio: torch.Tensor, sample_rate: int, *, overwrite: bool = False) -> Path:
    """Write audio (channels, samples) or (samples,) as a 32-bit float WAV, atomically (temp file + rename).

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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        soundfile.write(tmp, audio.T.numpy(), int(sample_rate), subtype="FLOAT", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def resample(audio: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Band-limited sinc resampling along the last axis (`torchaudio.functional.resample`, its defaults)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate!r} -> {to_rate!r}")
    if from_rate == to_rate:
        return audio
    return torchaudio.functional.resample(audio, int(from_rate), int(to_rate))


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


def load_for_model(path_or_audio, sample_rate: int | None, *, target_rate: int, channels: int,
                   length: int | None = None) -> torch.Tensor:
    """A file path or (audio, rate) -> (1, channels, samples) at `target_rate`, optionally padded/cropped."""
    if isinstance(path_or_audio, (str, PathLike)):
        audio, sample_rate = read_audio(path_or_audio)
    else:
        audio = torch.as_tensor(path_or_audio, dtype=torch.float32)
        if sample_rate is None:
            raise ValueError("sample_rate is required with an audio tensor")
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim == 3 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ValueError(f"audio must have shape (channels, samples) or (samples,), got {tuple(audio.shape)}")
    audio = resample(audio, int(sample_rate), target_rate)
    if length is not None:
        audio = pad_or_crop(audio, length)
    return to_channels(audio[None], channels)
