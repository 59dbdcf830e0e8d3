"""benchmarks/sa3_cpu.py keeps working: its real-size config builds Stable Audio 3's published shapes, and its
--quick mode runs every measurement (the same code as the real size) on the tiny twin."""

import json
import sys
from pathlib import Path

import pytest

from ditto import sat as sat_adapter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import sa3_cpu  # noqa: E402

pytestmark = pytest.mark.skipif(not sat_adapter.SAT_0_0_20, reason="Stable Audio 3 needs stable-audio-tools 0.0.20")


def test_the_real_size_config_has_the_published_shapes():
    small = sa3_cpu.sa3_size_config("small")
    dit = small["model"]["diffusion"]["config"]
    assert (dit["embed_dim"], dit["depth"], dit["num_heads"], dit["num_memory_tokens"]) == (1024, 20, 16, 64)
    decoder = small["model"]["pretransform"]["config"]["decoder"]["config"]
    assert decoder["channels"] * decoder["c_mults"][-1] == 768 and decoder["transformer_depths"] == [6]
    assert decoder["out_channels"] == 512 and decoder["strides"] == [16]  # 2 channels x patch 256, 16 x 256 = 4096
    medium = sa3_cpu.sa3_size_config("medium")
    assert medium["model"]["diffusion"]["config"]["attn_kwargs"]["differential"]
    assert medium["model"]["diffusion"]["config"]["embed_dim"] == 1536
    with pytest.raises(ValueError, match="size must be one of small, medium, quick, got 'large'"):
        sa3_cpu.sa3_size_config("large")


def test_medium_is_skipped_when_it_would_not_fit():
    assert sa3_cpu.medium_fits(None) == (False, "available memory unknown")
    fits, why = sa3_cpu.medium_fits(8 * 10**9)
    assert not fits and "8.0 GB available" in why
    assert sa3_cpu.medium_fits(64 * 10**9)[0]


def test_quick_runs_every_row(capsys):
    sa3_cpu.main(["--quick", "--no-omp", "--seconds", "0.5", "--iterations", "1"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "run |" not in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| plain generation (warm)", "| DITTO iteration, steps recomputed (the default)",
        "| DITTO iteration, 2 steps kept (keep_steps=2)", "| DITTO iteration at 4 steps, recomputed"]
    assert "| 0/8 |" in rows[1] and "| 2/8 |" in rows[2] and "| 0/4 |" in rows[3]
    assert "4 vs 8 steps" in out


def test_the_omp_child_reports_its_policy(monkeypatch, capsys):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    sa3_cpu.main(["--child", "--size", "quick", "--seconds", "0.5"])
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert found["policy"] == "PASSIVE" and found["seconds"] > 0


def test_available_memory_is_known_here():
    assert sa3_cpu.available_memory_bytes() > 0
