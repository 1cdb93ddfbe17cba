"""Agreement statistics against hand-computed values, statsmodels, sklearn-free formulas and krippendorff."""

from __future__ import annotations

import krippendorff
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from skillmix.errors import SkillmixError
from skillmix.stats.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha


@pytest.mark.parametrize(
    "a, b, kappa",
    [
        ([1, 1, 0, 0], [1, 1, 0, 0], 1.0),
        ([1, 1, 0, 0], [0, 0, 1, 1], -1.0),
        ([1, 1, 1, 0], [1, 0, 1, 0], 0.5),  # p_o = 3/4, p_e = 3/4*1/2 + 1/4*1/2 = 1/2
        ([1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1], 0.25),  # p_o = 4/6, p_e = (4*4 + 2*2)/36 = 5/9
        ([1, 1, 1], [1, 1, 1], None),  # chance agreement 1: undefined
        ([], [], None),
    ],
)
def test_cohen_kappa(a, b, kappa):
    assert cohen_kappa(a, b) == (None if kappa is None else pytest.approx(kappa, abs=1e-12))


def test_cohen_kappa_length_mismatch():
    with pytest.raises(SkillmixError, match="item by item"):
        cohen_kappa([1, 0], [1])


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971) / Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(sm_fleiss(table), abs=1e-12)
    assert fleiss_kappa(table) == pytest.approx(0.20993070442195522, abs=1e-9)


def test_fleiss_kappa_undefined_and_bad_rows():
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([[3, 0], [3, 0]]) is None
    with pytest.raises(SkillmixError):
        fleiss_kappa([[2, 0], [1, 0]])


def test_krippendorff_alpha_hand_example():
    # 2 raters, 4 units, nominal: values 1,1 | 0,0 | 1,0 | (1, missing).
    # Pairable values: 1,1,0,0,1,0 -> n=6, n_1=3, n_0=3; D_o = 2 disagreeing ordered pairs / 6 = 1/3;
    # D_e = 2*3*3 / (6*5) = 3/5; alpha = 1 - (1/3)/(3/5) = 4/9.
    data = [[1, 0, 1, 1], [1, 0, 0, None]]
    assert krippendorff_alpha(data) == pytest.approx(4 / 9, abs=1e-12)
    assert krippendorff_alpha(data) == pytest.approx(
        krippendorff.alpha(reliability_data=[[1, 0, 1, 1], [1, 0, 0, float("nan")]], level_of_measurement="nominal"))


def test_krippendorff_alpha_undefined_and_levels():
    assert krippendorff_alpha([[1, 1], [1, 1]]) is None
    assert krippendorff_alpha([[1, None], [None, 0]]) is None  # no unit rated twice
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 4]], level="interval") == pytest.approx(
        krippendorff.alpha(reliability_data=[[1, 2, 3], [1, 2, 4]], level_of_measurement="interval"))
    with pytest.raises(SkillmixError, match="level"):
        krippendorff_alpha([[1, 0]], level="fuzzy")
