"""Bad input never passes silently: each case raises a one-line ValueError naming the value and what is valid."""

import math

import numpy as np
import pytest
import soundfile
import torch

import ditto
from ditto import audio, loading, testing
from ditto.app import editing
from helpers import model_copy, truncate_weights

FAST = dict(sample_size=8 * 2048, steps=2, sampler="dpmpp-2m")


def raises_naming(call, named, error=ValueError):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert named in message, message
    return message


def wav_with(tmp_path, value):
    data = np.zeros((1000, 2), dtype=np.float32)
    data[500, 1] = value
    path = tmp_path / "bad.wav"
    soundfile.write(str(path), data, 44100, subtype="FLOAT")
    return path


def nan_audio():
    x = torch.zeros(2, 1000)
    x[0, 10] = math.nan
    return x


@pytest.mark.parametrize("source,named", [
    ("nan_file", "bad.wav"),
    ("inf_file", "bad.wav"),
    ("nan_tensor", "init audio tensor"),
    ("nan_file_init", "bad.wav"),
    ("nan_reference", "audio tensor"),
])
def test_non_finite_audio_is_refused_wherever_it_comes_in(tiny, tmp_path, source, named):
    calls = {
        "nan_file": lambda: audio.read_audio(wav_with(tmp_path, math.nan)),
        "inf_file": lambda: audio.read_audio(wav_with(tmp_path, math.inf)),
        "nan_tensor": lambda: ditto.generate(tiny, "solo piano", init_audio=(44100, nan_audio()), **FAST),
        "nan_file_init": lambda: ditto.generate(tiny, "solo piano", init_audio=wav_with(tmp_path, math.nan), **FAST),
        "nan_reference": lambda: editing.load_reference(tiny, nan_audio(), 44100),
    }
    message = raises_naming(calls[source], named)
    assert "NaN" in message and "finite" in message


@pytest.mark.parametrize("settings,named", [
    (dict(rho=0.0), "rho"),
    (dict(rho=-1.0, schedule="polyexponential"), "-1.0"),
    (dict(rho=-1.0, sampler="dpmpp-2m"), "rho"),
    (dict(schedule="karras", rho=0), "rho"),
    (dict(sigma_max=math.inf), "inf"),
    (dict(sigma_min=math.nan), "nan"),
    (dict(scale_phi=math.nan), "scale_phi"),
    (dict(scale_phi=1.5), "1.5"),
    (dict(scale_phi=-0.1), "scale_phi"),
    (dict(cfg_scale=math.inf), "cfg_scale"),
    (dict(cfg_interval=(0.0, 0.5, 1.0)), "cfg_interval"),
    (dict(cfg_interval=(0.0, math.nan)), "cfg_interval"),
    (dict(cfg_interval=0.5), "cfg_interval"),
    (dict(init_audio=(44100, torch.zeros(2, 100)), init_noise_level=math.inf), "init_noise_level"),
])
def test_sampler_settings_that_give_nan_audio_are_refused(tiny, settings, named):
    raises_naming(lambda: ditto.generate(tiny, "solo piano", **{**FAST, **settings}), named)


def test_schedules_refuse_settings_that_give_nan_sigmas():
    raises_naming(lambda: ditto.sampling.get_sigmas("karras", 4, 0.3, 500.0, rho=0.0), "rho")
    raises_naming(lambda: ditto.sampling.get_sigmas("exponential", 4, 0.3, math.inf), "inf")


def test_non_finite_output_is_never_returned(tiny):
    """Last line of defence: NaN conditioning slips past the argument checks, but not out of generate."""
    cond = ditto.build_conditioning(tiny, "solo piano", seconds_total=0.3)
    embeds = torch.full(cond.inputs["cross_attn_cond"][:, :1].shape, math.nan)
    tensors = {"prompt": [embeds, torch.ones(1, 1)]}
    message = raises_naming(lambda: ditto.generate(tiny, "solo piano", conditioning_tensors=tensors, **FAST),
                            "non-finite")
    for setting in ("sampler='dpmpp-2m'", "steps=2", "sigma_min=", "sigma_max=", "rho=", "schedule=", "cfg_scale=",
                    "scale_phi="):
        assert setting in message


@pytest.mark.parametrize("kwargs,named", [
    (dict(prompt="death metal"), "death metal"),
    (dict(prompt="Solo Piano"), "Solo Piano"),
    (dict(negative_prompt="death metal"), "death metal"),
])
def test_prompts_a_list_conditioner_does_not_know_are_refused(tiny, kwargs, named):
    kwargs = {"prompt": "solo piano", **kwargs}
    message = raises_naming(lambda: ditto.generate(tiny, **kwargs, **FAST), named)
    assert "'solo piano'" in message and "'rock guitar'" in message  # the valid prompts are listed


@pytest.mark.parametrize("kwargs,named", [
    (dict(seconds_total=math.inf), "inf"),
    (dict(seconds_total=math.nan), "nan"),
    (dict(seconds_total=10.0, sample_size=None), "2.972 s"),
    (dict(seconds_start=math.inf), "seconds_start"),
    (dict(seconds_start=600.0), "[0, 512]"),
])
def test_seconds_outside_the_window_or_the_conditioner_range_are_refused(tiny, kwargs, named):
    message = raises_naming(lambda: ditto.generate(tiny, "solo piano", **{**FAST, **kwargs}), named)
    if "2.972 s" in message:
        assert "10.0" in message and "sample_size" in message


def test_seconds_total_above_the_conditioner_range_is_refused(tiny):
    raises_naming(lambda: ditto.build_conditioning(tiny, "solo piano", seconds_total=600.0), "[0, 512]")
    window = 513 * 44100 // 2048 * 2048 + 2048  # long enough that only the conditioner range is at fault
    raises_naming(lambda: ditto.generate(tiny, "solo piano", seconds_total=513.0, sample_size=window, steps=2),
                  "513.0")


@pytest.mark.parametrize("init_audio,named", [
    ((44100, torch.zeros(44100, 2)), "transpose"),
    ((44100, torch.zeros(2, 100, dtype=torch.int64)), "int64"),
    ((44100, torch.zeros(2, 100, dtype=torch.int8)), "int8"),
    ((44100, torch.zeros(2, 100, dtype=torch.bool)), "bool"),
    ((44100.5, torch.zeros(2, 100)), "44100.5"),
    ((0, torch.zeros(2, 100)), "got 0"),
    ((-44100, torch.zeros(2, 100)), "-44100"),
])
def test_init_audio_of_the_wrong_shape_type_or_rate_is_refused(tiny, init_audio, named):
    raises_naming(lambda: ditto.generate(tiny, "solo piano", init_audio=init_audio, **FAST), named)


@pytest.mark.parametrize("dtype,scale,offset", [(np.int16, 2.0 ** -15, 0), (np.int32, 2.0 ** -31, 0),
                                                (np.uint8, 2.0 ** -7, 128)])
def test_integer_pcm_is_scaled_as_soundfile_reads_it(dtype, scale, offset):
    info = np.iinfo(dtype)
    pcm = np.array([[info.min, offset, info.max]], dtype=dtype)
    expected = torch.tensor((pcm.astype(np.float64) - offset) * scale, dtype=torch.float32)
    for given in (pcm, torch.from_numpy(pcm)):
        loaded = audio.load_for_model(given, 44100.0, target_rate=44100, channels=1)
        assert torch.equal(loaded[0], expected)


def test_integer_pcm_tensor_equals_the_same_pcm_file(tmp_path):
    pcm = (np.random.default_rng(0).standard_normal((500, 2)) * 4000).astype(np.int16)
    soundfile.write(str(tmp_path / "pcm.wav"), pcm, 44100, subtype="PCM_16")
    from_file = audio.load_for_model(tmp_path / "pcm.wav", None, target_rate=44100, channels=2)
    assert torch.equal(audio.load_for_model(pcm.T, 44100, target_rate=44100, channels=2), from_file)


@pytest.mark.parametrize("damage,named", [
    (truncate_weights, "corrupt or truncated"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64), "corrupt or truncated"),
])
def test_unreadable_weights_raise_model_load_error(tmp_path, damage, named):
    directory = model_copy(tmp_path / "model")
    damage(directory)
    message = raises_naming(lambda: ditto.load_model(directory, device="cpu"), named, loading.ModelLoadError)
    assert "model.safetensors" in message


def test_weights_of_another_shape_raise_model_load_error(tmp_path):
    config = testing.tiny_config()
    config["model"]["diffusion"]["config"]["embed_dim"] = 32
    directory = model_copy(tmp_path / "model", config=config)
    message = raises_naming(lambda: ditto.load_model(directory, device="cpu"), "differ in shape",
                            loading.ModelLoadError)
    assert "model.safetensors" in message and "model_config.json" in message
