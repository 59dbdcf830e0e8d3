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
import os
import time
import typing as tp

import torch
from tqdm.auto import tqdm

from .config import (METHOD_SETTINGS, RESUMABLE, RunSettings, SamplerConfig, SpeedConfig, config_or_fields, field_names,
                     is_count, is_finite_number, resumable_fields, split_options)
from .generation import draw_x_T, velocity_model
from .files import save_torch
from .loading import Model
from .optimize import NonFinite, Objective, OptimizationError, Problem, Result, Start, build_problem, control_sampling
from .sampling import rf_timesteps

GUIDED_SAMPLERS = ("v-ddim", "euler")  # the deterministic samplers guidance steps through (v models, flows)
METHODS = ("ditto", "guidance", "best-of-n")
GUIDANCE_SCALE = 1000.0  # guide's default step size: the best of 10..10000 for all three targets on the tiny model


START_OPTIONS = tuple(name for name in field_names(Start)  # the `Start` fields the methods take as keywords: all
                      if name not in ("prompt", "seed", "batch_size", "x_T"))  # but their named ones; x_T is drawn


def _problem(model: Model, objective: Objective, *, prompt: str, seed: int, batch_size: int, options: dict,
             caller: str, start_options: tp.Sequence[str] = START_OPTIONS) -> tuple[Problem, RunSettings]:
    """The run's problem as `optimize` builds it (x_T alone: no per-step noise variables); `sampler`, `steps`
    and `cfg_scale` left out or None take the model's defaults, as in `optimize`. The chain and its execution
    come as flat keywords or as `sampling=SamplerConfig(...)` / `speed=SpeedConfig(...)`, as in `optimize`."""
    options = dict(options)
    given = {"sampling": options.pop("sampling", None), "speed": options.pop("speed", None)}
    split = split_options(caller, options, {"speed": SpeedConfig, "sampling": SamplerConfig}, start_options)
    flat_sampling = {k: v for k, v in split["sampling"].items() if v is not None}
    sampling = control_sampling(model, config_or_fields(caller, "sampling", given["sampling"], SamplerConfig,
                                                        flat_sampling))
    speed = config_or_fields(caller, "speed", given["speed"], SpeedConfig, split["speed"])
    start = Start(prompt=prompt, seed=seed, batch_size=batch_size, **split["extra"])
    return build_problem(model, objective, start, sampling, speed)


def _result(problem: Problem, chosen: dict, baseline: dict, x_T: torch.Tensor, losses: list[float],
            best: int, seconds: dict, settings: RunSettings, stop_reason: str, advice: str,
            final_loss: dict | None = None) -> Result:
    """A method's Result: nothing optimized (`variables` []), its own `advice` for when it did not pay off."""
    with torch.no_grad():
        metrics = {"before": problem.metrics(baseline["latents"], baseline["audio"]),
                   "after": problem.metrics(chosen["latents"], chosen["audio"])}
    return Result(audio=chosen["audio"], baseline_audio=baseline["audio"], x_T=x_T.detach().cpu(), losses=losses,
                  metrics=metrics, sample_rate=problem.model.sample_rate, best_iteration=best, seconds=seconds,
                  settings=settings, stop_reason=stop_reason, latents=chosen["latents"], final_loss=final_loss,
                  variables=[], advice=advice)


def check_search(n: int | None, time_budget_s: float | None) -> None:
    """best_of_n's stopping arguments (named with their recipe flags); ValueError on a bad one."""
    if n is None and time_budget_s is None:
        raise ValueError("best_of_n needs n (--candidates) or time_budget_s (--time-budget, seconds), or both; got "
                         "neither")
    if n is not None and not is_count(n, 1):
        raise ValueError(f"n must be an integer >= 1 (candidates to render; --candidates in the recipes), got "
                         f"{n!r}")
    if time_budget_s is not None and not (is_finite_number(time_budget_s) and time_budget_s > 0):
        raise ValueError(f"time_budget_s (--time-budget) must be a finite number of seconds > 0, got "
                         f"{time_budget_s!r}")


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """best_of_n's own settings, as its run's record holds them (`RunSettings.method_settings`)."""

    n: int | None = dataclasses.field(default=None, metadata=RESUMABLE)  # candidates to render
    time_budget_s: float | None = dataclasses.field(default=None, metadata=RESUMABLE)  # seconds to render them
    best_seed: int | None = dataclasses.field(default=None, metadata=RESUMABLE)  # the kept candidate's seed


SEARCH_RESUMABLE = resumable_fields(RunSettings, SearchSettings)  # may differ when a best-of-N search is resumed


def best_of_n(model: Model, objective: Objective, *, prompt: str, n: int | None = None,
              time_budget_s: float | None = None, seed: int = 0, batch_size: int = 1, progress: bool = True,
              should_stop: tp.Callable[[], bool] | None = None, state_path: str | os.PathLike | None = None,
              resume: str | os.PathLike | None = None, **options) -> Result:
    """Render seeds seed, seed + 1, ... (`batch_size` at a time) and keep the one whose loss is lowest.

    Stops after `n` candidates, or once `time_budget_s` has passed (at least one batch runs); with both, at
    whichever comes first; or when `should_stop()` (asked after every batch) is true: stop_reason "interrupted",
    the best so far kept. `losses` holds each candidate's loss in seed order, `best_iteration` the index of
    the kept one (`settings["best_seed"]` its seed), `baseline_audio` the first seed's render. With
    `state_path` the search so far (losses, the best and the first candidate) is saved there after every batch;
    `resume` (such a file, same settings but n and time_budget_s) continues it. A NaN/inf loss raises
    `OptimizationError`, its `.result` the best so far. Other keyword arguments are `optimize`'s, under the same
    names: the window and prompt (`seconds_total`, `sample_size`, `seconds_start`, `negative_prompt`,
    `init_audio`, `init_noise_level`, `conditioning_tensors`), the SamplerConfig fields (`sampler`, `steps`,
    `cfg_scale`, ...) and the SpeedConfig fields, or `sampling=SamplerConfig(...)` and `speed=SpeedConfig(...)`.
    """
    check_search(n, time_budget_s)
    problem, settings = _problem(model, objective, prompt=prompt, seed=seed, batch_size=batch_size,
                                 options=options, caller="best_of_n")
    settings = dataclasses.replace(settings, method="best-of-n",
                                   method_settings=SearchSettings(n=n, time_budget_s=time_budget_s))
    search = _Search(problem, settings, None if resume is None else _saved_search(resume, settings))
    bar = tqdm(total=n, initial=len(search.losses), disable=not progress, desc="best-of-N", unit="seed")
    stop_reason = "iterations"
    while n is None or len(search.losses) < n:
        if time_budget_s and search.losses and search.elapsed() >= time_budget_s:
            stop_reason = "time_budget"
            break
        bar.update(search.batch(n))
        if state_path is not None:
            save_torch(state_path, search.snapshot())
        if should_stop is not None and should_stop() and (n is None or len(search.losses) < n):
            stop_reason = "interrupted"
            break
    bar.close()
    return search.result(stop_reason)


class _Search:
    """best_of_n's state: every candidate's loss, the best candidate and the first (the baseline) so far."""

    def __init__(self, problem: Problem, settings: RunSettings, saved: dict | None):
        self.problem, self.settings = problem, settings
        self.losses, self.best, self.first, self.seconds_before = [], None, None, 0.0
        if saved is not None:
            self.losses, self.best, self.first = list(saved["losses"]), saved["best"], saved["first"]
            self.seconds_before = saved["seconds"]
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def batch(self, n: int | None) -> int:
        """Render and score the next batch of seeds; returns how many. A NaN/inf loss raises OptimizationError."""
        problem, seed = self.problem, self.settings.start.seed + len(self.losses)
        width, shape = problem.x_T.shape[0], (1, *problem.x_T.shape[1:])
        count = width if n is None else min(width, n - len(self.losses))
        x_T = torch.cat([draw_x_T(problem.model, seed + j, shape) for j in range(count)])
        candidate = dataclasses.replace(problem, x_T=x_T, cond=_first(problem.cond, count),
                                        init_latents=None if problem.init_latents is None
                                        else problem.init_latents[:count])
        rendered = candidate.render(candidate.start())
        with torch.no_grad():
            batch_losses = candidate.loss(rendered["latents"], rendered["audio"]).reshape(-1).tolist()
        for j, value in enumerate(batch_losses):
            one = {key: rendered[key][j:j + 1].cpu() for key in ("latents", "audio")}
            if not math.isfinite(value) or not torch.isfinite(one["audio"]).all():
                self.first = self.first or one
                raise OptimizationError(f"the loss of seed {seed + j} became {value} (its render or the objective "
                                        f"is not finite); check the objective's target",
                                        self.result("failed"))
            self.first = self.first or one
            if self.best is None or value < self.best["loss"]:
                self.best = {"loss": value, "index": len(self.losses), "x_T": x_T[j:j + 1].cpu(), **one}
            self.losses.append(value)
        return count

    def snapshot(self) -> dict:
        return {"settings": self.settings.to_dict(), "losses": self.losses, "best": self.best, "first": self.first,
                "seconds": self.elapsed()}

    def result(self, stop_reason: str) -> Result:
        """The best candidate so far (the first when none was scored), against the first."""
        best = self.best or {"index": -1, "x_T": self.problem.x_T[:1].cpu(), **self.first}
        total, device = self.elapsed(), self.problem.model.device
        self.settings = dataclasses.replace(self.settings, method_settings=dataclasses.replace(  # generate(seed=...)
            self.settings.method_settings, best_seed=self.settings.start.seed + max(best["index"], 0)))  # renders it
        chosen = {key: best[key].to(device) for key in ("latents", "audio")}
        first = {key: self.first[key].to(device) for key in ("latents", "audio")}
        advice = (f"no other seed beat the first (loss {self.losses[0]:.4g}): the result is the baseline; try "
                  f"more candidates" if self.losses else None)
        return _result(self.problem, chosen, first, best["x_T"], self.losses, best["index"],
                       {"total": total, "per_iteration": total / max(len(self.losses), 1), "baseline": None},
                       self.settings, stop_reason, advice)


def _guidance_advice(final_loss: dict | None, scale: float) -> str:
    """Guidance's words for a render that did not beat the unguided one (`final_loss` None: it did not finish)."""
    if final_loss is None:
        return "the guided render did not finish: the result is the unguided baseline"
    before, after = final_loss["before"], final_loss["after"]
    worse = "made the objective worse" if after > before else "did not lower the objective"
    return (f"guidance {worse} (loss {before:.4g} -> {after:.4g} against the unguided baseline); try a lower "
            f"guidance scale (--guidance-scale, now {scale!r})")


def _saved_search(path: str | os.PathLike, settings: RunSettings) -> dict:
    """A best-of-N search saved by `best_of_n(state_path=...)`, checked to continue this very search."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        changed = settings.changes(RunSettings.from_dict(saved["settings"], SearchSettings))
    except Exception as error:  # a missing, truncated or foreign file: torch raises several types
        raise ValueError(f"cannot resume best-of-N from {str(path)!r}: {str(error).splitlines()[0]} (it is written "
                         f"by best_of_n(..., state_path=...), or --method best-of-n)") from None
    if changed:
        raise ValueError(f"cannot resume: the saved best-of-N search had other settings ({'; '.join(changed)}); "
                         f"only {', '.join(SEARCH_RESUMABLE)} may change")
    return saved


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

    def check(self) -> None:
        """The arguments that need no model (named with their recipe flags); ValueError on a bad one."""
        if not (is_finite_number(self.scale) and self.scale >= 0):
            raise ValueError(f"scale (--guidance-scale) must be a finite number >= 0 (0: no guidance), got "
                             f"{self.scale!r}")
        if not is_count(self.repeats, 1):
            raise ValueError(f"repeats must be an integer >= 1 (1: no time travel), got {self.repeats!r}")

    def validate(self, steps: int) -> None:
        self.check()
        if self.guided_steps is not None and not all(is_count(i, 0) and i < steps for i in self.guided_steps):
            raise ValueError(f"guided_steps must be step indices in [0, {steps - 1}], got {list(self.guided_steps)!r}")


METHOD_SETTINGS.update({"guidance": GuidanceConfig, "best-of-n": SearchSettings})  # their records' own parts


def guide(model: Model, objective: Objective, *, prompt: str, scale: float = GUIDANCE_SCALE,
          guided_steps: tp.Sequence[int] | None = None, repeats: int = 1, seed: int = 0, batch_size: int = 1,
          progress: bool = True, should_stop: tp.Callable[[], bool] | None = None, **options) -> Result:
    """Training-free guidance of one render toward `objective`, on a deterministic sampler (v-ddim, euler).

    `losses` holds the objective's mean loss at each guided step (of the x0-prediction, so it falls as the
    chain denoises); `baseline_audio` is the unguided render of the same seed (`generate`'s); x_T is the
    seeded start, not optimized. `final_loss` holds the objective's loss of the baseline and of the result:
    `Result.warning` says so when guidance made it worse. A NaN/inf loss, x_t or result raises
    `OptimizationError` (its `.result` the unguided baseline); `should_stop()`, asked after every step, ends
    the chain early with the baseline as the result (stop_reason "interrupted"). Other keyword arguments are
    `optimize`'s, under the same names: the window and prompt (`seconds_total`, `sample_size`, `seconds_start`,
    `negative_prompt`, `conditioning_tensors`), the SamplerConfig fields (`sampler`, `steps`, `cfg_scale`, ...)
    and the SpeedConfig fields (bf16 autocast, decoder_bf16, chunk_latents apply; the chain is not
    checkpointed: no backward spans more than one step), or `sampling=` and `speed=` config objects.
    """
    config = GuidanceConfig(scale=scale, repeats=repeats, travel_seed=seed + 2,
                            guided_steps=None if guided_steps is None else tuple(guided_steps))
    config.check()
    problem, settings = _problem(model, objective, prompt=prompt, seed=seed, batch_size=batch_size,
                                 options=options, caller="guide",
                                 start_options=[name for name in START_OPTIONS if "init" not in name])
    if problem.chain.sampler not in GUIDED_SAMPLERS:
        raise ValueError(f"guidance steps through a deterministic sampler; got {problem.chain.sampler!r}, valid: "
                         f"{', '.join(GUIDED_SAMPLERS)} (v-ddim for v models, euler for flows)")
    config.validate(problem.chain.steps)
    settings = dataclasses.replace(settings, method="guidance", method_settings=config)
    tic = time.perf_counter()
    baseline = problem.render(problem.start())
    seconds = {"baseline": time.perf_counter() - tic}
    losses: list[float] = []

    def finish(chosen: dict | None, stop_reason: str) -> Result:
        """The result: the guided render, or (None) the baseline; both losses in `final_loss`."""
        total = time.perf_counter() - tic
        seconds.update(total=total, per_iteration=total / max(len(losses), 1))
        final = None if chosen is None else {"before": _mean_loss(problem, baseline),
                                             "after": _mean_loss(problem, chosen)}
        return _result(problem, chosen or baseline, baseline, problem.x_T, losses,
                       -1 if chosen is None else len(losses) - 1, seconds, settings, stop_reason,
                       _guidance_advice(final, config.scale), final)

    try:
        with problem.checkpointing():
            latents = guided_chain(problem, config, progress, losses, should_stop)
        if latents is None:
            return finish(None, "interrupted")
        with torch.no_grad():
            chosen = {"latents": latents, "audio": problem.audio(latents)}
        _check_finite(chosen["audio"], "the guided render's audio")
    except NonFinite as error:
        raise OptimizationError(f"guidance {error}; lower the guidance scale (--guidance-scale, now {scale!r}); the "
                                f"result is the unguided baseline", finish(None, "failed")) from None
    return finish(chosen, "iterations")


def _mean_loss(problem: Problem, rendered: dict) -> float:
    with torch.no_grad():
        return float(problem.loss(rendered["latents"], rendered["audio"]).mean())


def _check_finite(tensor: torch.Tensor, what: str) -> None:
    if not torch.isfinite(tensor).all():
        raise NonFinite(f"{what} became non-finite ({int((~torch.isfinite(tensor)).sum())} NaN/inf values)")


def guided_chain(problem: Problem, config: GuidanceConfig, progress: bool, losses: list[float],
                 should_stop: tp.Callable[[], bool] | None = None) -> torch.Tensor | None:
    """The chain x_T -> x_0 with guided steps (None when `should_stop()` ended it early); appends the mean loss of
    the x0-prediction at each guided step to `losses`; NonFinite when a loss or x_t stops being finite."""
    chain, model = problem.chain, problem.model
    v_model = velocity_model(model, problem.cond, chain, autocast_bf16=problem.speed.autocast_bf16)
    flow = chain.sampler == "euler"
    t_max = min(chain.sigma_max, 1.0)
    t = rf_timesteps(chain.steps, t_max) if flow else torch.linspace(t_max, 0, chain.steps + 1)
    guided = set(range(chain.steps - 1) if config.guided_steps is None else config.guided_steps)
    generator = torch.Generator(device=model.device).manual_seed(config.travel_seed)
    x = problem.x_T.to(model.dtype)
    for i in tqdm(range(chain.steps), disable=not progress, desc="guidance", unit="step"):
        start = x
        for repeat in range(config.repeats if i in guided else 1):
            x, loss = _guided_step(problem, v_model, start, t, i, flow, config.scale if i in guided else None)
            if loss is not None and not math.isfinite(loss):
                raise NonFinite(f"loss became {loss} at step {i}")
            _check_finite(x, f"x_t at step {i}")
            if repeat < config.repeats - 1 and i < chain.steps - 1:
                start = _renoise(x, t[i + 1], t[i], flow, generator)
        if i in guided:
            losses.append(loss)
        if should_stop is not None and should_stop() and i < chain.steps - 1:
            return None
    return x.detach()


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
