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
import secrets
import shutil
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.content import REPO
from autograder.errors import CourseError
from autograder.host import cgroups
from dropout_course.student_kit import KIT_MODULES

#: What runs inside the sandbox, copied in on its own.
GUEST = Path(__file__).resolve().parents[1] / "guest"
#: Files the sandbox gets from the grader: the program it runs and its codec.
HARNESS_FILES = ("harness.py", "wire.py")
GRADER_DIR = "/opt/grader"
HOME = "/home/student"
#: Each sandbox runs as a user of its own, drawn from [FIRST_UID, LAST_UID): two sandboxes never
#: share a user, so nothing the kernel keeps per user (RLIMIT_NPROC counts, keyrings) couples
#: two students, not even two graded one after the other by the same worker.
FIRST_UID, LAST_UID = 2**30, 2**31 - 2


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
    """A new unprivileged user for one sandbox (when the grader runs as root)."""
    return FIRST_UID + secrets.randbelow(LAST_UID - FIRST_UID)


#: Linux system calls of the kernel's key management, by architecture (add_key, request_key,
#: keyctl): keys live per user and outlive a process, so they could carry data from one student's
#: sandbox to another's. A sandbox may not call them (they fail with EPERM).
_KEY_CALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}


def seccomp_filter() -> bytes | None:
    """A seccomp program (an array of ``struct sock_filter``) for bubblewrap's ``--seccomp``
    that refuses the key management calls (and, on x86_64, the x32 ABI's calls, through which
    they could be reached under other numbers); None on an architecture not listed."""
    known = _KEY_CALLS.get(os.uname().machine)
    if known is None:
        return None
    arch, calls = known
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, refuse = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    refuse_at = 5 + len(calls) + 1  # the index of the last instruction
    program = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, allow), (ld, 0, 0, 0),
               (jge, refuse_at - 5, 0, 0x40000000)]  # fmt: skip
    for index, number in enumerate(calls):
        program.append((jeq, refuse_at - (5 + index) - 1, 0, number))
    program += [(ret, 0, 0, allow), (ret, 0, 0, refuse)]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def _readable_roots() -> list[Path]:
    """Folders the sandboxed Python needs: its installation and the course's venv."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    executable = Path(sys.executable).resolve()
    roots.add(executable.parent.parent)
    return sorted(roots)


def public_files() -> list[Path]:
    """What a sandbox sees of ``dropout_course``: what the student kit holds (the checks the
    notebooks call, the data sets), never the chapters' experiments, training loop or widgets,
    some of which implement what the exercises ask."""
    package = REPO / "dropout_course"
    return [path for pattern in KIT_MODULES for path in sorted(package.glob(pattern))]


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
    for root in [*_readable_roots(), *public_files()]:
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
    filter_fd = _seccomp_pipe() if use_sandbox else None
    if use_sandbox:
        cmd = _with_env(cmd, env_limits)
        if filter_fd is not None:
            cut = cmd.index("--")
            cmd = [*cmd[:cut], "--seccomp", str(filter_fd), *cmd[cut:]]
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
            pass_fds=() if filter_fd is None else (filter_fd,),
            preexec_fn=apply_limits,  # the child is single-threaded here
        )
    except BaseException:
        if group is not None:
            group.remove()
        raise
    finally:
        if filter_fd is not None:
            os.close(filter_fd)
    process.cgroup = group
    return process


def _seccomp_pipe() -> int | None:
    """The read end of a pipe holding :func:`seccomp_filter`, for bubblewrap to load."""
    program = seccomp_filter()
    if program is None:
        return None
    read, write = os.pipe()
    os.write(write, program)
    os.close(write)
    return read


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
