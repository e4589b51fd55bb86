"""The digits split without importing scikit-learn equals scikit-learn's `train_test_split(..., stratify=y)`."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from coresim.workload.inputs import DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION, digits_split, stratified_split


def test_digits_split_equals_sklearn():
    d = load_digits()
    x = d.images.astype(np.int64)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=DIGITS_TEST_FRACTION,
                                          random_state=DIGITS_SPLIT_SEED, stratify=d.target)
    ours = digits_split()
    for got, want in ((ours["train"], (xtr, ytr)), (ours["test"], (xte, yte))):
        assert got[0].dtype == np.int64 and got[1].dtype == np.int64
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fraction", [0.25, 0.3, 0.5])
def test_stratified_split_equals_sklearn_with_ties(seed, fraction):
    y = np.repeat(np.arange(5), [7, 7, 6, 9, 4])  # unequal classes: remainders tie, broken by the generator
    idx = np.arange(y.size)
    want_train, want_test = train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
    train, test = stratified_split(y, fraction, seed)
    np.testing.assert_array_equal(train, want_train)
    np.testing.assert_array_equal(test, want_test)
