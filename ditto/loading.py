"""Load Stable Audio models: a hub repo id, a local directory, or the embedded tiny model.

All three go through one code path: a directory (or hub snapshot) holding `model_config.json` and
`model.safetensors`, the format Stability AI publishes Stable Audio Open 1.0 in. Stable Audio Open Small ships a
pickle `model.ckpt` instead, which `convert_checkpoint` turns into that format once (docs/models.md).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pickle
import re
import shlex
import shutil
from pathlib import Path

import torch

from . import sampling
from . import sat as sat_adapter
from .config import is_count, is_finite_number

TINY_DIR = Path(__file__).parent / "tiny"
CONFIG_NAME = "model_config.json"
SAFETENSORS_NAME = "model.safetensors"
PICKLE_NAME = "model.ckpt"


class ModelLoadError(ValueError):
    """A model source that cannot be loaded; the message names the source and what would be valid."""


PAPER_LR = 5e-3  # DITTO's Adam step for its 41M model and for SAO 1.0 ("higher was unstable")

# Defaults by diffusion objective, for a config without a "ditto" entry (the models as Stability AI publishes them).
# "rf_denoiser" is Stable Audio Open Small: its model card samples with the 8-step "pingpong" sampler at cfg_scale 1
# (ARC post-training made it a few-step model that needs no guidance), as stable-audio-tools' UI does for any
# rf_denoiser model. "v" (SAO 1.0) and "rectified_flow" models get the paper's settings (ditto's own defaults).
OBJECTIVE_DEFAULTS = {"rf_denoiser": {"sampler": "pingpong", "steps": 8, "cfg_scale": 1.0}}
# By model type and objective, over OBJECTIVE_DEFAULTS: Stable Audio 3's `-base` (rectified_flow) models sample with
# euler (its distilled models are rf_denoiser: pingpong, 8 steps, CFG 1, as above). docs/models.md.
MODEL_TYPE_DEFAULTS = {("diffusion_cond_inpaint", "rectified_flow"): {"sampler": "euler"}}


@dataclasses.dataclass(frozen=True)
class ModelDefaults:
    """DITTO settings that suit a model: its diffusion objective's (`OBJECTIVE_DEFAULTS`), then the "ditto" entry
    of its model_config.json key by key, else the paper's. A field left None means the caller's own default.

    The embedded tiny model's config carries {"lr": 0.3, "max_iterations": 60}: on it 30 iterations on a
    crescendo leave 0.96x of the loss at 5e-3, 0.73x at 5e-2 and 0.17x at 0.3, and 60 iterations keep every
    recipe under a minute on 2 CPU cores. A copy of it loaded from a directory keeps them. SAO Small
    (rf_denoiser) without a "ditto" entry samples as its model card does: pingpong, 8 steps, cfg_scale 1.
    """

    lr: float = PAPER_LR  # Adam's step size
    max_iterations: int | None = None  # caps the recipes' default iterations (None: the paper's 70 / 150)
    sampler: str | None = None  # None: a deterministic DDIM-like sampler (v-ddim for v models, euler for flows)
    steps: int | None = None  # sampler steps (None: the paper's 20 when optimizing, SAT's 100 when generating)
    cfg_scale: float | None = None  # classifier-free guidance weight, 1 = off (None: the model card's 7 of SAO 1.0)

    @classmethod
    def from_config(cls, config: dict, path) -> "ModelDefaults":
        """Read and check the objective's defaults overlaid by the config's "ditto" entry; a ModelLoadError names a
        bad key or value."""
        entry = config.get("ditto", {})
        fields = [field.name for field in dataclasses.fields(cls)]
        if not isinstance(entry, dict) or set(entry) - set(fields):
            raise ModelLoadError(f"config {str(path)!r} has a \"ditto\" entry {entry!r}; "
                                 f"valid keys: {', '.join(fields)}")
        objective = config_objective(config)
        values = {"lr": PAPER_LR, **OBJECTIVE_DEFAULTS.get(objective, {}),
                  **MODEL_TYPE_DEFAULTS.get((config.get("model_type"), objective), {}), **entry}
        where = f"config {str(path)!r}: ditto"
        lr, cap, steps, cfg_scale = (values.get(name) for name in ("lr", "max_iterations", "steps", "cfg_scale"))
        if not (is_finite_number(lr) and lr > 0):
            raise ModelLoadError(f"{where}.lr must be a number > 0, got {lr!r}")
        if cap is not None and not is_count(cap, 1):
            raise ModelLoadError(f"{where}.max_iterations must be an integer >= 1, got {cap!r}")
        if steps is not None and not is_count(steps, 1):
            raise ModelLoadError(f"{where}.steps must be an integer >= 1, got {steps!r}")
        if cfg_scale is not None and not (is_finite_number(cfg_scale) and cfg_scale >= 0):
            raise ModelLoadError(f"{where}.cfg_scale must be a finite number >= 0 (1 = no guidance), got {cfg_scale!r}")
        sampler = _checked_sampler(values.get("sampler"), objective, where)
        return cls(lr=float(lr), max_iterations=cap, sampler=sampler, steps=steps,
                   cfg_scale=None if cfg_scale is None else float(cfg_scale))


def config_objective(config: dict) -> str:
    """The diffusion objective a config builds ("v" unless it says otherwise, as in stable-audio-tools)."""
    return config.get("model", {}).get("diffusion", {}).get("diffusion_objective", "v")


def _checked_sampler(sampler, objective: str, where: str) -> str | None:
    """A default sampler must be one of the registry's samplers for the model's objective."""
    if sampler is None:
        return None
    family = sampling.family_of(objective)
    try:
        sampling.sampler_spec(sampler, family)
    except ValueError:
        valid = ", ".join(name for name, spec in sampling.SAMPLERS.items() if spec.family == family)
        raise ModelLoadError(f"{where}.sampler must be a sampler of this {objective!r} model ({valid}), "
                             f"got {sampler!r}") from None
    return sampler


@dataclasses.dataclass
class Model:
    """A loaded Stable Audio model and the facts the rest of ditto needs about it."""

    sat: torch.nn.Module  # stable-audio-tools ConditionedDiffusionModelWrapper, in eval() mode
    config: dict  # the parsed model_config.json
    source: str  # what load_model was given
    device: torch.device

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def sample_size(self) -> int:
        """The model's window in audio samples (SAO 1.0: 2097152 = 47.55 s)."""
        return int(self.config["sample_size"])

    @property
    def channels(self) -> int:
        return int(self.config.get("audio_channels", 2))

    @property
    def latent_stride(self) -> int:
        """Audio samples per latent frame (SAO's Oobleck VAE: 2048); the smallest step of `sample_size`."""
        return sat_adapter.latent_stride(self)

    @property
    def latent_channels(self) -> int:
        return sat_adapter.latent_channels(self)

    @property
    def diffusion_objective(self) -> str:
        """"v" (SAO 1.0) or "rectified_flow" / "rf_denoiser" (SAO Small)."""
        return sat_adapter.diffusion_objective(self)

    @property
    def defaults(self) -> ModelDefaults:
        """The DITTO settings this model uses unless told otherwise (its config's "ditto" entry)."""
        return ModelDefaults.from_config(self.config, self.source)

    @property
    def dtype(self) -> torch.dtype:
        return sat_adapter.network_dtype(self)


def load_model(source: str | os.PathLike = "tiny", device=None, dtype: torch.dtype | None = None, *,
               trust_pickle: bool = False, token: str | None = None, revision: str | None = None) -> Model:
    """Load a Stable Audio model from `"tiny"`, a local directory, or a Hugging Face hub repo id.

    - `"tiny"`: the embedded few-MB model with SAO 1.0's structure (`ditto/tiny/`, made by
      `scripts/make_tiny_model.py`); no download.
    - a directory holding `model_config.json` + `model.safetensors`.
    - a hub repo id such as `"stabilityai/stable-audio-open-1.0"`: huggingface_hub downloads both files into
      its cache, honouring `HF_TOKEN` / `token`, `HF_HUB_OFFLINE` and `revision`.
    Weights load from safetensors only. A pickle `model.ckpt` (all that SAO Small's hub repo ships) is refused
    unless `trust_pickle=True`, and even then is read with `torch.load(weights_only=True)`; `convert_checkpoint`
    (`python -m ditto.convert SRC [DST_DIR]`) turns it into safetensors once. docs/models.md covers each family.
    """
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    source_str = os.fspath(source)
    if source_str == "tiny":
        config_path, weights_path = _local_files(TINY_DIR, trust_pickle)
    elif os.path.isdir(source_str):
        config_path, weights_path = _local_files(Path(source_str), trust_pickle)
    elif _looks_like_path(source_str):
        raise ModelLoadError(f"model directory {source_str!r} does not exist; pass 'tiny', a directory holding "
                             f"{CONFIG_NAME} + {SAFETENSORS_NAME}, or a hub repo id like 'stabilityai/stable-audio-open-1.0'")
    else:
        config_path, weights_path = _hub_files(source_str, trust_pickle, token, revision)

    config = _read_config(config_path)
    sat = _build(config, config_path)
    _load_weights(sat, _read_weights(weights_path), weights_path, config_path)
    sat = sat.to(device=device, dtype=dtype).eval().requires_grad_(False)
    model = Model(sat=sat, config=config, source=source_str, device=device)
    try:
        sat_adapter.check_vae_precision(model)
    except ValueError as error:
        raise ModelLoadError(f"{source_str!r}: {error}") from None
    return model


def _build(config: dict, config_path: Path) -> torch.nn.Module:
    """SAT's model of `config`; a T5 text encoder it conditions on that cannot be loaded (transformers reads it
    from the Hugging Face cache, or the hub) is a one-line ModelLoadError naming it and the fix."""
    try:
        return _build_with_text_encoders(config, config_path)
    except OSError:
        conditioners = config.get("model", {}).get("conditioning", {}).get("configs", [])
        t5 = [c.get("config", {}).get("t5_model_name", "t5-base") for c in conditioners if c.get("type") == "t5"]
        if not t5:
            raise
        raise ModelLoadError(_not_cached(t5[0], f"T5 text encoder {t5[0]!r} (hub repo {t5[0]!r}), which "
                                                f"{str(config_path)!r} conditions on,")) from None


def with_local_text_encoders(config: dict, directory: Path) -> dict:
    """`config` with each T5Gemma conditioner that names a `subfolder` present in `directory` (the model's folder
    or hub snapshot: Stable Audio 3 ships its text encoder in `t5gemma-b-b-ul2/`) loading from there: its
    `model_path` set, unless it names one already. The config on the model stays as read; nothing is written."""
    configs = config.get("model", {}).get("conditioning", {}).get("configs", [])
    local = [i for i, c in enumerate(configs) if c.get("type") == "t5gemma" and
             not c.get("config", {}).get("model_path") and c.get("config", {}).get("subfolder")
             and (directory / c["config"]["subfolder"]).is_dir()]
    if not local:
        return config
    config = json.loads(json.dumps(config))
    for i in local:
        options = config["model"]["conditioning"]["configs"][i]["config"]
        options["model_path"] = str(directory / options.pop("subfolder"))
    return config


def _build_with_text_encoders(config: dict, config_path: Path) -> torch.nn.Module:
    """The SAT model of `config`, its T5Gemma encoders from the model's folder where it ships them; a
    ModelLoadError naming where an encoder was looked for when transformers cannot load one (offline, not cached)."""
    try:
        return sat_adapter.build_model(with_local_text_encoders(config, config_path.parent))
    except OSError as error:
        encoders = [c.get("config", {}) for c in config.get("model", {}).get("conditioning", {}).get("configs", [])
                    if c.get("type") == "t5gemma"]
        if not encoders:
            raise
        options = encoders[0]
        where = options.get("model_path") or "/".join(filter(None, [options.get("repo_id"), options.get("subfolder")]))
        raise ModelLoadError(f"cannot load the T5Gemma text encoder of {str(config_path)!r} from "
                             f"{where or options.get('model_name', 'google/t5gemma-b-b-ul2')!r} "
                             f"({_first_line(error)}): put it in the model's folder as "
                             f"{options.get('subfolder') or 't5gemma-b-b-ul2'}/, name a local copy in the config's "
                             f"model_path, or download it into the hub cache (docs/models.md)") from None


def save_model(model: Model, directory: str | os.PathLike) -> Path:
    """Write `model` as `model_config.json` + `model.safetensors` (the Stable Audio format) into a new directory."""
    from safetensors.torch import save_file

    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise ValueError(f"directory {str(directory)!r} is not empty; choose a new one (nothing is overwritten)")
    directory.mkdir(parents=True, exist_ok=True)
    state_dict = {k: v.detach().to("cpu").contiguous().clone() for k, v in sat_adapter.state_dict(model).items()}
    _atomic_write(directory / SAFETENSORS_NAME, lambda p: save_file(state_dict, str(p)))
    _atomic_write(directory / CONFIG_NAME, lambda p: p.write_text(json.dumps(model.config, indent=4) + "\n"))
    return directory


def convert_checkpoint(source: str | os.PathLike, destination: str | os.PathLike | None = None, *,
                       token: str | None = None, revision: str | None = None) -> Path:
    """A pickle checkpoint -> `model.safetensors` + `model_config.json` in `destination`, once, so that
    `load_model(destination)` never unpickles (SAO Small ships only `model.ckpt`).

    `source` is a directory holding `model.ckpt` + `model_config.json` (`destination` defaults to it: the
    safetensors file is written beside the pickle), or a hub repo id (`destination` required; both files come
    through huggingface_hub's cache). The pickle is read with `torch.load(weights_only=True)`, which restores
    tensors and plain containers only; Stability AI's checkpoints ({"state_dict": ...}) need nothing more.
    Nothing is overwritten: an existing output file is a ModelLoadError naming it.
    """
    config_path, pickle_path = _checkpoint_files(source, destination, token, revision)
    destination = Path(destination if destination is not None else source)
    outputs = [destination / SAFETENSORS_NAME]
    if not (destination / CONFIG_NAME).is_file() or not (destination / CONFIG_NAME).samefile(config_path):
        outputs.append(destination / CONFIG_NAME)
    for path in outputs:
        if path.exists():
            raise ModelLoadError(f"{str(path)!r} already exists; nothing was overwritten (choose another DST_DIR, or "
                                 f"load it as it is)")
    if destination.exists() and not destination.is_dir():
        raise ModelLoadError(f"destination {str(destination)!r} is a file; pass a directory (created if missing)")
    _parse_config(config_path)
    state_dict = _tensor_state_dict(_read_weights(pickle_path), pickle_path)
    destination.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    metadata = {"converted_from": PICKLE_NAME, "made_by": "ditto.loading.convert_checkpoint"}
    _atomic_write(outputs[0], lambda p: save_file(state_dict, str(p), metadata=metadata))
    if len(outputs) > 1:
        _atomic_write(outputs[1], lambda p: shutil.copyfile(config_path, p))
    return destination


def _checkpoint_files(source, destination, token: str | None, revision: str | None) -> tuple[Path, Path]:
    """(model_config.json, model.ckpt) of a checkpoint directory or hub repo; ModelLoadError naming what is missing."""
    source_str = os.fspath(source)
    if not os.path.isdir(source_str):
        if _looks_like_path(source_str):
            raise ModelLoadError(f"checkpoint directory {source_str!r} does not exist; pass the directory holding "
                                 f"{PICKLE_NAME} + {CONFIG_NAME}, or a hub repo id with a DST_DIR")
        if destination is None:
            raise ModelLoadError(f"converting hub repo {source_str!r} needs a DST_DIR to write into (the hub cache "
                                 f"is not one)")
        return (_hub_download(source_str, CONFIG_NAME, token, revision),
                _hub_download(source_str, PICKLE_NAME, token, revision))
    paths = Path(source_str) / CONFIG_NAME, Path(source_str) / PICKLE_NAME
    for path in paths:
        if not path.is_file():
            raise ModelLoadError(f"{str(path)!r} not found; a checkpoint to convert is a directory holding "
                                 f"{PICKLE_NAME} + {CONFIG_NAME}")
    return paths


def _tensor_state_dict(state: dict, path: Path) -> dict[str, torch.Tensor]:
    """Every entry a tensor, contiguous and unshared (safetensors stores no views); ModelLoadError naming another."""
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelLoadError(f"{str(path)!r} holds {key!r}: {type(value).__name__}, not a tensor; expected a "
                                 f"state dict (or {{'state_dict': ...}}) of tensors")
    return {key: value.detach().contiguous().clone() for key, value in state.items()}


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _looks_like_path(source: str) -> bool:
    """Anything but an `owner/name` hub repo id is taken for a local path."""
    return not _REPO_ID.match(source)


def _local_files(directory: Path, trust_pickle: bool) -> tuple[Path, Path]:
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise ModelLoadError(f"{str(config_path)!r} not found; a model directory holds {CONFIG_NAME} + {SAFETENSORS_NAME}")
    weights_path = directory / SAFETENSORS_NAME
    if weights_path.is_file():
        return config_path, weights_path
    pickle_path = directory / PICKLE_NAME
    if pickle_path.is_file():
        return config_path, _checked_pickle(pickle_path, trust_pickle)
    raise ModelLoadError(f"{str(weights_path)!r} not found; a model directory holds {CONFIG_NAME} + {SAFETENSORS_NAME}")


CONVERT_COMMAND = "python -m ditto.convert"  # scripts/convert_checkpoint.py in a checkout does the same


def _checked_pickle(path: Path, trust_pickle: bool) -> Path:
    if not trust_pickle:
        command = f"{CONVERT_COMMAND} {shlex.quote(str(path.parent))}"
        raise ModelLoadError(f"refusing pickle checkpoint {str(path)!r} (unpickling can run arbitrary code): "
                             f"convert it once with `{command}` (writes {SAFETENSORS_NAME} beside it), or for a "
                             f"checkpoint you trust pass load_model(..., trust_pickle=True)")
    return path


HUB_URL = "https://huggingface.co"


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _have_token(token: str | None) -> bool:
    from huggingface_hub import get_token

    return token is not None or get_token() is not None


def _not_cached(repo_id: str, what: str) -> str:
    """The way out when `what` (a file of hub repo `repo_id`) cannot be fetched and is not in the cache: connect, or
    pre-download it."""
    if _hub_offline():
        return (f"{what} is not in the local Hugging Face cache ({_hub_cache()}) and HF_HUB_OFFLINE=1 is set: "
                f"pre-download it while online (`hf download {repo_id}`), or unset HF_HUB_OFFLINE")
    return (f"cannot reach the hub for {what}, and it is not in the local Hugging Face cache ({_hub_cache()}): "
            f"connect to the network, or pre-download it (`hf download {repo_id}`) and copy the cache here")


def _hub_download(repo_id: str, filename: str, token: str | None, revision: str | None) -> Path:
    """One file of a hub repo through huggingface_hub's cache (with HF_HUB_OFFLINE=1, the cache alone, exactly as
    after a real download); a one-line ModelLoadError naming the repo and the fix for a gated repo whose terms
    are not accepted, a gated or private repo without a token, a repo that does not exist, no network, or offline
    with nothing cached (a file the repo lacks raises huggingface_hub's EntryNotFoundError)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError)

    try:
        return Path(hf_hub_download(repo_id, filename=filename, repo_type="model", token=token, revision=revision))
    except GatedRepoError:
        if not _have_token(token):
            raise ModelLoadError(f"hub repo {repo_id!r} is gated and no Hugging Face token is set: accept its terms "
                                 f"on {HUB_URL}/{repo_id}, then log in (`hf auth login`) or set HF_TOKEN") from None
        raise ModelLoadError(f"hub repo {repo_id!r} is gated and your account has not accepted its terms: accept "
                             f"them on {HUB_URL}/{repo_id} (with the account of your token), then retry") from None
    except RepositoryNotFoundError:
        if not _have_token(token):
            raise ModelLoadError(f"hub repo {repo_id!r} not found: check the id (e.g. "
                                 f"'stabilityai/stable-audio-open-1.0'), or for a private repo log in "
                                 f"(`hf auth login`) or set HF_TOKEN") from None
        raise ModelLoadError(f"hub repo {repo_id!r} not found, or your token cannot see it: check the id (e.g. "
                             f"'stabilityai/stable-audio-open-1.0')") from None
    except LocalEntryNotFoundError:
        raise ModelLoadError(_not_cached(repo_id, f"{filename!r} of hub repo {repo_id!r}")) from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status == 401:
            raise ModelLoadError(f"hub repo {repo_id!r}: the hub refused your token (401): log in again "
                                 f"(`hf auth login`) or set a valid HF_TOKEN") from None
        if isinstance(e, (GatedRepoError, RepositoryNotFoundError)) or "EntryNotFound" in type(e).__name__:
            raise
        raise ModelLoadError(f"hub repo {repo_id!r}: {_first_line(e)}; retry, or pre-download it "
                             f"(`hf download {repo_id}`)") from None


def _hub_files(repo_id: str, trust_pickle: bool, token: str | None, revision: str | None) -> tuple[Path, Path]:
    from huggingface_hub.errors import EntryNotFoundError

    config_path = _hub_download(repo_id, CONFIG_NAME, token, revision)
    try:
        weights_path = _hub_download(repo_id, SAFETENSORS_NAME, token, revision)
    except EntryNotFoundError:
        if not trust_pickle:
            raise ModelLoadError(f"hub repo {repo_id!r} ships only a pickle {PICKLE_NAME} (unpickling can run arbitrary "
                                 f"code) and no {SAFETENSORS_NAME}: convert it once with `{CONVERT_COMMAND} {repo_id} "
                                 f"DIR` and load DIR, or for a checkpoint you trust pass load_model(..., "
                                 f"trust_pickle=True)") from None
        weights_path = _hub_download(repo_id, PICKLE_NAME, token, revision)
    return config_path, weights_path


def _parse_config(path: Path) -> dict:
    """model_config.json's JSON object; ModelLoadError naming the file and where it is malformed."""
    try:
        config = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"malformed config JSON {str(path)!r}: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"malformed config JSON {str(path)!r}: expected an object, got {type(config).__name__}")
    return config


def _read_config(path: Path) -> dict:
    config = _parse_config(path)
    model_type = config.get("model_type")
    if model_type not in sat_adapter.SUPPORTED_MODEL_TYPES:
        raise ModelLoadError(f"unsupported model_type {model_type!r} in {str(path)!r}; ditto supports "
                             f"{', '.join(sat_adapter.SUPPORTED_MODEL_TYPES)} (text-conditioned diffusion)")
    ModelDefaults.from_config(config, path)  # a bad "ditto" entry fails at load time, not mid-run
    for key in ("sample_rate", "sample_size"):
        if not isinstance(config.get(key), int):
            raise ModelLoadError(f"config {str(path)!r} needs an integer {key!r}, got {config.get(key)!r}")
    conditioners = config.get("model", {}).get("conditioning", {}).get("configs", [])
    if any(c.get("type") == "t5" for c in conditioners) and importlib.util.find_spec("transformers") is None:
        raise ModelLoadError(f"{str(path)!r} conditions on T5, which needs transformers: pip install 'ditto-audio[sao]'")
    return config


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        if Path(path).suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))  # torch's refusal of a non-tensor object
        if refused:
            raise ModelLoadError(f"weights file {str(path)!r} pickles a {refused.group(1)}, which "
                                 f"torch.load(weights_only=True) refuses to build (ditto reads no other pickle); "
                                 f"export its tensors to {SAFETENSORS_NAME} where you trust the file") from None
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(e))
        raise ModelLoadError(f"cannot read weights file {str(path)!r}, it is corrupt or truncated: "
                             f"{detail.group(1) if detail else _first_line(e)}; download it again or re-save the "
                             f"model") from None
    except (SafetensorError, EOFError, OSError, RuntimeError) as e:
        reason = _first_line(e)
        raise ModelLoadError(f"cannot read weights file {str(path)!r}, it is corrupt or truncated: {reason}; "
                             f"download it again or re-save the model") from None
    if not isinstance(state, dict):
        raise ModelLoadError(f"weights file {str(path)!r} holds a {type(state).__name__}; expected a state dict")
    return state.get("state_dict", state)


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _load_weights(sat: torch.nn.Module, state_dict: dict, weights_path: Path, config_path: Path) -> None:
    """Load `state_dict` into `sat`, naming both files when the weights and the config disagree."""
    mismatch = f"weights {str(weights_path)!r} do not match {str(config_path)!r}"
    expected = sat.state_dict()
    resized = [k for k, v in state_dict.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if resized:
        key = resized[0]
        raise ModelLoadError(f"{mismatch}: {len(resized)} tensors differ in shape, e.g. {key!r} is "
                             f"{tuple(state_dict[key].shape)} in the weights but {tuple(expected[key].shape)} in the "
                             f"model the config builds")
    try:
        missing, unexpected = sat.load_state_dict(state_dict, strict=False)
    except RuntimeError as e:
        raise ModelLoadError(f"{mismatch}: {str(e).splitlines()[0]}") from None
    if missing or unexpected:
        raise ModelLoadError(f"{mismatch}: {len(missing)} missing keys (e.g. {missing[:2]}), "
                             f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})")


def read_config(source: str | os.PathLike = "tiny", *, token: str | None = None, revision: str | None = None) -> dict:
    """The checked `model_config.json` of `source` ("tiny", a local directory or a hub repo id) without reading its
    weights: what `load_model` would build, for checking settings (prompt list, window) before a model loads.
    A hub repo's config comes through huggingface_hub's cache; ModelLoadError names a source that has none."""
    source_str = os.fspath(source)
    if source_str == "tiny":
        config_path = TINY_DIR / CONFIG_NAME
    elif os.path.isdir(source_str):
        config_path = Path(source_str) / CONFIG_NAME
        if not config_path.is_file():
            raise ModelLoadError(f"{str(config_path)!r} not found; a model directory holds {CONFIG_NAME} + "
                                 f"{SAFETENSORS_NAME}")
    elif _looks_like_path(source_str):
        raise ModelLoadError(f"model directory {source_str!r} does not exist; pass 'tiny', a directory holding "
                             f"{CONFIG_NAME} + {SAFETENSORS_NAME}, or a hub repo id like 'stabilityai/stable-audio-open-1.0'")
    else:
        config_path = _hub_download(source_str, CONFIG_NAME, token, revision)
    return _read_config(config_path)
