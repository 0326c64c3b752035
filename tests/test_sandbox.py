"""The sandbox's guarantees, asked from inside one: no network, no grader code, a user of its
own, a home that is a small tmpfs (nothing reaches the grader's disk), and a cgroup that holds
all of its processes to one CPU, its memory limit and its process count."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.guest import wire
from autograder.host import cgroups, sandbox
from autograder.host.remote import Session

PROBE_SECONDS = 60


@pytest.fixture
def run_in_sandbox(tmp_path):
    """Run cells in a fresh sandbox; return the values of the names asked for."""
    sessions = []

    def run(cells: list[str], names: list[str], limits: sandbox.Limits | None = None):
        limits = limits or sandbox.Limits(cell_seconds=PROBE_SECONDS)
        session = Session(sandbox.start(tmp_path, limits), PROBE_SECONDS)
        sessions.append(session)
        for source in cells:
            reply = session.request({"op": "cell", "source": source})
            assert reply["value"]["error"] is None, reply["value"]["error"]
        return {
            name: session.decode(session.request({"op": "lookup", "name": name})["value"])
            for name in names
        }

    run.sessions = sessions
    yield run
    for session in sessions:
        session.close()


def _last_session(run) -> Session:
    return run.sessions[-1]


def test_no_network_no_grader_code_and_a_user_of_its_own(run_in_sandbox, tmp_path):
    probe = (
        "import os, socket, importlib.util\n"
        "uid = os.getuid()\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2); net = True\n"
        "except OSError:\n    net = False\n"
        "grader = importlib.util.find_spec('autograder') is not None\n"
        "open('written-here.txt', 'w').write('x')\n"
        "home = os.getcwd()\n"
    )
    found = run_in_sandbox([probe], ["uid", "net", "grader", "home"])
    assert found["net"] is False
    assert found["grader"] is False
    assert found["home"] == sandbox.HOME
    assert not list(tmp_path.rglob("written-here.txt"))  # the home is not the grader's disk
    if os.geteuid() == 0:
        assert sandbox.FIRST_UID <= found["uid"] < sandbox.LAST_UID
        again = run_in_sandbox(["import os\nuid = os.getuid()\n"], ["uid"])
        assert again["uid"] != found["uid"]  # a user of its own: no two sandboxes share one


def test_kernel_keys_cannot_carry_data_between_sandboxes(run_in_sandbox):
    """add_key/keyctl are refused: keys live per user and outlive the process."""
    probe = (
        "import ctypes, ctypes.util, errno\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)\n"
        "SYS_add_key = {'x86_64': 248, 'aarch64': 217}[__import__('os').uname().machine]\n"
        "ret = libc.syscall(SYS_add_key, b'user', b'note', b'secret', 6, -4)\n"
        "refused = ret == -1 and ctypes.get_errno() == errno.EPERM\n"
    )
    assert run_in_sandbox([probe], ["refused"])["refused"] is True


def test_the_home_is_small(run_in_sandbox):
    probe = (
        "import os\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(64):\n"
        "            f.write(b'x' * 2**20)\n"
        "    full = False\n"
        "except OSError:\n"
        "    full = True\n"
    )
    limits = sandbox.Limits(cell_seconds=PROBE_SECONDS, home_bytes=16 * 2**20)
    assert run_in_sandbox([probe], ["full"], limits)["full"] is True


def test_cgroups_can_be_made_here():
    """The isolation below needs them: run the grader (and the tests) as root, or delegate the
    cpu, memory and pids controllers to its user."""
    assert cgroups.available(), "cgroups cannot be created on this machine"


def test_all_of_a_sandboxs_processes_share_one_cpu(run_in_sandbox):
    probe = (
        "import multiprocessing, os, time\n"
        "def spin(seconds):\n"
        "    end = time.monotonic() + seconds\n"
        "    while time.monotonic() < end:\n"
        "        pass\n"
        "started = time.monotonic()\n"
        "workers = [multiprocessing.Process(target=spin, args=(2.0,)) for _ in range(4)]\n"
        "for w in workers: w.start()\n"
        "for w in workers: w.join()\n"
        "wall = time.monotonic() - started\n"
        "cpu = os.times().children_user + os.times().children_system\n"
    )
    found = run_in_sandbox([probe], ["wall", "cpu"])
    # Four busy processes for 2 s would use 4 CPU-seconds on a machine with the cores for it;
    # held to one CPU, they use at most about one CPU-second per second of wall time.
    assert found["cpu"] <= 1.25 * found["wall"], found


def test_memory_is_limited_for_all_of_a_sandboxs_processes_together(run_in_sandbox):
    probe = (
        "import os, time\n"
        "children = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = bytearray(400 * 2**20)\n"
        "        block[::4096] = b'x' * len(block[::4096])\n"
        "        time.sleep(5)\n"
        "        os._exit(0)\n"
        "    children.append(pid)\n"
        "codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]\n"
    )
    # Each process stays under the per-process limit; together they pass the sandbox's.
    limits = sandbox.Limits(cell_seconds=PROBE_SECONDS, memory_bytes=900 * 2**20)
    codes = run_in_sandbox([probe], ["codes"], limits)["codes"]
    assert any(code == -9 for code in codes), codes


def test_the_number_of_processes_is_limited(run_in_sandbox):
    probe = (
        "import os, time\n"
        "children, refused = [], False\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        refused = True\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    children.append(pid)\n"
        "for pid in children:\n"
        "    os.kill(pid, 9)\n"
    )
    limits = sandbox.Limits(cell_seconds=PROBE_SECONDS, processes=32)
    assert run_in_sandbox([probe], ["refused"], limits)["refused"] is True


def test_a_sandboxs_cgroup_is_gone_when_it_stops(tmp_path):
    process = sandbox.start(tmp_path, sandbox.Limits())
    group = process.cgroup
    assert group is not None and all(folder.is_dir() for folder in group.dirs)
    folders = list(group.dirs)
    sandbox.stop(process)
    deadline = time.monotonic() + 10
    while any(folder.exists() for folder in folders) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(folder).exists() for folder in folders)


def test_an_argument_is_one_object_across_calls_and_comes_back_as_the_graders(run_in_sandbox):
    run_in_sandbox(["def same(x):\n    return x\n\ndef address(x):\n    return id(x)\n"], [])
    session = _last_session(run_in_sandbox)
    x = np.arange(3.0)
    assert session.call({"name": "same"}, (x,), {}) is x
    first = session.call({"name": "address"}, (x,), {})
    assert session.call({"name": "address"}, (x,), {}) == first
    assert session.call({"name": "address"}, (x.copy(),), {}) != first


def test_an_object_of_an_earlier_call_cannot_be_handed_back(run_in_sandbox):
    """A sandbox that forges a reference to another call's object is refused (the red team's
    F1: it could otherwise hand a check any object of the grader's session)."""
    forge = (
        "import gc\n"
        "kept = []\n"
        "def f(x):\n"
        "    box = [o for o in gc.get_objects() if type(o).__name__ == 'Sandbox'][0]\n"
        "    if not kept:\n"
        "        kept.append(x)\n"
        "        return 0\n"
        "    token = next(t for t, o in box.kept.items() if o is kept[0])\n"
        "    box.delivered[id(kept[0])] = token\n"
        "    return kept[0]\n"
    )
    run_in_sandbox([forge], [])
    session = _last_session(run_in_sandbox)
    earlier = np.zeros(3)
    assert session.call({"name": "f"}, (earlier,), {}) == 0
    with pytest.raises(wire.WireError, match="did not send this call"):
        session.call({"name": "f"}, (np.ones(3),), {})


def test_a_sandbox_sees_only_what_the_student_kit_holds_of_the_package(run_in_sandbox):
    """The chapters' experiments (chapter 04's NumPy backward pass, numerical_gradient and
    relative_error among them), training loop and widgets are not importable: only the checks
    the notebooks call and the data sets, as in the kit."""
    probe = (
        "import importlib, pathlib\n"
        "def importable(name):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        return True\n"
        "    except ImportError:\n"
        "        return False\n"
        "names = ['dropout_course.checks.max_norm', 'dropout_course.data',\n"
        "         'dropout_course.experiments.backpropagation', 'dropout_course.training',\n"
        "         'dropout_course.widgets.max_norm', 'dropout_course.student_kit']\n"
        "found = {n: importable(n) for n in names}\n"
        "import dropout_course\n"
        "files = sorted(p.name for p in pathlib.Path(dropout_course.__file__).parent.iterdir())\n"
    )
    seen = run_in_sandbox([probe], ["found", "files"])
    assert seen["found"] == {
        "dropout_course.checks.max_norm": True,
        "dropout_course.data": True,
        "dropout_course.experiments.backpropagation": False,
        "dropout_course.training": False,
        "dropout_course.widgets.max_norm": False,
        "dropout_course.student_kit": False,
    }
    assert set(seen["files"]) <= {"__init__.py", "data.py", "checks", "__pycache__"}
