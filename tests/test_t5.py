"""The real text-encoder path, offline: SAO 1.0 and SAO Small twins (tests/twins.py) condition on a tiny "t5-base"
that SAT's own T5Conditioner loads through transformers from a Hugging Face cache in the hub's layout.

On them: generation equals SAT's, DITTO lowers its loss, precomputed `conditioning_tensors` are what T5 gives, the
text is encoded once per run (not per iteration), and DITTO through SAO Small's fp16 VAE controls as well as through
an fp32 decoder (within FP16_FACTOR of its metric after ITERATIONS iterations).
"""

import pytest
import torch

import ditto
import objectives
from ditto import sat as sat_adapter
from ditto.loading import ModelLoadError
from helpers import assert_same_audio, model_config, model_copy

# 4 latent frames; SAT's function defaults (sigma 0.01..100, cfg 6) are not ditto's (0.3..500, the model's cfg)
SHORT = dict(sample_size=8192, seconds_total=1.0, sigma_min=0.3, sigma_max=500.0)
# 8 latent frames (0.37 s): SAO Small's fp16 VAE is slow on a CPU
FAST = dict(prompt="solo piano", seconds_total=0.37, sample_size=8 * 2048, progress=False)
ITERATIONS = 30  # Adam iterations of the fp16-decoder contract
FP16_FACTOR = 1.5  # DITTO through the fp16 VAE ends within this factor of the fp32 decoder's metric


def t5_of(model):
    return model.sat.conditioner.conditioners["prompt"]


def test_sat_loads_the_tiny_t5_from_the_cache_as_t5_base(sao_1_0, sao_small, t5_base):
    for model, max_length in ((sao_1_0, 128), (sao_small, 64)):
        conditioner = t5_of(model)
        assert type(conditioner).__name__ == "T5Conditioner" and conditioner.max_length == max_length
        assert conditioner.model.config.d_model == 768 and conditioner.model.config.num_layers == 1
        assert conditioner.model.dtype == torch.float16  # SAT runs T5 in fp16, as for the real one
        embeddings, mask = conditioner(["solo piano"], "cpu")
        assert embeddings.shape == (1, max_length, 768) and mask.sum() == 3  # "solo", "piano", "</s>"
        assert embeddings[0, 3:].abs().max() == 0  # padding masked (zeroed)


def test_twins_have_the_real_models_structure(sao_1_0, sao_small):
    attention = sao_1_0.sat.model.model.transformer.layers[0].cross_attn
    assert (attention.num_heads, attention.kv_heads) == (24, 12)  # grouped key/value heads, as SAO 1.0's
    assert sao_1_0.diffusion_objective == "v"
    assert [c["id"] for c in sao_1_0.config["model"]["conditioning"]["configs"]] == \
        ["prompt", "seconds_start", "seconds_total"]
    assert sao_small.diffusion_objective == "rf_denoiser"
    assert sao_small.sat.pretransform.model_half and not sao_small.sat.pretransform.iterate_batch
    assert sat_adapter.vae_dtype(sao_small) == torch.float16
    assert sao_small.sat.model.model.transformer.layers[0].self_attn.qk_norm == "ln"
    assert (sao_small.defaults.sampler, sao_small.defaults.steps, sao_small.defaults.cfg_scale) == ("pingpong", 8, 1.0)
    for model in (sao_1_0, sao_small):  # the zero-initialised layers were filled: the DiT depends on its input
        assert all(p.abs().max() > 0 for p in model.sat.model.parameters())


@pytest.mark.parametrize("case", [
    dict(sampler="dpmpp-3m-sde", steps=6, cfg_scale=7.0, seed=1),
    dict(sampler="v-ddim", steps=6, cfg_scale=7.0, seed=2, negative_prompt="techno drums", batch_size=2),
    dict(sampler="k-heun", steps=4, cfg_scale=5.0, seed=3, seconds_start=3.0, apg_scale=0.0),
])
def test_sao_1_0_twin_generates_as_sat(sao_1_0, case):
    kwargs = dict(SHORT, **case)
    ours = ditto.generate(sao_1_0, "warm orchestral pad", **kwargs)
    assert_same_audio(ours, sat_adapter.reference_generate(sao_1_0, "warm orchestral pad", **kwargs))


@pytest.mark.parametrize("case", [
    dict(sampler="pingpong", seed=1, cfg_scale=1.0),
    dict(sampler="pingpong", seed=2, cfg_scale=7.0, negative_prompt="loud drums", apg_scale=0.0),
    dict(sampler="euler", seed=3, cfg_scale=1.0, batch_size=2, seconds_total=0.5),
    dict(sampler="dpmpp", seed=4, cfg_scale=4.0, init_audio=(44100, torch.sin(torch.arange(9000) / 9.0).repeat(2, 1)
                                                                 * 0.2), init_noise_level=0.7),
])
def test_sao_small_twin_generates_as_sat(sao_small, case):
    kwargs = dict(SHORT, steps=8, **case)
    ours = ditto.generate(sao_small, "slow jazz piano", **kwargs)
    assert_same_audio(ours, sat_adapter.reference_generate(sao_small, "slow jazz piano", **kwargs))


def test_precomputed_conditioning_tensors_are_what_t5_gives(sao_1_0, t5_base):
    """SAT's conditioner equals transformers' T5 run by hand (fp16, 128 tokens, padding zeroed), and handing its
    output to `generate` as `conditioning_tensors` gives the same audio as the prompt itself."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained("t5-base")
    encoder = T5EncoderModel.from_pretrained("t5-base").to(torch.float16).eval()
    tokens = tokenizer(["solo piano"], truncation=True, max_length=128, padding="max_length", return_tensors="pt")
    with torch.no_grad():
        by_hand = encoder(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])["last_hidden_state"]
    by_hand = by_hand * tokens["attention_mask"].bool()[..., None]
    embeddings, mask = t5_of(sao_1_0)(["solo piano"], "cpu")
    assert torch.equal(embeddings, by_hand) and torch.equal(mask, tokens["attention_mask"].bool())
    kwargs = dict(SHORT, sampler="dpmpp-2m", steps=4, seed=5)
    assert torch.equal(ditto.generate(sao_1_0, "never encoded", conditioning_tensors={"prompt": [embeddings, mask]},
                                      **kwargs),
                       ditto.generate(sao_1_0, "solo piano", **kwargs))


def count_t5_calls(model, monkeypatch) -> list:
    calls = []
    encoder = t5_of(model).model
    forward = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda *a, **k: (calls.append(1), forward(*a, **k))[1])
    return calls


@pytest.mark.parametrize("twin", ["sao_1_0", "sao_small"])
def test_ditto_through_t5_twins_encodes_the_text_once_per_run(twin, request, monkeypatch):
    """The loss falls; T5 runs once for the prompt and once for the negative prompt, however many iterations."""
    model = request.getfixturevalue(twin)
    calls = count_t5_calls(model, monkeypatch)
    objective = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
    counts = []
    for iterations in (1, 3):
        calls.clear()
        result = ditto.optimize(model, objective, iterations=iterations, steps=4, lr=0.3, negative_prompt="loud",
                                cfg_scale=3.0, **FAST)
        counts.append(len(calls))
    assert counts == [2, 2]
    assert min(result.losses) < result.losses[0]


def test_fp16_vae_controls_as_well_as_an_fp32_decoder(sao_small, sao_small_dir, tmp_path):
    """SAO Small decodes in fp16 ("model_half"), so DITTO backpropagates through an fp16 decoder: after ITERATIONS
    iterations its intensity error is within FP16_FACTOR of the same run through an fp32 decoder (the same weights,
    "model_half": false), which itself falls well below its baseline."""
    config = model_config(sao_small_dir)
    config["model"]["pretransform"]["model_half"] = False
    fp32 = ditto.load_model(model_copy(tmp_path / "fp32", sao_small_dir, config=config), device="cpu")
    assert sat_adapter.vae_dtype(fp32) == torch.float32
    objective = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
    metric = "intensity_mse_db2"
    runs = {name: ditto.optimize(model, objective, iterations=ITERATIONS, lr=0.3, seed=3, **FAST).metrics
            for name, model in (("fp16", sao_small), ("fp32", fp32))}
    print({name: (m["before"][metric], m["after"][metric]) for name, m in runs.items()})
    assert runs["fp32"]["after"][metric] <= 0.5 * runs["fp32"]["before"][metric]
    assert runs["fp16"]["after"][metric] <= FP16_FACTOR * runs["fp32"]["after"][metric]


def test_a_cpu_without_fp16_says_what_to_do(sao_small_dir, monkeypatch):
    def no_half(*args, **kwargs):
        raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Half\'')

    monkeypatch.setattr(sat_adapter, "_half_probe", no_half)
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model(sao_small_dir, device="cpu")
    message = str(info.value)
    assert '"model_half": true' in message and "GPU" in message and '"model_half": false' in message
    assert "\n" not in message


def test_t5_missing_from_the_cache_is_one_line(sao_1_0_dir, tmp_path):
    """Offline, a T5 the cache lacks ("t5-small" here: only "t5-base" is cached) is named with the fix in one line."""
    config = model_config(sao_1_0_dir)
    config["model"]["conditioning"]["configs"][0]["config"]["t5_model_name"] = "t5-small"
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model(model_copy(tmp_path / "model", sao_1_0_dir, config=config), device="cpu")
    message = str(info.value)
    assert "'t5-small'" in message and "HF_HUB_OFFLINE=1" in message and "hf download t5-small" in message
    assert "\n" not in message
