"""provider/fallbacks.py: the flavor and availability-zone fallbacks, and what counts as "no room"."""

from __future__ import annotations

import pytest

from fleeting_openstack.provider.fallbacks import Choices, is_capacity


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_choices_move_on_and_come_back():
    clock = Clock()
    choices = Choices(["big", "small"], ["az1", "az2"], reset_after=600, clock=clock)
    assert choices.current == ("big", "az1")
    assert choices.advance(("big", "az1"), "Quota exceeded for cores")
    assert choices.current == ("small", "az1")
    assert choices.advance(("big", "az1"), "stale") and choices.current == ("small", "az1")  # already moved
    assert choices.advance(("small", "az1"), "The requested availability zone is not available")
    assert choices.current == ("big", "az2")
    assert choices.advance(("big", "az2"), "No valid host") and choices.current == ("small", "az2")
    assert not choices.advance(("small", "az2"), "No valid host")
    clock.t += 601
    assert choices.current == ("big", "az1")


@pytest.mark.parametrize("text", ["No valid host was found.", "Quota exceeded for cores", "Insufficient capacity",
                                  "The requested availability zone is not available"])
def test_capacity_words(text):
    assert is_capacity(text)


@pytest.mark.parametrize("text", ["", "Invalid imageRef provided.", "Bad networks format"])
def test_not_capacity(text):
    assert not is_capacity(text)


def test_without_a_reset_interval_the_fallback_stays():
    clock = Clock()
    choices = Choices(["big", "small"], [], reset_after=0, clock=clock)
    assert choices.current == ("big", None)
    assert choices.advance(("big", None), "No valid host")
    clock.t += 10**6
    assert choices.current == ("small", None)
