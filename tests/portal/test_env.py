import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import parse_bool, parse_int, parse_list


@pytest.mark.parametrize("raw,expected", [("true", True), ("FALSE", False), ("1", True), ("off", False),
                                          (None, True), ("", True)])
def test_parse_bool(raw, expected):
    assert parse_bool("X", raw, default=True) is expected


@pytest.mark.parametrize("raw", ["flase", "maybe", "2"])
def test_parse_bool_refuses_typos(raw):
    with pytest.raises(ImproperlyConfigured, match="X must be one of"):
        parse_bool("X", raw, default=False)


def test_parse_int():
    assert parse_int("N", "4", 1, minimum=1) == 4
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        parse_int("N", "four", 1)
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        parse_int("N", "0", 1, minimum=1)


def test_parse_list():
    assert parse_list(" a, b ,,c ") == ["a", "b", "c"]
