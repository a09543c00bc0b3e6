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
