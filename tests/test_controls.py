"""Rhythm, brightness and pitch controls: each feature against its reference implementation, targets, errors, and
30 DITTO iterations on the tiny model.

References: librosa 0.11 (onset_strength, spectral_centroid), torchcrepe (the CREPE network and its own framing),
mir_eval (onset F-measure, raw pitch / chroma accuracy), and the construction of each signal (clicks at known
times, sweeps, tones at known pitches, a MIDI piece rendered as harmonic tones). CPU only, fixed seeds.
"""

import socket

import librosa
import mido
import numpy as np
import pytest
import torch

import objectives
from ditto.optimize import optimize
from helpers import batch, sine

SR = 22050  # the features take sample_rate as an argument; 22.05 kHz keeps the unit tests fast


def clicks(times_s, duration_s, sample_rate=SR):
    """librosa's click track (1 kHz clicks, 100 ms decay) over faint noise, (samples,) float32."""
    noise = 0.001 * np.random.default_rng(0).standard_normal(int(duration_s * sample_rate))
    track = librosa.clicks(times=np.asarray(times_s), sr=sample_rate, length=len(noise))
    return (track + noise).astype(np.float32)


def harmonic_tone(midi_pitch, duration_s, sample_rate=SR, amplitude=0.3):
    """Four harmonics (1/k amplitudes) with a slow decay: a plucked tone of known pitch."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    f0 = 440.0 * 2 ** ((midi_pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))
    return (amplitude * tone * np.exp(-2.0 * t) / 2.1).astype(np.float32)


PIECE = [(0.0, 0.25, 48), (0.25, 0.5, 60), (0.5, 0.75, 72), (0.75, 1.0, 64), (1.0, 1.25, 52), (1.25, 1.5, 76),
         (1.5, 1.75, 69), (1.75, 2.0, 57)]  # octave leaps: C3 C4 C5 E4 E3 E5 A4 A3


def render(notes, duration_s, sample_rate=SR):
    """Notes (start_s, end_s, midi_pitch) rendered as harmonic tones, summed; (samples,) float32."""
    out = np.zeros(int(duration_s * sample_rate), dtype=np.float32)
    for start_s, end_s, pitch in notes:
        first = int(round(start_s * sample_rate))
        tone = harmonic_tone(pitch, end_s - start_s, sample_rate)
        out[first:first + len(tone)] += tone[:len(out) - first]
    return out


def write_midi(path, notes, channel=0):
    """A one-track MIDI file at 60 bpm (one beat = one second, 480 ticks) holding (start_s, end_s, pitch) notes."""
    events = sorted([(s, "note_on", p) for s, _, p in notes] + [(e, "note_off", p) for _, e, p in notes],
                    key=lambda event: (event[0], event[1] == "note_on"))
    midi, track, now = mido.MidiFile(ticks_per_beat=480), mido.MidiTrack(), 0
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    for time_s, kind, pitch in events:
        tick = int(round(time_s * 480))
        track.append(mido.Message(kind, channel=channel, note=pitch, velocity=90, time=tick - now))
        now = tick
    midi.save(path)
    return path


# ---------------------------------------------------------------- rhythm

CLICK_TIMES = [0.1, 0.35, 0.6, 0.85, 1.3, 1.7]


@pytest.mark.parametrize("signal", ["clicks", "midi piece"])
def test_onset_strength_is_librosas(signal):
    y = clicks(CLICK_TIMES, 2.0) if signal == "clicks" else render(PIECE, 2.0)
    ours = objectives.onset_strength(batch(y), SR)[0].numpy()
    theirs = librosa.onset.onset_strength(y=y, sr=SR)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-3 * theirs.max()
    assert np.corrcoef(ours, theirs)[0, 1] > 0.9999


def test_click_track_scores_its_own_onsets_and_not_shifted_ones():
    x = batch(clicks(CLICK_TIMES, 2.0))
    on_time = objectives.Rhythm(CLICK_TIMES)
    late = objectives.Rhythm(np.asarray(CLICK_TIMES) + 0.12)  # beyond the ±50 ms window
    assert on_time.metric(x, SR)["onset_f1"] == 1.0
    assert late.metric(x, SR)["onset_f1"] == 0.0
    assert on_time(x, SR).item() < 0.05 < 0.5 < late(x, SR).item()
    detected = objectives.detect_onsets(objectives.rhythm_envelope(x, SR), SR)[0]
    lag = detected - CLICK_TIMES
    assert (lag >= 0).all() and (lag < 0.03).all()  # peaks trail each click by up to about a frame (23 ms)


def test_rhythm_from_audio_and_midi_find_the_played_onsets(tmp_path):
    y = render(PIECE, 2.0)
    x = batch(y)
    from_audio = objectives.Rhythm.from_audio(x, SR)
    # the attack at 0 s has no earlier frame to rise from (librosa's onset_detect misses it too)
    assert np.abs(from_audio.onsets_s - [s for s, _, _ in PIECE[1:]]).max() < 0.03
    assert from_audio.metric(x, SR)["onset_f1"] == 1.0
    drums = write_midi(tmp_path / "drums.mid", [(t, t + 0.05, 36) for t in CLICK_TIMES], channel=9)
    assert objectives.Rhythm.from_midi(drums).onsets_s.tolist() == pytest.approx(CLICK_TIMES)
    assert objectives.Rhythm.from_notes("C4:0.5 r:0.25 G4:0.25 A4:1").onsets_s.tolist() == [0.0, 0.75, 1.0]


def test_tempo_grid_accents_downbeats():
    times, accents = objectives.tempo_onsets(120, 2.0, beats_per_bar=3, subdivision=2, offset_s=0.1)
    assert times.tolist() == pytest.approx(0.1 + 0.25 * np.arange(8))
    assert accents.tolist() == pytest.approx([1, 0.36, 0.6, 0.36, 0.6, 0.36, 1, 0.36])
    objective = objectives.Rhythm.from_tempo(240)
    x = batch(clicks(0.25 * np.arange(8), 2.0))
    assert objective.metric(x, SR)["onset_f1"] >= 0.9  # the click at 0 s may be missed, within the clip
    assert objectives.Rhythm.from_tempo(160).metric(x, SR)["onset_f1"] < 0.7


def test_target_pulses_sit_one_frame_after_each_onset():
    pulses = objectives.onset_pulses(np.array([20 * 512 / SR]), np.array([0.8]), 100, SR, 512, 0.02).numpy()
    assert pulses.argmax() == 21 and pulses.max() == pytest.approx(0.8)
    assert pulses[20] == pytest.approx(0.8 * np.exp(-0.5 * (512 / SR / 0.02) ** 2))


# ---------------------------------------------------------------- brightness


@pytest.mark.parametrize("signal", ["sweep", "midi piece", "noise"])
def test_spectral_centroid_is_librosas(signal):
    rng = np.random.default_rng(4)
    y = {"sweep": lambda: 0.3 * librosa.chirp(fmin=100, fmax=8000, sr=SR, duration=2.0),
         "midi piece": lambda: render(PIECE, 2.0),
         "noise": lambda: 0.1 * rng.standard_normal(2 * SR)}[signal]().astype(np.float32)
    ours = objectives.spectral_centroid(batch(y), SR)[0].numpy()
    theirs = librosa.feature.spectral_centroid(y=y, sr=SR)[0]
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 0.05  # Hz
    assert np.corrcoef(ours, theirs)[0, 1] > 0.9999


def test_sine_centroid_is_its_frequency_and_sweeps_rise_in_semitones():
    for freq in (220.0, 1000.0, 4000.0):
        centroid = objectives.spectral_centroid(batch(sine(freq, samples=SR, sample_rate=SR, amplitude=0.3)), SR)
        assert abs(float(12 * np.log2(centroid[0, 5:-5].median() / freq))) < 0.5  # within half a semitone
    up = (0.3 * librosa.chirp(fmin=300, fmax=4800, sr=SR, duration=2.0)).astype(np.float32)
    brighter = objectives.Brightness.from_shape("brighter", 300, 4800)
    darker = objectives.Brightness.from_shape("darker", 300, 4800)
    assert brighter.metric(batch(up), SR)["centroid_mse_st2"] < 1.0 < 100 < darker(batch(up), SR).item()
    assert objectives.Brightness.from_audio(batch(up), SR)(batch(up), SR).item() < 1e-6


@pytest.mark.parametrize("shape", objectives.BRIGHTNESS_SHAPES)
def test_brightness_shapes_span_low_to_high(shape):
    curve = objectives.brightness_shape(shape, 500.0, 4000.0)
    assert curve.min().item() == pytest.approx(500.0) and curve.max().item() == pytest.approx(4000.0)
    ends = {"brighter": (500, 4000), "darker": (4000, 500), "swell": (500, 500), "dip": (4000, 4000),
            "pulse": (500, 500)}[shape]
    assert (curve[0].item(), curve[-1].item()) == pytest.approx(ends)
    assert curve[128].item() == pytest.approx({"swell": 4000, "dip": 500}.get(shape, curve[128].item()))


# ---------------------------------------------------------------- pitch


def test_crepe_weights_load_from_the_installed_package_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    objectives.crepe_network.cache_clear()
    network = objectives.crepe_network("tiny")
    assert sum(p.numel() for p in network.parameters()) < 600_000 and not network.training


def test_pitch_activations_are_torchcrepes():
    import torchcrepe

    audio = torch.from_numpy(render(PIECE[:4], 1.0, 16000))[None]  # (1, samples) at CREPE's own rate
    frames = next(torchcrepe.preprocess(audio, 16000, hop_length=160))
    theirs = torchcrepe.infer(frames, "tiny").T  # (360, frames)
    ours = objectives.pitch_activations(audio[None], 16000)[0]
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max() < 1e-4


def test_tones_at_known_pitches_score_full_accuracy_and_octaves_are_told_apart():
    x = batch(render(PIECE, 2.0))
    right = objectives.Pitch.from_notes(PIECE)
    octave_up = objectives.Pitch.from_notes([(s, e, p + 12) for s, e, p in PIECE])
    scores = right.metric(x, SR)
    assert scores["raw_pitch_accuracy"] >= 95.0 and scores["raw_chroma_accuracy"] >= 95.0
    wrong = octave_up.metric(x, SR)
    assert wrong["raw_pitch_accuracy"] <= 5.0 and wrong["raw_chroma_accuracy"] >= 95.0
    assert right(x, SR).item() < 0.5 * octave_up(x, SR).item()


def test_pitch_agrees_with_torchcrepe_predict_at_44k():
    import torchcrepe

    y = render(PIECE, 2.0, 44100)
    theirs = torchcrepe.predict(torch.from_numpy(y)[None], 44100, hop_length=441, model="tiny",
                                decoder=torchcrepe.decode.weighted_argmax)[0].numpy()  # resampy resampling
    activations = objectives.pitch_activations(batch(y), 44100)
    ours = objectives.cents_to_midi(objectives.decode_cents(activations)[0].numpy())
    assert ours.shape == theirs.shape
    within_50_cents = np.abs(ours - (69 + 12 * np.log2(theirs / 440.0))) < 0.5
    assert within_50_cents.mean() >= 0.97


def test_pitch_targets_from_midi_audio_and_fractions(tmp_path):
    path = write_midi(tmp_path / "piece.mid", PIECE + [(0.0, 2.0, 36)])  # a held C2 under the tune
    objective = objectives.Pitch.from_midi(path)
    targets = objectives.cents_to_midi(objective.targets(201).numpy())
    expected = np.array([PIECE[min(int(f * 0.01 / 0.25 + 1e-9), 7)][2] for f in range(201)], dtype=float)
    expected[-1] = np.nan  # the frame at 2.00 s is past every note
    np.testing.assert_allclose(targets, np.maximum(expected, 36), atol=1e-9)
    x = batch(render(PIECE, 2.0))
    assert objectives.Pitch.from_audio(x, SR).metric(x, SR)["raw_pitch_accuracy"] == 100.0
    assert objectives.Pitch([(0.0, 1.0, 69.5)]).notes[0].pitch == 69.5


# ---------------------------------------------------------------- all three


@pytest.mark.parametrize("make,message", [
    (lambda: objectives.Rhythm([0.1, -0.2]), "-0.2"),
    (lambda: objectives.Rhythm.from_tempo(0), "tempo 0"),
    (lambda: objectives.Rhythm([0.1, 0.2], accents=[1.0]), "accents"),
    (lambda: objectives.Brightness([1000.0, -5.0]), "-5.0"),
    (lambda: objectives.Brightness.from_shape("sparkle"), "sparkle"),
    (lambda: objectives.Brightness.from_shape("brighter", 4000, 500), "low_hz 4000"),
    (lambda: objectives.Pitch.from_notes("C0:0.5"), "C1-B6"),
    (lambda: objectives.Pitch([(0.0, 1.0, float("nan"))]), "nan"),
    (lambda: objectives.PitchConfig(capacity="medium"), "medium"),
    (lambda: objectives.Pitch.from_midi("/no/such.mid"), "/no/such.mid"),
])
def test_bad_targets_raise_one_line_naming_the_value(make, message):
    with pytest.raises(ValueError, match=None) as raised:
        make()
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_targets_outside_the_clip_are_refused_when_called():
    x = batch(render(PIECE[:2], 0.5))
    for objective in (objectives.Rhythm([3.0]), objectives.Pitch.from_notes([(3.0, 4.0, 60)])):
        with pytest.raises(ValueError, match="within the clip"):
            objective(x, SR)


def test_controls_combine_by_weight_with_the_others_and_have_gradients():
    x = batch(render(PIECE[:4], 1.0), clicks(CLICK_TIMES[:4], 1.0)).requires_grad_(True)
    rhythm, intensity = objectives.Rhythm(CLICK_TIMES[:4]), objectives.Intensity.from_shape("swell")
    brightness, pitch = objectives.Brightness.from_shape("dip"), objectives.Pitch.from_notes(PIECE[:4])
    combined = 0.5 * rhythm + intensity + 0.1 * brightness + pitch
    loss = combined(x, SR)
    assert loss.shape == (2,)
    parts = 0.5 * rhythm(x, SR) + intensity(x, SR) + 0.1 * brightness(x, SR) + pitch(x, SR)
    assert torch.allclose(loss, parts, rtol=1e-5)
    loss.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad.abs().sum(dim=-1) > 0).all()
    assert set(combined.metric(x, SR)) == {"onset_f1", "intensity_mse_db2", "centroid_mse_st2",
                                           "raw_pitch_accuracy", "raw_chroma_accuracy"}


# ---------------------------------------------------------------- tiny model

# 1 s of audio in a 22-latent window, 8 DDIM steps (tests/test_optimize.py's settings)
FAST = dict(seconds_total=1.0, sample_size=22 * 2048, steps=8, progress=False)
TINY_RUNS = {
    "rhythm": ("techno drums", lambda: objectives.Rhythm.from_tempo(240, offset_s=0.125), "onset_f1", 1.0),
    "brightness": ("solo piano", lambda: objectives.Brightness.from_shape("brighter", 500, 4000),
                   "centroid_mse_st2", None),
    "pitch": ("solo piano", lambda: objectives.Pitch.from_notes("C4:0.25 C5:0.25 G4:0.25 C3:0.25",
                                                                config=objectives.PitchConfig(hop_s=0.04)),
              "raw_pitch_accuracy", 100.0),
}


@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_30_iterations_halve_each_controls_error_on_the_tiny_model(tiny, name):
    """The error halves: the MSE itself, or 1 - F1 and 100 - accuracy for the scores (a stricter reading than
    doubling the score whenever the baseline scores above a third of the maximum)."""
    prompt, make, metric, best = TINY_RUNS[name]
    result = optimize(tiny, make(), prompt=prompt, iterations=30, seed=0, **FAST)
    before, after = result.metrics["before"][metric], result.metrics["after"][metric]
    error_before, error_after = (before, after) if best is None else (best - before, best - after)
    assert error_after <= 0.5 * error_before, f"{name}: {metric} {before} -> {after}"
