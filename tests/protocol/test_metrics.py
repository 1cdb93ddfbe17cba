"""Tests for skillmix.protocol.metrics against hand-computed values (protocol §5, docs/pitfalls.md #2)."""

import math

import pytest

from skillmix.errors import SkillmixError
from skillmix.protocol.metrics import (
    METRICS,
    aggregate,
    combination_metrics,
    generation_metrics,
    grading_agreement,
    group_points,
    majority_vote,
    mean_stderr,
    metric_ci,
    reference_compatible,
)
from skillmix.stats.agreement import fleiss_kappa

# --- majority_vote ----------------------------------------------------------------


@pytest.mark.parametrize(
    "gradings, expected",
    [
        ([[1, 0, 1], [1, 1, 0], [0, 1, 1]], [1.0, 1.0, 1.0]),  # 2 of 3 everywhere
        ([[1, 0, 0], [0, 0, 1], [0, 1, 1]], [0.0, 0.0, 1.0]),
        ([[1, 0], [0, 1]], [0.0, 0.0]),  # ties at exactly 0.5 are not awarded
        ([[1, 1], None, [0, 1]], [0.0, 1.0]),  # unscored left out: 1 vs 0 is a tie
        ([[1, 1], [1, 1], None], [1.0, 1.0]),
        ([None, [0, 1], None], [0.0, 1.0]),  # a single scored grading decides
        ([[0.5], [1]], [1.0]),  # mean 0.75
        ([[0.5]], [0.0]),  # mean exactly 0.5
        ([[0.6]], [1.0]),
        ([None, None, None], None),
        ([], None),
    ],
)
def test_majority_vote(gradings, expected):
    assert majority_vote(gradings) == expected


def test_majority_vote_rejects_ragged_gradings():
    with pytest.raises(ValueError):
        majority_vote([[1, 1, 1], [1, 1]])


# --- generation_metrics -------------------------------------------------------------


@pytest.mark.parametrize(
    "voted, k, expected",
    [
        ([1, 1, 1, 1, 1, 1], 3, (1.0, 1.0, 1.0)),
        ([1, 1, 1, 1, 1, 0], 3, (0.0, 1.0, 0.0)),  # r=2: All Skills yes, the others no
        ([1, 1, 1, 0, 1, 1], 3, (0.0, 1.0, 0.0)),  # off topic, still r=2
        ([1, 1, 0, 1, 1, 1], 3, (0.0, 0.0, 2 / 3)),
        ([1, 0, 0, 1, 1, 1], 3, (0.0, 0.0, 1 / 3)),
        ([1, 1, 1, 0, 0, 1], 3, (0.0, 0.0, 0.0)),  # r=1
        ([0, 0, 0, 1, 1, 1], 3, (0.0, 0.0, 0.0)),
        ([1, 1, 1, 1], 1, (1.0, 1.0, 1.0)),
        ([1, 0, 1, 1], 1, (0.0, 1.0, 0.0)),
        ([0, 1, 1, 1], 1, (0.0, 0.0, 0.0)),
        ([1, 1, 0, 1, 1, 1, 1, 1], 5, (0.0, 0.0, 0.8)),
    ],
)
def test_generation_metrics(voted, k, expected):
    got = generation_metrics(voted, k)
    assert (got["full_marks"], got["all_skills"]) == expected[:2]
    assert got["skill_fraction"] == pytest.approx(expected[2])


@pytest.mark.parametrize("voted, k", [([1, 1, 1, 1], 2), ([1, 1, 1, 1, 1, 1], 2)])
def test_generation_metrics_rejects_wrong_length(voted, k):
    with pytest.raises(ValueError):
        generation_metrics(voted, k)


# --- combination_metrics: max over generations, metric by metric -------------------


def test_combination_metrics_takes_the_max_metric_by_metric():
    generations = [
        [[1, 1, 1, 1, 1, 0]] * 3,  # All Skills 1, Skill Fraction 0
        [[1, 1, 0, 1, 1, 1]] * 3,  # All Skills 0, Skill Fraction 2/3
        [None, None, None],  # unscored generation: left out, not a zero
    ]
    got = combination_metrics(generations, 3)
    assert got == {"full_marks": 0.0, "all_skills": 1.0, "skill_fraction": pytest.approx(2 / 3)}


def test_combination_metrics_all_unscored_is_none():
    assert combination_metrics([[None, None, None], [None, None, None]], 3) is None
    assert combination_metrics([], 3) is None


# --- aggregate on a hand-computed set --------------------------------------------

K2_POINTS = [
    # c0: g0 votes [1,1,1,1,1] -> (1, 1, 1); g1 all zeros -> (0, 0, 0). Max: (1, 1, 1).
    [
        [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 0, 1, 1, 1]],
        [[0, 0, 0, 0, 0]] * 3,
    ],
    # c1: g0 s=1, r=3 -> (0, 0, .5); g1 unscored; g2 two scored gradings, ties on
    # "sense" -> [1,1,1,0,0], r=1 -> (0, 0, 0). Max: (0, 0, .5).
    [
        [[1, 0, 1, 1, 1]] * 3,
        [None, None, None],
        [[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], None],
    ],
    # c2: every generation unscored -> the combination is unscored.
    [[None, None, None], [None, None, None]],
    # c3: g0 two gradings tie on skill 0 -> s=1, r=3 -> (0, 0, .5); g1 votes
    # [1,1,1,0,1] -> s=2, r=2 -> (0, 1, 0). Max: (0, 1, .5).
    [
        [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]],
        [[1, 1, 1, 0, 1], [1, 1, 1, 0, 1], [1, 1, 1, 1, 1]],
    ],
]


def test_aggregate_hand_computed():
    got = aggregate(K2_POINTS, 2)
    assert got["n_scored"] == 3 and got["n_unscored"] == 1
    assert got["n_unscored_generations"] == 3  # c1 g1, c2 g0, c2 g1
    assert got["n_unscored_gradings"] == 10  # c1: 3 + 1, c2: 6
    # full_marks over (1, 0, 0): mean 1/3, sample std sqrt(1/3), stderr sqrt(1/3)/sqrt(3) = 1/3.
    assert got["full_marks"] == pytest.approx(1 / 3)
    assert got["full_marks_stderr"] == pytest.approx(1 / 3)
    # all_skills over (1, 0, 1): mean 2/3, stderr 1/3.
    assert got["all_skills"] == pytest.approx(2 / 3)
    assert got["all_skills_stderr"] == pytest.approx(1 / 3)
    # skill_fraction over (1, .5, .5): mean 2/3, variance (1/9 + 1/36 + 1/36)/2 = 1/12, stderr 1/6.
    assert got["skill_fraction"] == pytest.approx(2 / 3)
    assert got["skill_fraction_stderr"] == pytest.approx(1 / 6)
    for name in ("full_marks", "all_skills", "skill_fraction"):
        lo, hi = got[f"{name}_ci"]
        assert 0.0 <= lo <= got[name] <= hi <= 1.0


def test_aggregate_k1():
    points = [
        # c0: votes [1,1,1,1] -> (1, 1, 1).
        [[[1, 1, 1, 1], [1, 1, 1, 0], [0, 1, 1, 1]]],
        # c1: g0 [1,1,1,0] -> (0, 1, 0); g1 [0,1,1,1] -> (0, 0, 0). Max: (0, 1, 0).
        [[[1, 1, 1, 0]] * 3, [[0, 1, 1, 1]] * 3],
    ]
    got = aggregate(points, 1)
    assert (got["full_marks"], got["all_skills"], got["skill_fraction"]) == (0.5, 1.0, 0.5)
    # std of (1, 0) is sqrt(1/2); over sqrt(2) -> 1/2. (1, 1) has no spread.
    assert got["full_marks_stderr"] == pytest.approx(0.5)
    assert got["all_skills_stderr"] == 0.0
    # Wilson, 2 of 2: lower bound 2/(2 + z^2) = 0.342372..., not a collapsed [1, 1].
    assert got["all_skills_ci"] == pytest.approx([2 / (2 + 1.959963984540054**2), 1.0], abs=1e-9)


def test_aggregate_nothing_scored_gives_none_not_zero():
    got = aggregate([[[None, None, None]], [[None]]], 3)
    assert got["n_scored"] == 0 and got["n_unscored"] == 2
    for name in ("full_marks", "all_skills", "skill_fraction"):
        assert got[name] is None
        assert got[f"{name}_stderr"] is None
        assert got[f"{name}_ci"] is None
    assert aggregate([], 3)["full_marks"] is None


def test_aggregate_single_combination_has_zero_stderr():
    got = aggregate([[[[1, 1, 1, 1, 1]]]], 2)
    assert got["full_marks"] == 1.0
    assert got["full_marks_stderr"] == 0.0
    # n = 1: Wilson gives a wide interval, 1/(1 + z^2) = 0.206549..., not [1, 1].
    assert got["full_marks_ci"] == pytest.approx([1 / (1 + 1.959963984540054**2), 1.0], abs=1e-9)


def test_aggregate_without_intervals_leaves_only_the_ci_keys_out():
    full, bare = aggregate(K2_POINTS, 2), aggregate(K2_POINTS, 2, intervals=False)
    assert {key for key in full if key.endswith("_ci")} == {f"{m}_ci" for m in METRICS}
    assert bare == {key: v for key, v in full.items() if not key.endswith("_ci")}


def test_aggregate_ci_is_deterministic_for_a_seed():
    a = aggregate(K2_POINTS, 2, seed=7, n_boot=500)
    b = aggregate(K2_POINTS, 2, seed=7, n_boot=500)
    assert a == b


@pytest.mark.parametrize(
    "points, k",
    [
        ([[[[1, 1, 1, 1]]]], 2),  # 4 values for k=2 (needs 5)
        ([[[[1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]]], 2),
        ([[[[1, 1, 1, 1, 1]]]], 3),
    ],
)
def test_aggregate_rejects_wrong_shapes(points, k):
    with pytest.raises(ValueError, match="k\\+3"):
        aggregate(points, k)


@pytest.mark.parametrize("k", [0, -2, True])
def test_aggregate_rejects_bad_k(k):
    with pytest.raises(SkillmixError):
        aggregate(K2_POINTS, k)


# --- mean, stderr and intervals ------------------------------------------------------


def test_mean_stderr():
    assert mean_stderr([0.0, 1.0]) == (0.5, pytest.approx(math.sqrt(0.5) / math.sqrt(2)))
    # sample variance of 30 ones and 20 zeros: 50*.6*.4/49; stderr = sqrt(that/50).
    assert mean_stderr([1.0] * 30 + [0.0] * 20) == (pytest.approx(0.6), pytest.approx(math.sqrt(0.24 / 49)))
    assert mean_stderr([0.4]) == (0.4, 0.0)
    assert mean_stderr([]) == (None, None)


@pytest.mark.parametrize(
    "name, values, expected",
    [
        # Wilson 95%: 0 of 100 -> [0, z^2/(100 + z^2)] = [0, 0.036993...]; never [0, 0].
        ("full_marks", [0.0] * 100, [0.0, 1.959963984540054**2 / (100 + 1.959963984540054**2)]),
        ("all_skills", [1.0], [1 / (1 + 1.959963984540054**2), 1.0]),
        ("full_marks", [1.0] * 3 + [0.0] * 7, [0.10779126740630104, 0.6032218525388546]),  # statsmodels wilson
    ],
)
def test_metric_ci_proportions_are_wilson(name, values, expected):
    import random

    from statsmodels.stats.proportion import proportion_confint

    got = metric_ci(name, values, random.Random(0), 10)
    assert got == pytest.approx(expected, abs=1e-9)
    n = len(values)
    assert got == pytest.approx(list(proportion_confint(int(sum(values)), n, method="wilson")), abs=1e-9)


def test_skill_fraction_ci_is_the_seeded_bootstrap():
    import random

    from skillmix.stats.intervals import bootstrap_mean_ci

    values = [1.0, 0.5, 0.5, 0.0, 1 / 3, 2 / 3]
    got = metric_ci("skill_fraction", values, random.Random(5), 300)
    assert got == list(bootstrap_mean_ci(values, random.Random(5), 300))
    # The seed and resample count reach the interval through aggregate.
    points = [[[[1, 0, 1, 1, 1]]], [[[1, 1, 1, 1, 1]]], [[[0, 0, 1, 1, 1]]]]
    a = aggregate(points, 2, seed=1, n_boot=50)["skill_fraction_ci"]
    assert a == list(bootstrap_mean_ci([0.5, 1.0, 0.0], random.Random(1), 50))
    assert aggregate(points, 2, seed=1, n_boot=51)["skill_fraction_ci"] == list(
        bootstrap_mean_ci([0.5, 1.0, 0.0], random.Random(1), 51))


# --- reference-compatible numbers -----------------------------------------------------


@pytest.mark.parametrize(
    "points, k, expected",
    [
        # An unscored grading is k+3 zeros in the vote: [1,1,1,1] + [1,1,1,1] + None -> 2 of 3: full marks.
        ([[[[1, 1, 1, 1], [1, 1, 1, 1], None]]], 1, (1.0, 1.0, 1.0)),
        # [1,1,1,1] + None + None -> 1 of 3 on every criterion: nothing (ours: full marks, 1 scored grading).
        ([[[[1, 1, 1, 1], None, None]]], 1, (0.0, 0.0, 0.0)),
        # A combination whose every grading is unscored enters the mean as 0 (ours leaves it out).
        ([[[[1, 1, 1, 1]]], [[None, None]]], 1, (0.5, 0.5, 0.5)),
        # A generation without gradings (an error) is 0 too; the max over generations still picks the good one.
        ([[[], [[1, 1, 1, 1, 1]]]], 2, (1.0, 1.0, 1.0)),
        ([], 1, (None, None, None)),
    ],
)
def test_reference_compatible(points, k, expected):
    got = reference_compatible(points, k)
    assert (got["full_marks"], got["all_skills"], got["skill_fraction"]) == expected


# --- grader agreement --------------------------------------------------------------


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971) style example reproduced on Wikipedia: 10 subjects, 14 raters, kappa ~ 0.210.
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993070442195522, abs=1e-9)


def test_grading_agreement_hand_computed():
    points = [
        [
            # A: criterion counts (awarded, not): (3,0) (2,1) (1,2) (3,0)
            [[1, 1, 1, 1], [1, 1, 0, 1], [1, 0, 0, 1]],
            # B: (1,2) (3,0) (3,0) (2,1)
            [[0, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0]],
        ],
        [
            # C: two scored gradings, disagree on the last criterion only; no kappa.
            [[1, 1, 1, 1], [1, 1, 1, 0], None],
            # D: one scored grading: no agreement to measure.
            [[1, 1, 1, 1], None, None],
        ],
    ]
    got = grading_agreement(points, 1)
    # Agreement over A, B, C: crit0 A+C, crit1 B+C, crit2 B+C, crit3 A only.
    assert got["per_criterion_agreement"] == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1 / 3])
    assert got["overall_agreement"] == pytest.approx(7 / 12)
    assert got["n_units"] == 3 and got["n_kappa_units"] == 2
    # Over A, B: P_i = 1, 1/3, 1/3, 1, 1/3, 1, 1, 1/3 -> P_bar = 2/3; 18 of 24 ratings
    # awarded -> P_e = .75^2 + .25^2 = .625; kappa = (2/3 - .625)/(1 - .625) = 1/9.
    assert got["fleiss_kappa"] == pytest.approx(1 / 9)
    # Krippendorff (nominal; unscored gradings missing, D's single grading unpairable): 32 pairable values,
    # 7 zeros and 25 ones, disagreeing pairable weight 10 (pairs in 3-value units weigh 1/2, in 2-value units 1):
    # D_o = 10/32, D_e = 2*7*25/(32*31); alpha = 1 - D_o/D_e = 4/35 by hand, and the krippendorff package agrees.
    assert got["krippendorff_alpha"] == pytest.approx(4 / 35, abs=1e-12)


def test_grading_agreement_perfect_and_degenerate():
    perfect = [[[[1, 0, 1, 0]] * 3]]
    got = grading_agreement(perfect, 1)
    assert got["per_criterion_agreement"] == [1.0, 1.0, 1.0, 1.0]
    assert got["fleiss_kappa"] == pytest.approx(1.0)
    # Every rating in one category: kappa is undefined, not 0 or 1.
    assert grading_agreement([[[[1, 1, 1, 1]] * 3]], 1)["fleiss_kappa"] is None
    empty = grading_agreement([[[None, None, None]]], 1)
    assert empty["n_units"] == 0 and empty["overall_agreement"] is None and empty["fleiss_kappa"] is None
    assert empty["per_criterion_agreement"] == [None, None, None, None]


# --- grouping ----------------------------------------------------------------------------


def test_group_points_orders_by_id_then_epoch_and_marks_errors():
    a1, a2, b1 = [[1, 1, 1, 1]], [[0, 1, 1, 1], None], [[1, 0, 1, 1]]
    points, errors = group_points([("b", 1, b1), ("a", 2, a2), ("c", 1, None), ("a", 1, a1)], gradings=3)
    assert points == [[a1, a2], [b1], [[None, None, None]]]
    assert errors == 1
    assert group_points([], 3) == ([], 0)
