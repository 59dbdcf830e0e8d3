"""Tiny twins of Stable Audio 3 (Small-Music / Small-SFX, Medium, and their `-base` variants) for the tests.

A twin has Stable Audio 3's config in kind: the same model type, objectives, conditioners, pretransform nesting
(an `autoencoder` around a `patched` one: SAME encoder/decoder, a `softnorm` bottleneck, 256 latent channels,
4096x downsampling), DiT options (cross-attention on prompt + seconds_total, global seconds_total, the inpaint
inputs added locally, padding-masked attention, effective-length schedule, memory tokens, rms qk-norm, rms norm;
Medium: differential attention), 44.1 kHz stereo; only the sizes shrink (a few MB). It is saved in the Stable
Audio file format (`model_config.json` + `model.safetensors`) with a tiny T5Gemma encoder (width 768, as
"google/t5gemma-b-b-ul2") built here in the repo's `t5gemma-b-b-ul2` subfolder, never downloaded.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

import ditto
from ditto import loading
from ditto.testing import random_model

T5GEMMA_SUBFOLDER = "t5gemma-b-b-ul2"
T5GEMMA_WIDTH = 768
WORDS = ["<pad>", "<eos>", "<bos>", "<unk>", "solo", "piano", "techno", "drums", "orchestral", "rain", "dog",
         "barking", "ambient", "pad", "warm", "bass", "guitar", "loud", "quiet", "music"]
LATENT_CHANNELS = 256
DOWNSAMPLING = 4096  # patch 256 x SAME strides 4 x 4 (the real SAME: 256 x 16 in its own strides)
PATCH = 256


def make_tiny_t5gemma(directory) -> Path:
    """A tiny T5Gemma encoder (hidden size 768, one sliding-attention layer) and a word-level tokenizer, saved with
    `save_pretrained` into `directory`: what SAT's T5GemmaConditioner loads from a path."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5GemmaConfig, T5GemmaEncoderModel
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaModuleConfig

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = {word: i for i, word in enumerate(WORDS)}
    module = dict(vocab_size=len(WORDS), hidden_size=T5GEMMA_WIDTH, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=8,
                  layer_types=["sliding_attention"], pad_token_id=0, eos_token_id=1, bos_token_id=2)
    config = T5GemmaConfig(encoder=T5GemmaModuleConfig(**module), decoder=T5GemmaModuleConfig(**module),
                           is_encoder_decoder=False, vocab_size=len(WORDS), pad_token_id=0, eos_token_id=1,
                           bos_token_id=2)
    torch.manual_seed(11)
    T5GemmaEncoderModel(config).eval().save_pretrained(directory)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>",
                            bos_token="<bos>").save_pretrained(directory)
    return directory


def same_config(depth: int) -> dict:
    """SAME (`taae_v2`) encoder/decoder options at a tiny size: 2 resampling stages of stride 4."""
    return {"channels": 16, "c_mults": [1, 2], "strides": [4, 4], "transformer_depths": [depth, depth],
            "differential": True, "mask_noise": 0.05}


def sa3_config(kind: str = "small", *, base: bool = False, repo_id: str = "stabilityai/stable-audio-3-small-music"
               ) -> dict:
    """A Stable Audio 3 `model_config.json` at tiny sizes: kind "small" (Small-Music / Small-SFX format) or
    "medium" (differential attention in the DiT); `base` the rectified-flow `-base` variant."""
    if kind not in ("small", "medium"):
        raise ValueError(f"kind must be 'small' or 'medium', got {kind!r}")
    same = same_config(1)
    autoencoder = {
        "encoder": {"type": "taae_v2", "config": {"in_channels": 2 * PATCH, "latent_dim": LATENT_CHANNELS,
                                                  **same}},
        "decoder": {"type": "taae_v2", "config": {"out_channels": 2 * PATCH, "latent_dim": LATENT_CHANNELS,
                                                  **same}},
        "bottleneck": {"type": "softnorm", "config": {"dim": LATENT_CHANNELS, "noise_regularize": True}},
        "pretransform": {"type": "patched", "config": {"channels": 2, "patch_size": PATCH}},
        "latent_dim": LATENT_CHANNELS, "downsampling_ratio": DOWNSAMPLING, "io_channels": 2,
    }
    attention = {"qk_norm": "rms"}
    if kind == "medium":
        attention["differential"] = True
    dit = {"io_channels": LATENT_CHANNELS, "patch_size": 1, "embed_dim": 64, "depth": 2, "num_heads": 2,
           "cond_token_dim": T5GEMMA_WIDTH, "global_cond_dim": T5GEMMA_WIDTH, "project_cond_tokens": True,
           "transformer_type": "continuous_transformer", "global_cond_type": "adaLN",
           "timestep_features_type": "expo", "num_memory_tokens": 4, "local_add_cond_dim": LATENT_CHANNELS + 1,
           "norm_type": "rms_norm", "attn_kwargs": attention}
    return {
        "model_type": "diffusion_cond_inpaint",
        "sample_size": 5292032 if kind == "small" else 16777216,  # 120 s / 380 s windows, multiples of 4096
        "sample_rate": 44100,
        "audio_channels": 2,
        "model": {
            "pretransform": {"type": "autoencoder", "iterate_batch": True, "config": autoencoder},
            "conditioning": {"configs": [
                {"id": "prompt", "type": "t5gemma",
                 "config": {"model_name": "google/t5gemma-b-b-ul2", "max_length": 256, "padding_mode": "learned",
                            "repo_id": repo_id, "subfolder": T5GEMMA_SUBFOLDER}},
                {"id": "seconds_total", "type": "number",
                 "config": {"min_val": 0, "max_val": 384, "fourier_features_type": "expo"}}],
                "cond_dim": T5GEMMA_WIDTH},
            "diffusion": {
                "type": "dit", "diffusion_objective": "rectified_flow" if base else "rf_denoiser",
                "cross_attention_cond_ids": ["prompt", "seconds_total"], "global_cond_ids": ["seconds_total"],
                "local_add_cond_ids": ["inpaint_mask", "inpaint_masked_input"],
                "mask_padding_attention": True, "use_effective_length_for_schedule": True,
                "config": dit},
            "io_channels": LATENT_CHANNELS,
        },
    }


def fill_std(name: str) -> float:
    """The scale a zero-initialised tensor is filled at. SAME's branch outputs: its attention outputs at 5 so
    that the latents, reached through differential attention over the new tokens, outweigh the mask noise; its
    feed-forward outputs at 0.2, so that they do not drown them; the DiT's and the rest at 0.05."""
    if name.startswith("pretransform.") and name.endswith(".weight"):
        return 5.0 if name.endswith("to_out.weight") else 0.2
    return 0.05


def sa3_twin(directory, kind: str = "small", *, base: bool = False, seed: int = 3, t5gemma: str = "subfolder"
             ) -> Path:
    """A tiny Stable Audio 3 saved as its hub repo lays it out: `model_config.json` + `model.safetensors`, and the
    T5Gemma encoder in the `t5gemma-b-b-ul2` subfolder (`t5gemma="subfolder"`), or none (`"none"`: the caller
    provides one). Seeded random weights; every zero-initialised tensor is filled so that the output depends on
    x_T, the prompt and seconds_total."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    encoder_dir = make_tiny_t5gemma(directory / T5GEMMA_SUBFOLDER)
    config = sa3_config(kind, base=base)
    built = loading.with_local_text_encoders(config, directory)
    assert built["model"]["conditioning"]["configs"][0]["config"]["model_path"] == str(encoder_dir)
    model = random_model(built, seed=seed, std=fill_std, fill_all=True, source="twin")
    with torch.no_grad():
        # SAME decodes each output sample from new tokens (SAT's `new_tokens` plus `mask_noise`) that attend to
        # the latents; the audio's level must come through that attention, not from the output projection's
        # bias (a fixed pattern repeated every patch), for DITTO to have something to steer
        model.sat.pretransform.model.decoder.layers[-1].mapping.bias.zero_()
    model = dataclasses.replace(model, config=config)  # saved without the local encoder path
    files = directory / "weights"
    ditto.save_model(model, files)
    for name in ("model_config.json", "model.safetensors"):
        (files / name).rename(directory / name)
    files.rmdir()
    if t5gemma == "none":
        import shutil
        shutil.rmtree(encoder_dir)
    return directory
