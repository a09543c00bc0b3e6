"""Handlers with signatures their modes cannot call, for tests/test_checks.py."""

from __future__ import annotations

from rtcstream import StreamHandler
from rtcstream.handlers.reply_on_pause import ReplyOnPause


def no_frame():
    """A video function that takes no frame."""


def frame_and_threshold(frame, threshold):
    """A video function that needs one page input: fine, the page may send it."""
    return frame


def no_audio():
    yield from ()


reply_without_audio = ReplyOnPause(no_audio)


class ReceiveWithoutFrame(StreamHandler):
    def receive(self):
        pass

    def emit(self):
        return None

    def copy(self):
        return ReceiveWithoutFrame()


def wake_reply(audio):
    yield audio


def _stop_words_handler(words):
    from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords

    return ReplyOnStopWords(wake_reply, words)


unknown_stop_word = _stop_words_handler(["hey zorblax"])


def say_it_back(audio):
    yield audio


reply_with_smart_turn = ReplyOnPause(say_it_back, turn_model="smart-turn")
reply_with_the_vad_alone = ReplyOnPause(say_it_back, turn_model="none")
