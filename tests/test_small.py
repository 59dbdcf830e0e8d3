"""Stable Audio Open Small as a first-class family: a tiny twin in its config format (rf_denoiser, prompt +
seconds_total only) generates exactly as stable-audio-tools does, its defaults are the model card's, and its pickle
checkpoint is refused with the way out, which `python -m ditto.convert` provides."""

import runpy
import shutil
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub.errors import EntryNotFoundError

import ditto
import objectives
import twins
from ditto import convert, loading, testing
from ditto import sat as sat_adapter
from ditto.loading import ModelDefaults, ModelLoadError
from helpers import assert_same_audio, model_config, model_copy, pickle_folder

REPO = Path(__file__).resolve().parents[1]
# 4 latent frames, the model card's 8 steps without guidance: fast on 2 cores
SHORT = dict(sample_size=8192, seconds_total=1.0, steps=8, cfg_scale=1.0)
SMALL_DEFAULTS = ModelDefaults(lr=0.3, max_iterations=60, sampler="pingpong", steps=8, cfg_scale=1.0)


def short_generation(model):
    return ditto.generate(model, "solo piano", sampler="pingpong", seed=3, **SHORT)


def test_tiny_small_has_sao_small_structure(tiny_small):
    conditioners = [c["id"] for c in tiny_small.config["model"]["conditioning"]["configs"]]
    assert conditioners == ["prompt", "seconds_total"]
    assert tiny_small.diffusion_objective == "rf_denoiser"
    assert (tiny_small.sample_size, tiny_small.sample_rate, tiny_small.channels) == (524288, 44100, 2)
    assert (tiny_small.latent_stride, tiny_small.latent_channels) == (2048, 64)
    assert tiny_small.defaults == SMALL_DEFAULTS


@pytest.mark.parametrize("sampler", ["pingpong", "euler", "rk4", "dpmpp"])
def test_generate_equals_sat_for_every_flow_sampler(tiny_small, sampler):
    kwargs = dict(SHORT, sampler=sampler, seed=5)
    assert_same_audio(ditto.generate(tiny_small, "solo piano", **kwargs),
                      sat_adapter.reference_generate(tiny_small, "solo piano", **kwargs))


@pytest.mark.parametrize("extra", [
    dict(cfg_scale=7.0, negative_prompt="techno drums"),
    dict(seconds_total=0.5, batch_size=2),
    dict(init_audio=(44100, torch.sin(torch.arange(9000) / 20.0).repeat(2, 1) * 0.2), init_noise_level=0.6),
])
def test_generate_equals_sat_with_guidance_batches_and_init_audio(tiny_small, extra):
    kwargs = dict(SHORT, sampler="pingpong", seed=7)
    kwargs.update(extra)
    assert_same_audio(ditto.generate(tiny_small, "orchestral", **kwargs),
                      sat_adapter.reference_generate(tiny_small, "orchestral", **kwargs))


def test_output_follows_seed_prompt_and_seconds_total(tiny_small):
    """Both conditioners reach the random DiT (weakly: 4e-3 and 3e-4 of peak, far above float noise)."""
    audio, peak = short_generation(tiny_small), short_generation(tiny_small).abs().max()
    other_seed = ditto.generate(tiny_small, "solo piano", sampler="pingpong", seed=4, **SHORT)
    other_prompt = ditto.generate(tiny_small, "techno drums", sampler="pingpong", seed=3, **SHORT)
    other_total = ditto.generate(tiny_small, "solo piano", sampler="pingpong", seed=3, **dict(SHORT, seconds_total=5.0))
    assert (audio - other_seed).abs().max() > 1e-2 * peak
    assert (audio - other_prompt).abs().max() > 1e-3 * peak
    assert (audio - other_total).abs().max() > 1e-4 * peak


def test_seconds_start_is_refused_where_the_model_has_no_conditioner_for_it(tiny_small):
    """SAT's conditioner ignores the key (the same audio for any seconds_start), so ditto takes only 0 and says why."""
    reference = sat_adapter.reference_generate(tiny_small, "solo piano", sampler="euler", seed=1, **SHORT)
    ignored = sat_adapter.reference_generate(tiny_small, "solo piano", sampler="euler", seed=1, seconds_start=5.0,
                                             **SHORT)
    assert torch.equal(reference, ignored)
    assert_same_audio(ditto.generate(tiny_small, "solo piano", sampler="euler", seed=1, seconds_start=0, **SHORT),
                      reference)
    for call in (lambda: ditto.generate(tiny_small, "solo piano", sampler="euler", seconds_start=2.0, **SHORT),
                 lambda: ditto.optimize(tiny_small, objectives.Intensity([-20.0]), prompt="solo piano",
                                        sampler="euler", seconds_start=2.0, seconds_total=1.0, sample_size=8192,
                                        iterations=1)):
        with pytest.raises(ValueError, match=r"seconds_start must be 0 for this model, got 2\.0") as info:
            call()
        assert "prompt, seconds_total" in str(info.value) and "\n" not in str(info.value)


def sao_small_config(**ditto_entry) -> dict:
    """SAO Small's hub config (tests/twins.py; its T5 prompt, seconds_total only, rf_denoiser), with `ditto_entry`
    as its "ditto" entry if any."""
    config = twins.sao_small_config()
    if ditto_entry:
        config["ditto"] = ditto_entry
    return config


def test_sao_small_without_a_ditto_entry_gets_the_model_card_defaults():
    """pingpong, 8 steps, cfg 1 (the model card, SAT's UI for rf_denoiser); the paper's lr; a "ditto" entry
    overrides key by key, null clearing one; v and rectified_flow models keep the caller's defaults."""
    card = ModelDefaults(lr=loading.PAPER_LR, sampler="pingpong", steps=8, cfg_scale=1.0)
    assert ModelDefaults.from_config(sao_small_config(), "small") == card
    assert ModelDefaults.from_config(sao_small_config(lr=0.05, steps=None), "small") == \
        ModelDefaults(lr=0.05, sampler="pingpong", steps=None, cfg_scale=1.0)
    flow = sao_small_config()
    flow["model"]["diffusion"]["diffusion_objective"] = "rectified_flow"
    assert ModelDefaults.from_config(flow, "flow") == ModelDefaults()
    tiny_defaults = ModelDefaults.from_config(testing.tiny_config(), "t")
    assert (tiny_defaults.steps, tiny_defaults.cfg_scale, tiny_defaults.sampler) == (None, None, None)


@pytest.mark.parametrize("entry,named", [
    (dict(steps=0), "ditto.steps must be an integer >= 1, got 0"),
    (dict(steps=2.5), "ditto.steps must be an integer >= 1, got 2.5"),
    (dict(steps=True), "ditto.steps must be an integer >= 1, got True"),
    (dict(cfg_scale=-1), "ditto.cfg_scale must be a finite number >= 0 (1 = no guidance), got -1"),
    (dict(cfg_scale="7"), "ditto.cfg_scale must be a finite number >= 0 (1 = no guidance), got '7'"),
    (dict(cfg_scale=float("inf")), "got inf"),
    (dict(sampler="v-ddim"), "ditto.sampler must be a sampler of this 'rf_denoiser' model (euler, rk4, dpmpp, "
                             "pingpong), got 'v-ddim'"),
    (dict(lr=0), "ditto.lr must be a number > 0, got 0"),
    (dict(temperature=1.0), "valid keys: lr, max_iterations, sampler, steps, cfg_scale"),
])
def test_bad_model_defaults_fail_at_load_in_one_line(tmp_path, tiny_small_dir, entry, named):
    config = model_config(tiny_small_dir)
    config["ditto"] = entry
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model(model_copy(tmp_path / "model", tiny_small_dir, config=config), device="cpu")
    assert named in str(info.value) and "\n" not in str(info.value)


@pytest.fixture()
def small_pickle_dir(tiny_small, tmp_path):
    """The tiny Small as its hub repo ships: model_config.json + a pickle model.ckpt of {"state_dict": ...}."""
    return pickle_folder(tiny_small, tmp_path / "stable-audio-open-small")


def test_pickle_is_refused_with_the_way_out(small_pickle_dir):
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model(small_pickle_dir, device="cpu")
    message = str(info.value)
    assert f"python -m ditto.convert {small_pickle_dir}" in message and "trust_pickle=True" in message
    assert "\n" not in message


def test_converted_checkpoint_generates_the_same_audio(tiny_small, small_pickle_dir, tmp_path, monkeypatch):
    """The script converts into a new folder (exit 0) and `python -m ditto.convert` into the source folder itself;
    both load without unpickling and generate what the original does (trust_pickle=True: tests/test_loading.py).
    The script runs in this interpreter: a fresh one would spend most of this test importing torch."""
    script = str(REPO / "scripts" / "convert_checkpoint.py")
    monkeypatch.setattr(sys, "argv", [script, str(small_pickle_dir), str(tmp_path / "converted")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(script, run_name="__main__")
    assert exit_info.value.code == 0
    assert sorted(p.name for p in (tmp_path / "converted").iterdir()) == ["model.safetensors", "model_config.json"]
    assert convert.main([str(small_pickle_dir)]) == 0
    expected = short_generation(tiny_small)
    for directory in (tmp_path / "converted", small_pickle_dir):
        assert torch.equal(short_generation(ditto.load_model(directory, device="cpu")), expected)


def test_conversion_never_overwrites_and_refuses_bad_input(small_pickle_dir, tmp_path, capsys):
    """Exit 2 and one `error:` line for each bad input; an existing output is left byte for byte."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.safetensors").write_bytes(b"mine")
    not_a_pickle = tmp_path / "garbage"
    not_a_pickle.mkdir()
    shutil.copy(small_pickle_dir / "model_config.json", not_a_pickle)
    (not_a_pickle / "model.ckpt").write_bytes(b"\x80\x04garbage")
    cases = [([str(small_pickle_dir), str(tmp_path / "taken")], "already exists"),
             ([str(tmp_path / "nowhere")], "does not exist"),
             ([str(tmp_path / "taken")], "model_config.json' not found"),
             ([str(not_a_pickle), str(tmp_path / "out")], "corrupt or truncated"),
             (["stabilityai/stable-audio-open-small"], "needs a DST_DIR")]
    for argv, named in cases:
        capsys.readouterr()
        assert convert.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and named in err and err.count("\n") == 1, err
    assert (tmp_path / "taken" / "model.safetensors").read_bytes() == b"mine"
    assert not (tmp_path / "out").exists()


def test_hub_repo_with_only_a_pickle(small_pickle_dir, tmp_path, monkeypatch):
    """SAO Small's hub layout: load_model names the conversion of the repo id; converting it by id writes DST."""
    def from_hub(repo_id, filename, **kwargs):
        if filename == "model.safetensors":
            error = EntryNotFoundError.__new__(EntryNotFoundError)
            Exception.__init__(error, "404 entry not found")
            raise error
        return str(small_pickle_dir / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", from_hub)
    repo = "stabilityai/stable-audio-open-small"
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model(repo, device="cpu")
    assert f"python -m ditto.convert {repo} DIR" in str(info.value) and "trust_pickle=True" in str(info.value)
    assert "\n" not in str(info.value)
    converted = loading.convert_checkpoint(repo, tmp_path / "small")
    assert sorted(p.name for p in converted.iterdir()) == ["model.safetensors", "model_config.json"]
    assert ditto.load_model(converted, device="cpu").defaults == SMALL_DEFAULTS
