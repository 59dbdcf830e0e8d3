"""Stable Audio 3's own inpainting beside DITTO's, on a tiny twin (`tests/sa3_twins.py`): `method="native"` is one
generation conditioned on the kept region through the DiT's inpaint inputs, built as stable-audio-tools 0.0.20
builds them, "both" optimizes that generation's x_T as well; the editing recipes and extend take --method native."""

import json

import pytest
import torch

import ditto
from ditto import editing
from ditto import sat as sat_adapter
from ditto.generation import decode

from sa3_twins import DOWNSAMPLING, sa3_twin

pytestmark = pytest.mark.skipif(not sat_adapter.SAT_0_0_20, reason="Stable Audio 3 needs stable-audio-tools 0.0.20")

WINDOW = 32 * DOWNSAMPLING  # 2.97 s: 32 latent frames, one chunk of the SAME encoder's attention
RATE = 44100
GAP = (0.9, 1.83)  # latent frames 10-19, in ditto's rounding and in SAT's (a frame is kept iff its first sample is)
FAST = dict(prompt="solo piano", sample_size=WINDOW, steps=4, progress=False)


@pytest.fixture(scope="module")
def twin_dir(tmp_path_factory):
    return sa3_twin(tmp_path_factory.mktemp("sa3") / "stable-audio-3-small-music", "small", seed=3)


@pytest.fixture(scope="module")
def small(twin_dir):
    return ditto.load_model(twin_dir, device="cpu")


@pytest.fixture(scope="module")
def clip(small):
    """One window of the twin's own output: a reference it can reproduce."""
    return ditto.generate(small, "warm ambient pad", sample_size=WINDOW, steps=4, seed=7)[0]


def inpaint_plan(small, clip):
    return editing.plan_inpaint(small, clip, sample_rate=RATE, gap_s=GAP, sample_size=WINDOW)


def sat_inpaint_mask(small, clip) -> torch.Tensor:
    """The inpaint mask stable-audio-tools 0.0.20's generate_diffusion_cond_inpaint builds for GAP, captured where it
    enters the DiT's conditioning."""
    from stable_audio_tools.inference.generation import generate_diffusion_cond_inpaint

    captured = {}

    def capture(tensors, negative=False):
        captured.update(tensors)
        raise InterruptedError

    sat = small.sat
    sat.get_conditioning_inputs, original = capture, sat.get_conditioning_inputs
    try:
        with pytest.raises(InterruptedError):
            generate_diffusion_cond_inpaint(sat, steps=1, cfg_scale=1.0, sample_size=WINDOW, seed=0, device="cpu",
                                            conditioning=[{"prompt": "solo piano", "seconds_total": WINDOW / RATE}],
                                            inpaint_audio=(RATE, clip), inpaint_mask_start_seconds=GAP[0],
                                            inpaint_mask_end_seconds=GAP[1])
    finally:
        sat.get_conditioning_inputs = original
    return captured["inpaint_mask"][0]


def test_native_inputs_are_sats_mask_and_masked_reference(small, clip):
    """1 = keep, as SAT builds it: the mask equals generate_diffusion_cond_inpaint's for the same gap, and the
    masked input is the reference's latents there and zero in the gap."""
    plan = inpaint_plan(small, clip)
    inputs = editing.native_inputs(small, plan, WINDOW / RATE)
    mask, masked = inputs["inpaint_mask"][0], inputs["inpaint_masked_input"][0]
    assert mask.shape == (1, 1, 32) and masked.shape == (1, 256, 32)
    assert mask[0, 0].tolist() == [1.0] * 10 + [0.0] * 10 + [1.0] * 12
    assert torch.equal(mask, sat_inpaint_mask(small, clip))
    assert torch.equal(masked[0, :, :10], plan.objective.target[:, :10]) and masked[0, :, 10:20].abs().max() == 0


def test_native_inpaint_equals_sat_given_the_same_inpaint_tensors(small, clip):
    """ditto.inpaint(method="native") renders SAT 0.0.20's generate_diffusion_cond given the same inpaint tensors:
    its audio is SAT's latents through the decoder, bit for bit (euler: no sampler noise; the decoder's noise is
    seeded as in every method: seed + 2), and
    ditto.generate with those tensors SAT's audio bit for bit (pingpong, SAT's own noise draws)."""
    inputs = editing.native_inputs(small, inpaint_plan(small, clip), WINDOW / RATE)
    sat = dict(seconds_total=WINDOW / RATE, sample_size=WINDOW, steps=4, cfg_scale=1.0, seed=2,
               conditioning_tensors=inputs)
    result = ditto.inpaint(small, clip, sample_rate=RATE, gap_s=GAP, method="native", sampler="euler", seed=2,
                           cfg_scale=1.0, **FAST)
    reference = sat_adapter.reference_generate(small, "solo piano", sampler="euler", return_latents=True, **sat)
    decoded = decode(small, reference, noise_seed=2 + 2)[..., :WINDOW].float()  # the window's latents decoded
    assert reference.abs().max() > 0 and torch.equal(result.audio, decoded)
    ours = ditto.generate(small, "solo piano", sampler="pingpong", **sat)
    assert torch.equal(ours, sat_adapter.reference_generate(small, "solo piano", sampler="pingpong", **sat))
    plain = ditto.generate(small, "solo piano", sampler="pingpong", **{**sat, "conditioning_tensors": None})
    assert not torch.equal(ours, plain)  # the inputs reach the DiT
    guided = {**sat, "cfg_scale": 3.0, "negative_prompt": "rain"}  # with CFG the DiT conditions both branches on them
    assert torch.equal(ditto.generate(small, "solo piano", sampler="pingpong", **guided),
                       sat_adapter.reference_generate(small, "solo piano", sampler="pingpong", **guided))


def test_native_is_measured_against_plain_generation_and_both_improves_on_it(small, clip):
    """"before" is the plain generation with the same seed, "after" the conditioned render; DITTO on top ("both")
    starts from exactly the native render and lowers its reconstruction loss. (The twin's weights are random: its
    DiT was never trained to use the inpaint inputs, so native itself does not reconstruct better here; a trained
    Stable Audio 3 does.)"""
    metric = "reconstruction_mse"
    native = ditto.inpaint(small, clip, sample_rate=RATE, gap_s=GAP, method="native", **FAST)
    assert native.settings["method"] == "native" and native.variables == [] and native.losses == []
    assert native.metrics["after"][metric] != native.metrics["before"][metric]
    both = ditto.inpaint(small, clip, sample_rate=RATE, gap_s=GAP, method="both", iterations=4, **FAST)
    assert both.metrics["native"] == native.metrics["after"] and both.metrics["before"] == native.metrics["before"]
    assert both.metrics["after"][metric] < native.metrics["after"][metric] and both.best_iteration > 0
    assert torch.equal(both.baseline_audio, native.baseline_audio)
    assert set(both.edited.seams) == {"before", "after"} and "seam_jump" in both.edited.seams["after"]


def test_native_outpaint_loop_and_extend(small, clip):
    """Continuation, a reference loop and a chained extension condition on what they keep (the overlap, the clip
    and its opening at its end); a reference-free loop has nothing to keep and is refused with one line."""
    out = ditto.outpaint(small, clip, sample_rate=RATE, overlap_s=0.5, method="native", **FAST)
    overlap = editing.native_inputs(small, out.edited.plan, WINDOW / RATE)["inpaint_mask"][0]
    assert overlap[0, 0].tolist() == [1.0] * 5 + [0.0] * 27 and out.edited.audio.shape[-1] > clip.shape[-1]
    looped = ditto.loop(small, clip[:, :WINDOW // 2], sample_rate=RATE, overlap_s=0.3, method="native", **FAST)
    kept = editing.native_inputs(small, looped.edited.plan, WINDOW / RATE)["inpaint_mask"][0]
    assert kept[0, 0].tolist() == [1.0] * 16 + [0.0] * 16 and "seam_jump" in looped.edited.seams["after"]
    with pytest.raises(ValueError, match="needs a reference to keep; this loop has none") as error:
        ditto.loop(small, overlap_s=0.3, method="native", **FAST)
    assert "\n" not in str(error.value)
    piece = ditto.extend(small, clip, sample_rate=RATE, seconds=6.0, overlap_s=0.5, method="both", iterations=1,
                         **FAST)
    assert piece.stop_reason == "done" and piece.settings["method"] == "both"
    assert piece.audio.shape[-1] == round(6.0 * RATE) and len(piece.joins) == 2


@pytest.mark.parametrize("method", ["native", "both"])
def test_a_model_without_inpaint_conditioning_is_refused(tiny, method):
    clip = torch.zeros(2, 44100)
    with pytest.raises(ValueError, match=f"method '{method}' is invalid; valid: ditto, guidance, best-of-n for tiny "
                                         f"\\(model_type 'diffusion_cond'\\)") as error:
        ditto.inpaint(tiny, clip, sample_rate=RATE, gap_s=(0.4, 0.6), method=method, prompt="solo piano")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="need a model conditioned for inpainting"):
        ditto.extend(tiny, clip, sample_rate=RATE, seconds=3.0, overlap_s=0.5, sample_size=22 * 2048, method=method,
                     prompt="solo piano")


def test_extend_takes_its_chain_options_as_keywords_or_an_object(small, clip):
    with pytest.raises(TypeError, match="give each setting once"):
        ditto.extend(small, clip, sample_rate=RATE, seconds=6.0, overlap_s=0.5, max_windows=1,
                     chain=editing.ChainOptions(), **FAST)
    for chain in (dict(max_windows=1), dict(chain=editing.ChainOptions(max_windows=1))):
        with pytest.raises(ValueError, match="needs 2 windows"):
            ditto.extend(small, clip, sample_rate=RATE, seconds=6.0, overlap_s=0.5, **chain, **FAST)


# ------------------------------------------------------------------------------------------------ recipes

RECIPE = ["--sample-size", WINDOW, "--steps", "3", "--iterations", "2", "--quiet"]


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, clip):
    path = tmp_path_factory.mktemp("clip") / "half.wav"
    ditto.audio.write_audio(path, clip[:, :WINDOW // 2], RATE)
    return path


@pytest.mark.parametrize("name,flags", [
    ("inpaint", ["--start", GAP[0], "--end", GAP[1]]),
    ("outpaint", ["--overlap", "0.5"]),
    ("loop", ["--overlap", "0.3"]),  # of --reference
    ("extend", ["--seconds", "4", "--overlap", "0.5"]),
])
def test_editing_recipes_run_native_on_stable_audio_3(twin_dir, clip_file, tmp_path, capsys, name, flags):
    """Each editing recipe and extend with --method native: report.json records the method and the
    reconstruction and seam metrics before (plain generation) and after (the conditioned render)."""
    from recipe_runs import run_in_process

    out = tmp_path / name
    reference = ["--reference", clip_file] if name == "loop" else []
    code, _, last = run_in_process(name, ["--model", twin_dir, "--method", "native", *flags, *reference, *RECIPE,
                                          "--out", out], capsys)
    assert code == 0, last
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "native" and report["settings"]["method"] == "native"
    for when in ("before", "after"):
        assert {"reconstruction_mse", "seam_jump"} <= set(report["metrics"][when])
    assert (out / "edited.wav").exists()


def test_recipes_refuse_native_on_a_model_without_inpaint_conditioning(tmp_path, capsys):
    """On SAO-like models (the tiny one): one line, exit 2, nothing written; `ditto run` refuses the job before
    any runs (its model's config has no inpaint inputs)."""
    from recipe_runs import assert_one_line_error, no_run_left, run_in_process

    from ditto.app.experiments import ExperimentError, read_experiment

    out = tmp_path / "x"
    for name in ("inpaint", "extend"):
        more = ["--seconds", "3"] if name == "extend" else []
        code, _, last = run_in_process(name, ["--method", "both", *more, "--quiet", "--out", out], capsys)
        assert_one_line_error(code, last, "method 'both' is invalid; valid: ditto, guidance, best-of-n for tiny")
        assert no_run_left(out)
    code, _, last = run_in_process("inpaint", ["--method", "native", "--time-budget", "5", "--out", out], capsys)
    assert_one_line_error(code, last, "--time-budget applies to --method ditto, both and best-of-n")
    experiment = tmp_path / "e.jsonl"
    experiment.write_text(json.dumps({"recipe": "outpaint", "method": "native"}) + "\n")
    with pytest.raises(ExperimentError, match="method 'native' is invalid; valid: ditto, guidance, best-of-n"):
        read_experiment(experiment)


def test_the_native_experiment_compares_the_three_methods(twin_dir, tmp_path):
    """recipes/experiments/native.jsonl end to end on the twin (its inpainting line, with the model, window and
    iterations swapped for the twin's, one seed): the summary has native, ditto and both rows with reconstruction
    and seam metrics."""
    import csv

    from ditto.app import command
    from recipe_runs import ROOT

    lines = []
    for line in (ROOT / "recipes" / "experiments" / "native.jsonl").read_text().splitlines():
        if line.startswith("{"):
            job = json.loads(line)
            assert job["grid"]["method"] == ["native", "ditto", "both"]
            if job["recipe"] != "inpaint":
                continue
            job.update({"model": str(twin_dir), "sample-size": WINDOW, "steps": 3, "iterations": 2, "start": GAP[0],
                        "end": GAP[1]})
            job["grid"]["seed"] = [0]
            line = json.dumps(job)
        lines.append(line)
    experiment, out = tmp_path / "native.jsonl", tmp_path / "out"
    experiment.write_text("\n".join(lines) + "\n")
    try:
        command.main(["run", str(experiment), "--out", str(out), "--quiet"])
    except SystemExit as stop:
        assert not stop.code
    with open(out / "summary.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["method"] for row in rows) == ["both", "ditto", "native"]
    for row in rows:
        assert row["status"] == "done", row["error"]
        assert all(row[f"{m}_{w}"] for m in ("reconstruction_mse", "seam_jump") for w in ("before", "after"))
    assert len({row["reconstruction_mse_before"] for row in rows}) == 1  # one baseline: the plain generation
    assert "| inpaint | native | reconstruction_mse" in (out / "summary.md").read_text()
