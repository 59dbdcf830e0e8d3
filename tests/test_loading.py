"""load_model: the tiny model, local directories in the Stable Audio format, the hub, and every error by name."""

import pytest
import torch
from huggingface_hub.errors import GatedRepoError

import ditto
from ditto import loading, testing
from helpers import model_copy, pickle_folder


def short_generation(model):
    return ditto.generate(model, "solo piano", sample_size=4096, steps=3, sampler="dpmpp-2m", seed=1)


def test_tiny_model_has_sao_structure(tiny):
    assert (tiny.sample_rate, tiny.channels, tiny.latent_stride, tiny.latent_channels) == (44100, 2, 2048, 64)
    assert tiny.sample_size % tiny.latent_stride == 0
    assert tiny.diffusion_objective == "v"
    assert tiny.device == torch.device("cpu")
    assert not tiny.sat.training


def test_tiny_model_is_not_degenerate(tiny):
    """The DiT's output layers are not zero, and the output depends on the seed and the prompt."""
    audio = short_generation(tiny)
    other_seed = ditto.generate(tiny, "solo piano", sample_size=4096, steps=3, sampler="dpmpp-2m", seed=2)
    other_prompt = ditto.generate(tiny, "techno drums", sample_size=4096, steps=3, sampler="dpmpp-2m", seed=1)
    assert audio.abs().max() > 1e-3
    assert (audio - other_seed).abs().max() > 1e-2 * audio.abs().max()
    assert (audio - other_prompt).abs().max() > 1e-3 * audio.abs().max()


def test_random_model_is_seeded_and_its_dit_depends_on_its_input(tiny):
    """One seed, one set of weights; another seed, others. SAT zero-initialises the DiT's output layers, so a fresh
    DiT predicts 0 whatever x_T: random_model fills every such parameter, and keeps the weights it is given."""
    vae = {k: v for k, v in ditto.sat.state_dict(tiny).items() if k.startswith("pretransform.")}
    models = [testing.random_model(testing.tiny_config(), seed=seed, weights=vae) for seed in (4, 4, 5)]
    first, again, other = (model.sat.state_dict() for model in models)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first if k.startswith("model."))
    assert all(param.abs().max() > 0 for param in models[0].sat.model.parameters())
    assert all(torch.equal(first[k], vae[k]) for k in vae)


def test_local_directory_round_trip_is_identical(tiny, tmp_path):
    directory = ditto.save_model(tiny, tmp_path / "copy")
    assert sorted(p.name for p in directory.iterdir()) == ["model.safetensors", "model_config.json"]
    assert torch.equal(short_generation(ditto.load_model(directory, device="cpu")), short_generation(tiny))


def test_save_model_never_overwrites(tiny, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        ditto.save_model(tiny, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.fixture()
def pickle_dir(tiny, tmp_path):
    return pickle_folder(tiny, tmp_path / "pickled")


def test_pickle_checkpoint_is_refused_by_default(pickle_dir):
    with pytest.raises(loading.ModelLoadError, match="trust_pickle=True") as info:
        ditto.load_model(pickle_dir, device="cpu")
    assert "model.ckpt" in str(info.value)


def test_pickle_checkpoint_loads_when_trusted(tiny, pickle_dir):
    model = ditto.load_model(pickle_dir, device="cpu", trust_pickle=True)
    assert torch.equal(short_generation(model), short_generation(tiny))


def test_missing_directory(tmp_path):
    with pytest.raises(loading.ModelLoadError, match="does not exist") as info:
        ditto.load_model(tmp_path / "nowhere")
    assert "nowhere" in str(info.value)


def test_missing_config(tmp_path):
    directory = model_copy(tmp_path / "model")
    (directory / "model_config.json").unlink()
    with pytest.raises(loading.ModelLoadError, match="model_config.json"):
        ditto.load_model(directory)


def test_missing_weights(tmp_path):
    directory = model_copy(tmp_path / "model")
    (directory / "model.safetensors").unlink()
    with pytest.raises(loading.ModelLoadError, match="model.safetensors"):
        ditto.load_model(directory)


def test_malformed_config_json(tmp_path):
    with pytest.raises(loading.ModelLoadError, match="malformed config JSON .*line 1"):
        ditto.load_model(model_copy(tmp_path / "model", config='{"model_type": '))


def test_unsupported_model_type(tmp_path):
    with pytest.raises(loading.ModelLoadError, match="'autoencoder'"):
        ditto.load_model(model_copy(tmp_path / "model", config=dict(testing.tiny_config(), model_type="autoencoder")))


def test_weights_that_do_not_match_the_config(tmp_path):
    config = testing.tiny_config()
    config["model"]["diffusion"]["config"]["depth"] = 3
    with pytest.raises(loading.ModelLoadError, match="missing keys"):
        ditto.load_model(model_copy(tmp_path / "model", config=config))


def test_t5_conditioner_without_the_sao_extra(tmp_path, monkeypatch):
    config = testing.tiny_config()
    config["model"]["conditioning"]["configs"][0] = {"id": "prompt", "type": "t5",
                                                     "config": {"t5_model_name": "t5-base", "max_length": 128}}
    real_find_spec = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec",
                        lambda name, *a: None if name == "transformers" else real_find_spec(name, *a))
    with pytest.raises(loading.ModelLoadError, match=r"ditto-audio\[sao\]"):
        ditto.load_model(model_copy(tmp_path / "model", config=config))


def test_hub_unreachable_while_offline(monkeypatch, tmp_path):
    import huggingface_hub

    # an empty cache: the session's own holds a twin under this id once tests/test_hub.py has run
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(loading.ModelLoadError, match="HF_HUB_OFFLINE") as info:
        ditto.load_model("stabilityai/stable-audio-open-1.0")
    assert "stabilityai/stable-audio-open-1.0" in str(info.value)


def test_gated_repo_without_token(monkeypatch):
    def gated(repo_id, **kwargs):
        error = GatedRepoError.__new__(GatedRepoError)
        Exception.__init__(error, "401 gated")
        raise error

    monkeypatch.setattr("huggingface_hub.hf_hub_download", gated)
    with pytest.raises(loading.ModelLoadError, match="gated.*HF_TOKEN") as info:
        ditto.load_model("stabilityai/stable-audio-open-1.0")
    assert "stabilityai/stable-audio-open-1.0" in str(info.value)


def test_hub_download_uses_the_same_local_loader(tiny, monkeypatch):
    """A hub repo id resolves through huggingface_hub into the two files, then loads like a directory."""
    calls = []

    def from_cache(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs.get("token")))
        return str(loading.TINY_DIR / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", from_cache)
    model = ditto.load_model("someone/tiny-sao", device="cpu", token="hf_x")
    assert calls == [("someone/tiny-sao", "model_config.json", "hf_x"), ("someone/tiny-sao", "model.safetensors", "hf_x")]
    assert torch.equal(short_generation(model), short_generation(tiny))


def test_a_model_carries_its_own_ditto_defaults(tiny, tmp_path):
    """The tiny model's lr and iteration cap come from its config, so a copy loaded from a path keeps them; a
    config without the "ditto" entry gets the paper's lr, and a bad entry fails at load time naming it."""
    from ditto.optimize import default_lr
    copy = ditto.load_model(ditto.save_model(tiny, tmp_path / "copy"), device="cpu")
    assert (default_lr(copy), copy.defaults.max_iterations) == (0.3, 60)
    config = testing.tiny_config()
    for entry, named in ((None, None), ({"lr": -1}, "ditto.lr"), ({"momentum": 0.9}, "valid keys: lr")):
        changed = {k: v for k, v in config.items() if k != "ditto"}
        if entry is not None:
            changed["ditto"] = entry
        directory = model_copy(tmp_path / f"model-{named}", config=changed)
        if named is None:
            assert default_lr(ditto.load_model(directory, device="cpu")) == 5e-3
        else:
            with pytest.raises(ditto.ModelLoadError, match=named):
                ditto.load_model(directory, device="cpu")


def test_import_without_stable_audio_tools_names_the_install():
    """`pip install ditto` cannot pull stable-audio-tools (its pins do not install): import says what to run."""
    import subprocess
    import sys
    code = "import sys; sys.modules['stable_audio_tools'] = None; import ditto"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and last.startswith("ImportError: ditto needs stable-audio-tools")
    assert "pip install --no-deps --ignore-requires-python stable-audio-tools==0.0.20" in last
