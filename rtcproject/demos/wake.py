"""A wake word: the voice assistant, answering only when addressed as "computer" (ReplyOnStopWords)."""

from __future__ import annotations

from rtcstream import ReplyOnStopWords

from .assistant import respond

# Say "computer", then the question, then pause. Every question needs "computer" again.
talk = ReplyOnStopWords(respond, stop_words=["computer"])  # loads no model until a session starts
