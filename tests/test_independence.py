"""Independence of mask entries as a property of the distribution (COURSE-SPEC.md: "entries are
independent: no fixed count of kept units, no mask shared across rows").

Generated masks from several independent samplers must always pass, whatever the seed, the rate
and the shape; masks whose entries depend on each other in any of many ways (fixed totals, fixed
counts per row or block, correlated neighbours, periodic or mirrored patterns, a rate that
depends on the position, a mask reused from call to call) must always fail. Through the real
check, and through a student's ``bernoulli_mask`` built on each sampler.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_course.checks import check_bernoulli_mask
from dropout_course.checks.independence import draws_dependence, mask_dependence


def _size(shape) -> int:
    return int(np.prod(shape))


# ------------------------------------------------------------------------ correct samplers

INDEPENDENT = {
    "uniform below q": lambda shape, p, rng: rng.random(shape) >= p,
    "binomial": lambda shape, p, rng: rng.binomial(1, 1 - p, shape),
    "choice": lambda shape, p, rng: rng.choice([0, 1], size=shape, p=[p, 1 - p]),
    "integers": lambda shape, p, rng: rng.integers(0, 2**32, size=shape) >= p * 2**32,
    "exponential race": lambda shape, p, rng: (
        rng.exponential(size=shape) < -np.log(p) if p > 0 else np.ones(shape, bool)
    ),
    "one flat draw reshaped": lambda shape, p, rng: (rng.random(_size(shape)) < 1 - p).reshape(
        shape
    ),
    "column by column": lambda shape, p, rng: np.stack(
        [rng.random(shape[:-1]) >= p for _ in range(shape[-1])], axis=-1
    ),
}


# ----------------------------------------------------------------------- dependent samplers


def _fixed_per_row(shape, p, rng):
    rows, n = _size(shape[:-1]), shape[-1]
    kept = round((1 - p) * n)
    return np.array([rng.permutation(n) < kept for _ in range(rows)]).reshape(shape)


def _fixed_total(shape, p, rng):
    n = _size(shape)
    return (rng.permutation(n) < round((1 - p) * n)).reshape(shape)


def _fixed_per_block(shape, p, rng, block=8):
    n = _size(shape)
    kept = round((1 - p) * block)
    blocks = [rng.permutation(block) < kept for _ in range(-(-n // block))]
    return np.concatenate(blocks)[:n].reshape(shape)


def _sticky(shape, p, rng, stick=0.15):
    n = _size(shape)
    fresh, keep = rng.random(n) < stick, rng.random(n) >= p
    out = keep.copy()
    for i in range(1, n):
        if fresh[i]:
            out[i] = out[i - 1]
    return out.reshape(shape)


def _periodic(shape, p, rng, period=None):
    period = period or int(rng.integers(2, 300))
    return np.resize(rng.random(period) >= p, _size(shape)).reshape(shape)


def _shared_rows(shape, p, rng):
    return np.broadcast_to(rng.random(shape[-1]) >= p, shape).copy()


def _shared_columns(shape, p, rng):
    return np.broadcast_to((rng.random(shape[:-1]) >= p)[..., None], shape).copy()


def _pairs(shape, p, rng):
    half = rng.random((*shape[:-1], -(-shape[-1] // 2))) >= p
    return np.repeat(half, 2, axis=-1)[..., : shape[-1]]


def _blocks(shape, p, rng):
    rows, cols = _size(shape[:-1]), shape[-1]
    small = rng.random((-(-rows // 2), -(-cols // 2))) >= p
    return np.repeat(np.repeat(small, 2, 0), 2, 1)[:rows, :cols].reshape(shape)


def _mirrored(shape, p, rng):
    n = _size(shape)
    half = rng.random(-(-n // 2))
    return (np.concatenate([half, 1 - half])[:n] >= p).reshape(shape)


def _rate_by_position(shape, p, rng):
    rates = np.clip(np.linspace(p - 0.15, p + 0.15, shape[-1]), 0.01, 0.99)
    return rng.random(shape) >= rates


def _sorted_rows(shape, p, rng):
    return np.sort(rng.random(shape) >= p, axis=-1)


def _one_coin_per_row_pair(shape, p, rng):
    rows = _size(shape[:-1])
    flat = (rng.random(shape) >= p).reshape(rows, -1)
    flat[1::2] = flat[0 : rows - rows % 2 : 2] if rows % 2 == 0 else flat[0:-1:2]
    return flat.reshape(shape)


def _last_column_copies_first(shape, p, rng):
    mask = (rng.random(shape) >= p).reshape(-1, shape[-1])
    mask[:, -1] = mask[:, 0]
    return mask.reshape(shape)


def _antithetic_far(shape, p, rng):
    n = _size(shape)
    reused = 2 * n // 5
    u = rng.random(n - reused)
    return (np.concatenate([u, 1.0 - u[:reused]]) >= p).reshape(shape)


def _few_seeds(shape, p, rng):
    return np.random.default_rng(int(rng.integers(1000))).random(shape) >= p


DEPENDENT = {
    "last column copies the first": _last_column_copies_first,
    "uniforms reused far apart": _antithetic_far,
    "fixed count per row": _fixed_per_row,
    "fixed count per block of 8": _fixed_per_block,
    "sticky neighbours": _sticky,
    "periodic pattern": _periodic,
    "shared rows": _shared_rows,
    "shared columns": _shared_columns,
    "pairs of equal entries": _pairs,
    "2x2 blocks": _blocks,
    "mirrored halves": _mirrored,
    "rate depends on the position": _rate_by_position,
    "sorted rows": _sorted_rows,
    "every other row repeated": _one_coin_per_row_pair,
}

#: Dependence that one mask cannot show: the draws of a call after another tell.
DEPENDENT_ACROSS_DRAWS = {
    "fixed total per mask": _fixed_total,
    "a child generator seeded from a thousand values": _few_seeds,
}

SHAPES = st.sampled_from([(400, 250), (300, 300), (120, 90), (10, 40, 50)])
RATES = st.sampled_from([0.2, 0.3, 0.5, 0.75])


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(INDEPENDENT)), shape=SHAPES, p=RATES, seed=st.integers(0, 2**32))
def test_independent_masks_always_pass(name, shape, p, seed):
    rng = np.random.default_rng(seed)
    sampler = INDEPENDENT[name]
    assert mask_dependence(sampler(shape, p, rng)) is None
    assert draws_dependence([sampler((40, 50), p, rng) for _ in range(200)]) is None


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(DEPENDENT)), shape=SHAPES, p=RATES, seed=st.integers(0, 2**32))
def test_dependent_masks_always_fail(name, shape, p, seed):
    rng = np.random.default_rng(seed)
    assert mask_dependence(DEPENDENT[name](shape, p, rng)) is not None


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(DEPENDENT_ACROSS_DRAWS)), p=RATES, seed=st.integers(0, 2**32))
def test_dependence_across_draws_always_fails(name, p, seed):
    rng = np.random.default_rng(seed)
    sampler = DEPENDENT_ACROSS_DRAWS[name]
    assert draws_dependence([sampler((40, 50), p, rng) for _ in range(200)]) is not None


def test_a_mask_reused_from_call_to_call_fails():
    rng = np.random.default_rng(0)
    mask = rng.random((40, 50)) >= 0.3
    assert draws_dependence([mask] * 100) is not None


def _student(sampler):
    def bernoulli_mask(shape, p, rng):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if p == 0:
            return np.ones(shape, dtype=bool)
        if p == 1:
            return np.zeros(shape, dtype=bool)
        if len(shape) == 1:
            return rng.random(shape) >= p
        return sampler(shape, p, rng)

    return bernoulli_mask


@pytest.mark.parametrize("name", sorted(INDEPENDENT))
def test_a_student_mask_from_any_independent_sampler_keeps_every_property(name):
    verdict = check_bernoulli_mask(_student(INDEPENDENT[name]))
    assert verdict.passed, verdict.summary()


@pytest.mark.parametrize("name", sorted({**DEPENDENT, **DEPENDENT_ACROSS_DRAWS}))
def test_a_student_mask_with_dependent_entries_loses_the_independence_property(name):
    sampler = {**DEPENDENT, **DEPENDENT_ACROSS_DRAWS}[name]
    verdict = check_bernoulli_mask(_student(sampler))
    failed = [r.description for r in verdict.results if not r.held]
    assert "draw its entries independently" in failed, verdict.summary()


def test_rows_alike_by_chance_in_many_small_draws_are_not_dependence():
    """Hypothesis found it: among 200 correct masks of 40 rows x 50 at p = 0.2, two rows came
    out identical (a chance of about 4e-9 per pair, over 156,000 pairs). The draws are tested
    as one mask, once, not one by one."""
    rng = np.random.default_rng(117)
    sampler = INDEPENDENT["choice"]
    sampler((400, 250), 0.2, rng)  # the big mask drawn first, as in the failing example
    assert draws_dependence([sampler((40, 50), 0.2, rng) for _ in range(200)]) is None
