"""A ReplyOnStopWords made while pocketsphinx is hidden, for tests/test_checks.py: making one loads nothing."""

from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords


def reply(audio):
    yield audio


handler = ReplyOnStopWords(reply, ["computer"])
