"""A run's settings are one frozen, typed record (`ditto.RunSettings`): report.json is written from it and reads
back into it, a resume compares records, and every list of setting names derives from the dataclass fields."""

import dataclasses
import inspect
import json
import re

import pytest

import ditto
import objectives
from ditto import config, generation, methods, optimize_module
from ditto.app import cli, report
from ditto.config import (OptimizerConfig, RunSettings, SamplerConfig, SpeedConfig, StartSettings, field_names,
                          resumable_fields)
from ditto.methods import GuidanceConfig, SearchSettings

WINDOW = dict(prompt="solo piano", seconds_total=0.5, sample_size=11 * 2048, steps=3, progress=False)
TARGET = objectives.Intensity([-30.0, -10.0])
RUNS = {"ditto": lambda model, **kw: ditto.optimize(model, TARGET, iterations=2, **kw),
        "guidance": lambda model, **kw: ditto.guide(model, TARGET, scale=10.0, **kw),
        "best-of-n": lambda model, **kw: ditto.best_of_n(model, TARGET, n=2, **kw)}
OWN = {"ditto": None, "guidance": GuidanceConfig, "best-of-n": SearchSettings}


@pytest.fixture(scope="module", params=list(RUNS))
def run(request, tiny):
    return request.param, RUNS[request.param](tiny, **WINDOW)


def test_the_record_is_frozen_typed_and_reads_as_a_flat_mapping(run):
    method, result = run
    settings = result.settings
    assert isinstance(settings, RunSettings) and settings.method == method
    assert isinstance(settings.start, StartSettings) and isinstance(settings.sampling, SamplerConfig)
    assert isinstance(settings.speed, SpeedConfig)
    assert isinstance(settings.optimization, OptimizerConfig) == (method == "ditto")
    assert type(settings.method_settings) is (OWN[method] or type(None))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model = "another"
    assert settings["sampler"] == settings.sampling.sampler == "v-ddim" and settings["seed"] == settings.start.seed
    assert settings.get("no such setting") is None and "steps" in settings and dict(settings) == settings.to_dict()
    assert settings["cfg_interval"] == [0.0, 1.0]  # tuples read as JSON has them
    parts = [field_names(type(part)) for part in settings.parts()]
    own = [field.name for field in dataclasses.fields(RunSettings) if "part" not in field.metadata]
    assert sorted(settings) == sorted([*own, *(name for names in parts for name in names)])  # no name lost or shared


def test_report_json_is_written_from_the_record_and_reads_back_into_it(run, tmp_path):
    method, result = run
    report.write_run(tmp_path, result, objective_description="crescendo")
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["method"] == method and written["settings"] == json.loads(json.dumps(result.settings.to_dict()))
    assert RunSettings.from_dict(written["settings"]) == result.settings


def test_a_record_refuses_settings_it_cannot_place(run):
    with pytest.raises(ValueError, match="settings flux belong to no part"):
        RunSettings.from_dict({**run[1].settings.to_dict(), "flux": 1})
    with pytest.raises(ValueError, match="not a run's settings"):
        RunSettings.from_dict({"model": "tiny"})


def test_resume_refuses_a_changed_setting_and_accepts_a_resumable_one(tiny, tmp_path):
    state = tmp_path / "state.pt"
    first = ditto.optimize(tiny, TARGET, iterations=1, state_path=state, **WINDOW)
    assert ditto.load_state(state).settings == first.settings  # saved as its mapping, loaded as the record
    longer = ditto.optimize(tiny, TARGET, iterations=2, resume=state, patience=5, **WINDOW)
    assert len(longer.losses) == 2 and longer.settings["iterations"] == 2  # iterations and patience may change
    with pytest.raises(ValueError, match=r"cannot resume: .*cfg_scale=7\.0 -> 3\.0.*only device, .*keep_steps, iterations"):
        ditto.optimize(tiny, TARGET, iterations=2, resume=state, cfg_scale=3.0, **WINDOW)


def test_best_of_n_resumes_with_more_candidates_but_not_another_chain(tiny, tmp_path):
    state = tmp_path / "search.pt"
    ditto.best_of_n(tiny, TARGET, n=1, state_path=state, **WINDOW)
    more = ditto.best_of_n(tiny, TARGET, n=2, resume=state, **WINDOW)
    assert len(more.losses) == 2 and more.settings["n"] == 2 and more.settings["best_seed"] in (0, 1)
    with pytest.raises(ValueError, match=r"cannot resume: .*steps=3 -> 4"):
        ditto.best_of_n(tiny, TARGET, n=2, resume=state, **{**WINDOW, "steps": 4})


def test_which_changes_are_resumable_comes_from_field_metadata():
    record = RunSettings(start=StartSettings(prompt="solo piano"), sampling=SamplerConfig(steps=3),
                         speed=SpeedConfig(), model="tiny", optimization=OptimizerConfig())
    longer = dataclasses.replace(record, optimization=OptimizerConfig(iterations=150, patience=3), device="cuda")
    assert longer.changes(record) == []
    shorter_chain = dataclasses.replace(record, sampling=SamplerConfig(steps=4))
    assert shorter_chain.changes(record) == ["steps=3 -> 4"]
    assert set(record.resumable()) == {"device", "iterations", "target_loss", "patience", "time_budget_s",
                                       "keep_steps", "activation_gb_per_step"}  # kept steps follow the memory free
    assert set(optimize_module.RESUMABLE_CHANGES) == set(record.resumable())
    assert set(methods.SEARCH_RESUMABLE) == {"device", "n", "time_budget_s", "best_seed", "keep_steps",
                                             "activation_gb_per_step"}


def test_the_name_lists_are_the_dataclass_fields():
    start = field_names(optimize_module.Start)
    named = {"prompt", "seconds_total", "sample_size", "seed"}  # optimize's own parameters
    assert set(optimize_module.START_OPTIONS) == set(start) - named
    assert set(methods.START_OPTIONS) == set(start) - {"prompt", "seed", "batch_size", "x_T"}
    assert set(field_names(StartSettings)) <= {*start, "has_init_audio"}
    speed_for_renders = {f.name for f in dataclasses.fields(SpeedConfig) if not f.metadata.get("descent_only")}
    assert speed_for_renders == {"chunk_latents", "autocast_bf16", "decoder_bf16"}
    assert set(cli.METHOD_ARGUMENTS) == {"prompt", "seed", *methods.START_OPTIONS, *field_names(SamplerConfig),
                                         *speed_for_renders} - {"init_audio", "init_noise_level"}
    assert generation.GENERATE_OPTIONS == field_names(generation.GenerateInputs)
    assert not set(generation.GENERATE_OPTIONS) & set(inspect.signature(ditto.generate).parameters)
    described = SamplerConfig(sampler="v-ddim", steps=3, cfg_scale=7.0).describe()
    assert re.findall(r"(\w+)=", described) == list(field_names(SamplerConfig))
    assert resumable_fields(SamplerConfig, StartSettings) == ()  # each changes the result
    assert resumable_fields(SpeedConfig) == ("keep_steps",)  # how much is recomputed: the result is the same
    assert config.METHOD_SETTINGS == {"guidance": GuidanceConfig, "best-of-n": SearchSettings}
