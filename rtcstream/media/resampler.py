"""PyAV's ``AudioResampler`` as rtcstream makes every one: with one thread, the caller's.

A resampler is an FFmpeg filter graph, and by default FFmpeg gives each graph a pool
of threads (two on a two-core machine) that lives as long as the graph. Since PyAV
18.1.1 a graph and its filters hold each other (PyAV 5e34cbaf: "the Graph<->context
cycle is collected by gc"), so a dropped resampler, and its threads, live until
Python's cyclic collector runs, which in a server can be hundreds of sessions later:
measured on 2026-12-07, a daphne with PyAV 18.1.1 had 116 threads after 440 short
sessions, 102 of them FFmpeg's, where PyAV 18.1.0 had 22. Audio resampling
(``aresample``) uses none of them. What still waits for the collector is each dropped
graph's memory (about 0.1 MB).
"""

from __future__ import annotations

import av


def audio_resampler(format: str, layout: str, rate: int) -> av.AudioResampler:
    """An ``av.AudioResampler`` to ``format``, ``layout`` and ``rate`` that runs in its caller's thread."""
    return av.AudioResampler(format=format, layout=layout, rate=rate, threads=1)
