"""A Dask cluster on this machine for tests and benchmarks: a ``dask scheduler`` and workers
started by ``python -m autograder worker``, as real processes talking TCP on localhost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from autograder.content import REPO

#: Deaths while holding a task before the scheduler gives the task up (Dask's default is 3;
#: 1 makes a test of a student who keeps killing workers quick).
ALLOWED_FAILURES = 1


def _spawn(command: list[str], log: Path, cwd: Path = REPO, **env) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=os.environ | env,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


class Cluster:
    """A scheduler and its worker processes, stopped together."""

    def __init__(self, folder: Path, allowed_failures: int = ALLOWED_FAILURES):
        self.folder, self.processes = folder, []
        folder.mkdir(parents=True, exist_ok=True)
        info = folder / "scheduler.json"
        self.processes.append(
            _spawn(
                [
                    str(Path(sys.executable).with_name("dask")),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(info),
                ],
                folder / "scheduler.log",
                DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=str(allowed_failures),
            )  # fmt: skip
        )
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, (folder / "scheduler.log").read_text()
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole, but give it a moment
        self.address = json.loads(info.read_text())["address"]

    def add_worker(self, name: str, course: Path = REPO) -> None:
        self.processes.append(
            _spawn(
                [sys.executable, "-m", "autograder", "worker", self.address],
                self.folder / f"{name}.log",
                cwd=course,
            )
        )

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="30s", set_as_default=False)

    def wait_for_workers(self, n: int) -> None:
        with self.client() as client:
            client.wait_for_workers(n, timeout=120)

    def stop(self) -> None:
        for process in reversed(self.processes):
            _stop(process)
