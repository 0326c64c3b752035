"""Whether the entries of 0/1 masks are independent draws of one Bernoulli distribution.

COURSE-SPEC.md asks for independent entries ("no fixed count of kept units, no mask shared across
rows"). This module tests that as a property of the distribution, not as the absence of a few
patterns: statistics whose distribution under independence is known, each turned into a z-score
and compared with a band wide enough that a correct mask essentially never leaves it, while any
dependence strong enough to matter for dropout moves at least one of them far outside.

- **Counts**: the number of kept entries in each row, in each column, in aligned blocks of the
  flattened mask, and (over several draws) in the whole mask are binomial if the entries are
  independent; their index of dispersion (a chi-square statistic) is then near its degrees of
  freedom. A fixed number of kept units per row or per mask gives far too little spread; a
  shared row, a shared decision for a whole column or block, or a rate that depends on the
  position gives far too much.
- **Correlations**: the correlation between entries ``k`` apart in the flattened mask, for every
  lag ``k`` at once (computed with an FFT), is near 0 with standard deviation ``1/sqrt(n - k)``,
  and so is the correlation between any two rows and any two columns. Correlated neighbours,
  runs, periodic or mirrored patterns, and a row or column copied from another all show up.
  Successive draws must not be correlated, nor repeat one another.
"""

from __future__ import annotations

import math

import numpy as np

#: Band for statistics tested one at a time (P(|Z| > 6) = 2e-9 under the normal approximation).
SIGMAS = 6.0
#: Band for the largest of many correlations at once: the autocorrelation over every lag, and
#: every pair of rows or of columns (Bonferroni over up to 10^5 statistics: 3e-7).
LAG_SIGMAS = 7.0


def chi2_z(statistic: float, dof: int) -> float:
    """A chi-square statistic with ``dof`` degrees of freedom as a standard normal z-score
    (Wilson-Hilferty: accurate in both tails for the dof used here)."""
    if dof <= 0:
        return 0.0
    scale = 2.0 / (9.0 * dof)
    cube = max(statistic / dof, 0.0) ** (1.0 / 3.0)
    return (cube - (1.0 - scale)) / math.sqrt(scale)


def _dispersion_z(counts: np.ndarray, size: int, keep: float) -> float:
    """z-score of the index of dispersion of counts of ``size`` Bernoulli(``keep``) entries."""
    expected = size * keep
    variance = size * keep * (1.0 - keep)
    statistic = float(np.sum((counts - expected) ** 2) / variance)
    return chi2_z(statistic, counts.size - 1)


def _as_rows(mask: np.ndarray) -> np.ndarray:
    values = np.asarray(mask, dtype=np.float64)
    if values.ndim == 0:
        return values.reshape(1, 1)
    if values.ndim == 1:
        return values.reshape(1, -1)
    return values.reshape(-1, values.shape[-1])


def _count_problem(rows: np.ndarray, keep: float) -> str | None:
    """Too little or too much spread in the counts of rows, columns or aligned blocks."""
    n_rows, n_cols = rows.shape
    groups = []
    if n_rows >= 20 and n_cols >= 2:
        groups.append(("rows", rows.sum(axis=1), n_cols))
    if n_cols >= 20 and n_rows >= 2:
        groups.append(("columns", rows.sum(axis=0), n_rows))
    flat = rows.ravel()
    for block in (2, 4, 16):
        blocks = flat.size // block
        if blocks >= 100:
            sums = flat[: blocks * block].reshape(blocks, block).sum(axis=1)
            groups.append((f"consecutive blocks of {block} entries", sums, block))
    for what, counts, size in groups:
        z = _dispersion_z(counts, size, keep)
        if z < -SIGMAS:
            return (
                f"the numbers of kept units in its {what} vary far less than independent coin "
                f"flips would (z = {z:.1f}): a fixed number of units is kept, where each entry "
                "must be drawn on its own"
            )
        if z > SIGMAS:
            return (
                f"the numbers of kept units in its {what} vary far more than independent coin "
                f"flips would (z = {z:.1f}): entries are decided together (a shared mask or "
                "decision), or the keep probability depends on the position"
            )
    return None


def _lag_problem(flat: np.ndarray, keep: float, max_lag: int | None = None) -> str | None:
    """The largest autocorrelation of the flattened mask, over every lag at once."""
    n = flat.size
    if n < 200:
        return None
    centred = flat - keep
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    sums = np.fft.irfft(spectrum * np.conj(spectrum), size)[:n]
    lags = np.arange(1, min(3 * n // 4, max_lag or n) + 1)  # each lag has n/4 pairs at least
    pairs = n - lags
    correlation = sums[lags] / (pairs * keep * (1.0 - keep))
    z = correlation * np.sqrt(pairs)
    worst = int(np.argmax(np.abs(z)))
    if abs(z[worst]) > LAG_SIGMAS:
        lag = int(lags[worst])
        sign = "alike" if z[worst] > 0 else "opposite"
        return (
            f"entries {lag} apart (in C order) are {sign} far more often than independent "
            f"coin flips would be (correlation {correlation[worst]:+.3f}, z = {z[worst]:.1f}): "
            "each entry must be drawn independently of the others"
        )
    return None


def _pair_problem(rows: np.ndarray, keep: float) -> str | None:
    """The largest correlation between two rows, and between two columns, of the mask (each
    about N(0, 1/n) for n entries if the entries are independent): a column that copies or
    mirrors another, wherever it stands, shows up here."""
    for what, table in (("columns", rows), ("rows", rows.T)):
        n, count = table.shape
        if n < 50 or count < 2 or count > 2000:
            continue
        centred = table - table.mean(axis=0)
        scale = np.sqrt((centred**2).sum(axis=0))
        live = scale > 0
        if live.sum() < 2:
            continue
        unit = centred[:, live] / scale[live]
        correlation = unit.T @ unit
        np.fill_diagonal(correlation, 0.0)
        worst = float(np.max(np.abs(correlation)))
        z = worst * np.sqrt(n)
        if z > LAG_SIGMAS:
            return (
                f"two of its {what} are far more alike (or opposite) than independent coin "
                f"flips would be (correlation {worst:.3f}, z = {z:.1f}): each entry must be "
                "drawn independently, never copied or derived from another"
            )
    return None


def mask_dependence(mask: np.ndarray, keep: float | None = None) -> str | None:
    """Describe the dependence between the entries of one 0/1 ``mask``, or return None.

    ``keep`` is the probability of a 1; by default the mask's own mean, so that a wrong rate
    (a separate property) does not count as dependence. A mask too small to tell returns None.
    """
    rows = _as_rows(mask)
    keep = float(rows.mean()) if keep is None else keep
    if not 0.0 < keep < 1.0:
        return None
    return (
        _count_problem(rows, keep) or _lag_problem(rows.ravel(), keep) or _pair_problem(rows, keep)
    )


def draws_dependence(draws: list[np.ndarray], keep: float | None = None) -> str | None:
    """Describe the dependence between several draws of one shape, or within them, or return None.

    The draws' totals must spread as binomial counts (a fixed total over the whole mask is the
    mistake a single draw cannot show), and successive draws must not be correlated.
    """
    stack = np.stack([np.asarray(d, dtype=np.float64).ravel() for d in draws])
    keep = float(stack.mean()) if keep is None else keep
    if not 0.0 < keep < 1.0:
        return None
    n_draws, size = stack.shape
    distinct = len({row.tobytes() for row in stack.astype(np.uint8)})
    if size >= 64 and distinct < n_draws:
        return (
            f"{n_draws - distinct} of {n_draws} masks repeat an earlier one exactly: each call "
            "must draw a fresh mask from rng (a generator seeded from a few values repeats)"
        )
    if n_draws >= 20:
        z = _dispersion_z(stack.sum(axis=1), size, keep)
        if z < -SIGMAS:
            return (
                f"every mask of {size} entries keeps almost the same number of units "
                f"(z = {z:.1f} over {n_draws} draws): the total is fixed, where each entry must "
                "be an independent coin flip"
            )
        if z > SIGMAS:
            return (
                f"the number of kept units varies far more between masks than independent coin "
                f"flips allow (z = {z:.1f} over {n_draws} draws): entries are decided together"
            )
    if n_draws >= 2:
        centred = stack - keep
        pairs = centred[:-1] * centred[1:]
        correlation = float(pairs.mean() / (keep * (1.0 - keep)))
        z = correlation * math.sqrt(pairs.size)
        if abs(z) > SIGMAS:
            return (
                f"successive masks are correlated (correlation {correlation:+.3f}, z = {z:.1f}): "
                "each call must draw a fresh mask"
            )
    if n_draws >= 20:
        z = _dispersion_z(stack.sum(axis=0), n_draws, keep)
        if z > SIGMAS:
            return (
                f"some positions are kept far more often than others over {n_draws} draws "
                f"(z = {z:.1f}): every entry must be kept with the same probability 1 - p"
            )
    # Under the contract the draws are independent masks of one shape: stacked, they are one
    # mask of independent entries, tested once. (Testing each small draw on its own multiplies
    # the chance that a correct mask fails by the number of draws: two identical rows of 50
    # entries among 200 masks of 40 rows happen about once in 1,600 runs at p = 0.2.)
    return mask_dependence(np.concatenate([_as_rows(draw) for draw in draws]), keep)
