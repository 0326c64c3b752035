"""Start a student's code in a bubblewrap sandbox with resource limits.

The sandbox sees the operating system read-only, the Python environment and the public
``dropout_course`` package read-only, and one writable folder: its home, a size-limited tmpfs
of its own (so nothing it writes reaches the grader's disk). It has no network, its own process
and IPC namespaces, and (when the grader runs as root) runs as an unprivileged user of its own,
in a cgroup of its own (one CPU, a memory ceiling, a process count: ``cgroups.py``), so that one
submission cannot take CPU, memory or processes from the students graded beside it. The
instructor's solutions, the reference implementations, the hidden tests and the gradebook are
simply not in its file system.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.content import REPO
from autograder.errors import CourseError
from autograder.host import cgroups

#: What runs inside the sandbox, copied in on its own.
GUEST = Path(__file__).resolve().parents[1] / "guest"
#: Files the sandbox gets from the grader: the program it runs and its codec.
HARNESS_FILES = ("harness.py", "wire.py")
GRADER_DIR = "/opt/grader"
HOME = "/home/student"
#: Sandboxes run as uid FIRST_UID + the grading process's pid, so that two sandboxes graded at
#: once never share a user (a per-user limit such as RLIMIT_NPROC cannot couple them).
FIRST_UID = 1_000_000


@dataclass(frozen=True)
class Limits:
    """What one student's notebook may use. Times in seconds, sizes in bytes."""

    cell_seconds: float = 60.0
    notebook_seconds: float = 600.0
    cpu_seconds: int = 600
    memory_bytes: int = 4 * 1024**3
    output_chars: int = 1_000_000
    file_bytes: int = 64 * 1024**2
    home_bytes: int = 256 * 1024**2
    processes: int = 256


def sandbox_uid() -> int:
    """The unprivileged user this grading process's sandboxes run as (when run as root)."""
    return FIRST_UID + os.getpid()


def _readable_roots() -> list[Path]:
    """Folders the sandboxed Python needs: its installation and the course's venv."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    executable = Path(sys.executable).resolve()
    roots.add(executable.parent.parent)
    return sorted(roots)


def _parents(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if str(p) != "/"]


def command(
    workdir: Path, use_sandbox: bool = True, home_bytes: int = Limits.home_bytes
) -> list[str]:
    """The command line that runs the harness for the student whose folder is ``workdir``
    (with the sandbox, ``workdir`` is not used: the home is a tmpfs of ``home_bytes``)."""
    python = Path(sys.prefix) / "bin" / "python"
    if not use_sandbox:
        return [str(python), "-I", str(workdir / ".grader" / "harness.py")]
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise CourseError(
            "bubblewrap is not installed, so student code cannot be sandboxed: install it "
            "(apt-get install bubblewrap), or pass --no-sandbox on a machine you trust."
        )
    args = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
            "--proc", "/proc", "--dev", "/dev",
            # /tmp exists but only its owner (root) may write: TMPDIR is the student's own.
            "--perms", "0755", "--dir", "/tmp"]  # fmt: skip
    for name in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / name
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    made: set[Path] = set()
    public = [REPO / "dropout_course"]
    for root in [*_readable_roots(), *public]:
        for parent in _parents(root):
            if parent not in made and not parent.is_symlink():
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(root), str(root)]
    args += ["--perms", "0755", "--dir", str(Path(HOME).parent)]
    args += ["--perms", "01777", "--size", str(home_bytes), "--tmpfs", HOME, "--chdir", HOME]
    args += ["--perms", "0755", "--dir", str(Path(GRADER_DIR).parent)]
    args += ["--perms", "0755", "--dir", GRADER_DIR]
    for name in HARNESS_FILES:
        args += ["--ro-bind", str(GUEST / name), f"{GRADER_DIR}/{name}"]
    args += ["--clearenv"]
    for key, value in _environment(HOME).items():
        args += ["--setenv", key, value]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise CourseError("setpriv is missing (apt-get install util-linux)")
        uid = sandbox_uid()
        args += ["--", setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--no-new-privs"]  # fmt: skip
    else:
        args += ["--"]
    # -I: ignore PYTHON* variables and the user's site; the harness's folder comes first.
    return [*args, str(python), "-I", f"{GRADER_DIR}/harness.py"]


def preflight(scratch: Path) -> None:
    """Start one empty sandbox, so that a machine that cannot sandbox fails before grading
    (with bubblewrap's own reason) rather than as a grading error on every notebook."""
    home = scratch / "preflight"
    home.mkdir(parents=True, exist_ok=True)
    prepare(home, True)
    cmd = command(home, True)
    probe = cmd[: cmd.index("--") + 1] + ["/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CourseError(f"bubblewrap could not be started: {error}") from None
    if done.returncode != 0:
        raise CourseError(
            "bubblewrap cannot create a sandbox on this machine "
            f"({done.stderr.strip()[:300]}); it needs root or unprivileged user namespaces. "
            "Run the grader where it can, or pass --no-sandbox on a machine you trust."
        )


def _environment(home: str) -> dict[str, str]:
    return {
        "HOME": home,
        "TMPDIR": f"{home}/.tmp",
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.tmp",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def prepare(workdir: Path, use_sandbox: bool) -> None:
    """Without the sandbox, make ``workdir`` the student's home and put the harness in it."""
    if use_sandbox:
        return
    (workdir / ".tmp").mkdir(parents=True, exist_ok=True)
    grader = workdir / ".grader"
    grader.mkdir(exist_ok=True)
    for name in HARNESS_FILES:
        shutil.copyfile(GUEST / name, grader / name)


_serial = iter(range(1, 2**62))


def start(workdir: Path, limits: Limits, use_sandbox: bool = True) -> subprocess.Popen:
    """Start the harness for ``workdir``; its stdin/stdout are the protocol pipes. Stop it
    with :func:`stop`, which also removes its cgroup."""
    prepare(workdir, use_sandbox)
    env = _environment(str(workdir)) if not use_sandbox else None
    env_limits = {"GRADER_OUTPUT_LIMIT": str(limits.output_chars)}
    group = None
    if use_sandbox:
        group = cgroups.create(
            f"{os.getpid()}-{next(_serial)}", memory=limits.memory_bytes,
            processes=limits.processes,
        )  # fmt: skip

    def apply_limits() -> None:  # runs in the child, before bwrap starts
        if group is not None:
            group.enter()
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    cmd = command(workdir, use_sandbox, limits.home_bytes)
    if use_sandbox:
        cmd = _with_env(cmd, env_limits)
    else:
        env.update(env_limits)
    try:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,  # only start-up errors: the harness moves fd 2 to a file
            cwd=workdir,
            env=env,
            preexec_fn=apply_limits,  # the child is single-threaded here
        )
    except BaseException:
        if group is not None:
            group.remove()
        raise
    process.cgroup = group
    return process


def stop(process: subprocess.Popen) -> None:
    """Kill the sandbox's processes (its session, then anything left in its cgroup) and wait."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass  # in uninterruptible sleep: its cgroup is emptied below
    group = getattr(process, "cgroup", None)
    if group is not None:
        group.remove()
        process.cgroup = None


def _with_env(cmd: list[str], extra: dict[str, str]) -> list[str]:
    cut = cmd.index("--")
    added = [item for key, value in extra.items() for item in ("--setenv", key, value)]
    return cmd[:cut] + added + cmd[cut:]
