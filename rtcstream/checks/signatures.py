"""Each handler can take what its mode passes it: a video function a frame, ReplyOnPause's fn an utterance.

Page inputs come after those arguments, and how many a page sends is only known
from its template, so a function that also needs inputs is accepted; one that
cannot take the mode's own argument (``def edges():``) fails every call, and is
reported here instead of on the first frame.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from django.core import checks

from rtcstream.endpoints import registry
from rtcstream.execution.calls import describe
from rtcstream.handlers.reply_on_pause import ReplyOnPause
from rtcstream.handlers.reply_on_stopwords import ReplyOnStopWords


def takes(fn: Callable[..., Any], count: int, more: bool) -> bool:
    """Whether ``fn`` can be called with ``count`` positional arguments, or with more if ``more`` (page inputs).

    True when Python cannot tell (builtins without a signature).
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    parameters = signature.parameters.values()
    if more:
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required_keywords = [p for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in parameters)
        return (has_varargs or len(positional) >= count) and not required_keywords
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


def signature_of(fn: Any) -> str:
    """``module.qualname(signature)`` of ``fn``, as a check message shows what was given."""
    try:
        return f"{describe(fn)}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return describe(fn)


def vad_problem(handler: Any) -> str | None:
    """Why ``handler``'s own voice activity detector cannot load, if it is a ReplyOnPause whose VAD cannot.

    It is loaded here, once per process as its first session would: an onnxruntime that is installed but
    cannot load is found too, and on daphne (the checks run on the first request or socket) the first voice session
    does not stall the event loop of every other session while onnxruntime imports (~150 ms holding the GIL).
    """
    if not isinstance(handler, ReplyOnPause) or handler.model is not None:
        return None
    from rtcstream.handlers.vad import VADUnavailable, load_session

    try:
        load_session()
    except VADUnavailable as exc:
        return str(exc)
    except Exception as exc:  # onnxruntime installed but broken, a damaged model file: whatever it raises
        return f"{type(exc).__name__}: {exc}"
    return None


def stop_words_problem(handler: Any) -> str | None:
    """Why a ReplyOnStopWords cannot spot its stop words (a word PocketSphinx's dictionary lacks), if it cannot."""
    if not isinstance(handler, ReplyOnStopWords):
        return None
    try:
        handler.check_stop_words()
    except ValueError as exc:
        return str(exc)
    return None


@checks.register("rtcstream")
def check_handler_signatures(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in registry.handler_names():
        try:
            spec = registry.get_handler(name)
        except registry.RegistryError:
            continue  # reported by check_registry
        if spec is None:
            continue
        problem = vad_problem(spec.handler)
        if problem is not None:
            errors.append(
                checks.Error(
                    f"RTCSTREAM['HANDLERS'][{name!r}] = {spec.path!r} is a ReplyOnPause whose voice activity "
                    f"detector cannot load: {problem}",
                    hint="A missing package is named above with the command that installs it; an onnxruntime "
                    "that is installed but cannot load wants reinstalling for this machine (pip install "
                    "--force-reinstall onnxruntime). Or pass your own VAD: ReplyOnPause(fn, model=...).",
                    id="rtcstream.E008",
                )
            )
        problem = stop_words_problem(spec.handler)
        if problem is not None:
            errors.append(
                checks.Error(
                    f"RTCSTREAM['HANDLERS'][{name!r}] = {spec.path!r} is a ReplyOnStopWords that cannot spot its "
                    f"stop words: {problem}",
                    hint="Change stop_words=[...], or give the phonemes of the missing words in pronunciations={...}.",
                    id="rtcstream.E006",
                )
            )
        for call in spec.kind.calls(spec.handler):
            if not takes(call.fn, call.count, call.inputs):
                errors.append(
                    checks.Error(
                        f"RTCSTREAM['HANDLERS'][{name!r}] = {spec.path!r}: {signature_of(call.fn)} cannot be called "
                        f"the way its mode ({spec.mode} {spec.modality}) calls it.",
                        hint=f"rtcstream calls {call.expected}.",
                        id="rtcstream.E004",
                    )
                )
    return errors
