"""`pip install .` ships the reusable app alone, with its templates, static files and migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_app_and_its_assets_and_nothing_of_the_demo(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rtcstream-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "rtcstream/__init__.py",
        "rtcstream/static/rtcstream/rtcstream.js",
        "rtcstream/static/rtcstream/controller.js",
        "rtcstream/static/rtcstream/rtcstream.css",
        "rtcstream/templates/rtcstream/widget.html",
        "rtcstream/templatetags/rtcstream.py",
        "rtcstream/migrations/0001_initial.py",
        "rtcstream/client/__init__.py",
    ):
        assert expected in names, expected
    assert not [n for n in names if n.startswith(("rtcproject/", "tests/", "bench/"))]


def test_the_vad_is_imported_only_when_a_voice_session_needs_it():
    """Resolving every entry of the demo's registry, ReplyOnPause ones included, imports neither
    the VAD module nor onnxruntime; building a ReplyOnPause session's turn detector does."""
    script = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "rtcproject.settings"
import django
django.setup()
import rtcproject.asgi
from rtcstream.endpoints import registry
for name in registry.handler_names():
    registry.get_handler(name)
print("resolved", "rtcstream.handlers.vad" in sys.modules, "onnxruntime" in sys.modules)
registry.get_handler("talk-echo").handler.copy().new_detector(48000)
print("detector", "rtcstream.handlers.vad" in sys.modules, "onnxruntime" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["resolved False False", "detector True True"], result.stdout
