"""Helpers the test files share: synthetic signals, batching, bit-for-bit audio checks, a loss through the whole
chain, experiment files and the `ditto` command, and model folders.

Random-weight models come from `ditto.testing` (one builder for tests, benchmarks and scripts); the T5 twins from
tests/twins.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from ditto import loading
from ditto import sat as sat_adapter


def sine(freq_hz: float, *, sample_rate: int, duration_s: float | None = None, samples: int | None = None,
         amplitude: float = 0.5, phase: float = 0.0, channels: int | None = None) -> torch.Tensor:
    """amplitude * sin(2π freq_hz t + phase), computed in float64 and returned as float32: (samples,), or
    (channels, samples) with every channel equal. Its length is `samples`, or int(duration_s * sample_rate)."""
    if (duration_s is None) == (samples is None):
        raise ValueError("give exactly one of duration_s and samples")
    t = np.arange(samples if samples is not None else int(duration_s * sample_rate)) / sample_rate
    wave = torch.from_numpy((amplitude * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32))
    return wave if channels is None else wave.repeat(channels, 1)


def batch(*clips) -> torch.Tensor:
    """Mono clips of equal length (numpy arrays or tensors, (samples,)) -> (batch, 1, samples) tensor."""
    return torch.stack([torch.as_tensor(clip) for clip in clips])[:, None]


def assert_same_audio(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Bit for bit, on either SAT release (ditto.sat.VERSION), and not silence."""
    assert ours.shape == reference.shape
    assert reference.abs().max() > 0
    assert torch.equal(ours, reference), (ours - reference).abs().max()


def chain_loss(model: loading.Model, x_T: torch.Tensor, config, *, noise_seed: int = 7,
               decoder_checkpointing: bool = False, checkpoint: bool = False) -> torch.Tensor:
    """A fixed linear functional of the audio that the sampling chain of `config` (a SamplerConfig) and the decoder
    make from x_T for "solo piano", so gradients are comparable across runs, settings and SAT releases."""
    from ditto.generation import SpeedConfig, build_conditioning, decode, sample_latents

    cond = build_conditioning(model, "solo piano", seconds_total=1.0)
    speed = SpeedConfig.plain(checkpoint=checkpoint)
    with sat_adapter.set_decoder_checkpointing(model, decoder_checkpointing):
        audio = decode(model, sample_latents(model, x_T, cond, config, speed=speed, noise_seed=noise_seed))
    weights = torch.linspace(-1.0, 1.0, audio.numel(), dtype=audio.dtype).reshape(audio.shape)
    return (audio * weights).sum()


def write_lines(path: Path, *entries) -> Path:
    """`path` holding one line per entry, a string as it is and anything else as JSON (an experiment file)."""
    path.write_text("".join((entry if isinstance(entry, str) else json.dumps(entry)) + "\n" for entry in entries))
    return path


def ditto_command(*args) -> int:
    """`ditto ARGS` run in this process: its exit code."""
    from ditto.app import command

    try:
        command.main([str(arg) for arg in args])
    except SystemExit as stop:
        return stop.code or 0
    return 0


def model_copy(directory: Path, source: Path = loading.TINY_DIR, *, config: dict | str | None = None) -> Path:
    """A new model folder `directory`: the weights of the model folder `source` (the embedded tiny model by default)
    and its `model_config.json`, or `config` instead (a dict, or any text, malformed JSON included)."""
    directory = Path(directory)
    directory.mkdir(parents=True)
    shutil.copyfile(Path(source) / loading.SAFETENSORS_NAME, directory / loading.SAFETENSORS_NAME)
    if config is None:
        config = (Path(source) / loading.CONFIG_NAME).read_text()
    text = config if isinstance(config, str) else json.dumps(config)
    (directory / loading.CONFIG_NAME).write_text(text)
    return directory


def truncate_weights(directory: Path) -> Path:
    """Cut the `model.safetensors` of the model folder `directory` to half its bytes; returns the folder."""
    weights = Path(directory) / loading.SAFETENSORS_NAME
    weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])
    return Path(directory)


def model_config(source: Path) -> dict:
    """A fresh copy of the `model_config.json` of the model folder `source`."""
    return json.loads((Path(source) / loading.CONFIG_NAME).read_text())


def pickle_folder(model: loading.Model, directory: Path) -> Path:
    """A new folder `directory` as SAO Small's hub repo ships a model: `model_config.json` and a pickle `model.ckpt`
    of {"state_dict": ...}, here `model`'s config and weights."""
    directory = Path(directory)
    directory.mkdir(parents=True)
    (directory / loading.CONFIG_NAME).write_text(json.dumps(model.config, indent=4))
    torch.save({"state_dict": model.sat.state_dict()}, directory / loading.PICKLE_NAME)
    return directory
