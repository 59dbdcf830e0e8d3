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
from .generation import (Conditioning, InitAudio, SamplerConfig, build_conditioning, check_window, decode,
                         draw_x_T, encode_init_audio, resolve_length, sample_latents, velocity_model)
from .loading import Model
from .sampling import EVALUATIONS_PER_STEP

Objective = tp.Callable[[torch.Tensor, int], torch.Tensor]  # (audio (batch, channels, samples), rate) -> (batch,)

OPTIMIZERS = ("adam", "adamw", "sgd")
DECODE_CONTEXT_FRAMES = 16  # latents decoded past the loss's span: the decoder's receptive field (error < 1e-6 of peak)


def default_lr(model: Model) -> float:
    """Adam's step size for `model`: its config's "ditto" lr (the tiny model: 0.3), else the paper's 5e-3."""
    return model.defaults.lr


def default_sampler(model: Model) -> str:
    """The model's own default, else a deterministic DDIM-like sampler as in the paper: DDIM (v models) or Euler
    (rectified flows)."""
    if model.defaults.sampler is not None:
        return model.defaults.sampler
    return "v-ddim" if model.diffusion_objective == "v" else "euler"


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
    settings: dict  # every setting of the run, JSON-serialisable
    stop_reason: str  # "iterations", "target_loss", "patience", "time_budget", "interrupted"
    latents: torch.Tensor | None = None  # (batch, latent_channels, latent_frames): x_0 of the returned audio

    @property
    def improved(self) -> bool:
        """Whether some iteration beat the baseline x_T (losses[0] is the baseline's loss)."""
        return self.best_iteration > 0

    @property
    def warning(self) -> str | None:
        """One line for the report and the terminal when the optimization did not pay off; None otherwise."""
        if not self.losses or self.improved:
            return None
        return (f"no iteration improved on the baseline (loss {self.losses[0]:.4g}): the result is the baseline; "
                f"try a lower lr (now {self.settings.get('lr')!r}) or more iterations")


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
    settings: dict  # the run's settings: a resumed run must match them (RESUMABLE_CHANGES aside)


RESUMABLE_CHANGES = ("iterations", "target_loss", "patience", "time_budget_s", "device")  # may differ on resume


def save_state(path: str | os.PathLike, state: OptimizationState) -> Path:
    """Write `state` atomically (a kill mid-write leaves the previous state intact)."""
    return save_torch(path, dataclasses.asdict(state))


def load_state(path: str | os.PathLike) -> OptimizationState:
    """An `OptimizationState` saved by `save_state`; a ValueError names a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no optimization state at {str(path)!r}; it is written by optimize(..., state_path=...)")
    try:
        fields = torch.load(path, map_location="cpu", weights_only=True)
        return OptimizationState(**fields)
    except Exception as error:  # a truncated or foreign file: torch raises several types
        raise ValueError(f"cannot read optimization state {str(path)!r}: {str(error).splitlines()[0]}") from None


@dataclasses.dataclass
class Problem:
    """DITTO's function of x_T, fixed for one run: x_T -> x_0 latents (the sampling chain) -> audio (the decoder)
    -> loss. Conditioning, init latents, the per-step noise seed and what to decode are set once, so the loss is a
    deterministic function of x_T; `optimize` descends on it, and other control methods can reuse it."""

    model: Model
    cond: Conditioning
    chain: SamplerConfig  # the chain optimized through
    render_chain: SamplerConfig  # the chain the result is rendered with (longer than `chain` with a surrogate)
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

    @property
    def frame_rate(self) -> float:
        return self.model.sample_rate / self.model.latent_stride

    def latents(self, x_T: torch.Tensor, chain: SamplerConfig | None = None) -> torch.Tensor:
        """x_T -> x_0 latents (batch, latent_channels, latent_frames) through the sampling chain."""
        return sample_latents(self.model, x_T, self.cond, chain or self.chain, init_latents=self.init_latents,
                              init_noise_level=self.init_noise_level, noise_seed=self.noise_seed)

    def audio(self, latents: torch.Tensor) -> torch.Tensor:
        """x_0 latents -> audio (batch, channels, span): decodes only the frames the span needs (+ context)."""
        return decode(self.model, latents[..., :self.decode_frames], chunk_latents=self.chunk_latents,
                      dtype=self.decoder_dtype)[..., :self.span].float()

    def features(self, x_T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(latents, audio or None): what the objective's parts read; the decoder is skipped without an audio part."""
        latents = self.latents(x_T)
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

    def render(self, x_T: torch.Tensor, chain: SamplerConfig | None = None) -> dict:
        """{"latents", "audio"} of `x_T`, without gradients."""
        with torch.no_grad():
            latents = self.latents(x_T, chain)
            return dict(latents=latents, audio=self.audio(latents))


def _final_render(problem: Problem, best: dict, baseline: dict, surrogate: bool) -> tuple[dict, dict, dict]:
    """(result, baseline, metrics) as reported: renders what the loop did not keep; with a surrogate chain, both
    x_T rendered again with the full chain, whose metrics become "before"/"after" (the surrogate's kept beside)."""
    if baseline["latents"] is None:  # no iteration ran in this call (iterations=0, or a finished resume)
        tic = time.perf_counter()
        baseline.update(problem.render(problem.x_T), seconds=time.perf_counter() - tic)
    if best["iteration"] >= 0 and best["latents"] is None:
        best.update(problem.render(best["x_T"]))
    chosen = best if best["iteration"] >= 0 else baseline
    with torch.no_grad():
        if chosen["audio"] is None:
            chosen = {**chosen, "audio": problem.audio(chosen["latents"])}
        if baseline["audio"] is None:
            baseline = {**baseline, "audio": problem.audio(baseline["latents"])}
        metrics = {"before": problem.metrics(baseline["latents"], baseline["audio"]),
                   "after": problem.metrics(chosen["latents"], chosen["audio"])}
    if surrogate:
        final = dataclasses.replace(problem.render_chain, checkpoint=False)
        metrics["before_surrogate"], metrics["after_surrogate"] = metrics["before"], metrics["after"]
        chosen, baseline = problem.render(best["x_T"], final), {**baseline, **problem.render(problem.x_T, final)}
        metrics["before"] = problem.metrics(baseline["latents"], baseline["audio"])
        metrics["after"] = problem.metrics(chosen["latents"], chosen["audio"])
    return chosen, baseline, metrics


def optimize(model: Model, objective: Objective, *, prompt: str, seconds_total: float | None = None,
             sample_size: int | None = None, seconds_start: float = 0.0, steps: int = 20,
             sampler: str | None = None, cfg_scale: float = 7.0, iterations: int = 70, lr: float | None = None,
             seed: int = 0, optimizer: str = "adam", negative_prompt: str | None = None, sigma_min: float = 0.3,
             sigma_max: float = 500.0, rho: float = 1.0, schedule: str = "polyexponential",
             cfg_interval: tuple[float, float] = (0.0, 1.0), scale_phi: float = 0.0, batch_size: int = 1,
             init_audio: InitAudio | None = None, init_noise_level: float = 1.0, x_T: torch.Tensor | None = None,
             checkpoint: bool = True, decoder_checkpoint: bool = True, chunk_latents: int | None = None,
             autocast_bf16: bool = False, decoder_bf16: bool = False, keep_steps: int | None = None,
             memory_budget_gb: float | None = None, surrogate_steps: int | None = None,
             conditioning_tensors: dict | None = None, target_loss: float | None = None, patience: int | None = None,
             time_budget_s: float | None = None, callback: tp.Callable[[dict], None] | None = None,
             progress: bool = True, state_path: str | os.PathLike | None = None, save_every: int = 10,
             resume: OptimizationState | str | os.PathLike | None = None,
             should_stop: tp.Callable[[], bool] | None = None) -> Result:
    """Optimize x_T so that `objective(audio, sample_rate)` falls; returns the best x_T and its audio.

    Sampling arguments mean what they mean in `ditto.generate`; with `iterations=0` the result's audio is
    exactly `generate(..., cut_to_seconds_total=True)`. The objective sees only the first `seconds_total`
    seconds of each decoded window. `sample_size` below the model's window makes each iteration cheaper.
    Latent-domain objectives (editing losses, `domain = "latent"`) are called on the x_0 latents
    (batch, latent_channels, latent_frames) and the latent frame rate instead; with no audio-domain term the
    decoder is skipped while optimizing. `edit + 0.025 * intensity` (an `objectives.Joint`) feeds each part its own.

    - `conditioning_tensors` replaces conditioner outputs (e.g. precomputed T5 tokens), as in `generate`.
    - `lr=None` picks `default_lr(model)`; `sampler=None` a deterministic DDIM-like sampler.
    - Stochastic samplers draw their per-step noise from a source seeded once (seed + 1), so the loss is a
      deterministic function of x_T.
    - `checkpoint` checkpoints every sampler step; `decoder_checkpoint` the VAE decoder's residual units;
      `chunk_latents` decodes in overlapping chunks of that many latents.
    Speed and memory modes (docs/performance.md has the measurements):
    - `autocast_bf16` runs the DiT under bf16 autocast; `decoder_bf16` decodes with a bf16 copy of the VAE decoder.
    - `keep_steps=k` keeps the activations of the first k sampler steps instead of recomputing them;
      `memory_budget_gb` picks k from a measurement of one step's activations (on a big card: no recomputation).
    - Only the latents the loss reads are decoded: the span `seconds_total` plus 16 latents of context
      (matching a full decode within 1e-6 of peak on the tiny model); latent-only objectives skip the decoder.
    - `surrogate_steps=k` optimizes through a k-step chain (cheap), then renders the best x_T (and the baseline)
      with `steps`; metrics["after"] is the control metric of that final render, metrics["after_surrogate"] of
      the k-step render (DITTO-2's idea, without distillation).
    - Stops early once the loss reaches `target_loss`, after `patience` iterations without a new best, or once
      `time_budget_s` seconds have passed.
    - `callback(info)` runs after every iteration with iteration, loss, best_loss, grad_norm, grad (dL/dx_T), seconds.
    - A NaN/inf loss or gradient raises `OptimizationError` naming the iteration; its `.result` is the best so far.
    Never losing work:
    - `state_path` saves an `OptimizationState` every `save_every` iterations and when the loop stops;
      `resume` (a state or its path) continues it: same settings (`RESUMABLE_CHANGES` aside), and on the CPU
      bitwise the same x_T and losses as a run that was never stopped.
    - `should_stop()` is asked after every iteration; True ends the loop there with stop_reason "interrupted"
      (the recipes set it from SIGINT / SIGTERM).
    """
    sampler = sampler or default_sampler(model)
    lr = default_lr(model) if lr is None else lr
    render_config = SamplerConfig(sampler=sampler, steps=steps, sigma_min=sigma_min, sigma_max=sigma_max, rho=rho,
                                  schedule=schedule, cfg_scale=cfg_scale,
                                  cfg_interval=tuple(cfg_interval) if isinstance(cfg_interval, list) else cfg_interval,
                                  scale_phi=scale_phi, checkpoint=checkpoint, autocast_bf16=autocast_bf16)
    render_config.validate(model)
    if surrogate_steps is not None and (isinstance(surrogate_steps, bool) or not isinstance(surrogate_steps, int)
                                        or not 1 <= surrogate_steps):
        raise ValueError(f"surrogate_steps must be an integer >= 1, got {surrogate_steps!r}")
    config = dataclasses.replace(render_config, steps=surrogate_steps or steps)  # the chain DITTO optimizes through
    if memory_budget_gb is not None and not (memory_budget_gb >= 0):
        raise ValueError(f"memory_budget_gb must be >= 0, got {memory_budget_gb!r}")
    sample_size, seconds_total = resolve_length(model, sample_size, seconds_start, seconds_total)
    check_window(model, sample_size, seconds_total)  # the loss sees the window only
    _check_optimizer_args(objective, iterations, lr, optimizer, batch_size, target_loss, patience, chunk_latents)
    if isinstance(save_every, bool) or not isinstance(save_every, int) or save_every < 1:
        raise ValueError(f"save_every must be an integer >= 1 (iterations between saved states), got {save_every!r}")
    span = min(sample_size, int(round(seconds_total * model.sample_rate)))
    latent_shape = (batch_size, model.latent_channels, sample_size // model.latent_stride)
    settings = dict(prompt=prompt, negative_prompt=negative_prompt, seconds_start=seconds_start,
                    seconds_total=seconds_total, sample_size=sample_size, steps=steps, sampler=sampler,
                    cfg_scale=cfg_scale, cfg_interval=list(cfg_interval), scale_phi=scale_phi, sigma_min=sigma_min,
                    sigma_max=sigma_max, rho=rho, schedule=schedule, iterations=iterations, lr=lr, seed=seed,
                    optimizer=optimizer, batch_size=batch_size, init_noise_level=init_noise_level,
                    has_init_audio=init_audio is not None, checkpoint=checkpoint,
                    decoder_checkpoint=decoder_checkpoint, chunk_latents=chunk_latents, autocast_bf16=autocast_bf16,
                    decoder_bf16=decoder_bf16, keep_steps=keep_steps, memory_budget_gb=memory_budget_gb,
                    surrogate_steps=surrogate_steps, target_loss=target_loss, patience=patience,
                    time_budget_s=time_budget_s, model=model.source,
                    device=str(model.device))

    # Same draws, in the same order, as generate(): x_T, then (for init audio) the VAE posterior sample.
    x_T_start = draw_x_T(model, seed, latent_shape, x_T)
    cond = build_conditioning(model, prompt, seconds_start=seconds_start, seconds_total=seconds_total,
                              batch_size=batch_size, negative_prompt=negative_prompt,
                              conditioning_tensors=conditioning_tensors)
    if init_audio is not None and not (init_noise_level > 0):
        raise ValueError(f"init_noise_level must be > 0, got {init_noise_level!r}")
    init_latents = encode_init_audio(model, init_audio, sample_size, batch_size)
    if keep_steps is None and memory_budget_gb is not None:
        per_step = activation_bytes_per_step(model, cond, config, x_T_start)
        keep_steps = min(config.steps, int(memory_budget_gb * 1e9 // max(per_step, 1)))
        settings["activation_gb_per_step"] = per_step / 1e9
    if keep_steps:
        config = dataclasses.replace(config, keep_steps=keep_steps)
        config.validate(model)
    settings["keep_steps"] = config.keep_steps
    # Editing losses read latents, control losses read audio; a Joint objective has both parts.
    latent_part, audio_part = objectives.split_domains(objective)
    decode_frames = min(sample_size // model.latent_stride,
                        -(-span // model.latent_stride) + DECODE_CONTEXT_FRAMES)
    problem = Problem(model=model, cond=cond, chain=config, render_chain=render_config, x_T=x_T_start,
                      latent_part=latent_part, audio_part=audio_part, span=span, decode_frames=decode_frames,
                      init_latents=init_latents, init_noise_level=init_noise_level, noise_seed=seed + 1,
                      chunk_latents=chunk_latents, decoder_dtype=torch.bfloat16 if decoder_bf16 else None)

    state = _resumed_state(resume, settings)
    variable = (x_T_start if state is None else state.x_T.to(x_T_start.device)).clone().requires_grad_(True)
    opt = _make_optimizer(optimizer, variable, lr)
    losses: list[float] = []
    best = dict(loss=math.inf, iteration=-1, x_T=x_T_start.detach().clone(), latents=None, audio=None)  # so far
    baseline: dict = dict(latents=None, audio=None, seconds=0.0)
    since_best, first_iteration, seconds_before = 0, 0, 0.0
    if state is not None:
        opt.load_state_dict(state.optimizer)
        losses = list(state.losses)
        best.update(loss=state.best_loss, iteration=state.best_iteration, x_T=state.best_x_T.to(x_T_start.device))
        since_best, first_iteration, seconds_before = state.since_best, state.iteration, state.seconds
        torch.set_rng_state(state.rng_state)
    stop_reason = "iterations"
    start = time.perf_counter()
    bar = tqdm(total=iterations, initial=min(first_iteration, iterations), disable=not progress, desc="DITTO",
               unit="it")

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - start

    def snapshot(iteration: int) -> OptimizationState:
        return OptimizationState(iteration=iteration, x_T=variable.detach().cpu().clone(), optimizer=opt.state_dict(),
                                 losses=list(losses), best_loss=best["loss"], best_iteration=best["iteration"],
                                 best_x_T=best["x_T"].detach().cpu().clone(), since_best=since_best,
                                 seconds=elapsed(), rng_state=torch.get_rng_state(), settings=settings)

    def result() -> Result:
        chosen, shown_baseline, metrics = _final_render(problem, best, baseline, surrogate_steps is not None)
        total = elapsed()
        return Result(audio=chosen["audio"], baseline_audio=shown_baseline["audio"], x_T=best["x_T"].cpu(),
                      losses=losses, metrics=metrics, sample_rate=model.sample_rate, best_iteration=best["iteration"],
                      seconds={"total": total, "baseline": baseline["seconds"],
                               "per_iteration": (total / len(losses)) if losses else None},
                      settings=settings, stop_reason=stop_reason, latents=chosen["latents"])

    with sat_adapter.set_decoder_checkpointing(model, decoder_checkpoint):
        for iteration in range(first_iteration, iterations):
            tic = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            latents, audio = problem.features(variable)  # (batch, latent_channels, frames), (batch, channels, span)
            loss_per_item = problem.loss(latents, audio)  # (batch,)
            loss = loss_per_item.sum()
            value = loss.item() / batch_size
            if baseline["latents"] is None and iteration == 0:
                baseline.update(latents=latents.detach(), audio=_detach(audio), seconds=time.perf_counter() - tic)
            if not math.isfinite(value):
                bar.close()
                raise OptimizationError(f"loss became {value} at iteration {iteration}; lower lr (now {lr}) or "
                                        f"check the objective's target", result())
            loss.backward()
            grad_norm = variable.grad.norm().item()
            if not math.isfinite(grad_norm):
                bar.close()
                raise OptimizationError(f"gradient became {grad_norm} at iteration {iteration}; lower lr (now {lr})",
                                        result())
            losses.append(value)
            if value < best["loss"]:
                best.update(loss=value, iteration=iteration, x_T=variable.detach().clone(), latents=latents.detach(),
                            audio=_detach(audio))
                since_best = 0
            else:
                since_best += 1
            opt.step()
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", best=f"{best['loss']:.4g}")
            if callback is not None:
                callback(dict(iteration=iteration, loss=value, losses=loss_per_item.detach().cpu().tolist(),
                              best_loss=best["loss"], grad_norm=grad_norm, grad=variable.grad.detach().clone(),
                              seconds=time.perf_counter() - tic))
            reason = _stop_reason(best["loss"], since_best, elapsed(), target_loss, patience, time_budget_s,
                                  should_stop)
            if reason is not None:
                stop_reason = reason
                break
            if state_path is not None and (iteration + 1) % save_every == 0 and iteration + 1 < iterations:
                save_state(state_path, snapshot(iteration + 1))
        if state_path is not None:
            save_state(state_path, snapshot(len(losses)))
    bar.close()
    return result()


def _stop_reason(best_loss, since_best, seconds, target_loss, patience, time_budget_s, should_stop) -> str | None:
    """Why the loop stops after this iteration, or None to go on."""
    if target_loss is not None and best_loss <= target_loss:
        return "target_loss"
    if patience is not None and since_best >= patience:
        return "patience"
    if time_budget_s is not None and seconds >= time_budget_s:
        return "time_budget"
    if should_stop is not None and should_stop():
        return "interrupted"
    return None


def _resumed_state(resume, settings: dict) -> OptimizationState | None:
    """The state to continue from (None for a fresh run); a ValueError names settings that differ from it."""
    if resume is None:
        return None
    state = resume if isinstance(resume, OptimizationState) else load_state(resume)
    changed = [f"{key}={state.settings.get(key)!r} -> {settings.get(key)!r}" for key in sorted(settings)
               if key not in RESUMABLE_CHANGES and state.settings.get(key) != settings.get(key)]
    if changed:
        raise ValueError(f"cannot resume: the saved run had other settings ({'; '.join(changed)}); only "
                         f"{', '.join(RESUMABLE_CHANGES)} may change")
    return state


def activation_bytes_per_step(model: Model, cond, config: SamplerConfig, x_T: torch.Tensor) -> int:
    """Bytes autograd saves for one un-checkpointed sampler step (model evaluations per step x one evaluation)."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    x = x_T.detach().to(model.dtype).requires_grad_(True)
    t = torch.full((x.shape[0],), 0.5, device=x.device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        velocity_model(model, cond, config)(x, t)
    return total * EVALUATIONS_PER_STEP.get(config.sampler, 1)


def _detach(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach()


def _metric(objective: Objective, audio: torch.Tensor, sample_rate: int) -> dict:
    metric = getattr(objective, "metric", None)
    with torch.no_grad():
        return dict(metric(audio, sample_rate)) if metric is not None else {}


def _make_optimizer(name: str, variable: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam([variable], lr=lr)
    if name == "adamw":
        return torch.optim.AdamW([variable], lr=lr, weight_decay=0.0)
    return torch.optim.SGD([variable], lr=lr, momentum=0.9)


def _check_optimizer_args(objective, iterations, lr, optimizer, batch_size, target_loss, patience, chunk_latents):
    if not callable(objective):
        raise ValueError(f"objective must be callable (audio, sample_rate) -> loss (batch,), got {objective!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    if not (lr > 0) or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if target_loss is not None and not math.isfinite(target_loss):
        raise ValueError(f"target_loss must be finite, got {target_loss!r}")
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
    if chunk_latents is not None and (not isinstance(chunk_latents, int) or chunk_latents <= 64):
        raise ValueError(f"chunk_latents must be an integer > 64 (the decode overlap is 32 latents), got {chunk_latents!r}")
