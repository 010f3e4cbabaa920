"""Canonical user names (SPEC section 4)."""
import pytest

from portal.usernames import canonical, parse


@pytest.mark.parametrize("typed, expected", [
    ("GOMA800101AB1", "GOMA800101AB1"),
    ("goma800101ab1", "GOMA800101AB1"),
    ("  GOMA-800101-AB1 ", "GOMA800101AB1"),
    ("goma 800101 ab1", "GOMA800101AB1"),
    ("ct.goma800101ab1", "CT.GOMA800101AB1"),
    ("Ct.GOMA800101AB1", "CT.GOMA800101AB1"),
    ("USR.goma800101ab1", "usr.GOMA800101AB1"),
    ("prv.ABC-010203-XY4", "PRV.ABC010203XY4"),
    ("ñuña800101ab1", "ÑUÑA800101AB1"),
    ("a&b010203xy4", "A&B010203XY4"),
])
def test_known_kinds_are_made_canonical(typed, expected):
    assert canonical(typed) == expected


@pytest.mark.parametrize("typed", ["soporte.interno", "Admin", "GOMA801301AB1", "GO800101AB1", "x"])
def test_other_names_are_used_as_typed(typed):
    assert canonical(typed) == typed


def test_rfc_date_must_be_real():
    assert parse("GOMA800229AB1") is not None   # 1980 was a leap year
    assert parse("GOMA810229AB1") is None
    assert parse("GOMA830229AB1") is None       # neither 1983 nor 2083
    assert parse("GOMA000229AB1") is not None   # 2000 was (1900 was not)
    assert parse("GOMA800132AB1") is None


def test_kinds():
    assert parse("CT.GOMA800101AB1").kind == "employee"
    assert parse("usr.GOMA800101AB1").kind == "free"
    assert parse("PRV.GOMA800101AB1").kind == "supplier"
    assert parse("GOM800101AB1").kind == "customer"
