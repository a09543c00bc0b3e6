"""User guide › Audio Streaming › Server-To-Client Only.

Complete in the guide. ``audio_file.wav`` is opened relative to the server's
working directory, where the test writes it (tests/guide/conftest.py).
"""

import numpy as np
from pydub import AudioSegment


def generation(num_steps):
    for _ in range(num_steps):
        segment = AudioSegment.from_file("audio_file.wav")
        array = np.array(segment.get_array_of_samples()).reshape(1, -1)
        yield (segment.frame_rate, array)
