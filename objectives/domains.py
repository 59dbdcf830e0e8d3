"""The audio/latent domain split: latent-domain objectives, their arithmetic, and the latent input checks.

Editing losses compare the model's *latents* (VAE latent frames) with a reference clip's latents, so the
optimizer needs no backward pass through the decoder. They are latent-domain objectives:

    loss = obj(latents (batch, latent_channels, frames), frame_rate)   # frame_rate = sample_rate / 2048 for SAO

and carry ``domain = "latent"``; audio objectives (Intensity, Melody, Structure) have no ``domain`` attribute and
are audio-domain. ``domain_of(objective)`` reads the domain of any objective, weighted sums included, and raises
when one sum mixes the two. Latent objectives weight and add among themselves like audio ones
(``0.5 * LatentMatch(...) + SelfLoop(8)`` stays latent); adding an audio Objective to one gives a Joint, which
``split_domains`` takes apart again. check_frame_rate and as_latent_batch check a latent objective's arguments.
"""

from __future__ import annotations

import abc
import math
from typing import Any, Literal

import numpy as np
import torch

from .base import FunctionObjective, LossFn, MetricFn, Objective, Sum, Weighted, is_number

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
        if not is_number(weight):
            return NotImplemented
        return LatentWeighted(self, weight)

    __rmul__ = __mul__

    def __add__(self, other: Any) -> Objective:
        if not callable(other):
            return NotImplemented
        if domain_of(other) == "audio" and isinstance(other, Objective):
            return Joint(latent=self, audio=other)
        return LatentSum(self, other)

    def __radd__(self, other: Any) -> Objective:
        if is_number(other) and other == 0:
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
        if not is_number(weight):
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


# ---------------------------------------------------------------- latent arguments


def check_frame_rate(frame_rate: Any) -> float:
    """The latent frame rate as a positive finite float (frames per second); a ValueError names anything else."""
    if not is_number(frame_rate) or not math.isfinite(frame_rate) or frame_rate <= 0:
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
