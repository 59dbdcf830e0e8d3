"""Control methods beside DITTO, on the same problem, objectives, metrics and clock: training-free guidance and
best-of-N. Each returns a `ditto.Result` whose fields mean what they mean for `ditto.optimize`.

- `guide`: DPS-style guidance (Chung et al. 2023; FreeDoM, Yu et al. 2023): at each guided step of a
  deterministic sampler, the objective of the decoded x0-prediction is differentiated with respect to x_t and
  the step's output moves against that gradient, by `scale / sqrt(loss)` (DPS's normalisation); optional
  time-travel repeats re-noise to t and redo the step (FreeDoM). The network and the decoder run forward and
  backward once per guided step; x_T is never optimized.
- `best_of_n`: render n seeds (or as many as a time budget allows), batched, and keep the lowest loss.
"""

from __future__ import annotations

import dataclasses
import math
import time
import typing as tp

import torch
from tqdm.auto import tqdm

from .config import SamplerConfig, SpeedConfig, is_count, is_finite_number, split_options
from .generation import draw_x_T, velocity_model
from .loading import Model
from .optimize import Objective, Problem, Result, Start, build_problem, control_sampling
from .sampling import rf_timesteps

GUIDED_SAMPLERS = ("v-ddim", "euler")  # the deterministic samplers guidance steps through (v models, flows)
METHODS = ("ditto", "guidance", "best-of-n")
GUIDANCE_SCALE = 1000.0  # guide's default step size: the best of 10..10000 for all three targets on the tiny model


START_OPTIONS = ("seconds_total", "sample_size", "seconds_start", "negative_prompt", "init_audio", "init_noise_level",
                 "conditioning_tensors")  # `Start` fields the methods take as keywords


def _problem(model: Model, objective: Objective, *, prompt: str, seed: int, batch_size: int, options: dict,
             caller: str, start_options: tp.Sequence[str] = START_OPTIONS) -> tuple[Problem, dict]:
    """The run's problem as `optimize` builds it (x_T alone: no per-step noise variables); `sampler`, `steps`
    and `cfg_scale` left out or None take the model's defaults, as in `optimize`."""
    split = split_options(caller, options, {"speed": SpeedConfig, "sampling": SamplerConfig}, start_options)
    sampling = control_sampling(model, **{k: v for k, v in split["sampling"].items() if v is not None})
    start = Start(prompt=prompt, seed=seed, batch_size=batch_size, **split["extra"])
    return build_problem(model, objective, start, sampling, SpeedConfig(**split["speed"]))


def _result(problem: Problem, chosen: dict, baseline: dict, x_T: torch.Tensor, losses: list[float],
            best: int, seconds: dict, settings: dict, stop_reason: str) -> Result:
    with torch.no_grad():
        metrics = {"before": problem.metrics(baseline["latents"], baseline["audio"]),
                   "after": problem.metrics(chosen["latents"], chosen["audio"])}
    return Result(audio=chosen["audio"], baseline_audio=baseline["audio"], x_T=x_T.detach().cpu(), losses=losses,
                  metrics=metrics, sample_rate=problem.model.sample_rate, best_iteration=best, seconds=seconds,
                  settings=settings, stop_reason=stop_reason, latents=chosen["latents"])


def best_of_n(model: Model, objective: Objective, *, prompt: str, n: int | None = None,
              time_budget_s: float | None = None, seed: int = 0, batch_size: int = 1, progress: bool = True,
              **options) -> Result:
    """Render seeds seed, seed + 1, ... (`batch_size` at a time) and keep the one whose loss is lowest.

    Stops after `n` candidates, or once `time_budget_s` has passed (at least one batch runs); with both, at
    whichever comes first. `losses` holds each candidate's loss in seed order, `best_iteration` the index of
    the kept one (`settings["best_seed"]` its seed), `baseline_audio` the first seed's render. Other keyword
    arguments are `optimize`'s, under the same names: the window and prompt (`seconds_total`, `sample_size`,
    `seconds_start`, `negative_prompt`, `init_audio`, `init_noise_level`, `conditioning_tensors`), the
    SamplerConfig fields (`sampler`, `steps`, `cfg_scale`, ...) and the SpeedConfig fields.
    """
    if n is None and time_budget_s is None:
        raise ValueError("best_of_n needs n (candidates) or time_budget_s (seconds), or both; got neither")
    if n is not None and not is_count(n, 1):
        raise ValueError(f"n must be an integer >= 1 (candidates to render), got {n!r}")
    if time_budget_s is not None and not (is_finite_number(time_budget_s) and time_budget_s > 0):
        raise ValueError(f"time_budget_s must be a finite number > 0, got {time_budget_s!r}")
    problem, settings = _problem(model, objective, prompt=prompt, seed=seed, batch_size=batch_size,
                                 options=options, caller="best_of_n")
    settings.update(method="best-of-n", n=n, time_budget_s=time_budget_s)
    return _search(problem, settings, n, time_budget_s, progress)


def _search(problem: Problem, settings: dict, n: int | None, time_budget_s: float | None, progress: bool) -> Result:
    """best_of_n's loop: batches of seeds until n candidates or the budget; the best and the first kept."""
    seed, width = settings["seed"], problem.x_T.shape[0]
    shape = (1, *problem.x_T.shape[1:])
    losses, best, first = [], None, None
    tic = time.perf_counter()
    bar = tqdm(total=n, disable=not progress, desc="best-of-N", unit="seed")
    while (n is None or len(losses) < n) and not (time_budget_s and losses
                                                   and time.perf_counter() - tic >= time_budget_s):
        count = width if n is None else min(width, n - len(losses))
        x_T = torch.cat([draw_x_T(problem.model, seed + len(losses) + j, shape) for j in range(count)])
        candidate = dataclasses.replace(problem, x_T=x_T, cond=_first(problem.cond, count),
                                        init_latents=None if problem.init_latents is None
                                        else problem.init_latents[:count])
        rendered = candidate.render(candidate.start())
        with torch.no_grad():
            batch_losses = candidate.loss(rendered["latents"], rendered["audio"]).reshape(-1).tolist()
        for j, value in enumerate(batch_losses):
            one = {key: rendered[key][j:j + 1] for key in ("latents", "audio")}
            if first is None:
                first = one
            if best is None or value < best[0]:
                best = (value, len(losses), one, x_T[j:j + 1])
            losses.append(value)
        bar.update(count)
    bar.close()
    total = time.perf_counter() - tic
    stop_reason = "iterations" if n is not None and len(losses) >= n else "time_budget"
    settings["best_seed"] = seed + best[1]  # generate(..., seed=best_seed) renders the kept candidate alone
    return _result(problem, best[2], first, best[3], losses, best[1],
                   {"total": total, "per_iteration": total / len(losses), "baseline": None}, settings, stop_reason)


def _first(cond, count: int):
    """The conditioning of the first `count` batch items (every item holds the same prompt)."""
    def cut(value):
        if isinstance(value, torch.Tensor):
            return value[:count]
        if isinstance(value, (list, tuple)):
            return type(value)(cut(item) for item in value)
        return value
    return dataclasses.replace(cond, inputs={k: cut(v) for k, v in cond.inputs.items()},
                               negative_inputs={k: cut(v) for k, v in cond.negative_inputs.items()})


@dataclasses.dataclass(frozen=True)
class GuidanceConfig:
    """How `guide` steers: step size, which steps, time-travel repeats."""

    scale: float = 1.0  # x_{i+1} -= scale / sqrt(L_i) * dL_i/dx_i (DPS's step size, normalised by the loss)
    guided_steps: tuple[int, ...] | None = None  # step indices to guide (None: every step but the last)
    repeats: int = 1  # FreeDoM's time travel: re-noise to t_i and redo a guided step this many times in all
    travel_seed: int = 0  # seeds the re-noising of the repeats

    def validate(self, steps: int) -> None:
        if not (is_finite_number(self.scale) and self.scale >= 0):
            raise ValueError(f"scale must be a finite number >= 0 (0: no guidance), got {self.scale!r}")
        if not is_count(self.repeats, 1):
            raise ValueError(f"repeats must be an integer >= 1 (1: no time travel), got {self.repeats!r}")
        if self.guided_steps is not None and not all(is_count(i, 0) and i < steps for i in self.guided_steps):
            raise ValueError(f"guided_steps must be step indices in [0, {steps - 1}], got {list(self.guided_steps)!r}")


def guide(model: Model, objective: Objective, *, prompt: str, scale: float = GUIDANCE_SCALE,
          guided_steps: tp.Sequence[int] | None = None, repeats: int = 1, seed: int = 0, batch_size: int = 1,
          progress: bool = True, **options) -> Result:
    """Training-free guidance of one render toward `objective`, on a deterministic sampler (v-ddim, euler).

    `losses` holds the objective's mean loss at each guided step (of the x0-prediction, so it falls as the
    chain denoises); `baseline_audio` is the unguided render of the same seed (`generate`'s); x_T is the
    seeded start, not optimized. Other keyword arguments are `optimize`'s, under the same names: the window
    and prompt (`seconds_total`, `sample_size`, `seconds_start`, `negative_prompt`, `conditioning_tensors`),
    the SamplerConfig fields (`sampler`, `steps`, `cfg_scale`, ...) and the SpeedConfig fields (bf16 autocast,
    decoder_bf16, chunk_latents apply; the chain is not checkpointed: no backward spans more than one step).
    """
    problem, settings = _problem(model, objective, prompt=prompt, seed=seed, batch_size=batch_size,
                                 options=options, caller="guide",
                                 start_options=[name for name in START_OPTIONS if "init" not in name])
    if problem.chain.sampler not in GUIDED_SAMPLERS:
        raise ValueError(f"guidance steps through a deterministic sampler; got {problem.chain.sampler!r}, valid: "
                         f"{', '.join(GUIDED_SAMPLERS)} (v-ddim for v models, euler for flows)")
    config = GuidanceConfig(scale=scale, repeats=repeats, travel_seed=seed + 2,
                            guided_steps=None if guided_steps is None else tuple(guided_steps))
    config.validate(problem.chain.steps)
    settings.update(method="guidance", **{k: v for k, v in dataclasses.asdict(config).items()})
    tic = time.perf_counter()
    baseline = problem.render(problem.start())
    baseline_seconds = time.perf_counter() - tic
    with problem.checkpointing():
        latents, losses = guided_chain(problem, config, progress)
    with torch.no_grad():
        chosen = {"latents": latents, "audio": problem.audio(latents)}
    total = time.perf_counter() - tic
    return _result(problem, chosen, baseline, problem.x_T, losses, len(losses) - 1,
                   {"total": total, "per_iteration": total / max(len(losses), 1), "baseline": baseline_seconds},
                   settings, "iterations")


def guided_chain(problem: Problem, config: GuidanceConfig, progress: bool) -> tuple[torch.Tensor, list[float]]:
    """The chain x_T -> x_0 with guided steps; the mean loss of the x0-prediction at each guided step."""
    chain, model = problem.chain, problem.model
    v_model = velocity_model(model, problem.cond, chain, autocast_bf16=problem.speed.autocast_bf16)
    flow = chain.sampler == "euler"
    t_max = min(chain.sigma_max, 1.0)
    t = rf_timesteps(chain.steps, t_max) if flow else torch.linspace(t_max, 0, chain.steps + 1)
    guided = set(range(chain.steps - 1) if config.guided_steps is None else config.guided_steps)
    generator = torch.Generator(device=model.device).manual_seed(config.travel_seed)
    x, losses = problem.x_T.to(model.dtype), []
    for i in tqdm(range(chain.steps), disable=not progress, desc="guidance", unit="step"):
        start = x
        for repeat in range(config.repeats if i in guided else 1):
            x, loss = _guided_step(problem, v_model, start, t, i, flow, config.scale if i in guided else None)
            if repeat < config.repeats - 1 and i < chain.steps - 1:
                start = _renoise(x, t[i + 1], t[i], flow, generator)
        if i in guided:
            losses.append(loss)
    return x.detach(), losses


def _guided_step(problem: Problem, v_model, x: torch.Tensor, t: torch.Tensor, i: int, flow: bool,
                 scale: float | None) -> tuple[torch.Tensor, float | None]:
    """One sampler step from t[i] to t[i+1] (SAT's euler / DDIM with eta 0), moved by -scale/sqrt(L) dL/dx."""
    x = x.detach().requires_grad_(scale is not None)
    with torch.set_grad_enabled(scale is not None):
        v = v_model(x, t[i] * x.new_ones([x.shape[0]]))
        if flow:
            x0, x_next = x - t[i] * v, x + (t[i + 1] - t[i]) * v
        else:
            alpha, sigma = torch.cos(t[i] * math.pi / 2), torch.sin(t[i] * math.pi / 2)
            x0 = x * alpha - v * sigma
            eps = x * sigma + v * alpha
            alpha_next, sigma_next = torch.cos(t[i + 1] * math.pi / 2), torch.sin(t[i + 1] * math.pi / 2)
            x_next = x0 if i == len(t) - 2 else x0 * alpha_next + eps * sigma_next
        if scale is None:
            return x_next.detach(), None
        audio = problem.audio(x0) if problem.audio_part is not None else None
        loss = problem.loss(x0, audio)  # (batch,)
        grad, = torch.autograd.grad(loss.sum(), x)
    step = scale / loss.detach().clamp_min(1e-12).sqrt()
    return (x_next - step.view(-1, *[1] * (x.dim() - 1)) * grad).detach(), float(loss.detach().mean())


def _renoise(x: torch.Tensor, t_from: torch.Tensor, t_to: torch.Tensor, flow: bool,
             generator: torch.Generator) -> torch.Tensor:
    """x at level t_from -> a sample at the higher level t_to of the forward process (time travel)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if flow:  # x_t = (1 - t) x0 + t eps
        ratio = (1 - t_to) / (1 - t_from)
        return ratio * x + (t_to ** 2 - (ratio * t_from) ** 2).clamp_min(0).sqrt() * noise
    alpha_from, sigma_from = torch.cos(t_from * math.pi / 2), torch.sin(t_from * math.pi / 2)
    alpha_to, sigma_to = torch.cos(t_to * math.pi / 2), torch.sin(t_to * math.pi / 2)
    ratio = alpha_to / alpha_from
    return ratio * x + (sigma_to ** 2 - (ratio * sigma_from) ** 2).clamp_min(0).sqrt() * noise
