"""Objective base class, weighted sums of objectives, and the argument checks shared by every module.

The checks: audio batches (as_audio_batch, mono, single_reference), sample rates, value curves, and the small
type tests and checks for numbers, counts and seconds (is_number, is_integer, check_count, check_seconds).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

LossFn = Callable[[torch.Tensor, int], torch.Tensor]
MetricFn = Callable[[torch.Tensor, int], Mapping[str, float]]


def is_number(value: Any) -> bool:
    """True for an int or float (Python or NumPy), False for bool and anything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """True for an int (Python or NumPy), False for bool, floats and anything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_count(value: Any, name: str, minimum: int) -> int:
    """value as an int ≥ minimum; a ValueError names anything else."""
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{name} {value!r} is invalid; expected an integer ≥ {minimum}")
    return int(value)


def check_seconds(value: Any, name: str) -> float:
    """value as a finite float number of seconds (of either sign); a ValueError names anything else."""
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{name} {value!r} is invalid; expected a finite number of seconds")
    return float(value)


def as_audio_batch(audio: Any) -> torch.Tensor:
    """Audio as a float tensor (batch, channels, samples); (channels, samples) and (samples,) gain leading dims.

    A 2-D input is read as one clip's channels, never as a batch of mono clips. Half-precision input is
    promoted to float32 (STFTs and dB conversions need it); float64 stays float64.
    """
    if not isinstance(audio, torch.Tensor):
        audio = torch.as_tensor(np.asarray(audio))
    if audio.ndim == 1:
        audio = audio[None, None]
    elif audio.ndim == 2:
        audio = audio[None]
    elif audio.ndim != 3:
        raise ValueError(
            f"audio has {audio.ndim} dims, shape {tuple(audio.shape)}; "
            "expected (batch, channels, samples), (channels, samples) or (samples,)"
        )
    if not audio.is_floating_point():
        raise ValueError(f"audio has dtype {audio.dtype}; expected a floating-point tensor with samples in [-1, 1]")
    if audio.dtype in (torch.float16, torch.bfloat16):
        audio = audio.float()
    if audio.shape[0] == 0 or audio.shape[1] == 0 or audio.shape[2] == 0:
        raise ValueError(f"audio has shape {tuple(audio.shape)}; batch, channels and samples must all be non-empty")
    return audio


def mono(audio: Any) -> torch.Tensor:
    """Mono mixdown (mean over channels) of audio given as (batch, channels, samples) or the shorter forms."""
    return as_audio_batch(audio).mean(dim=1)  # (batch, samples)


def power_spectrogram(x: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """|STFT|² of mono audio (batch, samples) -> (batch, n_fft // 2 + 1, 1 + samples // hop_length): a periodic Hann
    window, center=True with constant padding (librosa's framing), in fp32 even under autocast; the squared real
    and imaginary parts are summed, so the gradient is finite at 0."""
    with torch.autocast(x.device.type, enabled=False):
        window = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
        spectrum = torch.stft(x, n_fft, hop_length, window=window, center=True, pad_mode="constant",
                              return_complex=True)  # (batch, freqs, frames)
        return torch.view_as_real(spectrum).pow(2).sum(dim=-1)


def check_sample_rate(sample_rate: Any) -> int:
    """The sample rate as a positive int; a ValueError names anything else."""
    if not is_number(sample_rate):
        raise ValueError(f"sample_rate {sample_rate!r} is not a number; expected a positive integer in Hz such as 44100")
    if not math.isfinite(sample_rate) or sample_rate <= 0 or int(sample_rate) != sample_rate:
        raise ValueError(f"sample_rate {sample_rate!r} is invalid; expected a positive integer in Hz such as 44100")
    return int(sample_rate)


def single_reference(audio: Any, min_samples: int) -> torch.Tensor:
    """A reference clip as (1, channels, samples), checked to hold one clip at least min_samples long."""
    audio = as_audio_batch(audio).detach()
    if audio.shape[0] != 1:
        raise ValueError(f"reference audio has batch size {audio.shape[0]}; expected one clip (batch size 1)")
    if audio.shape[-1] < min_samples:
        raise ValueError(
            f"reference audio has {audio.shape[-1]} samples, shorter than one frame; "
            f"expected at least {min_samples} samples"
        )
    if not torch.isfinite(audio).all():
        raise ValueError("reference audio contains NaN or inf samples; expected finite samples")
    return audio


def finite_curve(values: Any, name: str) -> torch.Tensor:
    """A non-empty 1-D float64 tensor of finite values (a scalar becomes length 1); a ValueError names the bad value."""
    try:
        curve = torch.as_tensor(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} {values!r} is not a sequence of numbers: {error}") from None
    if curve.ndim == 0:
        curve = curve[None]
    if curve.ndim != 1:
        raise ValueError(f"{name} has shape {tuple(curve.shape)}; expected a 1-D sequence of values")
    if curve.numel() == 0:
        raise ValueError(f"{name} is empty; expected at least one value")
    bad = (~torch.isfinite(curve)).nonzero()
    if len(bad):
        index = int(bad[0])
        raise ValueError(f"{name} has value {float(curve[index])} at index {index}; expected finite numbers")
    return curve


class Objective(abc.ABC):
    """A differentiable loss on audio: obj(audio (batch, channels, samples), sample_rate) -> loss (batch,).

    Objectives combine with numbers and each other: ``0.025 * intensity + melody`` is an objective whose
    loss is the weighted sum of the terms' losses and whose ``metric`` merges the terms' metrics.
    """

    @abc.abstractmethod
    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Loss per clip, shape (batch,), differentiable with respect to audio."""

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        """Evaluation numbers (floats averaged over the batch); objectives without a paper metric report none."""
        return {}

    @staticmethod
    def wrap(fn: LossFn, metric: MetricFn | None = None, name: str | None = None) -> Objective:
        """An Objective around a plain callable (audio, sample_rate) -> loss (batch,), so it can be weighted and summed.

        metric defaults to ``fn.metric`` when fn has one. Objectives are returned unchanged.
        """
        if isinstance(fn, Objective):
            return fn
        if not callable(fn):
            raise ValueError(f"{fn!r} is not callable; expected (audio, sample_rate) -> loss of shape (batch,)")
        return FunctionObjective(fn, metric=metric, name=name)

    def __mul__(self, weight: float) -> Objective:
        if not is_number(weight):
            return NotImplemented
        return Weighted(self, weight)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Objective:
        if not is_number(divisor):
            return NotImplemented
        if divisor == 0:
            raise ValueError("cannot divide an objective by 0; expected a non-zero number")
        return self * (1.0 / float(divisor))  # subclasses weight through their own __mul__

    def __add__(self, other: Objective | LossFn) -> Objective:
        if not callable(other):
            return NotImplemented
        return Sum(self, other)

    def __radd__(self, other: Objective | LossFn | int) -> Objective:
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            return self  # lets built-in sum() start from 0
        if not callable(other):
            return NotImplemented
        return Sum(other, self)


class FunctionObjective(Objective):
    """An Objective around a plain loss callable (see Objective.wrap); checks the loss has shape (batch,)."""

    def __init__(self, fn: LossFn, metric: MetricFn | None = None, name: str | None = None):
        self.fn = fn
        self.metric_fn = metric if metric is not None else getattr(fn, "metric", None)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        loss = self.fn(audio, sample_rate)
        if not isinstance(loss, torch.Tensor):
            raise ValueError(f"objective {self.name} returned {type(loss).__name__}; expected a tensor of shape (batch,)")
        batch = audio.shape[0] if isinstance(audio, torch.Tensor) and audio.ndim == 3 else 1
        if tuple(loss.shape) != (batch,):
            raise ValueError(f"objective {self.name} returned shape {tuple(loss.shape)}; expected (batch,) = ({batch},)")
        return loss

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        if self.metric_fn is None:
            return {}
        with torch.no_grad():
            return {key: float(value) for key, value in self.metric_fn(audio, sample_rate).items()}

    def __repr__(self) -> str:
        return f"Objective.wrap({self.name})"


class Weighted(Objective):
    """weight × objective: the loss scaled by a constant; metrics are the term's own (unweighted) metrics."""

    def __init__(self, objective: Objective | LossFn, weight: float):
        weight = float(weight)
        if not math.isfinite(weight):
            raise ValueError(f"objective weight {weight} is not finite; expected a finite number such as 0.025")
        if isinstance(objective, Weighted):  # w1 * (w2 * f) == (w1 * w2) * f
            product = weight * objective.weight
            if not math.isfinite(product):
                raise ValueError(f"objective weight {weight:g} × {objective.weight:g} = {product} is not finite; "
                                 f"expected a finite product such as 0.025")
            objective, weight = objective.objective, product
        self.objective = Objective.wrap(objective)
        self.weight = weight

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return self.weight * self.objective(audio, sample_rate)

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        return self.objective.metric(audio, sample_rate)

    def __repr__(self) -> str:
        return f"{self.weight:g} * {self.objective!r}"


class Sum(Objective):
    """Sum of objectives (plain callables are wrapped); metric() merges the terms' metrics.

    When two terms report the same metric name, later ones get a suffix: ``intensity_mse_db2_2``.
    """

    def __init__(self, *terms: Objective | LossFn):
        if not terms:
            raise ValueError("Sum() got no terms; expected at least one objective")
        flat: list[Objective] = []
        for term in terms:
            if isinstance(term, Sum):
                flat.extend(term.terms)
            else:
                flat.append(Objective.wrap(term))
        self.terms = tuple(flat)

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        losses = [term(audio, sample_rate) for term in self.terms]
        shapes = {tuple(loss.shape) for loss in losses}
        if len(shapes) != 1:
            raise ValueError(f"objective terms returned losses of different shapes {sorted(shapes)}; expected all (batch,)")
        return torch.stack(losses).sum(dim=0)

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        merged: dict[str, float] = {}
        for term in self.terms:
            for key, value in term.metric(audio, sample_rate).items():
                name, copy = key, 2
                while name in merged:
                    name, copy = f"{key}_{copy}", copy + 1
                merged[name] = value
        return merged

    def __repr__(self) -> str:
        return " + ".join(repr(term) for term in self.terms)
