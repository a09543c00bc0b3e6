"""Hold processes to a share of one core with a cgroup CPU quota, for the capacity bench.

On a machine with few cores, "how many sessions do two workers hold against one" is
bounded by the machine, not by the workers: the load generator needs a core of its own
by the time one worker is at its limit. Giving each worker the same share of a core
(a CFS bandwidth quota in its own cgroup) measures how the workers scale when each has
its own CPU, as on a host with a core per worker, at a size the machine can drive.

cgroup v2 (``cpu.max``) and v1's cpu controller (``cpu.cfs_quota_us``) are supported;
creating a cgroup needs root. The period is short (10 ms), so that a throttled process
waits at most the rest of one period, well under a 20 ms audio frame.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

PERIOD_US = 10_000
ROOT = Path("/sys/fs/cgroup")


class QuotaUnavailable(RuntimeError):
    """No writable cgroup hierarchy with a cpu controller here."""


def _hierarchy() -> tuple[Path, bool]:
    """The directory new cgroups go in, and whether it is cgroup v2."""
    controllers = ROOT / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return ROOT, True
    if (ROOT / "cpu" / "cpu.cfs_quota_us").exists():
        return ROOT / "cpu", False
    raise QuotaUnavailable("no cgroup cpu controller at /sys/fs/cgroup (v2 cpu.max or v1 cpu.cfs_quota_us)")


class CpuQuota:
    """A cgroup whose processes together get at most ``share`` of one core, for the ``with`` block.

    Processes still in it when the block ends go back to the parent cgroup, so it can be left in
    any order with the processes it holds.
    """

    def __init__(self, name: str, share: float) -> None:
        cores = os.cpu_count() or 1
        if not 0 < share <= cores:
            raise ValueError(f"a CPU share must be above 0 and at most the {cores} cores here, not {share}")
        self.share = share
        self.parent, self.v2 = _hierarchy()
        self.path = self.parent / f"rtcstream-bench-{os.getpid()}-{name}"

    def __enter__(self) -> CpuQuota:
        quota = max(1000, round(self.share * PERIOD_US))
        try:
            if self.v2:
                with contextlib.suppress(OSError):  # enabled already, or not ours to enable: cpu.max says
                    (self.parent / "cgroup.subtree_control").write_text("+cpu")
                self.path.mkdir()
                (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                self.path.mkdir()
                (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota))
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
                (self.parent / "cgroup.procs").write_text(pid)
        self.path.rmdir()
