"""A control group per sandbox: one CPU, a memory ceiling and a process count for all of it.

Resource limits (``setrlimit``) bound each process of a sandbox, but a submission can start many
processes: without a group, 64 busy processes would starve the students graded beside it of CPU,
and 64 processes each under the memory limit could exhaust the machine's memory. A cgroup bounds
the sandbox as a whole. Both cgroup layouts are supported: v1 (a hierarchy per controller, as on
this course's CI machines) and v2 (one unified hierarchy, where the grader's own group must let
it delegate the controllers). Where neither can be written (no root, no delegation), grading goes
on with per-process limits only, and the command says so once.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "dropout-grader"
CONTROLLERS = ("cpu", "memory", "pids")
PERIOD_US = 100_000


def _own_path(controller: str | None) -> str:
    """This process's cgroup path in the hierarchy of ``controller`` (None: the v2 one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return "/"
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller is None and names == "") or (controller in names.split(",")):
            return path or "/"
    return "/"


def _v1_dirs() -> dict[str, Path] | None:
    dirs = {}
    for controller in CONTROLLERS:
        mount = ROOT / controller
        if not (mount / "cgroup.procs").exists():
            return None
        dirs[controller] = mount / _own_path(controller).lstrip("/") / PREFIX
    return dirs


def _v2_dir() -> Path | None:
    if not (ROOT / "cgroup.controllers").exists():
        return None
    return ROOT / _own_path(None).lstrip("/") / PREFIX


@dataclass
class Cgroup:
    """The cgroup directories of one sandbox (one per controller in v1, one in v2)."""

    dirs: list[Path] = field(default_factory=list)
    version: int = 1

    def enter(self) -> None:
        """Move the calling process into the group (call it in the child before ``exec``)."""
        pid = str(os.getpid())
        for folder in self.dirs:
            (folder / "cgroup.procs").write_text(pid)

    def pids(self) -> set[int]:
        found = set()
        for folder in self.dirs:
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                continue
        return found

    def remove(self) -> None:
        """Kill whatever still runs in the group, then delete it."""
        for attempt in range(400):
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            for folder in list(self.dirs):
                try:
                    folder.rmdir()
                    self.dirs.remove(folder)
                except FileNotFoundError:
                    self.dirs.remove(folder)
                except OSError:
                    pass
            if not self.dirs:
                return
            time.sleep(0.002 if attempt < 100 else 0.02)  # its last processes are exiting


def _write(folder: Path, name: str, value: str) -> None:
    (folder / name).write_text(value)


def _make_v1(dirs: dict[str, Path], name: str, memory: int, processes: int, cpus: float) -> Cgroup:
    group = Cgroup(version=1)
    try:
        for controller, parent in dirs.items():
            parent.mkdir(exist_ok=True)
            folder = parent / name
            folder.mkdir()
            group.dirs.append(folder)
            if controller == "cpu":
                _write(folder, "cpu.cfs_period_us", str(PERIOD_US))
                _write(folder, "cpu.cfs_quota_us", str(int(PERIOD_US * cpus)))
            elif controller == "memory":
                _write(folder, "memory.limit_in_bytes", str(memory))
                if (folder / "memory.memsw.limit_in_bytes").exists():
                    _write(folder, "memory.memsw.limit_in_bytes", str(memory))
            else:
                _write(folder, "pids.max", str(processes))
    except OSError:
        group.remove()
        raise
    return group


def _make_v2(parent: Path, name: str, memory: int, processes: int, cpus: float) -> Cgroup:
    parent.mkdir(exist_ok=True)
    wanted = " ".join(f"+{c}" for c in CONTROLLERS)
    _write(parent, "cgroup.subtree_control", wanted)
    folder = parent / name
    folder.mkdir()
    group = Cgroup([folder], version=2)
    try:
        _write(folder, "cpu.max", f"{int(PERIOD_US * cpus)} {PERIOD_US}")
        _write(folder, "memory.max", str(memory))
        if (folder / "memory.swap.max").exists():
            _write(folder, "memory.swap.max", "0")
        _write(folder, "pids.max", str(processes))
    except OSError:
        group.remove()
        raise
    return group


def create(name: str, *, memory: int, processes: int, cpus: float = 1.0) -> Cgroup | None:
    """A new group for one sandbox, or None where cgroups cannot be written here."""
    try:
        dirs = _v1_dirs()
        if dirs is not None:
            return _make_v1(dirs, name, memory, processes, cpus)
        parent = _v2_dir()
        if parent is not None:
            return _make_v2(parent, name, memory, processes, cpus)
    except OSError:
        return None
    return None


def available() -> bool:
    """Whether a sandbox can get its own cgroup on this machine."""
    group = create(f"probe-{os.getpid()}", memory=2**30, processes=64)
    if group is None:
        return False
    group.remove()
    return True


def remove_all(prefix: str) -> None:
    """Remove every sandbox group whose name starts with ``prefix`` (a killed grading process's
    leftovers), killing what still runs in them."""
    parents = []
    dirs = _v1_dirs()
    if dirs is not None:
        parents = list(dirs.values())
    elif (v2 := _v2_dir()) is not None:
        parents = [v2]
    for parent in parents:
        try:
            children = [c for c in parent.iterdir() if c.is_dir() and c.name.startswith(prefix)]
        except OSError:
            continue
        for child in children:
            Cgroup([child]).remove()
