"""Audio I/O: soundfile reads and atomic writes, torchaudio resampling, SAT's channel rules."""

import pytest
import soundfile
import torch

from ditto import audio
from helpers import sine


CLIP = sine(440.0, duration_s=0.1, sample_rate=44100, channels=2)  # (channels, samples)


@pytest.mark.parametrize("suffix,fmt", [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG")])
def test_read_audio_formats(tmp_path, suffix, fmt):
    path = tmp_path / f"a{suffix}"
    soundfile.write(str(path), CLIP[:1].T.numpy(), 22050, format=fmt)
    data, rate = audio.read_audio(path)
    assert rate == 22050 and data.shape[0] == 1 and data.shape[1] > 0


def test_write_then_read_round_trip(tmp_path):
    original = CLIP
    path = audio.write_audio(tmp_path / "out" / "a.wav", original, 44100)
    data, rate = audio.read_audio(path)
    assert rate == 44100 and torch.equal(data, original)
    assert [p.name for p in path.parent.iterdir()] == ["a.wav"]  # no temp file left behind


def test_write_never_overwrites_without_permission(tmp_path):
    path = audio.write_audio(tmp_path / "a.wav", CLIP, 44100)
    with pytest.raises(FileExistsError, match="a.wav"):
        audio.write_audio(path, torch.zeros(2, 10), 44100)
    assert torch.equal(audio.read_audio(path)[0], CLIP)
    audio.write_audio(path, torch.zeros(2, 10), 44100, overwrite=True)
    assert audio.read_audio(path)[0].shape == (2, 10)


def test_unreadable_missing_and_empty_files(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="junk.wav"):
        audio.read_audio(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="missing.wav"):
        audio.read_audio(tmp_path / "missing.wav")
    soundfile.write(str(tmp_path / "empty.wav"), torch.zeros(0, 2).numpy(), 44100)
    with pytest.raises(ValueError, match="no samples"):
        audio.read_audio(tmp_path / "empty.wav")


def test_resample_keeps_duration_and_pitch():
    resampled = audio.resample(sine(441.0, duration_s=1.0, sample_rate=22050, channels=2), 22050, 44100)
    assert resampled.shape == (2, 44100)
    spectrum = torch.fft.rfft(resampled[0]).abs()
    assert spectrum.argmax().item() == 441


def test_channel_conversion_follows_sat():
    stereo = torch.stack([torch.ones(5), -torch.ones(5)])[None]
    assert torch.equal(audio.to_channels(stereo, 1), torch.zeros(1, 1, 5))
    assert audio.to_channels(stereo[:, :1], 2).shape == (1, 2, 5)
    assert audio.to_channels(torch.zeros(1, 6, 5), 2).shape == (1, 2, 5)


def test_load_for_model_converts_rate_channels_and_length(tmp_path):
    path = tmp_path / "mono.wav"
    soundfile.write(str(path), sine(440.0, duration_s=0.5, sample_rate=16000, channels=1).T.numpy(), 16000)
    converted = audio.load_for_model(path, None, target_rate=44100, channels=2, length=8192)
    assert converted.shape == (1, 2, 8192)
