"""Control methods beside DITTO, on the same problem, objectives, metrics and clock: training-free guidance and
best-of-N. Each returns a `ditto.Result` whose fields mean what they mean for `ditto.optimize`.

- `guide`: DPS-style guidance (Chung et al. 2023; FreeDoM, Yu et al. 2023): at each guided step of a
  deterministic sampler, the objective of the decoded x0-prediction is differentiated with respect to x_t and
  the step's output moves against that gradient, by `scale / sqrt(loss)` (DPS's normalisation); optional
  time-travel repeats re-noise to t and redo the step (FreeDoM). The steps are the sampler's own, from
  `ditto.sampling` (a step hook wraps each one), so every guidable sampler of the registry is guided and at scale
  0 the render is exactly `generate`'s. The network and the decoder run forward and backward once per guided
  step (a step's later model evaluations, e.g. Heun's second, run without gradients); x_T is never optimized.
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
from .generation import build_chain, draw_x_T
from .files import save_torch
from .loading import Model
from .optimize import (Best, NonFinite, Objective, OptimizationError, Problem, Render, Result, Start, build_problem,
                       control_sampling)
from .sampling import (GUIDABLE_SAMPLERS, SAMPLERS, Step, StepHook, chain_steps, family_of, predicted_x0, renoise,
                       unit_scale)

GUIDED_SAMPLERS = GUIDABLE_SAMPLERS  # the samplers guidance steers: the registry's guidable (deterministic) ones
METHODS = ("ditto", "guidance", "best-of-n")
GUIDANCE_SCALE = 1000.0  # guide's default step size: the best of 10..10000 for all three targets on the tiny model


START_OPTIONS = tuple(name for name in field_names(Start)  # the `Start` fields the methods take as keywords: all
                      if name not in ("prompt", "seed", "batch_size", "x_T"))  # but their named ones; x_T is drawn


def _problem(model: Model, objective: Objective, *, prompt: str, seed: int, batch_size: int, options: dict,
             caller: str, start_options: tp.Sequence[str] = START_OPTIONS,
             check: tp.Callable[[SamplerConfig], None] | None = None) -> tuple[Problem, RunSettings]:
    """The run's problem as `optimize` builds it (x_T alone: no per-step noise variables); `sampler`, `steps`
    and `cfg_scale` left out or None take the model's defaults, as in `optimize`. The chain and its execution
    come as flat keywords or as `sampling=SamplerConfig(...)` / `speed=SpeedConfig(...)`, as in `optimize`.
    `check(sampling)` vets the resolved sampling before anything runs."""
    options = dict(options)
    given = {"sampling": options.pop("sampling", None), "speed": options.pop("speed", None)}
    split = split_options(caller, options, {"speed": SpeedConfig, "sampling": SamplerConfig}, start_options)
    flat_sampling = {k: v for k, v in split["sampling"].items() if v is not None}
    sampling = control_sampling(model, config_or_fields(caller, "sampling", given["sampling"], SamplerConfig,
                                                        flat_sampling))
    speed = config_or_fields(caller, "speed", given["speed"], SpeedConfig, split["speed"])
    if check is not None:
        check(sampling)
    start = Start(prompt=prompt, seed=seed, batch_size=batch_size, **split["extra"])
    return build_problem(model, objective, start, sampling, speed)


def _result(problem: Problem, chosen: Render, baseline: Render, x_T: torch.Tensor, losses: list[float],
            best: int, seconds: dict, settings: RunSettings, stop_reason: str, advice: str,
            final_loss: dict | None = None) -> Result:
    """A method's Result: nothing optimized (`variables` []), its own `advice` for when it did not pay off."""
    with torch.no_grad():
        metrics = {"before": problem.metrics(baseline.latents, baseline.audio),
                   "after": problem.metrics(chosen.latents, chosen.audio)}
    return Result(audio=chosen.audio, baseline_audio=baseline.audio, x_T=x_T.detach().cpu(), losses=losses,
                  metrics=metrics, sample_rate=problem.model.sample_rate, best_iteration=best, seconds=seconds,
                  settings=settings, stop_reason=stop_reason, final_loss=final_loss, variables=[], advice=advice)


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


SEARCH_RESUMABLE = resumable_fields(RunSettings, SearchSettings, SpeedConfig)  # may differ when a best-of-N search is resumed


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
    """best_of_n's state: every candidate's loss, the best candidate (its x_T, loss, index and render) and the
    first's render (the baseline) so far, on the CPU."""

    def __init__(self, problem: Problem, settings: RunSettings, saved: dict | None):
        self.problem, self.settings = problem, settings
        self.losses: list[float] = []
        self.best: Best | None = None
        self.first: Render | None = None
        self.seconds_before = 0.0
        if saved is not None:
            self.losses, self.seconds_before = list(saved["losses"]), saved["seconds"]
            self.best, self.first = _loaded_candidate(saved["best"]), _loaded_render(saved["first"])
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
            batch_losses = candidate.loss(rendered.latents, rendered.audio).reshape(-1).tolist()
        for j, value in enumerate(batch_losses):
            one = Render(rendered.latents[j:j + 1].cpu(), rendered.audio[j:j + 1].cpu())
            self.first = self.first or one
            if not math.isfinite(value) or not torch.isfinite(one.audio).all():
                raise OptimizationError(f"the loss of seed {seed + j} became {value} (its render or the objective "
                                        f"is not finite); check the objective's target",
                                        self.result("failed"))
            if self.best is None or value < self.best.loss:
                self.best = Best(variables={"x_T": x_T[j:j + 1].cpu()}, loss=value, iteration=len(self.losses),
                                 render=one)
            self.losses.append(value)
        return count

    def snapshot(self) -> dict:
        """The search so far as plain containers (what `torch.load(weights_only=True)` reads back)."""
        return {"settings": self.settings.to_dict(), "losses": self.losses, "best": _saved_candidate(self.best),
                "first": _saved_render(self.first), "seconds": self.elapsed()}

    def result(self, stop_reason: str) -> Result:
        """The best candidate so far (the first when none was scored), against the first."""
        best = self.best or Best(variables={"x_T": self.problem.x_T[:1].cpu()}, render=self.first)
        total, device = self.elapsed(), self.problem.model.device
        self.settings = dataclasses.replace(self.settings, method_settings=dataclasses.replace(  # generate(seed=...)
            self.settings.method_settings, best_seed=self.settings.start.seed + max(best.iteration, 0)))  # renders it
        advice = (f"no other seed beat the first (loss {self.losses[0]:.4g}): the result is the baseline; try "
                  f"more candidates" if self.losses else None)
        return _result(self.problem, best.render.to(device), self.first.to(device), best.variables["x_T"],
                       self.losses, best.iteration,
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


def _saved_render(render: Render | None) -> dict | None:
    return None if render is None else {"latents": render.latents, "audio": render.audio}


def _loaded_render(saved: dict | None) -> Render | None:
    return None if saved is None else Render(saved["latents"], saved["audio"])


def _saved_candidate(best: Best | None) -> dict | None:
    """best_of_n's saved best candidate: {"loss", "index", "x_T", "latents", "audio"}, as every version wrote it."""
    if best is None:
        return None
    return {"loss": best.loss, "index": best.iteration, "x_T": best.variables["x_T"], **_saved_render(best.render)}


def _loaded_candidate(saved: dict | None) -> Best | None:
    if saved is None:
        return None
    return Best(variables={"x_T": saved["x_T"]}, loss=saved["loss"], iteration=saved["index"],
                render=_loaded_render(saved))


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

    # x_{i+1} -= scale / sqrt(L_i) * dL_i/dx_i (DPS's step size, normalised by the loss), x in variance-preserving
    # units (k-diffusion's sigma-space samplers: x / sqrt(1 + sigma^2)), so every sampler of a v model takes the
    # same step for the same scale; time travel re-noises x_{i+1} by the sampler's own forward process
    scale: float = 1.0
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
    """Training-free guidance of one render toward `objective`, on any deterministic sampler of the registry
    (`sampling.GUIDABLE_SAMPLERS`; the model's default when `sampler` is not given).

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
    The step size is measured in variance-preserving units (`GuidanceConfig.scale`).
    """
    config = GuidanceConfig(scale=scale, repeats=repeats, travel_seed=seed + 2,
                            guided_steps=None if guided_steps is None else tuple(guided_steps))
    config.check()
    family = family_of(model.diffusion_objective)
    problem, settings = _problem(model, objective, prompt=prompt, seed=seed, batch_size=batch_size,
                                 options=options, caller="guide",
                                 start_options=[name for name in START_OPTIONS if "init" not in name],
                                 check=lambda sampling: check_guidable(sampling.sampler, family))
    config.validate(chain_steps(problem.chain.spec(model), problem.chain.steps))
    settings = dataclasses.replace(settings, method="guidance", method_settings=config)
    tic = time.perf_counter()
    baseline = problem.render(problem.start())
    seconds = {"baseline": time.perf_counter() - tic}
    losses: list[float] = []

    def finish(chosen: Render | None, stop_reason: str) -> Result:
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
            chosen = Render(latents, problem.audio(latents))
        _check_finite(chosen.audio, "the guided render's audio")
    except NonFinite as error:
        raise OptimizationError(f"guidance {error}; lower the guidance scale (--guidance-scale, now {scale!r}); the "
                                f"result is the unguided baseline", finish(None, "failed")) from None
    return finish(chosen, "iterations")


def _mean_loss(problem: Problem, rendered: Render) -> float:
    with torch.no_grad():
        return float(problem.loss(rendered.latents, rendered.audio).mean())


def _check_finite(tensor: torch.Tensor, what: str) -> None:
    if not torch.isfinite(tensor).all():
        raise NonFinite(f"{what} became non-finite ({int((~torch.isfinite(tensor)).sum())} NaN/inf values)")


def check_guidable(sampler, family: str | None = None) -> None:
    """ValueError unless guidance can steer `sampler`: a guidable registry sampler (of `family`, a model's
    sampler family, when given)."""
    valid = [name for name, spec in SAMPLERS.items() if spec.guidable and family in (None, spec.family)]
    if sampler not in valid:
        models = f" for a {family!r} model" if family else ""
        raise ValueError(f"guidance steers deterministic samplers only; got sampler {sampler!r} (--sampler), "
                         f"valid{models}: {', '.join(valid)}")


class _Stopped(Exception):
    """`should_stop()` ended the guided chain early."""


class _FirstEvaluation:
    """A sampler's model that keeps its first evaluation since `first` was cleared: (x, level, output), where a
    guided step reads its x0-prediction. Later evaluations (e.g. Heun's second) run without gradients."""

    def __init__(self, model: tp.Callable):
        self.model, self.first = model, None

    def __call__(self, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        if self.first is not None:
            with torch.no_grad():
                return self.model(x, level)
        output = self.model(x, level)
        self.first = (x, level, output)
        return output


def guided_chain(problem: Problem, config: GuidanceConfig, progress: bool, losses: list[float],
                 should_stop: tp.Callable[[], bool] | None = None) -> torch.Tensor | None:
    """The chain x_T -> x_0 through the sampler's own steps, guided by a step hook (None when `should_stop()`
    ended it early); appends the mean loss of the x0-prediction at each guided step to `losses`; NonFinite when a
    loss or x_t stops being finite."""
    spec = problem.chain.spec(problem.model)
    chain = build_chain(problem.model, problem.x_T, problem.cond, problem.chain, problem.init_latents,
                        problem.init_noise_level, autocast_bf16=problem.speed.autocast_bf16)
    model = _FirstEvaluation(chain.model)
    hook = _guidance_hook(problem, config, model, spec.process, losses, should_stop)
    try:
        x = spec.function(model, chain.x, *chain.args, **chain.kwargs, progress=progress, hook=hook)
    except _Stopped:
        return None
    return x.detach()


def _guidance_hook(problem: Problem, config: GuidanceConfig, model: _FirstEvaluation, process: str,
                   losses: list[float], should_stop: tp.Callable[[], bool] | None) -> StepHook:
    """The step hook that guides: each guided step (repeated `config.repeats` times, re-noised in between) moves
    the sampler's x_{i+1}; checks that losses and x_t stay finite and asks `should_stop()` after every step."""
    generator = torch.Generator(device=problem.model.device).manual_seed(config.travel_seed)

    def hook(advance: tp.Callable, x: torch.Tensor, at: Step):
        guided = at.index in (range(at.count - 1) if config.guided_steps is None else config.guided_steps)
        start = x
        for repeat in range(config.repeats if guided else 1):
            out, loss = _guided_step(problem, model, advance, start, at, process, config.scale if guided else None)
            x_next = out[0] if isinstance(out, tuple) else out
            if loss is not None and not math.isfinite(loss):
                raise NonFinite(f"loss became {loss} at step {at.index}")
            _check_finite(x_next, f"x_t at step {at.index}")
            if repeat < config.repeats - 1 and at.index < at.count - 1:
                noise = torch.randn(x_next.shape, generator=generator, device=x_next.device, dtype=x_next.dtype)
                start = renoise(process, x_next, at.level_next, at.level, noise)
        if guided:
            losses.append(loss)
        if should_stop is not None and should_stop() and at.index < at.count - 1:
            raise _Stopped
        return out

    return hook


def _guided_step(problem: Problem, model: _FirstEvaluation, advance: tp.Callable, x: torch.Tensor, at: Step,
                 process: str, scale: float | None) -> tuple[tp.Any, float | None]:
    """The sampler's step `advance(x)` with its x_{i+1} moved by -scale/sqrt(L) dL/dx (in variance-preserving
    units), L the objective of the first model evaluation's x0-prediction; scale None: the plain step, no loss.
    Returns (the step's value, detached; the mean loss or None)."""
    x = x.detach().requires_grad_(scale is not None)
    model.first = None
    with torch.set_grad_enabled(scale is not None):
        out = advance(x)
        if scale is None:
            return _detached(out), None
        x0 = predicted_x0(process, *model.first)
        audio = problem.audio(x0) if problem.audio_part is not None else None
        loss = problem.loss(x0, audio)  # (batch,)
        grad, = torch.autograd.grad(loss.sum(), x)
    step = scale / loss.detach().clamp_min(1e-12).sqrt() * unit_scale(process, at.level) \
        * unit_scale(process, at.level_next)
    step = step.view(-1, *[1] * (x.dim() - 1)) * grad
    if isinstance(out, tuple):
        return _detached((out[0] - step, *out[1:])), float(loss.detach().mean())
    return (out - step).detach(), float(loss.detach().mean())


def _detached(out):
    """A step's value (x_{i+1}, or a tuple of it and the sampler's state) with every tensor detached."""
    if isinstance(out, tuple):
        return tuple(value.detach() if isinstance(value, torch.Tensor) else value for value in out)
    return out.detach()
