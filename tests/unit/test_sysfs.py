"""Linux's CPU list syntax (vmd.guest.sysfs), against the definition walked CPU by CPU."""

from __future__ import annotations

import random

from vmd.guest.sysfs import cpu_list, cpu_list_outside


def walked(cpus: set[int]) -> str:
    """The syntax by its definition: each run of consecutive CPUs is `first-last`, or `first`
    alone, in ascending order, joined by commas."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][-1] == cpu - 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def test_examples() -> None:
    assert cpu_list([]) == ""
    assert cpu_list({5}) == "5"
    assert cpu_list([8, 0, 1, 2, 3, 5, 7]) == "0-3,5,7-8"
    assert cpu_list(range(0)) == ""
    assert cpu_list(range(1)) == "0"
    assert cpu_list(range(4096)) == "0-4095"
    assert cpu_list(range(3, 9)) == "3-8"
    assert cpu_list(range(0, 10, 3)) == "0,3,6,9"
    assert cpu_list_outside({0}, 512) == "1-511"
    assert cpu_list_outside(set(), 4) == "0-3"
    assert cpu_list_outside({0, 1, 2, 3}, 4) == ""
    assert cpu_list_outside({1, 2, 7}, 8) == "0,3-6"
    assert cpu_list_outside({3}, 0) == ""


def test_random_sets_match_the_definition() -> None:
    rng = random.Random(14)
    for _ in range(5000):
        universe = rng.randint(0, 80)
        cpus = set(rng.sample(range(universe + 10), rng.randint(0, min(universe + 10, 40))))
        assert cpu_list(cpus) == walked(cpus), cpus
        assert cpu_list(sorted(cpus, reverse=True)) == walked(cpus), cpus
        assert cpu_list_outside(cpus, universe) == walked(set(range(universe)) - cpus), (cpus, universe)
