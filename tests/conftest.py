"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's experiments on one torch thread, as the chapters do (DESIGN.md: two
    threads ran 5-20x slower on a shared 2-core machine, and one gives bit-identical reruns)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
