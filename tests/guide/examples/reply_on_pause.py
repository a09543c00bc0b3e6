"""User guide › Audio Streaming › Reply on Pause.

The guide's ``...`` is filled minimally: the "generated audio" is the user's
own utterance, in half-second chunks.
"""

import numpy as np

from rtcstream import ReplyOnPause


def response(audio: tuple[int, np.ndarray]):  # (1)
    """This function must yield audio frames"""
    sampling_rate, samples = audio  # the guide's "..."
    generated_audio = np.array_split(samples, max(1, 2 * samples.shape[-1] // sampling_rate), axis=1)
    for numpy_array in generated_audio:
        yield (sampling_rate, numpy_array, "mono")  # (2)


# The guide's audio.stream(fn=ReplyOnPause(response), ...): the settings entry names this.
handler = ReplyOnPause(response)
