"""Offline twins of the real models, faithful in kind, only smaller.

- `write_t5_base(cache)`: a tiny T5 encoder that stable-audio-tools accepts as "t5-base" (d_model 768, one layer,
  a small word-level vocabulary), with a fast tokenizer built here, written into a Hugging Face cache in the hub's
  layout (`models--t5-base/snapshots/<sha>/` + `refs/main`), so that SAT's own `T5Conditioner` loads it with
  `from_pretrained("t5-base")` under `HF_HUB_OFFLINE=1`, exactly as after a real download.
- `sao_1_0_config()` / `sao_small_config()`: Stable Audio Open 1.0 and Small in their config format: T5 prompts
  (128 / 64 tokens), their timing conditioners and ranges, SAO 1.0's cross-attention with fewer key/value heads
  than query heads and unprojected condition tokens, SAO Small's qk LayerNorm, fp16 VAE, batched VAE and
  rf_denoiser objective. Only the sizes shrink: the tiny model's trained VAE, a one-layer DiT.
- `write_twin(config, directory)`: such a model saved as Stable Audio files, its DiT's zero-initialised layers
  filled with seeded values (a fresh SAT DiT outputs exactly zero).
- `write_hub_repo(cache, repo_id, directory)`: a model directory placed in the cache as a hub snapshot.

The tokenizer is built at test time (a tokenizer saved by one transformers major version may not load in another).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ditto import testing

T5_SHA = "d1ff0c0ffee0d1ff0c0ffee0d1ff0c0ffee0d1ff"  # any 40-hex revision: refs/main points at it
WORDS = ("solo piano techno drums string quartet jazz trio ambient pad lo-fi hip hop orchestral rock guitar "
         "warm bright slow fast loud quiet with a and of").split()


def hub_folder(cache: Path, repo_id: str) -> Path:
    """The cache folder of a model repo, as huggingface_hub names it."""
    return Path(cache) / ("models--" + repo_id.replace("/", "--"))


def _snapshot(cache: Path, repo_id: str, sha: str) -> Path:
    folder = hub_folder(cache, repo_id)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(sha)
    snapshot = folder / "snapshots" / sha
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def write_t5_base(cache: Path, *, seed: int = 0) -> Path:
    """A tiny "t5-base" (encoder + fast tokenizer) in the hub cache `cache`; returns its snapshot folder."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    snapshot = _snapshot(cache, "t5-base", T5_SHA)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{word: i + 3 for i, word in enumerate(dict.fromkeys(WORDS))}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>", model_max_length=512)
    tokenizer.save_pretrained(snapshot)
    config = T5Config(vocab_size=len(vocab), d_model=768, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
                      relative_attention_num_buckets=8, dropout_rate=0.0, feed_forward_proj="relu",
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(seed)
    T5EncoderModel(config).save_pretrained(snapshot)
    tokenizer_config = snapshot / "tokenizer_config.json"
    settings = json.loads(tokenizer_config.read_text())
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"  # not T5Tokenizer: no sentencepiece model here
    tokenizer_config.write_text(json.dumps(settings))
    return snapshot


def _t5_prompt(max_length: int) -> dict:
    return {"id": "prompt", "type": "t5", "config": {"t5_model_name": "t5-base", "max_length": max_length}}


def _seconds(name: str, max_val: int) -> dict:
    return {"id": name, "type": "number", "config": {"min_val": 0, "max_val": max_val}}


def sao_1_0_config() -> dict:
    """SAO 1.0 in kind: v objective, T5 prompt of 128 tokens, seconds_start and seconds_total in [0, 512], condition
    tokens of T5's width 768 left unprojected (`project_cond_tokens` false), so cross-attention has 768 / 64 = 12
    key/value heads for the DiT's 24 query heads of 64, as SAO 1.0 (whose width 1536 this needs: SAT repeats each
    key/value head a whole number of times); one layer with a narrow feed-forward, the tiny VAE."""
    config = testing.tiny_config()
    config.pop("ditto", None)
    config["sample_size"] = 2097152
    config["model"]["conditioning"] = {"configs": [_t5_prompt(128), _seconds("seconds_start", 512),
                                                   _seconds("seconds_total", 512)], "cond_dim": 768}
    config["model"]["diffusion"] = {
        "cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
        "global_cond_ids": ["seconds_start", "seconds_total"],
        "type": "dit",
        "config": {"io_channels": 64, "embed_dim": 1536, "depth": 1, "num_heads": 24, "cond_token_dim": 768,
                   "global_cond_dim": 1536, "project_cond_tokens": False, "ff_kwargs": {"mult": 1},
                   "transformer_type": "continuous_transformer"}}
    return config


def sao_small_config() -> dict:
    """SAO Small in kind: rf_denoiser, T5 prompt of 64 tokens, seconds_total in [0, 256] (no seconds_start),
    `qk_norm` "ln", `project_cond_tokens` left to its default (true), the VAE in fp16 ("model_half") and not
    iterated over the batch; a one-layer DiT, the tiny VAE, no "ditto" entry (the model card's defaults apply)."""
    config = testing.tiny_config()
    config.pop("ditto", None)
    config["sample_size"] = 524288
    config["model"]["pretransform"]["model_half"] = True
    config["model"]["pretransform"]["iterate_batch"] = False
    config["model"]["conditioning"] = {"configs": [_t5_prompt(64), _seconds("seconds_total", 256)], "cond_dim": 768}
    config["model"]["diffusion"] = {
        "cross_attention_cond_ids": ["prompt", "seconds_total"],
        "global_cond_ids": ["seconds_total"],
        "diffusion_objective": "rf_denoiser",
        "type": "dit",
        "config": {"io_channels": 64, "embed_dim": 128, "depth": 1, "num_heads": 4, "cond_token_dim": 768,
                   "global_cond_dim": 768, "attn_kwargs": {"qk_norm": "ln"},
                   "transformer_type": "continuous_transformer"}}
    return config


def write_twin(config: dict, directory: Path, *, seed: int = 3, std: float = 0.05) -> Path:
    """`config` built with the tiny model's trained VAE and seeded random conditioners and DiT (zero layers
    filled), saved as `model_config.json` + `model.safetensors`. The T5 cache must be in place (SAT loads T5 while
    building the conditioner)."""
    return testing.tiny_twin(config, directory, seed=seed, std=std, keep=("pretransform.",))


def write_hub_repo(cache: Path, repo_id: str, directory: Path, sha: str = "5ca1ab1e" * 5) -> Path:
    """The Stable Audio files of `directory` as the hub snapshot of `repo_id` in `cache`; returns the snapshot."""
    snapshot = _snapshot(cache, repo_id, sha)
    for name in ("model_config.json", "model.safetensors"):
        shutil.copyfile(Path(directory) / name, snapshot / name)
    return snapshot
