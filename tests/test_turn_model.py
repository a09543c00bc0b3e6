"""Smart Turn v3.2: its features against transformers' values, the model file, and complete against cut-off speech."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from rtcstream.handlers import turn_model
from rtcstream.handlers.turn_model import SmartTurn, TurnModel, TurnModelUnavailable, fit_window, log_mel_features

from . import speech_real
from .speech_real import RATE

# transformers 5.25.0's WhisperFeatureExtractor(chunk_length=8) (its numpy path), called as Smart Turn calls it
# (padding="max_length", max_length=128000, truncation=True, do_normalize=True), on reference_signal()
# zero-padded at the front to 8 s: {(mel, frame): value} and the sums over the mels of some frames.
REFERENCE = {
    (5, 499): 0.666943,
    (9, 550): 1.474919,
    (10, 650): 1.664266,
    (20, 499): 0.494754,
    (41, 499): 0.045005,
    (5, 799): 0.832216,
    (20, 799): 0.642419,
    (60, 799): 0.231837,
    (60, 650): -0.246264,
}
REFERENCE_SUMS = {400: -19.70116, 550: -12.21413, 650: -8.78708, 799: 32.79526}


def reference_signal() -> np.ndarray:
    """3 s at 16 kHz: a 440 Hz tone, with a 3 kHz tone added after 1 s."""
    t = np.arange(3 * RATE) / RATE
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 3000 * t) * (t > 1.0)).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    try:
        return SmartTurn()
    except TurnModelUnavailable:
        speech_real.missing(f"Smart Turn v3.2's model file ({turn_model.INSTALL_HINT})")
        raise


def test_features_match_transformers():
    features = log_mel_features(reference_signal())
    assert features.shape == (80, 800) and features.dtype == np.float32
    for (mel, frame), value in REFERENCE.items():
        assert features[mel, frame] == pytest.approx(value, abs=2e-6), (mel, frame)
    for frame, total in REFERENCE_SUMS.items():
        assert features[:, frame].sum() == pytest.approx(total, abs=1e-3), frame


def test_audio_is_padded_at_the_front_and_only_the_last_8_s_count():
    clip = reference_signal()
    padded = fit_window(clip)
    assert len(padded) == 8 * RATE and np.array_equal(padded[-len(clip) :], clip) and not padded[: -len(clip)].any()
    # Leading silence within the 8 s changes nothing; audio older than 8 s is dropped.
    np.testing.assert_array_equal(
        log_mel_features(np.concatenate([np.zeros(RATE, np.float32), clip])), log_mel_features(clip)
    )
    noise = np.random.default_rng(1).standard_normal(5 * RATE).astype(np.float32)
    long = np.concatenate([noise, clip, clip, clip])  # 14 s: the noise is more than 8 s before the end
    np.testing.assert_array_equal(
        log_mel_features(long), log_mel_features(np.concatenate([clip, clip, clip])[-8 * RATE :])
    )


def test_the_model_file_is_found_without_importing_pipecat(model):
    path = turn_model.find_model()
    assert path.name == "smart-turn-v3.2-cpu.onnx" and path.stat().st_size > 8_000_000
    code = (
        "import sys; from rtcstream.handlers.turn_model import SmartTurn; SmartTurn(); print('pipecat' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_one_single_threaded_session_per_process(model):
    assert SmartTurn()._session is model._session is turn_model.load_session()
    options = model._session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert isinstance(model, TurnModel)


def test_predict_is_a_probability_and_thread_safe(model):
    clips = [reference_signal(), np.zeros(RATE, np.float32), speech_real.trim(reference_signal())[: RATE // 2]]
    alone = [model.predict(clip) for clip in clips]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(model.predict, clips * 2))
    assert all(0.0 <= p <= 1.0 for p in alone)
    np.testing.assert_allclose(together, alone * 2, atol=1e-6)


def test_complete_real_sentences_score_above_their_cut_off_first_parts(model):
    """On real speech (Asterisk prompts), a whole sentence is called complete more often than its first part.

    Measured: 11 of 12 whole sentences above 0.5, 2 of 12 first parts (bench/turn_model_accuracy.py).
    """
    fixtures = {f.name: f for f in speech_real.asterisk_fixtures(limit=12)}
    pairs = [(fixtures[name.removesuffix("~cut")], f) for name, f in fixtures.items() if f.group == "hesitation"]
    assert len(pairs) >= 10
    whole, first = [], []
    for complete, cut in pairs:
        whole.append(model.predict(complete.samples[: round((complete.pauses[0].start + 0.2) * RATE)]))
        first.append(model.predict(cut.samples[: round((cut.pauses[0].start + 0.2) * RATE)]))
    above = np.array(whole) > model.threshold
    assert above.mean() >= 0.75, whole
    assert (np.array(first) > model.threshold).mean() <= 0.4, first
    assert (np.array(whole) > np.array(first)).mean() >= 0.75
