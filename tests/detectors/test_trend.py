import numpy as np

from rlaudit.detectors.trend import stretch

STEPS = np.arange(10)


def mask(bits: str) -> np.ndarray:
    return np.array([b == "1" for b in bits])


def test_the_longest_stretch_wins_and_bridges_single_misses():
    assert stretch(STEPS, mask("0110100111")) == (1, 4)  # 3 held either way: the earliest
    assert stretch(STEPS, mask("0110100111"), bridge=0) == (7, 9)
    assert stretch(STEPS, mask("1100111101")) == (4, 9)  # one miss bridged: 5 held beats 2


def test_never_or_always():
    assert stretch(STEPS, mask("0" * 10)) is None
    assert stretch(STEPS, mask("1" * 10)) == (0, 9)


def test_steps_are_taken_in_order_and_reported_as_steps():
    steps = np.array([40, 10, 30, 20])  # logged every 10 steps, out of order
    assert stretch(steps, np.array([True, False, True, True]), bridge=0) == (20, 40)
