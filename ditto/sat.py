"""The one adapter to stable-audio-tools (SAT): every import of it (and of k-diffusion) lives here.

The rest of ditto never touches a SAT object: it holds a `ditto.Model` (whose `.sat` is SAT's
`ConditionedDiffusionModelWrapper`) and asks this module for what it needs: conditioning, the network with CFG,
the flow samplers' time grid, encode/decode, decoder checkpointing, the reduced-precision decoder copy, and the
model's facts. A change in SAT touches this file only (the pattern of k-diffusion's `external.py::VDenoiser`).
Functions take the `ditto.Model` (anything with `.sat`, `.device` and `.config`).

Two SAT releases are supported, told apart by the installed version (`VERSION`); every difference between them is
named here, in `DIFFERENCES`, and handled behind the functions below:

- 0.0.19 imports k-diffusion 0.1.1 (a separate package); 0.0.20 vendors an identical copy as
  `stable_audio_tools.inference.k_diffusion`. `k_sampling` is whichever is installed: the reference for the
  k-samplers' schedules and the source of the Brownian tree.
- CFG: 0.0.20's DiT guides with APG (adaptive projected guidance, in x0 space) by default, `apg_scale=1`;
  0.0.19 has plain CFG only. `DEFAULT_APG_SCALE` is the installed SAT's own default; `network` passes it on.
- Flow samplers' time grid: 0.0.19 spaces `steps` evenly in log-SNR from -6 (or t_max) to 2
  (`sampling.rf_timesteps`), rk4 alone linearly with the training `dist_shift`; 0.0.20 builds one grid for all
  four with `build_schedule` and the model's `sampling_dist_shift` (by default a log-SNR grid from 2 down to
  -6.2). `flow_grid` returns the installed one.
- rk4 evaluates its last stage at t = 1e-5 instead of 0, and the flow DPM-Solver++ computes its step coefficient
  directly, on 0.0.20 (`FLOW_SAMPLER_OPTIONS`, handed to ditto's samplers).
- The training distribution shift's method is `time_shift` on 0.0.19 and `shift` on 0.0.20.
- Oobleck's `encode(skip_bottleneck=True)` is gone on 0.0.20, so `encode(sample=False)` runs the encoder itself.
- Oobleck's residual units checkpoint themselves in train() mode on 0.0.19 only; ditto keeps the VAE in eval()
  and checkpoints the decoder's residual units itself (`set_decoder_checkpointing`), the same on both.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import math
import typing as tp
import warnings

import torch
from torch.utils.checkpoint import checkpoint as _checkpoint

SUPPORTED_VERSIONS = ("0.0.19", "0.0.20")
INSTALL_HINT = ("pip install --no-deps --ignore-requires-python stable-audio-tools==0.0.20 (or --no-deps "
                "stable-audio-tools==0.0.19 k-diffusion==0.1.1), without their own pins, which do not install "
                "beside a current torch; ditto's requirements list what they import (docs/install.md)")


def _installed_version() -> str:
    try:
        return importlib.metadata.version("stable-audio-tools")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(f"ditto needs stable-audio-tools, which is not installed: {INSTALL_HINT}") from None


VERSION = _installed_version()
if VERSION not in SUPPORTED_VERSIONS:
    raise ImportError(f"stable-audio-tools {VERSION} is installed, but ditto supports only "
                      f"{', '.join(SUPPORTED_VERSIONS)}: {INSTALL_HINT}")
SAT_0_0_20 = VERSION == "0.0.20"  # else 0.0.19

with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
    # SAT prints "flash_attn not installed" and clip warns about pkg_resources on import.
    warnings.simplefilter("ignore")
    logging.getLogger("stable_audio_tools").setLevel(logging.ERROR)
    try:
        if SAT_0_0_20:
            from stable_audio_tools.inference import k_diffusion as _k_diffusion
            from stable_audio_tools.inference.sampling import build_schedule as _build_schedule
            k_sampling, k_external = _k_diffusion.sampling, _k_diffusion.external
        else:
            import k_diffusion.external as k_external
            import k_diffusion.sampling as k_sampling
            _build_schedule = None
        from stable_audio_tools.inference.generation import generate_diffusion_cond
        if SAT_0_0_20:  # Stable Audio 3's variable-length generation (absent from 0.0.19)
            from stable_audio_tools.data.utils import (compute_effective_seq_len_from_conditioning as
                                                       _effective_seq_len, create_padding_mask_from_lengths as
                                                       _padding_mask_from_lengths)
        from stable_audio_tools.models.factory import create_model_from_config, create_pretransform_from_config
    except ImportError as error:  # ModuleNotFoundError included: name what is missing and the install
        raise ImportError(f"ditto needs stable-audio-tools {VERSION}'s imports, and {error.name or error} is "
                          f"missing: {INSTALL_HINT}") from error

BrownianTreeNoiseSampler = k_sampling.BrownianTreeNoiseSampler
VDenoiser = k_external.VDenoiser  # k-diffusion's v-objective denoiser: the reference `generation.v_denoiser` equals

# What differs between the supported releases, by name (module docstring); tests/test_sat_versions.py reads it.
DIFFERENCES = {
    "k-diffusion": {"0.0.19": "k_diffusion 0.1.1 (separate package)",
                    "0.0.20": "stable_audio_tools.inference.k_diffusion (vendored, identical)"},
    "apg_scale default": {"0.0.19": "none (plain CFG only; ditto takes 0)", "0.0.20": "1.0 (APG)"},
    "flow grid": {"0.0.19": "log-SNR -6 -> 2 (rk4: linspace + dist_shift.time_shift)",
                  "0.0.20": "build_schedule + sampling_dist_shift (log-SNR -6.2 -> 2), every flow sampler"},
    "rk4 last stage": {"0.0.19": "t = 0", "0.0.20": "t = 1e-5"},
    "flow dpmpp step": {"0.0.19": "via log-SNR expm1", "0.0.20": "direct coefficient, clamped"},
    "dist_shift method": {"0.0.19": "time_shift", "0.0.20": "shift"},
    "posterior mean": {"0.0.19": "vae.encode(skip_bottleneck=True)", "0.0.20": "TypeError; ditto runs vae.encoder"},
    "decoder checkpointing": {"0.0.19": "residual units in train() mode", "0.0.20": "none in SAT",
                              "ditto": "torch.utils.checkpoint around each decoder residual unit, both versions"},
}

DEFAULT_APG_SCALE = 1.0 if SAT_0_0_20 else 0.0
# Per-sampler options of ditto's flow samplers that reproduce the installed SAT (see `sampling.sample_flow_*`).
FLOW_SAMPLER_OPTIONS: dict[str, dict] = ({"rk4": {"t_floor": 1e-5}, "dpmpp": {"direct": True}} if SAT_0_0_20
                                         else {})

__all__ = [
    "BrownianTreeNoiseSampler",
    "DEFAULT_APG_SCALE",
    "SUPPORTED_VERSIONS",
    "VDenoiser",
    "VERSION",
    "build_model",
    "check_apg_scale",
    "conditioning_inputs",
    "decode",
    "diffusion_objective",
    "encode",
    "flow_grid",
    "generate_diffusion_cond",
    "k_external",
    "k_sampling",
    "latent_channels",
    "latent_stride",
    "network",
    "network_dtype",
    "reference_generate",
    "set_decoder_checkpointing",
    "state_dict",
    "time_shift",
]

SUPPORTED_MODEL_TYPES = ("diffusion_cond", "diffusion_cond_inpaint")  # the latter: Stable Audio 3

# k-diffusion queries its Brownian tree at float32 sigmas that round just outside the tree's float64 interval;
# torchsde warns on every step about this harmless ~1e-8 overshoot (SAT shows the same warnings).
warnings.filterwarnings("ignore", message="Should have (ta|tb)", module="torchsde")


def build_model(config: dict) -> torch.nn.Module:
    """A SAT model built from a parsed `model_config.json` (weights still random); a pretransform nested in the VAE
    (Stable Audio 3's patched one) decodes with gradients (`enable_nested_decoder_gradients`)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # torch's weight_norm deprecation, once per conv
        sat = create_model_from_config(config)
    enable_nested_decoder_gradients(sat)
    return sat


def check_apg_scale(apg_scale) -> None:
    """None (the installed SAT's default) or a number in [0, 1]; a nonzero value needs 0.0.20. One-line ValueError."""
    if apg_scale is None:
        return
    if isinstance(apg_scale, bool) or not isinstance(apg_scale, (int, float)) or not math.isfinite(apg_scale) \
            or not 0.0 <= apg_scale <= 1.0:
        raise ValueError(f"apg_scale must be a number in [0, 1] (0 plain CFG, 1 full APG), got {apg_scale!r}")
    if apg_scale != 0 and not SAT_0_0_20:
        raise ValueError(f"apg_scale={apg_scale!r} needs stable-audio-tools 0.0.20 (APG guidance); the installed "
                         f"{VERSION} has plain CFG only: pass apg_scale=0, or install 0.0.20 (docs/install.md)")


def resolved_apg_scale(apg_scale) -> float:
    return DEFAULT_APG_SCALE if apg_scale is None else float(apg_scale)


def reference_generate(model, prompt: str, *, seconds_total: float | list[float], seconds_start: float = 0,
                       negative_prompt: str | None = None, sampler: str = "dpmpp-3m-sde", batch_size: int = 1,
                       conditioning_tensors: dict | None = None, apg_scale: float | None = None,
                       **kwargs) -> torch.Tensor:
    """SAT's own `generate_diffusion_cond`, called as its UI does (one prompt and timing per batch item), quietly:
    the reference that `ditto.generate` equals. `conditioning_tensors` replaces conditioner outputs, as in
    `ditto.generate`; `apg_scale` None is the installed SAT's default; other keyword arguments are SAT's (steps,
    cfg_scale, seed, sample_size, ...). On 0.0.20 a flow model's `sigma_max` is capped at 1, as SAT's UI caps it
    (0.0.20 would start its time grid at any larger value; 0.0.19 capped it itself). `seconds_total` may be a
    list, one per batch item, as SAT's conditioning dicts are."""
    check_apg_scale(apg_scale)
    totals = per_item(seconds_total, batch_size)
    conditioning = [{"prompt": prompt, "seconds_start": seconds_start, "seconds_total": total} for total in totals]
    negative = None
    if negative_prompt is not None:
        negative = [{**c, "prompt": negative_prompt} for c in conditioning]
    if conditioning_tensors is not None:
        conditioning_tensors = {**model.sat.conditioner(conditioning, model.device), **conditioning_tensors}
    if has_inpaint_inputs(model) or is_varlen(model):
        # Stable Audio 3's own call: zero inpaint inputs (SAT's generate raises KeyError 'inpaint_mask' without
        # them), the padding mask, the effective-length schedule and 6 s of padding.
        sample_size = generation_sample_size(model, kwargs.get("sample_size", 2097152), max(totals))
        zeros = inpaint_zeros(model, batch_size, sample_size // latent_stride(model))
        conditioning_tensors = {**model.sat.conditioner(conditioning, model.device), **zeros,
                                **(conditioning_tensors or {})}
        if negative is not None:
            kwargs["negative_conditioning_tensors"] = {**model.sat.conditioner(negative, model.device), **zeros}
            negative = None
        kwargs.update(mask_padding_attention=bool(model.sat.mask_padding_attention), duration_padding_sec=
                      DURATION_PADDING_SEC, use_effective_length_for_schedule=bool(
                          model.sat.use_effective_length_for_schedule))
    if SAT_0_0_20:
        kwargs["apg_scale"] = resolved_apg_scale(apg_scale)
        if model.sat.diffusion_objective != "v" and "sigma_max" in kwargs:
            kwargs["sigma_max"] = min(kwargs["sigma_max"], 1.0)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return generate_diffusion_cond(model.sat, conditioning=conditioning, negative_conditioning=negative,
                                       conditioning_tensors=conditioning_tensors, device=model.device,
                                       sampler_type=sampler, batch_size=batch_size, **kwargs)


def conditioning_inputs(model, conditioning: list[dict], *, negative: bool = False,
                        overrides: dict | None = None) -> dict:
    """SAT's conditioner + `get_conditioning_inputs`, exactly as `generate_diffusion_cond` calls them.

    `overrides` (conditioner id -> [tensor, mask]) replace or add conditioner outputs, e.g. precomputed T5 tokens.
    """
    tensors = {**model.sat.conditioner(conditioning, model.device), **(overrides or {})}
    return model.sat.get_conditioning_inputs(tensors, negative=negative)


def network(model, x: torch.Tensor, t: torch.Tensor, inputs: dict, *, cfg_scale: float,
            cfg_interval: tuple[float, float], scale_phi: float, apg_scale: float | None = None) -> torch.Tensor:
    """The raw network output (v) with SAT's batched classifier-free guidance (on 0.0.20 blended with APG by
    `apg_scale`, None: SAT's default); DiT layer checkpointing off (the sampler checkpoints whole steps instead)."""
    guidance = {"apg_scale": resolved_apg_scale(apg_scale)} if SAT_0_0_20 else {}
    return model.sat.model(x, t, **inputs, cfg_scale=cfg_scale, cfg_interval=cfg_interval, scale_phi=scale_phi,
                           batch_cfg=True, rescale_cfg=True, use_checkpointing=False, **guidance)


def time_shift(model, t: torch.Tensor, latent_frames: int) -> torch.Tensor:
    """A flow model's training time shift of the grid `t` (SAT `dist_shift`), or `t` without one."""
    shift = model.sat.dist_shift
    if shift is None:
        return t
    return shift.shift(t, latent_frames) if SAT_0_0_20 else shift.time_shift(t, latent_frames)


def flow_grid(model, sampler: str, steps: int, t_max: float, latent_frames: int,
              effective_seq_len: torch.Tensor | None = None) -> torch.Tensor:
    """The time grid (steps + 1 values from t_max down to 0) the installed SAT runs flow sampler `sampler` on.

    0.0.20: `build_schedule` with the model's `sampling_dist_shift` (default: log-SNR from 2 down to -6.2), for
    every flow sampler. 0.0.19: `sampling.rf_timesteps` (log-SNR from -6 to 2), and for rk4 a linear grid shifted by
    the training `dist_shift`. `effective_seq_len` (batch,) (Stable Audio 3: `varlen`) shifts the grid by the
    valid length instead of `latent_frames`, as SAT does per batch item: one grid when the rows agree, else the
    (batch, steps + 1) grids, which SAT's euler and pingpong run (`PER_ITEM_GRID_SAMPLERS`; a ValueError for the
    others)."""
    from . import sampling

    if SAT_0_0_20:
        grid = _build_schedule(steps=steps, sigma_max=t_max, dist_shift=model.sat.sampling_dist_shift,
                               effective_seq_len=effective_seq_len, fallback_seq_len=latent_frames,
                               include_endpoint=True, device=model.device)
        if grid.dim() == 2:
            if bool((grid == grid[:1]).all()):
                return grid[0]
            if sampler not in PER_ITEM_GRID_SAMPLERS:
                raise ValueError(f"a batch with different seconds_total per item runs one time grid per item, "
                                 f"which sampler {sampler!r} does not take; use {' or '.join(PER_ITEM_GRID_SAMPLERS)}"
                                 f", or one seconds_total per batch")
        return grid
    if sampler == "rk4":
        return time_shift(model, torch.linspace(t_max, 0, steps + 1), latent_frames)
    return sampling.rf_timesteps(steps, t_max)


PER_ITEM_GRID_SAMPLERS = ("euler", "pingpong")  # SAT 0.0.20's flow samplers that take (batch, steps + 1) grids


def per_item(seconds_total, batch_size: int) -> list:
    """seconds_total as one value per batch item: a number repeated, or a list/tuple of batch_size values as given."""
    if isinstance(seconds_total, (list, tuple)):
        return list(seconds_total)
    return [seconds_total] * batch_size


def latent_stride(model) -> int:
    """Audio samples per latent frame (SAO's Oobleck VAE: 2048)."""
    return int(model.sat.min_input_length)


def latent_channels(model) -> int:
    return int(model.sat.io_channels)


def diffusion_objective(model) -> str:
    """"v" (SAO 1.0) or "rectified_flow" / "rf_denoiser" (SAO Small)."""
    return model.sat.diffusion_objective


def network_dtype(model) -> torch.dtype:
    return next(model.sat.model.parameters()).dtype


def vae_dtype(model) -> torch.dtype:
    """The VAE's weights' dtype: float16 for a `"model_half": true` pretransform (SAO Small)."""
    return next(model.sat.pretransform.parameters()).dtype


def _half_probe(device: torch.device) -> None:
    """A float16 convolution on `device`: raises where this torch cannot compute one."""
    weight = torch.ones(1, 1, 3, dtype=torch.float16, device=device)
    torch.nn.functional.conv1d(torch.ones(1, 1, 4, dtype=torch.float16, device=device), weight)


def check_vae_precision(model) -> None:
    """A `"model_half": true` VAE (SAO Small) decodes in float16: a one-line ValueError with the way out where this
    device cannot compute float16 convolutions."""
    pretransform = model.sat.pretransform
    if pretransform is None or not getattr(pretransform, "model_half", False):
        return
    try:
        _half_probe(model.device)
    except RuntimeError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f'this model\'s VAE runs in float16 ("model_half": true in its model_config.json), which '
                         f'torch cannot compute on {model.device} ({reason}): load it on a GPU (device="cuda"), or '
                         f'set "model_half": false in a copy of the config to decode in float32') from None


def state_dict(model) -> dict[str, torch.Tensor]:
    """The SAT wrapper's weights, keyed as in `model.safetensors`."""
    return model.sat.state_dict()


def encode(model, audio: torch.Tensor, *, sample: bool = True) -> torch.Tensor:
    """Audio (batch, channels, samples) -> latents (batch, latent_channels, latent_frames).

    `sample=True` draws from the VAE posterior with the global RNG, as SAT does for init audio;
    `sample=False` returns the posterior mean (deterministic, for references): the encoder's output before the
    bottleneck, whose first half of channels is the mean (the same on both versions; 0.0.20 dropped
    `encode(skip_bottleneck=True)`).
    """
    pretransform = model.sat.pretransform
    if sample:
        return pretransform.encode(audio)
    if not is_vae_bottleneck(model):  # Stable Audio 3's softnorm: no posterior; SAME's encoder noise seeded
        with seeded_decoder_noise(model, 0):
            return pretransform.encode(audio)
    encoder = pretransform.model.encoder
    audio = audio.to(next(encoder.parameters()).dtype)
    if pretransform.iterate_batch:
        pre_bottleneck = torch.cat([encoder(audio[i:i + 1]) for i in range(audio.shape[0])])
    else:
        pre_bottleneck = encoder(audio)
    mean, _scale = pre_bottleneck.chunk(2, dim=1)
    return mean.float() / pretransform.scale


def pretransform_in(model, dtype: torch.dtype | None) -> torch.nn.Module:
    """The model's pretransform, or a copy of it in `dtype` (rebuilt from the config) kept on the model for later calls.

    A copy runs in its own dtype (its `model_half` off: SAT's half flag would cast it back to float16). A deepcopy
    is not possible: weight_norm's derived weights are not graph leaves.
    """
    reference, config = model.sat.pretransform, model.config
    if dtype is None or dtype == next(reference.parameters()).dtype:
        return reference
    copies = model.sat.__dict__.setdefault("_ditto_pretransform_copies", {})  # not a submodule: not in state_dict
    if dtype not in copies:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            twin = create_pretransform_from_config(config["model"]["pretransform"], config["sample_rate"])
        twin.model_half = False
        _nested_gradients(twin)
        twin.model.load_state_dict(reference.model.state_dict())  # SAT routes load_state_dict to .model
        device = next(reference.parameters()).device
        copies[dtype] = twin.to(device=device, dtype=dtype).requires_grad_(False)
        copies[dtype].model.train(reference.model.training)
    return copies[dtype]


def decode(model, latents: torch.Tensor, *, chunk_latents: int | None = None, overlap: int = 32,
           dtype: torch.dtype | None = None, noise_seed: int | None = None) -> torch.Tensor:
    """Latents (batch, latent_channels, latent_frames) -> audio (batch, channels, samples), autograd-safe.

    `chunk_latents` decodes in overlapping chunks of that many latents (SAT's `decode_audio(chunked=True)`),
    which bounds the decoder's activation memory; None decodes in one pass. `dtype` decodes with a copy of the
    decoder in that precision. A `model_half` VAE (SAO Small) decodes in float16 and returns float32, as in SAT.
    `noise_seed` draws the noise a decoder adds at decode (Stable Audio 3: `has_decoder_noise`) from a generator
    seeded so, leaving the global RNG as it was; None draws it from the global RNG, as SAT does.
    """
    if noise_seed is not None and has_decoder_noise(model):
        with seeded_decoder_noise(model, noise_seed):
            return decode(model, latents, chunk_latents=chunk_latents, overlap=overlap, dtype=dtype)
    pretransform = pretransform_in(model, dtype)
    if not pretransform.model_half:
        latents = latents.to(next(pretransform.parameters()).dtype)
    if chunk_latents is None or latents.shape[-1] <= chunk_latents:
        return pretransform.decode(latents)
    z = latents * pretransform.scale
    if pretransform.model_half:
        z = z.half()
    audio = pretransform.model.decode_audio(z, chunked=True, chunk_size=chunk_latents, overlap=overlap,
                                            iterate_batch=pretransform.iterate_batch)
    return audio.float() if pretransform.model_half else audio


def _decoder_units(vae: torch.nn.Module) -> list[torch.nn.Module]:
    """The residual units of a VAE decoder (Oobleck: three per decoder block), by class name on both versions."""
    return [module for module in vae.decoder.modules() if type(module).__name__ == "ResidualUnit"]


def _checkpointed(forward, x: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return _checkpoint(forward, x, use_reentrant=False)
    return forward(x)


@contextlib.contextmanager
def set_decoder_checkpointing(model, enabled: bool) -> tp.Iterator[None]:
    """While enabled, every residual unit of the VAE decoder (and of its reduced-precision copies) runs its layers
    under `torch.utils.checkpoint` (non-reentrant): autograd keeps each unit's input, not its activations, and
    recomputes them during backward. The same on both SAT versions: ditto does not rely on the VAE's train() mode
    (0.0.19 checkpointed there, 0.0.20 does not), and the VAE stays in eval(). Outputs and gradients are unchanged.
    """
    copies = model.sat.__dict__.get("_ditto_pretransform_copies", {})
    vaes = [model.sat.pretransform.model, *(p.model for p in copies.values())]
    patched = []
    if enabled:
        for vae in vaes:
            for unit in _decoder_units(vae):
                layers = unit.layers
                if "forward" in layers.__dict__:  # already checkpointed by an enclosing call
                    continue
                original = layers.forward
                layers.forward = lambda x, _forward=original: _checkpointed(_forward, x)
                patched.append(layers)
    try:
        yield
    finally:
        for layers in patched:
            del layers.forward


# ---------------------------------------------------------------------------------------------------------
# Stable Audio 3 (model_type "diffusion_cond_inpaint", SAT 0.0.20): an inpainting DiT (its inpaint inputs are
# zeros when generating), variable-length generation (the requested duration padded by 6 s, attention masked past
# the valid length, the time grid shifted by the effective length, the decoded tail zeroed) and a SAME autoencoder
# around a patched pretransform, whose decoder adds noise at decode. What ditto needs of it lives below.

DURATION_PADDING_SEC = 6.0  # Stable Audio 3 generates seconds_total + this much, masked past the valid length
INPAINT_INPUTS = ("inpaint_mask", "inpaint_masked_input")


def is_vae_bottleneck(model) -> bool:
    """True for a VAE bottleneck (SAO's Oobleck: mean and scale channels); False for Stable Audio 3's softnorm."""
    bottleneck = getattr(getattr(model.sat.pretransform, "model", None), "bottleneck", None)
    return bottleneck is None or type(bottleneck).__name__ == "VAEBottleneck"


def enable_nested_decoder_gradients(sat: torch.nn.Module) -> None:
    """A pretransform nested inside the autoencoder (Stable Audio 3's `patched` one) decodes under `no_grad` unless
    its `enable_grad` is set, which silently cuts DITTO's gradient; it has no weights, so setting it changes no
    output."""
    _nested_gradients(getattr(sat, "pretransform", None))


def _nested_gradients(pretransform) -> None:
    inner = getattr(getattr(pretransform, "model", None), "pretransform", None)
    if inner is not None:
        inner.enable_grad = True


def is_varlen(model) -> bool:
    """Whether the model generates variable lengths as Stable Audio 3 does (padding-masked attention or an
    effective-length schedule)."""
    return bool(getattr(model.sat, "mask_padding_attention", False)
                or getattr(model.sat, "use_effective_length_for_schedule", False))


def has_inpaint_inputs(model) -> bool:
    return any(key in INPAINT_INPUTS for key in getattr(model.sat, "local_add_cond_ids", []))


def generation_sample_size(model, sample_size: int, seconds_total: float) -> int:
    """The audio length SAT's `generate_diffusion_cond` generates for a variable-length model: seconds_total (the
    batch's longest) + 6 s, rounded up to the pretransform's downsampling ratio (times the latent chunk of an
    encoder with chunked attention), capped at `sample_size`; `sample_size` itself for other models."""
    if not is_varlen(model) or seconds_total <= 0:
        return sample_size
    target = int((seconds_total + DURATION_PADDING_SEC) * model.sat.sample_rate)
    pretransform = model.sat.pretransform
    align = pretransform.downsampling_ratio * _latent_align(pretransform)
    return min(((target + align - 1) // align) * align, sample_size)


def _latent_align(pretransform) -> int:
    """SAT's alignment for an encoder whose first chunked-attention layer (no sliding window) folds `chunk_size`
    samples: chunk_size // stride latents; 1 otherwise."""
    encoder = getattr(getattr(pretransform, "model", None), "encoder", None)
    layers = getattr(encoder, "layers", None)
    if layers is None:
        return 1
    index = next((i for i, layer in enumerate(layers)
                  if hasattr(layer, "chunk_size") and getattr(layer, "sliding_window_latents", True) is None), None)
    if index is None:
        return 1
    stride = getattr(layers[index], "stride", None)
    if stride is None and hasattr(encoder, "strides") and len(encoder.strides) > index:
        stride = encoder.strides[index]
    return max(1, layers[index].chunk_size // stride) if stride and stride > 0 else 1


def varlen(model, seconds_total: float | list[float], batch_size: int, latent_frames: int
           ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(padding_mask (batch, latent_frames) bool or None, effective_seq_len (batch,) or None) of a variable-length
    model, as SAT's `sample_diffusion` computes them: the valid length is seconds_total's latents plus 6 s of
    headroom (capped at latent_frames); the schedule's length is seconds_total's latents alone. `seconds_total`
    may be a list, one per item."""
    if not is_varlen(model):
        return None, None
    conditioning = [{"seconds_total": total} for total in per_item(seconds_total, batch_size)]
    ratio = model.sat.pretransform.downsampling_ratio
    lengths = _effective_seq_len(conditioning, model.sat.sample_rate, ratio, model.device)
    mask = None
    if model.sat.mask_padding_attention:
        headroom = int(DURATION_PADDING_SEC * model.sat.sample_rate / ratio)
        valid = (lengths + headroom).clamp(max=latent_frames).long()
        mask = _padding_mask_from_lengths(valid, latent_frames)
    return mask, (lengths if model.sat.use_effective_length_for_schedule else None)


def inpaint_zeros(model, batch_size: int, latent_frames: int) -> dict:
    """The inpainting inputs as Stable Audio 3 generates without inpainting: a zero mask (batch, 1, frames) and a
    zero masked input (batch, latent_channels, frames), as conditioner outputs ([tensor])."""
    if not has_inpaint_inputs(model):
        return {}
    return {"inpaint_mask": [torch.zeros((batch_size, 1, latent_frames), device=model.device)],
            "inpaint_masked_input": [torch.zeros((batch_size, model.sat.io_channels, latent_frames),
                                                 device=model.device)]}


def zero_padding(model, audio: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Audio past the valid length zeroed, as SAT does after decoding (padding decodes to garbage)."""
    if padding_mask is None:
        return audio
    mask = padding_mask.unsqueeze(1).repeat_interleave(model.sat.pretransform.downsampling_ratio, dim=-1)
    if mask.shape[-1] > audio.shape[-1]:
        mask = mask[..., :audio.shape[-1]]
    elif mask.shape[-1] < audio.shape[-1]:
        mask = torch.nn.functional.pad(mask, (0, audio.shape[-1] - mask.shape[-1]), value=False)
    return audio * mask.to(audio.dtype)


def has_decoder_noise(model) -> bool:
    """Whether decoding draws random noise even in eval(): a softnorm bottleneck with `noise_regularize`, or a
    SAME decoder with `mask_noise` (Stable Audio 3)."""
    vae = getattr(model.sat.pretransform, "model", None)
    if vae is None:
        return False
    bottleneck = getattr(vae, "bottleneck", None)
    if getattr(bottleneck, "noise_regularize", False):
        return True
    return any(getattr(module, "mask_noise", 0) for module in vae.decoder.modules())


@contextlib.contextmanager
def seeded_decoder_noise(model, seed: int) -> tp.Iterator[None]:
    """The decoder's noise drawn from the global RNG seeded by `seed`, restored afterwards: every decode inside
    draws the same noise, so decoding is a deterministic function of the latents, and the caller's RNG stream is
    left as it was."""
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
