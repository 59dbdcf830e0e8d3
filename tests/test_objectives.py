"""Properties of the objectives package on synthetic audio: features, targets, combinations, gradients, errors.

Every reference number comes from librosa 0.11 run on the same signal with the same framing, or from the
construction of the signal itself (a 440 Hz sine is pitch class A = 9). CPU only, fixed seeds.
"""


import librosa
import mido
import numpy as np
import pytest
import torch
import torchaudio

import objectives
from helpers import batch, sine

SR = 22050  # lower than SAO's 44.1 kHz to keep the tests fast; all features take sample_rate as an argument


def harmonic_note(midi_pitch, duration_s, amplitude=0.3, sample_rate=SR):
    """A piano-like tone: 6 harmonics with 1/k amplitudes and an exponential decay to ~30 %."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    f0 = 440.0 * 2 ** ((midi_pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 7))
    return (amplitude * tone * np.exp(-1.2 * t / duration_s) / 1.5).astype(np.float32)


NOTE_SEQUENCE = [60, 64, 67, 72, 71, 69, 65, 62]  # C4 E4 G4 C5 B4 A4 F4 D4, 0.25 s each


def note_sequence(note_s=0.25):
    return np.concatenate([harmonic_note(p, note_s) for p in NOTE_SEQUENCE])


@pytest.fixture(scope="module")
def aba_audio():
    """A-B-A: 440 Hz sine, white noise, 440 Hz sine; 1.5 s each."""
    rng = np.random.default_rng(0)
    a = sine(440.0, duration_s=1.5, sample_rate=SR, amplitude=0.3).numpy()
    b = (0.1 * rng.standard_normal(len(a))).astype(np.float32)
    return batch(np.concatenate([a, b, a]))


# ---------------------------------------------------------------- intensity


def test_rms_db_matches_librosa_within_half_a_db():
    rng = np.random.default_rng(1)
    x = note_sequence() + 0.01 * rng.standard_normal(len(note_sequence())).astype(np.float32)
    ours = objectives.rms_db(batch(x), SR, frame_length=2048, hop_length=512)[0].numpy()
    theirs = 20 * np.log10(librosa.feature.rms(y=x, frame_length=2048, hop_length=512, center=True)[0])
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 0.5


def test_intensity_of_its_own_loudness_curve_is_zero():
    x = batch(note_sequence())
    objective = objectives.Intensity.from_audio(x, SR)
    assert objective(x, SR).item() < 1e-6
    assert objective.metric(x, SR)["intensity_mse_db2"] < 1e-6


def test_loudness_rises_with_a_gain_ramp():
    rng = np.random.default_rng(2)
    gain = np.geomspace(0.001, 0.5, 3 * SR)  # -60 dB to -6 dB, linear in dB
    x = batch((rng.standard_normal(3 * SR) * gain).astype(np.float32))
    loudness = objectives.intensity_db(x, SR)[0].numpy()
    assert (np.diff(loudness[5:-5]) > 0).all()
    assert loudness[-1] - loudness[0] > 40


def test_crescendo_target_prefers_a_crescendo():
    rng = np.random.default_rng(3)
    gain = np.geomspace(0.01, 0.3, 2 * SR)
    x = batch((rng.standard_normal(2 * SR) * gain).astype(np.float32))
    crescendo = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
    decrescendo = objectives.Intensity.from_shape("decrescendo", low_db=-40.0, high_db=-10.0)
    assert crescendo(x, SR).item() < decrescendo(x, SR).item()


@pytest.mark.parametrize("shape", objectives.SHAPES)
def test_shapes_span_low_to_high(shape):
    curve = objectives.shape_curve(shape, -40.0, -10.0)
    assert curve.min().item() == pytest.approx(-40.0) and curve.max().item() == pytest.approx(-10.0)
    start, end = curve[0].item(), curve[-1].item()
    expected_ends = {"crescendo": (-40, -10), "decrescendo": (-10, -40), "swell": (-40, -40),
                     "fade-in": (-40, -10), "fade-out": (-10, -40), "pulse": (-40, -40)}[shape]
    assert (start, end) == pytest.approx(expected_ends)


def test_target_curve_is_spread_over_any_clip_length():
    assert objectives.interpolate_curve(torch.tensor([0.0, 10.0]), 11).tolist() == pytest.approx(list(range(11)))
    assert objectives.interpolate_curve(torch.tensor([-20.0]), 4).tolist() == [-20.0] * 4
    objective = objectives.Intensity([-30.0, -10.0])
    for seconds in (1, 3):  # one target, two clip lengths
        x = batch(sine(440.0, duration_s=seconds, sample_rate=SR, amplitude=0.3))
        assert objective(x, SR).shape == (1,)


# ---------------------------------------------------------------- melody


@pytest.mark.parametrize("highpass_hz", [261.2, None])
def test_440_hz_sine_chroma_peaks_at_a(highpass_hz):
    a440 = batch(sine(440.0, duration_s=1.0, sample_rate=SR, amplitude=0.3))
    energies = objectives.chroma(a440, SR, highpass_hz=highpass_hz)  # (1, 12, frames)
    assert (energies[0].argmax(dim=0) == objectives.PITCH_CLASSES.index("A")).all()


@pytest.mark.parametrize("highpassed", [False, True])
def test_chroma_argmax_agrees_with_librosa(highpassed):
    x = note_sequence()
    ours = objectives.chroma(batch(x), SR, highpass_hz=261.2 if highpassed else None)[0].numpy()
    librosa_input = objectives.highpass(torch.from_numpy(x), SR).numpy() if highpassed else x
    theirs = librosa.feature.chroma_stft(y=librosa_input, sr=SR, n_fft=2048, hop_length=512, tuning=0.0)
    assert ours.shape == theirs.shape
    assert (ours.argmax(axis=0) == theirs.argmax(axis=0)).mean() >= 0.95


def test_highpass_is_torchaudios_biquad_without_the_clamp():
    torch.manual_seed(3)
    quiet = 0.1 * torch.randn(2, SR).clamp(-3, 3)  # stays inside [-1, 1] where torchaudio's clamp is inactive
    assert torch.allclose(objectives.highpass(quiet, SR), torchaudio.functional.highpass_biquad(quiet, SR, 261.2),
                          atol=1e-5)  # float32 vs float64 coefficients
    loud = 4 * quiet
    assert objectives.highpass(loud, SR).abs().max() > 1  # no clamp: loud audio keeps its gradients


def test_melody_from_notes_scores_the_played_notes():
    x = batch(note_sequence())
    played = objectives.Melody.from_notes([(0.25 * i, 0.25 * (i + 1), p) for i, p in enumerate(NOTE_SEQUENCE)])
    transposed = objectives.Melody.from_notes([(0.25 * i, 0.25 * (i + 1), p + 2) for i, p in enumerate(NOTE_SEQUENCE)])
    assert played.metric(x, SR)["melody_accuracy"] >= 90.0
    assert transposed.metric(x, SR)["melody_accuracy"] <= 10.0
    assert played(x, SR).item() < transposed(x, SR).item()


def test_melody_from_audio_reproduces_its_argmax():
    x = batch(note_sequence())
    objective = objectives.Melody.from_audio(x, SR)
    assert objective.metric(x, SR)["melody_accuracy"] == 100.0


def test_melody_targets_ignore_frames_without_notes_and_truncate_long_notes():
    objective = objectives.Melody.from_notes([(0.0, 0.5, 69), (0.25, 10.0, 72)])  # 10 s note, 1 s clip
    frames = 1 + SR // 512
    targets = objectives.Melody.from_notes([(0.0, 0.5, 69)]).targets(frames, SR)
    centre_s = np.arange(frames) * 512 / SR
    assert (targets.numpy() == np.where(centre_s < 0.5, 9, objectives.NO_MELODY)).all()
    top = objective.targets(frames, SR).numpy()
    assert (top == np.where(centre_s < 0.25, 9, 0)).all()  # C5 (72) is above A4 (69) from 0.25 s on
    assert objective(batch(sine(440.0, duration_s=1.0, sample_rate=SR, amplitude=0.3)), SR).shape == (1,)


def test_text_note_list_parses():
    notes = objectives.parse_notes("C4:0.5 E4:0.5 r:0.25 G4:1")
    assert notes == ((0.0, 0.5, 60), (0.5, 1.0, 64), (1.25, 2.25, 67))
    assert [objectives.pitch_from_name(n) for n in ("F#3", "Bb4", "60", "A4", "c-1", "Ebb5")] == [54, 70, 60, 69, 0, 74]
    assert objectives.Melody.from_text("A4:1, 60:0.5").notes == ((0.0, 1.0, 69), (1.0, 1.5, 60))
    assert objectives.Melody.from_notes("C4:0.5 E4:0.5 r:0.25 G4:1").notes == notes
    assert objectives.Melody.from_notes([(0, 0.5, "C4"), (0.5, 1, 64.0)]).notes == notes[:2]


def test_midi_file_gives_top_note_targets(tmp_path):
    """Melody C5 for 1 s then rest, over an E3-G3-B3 chord held 2 s; 60 bpm so one beat is one second."""
    midi = mido.MidiFile(ticks_per_beat=480)
    lead, chord = mido.MidiTrack(), mido.MidiTrack()
    midi.tracks += [lead, chord]
    lead.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    lead.append(mido.Message("note_on", note=72, velocity=90, time=0))
    lead.append(mido.Message("note_off", note=72, velocity=0, time=480))
    for pitch in (52, 55, 59):
        chord.append(mido.Message("note_on", channel=1, note=pitch, velocity=70, time=0))
    chord.append(mido.Message("note_on", channel=1, note=52, velocity=0, time=960))  # note_on velocity 0 = off
    for pitch in (55, 59):
        chord.append(mido.Message("note_off", channel=1, note=pitch, velocity=0, time=0))
    chord.append(mido.Message("note_on", channel=9, note=84, velocity=100, time=0))  # drum hit: skipped
    chord.append(mido.Message("note_off", channel=9, note=84, velocity=0, time=960))
    path = tmp_path / "melody.mid"
    midi.save(path)

    objective = objectives.Melody.from_midi(path)
    assert sorted(objective.notes) == [(0.0, 1.0, 72), (0.0, 2.0, 52), (0.0, 2.0, 55), (0.0, 2.0, 59)]
    frames = 1 + 3 * SR // 512  # a 3 s clip: the last second has no melody
    centre_s = np.arange(frames) * 512 / SR
    expected = np.where(centre_s < 1.0, 0, np.where(centre_s < 2.0, 11, objectives.NO_MELODY))  # C5, then B3
    assert (objective.targets(frames, SR).numpy() == expected).all()
    with_drums = objectives.Melody.from_midi(path, include_drums=True)
    assert (84 in [note.pitch for note in with_drums.notes]) and len(with_drums.notes) == 5


# ---------------------------------------------------------------- structure


def test_mfcc_correlates_with_librosa():
    rng = np.random.default_rng(4)
    x = note_sequence() + 0.02 * rng.standard_normal(len(note_sequence())).astype(np.float32)
    ours = objectives.mfcc(batch(x), SR)[0].numpy()
    theirs = librosa.feature.mfcc(y=x, sr=SR, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=128)
    assert ours.shape == theirs.shape
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] >= 0.99


def test_self_similarity_is_symmetric_with_unit_diagonal(aba_audio):
    raw = objectives.mfcc_self_similarity(aba_audio, SR, smooth=False)[0]  # (frames, frames)
    assert torch.allclose(raw, raw.T, atol=1e-6)
    assert torch.allclose(raw.diagonal(), torch.ones(raw.shape[0]), atol=1e-5)
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
    smoothed = objectives.mfcc_self_similarity(aba_audio, SR)[0]
    assert torch.allclose(smoothed, smoothed.T, atol=1e-5)


def test_aba_signal_scores_lower_for_aba_than_aab(aba_audio):
    aba = objectives.Structure("ABA").metric(aba_audio, SR)["structure_mse"]
    aab = objectives.Structure("AAB").metric(aba_audio, SR)["structure_mse"]
    assert aba < 0.5 * aab


def test_structure_of_its_own_self_similarity_is_zero(aba_audio):
    assert objectives.Structure.from_audio(aba_audio, SR)(aba_audio, SR).item() < 1e-10


def test_form_targets_follow_letters_and_boundaries():
    frames = 100
    labels = objectives.section_labels("ABA", frames, frames * 512, SR, 512)
    assert labels.tolist() == [0] * 34 + [1] * 33 + [0] * 33
    uneven = objectives.section_labels("AB", frames, frames * 512, SR, 512, boundaries=[0.25])
    assert uneven.tolist() == [0] * 25 + [1] * 75
    seconds = objectives.section_labels("AB", frames, frames * 512, SR, 512, boundaries_s=[512 * 10 / SR])
    assert seconds.tolist() == [0] * 10 + [1] * 90
    target = objectives.form_self_similarity(labels)
    assert target[0, 99] == 1 and target[0, 50] == 0
    assert objectives.check_form("a-b a") == "ABA"


# ---------------------------------------------------------------- combination, shapes, gradients


def test_weighted_combination_equals_weighted_sum_of_losses(aba_audio):
    intensity = objectives.Intensity.from_shape("swell")
    melody = objectives.Melody.from_text("A4:4.5")
    structure = objectives.Structure("ABA")
    combined = 0.025 * intensity + melody + structure / 40
    expected = 0.025 * intensity(aba_audio, SR) + melody(aba_audio, SR) + structure(aba_audio, SR) / 40
    assert torch.allclose(combined(aba_audio, SR), expected)
    assert set(combined.metric(aba_audio, SR)) == {"intensity_mse_db2", "melody_accuracy", "structure_mse"}
    assert torch.allclose(sum([intensity, melody])(aba_audio, SR), intensity(aba_audio, SR) + melody(aba_audio, SR))
    assert torch.allclose((2 * (3 * intensity))(aba_audio, SR), 6 * intensity(aba_audio, SR))
    twice = intensity + objectives.Intensity([-20.0])
    assert set(twice.metric(aba_audio, SR)) == {"intensity_mse_db2", "intensity_mse_db2_2"}


def test_plain_callables_combine_after_wrapping(aba_audio):
    def energy(audio, sample_rate):
        return audio.pow(2).mean(dim=(1, 2))

    energy.metric = lambda audio, sample_rate: {"energy": audio.pow(2).mean()}
    intensity = objectives.Intensity([-20.0])
    wrapped = 0.5 * objectives.Objective.wrap(energy) + intensity
    assert torch.allclose(wrapped(aba_audio, SR), 0.5 * energy(aba_audio, SR) + intensity(aba_audio, SR))
    assert set(wrapped.metric(aba_audio, SR)) == {"energy", "intensity_mse_db2"}
    assert torch.allclose((intensity + energy)(aba_audio, SR), (energy + intensity)(aba_audio, SR))
    with pytest.raises(ValueError, match=r"\(\)"):
        objectives.Objective.wrap(lambda audio, sr: audio.sum())(aba_audio, SR)  # scalar, not (batch,)


ALL_OBJECTIVES = {
    "intensity": lambda: objectives.Intensity.from_shape("pulse"),
    "melody": lambda: objectives.Melody.from_text("A4:0.5 r:0.5 C5:1"),
    "structure": lambda: objectives.Structure("ABA"),
}


@pytest.mark.parametrize("name", ALL_OBJECTIVES)
def test_gradients_reach_the_audio_and_are_finite(name):
    torch.manual_seed(0)
    noise = 0.1 * torch.randn(2, 2, 2 * SR)
    silence = torch.zeros(1, 2, 2 * SR)  # digital silence must not produce NaN gradients either
    for audio in (noise, silence):
        audio = audio.clone().requires_grad_()
        loss = ALL_OBJECTIVES[name]()(audio, SR)
        assert loss.shape == (audio.shape[0],) and torch.isfinite(loss).all()
        loss.sum().backward()
        assert torch.isfinite(audio.grad).all()
        if audio.abs().sum() > 0:
            assert audio.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL_OBJECTIVES)
def test_batch_items_are_independent(name):
    torch.manual_seed(1)
    x, y = 0.2 * torch.randn(1, 1, 2 * SR), 0.02 * torch.randn(1, 1, 2 * SR)
    objective = ALL_OBJECTIVES[name]()
    together = objective(torch.cat([x, y]), SR)
    assert torch.allclose(together, torch.cat([objective(x, SR), objective(y, SR)]), rtol=1e-4, atol=1e-5)


def test_short_audio_forms_gain_leading_dims():
    objective = objectives.Intensity([-20.0])
    clip = sine(440.0, duration_s=1.0, sample_rate=SR, amplitude=0.3)
    assert objective(clip, SR).shape == (1,)  # (samples,)
    assert objective(clip.expand(2, -1), SR).shape == (1,)  # (channels, samples): one stereo clip
    assert objective(clip, SR) == objective(clip[None, None], SR)


def test_optimizing_a_gain_reaches_the_target_level():
    torch.manual_seed(2)
    noise = torch.randn(1, 1, SR)
    log_gain = torch.zeros((), requires_grad=True)
    objective = objectives.Intensity([-20.0])
    optimizer = torch.optim.Adam([log_gain], lr=0.1)
    for _ in range(60):
        optimizer.zero_grad()
        loss = objective(noise * log_gain.exp(), SR).sum()
        loss.backward()
        optimizer.step()
    assert objective.metric(noise * log_gain.exp(), SR)["intensity_mse_db2"] < 1.0


# ---------------------------------------------------------------- errors


def _missing_midi(tmp_path):
    return objectives.Melody.from_midi(tmp_path / "missing.mid")


BAD_TARGETS = [
    (lambda tmp: objectives.Intensity([]), "empty"),
    (lambda tmp: objectives.Intensity([-20.0, float("nan")]), "nan"),
    (lambda tmp: objectives.Intensity([-20.0, float("inf")]), "inf"),
    (lambda tmp: objectives.Intensity.from_shape("zigzag"), "zigzag"),
    (lambda tmp: objectives.Intensity.from_shape("crescendo", low_db=-10.0, high_db=-40.0), "-10.0"),
    (lambda tmp: objectives.Intensity.from_shape("swell", low_db=-20.0, high_db=-20.0), "-20.0"),
    (lambda tmp: objectives.Intensity.from_audio(torch.zeros(1, 1, 100), SR), "100"),
    (lambda tmp: objectives.Structure(""), "''"),
    (lambda tmp: objectives.Structure("AB1A"), "'1'"),
    (lambda tmp: objectives.Structure("AA"), "'AA'"),
    (lambda tmp: objectives.Structure("ABA", boundaries=[0.5]), "[0.5]"),
    (lambda tmp: objectives.Structure("AB", boundaries=[1.5]), "1.5"),
    (lambda tmp: objectives.Structure.from_audio(torch.zeros(1, 1, 100), SR), "100"),
    (lambda tmp: objectives.Melody.from_notes("C4:0.5 H4:1"), "H4:1"),
    (lambda tmp: objectives.Melody.from_notes("C4:0.5 E4"), "E4"),
    (lambda tmp: objectives.Melody.from_notes("C4:-0.5"), "-0.5"),
    (lambda tmp: objectives.Melody.from_notes(""), "empty"),
    (lambda tmp: objectives.Melody.from_notes([]), "empty"),
    (lambda tmp: objectives.Melody.from_notes([(1.0, 0.5, 60)]), "-0.5"),
    (lambda tmp: objectives.Melody.from_notes([(0.0, float("nan"), 60)]), "nan"),
    (lambda tmp: objectives.Melody.from_notes([(0.0, 1.0, 200)]), "200"),
    (_missing_midi, "missing.mid"),
    (lambda tmp: objectives.Melody.from_audio(torch.zeros(1, 1, 100), SR), "100"),
    (lambda tmp: objectives.Melody.from_audio(torch.zeros(1, 1, SR), SR), "no frames"),
    (lambda tmp: objectives.Melody.from_notes([(5.0, 6.0, 60)])(torch.zeros(1, 1, SR), SR), "5.0"),
    (lambda tmp: objectives.Intensity([-20.0])(torch.zeros(1, 1, 1, SR), SR), "4 dims"),
    (lambda tmp: objectives.Intensity([-20.0])(torch.zeros(1, 1, SR), 0), "0"),
    (lambda tmp: float("inf") * objectives.Intensity([-20.0]), "inf"),
]


@pytest.mark.parametrize("make, named", BAD_TARGETS, ids=[named for _, named in BAD_TARGETS])
def test_bad_targets_raise_value_error_naming_the_value(make, named, tmp_path):
    with pytest.raises(ValueError) as error:
        make(tmp_path)
    message = str(error.value)
    assert named.lower() in message.lower()
    assert "\n" not in message
