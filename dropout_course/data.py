"""Data sets of the chapters: scikit-learn's bundled digits (no download) and generated 1-D data."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits_split(n_train=300, seed=0):
    """Split scikit-learn's 8x8 digits into a small training set and a test set of the rest.

    Parameters
    ----------
    n_train : int
        Number of training images (stratified by class); the other images form the test set.
    seed : int
        Seed of the split.

    Returns
    -------
    X_train, y_train, X_test, y_test : torch.Tensor
        Pixels scaled to [0, 1] as float32 of shape (n, 64); labels as int64.
    """
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, train_size=n_train, stratify=digits.target, random_state=seed
    )
    return (
        torch.from_numpy(X_train),
        torch.from_numpy(y_train).long(),
        torch.from_numpy(X_test),
        torch.from_numpy(y_test).long(),
    )


def noisy_sine(n, noise=0.3, seed=0, low=-3.0, high=3.0):
    """Points of sin(x) plus Gaussian noise, x uniform in [low, high], sorted by x.

    Returns
    -------
    x, y : numpy.ndarray
        Shapes (n, 1), float64.
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(low, high, size=n))[:, None]
    return x, np.sin(x) + noise * rng.standard_normal((n, 1))
