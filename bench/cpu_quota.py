"""Hold processes to a share of one core with a cgroup CPU quota, for the capacity bench.

On a machine with few cores, "how many sessions do two workers hold against one" is
bounded by the machine, not by the workers: the load generator needs a core of its own
by the time one worker is at its limit. Giving each worker the same share of a core
(a CFS bandwidth quota in its own cgroup) is meant to show how the workers scale when
each has its own CPU, at a size the machine can drive.

It uses the cgroup v1 cpu controller these machines mount at /sys/fs/cgroup/cpu
(creating a cgroup needs root). The period is short (10 ms), so that a throttled
process waits at most the rest of one period, well under a 20 ms audio frame.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

CONTROLLER = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 10_000
MIN_QUOTA_US = 1_000  # the kernel's least quota


class QuotaUnavailable(RuntimeError):
    """No writable cgroup v1 cpu controller here."""


class CpuQuota:
    """A cgroup whose processes together get at most ``share`` of one core, for the ``with`` block.

    Processes still in it when the block ends go back to the parent cgroup, so it can be left in
    any order with the processes it holds.
    """

    def __init__(self, name: str, share: float) -> None:
        cores = os.cpu_count() or 1
        if not 0 < share <= cores:
            raise ValueError(f"a CPU share must be above 0 and at most the {cores} cores here, not {share}")
        if not (CONTROLLER / "cpu.cfs_quota_us").exists():
            raise QuotaUnavailable(f"no cgroup v1 cpu controller at {CONTROLLER}")
        self.quota_us = max(MIN_QUOTA_US, round(share * PERIOD_US))
        self.path = CONTROLLER / f"rtcstream-bench-{os.getpid()}-{name}"

    def __enter__(self) -> CpuQuota:
        try:
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        except OSError as error:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            raise QuotaUnavailable(
                f"cannot set a CPU quota in {self.path}: {error} (the bench must run as root)"
            ) from error
        return self

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads, and the children it starts later) into the cgroup."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # it may have exited meanwhile
                (CONTROLLER / "cgroup.procs").write_text(pid)
        self.path.rmdir()
