"""The hub path: `load_model("owner/name")` resolves from a Hugging Face cache in the hub's layout under
HF_HUB_OFFLINE=1, exactly as after a real download (the model files and its T5 from the same cache), and each way the
hub can fail is one line naming the repo and the fix (exit 2 from recipes). The failures are huggingface_hub's own
exceptions, raised from the download call."""

import pytest
import torch

import ditto
import twins
from ditto import loading
from ditto.loading import ModelLoadError
from recipe_runs import FAST, assert_one_line_error, run_in_process

REPO = "stabilityai/stable-audio-open-1.0"


def test_a_hub_id_loads_offline_from_the_cache(sao_1_0, sao_1_0_dir, hf_cache):
    twins.write_hub_repo(hf_cache, REPO, sao_1_0_dir)
    model = ditto.load_model(REPO, device="cpu")
    assert model.source == REPO and model.config == sao_1_0.config
    assert type(model.sat.conditioner.conditioners["prompt"]).__name__ == "T5Conditioner"  # T5: the same cache
    kwargs = dict(sample_size=8192, seconds_total=1.0, steps=3, sampler="dpmpp-2m", seed=1)
    assert torch.equal(ditto.generate(model, "solo piano", **kwargs), ditto.generate(sao_1_0, "solo piano", **kwargs))


def hub_error(name: str):
    """An instance of huggingface_hub's exception `name`, built without an HTTP response."""
    from huggingface_hub import errors

    cls = getattr(errors, name)
    error = cls.__new__(cls)
    Exception.__init__(error, f"{name}: from the test")
    return error


def failing_download(name):
    def download(repo_id, filename, **kwargs):
        raise hub_error(name)
    return download


@pytest.mark.parametrize("error,token,offline,named", [
    ("GatedRepoError", "hf_test", False, ["is gated", "accept", f"https://huggingface.co/{REPO}"]),
    ("GatedRepoError", None, False, ["is gated", "no Hugging Face token", "hf auth login", "HF_TOKEN",
                                     f"https://huggingface.co/{REPO}"]),
    ("RepositoryNotFoundError", None, False, ["not found", "check the id", "hf auth login"]),
    ("RepositoryNotFoundError", "hf_test", False, ["not found", "check the id"]),
    ("LocalEntryNotFoundError", None, False, ["cannot reach the hub", "connect", f"hf download {REPO}"]),
    ("LocalEntryNotFoundError", None, True, ["HF_HUB_OFFLINE=1", "not in the local Hugging Face cache",
                                             f"hf download {REPO}"]),
], ids=["gated-terms", "gated-no-token", "missing", "missing-with-token", "no-network", "offline-not-cached"])
def test_each_hub_failure_is_one_line_naming_the_repo_and_the_fix(monkeypatch, error, token, offline, named):
    from huggingface_hub import constants

    monkeypatch.setattr("huggingface_hub.hf_hub_download", failing_download(error))
    monkeypatch.setattr("huggingface_hub.get_token", lambda: token)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model(REPO, device="cpu")
    message = str(info.value)
    assert repr(REPO) in message and "\n" not in message, message
    for part in named:
        assert part in message, (part, message)


def test_offline_with_nothing_cached_really_fails_so(monkeypatch):
    """No monkeypatched download: huggingface_hub itself, offline, over the session's cache without this repo."""
    with pytest.raises(ModelLoadError) as info:
        ditto.load_model("nobody/not-cached-anywhere", device="cpu")
    assert "HF_HUB_OFFLINE=1" in str(info.value) and "hf download nobody/not-cached-anywhere" in str(info.value)


def test_recipes_exit_2_with_the_hub_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("huggingface_hub.hf_hub_download", failing_download("GatedRepoError"))
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    code, _, last = run_in_process("intensity", ["--model", REPO, "--out", tmp_path / "run", *FAST], capsys)
    assert_one_line_error(code, last, "is gated and no Hugging Face token is set")
    assert not (tmp_path / "run").exists()


def test_the_cache_layout_is_the_hubs(hf_cache, sao_1_0_dir):
    """What huggingface_hub itself finds in the cache (refs/main -> snapshots/<sha>/file)."""
    from huggingface_hub import try_to_load_from_cache

    snapshot = twins.write_hub_repo(hf_cache, "someone/twin", sao_1_0_dir)
    found = try_to_load_from_cache("someone/twin", loading.CONFIG_NAME)
    assert found is not None and str(found) == str(snapshot / loading.CONFIG_NAME)
