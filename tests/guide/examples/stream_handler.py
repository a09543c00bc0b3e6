"""User guide › Audio Streaming › Stream Handler (nothing to fill: the guide's code is complete)."""

from queue import Queue

import numpy as np

from rtcstream import StreamHandler


class EchoHandler(StreamHandler):
    def __init__(self) -> None:
        super().__init__()
        self.queue = Queue()

    def receive(self, frame: tuple[int, np.ndarray]) -> None:  # (1)
        self.queue.put(frame)

    def emit(self) -> None:  # (2)
        return self.queue.get()

    def copy(self) -> StreamHandler:
        return EchoHandler()
