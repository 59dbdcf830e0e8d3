"""DITTO: optimize the initial noise x_T through the whole sampling chain and the VAE decoder.

Novack et al., "DITTO: Diffusion Inference-Time T-Optimization for Music Generation", ICML 2024, §3:
min over x_T of L(f(decode(S(x_T, prompt))), y), with S a fixed deterministic sampler, exact gradients by
backpropagation through every step (each step checkpointed, so memory stays flat in the number of steps), and
Adam on the unit-variance x_T.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import typing as tp
from pathlib import Path

import torch
from tqdm.auto import tqdm

import objectives

from . import sat as sat_adapter
from .files import save_torch
from .config import (OPTIMIZERS, OptimizerConfig, RunSettings, SamplerConfig, SpeedConfig, StartSettings,
                     config_or_fields, field_names, is_count, model_sampling, resumable_fields, split_options)
from .generation import (Conditioning, InitAudio, build_conditioning, check_start, check_window, decode, draw_noises,
                         draw_x_T, encode_init_audio, resolve_length, sample_latents, velocity_model)
from .loading import Model
from .sampling import EVALUATIONS_PER_STEP, STOCHASTIC_SAMPLERS

Objective = tp.Callable[[torch.Tensor, int], torch.Tensor]  # (audio (batch, channels, samples), rate) -> (batch,)

DECODE_CONTEXT_FRAMES = 16  # latents decoded past the loss's span: the decoder's receptive field (error < 1e-6 of peak)


def default_lr(model: Model) -> float:
    """Adam's step size for `model`: its config's "ditto" lr (the tiny model: 0.3), else the paper's 5e-3."""
    return model.defaults.lr


def default_sampler(model: Model) -> str:
    """The model's own default, else a deterministic DDIM-like sampler as in the paper: DDIM (v models) or Euler
    (rectified flows)."""
    return model_sampling(model, "optimize").sampler


def control_sampling(model: Model, config: SamplerConfig | None = None, **given) -> SamplerConfig:
    """The sampling a control method runs: what was given, else the model's own defaults (`model.defaults`), else
    the paper's: a deterministic DDIM-like sampler (`default_sampler`), 20 steps, CFG 7 (`model_sampling`)."""
    return model_sampling(model, "optimize", config, **given)


class OptimizationError(ValueError):
    """The loss or its gradient stopped being finite. `.result` holds the best result found before that."""

    def __init__(self, message: str, result: "Result"):
        super().__init__(message)
        self.result = result


@dataclasses.dataclass
class Result:
    """What `optimize` returns; audio is cut to the span the objective saw."""

    audio: torch.Tensor  # (batch, channels, samples): rendered from the best x_T
    baseline_audio: torch.Tensor  # (batch, channels, samples): the same seed, not optimized
    x_T: torch.Tensor  # (batch, latent_channels, latent_frames): the best unit-variance x_T, on the CPU
    losses: list[float]  # loss per iteration (mean over the batch), of the x_T before that iteration's step
    metrics: dict  # {"before": objective.metric(baseline), "after": objective.metric(audio)}
    sample_rate: int
    best_iteration: int  # index into losses of the x_T returned (-1: no iteration ran)
    seconds: dict  # {"total", "per_iteration", "baseline"}: wall-clock
    settings: RunSettings  # every setting of the run (a frozen record; reads as a mapping, report.json's "settings")
    stop_reason: str  # "iterations", "target_loss", "patience", "time_budget", "interrupted"
    noises: torch.Tensor | None = None  # (steps, batch, latent_channels, latent_frames): the best per-step noises
    # of a stochastic sampler, when they were optimized beside x_T (None otherwise), on the CPU
    edited: tp.Any = None  # editing.Edited for an edit (ditto.outpaint / inpaint / loop): the stitched audio
    final_loss: dict | None = None  # {"before", "after"}: the objective's loss of the baseline and of the result,
    # for methods whose `losses` are not losses of renders (guidance: of x0-predictions along the chain)
    variables: list[str] = dataclasses.field(default_factory=list)  # what the method optimized: ["x_T"], or
    # ["x_T", "noises"] for a stochastic sampler's injected noises; [] for methods that optimize nothing
    advice: str | None = None  # the method's own words for when it did not pay off (`warning` says them)

    @property
    def improved(self) -> bool:
        """Whether the result beats the baseline: some iteration's x_T (or seed) did (losses[0] is the baseline's
        loss), or, with `final_loss`, the result's loss is below the baseline's."""
        if self.final_loss is not None:
            return self.final_loss["after"] < self.final_loss["before"]
        return self.best_iteration > 0

    @property
    def warning(self) -> str | None:
        """One line for the report and the terminal when the method did not pay off (its own `advice`); None
        otherwise."""
        if not self.losses or self.improved:
            return None
        return self.advice or f"the method did not improve on the baseline (loss {self.losses[0]:.4g})"


@dataclasses.dataclass
class OptimizationState:
    """Where the DITTO loop stands after `iteration` iterations: enough to continue it bit for bit.

    `optimize(..., state_path=P)` saves one every `save_every` iterations and when it stops;
    `optimize(..., resume=P)` continues from it to the same x_T and losses as a run that was never stopped.
    """

    iteration: int  # iterations done
    x_T: torch.Tensor  # (batch, latent_channels, latent_frames): the variable after `iteration` steps
    optimizer: dict  # the optimizer's state_dict (Adam moments, step count)
    losses: list[float]  # loss per iteration so far
    best_loss: float
    best_iteration: int
    best_x_T: torch.Tensor  # (batch, latent_channels, latent_frames)
    since_best: int  # iterations since the best, for `patience`
    seconds: float  # wall-clock spent in the loop so far
    rng_state: torch.Tensor  # torch.get_rng_state() when saved
    settings: RunSettings  # the run's settings: a resumed run must match them (RESUMABLE_CHANGES aside)
    noises: torch.Tensor | None = None  # (steps, batch, latent_channels, latent_frames) when optimized
    best_noises: torch.Tensor | None = None


RESUMABLE_CHANGES = resumable_fields(RunSettings, OptimizerConfig, SpeedConfig)  # may differ on resume


def save_state(path: str | os.PathLike, state: OptimizationState) -> Path:
    """Write `state` atomically (a kill mid-write leaves the previous state intact); its settings as their mapping."""
    fields = {field.name: getattr(state, field.name) for field in dataclasses.fields(state)}
    return save_torch(path, {**fields, "settings": state.settings.to_dict()})


def load_state(path: str | os.PathLike) -> OptimizationState:
    """An `OptimizationState` saved by `save_state`; a ValueError names a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no optimization state at {str(path)!r}; it is written by optimize(..., state_path=...)")
    try:
        fields = torch.load(path, map_location="cpu", weights_only=True)
        return OptimizationState(**{**fields, "settings": RunSettings.from_dict(fields["settings"])})
    except Exception as error:  # a truncated or foreign file: torch raises several types
        raise ValueError(f"cannot read optimization state {str(path)!r}: {str(error).splitlines()[0]}") from None


@dataclasses.dataclass
class Render:
    """What the variables render to: the x_0 latents and their audio (None where the decoder was skipped: in
    the loop, for an objective without an audio part)."""

    latents: torch.Tensor  # (batch, latent_channels, latent_frames)
    audio: torch.Tensor | None = None  # (batch, channels, span)

    def to(self, device: torch.device | str) -> "Render":
        return Render(self.latents.to(device), None if self.audio is None else self.audio.to(device))


@dataclasses.dataclass
class Best:
    """The best variables so far: their loss, the iteration (or candidate) that reached it (-1: none, the start)
    and their render when it was kept (None: rendered when the result is)."""

    variables: dict[str, torch.Tensor]  # {"x_T": ...} and, when optimized, {"noises": ...}
    loss: float = math.inf
    iteration: int = -1
    render: Render | None = None


@dataclasses.dataclass
class Problem:
    """DITTO's function of x_T, fixed for one run: x_T -> x_0 latents (the sampling chain) -> audio (the decoder)
    -> loss. Conditioning, init latents, the per-step noise seed and what to decode are set once, so the loss is a
    deterministic function of x_T; `optimize` descends on it, and other control methods can reuse it."""

    model: Model
    cond: Conditioning
    chain: SamplerConfig  # the chain optimized through
    render_chain: SamplerConfig  # the chain the result is rendered with (longer than `chain` with a surrogate)
    speed: SpeedConfig  # how `chain` executes (checkpointing, bf16, the resolved keep_steps)
    x_T: torch.Tensor  # (batch, latent_channels, latent_frames): the seeded start, unit variance
    latent_part: tp.Any  # the objective's latent-domain part (editing losses) or None
    audio_part: tp.Any  # the objective's audio-domain part (control losses) or None
    span: int  # audio samples the loss sees (seconds_total)
    decode_frames: int  # latent frames decoded: the span's + DECODE_CONTEXT_FRAMES of context
    init_latents: torch.Tensor | None = None  # (batch, latent_channels, latent_frames): audio-to-audio start
    init_noise_level: float = 1.0
    noise_seed: int = 1  # stochastic samplers' per-step noise
    chunk_latents: int | None = None
    decoder_dtype: torch.dtype | None = None  # bf16: decode with a bf16 copy of the decoder
    decoder_checkpoint: bool = True  # checkpoint the decoder's residual units while optimizing
    noises: torch.Tensor | None = None  # (steps, batch, latent_channels, latent_frames): a stochastic sampler's
    # per-step noises as drawn from the seeded source, when they are variables beside x_T
    surrogate: bool = False  # `chain` is a surrogate: the result is rendered again with `render_chain`
    decoder_noise_seed: int | None = None  # a decoder that adds noise (Stable Audio 3) draws it seeded so, the
    # same at every decode: the loss is a deterministic function of the variables (docs/models.md)

    @property
    def frame_rate(self) -> float:
        return self.model.sample_rate / self.model.latent_stride

    def start(self) -> dict[str, torch.Tensor]:
        """The variables where the descent starts: {"x_T": ...} and, when optimized, {"noises": ...}."""
        return {"x_T": self.x_T} if self.noises is None else {"x_T": self.x_T, "noises": self.noises}

    def latents(self, variables: dict[str, torch.Tensor], chain: SamplerConfig | None = None,
                speed: SpeedConfig | None = None) -> torch.Tensor:
        """x_T (and the per-step noises) -> x_0 latents (batch, latent_channels, latent_frames) through the chain."""
        return sample_latents(self.model, variables["x_T"], self.cond, chain or self.chain, speed=speed or self.speed,
                              init_latents=self.init_latents, init_noise_level=self.init_noise_level,
                              noise_seed=self.noise_seed, noises=variables.get("noises"))

    def audio(self, latents: torch.Tensor) -> torch.Tensor:
        """x_0 latents -> audio (batch, channels, span): decodes only the frames the span needs (+ context)."""
        return decode(self.model, latents[..., :self.decode_frames], chunk_latents=self.chunk_latents,
                      dtype=self.decoder_dtype, noise_seed=self.decoder_noise_seed)[..., :self.span].float()

    def features(self, variables: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(latents, audio or None): what the objective's parts read; the decoder is skipped without an audio part."""
        latents = self.latents(variables)
        return latents, (self.audio(latents) if self.audio_part is not None else None)

    def loss(self, latents: torch.Tensor, audio: torch.Tensor | None) -> torch.Tensor:
        """Loss per batch item (batch,)."""
        loss = 0.0
        if self.latent_part is not None:
            loss = loss + self.latent_part(latents.float(), self.frame_rate)
        if self.audio_part is not None:
            loss = loss + self.audio_part(audio, self.model.sample_rate)
        return loss

    def metrics(self, latents: torch.Tensor, audio: torch.Tensor) -> dict:
        """The objective's metrics (the paper's definitions) of one render."""
        found = {}
        if self.latent_part is not None:
            found.update(_metric(self.latent_part, latents.float(), self.frame_rate))
        if self.audio_part is not None:
            found.update(_metric(self.audio_part, audio, self.model.sample_rate))
        return found

    def checkpointing(self) -> tp.ContextManager:
        """The decoder's residual units checkpointed (or not) while the loop runs."""
        return sat_adapter.set_decoder_checkpointing(self.model, self.decoder_checkpoint)

    def render(self, variables: dict[str, torch.Tensor], chain: SamplerConfig | None = None,
               speed: SpeedConfig | None = None) -> Render:
        """The latents and audio of the variables, without gradients."""
        with torch.no_grad():
            latents = self.latents(variables, chain, speed)
            return Render(latents, self.audio(latents))

    def decoded(self, render: Render) -> Render:
        """`render` with its audio (decoded here, without gradients, where the loop skipped the decoder)."""
        if render.audio is not None:
            return render
        with torch.no_grad():
            return Render(render.latents, self.audio(render.latents))


def _final_render(problem: Problem, best: Best, baseline: Render) -> tuple[Render, Render, dict]:
    """(result, baseline, metrics) as reported: renders what the loop did not keep; with a surrogate chain, both
    x_T rendered again with the full chain, whose metrics become "before"/"after" (the surrogate's kept beside)."""
    if best.iteration >= 0 and best.render is None:
        best.render = problem.render(best.variables)
    chosen = problem.decoded(best.render if best.iteration >= 0 else baseline)
    baseline = problem.decoded(baseline)
    with torch.no_grad():
        metrics = {"before": problem.metrics(baseline.latents, baseline.audio),
                   "after": problem.metrics(chosen.latents, chosen.audio)}
    if problem.surrogate:
        final = SpeedConfig.plain(autocast_bf16=problem.speed.autocast_bf16)  # no gradient: nothing checkpointed
        metrics["before_surrogate"], metrics["after_surrogate"] = metrics["before"], metrics["after"]
        chosen = problem.render(best.variables, problem.render_chain, final)
        baseline = problem.render(problem.start(), problem.render_chain, final)
        metrics["before"] = problem.metrics(baseline.latents, baseline.audio)
        metrics["after"] = problem.metrics(chosen.latents, chosen.audio)
    return chosen, baseline, metrics


def _resumed_state(resume, settings: RunSettings) -> OptimizationState | None:
    """The state to continue from (None for a fresh run); a ValueError names settings that differ from it."""
    if resume is None:
        return None
    state = resume if isinstance(resume, OptimizationState) else load_state(resume)
    changed = settings.changes(state.settings)
    if changed:
        raise ValueError(f"cannot resume: the saved run had other settings ({'; '.join(changed)}); only "
                         f"{', '.join(settings.resumable())} may change")
    return state


class SavedBytes:
    """Counts the bytes autograd saves for backward while inside (`saved_tensors_hooks`): the memory that grows
    with the number of un-checkpointed steps. `with SavedBytes() as saved: ...; saved.total`."""

    def __init__(self):
        self.total = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self.total += tensor.numel() * tensor.element_size()
        return tensor

    def __enter__(self) -> "SavedBytes":
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)


def activation_bytes_per_step(model: Model, cond, config: SamplerConfig, x_T: torch.Tensor, *,
                              autocast_bf16: bool = False) -> int:
    """Bytes autograd saves for one un-checkpointed sampler step (model evaluations per step x one evaluation)."""
    x = x_T.detach().to(model.dtype).requires_grad_(True)
    t = torch.full((x.shape[0],), 0.5, device=x.device)
    with SavedBytes() as saved:
        velocity_model(model, cond, config, autocast_bf16=autocast_bf16)(x, t)
    return saved.total * EVALUATIONS_PER_STEP.get(config.sampler, 1)


def _detach(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach()


def _metric(objective: Objective, audio: torch.Tensor, sample_rate: int) -> dict:
    metric = getattr(objective, "metric", None)
    with torch.no_grad():
        return dict(metric(audio, sample_rate)) if metric is not None else {}


def make_optimizer(name: str, variables: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """One of OPTIMIZERS on the variables (x_T, and the per-step noises when optimized)."""
    if name == "adam":
        return torch.optim.Adam(variables, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(variables, lr=lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


@dataclasses.dataclass
class Start:
    """What a run starts from: the prompt and timing, the window, the seed, and optional init audio, x_T or
    conditioning tensors (`generate`'s arguments of the same names)."""

    prompt: str
    negative_prompt: str | None = None
    seconds_start: float = 0.0
    seconds_total: float | None = None  # the timing condition and the span the loss sees (default: the window)
    sample_size: int | None = None  # the generation window in samples (default: the model's)
    seed: int = 0
    batch_size: int = 1
    init_audio: InitAudio | None = None
    init_noise_level: float = 1.0
    x_T: torch.Tensor | None = None  # replaces the seeded draw
    conditioning_tensors: dict | None = None  # replaces conditioner outputs


def build_problem(model: Model, objective: Objective, start: Start, sampling: SamplerConfig,
                  speed: SpeedConfig, optimize_noise: bool = False) -> tuple[Problem, RunSettings]:
    """DITTO's problem for one run and the record of the settings that define it (its `optimization` and method
    left for the caller to set); ValueError on a bad one.

    Random draws happen in `generate`'s order (x_T, then the init audio's VAE posterior sample), so with the same
    arguments the problem's x_T renders exactly `generate`'s audio. With `optimize_noise` a stochastic sampler's
    per-step noises, drawn from the source seeded by seed + 1, become variables beside x_T.
    """
    if not callable(objective):
        raise ValueError(f"objective must be callable (audio, sample_rate) -> loss (batch,), got {objective!r}")
    render_chain = sampling
    render_chain.validate(model)
    speed.validate()
    if isinstance(start.seconds_total, (list, tuple)):
        raise ValueError(f"seconds_total must be one number for a run (the span its loss sees), got "
                         f"{list(start.seconds_total)!r}; generate takes one per batch item")
    sample_size, seconds_total = resolve_length(model, start.sample_size, start.seconds_start, start.seconds_total)
    check_window(model, sample_size, seconds_total)  # the loss sees the window only
    sample_size = sat_adapter.generation_sample_size(model, sample_size, seconds_total)  # SA3: seconds_total + 6 s,
    # as `generate` renders it (not the model's whole 120 s window for a 10 s request)
    check_start(start.batch_size, start.init_audio, start.init_noise_level)
    span = min(sample_size, int(round(seconds_total * model.sample_rate)))
    latent_shape = (start.batch_size, model.latent_channels, sample_size // model.latent_stride)
    x_T = draw_x_T(model, start.seed, latent_shape, start.x_T)
    cond = build_conditioning(model, start.prompt, seconds_start=start.seconds_start, seconds_total=seconds_total,
                              batch_size=start.batch_size, negative_prompt=start.negative_prompt,
                              conditioning_tensors=start.conditioning_tensors, latent_frames=latent_shape[-1])
    init_latents = encode_init_audio(model, start.init_audio, sample_size, start.batch_size)
    chain = dataclasses.replace(render_chain, steps=speed.surrogate_steps or sampling.steps)
    keep_steps, measured = _keep_steps(model, cond, chain, x_T, speed)
    speed = dataclasses.replace(speed, keep_steps=keep_steps)
    noises = None
    if optimize_noise:
        _check_noise_variables(model, chain, speed)
        noises = draw_noises(model, x_T, chain, noise_seed=start.seed + 1, init_latents=init_latents,
                             init_noise_level=start.init_noise_level)
    latent_part, audio_part = objectives.split_domains(objective)  # editing losses read latents, controls audio
    problem = Problem(model=model, cond=cond, chain=chain, render_chain=render_chain, speed=speed, x_T=x_T,
                      latent_part=latent_part, audio_part=audio_part, span=span,
                      decode_frames=min(latent_shape[-1], -(-span // model.latent_stride) + DECODE_CONTEXT_FRAMES),
                      init_latents=init_latents, init_noise_level=start.init_noise_level, noise_seed=start.seed + 1,
                      chunk_latents=speed.chunk_latents, decoder_dtype=torch.bfloat16 if speed.decoder_bf16 else None,
                      decoder_checkpoint=speed.decoder_checkpoint, surrogate=speed.surrogate_steps is not None,
                      noises=noises,
                      decoder_noise_seed=start.seed + 2 if sat_adapter.has_decoder_noise(model) else None)
    recorded = {name: getattr(start, name) for name in field_names(StartSettings) if name != "has_init_audio"}
    recorded.update(seconds_total=seconds_total, sample_size=sample_size, has_init_audio=start.init_audio is not None)
    settings = RunSettings(start=StartSettings(**recorded),
                           sampling=dataclasses.replace(sampling, apg_scale=sat_adapter.resolved_apg_scale(
                               sampling.apg_scale)),  # the installed SAT's default
                           speed=speed, model=model.source, device=str(model.device), activation_gb_per_step=measured)
    return problem, settings


def _check_noise_variables(model: Model, chain: SamplerConfig, speed: SpeedConfig) -> None:
    if chain.spec(model).noise is None:
        raise ValueError(f"optimize_noise=True needs a stochastic sampler; {chain.sampler!r} injects no noise "
                         f"(stochastic: {', '.join(STOCHASTIC_SAMPLERS)})")
    if speed.surrogate_steps is not None:
        raise ValueError(f"surrogate_steps={speed.surrogate_steps!r} cannot be used with optimized per-step noises: "
                         f"the short chain's noises do not carry over to the full render; pass optimize_noise=False "
                         f"or a deterministic sampler")


def _keep_steps(model: Model, cond: Conditioning, chain: SamplerConfig, x_T: torch.Tensor,
                speed: SpeedConfig) -> tuple[int, float | None]:
    """The steps that keep their activations: `speed.keep_steps`; else as many as `memory_budget_gb` holds
    (measured per step); else 0, every step recomputed and memory flat in steps (a default that picked from the
    memory free was measured to overrun 20 GB on Stable Audio 3 Small at 10 s: one step's activations are not
    the iteration's whole peak); and the measurement (GB per step; None when none was made)."""
    keep_steps, budget_gb = speed.keep_steps, speed.memory_budget_gb
    if keep_steps is not None:
        return keep_steps, None
    if budget_gb is None:
        return 0, None
    per_step = activation_bytes_per_step(model, cond, chain, x_T, autocast_bf16=speed.autocast_bf16)
    return min(chain.steps, int(budget_gb * 1e9 // max(per_step, 1))), per_step / 1e9


class NonFinite(ArithmeticError):
    """The loss or the gradient of one iteration is NaN or infinite."""


class Descent:
    """The state of the DITTO loop: the variables (x_T, and a stochastic sampler's per-step noises when they are
    optimized), the optimizer, the losses, the best variables so far, and the baseline (the seeded start,
    iteration 0). `step` is one iteration; `snapshot` / a resumed state save and restore all of it."""

    def __init__(self, problem: Problem, optimization: OptimizerConfig, state: OptimizationState | None):
        start = problem.start()
        if state is not None:
            start = {"x_T": state.x_T, **({"noises": state.noises} if state.noises is not None else {})}
        device = problem.x_T.device
        self.variables = {name: value.to(device).clone().requires_grad_(True) for name, value in start.items()}
        self.opt = make_optimizer(optimization.optimizer, list(self.variables.values()), optimization.lr)
        self.project_noises = optimization.noise_projection
        self.losses: list[float] = []
        self.best = Best(variables=_detached(problem.start()))
        self.baseline: Render | None = None  # the start's render, kept by iteration 0 of this call
        self.baseline_seconds = 0.0
        self.since_best, self.first_iteration, self.seconds_before = 0, 0, 0.0
        if state is not None:
            self.restore(state, device)
        self.started = time.perf_counter()

    def restore(self, state: OptimizationState, device: torch.device) -> None:
        self.opt.load_state_dict(state.optimizer)
        self.losses = list(state.losses)
        best = {"x_T": state.best_x_T, **({"noises": state.best_noises} if state.best_noises is not None else {})}
        self.best = Best(variables={name: value.to(device) for name, value in best.items()},
                         loss=state.best_loss, iteration=state.best_iteration)
        self.since_best, self.first_iteration, self.seconds_before = state.since_best, state.iteration, state.seconds
        torch.set_rng_state(state.rng_state)

    def elapsed(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def step(self, problem: Problem, iteration: int) -> dict:
        """One iteration: L and its gradient, the best-so-far update, an optimizer step; what `callback` gets."""
        tic = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        latents, audio = problem.features(self.variables)  # (batch, latent_channels, frames), (batch, channels, span)
        loss_per_item = problem.loss(latents, audio)  # (batch,)
        loss = loss_per_item.sum()
        value = loss.item() / problem.x_T.shape[0]
        if self.baseline is None and iteration == 0:
            self.baseline = Render(latents.detach(), _detach(audio))
            self.baseline_seconds = time.perf_counter() - tic
        if not math.isfinite(value):
            raise NonFinite(f"loss became {value} at iteration {iteration}")
        loss.backward()
        grad_norm = math.hypot(*(variable.grad.norm().item() for variable in self.variables.values()))
        if not math.isfinite(grad_norm):
            raise NonFinite(f"gradient became {grad_norm} at iteration {iteration}")
        self.losses.append(value)
        if value < self.best.loss:
            self.best = Best(variables=_detached(self.variables), loss=value, iteration=iteration,
                             render=Render(latents.detach(), _detach(audio)))
            self.since_best = 0
        else:
            self.since_best += 1
        self.opt.step()
        if self.project_noises and "noises" in self.variables:
            project_to_unit_variance(self.variables["noises"])
        return dict(iteration=iteration, loss=value, losses=loss_per_item.detach().cpu().tolist(),
                    best_loss=self.best.loss, grad_norm=grad_norm,
                    grad=self.variables["x_T"].grad.detach().clone(), seconds=time.perf_counter() - tic)

    def stop_reason(self, optimization: OptimizerConfig, should_stop) -> str | None:
        """Why the loop stops after this iteration, or None to go on."""
        if optimization.target_loss is not None and self.best.loss <= optimization.target_loss:
            return "target_loss"
        if optimization.patience is not None and self.since_best >= optimization.patience:
            return "patience"
        if optimization.time_budget_s is not None and self.elapsed() >= optimization.time_budget_s:
            return "time_budget"
        if should_stop is not None and should_stop():
            return "interrupted"
        return None

    def snapshot(self, settings: RunSettings) -> OptimizationState:
        now, best = _on_cpu(self.variables), _on_cpu(self.best.variables)
        return OptimizationState(iteration=len(self.losses), x_T=now["x_T"], optimizer=self.opt.state_dict(),
                                 losses=list(self.losses), best_loss=self.best.loss,
                                 best_iteration=self.best.iteration, best_x_T=best["x_T"],
                                 since_best=self.since_best, seconds=self.elapsed(), rng_state=torch.get_rng_state(),
                                 settings=settings, noises=now.get("noises"), best_noises=best.get("noises"))

    def result(self, problem: Problem, settings: RunSettings, stop_reason: str) -> Result:
        """The best variables rendered, with the baseline and the metrics of both."""
        if self.baseline is None:  # no iteration ran in this call (iterations=0, or a finished resume)
            tic = time.perf_counter()
            self.baseline = problem.render(problem.start())
            self.baseline_seconds = time.perf_counter() - tic
        chosen, baseline, metrics = _final_render(problem, self.best, self.baseline)
        total, best = self.elapsed(), _on_cpu(self.best.variables)
        return Result(audio=chosen.audio, baseline_audio=baseline.audio, x_T=best["x_T"],
                      losses=self.losses, metrics=metrics, sample_rate=problem.model.sample_rate,
                      best_iteration=self.best.iteration,
                      seconds={"total": total, "baseline": self.baseline_seconds,
                               "per_iteration": (total / len(self.losses)) if self.losses else None},
                      settings=settings, stop_reason=stop_reason, noises=best.get("noises"), variables=list(best),
                      advice=(f"no iteration improved on the baseline (loss {self.losses[0]:.4g}): the result is the "
                              f"baseline; try a lower lr (now {settings.get('lr')!r}) or more iterations"
                              if self.losses else None))


def project_to_unit_variance(noises: torch.Tensor) -> None:
    """Rescale, in place, each step's noise of each batch item to the norm of unit-variance noise (sqrt of its
    size); steps that inject nothing (all zero) stay zero. Keeps the optimized noises on the sphere where
    Gaussian noise of that size lives, as the sampler expects."""
    with torch.no_grad():
        norms = noises.flatten(2).norm(dim=-1)[..., None, None]  # (steps, batch, 1, 1)
        size = noises[0, 0].numel()
        noises.mul_(torch.where(norms > 0, size ** 0.5 / norms.clamp_min(1e-12), torch.ones_like(norms)))


def _detached(variables: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in variables.items()}


def _on_cpu(variables: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in variables.items()}


@dataclasses.dataclass
class Control:
    """How a run is watched, saved and stopped from outside; none of it changes the result."""

    callback: tp.Callable[[dict], None] | None = None  # called after every iteration with Descent.step's dict
    progress: bool = True  # a progress bar
    state_path: str | os.PathLike | None = None  # save an OptimizationState here every `save_every` iterations
    save_every: int = 10
    resume: OptimizationState | str | os.PathLike | None = None  # continue this state (or its path)
    should_stop: tp.Callable[[], bool] | None = None  # asked after every iteration; True ends the loop there

    def validate(self) -> None:
        if not is_count(self.save_every, 1):
            raise ValueError(f"save_every must be an integer >= 1 (iterations between saved states), "
                             f"got {self.save_every!r}")


def descend(problem: Problem, optimization: OptimizerConfig, control: Control, settings: RunSettings) -> Result:
    """DITTO's loop (§3): Adam on x_T against the problem's loss, keeping the best x_T; the final render."""
    descent = Descent(problem, optimization, _resumed_state(control.resume, settings))
    iterations, stop_reason = optimization.iterations, "iterations"
    bar = tqdm(total=iterations, initial=min(descent.first_iteration, iterations), disable=not control.progress,
               desc="DITTO", unit="it")
    with problem.checkpointing():
        for iteration in range(descent.first_iteration, iterations):
            try:
                info = descent.step(problem, iteration)
            except NonFinite as error:
                bar.close()
                raise OptimizationError(f"{error}; lower lr (now {optimization.lr}) or check the objective's "
                                        f"target", descent.result(problem, settings, stop_reason)) from None
            bar.update(1)
            bar.set_postfix(loss=f"{info['loss']:.4g}", best=f"{descent.best.loss:.4g}")
            if control.callback is not None:
                control.callback(info)
            reason = descent.stop_reason(optimization, control.should_stop)
            if reason is not None:
                stop_reason = reason
                break
            if control.state_path is not None and (iteration + 1) % control.save_every == 0 \
                    and iteration + 1 < iterations:
                save_state(control.state_path, descent.snapshot(settings))
        if control.state_path is not None:
            save_state(control.state_path, descent.snapshot(settings))
    bar.close()
    return descent.result(problem, settings, stop_reason)


def _configs(model: Model, given: dict, options: dict) -> tuple[SamplerConfig, OptimizerConfig, SpeedConfig, Control]:
    """`optimize`'s arguments as its configs, with the model's own defaults for what was left None. `given` holds
    the config objects (sampling, optimization, speed; None where not given) and the named flat keywords;
    `options` the other keywords (the `Start` fields among them are left out here)."""
    split = split_options("optimize", options, OPTION_GROUPS, CONTROL_OPTIONS + START_OPTIONS)
    split["extra"] = {name: value for name, value in split["extra"].items() if name in CONTROL_OPTIONS}
    flat = {group: {**{k: v for k, v in given.items() if k in field_names(OPTION_GROUPS[group]) and v is not None},
                    **split[group]} for group in OPTION_GROUPS}
    configs = {group: config_or_fields("optimize", group, given[group], config_type, flat[group])
               for group, config_type in OPTION_GROUPS.items()}
    sampling = control_sampling(model, configs["sampling"])
    optimization = configs["optimization"]
    if optimization.lr is None:
        optimization = dataclasses.replace(optimization, lr=default_lr(model))
    optimization.validate()
    if optimization.optimize_noise is None:  # by default, a stochastic sampler's noises are variables too
        sampling.validate(model)
        optimization = dataclasses.replace(optimization, optimize_noise=sampling.stochastic)
    control = Control(**split["extra"])
    control.validate()
    return sampling, optimization, configs["speed"], control


OPTION_GROUPS = {"speed": SpeedConfig, "sampling": SamplerConfig, "optimization": OptimizerConfig}
CONTROL_OPTIONS = tuple(field.name for field in dataclasses.fields(Control))
START_OPTIONS = tuple(field.name for field in dataclasses.fields(Start)  # optimize's keywords for the Start
                      if field.name not in ("prompt", "seconds_total", "sample_size", "seed"))  # beyond its named ones


def optimize(model: Model, objective: Objective, *, prompt: str, seconds_total: float | None = None,
             sample_size: int | None = None, steps: int | None = None, sampler: str | None = None,
             cfg_scale: float | None = None, iterations: int | None = None, lr: float | None = None, seed: int = 0,
             sampling: SamplerConfig | None = None, optimization: OptimizerConfig | None = None,
             speed: SpeedConfig | None = None, **options) -> Result:
    """Optimize x_T so that `objective(audio, sample_rate)` falls; returns the best x_T and its audio.

    Sampling arguments mean what they mean in `ditto.generate`; with `iterations=0` the result's audio is
    exactly `generate(..., cut_to_seconds_total=True)`. The objective sees only the first `seconds_total`
    seconds of each decoded window. `sample_size` below the model's window makes each iteration cheaper.
    Latent-domain objectives (editing losses, `domain = "latent"`) are called on the x_0 latents
    (batch, latent_channels, latent_frames) and the latent frame rate instead; with no audio-domain term the
    decoder is skipped while optimizing. `edit + 0.025 * intensity` (an `objectives.Joint`) feeds each part its own.

    - `lr`, `sampler`, `steps` and `cfg_scale` left None take the model's own defaults (`model.defaults`), else
      the paper's: Adam at 5e-3, a deterministic DDIM-like sampler (v-ddim, or euler for flows), 20 steps, CFG 7.
    - Stochastic samplers draw their per-step noise from a source seeded once (seed + 1), so the loss is a
      deterministic function of x_T.
    - What the run starts from, as in `generate` (the `Start` fields): `seconds_start`, `batch_size`,
      `negative_prompt`, `init_audio` and `init_noise_level` (audio-to-audio), `x_T` (replaces the seeded draw),
      `conditioning_tensors` (replaces conditioner outputs, e.g. precomputed T5 tokens).

    `iterations` left None is 70 (the paper's). The settings can come as config objects instead:
    `sampling=SamplerConfig(...)`, `optimization=OptimizerConfig(...)`, `speed=SpeedConfig(...)`; a config object
    and a keyword for one of its fields together are a TypeError. Every other setting is a keyword argument
    named after its field (`**dataclasses.asdict(config)` works):
    - `SamplerConfig`: `sigma_min`, `sigma_max`, `rho`, `schedule`, `cfg_interval`, `scale_phi`, `apg_scale`
      (stable-audio-tools 0.0.20's APG blend; None: the installed release's default).
    - `OptimizerConfig`: `optimizer` ("adam", or "sgd": momentum 0.9); early stops `target_loss` (the best loss reaches
      it), `patience` (iterations without a new best), `time_budget_s` (seconds); `optimize_noise`: a stochastic
      sampler's per-step injected noises become variables beside x_T (default: yes for stochastic samplers,
      through which x_T alone barely reaches the output; `Result.noises` holds them and
      `generate(..., x_T=, noises=)` re-renders the result), `noise_projection` keeps each at unit-variance norm.
    - `SpeedConfig` (docs/performance.md has the measurements): `checkpoint` every sampler step and
      `decoder_checkpoint` the decoder's residual units (memory flat in steps); `chunk_latents` decodes in
      overlapping chunks; `autocast_bf16` (the DiT) and `decoder_bf16` (a bf16 copy of the decoder);
      `keep_steps=k` keeps the first k steps' activations, or `memory_budget_gb` picks k from a measurement
      of one step (it does not count the decoder's backward: leave room); with neither every step is recomputed;
      `surrogate_steps=k` optimizes through a k-step chain, then renders the best x_T (and the baseline) with
      `steps`: metrics["after"] is that final render's, metrics["after_surrogate"] the k-step render's.
      Only the latents the loss reads are decoded: the span plus 16 latents of context (within 1e-6 of peak).
    - `Control`: `callback(info)` after every iteration (iteration, loss, best_loss, grad_norm, grad = dL/dx_T,
      seconds); `progress`; `state_path` saves an `OptimizationState` every `save_every` iterations and when the
      loop stops, and `resume` (a state or its path) continues it: same settings (`RESUMABLE_CHANGES` aside) and,
      on the CPU, bitwise the same x_T and losses as a run never stopped; `should_stop()` is asked after every
      iteration, True ends the loop with stop_reason "interrupted" (the recipes set it from SIGINT / SIGTERM).

    A NaN/inf loss or gradient raises `OptimizationError` naming the iteration; its `.result` is the best so far.
    """
    given = dict(sampling=sampling, optimization=optimization, speed=speed, sampler=sampler, steps=steps,
                 cfg_scale=cfg_scale, iterations=iterations, lr=lr)
    sampling, optimization, speed, control = _configs(model, given, options)
    start = Start(prompt=prompt, seconds_total=seconds_total, sample_size=sample_size, seed=seed,
                  **{name: options[name] for name in START_OPTIONS if name in options})
    problem, settings = build_problem(model, objective, start, sampling, speed,
                                      optimize_noise=optimization.optimize_noise)
    return descend(problem, optimization, control, dataclasses.replace(settings, optimization=optimization))
