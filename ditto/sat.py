"""The one adapter to stable-audio-tools (SAT) and k-diffusion: every import of either lives here.

The rest of ditto never touches a SAT object: it holds a `ditto.Model` (whose `.sat` is SAT's
`ConditionedDiffusionModelWrapper`) and asks this module for what it needs: conditioning, the network with CFG,
the time shift of flow models, encode/decode, decoder checkpointing, the bf16 decoder copy, and the model's
facts. A change in SAT touches this file only (the pattern of k-diffusion's `external.py::VDenoiser`).
Functions take the `ditto.Model` (anything with `.sat`, `.device` and `.config`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import typing as tp
import warnings

import torch

INSTALL_HINT = ("pip install --no-deps stable-audio-tools==0.0.19 k-diffusion==0.1.1 (without their own pins, which "
                "do not install beside a current torch; ditto's requirements list what they import)")

with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
    # SAT prints "flash_attn not installed" and clip warns about pkg_resources on import.
    warnings.simplefilter("ignore")
    logging.getLogger("stable_audio_tools").setLevel(logging.ERROR)
    try:
        from k_diffusion.sampling import BrownianTreeNoiseSampler
        from stable_audio_tools.inference.generation import generate_diffusion_cond
        from stable_audio_tools.models.factory import create_model_from_config, create_pretransform_from_config
    except ImportError as error:  # ModuleNotFoundError included: name what is missing and the install
        raise ImportError(f"ditto needs stable-audio-tools and k-diffusion, and {error.name or error} is missing: "
                          f"{INSTALL_HINT}") from error

__all__ = [
    "BrownianTreeNoiseSampler",
    "build_model",
    "conditioning_inputs",
    "decode",
    "diffusion_objective",
    "encode",
    "generate_diffusion_cond",
    "reference_generate",
    "latent_channels",
    "latent_stride",
    "network",
    "network_dtype",
    "set_decoder_checkpointing",
    "state_dict",
    "time_shift",
]

SUPPORTED_MODEL_TYPES = ("diffusion_cond",)

# k-diffusion queries its Brownian tree at float32 sigmas that round just outside the tree's float64 interval;
# torchsde warns on every step about this harmless ~1e-8 overshoot (SAT shows the same warnings).
warnings.filterwarnings("ignore", message="Should have (ta|tb)", module="torchsde")


def build_model(config: dict) -> torch.nn.Module:
    """A SAT model built from a parsed `model_config.json` (weights still random)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # torch's weight_norm deprecation, once per conv
        return create_model_from_config(config)


def reference_generate(model, prompt: str, *, seconds_total: float, seconds_start: float = 0,
                       negative_prompt: str | None = None, sampler: str = "dpmpp-3m-sde", batch_size: int = 1,
                       conditioning_tensors: dict | None = None, **kwargs) -> torch.Tensor:
    """SAT's own `generate_diffusion_cond`, called as its UI does (one prompt and timing per batch item), quietly:
    the reference that `ditto.generate` equals. `conditioning_tensors` replaces conditioner outputs, as in
    `ditto.generate`; other keyword arguments are SAT's (steps, cfg_scale, seed, sample_size, ...)."""
    conditioning = [{"prompt": prompt, "seconds_start": seconds_start, "seconds_total": seconds_total}] * batch_size
    negative = None
    if negative_prompt is not None:
        negative = [{"prompt": negative_prompt, "seconds_start": seconds_start,
                     "seconds_total": seconds_total}] * batch_size
    if conditioning_tensors is not None:
        conditioning_tensors = {**model.sat.conditioner(conditioning, model.device), **conditioning_tensors}
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
            cfg_interval: tuple[float, float], scale_phi: float) -> torch.Tensor:
    """The raw network output (v) with SAT's batched classifier-free guidance; DiT layer checkpointing off (the
    sampler checkpoints whole steps instead)."""
    return model.sat.model(x, t, **inputs, cfg_scale=cfg_scale, cfg_interval=cfg_interval, scale_phi=scale_phi,
                           batch_cfg=True, rescale_cfg=True, use_checkpointing=False)


def time_shift(model, t: torch.Tensor, latent_frames: int) -> torch.Tensor:
    """A flow model's resolution-dependent time shift of the grid `t` (SAT `dist_shift`), or `t` without one."""
    shift = model.sat.dist_shift
    return t if shift is None else shift.time_shift(t, latent_frames)


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


def state_dict(model) -> dict[str, torch.Tensor]:
    """The SAT wrapper's weights, keyed as in `model.safetensors`."""
    return model.sat.state_dict()


def encode(model, audio: torch.Tensor, *, sample: bool = True) -> torch.Tensor:
    """Audio (batch, channels, samples) -> latents (batch, latent_channels, latent_frames).

    `sample=True` draws from the VAE posterior with the global RNG, as SAT does for init audio;
    `sample=False` returns the posterior mean (deterministic, for references).
    """
    pretransform = model.sat.pretransform
    if sample:
        return pretransform.encode(audio)
    vae = pretransform.model
    pre_bottleneck = vae.encode(audio, skip_bottleneck=True, iterate_batch=pretransform.iterate_batch)
    mean, _scale = pre_bottleneck.chunk(2, dim=1)
    return mean / pretransform.scale


def pretransform_in(model, dtype: torch.dtype | None) -> torch.nn.Module:
    """The model's pretransform, or a copy of it in `dtype` (rebuilt from the config) kept on the model for later calls.

    A deepcopy is not possible: weight_norm's derived weights are not graph leaves.
    """
    reference, config = model.sat.pretransform, model.config
    if dtype is None or dtype == next(reference.parameters()).dtype:
        return reference
    copies = model.sat.__dict__.setdefault("_ditto_pretransform_copies", {})  # not a submodule: not in state_dict
    if dtype not in copies:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            twin = create_pretransform_from_config(config["model"]["pretransform"], config["sample_rate"])
        twin.model.load_state_dict(reference.model.state_dict())  # SAT routes load_state_dict to .model
        device = next(reference.parameters()).device
        copies[dtype] = twin.to(device=device, dtype=dtype).requires_grad_(False)
        copies[dtype].model.train(reference.model.training)
    return copies[dtype]


def decode(model, latents: torch.Tensor, *, chunk_latents: int | None = None, overlap: int = 32,
           dtype: torch.dtype | None = None) -> torch.Tensor:
    """Latents (batch, latent_channels, latent_frames) -> audio (batch, channels, samples), autograd-safe.

    `chunk_latents` decodes in overlapping chunks of that many latents (SAT's `decode_audio(chunked=True)`),
    which bounds the decoder's activation memory; None decodes in one pass. `dtype` decodes with a copy of the
    decoder in that precision.
    """
    pretransform = pretransform_in(model, dtype)
    latents = latents.to(next(pretransform.parameters()).dtype)
    if chunk_latents is None or latents.shape[-1] <= chunk_latents:
        return pretransform.decode(latents)
    z = latents * pretransform.scale
    return pretransform.model.decode_audio(z, chunked=True, chunk_size=chunk_latents, overlap=overlap,
                                           iterate_batch=pretransform.iterate_batch)


@contextlib.contextmanager
def set_decoder_checkpointing(model, enabled: bool) -> tp.Iterator[None]:
    """Temporarily put the VAE in train() mode, where Oobleck checkpoints its residual units.

    The Oobleck VAE has no dropout or normalisation, so train() and eval() compute identical outputs;
    only what autograd keeps for backward changes.
    """
    copies = model.sat.__dict__.get("_ditto_pretransform_copies", {})
    vaes = [model.sat.pretransform.model, *(p.model for p in copies.values())]
    was_training = [vae.training for vae in vaes]
    for vae in vaes:
        vae.train(enabled)
    try:
        yield
    finally:
        for vae, mode in zip(vaes, was_training):
            vae.train(mode)
