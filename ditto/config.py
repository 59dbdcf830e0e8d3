"""A run's settings as small frozen dataclasses, each checking its own values.

- `SamplerConfig`: which chain x_T -> x_0 runs (sampler, steps, noise schedule, CFG), shared by `generate`
  and `optimize`; it says nothing about how the chain is executed.
- `OptimizerConfig`: the DITTO descent (iterations, lr, optimizer, when to stop early).
- `SpeedConfig`: how it is executed, the speed and memory modes (checkpointing, bf16, kept steps, surrogate
  chain); none changes the chain's result beyond float rounding, except the surrogate chain.

Field names are unique across the three (a test checks it) and are `optimize`'s keyword arguments, so
`ditto.optimize(model, obj, prompt=p, **dataclasses.asdict(speed))` runs with a config object and a recipe flag
maps onto one field.

- `RunSettings`: the frozen record of one run (`Result.settings`, report.json's "settings"): what it started from
  (`StartSettings`), the three configs as they ran, the model and device, and the method's own settings. It
  reads like a flat mapping (`settings["sampler"]`), and a resumed run may differ from its saved record only in
  the fields marked resumable (`RESUMABLE`).
"""

from __future__ import annotations

import dataclasses
import math
import typing as tp
from collections.abc import Mapping

import numpy as np

from . import sampling

if tp.TYPE_CHECKING:
    from .loading import Model

OPTIMIZERS = ("adam", "sgd")  # Adam as in the paper; SGD with momentum 0.9
RESUMABLE = {"resumable": True}  # field metadata: a resumed run may change this setting (how long it runs, where)
DESCENT_ONLY = {"descent_only": True}  # SpeedConfig metadata: matters only to a descent through the chain


def is_finite_number(value) -> bool:
    """A real number (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def is_count(value, minimum: int) -> bool:
    """An integer (not a bool) >= minimum."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Which chain x_T -> x_0 runs. `sampler`, `steps` and `cfg_scale` left None are the model's defaults for the
    purpose, resolved in one place (`model_sampling`); the other defaults are SAT's / the SAO 1.0 model card's."""

    sampler: str | None = None  # a name in sampling.SAMPLERS of the model's family
    steps: int | None = None  # sampler steps (k-dpm-fast: model evaluations)
    sigma_min: float = 0.3  # lowest noise level (v models)
    sigma_max: float = 500.0  # highest noise level; v-ddim and flows clamp it to 1
    rho: float = 1.0  # polyexponential / karras shape
    schedule: str = "polyexponential"  # SAT's k-diffusion schedule
    cfg_scale: float | None = None  # classifier-free guidance weight (1 = off)
    cfg_interval: tuple[float, float] = (0.0, 1.0)  # CFG only while sin(t*pi/2) lies in this interval (SAT)
    scale_phi: float = 0.0  # CFG rescale toward the conditional output's std (SAT)
    apg_scale: float | None = None  # APG blend of CFG (SAT 0.0.20; 0 plain CFG, 1 full APG); None: SAT's default

    def __post_init__(self):
        if isinstance(self.cfg_interval, list):  # from JSON or a recipe flag
            object.__setattr__(self, "cfg_interval", tuple(self.cfg_interval))

    def validate(self, model: Model) -> None:
        for name in CHOSEN_BY_MODEL:
            if getattr(self, name) is None:
                raise ValueError(f"{name} is None: resolve the model's default first with "
                                 f"ditto.config.model_sampling(model, purpose, config)")
        self.spec(model)
        if not is_count(self.steps, 1):
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if self.schedule not in sampling.SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(sampling.SCHEDULES)}")
        self._validate_noise_levels()
        self._validate_guidance()

    def spec(self, model: Model) -> sampling.SamplerSpec:
        """The sampler's registry row for `model`'s family; ValueError naming the valid samplers otherwise."""
        return sampling.sampler_spec(self.sampler, sampling.family_of(model.diffusion_objective))

    def _validate_noise_levels(self) -> None:
        if not (is_finite_number(self.sigma_min) and self.sigma_min > 0):
            raise ValueError(f"sigma_min must be a finite number > 0, got {self.sigma_min!r}")
        if not is_finite_number(self.sigma_max):
            raise ValueError(f"sigma_max must be a finite number above sigma_min, got {self.sigma_max!r}")
        if not (self.sigma_min < self.sigma_max):
            raise ValueError(f"sigma_min ({self.sigma_min!r}) must be below sigma_max ({self.sigma_max!r})")
        if not (is_finite_number(self.rho) and self.rho > 0):
            raise ValueError(f"rho must be a finite number > 0, got {self.rho!r}")

    def _validate_guidance(self) -> None:
        if not is_finite_number(self.cfg_scale):
            raise ValueError(f"cfg_scale must be a finite number, got {self.cfg_scale!r}")
        interval = self.cfg_interval
        if not (isinstance(interval, (tuple, list)) and len(interval) == 2 and all(map(is_finite_number, interval))
                and 0.0 <= interval[0] <= interval[1] <= 1.0):
            raise ValueError(f"cfg_interval must be a pair (low, high) with 0 <= low <= high <= 1, got {interval!r}")
        if not (is_finite_number(self.scale_phi) and 0.0 <= self.scale_phi <= 1.0):
            raise ValueError(f"scale_phi must be a number in [0, 1] (the weight of the std-rescaled CFG output: "
                             f"0 plain CFG, 1 fully rescaled), got {self.scale_phi!r}")
        from . import sat  # the installed stable-audio-tools decides: APG needs 0.0.20

        sat.check_apg_scale(self.apg_scale)

    def describe(self) -> str:
        """The settings that shape the chain, as one line of keyword arguments."""
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in field_names(SamplerConfig))

    @property
    def stochastic(self) -> bool:
        return self.sampler in sampling.STOCHASTIC_SAMPLERS


CHOSEN_BY_MODEL = ("sampler", "steps", "cfg_scale")  # SamplerConfig fields whose None means the model's default
Purpose = tp.Literal["generate", "optimize"]
FALLBACK_SAMPLING = {  # without a model default: SAT's generation (dpmpp-3m-sde, 100 steps, the SAO 1.0 card's
    # CFG 7; SAT runs flows with pingpong) and the paper's optimization (deterministic DDIM / Euler, 20 steps, CFG 7)
    "generate": {"v": "dpmpp-3m-sde", "flow": "pingpong", "steps": 100, "cfg_scale": 7.0},
    "optimize": {"v": "v-ddim", "flow": "euler", "steps": 20, "cfg_scale": 7.0},
}


def model_sampling(model: Model, purpose: Purpose, config: SamplerConfig | None = None, **given) -> SamplerConfig:
    """The chain `purpose` runs on `model`, the one place defaults are resolved: the fields given (in `config` or
    as keywords, keywords winning) where not None, else the model's own (`model.defaults`, e.g. SAO Small's
    pingpong, 8 steps, CFG 1), else `FALLBACK_SAMPLING[purpose]`."""
    if purpose not in FALLBACK_SAMPLING:
        raise ValueError(f"purpose {purpose!r} is invalid; expected one of {', '.join(FALLBACK_SAMPLING)}")
    config = dataclasses.replace(config or SamplerConfig(), **{k: v for k, v in given.items() if v is not None})
    defaults, fallback = model.defaults, FALLBACK_SAMPLING[purpose]
    family = "v" if model.diffusion_objective == "v" else "flow"
    chosen = {"sampler": defaults.sampler or fallback[family], "steps": defaults.steps or fallback["steps"],
              "cfg_scale": fallback["cfg_scale"] if defaults.cfg_scale is None else defaults.cfg_scale}
    return dataclasses.replace(config, **{name: chosen[name] for name in CHOSEN_BY_MODEL
                                          if getattr(config, name) is None})


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """The descent on x_T: Adam at `lr` for `iterations` steps (DITTO §3), optionally stopping early."""

    iterations: int = dataclasses.field(default=70, metadata=RESUMABLE)  # optimizer steps (the paper: 70 for
    # intensity and editing, 150 for melody/structure)
    lr: float | None = None  # step size; None: the model's own default (`model.defaults.lr`)
    optimizer: str = "adam"  # one of OPTIMIZERS
    target_loss: float | None = dataclasses.field(default=None, metadata=RESUMABLE)  # stop once the best loss
    # reaches this
    patience: int | None = dataclasses.field(default=None, metadata=RESUMABLE)  # stop after this many iterations
    # without a new best
    time_budget_s: float | None = dataclasses.field(default=None, metadata=RESUMABLE)  # stop once this many
    # seconds have passed
    optimize_noise: bool | None = None  # a stochastic sampler's per-step noises are variables beside x_T
    # (None: yes for stochastic samplers, whose output x_T alone barely moves; deterministic ones have none)
    noise_projection: bool = False  # after each step, rescale each step's noise to unit-variance norm

    def validate(self) -> None:
        if not is_count(self.iterations, 0):
            raise ValueError(f"iterations must be an integer >= 0, got {self.iterations!r}")
        if self.lr is not None and not (is_finite_number(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.target_loss is not None and not is_finite_number(self.target_loss):
            raise ValueError(f"target_loss must be finite, got {self.target_loss!r}")
        if self.patience is not None and not is_count(self.patience, 1):
            raise ValueError(f"patience must be an integer >= 1, got {self.patience!r}")
        if self.time_budget_s is not None and not (is_finite_number(self.time_budget_s) and self.time_budget_s > 0):
            raise ValueError(f"time_budget_s must be a finite number > 0, got {self.time_budget_s!r}")
        for name in ("optimize_noise", "noise_projection"):
            if not isinstance(getattr(self, name), bool) and not (name == "optimize_noise" and self.optimize_noise
                                                                  is None):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


@dataclasses.dataclass(frozen=True)
class SpeedConfig:
    """How a chain is executed: speed and memory modes; none changes the loss beyond float rounding, except the
    surrogate chain (docs/performance.md has the measurements). The defaults are `optimize`'s; `generate` runs
    with `SpeedConfig.plain()` (nothing checkpointed: no gradient is taken)."""

    checkpoint: bool = dataclasses.field(default=True, metadata=DESCENT_ONLY)  # checkpoint every sampler step:
    # memory flat in the number of steps
    decoder_checkpoint: bool = dataclasses.field(default=True, metadata=DESCENT_ONLY)  # checkpoint the VAE
    # decoder's residual units
    chunk_latents: int | None = None  # decode in overlapping chunks of this many latents
    autocast_bf16: bool = False  # the DiT under bf16 autocast
    decoder_bf16: bool = False  # decode with a bf16 copy of the VAE decoder
    keep_steps: int | None = dataclasses.field(default=None, metadata={**DESCENT_ONLY, **RESUMABLE})  # the first
    # k sampler steps keep their activations instead of recomputing (None: as many as memory_budget_gb holds, else
    # 0: every step recomputed, memory flat in steps). A resumed run may keep another number: the result is the same
    memory_budget_gb: float | None = dataclasses.field(default=None, metadata=DESCENT_ONLY)  # pick keep_steps
    # from a measurement of one step's activations
    surrogate_steps: int | None = dataclasses.field(default=None, metadata=DESCENT_ONLY)  # optimize through a
    # k-step chain, render the result with `steps`

    @classmethod
    def plain(cls, **changes) -> "SpeedConfig":
        """No checkpointing, no bf16, nothing kept: how `generate` and a render without gradients run."""
        return cls(**{"checkpoint": False, "decoder_checkpoint": False, **changes})

    def validate(self) -> None:
        if self.chunk_latents is not None and not is_count(self.chunk_latents, 65):
            raise ValueError(f"chunk_latents must be an integer > 64 (the decode overlap is 32 latents), "
                             f"got {self.chunk_latents!r}")
        if self.keep_steps is not None and not is_count(self.keep_steps, 0):
            raise ValueError(f"keep_steps must be an integer >= 0, got {self.keep_steps!r}")
        if self.memory_budget_gb is not None and not (is_finite_number(self.memory_budget_gb)
                                                      and self.memory_budget_gb >= 0):
            raise ValueError(f"memory_budget_gb must be >= 0, got {self.memory_budget_gb!r}")
        if self.surrogate_steps is not None and not is_count(self.surrogate_steps, 1):
            raise ValueError(f"surrogate_steps must be an integer >= 1, got {self.surrogate_steps!r}")


def field_names(config: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(config))


def config_or_fields(caller: str, name: str, given, config_type: type, fields: dict):
    """The config object `given` (passed as `name=`), or a `config_type` built from the flat keywords `fields`; a
    TypeError when both are given or `given` is not a `config_type`."""
    if given is None:
        return config_type(**fields)
    if fields:
        raise TypeError(f"{caller}() got {name}= and also {', '.join(sorted(fields))}; give each setting once: in the "
                        f"{config_type.__name__} or as a keyword")
    if not isinstance(given, config_type):
        raise TypeError(f"{caller}() got {name}={given!r}; expected a {config_type.__name__}")
    return given


def split_options(caller: str, options: dict, groups: dict[str, type], extra: tp.Sequence[str] = ()) -> dict:
    """Keyword arguments -> {group: {field: value}} for each config class in `groups` (the first group owning a
    name takes it), plus {"extra": {...}} for the names in `extra`; a TypeError names an unknown argument and
    lists the valid ones."""
    owners = {}
    for group, config in reversed(list(groups.items())):
        owners.update({name: group for name in field_names(config)})
    owners.update({name: "extra" for name in extra})
    split = {group: {} for group in [*groups, "extra"]}
    for name, value in options.items():
        if name not in owners:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}; valid: "
                            f"{', '.join(sorted(owners))}")
        split[owners[name]][name] = value
    return split


def resumable_fields(*configs: type) -> tuple[str, ...]:
    """The fields of `configs` marked `RESUMABLE`: those a resumed run may change."""
    return tuple(field.name for config in configs for field in dataclasses.fields(config)
                 if field.metadata.get("resumable"))


@dataclasses.dataclass(frozen=True)
class StartSettings:
    """What a run started from, as recorded: the prompt and timing, the window (resolved), the seed and batch, and
    whether it started from init audio (the tensors a run may start from are not settings)."""

    prompt: str
    negative_prompt: str | None = None
    seconds_start: float = 0.0
    seconds_total: float | None = None  # the timing condition and the span the loss sees
    sample_size: int | None = None  # the generation window in samples
    seed: int = 0
    batch_size: int = 1
    init_noise_level: float = 1.0
    has_init_audio: bool = False


def _part(config: type | None = None) -> dict:
    """Metadata of a `RunSettings` field that holds a part: its fields are the record's, flat."""
    return {"part": config}


METHOD_SETTINGS: dict[str, type] = {}  # method name -> the frozen dataclass of its own settings (each method
# registers its own), so `RunSettings.from_dict` rebuilds that part typed


@dataclasses.dataclass(frozen=True)
class RunSettings(Mapping):
    """The frozen record of one run's settings: `Result.settings`, report.json's "settings", what a resume checks.

    Typed parts (`start`, `sampling`, `speed`, `optimization`, and the method's own `method_settings`), whose
    field names are unique, read as one flat mapping: `settings["sampler"]`, `settings.get("n")`, `dict(settings)`;
    `to_dict()` is that mapping, JSON-ready, and `RunSettings.from_dict` its inverse. Fields marked `RESUMABLE`
    (how long a run goes on, and where) may differ when a saved run is resumed; `changes` names the others.
    """

    start: StartSettings = dataclasses.field(metadata=_part(StartSettings))
    sampling: SamplerConfig = dataclasses.field(metadata=_part(SamplerConfig))  # as run (defaults resolved)
    speed: SpeedConfig = dataclasses.field(metadata=_part(SpeedConfig))  # as run (keep_steps resolved)
    model: str  # the model's source (`load_model`'s argument)
    device: str = dataclasses.field(default="cpu", metadata=RESUMABLE)
    activation_gb_per_step: float | None = dataclasses.field(default=None, metadata=RESUMABLE)  # measured when
    # keep_steps was picked from memory (a budget, or the CPU's default)
    optimization: OptimizerConfig | None = dataclasses.field(default=None, metadata=_part(OptimizerConfig))
    # None: the method optimizes nothing
    method: str = "ditto"  # the control method that made the run
    method_settings: tp.Any = dataclasses.field(default=None, metadata=_part())  # the method's own frozen
    # dataclass (its METHOD_SETTINGS entry), or None

    def parts(self) -> list:
        """The parts present (not None), in field order."""
        return [getattr(self, field.name) for field in dataclasses.fields(self)
                if "part" in field.metadata and getattr(self, field.name) is not None]

    def to_dict(self) -> dict:
        """The flat mapping: every part's fields and the record's own, tuples as lists (as JSON has them)."""
        flat = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if "part" not in field.metadata:
                flat[field.name] = value
            elif value is not None:
                flat.update({name: getattr(value, name) for name in field_names(type(value))})
        return {name: list(value) if isinstance(value, tuple) else value for name, value in flat.items()}

    @classmethod
    def from_dict(cls, data: Mapping, method_settings: type | None = None) -> "RunSettings":
        """The record whose `to_dict()` is `data` (report.json's "settings", a saved state's); the method's own part
        is built as `method_settings`, by default its METHOD_SETTINGS entry. ValueError on keys it cannot place."""
        left = {name: tuple(value) if isinstance(value, list) else value for name, value in data.items()}
        own = method_settings or METHOD_SETTINGS.get(left.get("method", "ditto"))
        values = {}
        try:
            for field in dataclasses.fields(cls):
                if "part" not in field.metadata:
                    if field.name in left:
                        values[field.name] = left.pop(field.name)
                    continue
                config = field.metadata["part"] or own
                names = () if config is None else field_names(config)
                if config is None or (config is not own and field.default is None
                                      and not all(name in left for name in names)):
                    continue  # an optional part (optimization) the run did not have
                values[field.name] = config(**{name: left.pop(name) for name in names if name in left})
            if left:
                raise TypeError(f"settings {', '.join(sorted(left))} belong to no part of a "
                                f"{values.get('method', 'ditto')!r} run's record (a method registers its own "
                                f"settings in ditto.config.METHOD_SETTINGS)")
            return cls(**values)
        except TypeError as error:  # a missing or unknown name
            raise ValueError(f"not a run's settings: {error}") from None

    def resumable(self) -> tuple[str, ...]:
        """The names a resumed run may change: the `RESUMABLE` fields of the record and of its parts."""
        return resumable_fields(type(self), *map(type, self.parts()))

    def changes(self, saved: "RunSettings") -> list[str]:
        """The differences from `saved` that a resumed run may not have, as "name=saved -> now"."""
        before, now = saved.to_dict(), self.to_dict()
        free = {*self.resumable(), *saved.resumable()}
        return [f"{name}={before.get(name)!r} -> {now.get(name)!r}" for name in sorted({*before, *now})
                if name not in free and before.get(name) != now.get(name)]

    def __getitem__(self, name: str):
        return self.to_dict()[name]

    def __iter__(self) -> tp.Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())
