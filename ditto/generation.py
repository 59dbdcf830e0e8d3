"""Text-to-audio generation through ditto's own differentiable samplers, identical to stable-audio-tools.

`generate` follows the installed SAT's (0.0.19 or 0.0.20) `generate_diffusion_cond` step for step (seeding, the
order of random draws, conditioning, init-audio encoding, CFG, decoding), so the same arguments give the same audio;
the difference is that the chain (`sample_latents`) is differentiable in x_T and can be checkpointed step by step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import typing as tp
from os import PathLike

import numpy as np
import torch

from . import audio as audio_io
from . import sat as sat_adapter
from . import sampling
from .config import SamplerConfig, SpeedConfig, field_names, is_count, model_sampling, is_finite_number, split_options
from .loading import Model

# Documentation for `generate`'s signature; tests/test_registry.py checks it equals tuple(sampling.SAMPLERS).
SamplerName = tp.Literal["dpmpp-2m", "k-heun", "k-lms", "k-dpm-2", "k-dpm-fast", "k-dpmpp-2s-ancestral",
                         "dpmpp-2m-sde", "dpmpp-3m-sde", "v-ddim", "euler", "rk4", "dpmpp", "pingpong"]
ScheduleName = tp.Literal["polyexponential", "karras", "exponential", "linear", "cosine"]
InitAudio = tp.Union[tp.Tuple[int, torch.Tensor], str, PathLike]


@dataclasses.dataclass
class Conditioning:
    """The network's conditioning keyword arguments for one batch, computed once per prompt."""

    inputs: dict  # cross_attn_cond, global_cond, ... (SAT `get_conditioning_inputs`), padding_mask if any
    negative_inputs: dict  # negative_cross_attn_cond, ... or {}
    # Stable Audio 3's variable length (`sat.varlen`): attention mask past the valid length (batch, latent_frames)
    # and the length the time grid is shifted by (batch,); None for other models
    padding_mask: torch.Tensor | None = None
    effective_seq_len: torch.Tensor | None = None


def conditioner_configs(model: Model) -> dict[str, dict]:
    """The model's conditioners from its config: id -> {"type": ..., "config": {...}}."""
    configs = model.config.get("model", {}).get("conditioning", {}).get("configs", [])
    return {c.get("id"): c for c in configs}


def check_prompt(model: Model, name: str, prompt) -> None:
    """A `list` prompt conditioner knows only its options: SAT maps any other string to the null embedding."""
    if not isinstance(prompt, str):
        raise ValueError(f"{name} must be a string, got {prompt!r}")
    conditioner = conditioner_configs(model).get("prompt", {})
    if conditioner.get("type") != "list":
        return
    options = conditioner.get("config", {}).get("options", [])
    if prompt not in options:
        raise ValueError(f"{name} {prompt!r} is not one of this model's prompts (its prompt conditioner is a fixed "
                         f"list); valid: {', '.join(map(repr, options))}")


def check_timing(model: Model, name: str, seconds) -> None:
    """seconds_start / seconds_total within the range of the model's number conditioner (SAT clamps silently).

    A model without a seconds_start conditioner (SAO Small) takes only seconds_start=0: SAT's conditioner ignores
    the key, so any other value would be silently dropped."""
    conditioners = conditioner_configs(model)
    if name == "seconds_start" and name not in conditioners:
        if not (is_finite_number(seconds) and seconds == 0):
            raise ValueError(f"seconds_start must be 0 for this model, got {seconds!r}: it has no seconds_start "
                             f"conditioner (it conditions on {', '.join(map(str, conditioners))})")
        return
    conditioner = conditioners.get(name, {})
    if conditioner.get("type") != "number":
        return
    low, high = conditioner.get("config", {}).get("min_val", 0), conditioner.get("config", {}).get("max_val", 1)
    if not (is_finite_number(seconds) and low <= seconds <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}] (the model's {name} conditioner range), "
                         f"got {seconds!r}")


def build_conditioning(model: Model, prompt: str, *, seconds_start: float = 0.0, seconds_total: float | list,
                       batch_size: int = 1, negative_prompt: str | None = None,
                       conditioning_tensors: dict | None = None, latent_frames: int | None = None) -> Conditioning:
    """Prompt + timing -> conditioning tensors, as SAT's `generate_diffusion_cond` computes them.

    `conditioning_tensors` (SAT's argument of that name: conditioner id -> [tensor, mask]) replaces or adds
    entries of what the conditioner computes, e.g. precomputed T5 tokens for "prompt". A Stable Audio 3 model
    needs `latent_frames`, the chain's length: its inpaint inputs are zeros of that length, and its attention is
    masked past seconds_total + 6 s (`sat.varlen`). `seconds_total` may be a list, one per batch item.
    """
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {prompt!r}")
    if "prompt" not in (conditioning_tensors or {}):
        check_prompt(model, "prompt", prompt)
    if negative_prompt is not None:
        check_prompt(model, "negative_prompt", negative_prompt)
    check_timing(model, "seconds_start", seconds_start)
    totals = sat_adapter.per_item(seconds_total, batch_size)
    for total in totals:
        check_timing(model, "seconds_total", total)
    conditioning = [{"prompt": prompt, "seconds_start": seconds_start, "seconds_total": total} for total in totals]
    zeros = {}
    if sat_adapter.has_inpaint_inputs(model) or sat_adapter.is_varlen(model):
        if not is_count(latent_frames, 1):
            raise ValueError(f"latent_frames must be an integer >= 1 for this Stable Audio 3 model (its inpaint "
                             f"inputs and attention mask span the chain), got {latent_frames!r}")
        zeros = sat_adapter.inpaint_zeros(model, batch_size, latent_frames)
    with torch.no_grad():
        inputs = sat_adapter.conditioning_inputs(model, conditioning, overrides={**zeros, **(conditioning_tensors
                                                                                             or {})})
        negative = {}
        if negative_prompt is not None:
            negative_conditioning = [{**c, "prompt": negative_prompt} for c in conditioning]
            negative = sat_adapter.conditioning_inputs(model, negative_conditioning, negative=True, overrides=zeros)
    inputs = {k: v.type(model.dtype) if v is not None else v for k, v in inputs.items()}
    padding_mask, effective_seq_len = (sat_adapter.varlen(model, seconds_total, batch_size, latent_frames)
                                       if zeros or sat_adapter.is_varlen(model) else (None, None))
    if padding_mask is not None:
        inputs["padding_mask"] = padding_mask  # a bool mask, added after the dtype cast as SAT adds it
    return Conditioning(inputs=inputs, negative_inputs=negative, padding_mask=padding_mask,
                        effective_seq_len=effective_seq_len)


def velocity_model(model: Model, cond: Conditioning, config: SamplerConfig, *,
                   autocast_bf16: bool = False) -> sampling.VelocityModel:
    """The raw network `(x, t) -> v` with CFG (SAT semantics), DiT layer checkpointing off; `autocast_bf16` runs it
    under bf16 autocast (`SpeedConfig.autocast_bf16`)."""
    config = model_sampling(model, "generate", config)
    autocast = (torch.autocast(model.device.type, dtype=torch.bfloat16) if autocast_bf16
                else contextlib.nullcontext())

    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with autocast:
            out = sat_adapter.network(model, x, t, {**cond.inputs, **cond.negative_inputs},
                                      cfg_scale=config.cfg_scale, cfg_interval=config.cfg_interval,
                                      scale_phi=config.scale_phi, apg_scale=config.apg_scale)
        return out.to(x.dtype)

    return v


def v_denoiser(v_model: sampling.VelocityModel) -> sampling.Denoiser:
    """k-diffusion `VDenoiser`: D(x, sigma) = c_skip x + c_out F(c_in x, atan(sigma) 2/pi), sigma_data = 1."""
    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma[:, None, None]
        c_skip = 1.0 / (s ** 2 + 1.0)
        c_out = -s * 1.0 / (s ** 2 + 1.0) ** 0.5
        c_in = 1 / (s ** 2 + 1.0) ** 0.5
        return v_model(x * c_in, sigma.atan() / math.pi * 2) * c_out + x * c_skip
    return denoise


def brownian_noise(like: torch.Tensor, levels: torch.Tensor, seed: int | None) -> sampling.NoiseSource:
    """k-diffusion's Brownian tree over the grid's positive levels (SAT's SDE samplers); `seed=None` draws the
    tree's seed from the global RNG, as SAT does."""
    positive = levels[levels > 0]
    return sat_adapter.BrownianTreeNoiseSampler(like, positive.min(), levels.max(), seed=seed)


def normal_noise(like: torch.Tensor, levels: torch.Tensor | None, seed: int | None) -> sampling.NoiseSource:
    """i.i.d. unit normals shaped like `like` at every step (ancestral and ping-pong samplers), from a generator
    seeded by `seed`, or with `seed=None` from the global RNG right where SAT draws them."""
    generator = None
    if seed is not None:
        generator = torch.Generator(device=like.device).manual_seed(seed)

    def normal(sigma, sigma_next):
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return normal


NOISE_SOURCES = {"brownian": brownian_noise, "normal": normal_noise}  # SamplerSpec.noise -> its source


def tensor_noise(noises: torch.Tensor) -> sampling.NoiseSource:
    """Given per-step noises (steps, batch, latent_channels, latent_frames) as a source: the sampler's k-th draw
    is noises[k]. Every stochastic sampler draws once per step, in step order (the last step's draw may be
    skipped), so noises[i] is step i's injected noise; gradients flow back into `noises`."""
    calls = [0]

    def noise(sigma, sigma_next):
        if calls[0] >= len(noises):
            raise ValueError(f"the sampler drew more than the {len(noises)} per-step noises given; pass one per step")
        calls[0] += 1
        return noises[calls[0] - 1]
    return noise


def make_noise_source(kind: str, like: torch.Tensor, levels: torch.Tensor | None, seed: int | None):
    """Per-step noise of a stochastic sampler's `SamplerSpec.noise` kind, a deterministic function of `seed`."""
    if kind not in NOISE_SOURCES:
        raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_SOURCES)}")
    return NOISE_SOURCES[kind](like, levels, seed)


class Chain(tp.NamedTuple):
    """A sampler's call as its grid kind builds it: f(model, x, *args, **kwargs); `levels` feed a noise source."""

    model: tp.Callable  # a Denoiser ("sigmas", "dpm-fast") or the VelocityModel (the other grids)
    x: torch.Tensor
    args: tuple
    kwargs: dict
    levels: torch.Tensor | None


def grid_sigmas(model: Model, v_model, x_T, config: SamplerConfig, sigma_max: float, init_latents) -> Chain:
    """SAT `sample_k`: the k-diffusion schedule, x = x_T * sigmas[0] (+ init latents), samplers over `VDenoiser`."""
    sigmas = sampling.get_sigmas(config.schedule, config.steps, config.sigma_min, sigma_max, config.rho,
                                 device=model.device)
    x = x_T * sigmas[0]
    if init_latents is not None:
        x = init_latents + x
    return Chain(v_denoiser(v_model), x, (sigmas,), {}, sigmas)


def grid_dpm_fast(model: Model, v_model, x_T, config: SamplerConfig, sigma_max: float, init_latents) -> Chain:
    """SAT `sample_k` for k-dpm-fast: the same start as "sigmas"; the sampler spaces its own `steps` evaluations."""
    chain = grid_sigmas(model, v_model, x_T, config, sigma_max, init_latents)
    return chain._replace(args=(config.sigma_min, sigma_max, config.steps))


def grid_v_ddim(model: Model, v_model, x_T, config: SamplerConfig, sigma_max: float, init_latents) -> Chain:
    """SAT `sample_k` for v-ddim (`sample`, eta = 0): t_max = min(sigma_max, 1), init latents mixed by cos / sin."""
    t_max = min(sigma_max, 1.0)
    if init_latents is None:
        x = x_T
    else:
        t_max_tensor = torch.tensor(t_max)
        x = init_latents * torch.cos(t_max_tensor * math.pi / 2) + x_T * torch.sin(t_max_tensor * math.pi / 2)
    return Chain(v_model, x, (config.steps,), {"t_max": t_max}, None)


def rf_start(x_T: torch.Tensor, sigma_max: float, init_latents) -> tuple[float, torch.Tensor]:
    """SAT `sample_rf`'s start: t_max = min(sigma_max, 1); x = x_T, or init latents noised to t_max."""
    t_max = min(sigma_max, 1.0)
    return t_max, (x_T if init_latents is None else init_latents * (1 - t_max) + x_T * t_max)


def grid_rf(model: Model, v_model, x_T, config: SamplerConfig, sigma_max: float, init_latents,
            effective_seq_len: torch.Tensor | None = None) -> Chain:
    """SAT's flow samplers: the installed release's time grid from t_max (`sat.flow_grid`: log-SNR spaced; 0.0.19's
    rk4 linear with the model's `dist_shift`), and the sampler's release-specific options."""
    t_max, x = rf_start(x_T, sigma_max, init_latents)
    t = sat_adapter.flow_grid(model, config.sampler, config.steps, t_max, x.shape[-1],
                              effective_seq_len=effective_seq_len)
    return Chain(v_model, x, (t,), dict(sat_adapter.FLOW_SAMPLER_OPTIONS.get(config.sampler, {})), t)


grid_rf_rk4 = grid_rf  # rk4's grid differs on 0.0.19 only; `sat.flow_grid` tells it by the sampler's name


GRIDS = {"sigmas": grid_sigmas, "dpm-fast": grid_dpm_fast, "v-ddim": grid_v_ddim, "rf": grid_rf,
         "rf-rk4": grid_rf_rk4}  # SamplerSpec.grid -> its builder


def sample_latents(model: Model, x_T: torch.Tensor, cond: Conditioning, config: SamplerConfig, *,
                   speed: SpeedConfig | None = None, init_latents: torch.Tensor | None = None,
                   init_noise_level: float = 1.0, noise_seed: int | None = None, progress: bool = False,
                   noises: torch.Tensor | None = None) -> torch.Tensor:
    """Run the chain: unit-variance x_T (batch, latent_channels, latent_frames) -> x_0 latents, differentiably.

    The sampler's registry row (`sampling.SAMPLERS`) picks the grid builder (`GRIDS`) and the noise source
    (`NOISE_SOURCES`). `init_latents` starts from encoded audio at noise level `init_noise_level`
    (audio-to-audio). Stochastic samplers draw per-step noise from a source seeded by `noise_seed` (None: the
    global RNG, as SAT does), so for a fixed seed the result is a deterministic function of x_T; or they inject
    the given `noises` (steps, batch, latent_channels, latent_frames), e.g. from `draw_noises` or an optimization.
    `speed` says how the chain executes (`checkpoint`, `keep_steps`, `autocast_bf16`); None: `SpeedConfig.plain()`.
    """
    config = model_sampling(model, "generate", config)  # fields left None: the model's generation defaults
    config.validate(model)
    speed = speed or SpeedConfig.plain()
    speed.validate()
    spec = config.spec(model)
    if noises is not None:
        check_noises(model, config, noises, x_T)
    chain = build_chain(model, x_T, cond, config, init_latents, init_noise_level, autocast_bf16=speed.autocast_bf16)
    return run_sampler(spec, chain, noise_seed=noise_seed, checkpoint=speed.checkpoint,
                       keep_steps=speed.keep_steps or 0, progress=progress, noises=noises)


def build_chain(model: Model, x_T: torch.Tensor, cond: Conditioning | None, config: SamplerConfig,
                init_latents: torch.Tensor | None, init_noise_level: float, *, autocast_bf16: bool = False) -> Chain:
    """The sampler's call for x_T: its grid, start and levels (`GRIDS` by the registry row's grid kind)."""
    config = model_sampling(model, "generate", config)
    sigma_max = init_noise_level if init_latents is not None else config.sigma_max
    v_model = velocity_model(model, cond, config, autocast_bf16=autocast_bf16) if cond is not None else None
    grid = config.spec(model).grid
    varlen = ({"effective_seq_len": cond.effective_seq_len}
              if cond is not None and cond.effective_seq_len is not None and grid in ("rf", "rf-rk4") else {})
    return GRIDS[grid](model, v_model, x_T.to(model.dtype), config, sigma_max, init_latents, **varlen)


def draw_noises(model: Model, x_T: torch.Tensor, config: SamplerConfig, *, noise_seed: int | None,
                init_latents: torch.Tensor | None = None, init_noise_level: float = 1.0) -> torch.Tensor | None:
    """The per-step noises (steps, batch, latent_channels, latent_frames) that `config`'s stochastic sampler draws
    from its source seeded by `noise_seed`, drawn now in the sampler's order; None for a deterministic sampler.

    Step i draws where its next level is above 0 (the last step, at level 0, injects nothing and keeps zeros), so
    `sample_latents(..., noises=draw_noises(...))` equals `sample_latents(..., noise_seed=...)`; the noises can
    then be optimized beside x_T.
    """
    config = model_sampling(model, "generate", config)
    spec = config.spec(model)
    if spec.noise is None:
        return None
    chain = build_chain(model, x_T, None, config, init_latents, init_noise_level)
    source = make_noise_source(spec.noise, chain.x, chain.levels, noise_seed)
    levels = chain.levels
    noises = torch.zeros((config.steps, *chain.x.shape), dtype=chain.x.dtype, device=chain.x.device)
    for i in range(config.steps):
        if levels[i + 1] > 0:
            noises[i] = source(levels[i], levels[i + 1])
    return noises


def check_noises(model: Model, config: SamplerConfig, noises: torch.Tensor, x_T: torch.Tensor) -> None:
    """Per-step noises must suit the chain: a stochastic sampler, shape (steps, *x_T.shape), finite values."""
    config = model_sampling(model, "generate", config)
    if config.spec(model).noise is None:
        raise ValueError(f"noises were given, but sampler {config.sampler!r} is deterministic and injects none; "
                         f"stochastic samplers: {', '.join(sampling.STOCHASTIC_SAMPLERS)}")
    expected = (config.steps, *x_T.shape)
    if tuple(noises.shape) != expected:
        raise ValueError(f"noises must have shape {expected} (steps, batch, latent_channels, latent_frames), "
                         f"got {tuple(noises.shape)}")
    if not torch.isfinite(noises).all():
        raise ValueError("noises hold NaN/inf values; per-step noises must be finite (unit-variance noise)")


def run_sampler(spec: sampling.SamplerSpec, chain: Chain, *, noise_seed: int | None, checkpoint: bool = False,
                keep_steps: int = 0, progress: bool = False, noises: torch.Tensor | None = None) -> torch.Tensor:
    """`spec.function` over a built chain, handed a noise source of `spec.noise` kind when it is stochastic (or
    the given per-step `noises`)."""
    kwargs = dict(chain.kwargs, checkpoint=checkpoint, keep_steps=keep_steps, progress=progress)
    if spec.noise is not None:
        kwargs["noise"] = (tensor_noise(noises) if noises is not None
                           else make_noise_source(spec.noise, chain.x, chain.levels, noise_seed))
    return spec.function(chain.model, chain.x, *chain.args, **kwargs)


def encode(model: Model, audio: torch.Tensor, *, sample: bool = True) -> torch.Tensor:
    """Audio (batch, channels, samples) at the model's rate -> latents (batch, latent_channels, latent_frames)
    through the VAE encoder: a posterior sample drawn with the global RNG (as stable-audio-tools does for init
    audio), or with `sample=False` the posterior mean (deterministic, for edit references)."""
    return sat_adapter.encode(model, audio, sample=sample)


def decode(model: Model, latents: torch.Tensor, *, chunk_latents: int | None = None,
           dtype: torch.dtype | None = None, noise_seed: int | None = None) -> torch.Tensor:
    """Latents (batch, latent_channels, latent_frames) -> audio (batch, channels, samples) through the VAE decoder.

    `dtype=torch.bfloat16` runs a bf16 copy of the decoder (made once per model). Autocast alone would not do:
    the Oobleck decoder's Snake activations are elementwise ops that autocast leaves in fp32. A decoder that adds
    noise (Stable Audio 3) draws it from the global RNG, as SAT does, or with `noise_seed` from a source seeded so
    (the same noise at every call; docs/models.md).
    """
    if dtype is None:
        return sat_adapter.decode(model, latents, chunk_latents=chunk_latents, noise_seed=noise_seed)
    return sat_adapter.decode(model, latents, chunk_latents=chunk_latents, dtype=dtype,
                              noise_seed=noise_seed).to(model.dtype)


def resolve_length(model: Model, sample_size: int | None, seconds_start: float, seconds_total: float | None):
    """Validated (sample_size in samples, seconds_total) with the model's window as the default. seconds_total
    is one number here; `resolve_totals` takes one per batch item."""
    if sample_size is None:
        sample_size = model.sample_size
    if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)) or sample_size <= 0 \
            or sample_size % model.latent_stride:
        raise ValueError(f"sample_size must be a positive multiple of the latent stride {model.latent_stride} "
                         f"samples, got {sample_size!r}")
    if not (is_finite_number(seconds_start) and seconds_start >= 0):
        raise ValueError(f"seconds_start must be a finite number >= 0, got {seconds_start!r}")
    if seconds_total is None:
        seconds_total = sample_size / model.sample_rate
    if not (is_finite_number(seconds_total) and seconds_total > 0):
        raise ValueError(f"seconds_total must be a finite number > 0, got {seconds_total!r}")
    check_window(model, max(int(sample_size), model.sample_size), seconds_total)
    check_timing(model, "seconds_start", seconds_start)
    check_timing(model, "seconds_total", seconds_total)
    return int(sample_size), seconds_total


def resolve_totals(model: Model, sample_size: int | None, seconds_start: float, seconds_total, batch_size: int):
    """`resolve_length` for a seconds_total that may be a list or tuple of one value per batch item (SAT's
    conditioning dicts per item): (sample_size, seconds_total as given or a list of floats). One-line ValueError
    for a list of the wrong length or a bad value (named with its item)."""
    if not isinstance(seconds_total, (list, tuple)):
        return resolve_length(model, sample_size, seconds_start, seconds_total)
    if len(seconds_total) != batch_size:
        raise ValueError(f"seconds_total must be a number or a list of one per batch item ({batch_size}), got "
                         f"{len(seconds_total)} values: {list(seconds_total)!r}")
    resolved = []
    for i, total in enumerate(seconds_total):
        try:
            sample_size, total = resolve_length(model, sample_size, seconds_start, total)
        except ValueError as error:
            raise ValueError(f"batch item {i}: {error}") from None
        resolved.append(float(total))
    return sample_size, resolved


def check_window(model: Model, window: int, seconds_total: float) -> None:
    """seconds_total must fit the window of `window` samples: audio is never longer than its window, so a longer
    seconds_total would silently come back cut. `generate` checks against the longer of sample_size and the
    model's own window (a seconds_total condition beyond a short sample_size is valid in SAT); `optimize` against
    sample_size, since its loss sees only that."""
    if seconds_total * model.sample_rate > window:
        needed = math.ceil(seconds_total * model.sample_rate / model.latent_stride) * model.latent_stride
        raise ValueError(f"seconds_total {seconds_total!r} is longer than the {window / model.sample_rate:.3f} s "
                         f"generation window ({window} samples at {model.sample_rate} Hz); pass a larger "
                         f"sample_size, at least {needed} samples, to generate that long")


def prepare_init_audio(model: Model, init_audio: InitAudio, sample_size: int) -> torch.Tensor:
    """(sample_rate, audio (channels, samples) or (samples,)) or a file path -> (1, channels, sample_size) at the
    model's rate and channel count, cropped or zero-padded at the end (SAT `prepare_audio`)."""
    if isinstance(init_audio, (str, PathLike)):
        audio, sample_rate = init_audio, None
    elif isinstance(init_audio, tuple) and len(init_audio) == 2:
        sample_rate, audio = init_audio
    else:
        raise ValueError(f"init_audio must be (sample_rate, tensor) or a file path, got {type(init_audio).__name__}")
    return audio_io.load_for_model(audio, sample_rate, target_rate=model.sample_rate, channels=model.channels,
                                   length=sample_size, what="init audio tensor").to(model.device)


def draw_x_T(model: Model, seed: int, latent_shape: tuple, x_T: torch.Tensor | None = None) -> torch.Tensor:
    """SAT's draw: `torch.manual_seed(seed)` then unit normals (batch, latent_channels, latent_frames) on the
    model's device; a given `x_T` of that shape replaces it (the global RNG still advances as SAT's does)."""
    torch.manual_seed(seed)
    noise = torch.randn(latent_shape, device=model.device)
    if x_T is None:
        return noise
    if tuple(x_T.shape) != tuple(latent_shape):
        raise ValueError(f"x_T must have shape {tuple(latent_shape)} (batch, latent_channels, latent_frames), "
                         f"got {tuple(x_T.shape)}")
    if not torch.isfinite(x_T).all():
        raise ValueError(f"x_T holds {int((~torch.isfinite(x_T)).sum())} NaN/inf values; x_T must be finite "
                         f"(unit-variance noise)")
    return x_T.to(model.device, torch.float32)


def encode_init_audio(model: Model, init_audio: InitAudio | None, sample_size: int, batch_size: int):
    """Init audio -> latents (batch, latent_channels, latent_frames) sampled from the VAE posterior with the global
    RNG, as SAT does right after drawing x_T; None without init audio."""
    if init_audio is None:
        return None
    with torch.no_grad():
        latents = sat_adapter.encode(model, prepare_init_audio(model, init_audio, sample_size))
    return latents.repeat(batch_size, 1, 1)


@dataclasses.dataclass(frozen=True)
class GenerateInputs:
    """`generate`'s keyword arguments beyond its named ones and the SamplerConfig / SpeedConfig fields."""

    x_T: torch.Tensor | None = None  # (batch, latent_channels, latent_frames): replaces the seeded draw
    noises: torch.Tensor | None = None  # (steps, batch, latent_channels, latent_frames): per-step noises
    conditioning_tensors: dict | None = None  # replaces conditioner outputs
    progress: bool = False  # a progress bar over the sampler steps


GENERATE_OPTIONS = field_names(GenerateInputs)  # generate's keywords beyond SamplerConfig
GENERATE_SPEED = ("checkpoint", "keep_steps", "autocast_bf16")  # the SpeedConfig fields generate honours


def generate(model: Model, prompt: str, *, seconds_start: float = 0, seconds_total: float | list | None = None,
             sample_size: int | None = None, steps: int | None = None, cfg_scale: float | None = None,
             sampler: SamplerName | None = None, sigma_min: float = 0.3, sigma_max: float = 500.0,
             rho: float = 1.0, cfg_interval: tuple[float, float] = (0.0, 1.0), scale_phi: float = 0.0,
             negative_prompt: str | None = None, seed: int = 0,
             batch_size: int = 1,
             init_audio: InitAudio | None = None, init_noise_level: float = 1.0,
             cut_to_seconds_total: bool = False, **options) -> torch.Tensor:
    """Generate audio (batch, channels, samples); equals SAT's `generate_diffusion_cond` with the same arguments.

    `seed=-1` draws a random seed (as SAT). `sample_size` defaults to the model's window; `seconds_total` (the
    timing condition) to that window's length; a list gives one per batch item (SAT's conditioning dicts per item:
    Stable Audio 3 then runs one time grid per item, with euler or pingpong, and zeroes each item past its own
    length). `cut_to_seconds_total` trims the output to `seconds_total` (a list's longest), like the SAT UI.
    `sampler`, `steps` and `cfg_scale` left None take the model's own defaults (`model.defaults`: SAO Small's
    pingpong, 8 steps, CFG 1), else SAT's: "dpmpp-3m-sde" (v models) or "pingpong" (flows, which SAT runs for any
    sampler name it does not know), 100 steps, CFG 7. Further keyword arguments:
    - the other `SamplerConfig` fields: `apg_scale` blends CFG with APG as SAT 0.0.20 does (None: the installed
      SAT's default, 1 on 0.0.20; 0.0.19 has plain CFG only and takes 0), `schedule` (ScheduleName);
    - the `SpeedConfig` fields `checkpoint`,
      `keep_steps` and `autocast_bf16` (all off by default: nothing is checkpointed without a gradient);
    - `x_T` (batch, latent_channels, latent_frames), unit variance: replaces the seeded draw, e.g. an x_T saved
      by `ditto.optimize`; `noises` (steps, batch, latent_channels, latent_frames): a stochastic sampler's
      per-step noises (saved beside x_T when `optimize` optimized them) in place of its own draws;
    - `conditioning_tensors`: replaces conditioner outputs (e.g. precomputed T5 tokens);
    - `progress`: a progress bar over the sampler steps.
    """
    split = split_options("generate", options, {"sampling": SamplerConfig}, GENERATE_OPTIONS + GENERATE_SPEED)
    config = model_sampling(model, "generate", SamplerConfig(
        sampler=sampler, steps=steps, sigma_min=sigma_min, sigma_max=sigma_max, rho=rho, cfg_scale=cfg_scale,
        cfg_interval=cfg_interval, scale_phi=scale_phi, **split["sampling"]))
    config.validate(model)
    check_start(batch_size, init_audio, init_noise_level)
    sample_size, seconds_total = resolve_totals(model, sample_size, seconds_start, seconds_total, batch_size)
    longest = max(sat_adapter.per_item(seconds_total, batch_size))
    sample_size = sat_adapter.generation_sample_size(model, sample_size, longest)  # SA3: seconds_total + 6 s
    latent_shape = (batch_size, model.latent_channels, sample_size // model.latent_stride)
    extra = split["extra"]
    inputs = GenerateInputs(**{name: extra[name] for name in GENERATE_OPTIONS if name in extra})

    if seed == -1:
        seed = int(np.random.randint(0, 2**32 - 1))
    noise = draw_x_T(model, seed, latent_shape, inputs.x_T)
    cond = build_conditioning(model, prompt, seconds_start=seconds_start, seconds_total=seconds_total,
                              batch_size=batch_size, negative_prompt=negative_prompt,
                              conditioning_tensors=inputs.conditioning_tensors, latent_frames=latent_shape[-1])
    init_latents = encode_init_audio(model, init_audio, sample_size, batch_size)

    speed = SpeedConfig.plain(**{name: extra[name] for name in GENERATE_SPEED if name in extra})
    latents = sample_latents(model, noise, cond, config, speed=speed, init_latents=init_latents,
                             init_noise_level=init_noise_level, progress=inputs.progress,
                             noises=_on(model, inputs.noises))
    audio = sat_adapter.zero_padding(model, decode(model, latents), cond.padding_mask)
    if not torch.isfinite(audio).all():
        raise ValueError(f"generation produced non-finite (NaN/inf) audio with {config.describe()}; use settings "
                         f"the model handles, e.g. the defaults (sigma_min=0.3, sigma_max=500.0, rho=1.0, "
                         f"scale_phi=0.0)")
    if cut_to_seconds_total:
        audio = audio[..., :int(longest * model.sample_rate)]
    return audio


def _on(model: Model, tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(model.device, model.dtype)


def check_start(batch_size: int, init_audio: InitAudio | None, init_noise_level: float) -> None:
    """The batch size and the init-audio noise level: ValueError naming a bad one."""
    if not is_count(batch_size, 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if init_audio is not None and not (is_finite_number(init_noise_level) and init_noise_level > 0):
        raise ValueError(f"init_noise_level must be a finite number > 0, got {init_noise_level!r}")
