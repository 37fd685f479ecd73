"""Price rules as plain functions: markup and margin, rounding endings, floor and ceiling, exchange rate,
promotions in their window, and what makes a change wait for a person."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pricing import rules
from pricing.models import PriceRule, Promotion

D = Decimal


def rule(**fields):
    return PriceRule(**fields)


@pytest.mark.parametrize("fields, unit_price, cost, expected", [
    ({}, "99.00", "60", "99.00"),  # the default: TIMS's UnitPrice unchanged
    ({"adjust": "markup", "percent": D("25")}, "80", None, "100.00"),
    ({"base": "cost", "adjust": "margin", "percent": D("40")}, None, "60", "100.00"),
    ({"adjust": "markup", "percent": D("10"), "rounding": "0.99"}, "50", None, "55.99"),
    ({"rounding": "0.99"}, "55.99", None, "55.99"),
    ({"rounding": "0.95"}, "10.10", None, "10.95"),
    ({"rounding": "0.49"}, "10.10", None, "10.49"),
    ({"rounding": "0.49"}, "10.60", None, "10.99"),
    ({"rounding": "whole"}, "10.50", None, "11.00"),
    ({"floor": D("5.00")}, "1.00", None, "5.00"),
    ({"ceiling": D("20.00")}, "25.00", None, "20.00"),
    ({"exchange_rate": D("0.9"), "currency": "EUR"}, "100", None, "90.00"),
])
def test_the_rule_makes_the_price(fields, unit_price, cost, expected):
    assert rules.price(rule(**fields), "SKU-1", unit_price, cost).price == D(expected)


@pytest.mark.parametrize("fields, unit_price, cost, words", [
    ({}, "abc", None, "not a number"),
    ({}, None, None, "has no UnitPrice"),
    ({"base": "cost"}, "10", "", "has no Cost"),
    ({"adjust": "margin", "percent": D("100")}, "10", None, "divides by zero"),
    ({}, "NaN", None, "not a number"),
])
def test_a_price_that_cannot_be_made_says_why(fields, unit_price, cost, words):
    with pytest.raises(rules.PricingError, match=words) as caught:
        rules.price(rule(**fields), "SKU-1", unit_price, cost)
    assert caught.value.fix


def test_a_promotion_counts_only_in_its_window_and_for_its_skus():
    now = timezone.now()
    sale = Promotion(name="Winter sale", skus="GLV-*, ARG-00001", kind="percent", value=D("20"),
                     starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    assert rules.price(rule(), "GLV-9", "100", None, [sale], now=now).price == D("80.00")
    assert rules.price(rule(), "GLV-9", "100", None, [sale], now=now).regular == D("100.00")
    assert rules.price(rule(), "ARG-00002", "100", None, [sale], now=now).price == D("100.00")
    assert rules.price(rule(), "GLV-9", "100", None, [sale], now=now + timedelta(hours=2)).price == D("100.00")


def test_what_waits_for_a_person():
    r = rule()
    priced = rules.price(r, "S", "0.99", None)
    assert any("moves 99 %" in reason for reason in rules.looks_wrong(r, D("99.00"), priced, None))
    assert rules.looks_wrong(r, D("99.00"), rules.price(r, "S", "110", None), "60") == []
    assert "below TIMS's cost" in rules.looks_wrong(r, D("50"), rules.price(r, "S", "49", None), "55")[0]
    assert "zero" in rules.looks_wrong(r, None, rules.price(r, "S", "0", None), None)[0]
    assert rules.looks_wrong(rule(hold_change_over=D("200")), D("99"), priced, None) == []
