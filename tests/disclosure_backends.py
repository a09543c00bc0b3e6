"""An admission backend whose database fails, for tests/test_disclosure.py."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError

from rtcstream.admission.backends import InProcessAdmission

SECRET = "no such table: payroll_secret_7f3a"


class BrokenDatabaseAdmission(InProcessAdmission):
    async def acquire(self, endpoint: Any, session_id: str, info: dict[str, Any]) -> None:
        raise OperationalError(SECRET)
