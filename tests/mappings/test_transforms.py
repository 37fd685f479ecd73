"""Transforms: each does one thing, chains are checked when saved, and no input crashes them."""

from decimal import Decimal

import pytest
from django.db import OperationalError
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.connectors import errors
from mappings.errors import MappingError, TransformError, UnmappedValueError
from mappings.schemas import FieldSpec
from mappings.transforms import REGISTRY, CompiledValueMap, Context, check_chain, parse_chain, run_chain


def run(chain, value, **context):
    return run_chain(parse_chain(chain), value, Context(**context))


@pytest.mark.parametrize("chain, value, expected", [
    ("trim | upper", "  ab ", "AB"),
    ("lower", "ÄB", "äb"),
    ("decimal:2", "12.5", "12.50"),
    ("decimal:2", "12.345", "12.35"),  # half-up, like money
    ("decimal", "2.000", "2"),
    ("decimal", "0.10", "0.1"),
    ("decimal:4", 3, "3.0000"),
    ("round", "2.5", "3"),
    ("round:1", "2.25", "2.3"),
    ("integer", "2.000", 2),
    ("datetime", "2026-03-02T10:15:00+01:00", "2026-03-02T09:15:00Z"),
    ("datetime:UTC:Europe/Paris", "2026-03-02 10:15:00", "2026-03-02T09:15:00Z"),
    # Aware (the canonical model's form): the offset is kept, the naive zone is not applied on top.
    ("datetime:UTC:Europe/Paris", "2026-03-02T04:15:00-05:00", "2026-03-02T09:15:00Z"),
    ("datetime:UTC:Europe/Paris", "2026-03-02T10:15:00.250000+01:00", "2026-03-02T09:15:00.250000Z"),
    ("datetime:UTC:Asia/Tokyo", "2026-03-01T23:30:00Z", "2026-03-01T23:30:00Z"),
    ("datetime:America/Chicago", "2026-03-02T09:15:00Z", "2026-03-02T03:15:00-06:00"),
    ("date:Europe/Paris", "2026-03-01T23:30:00Z", "2026-03-02"),
    ("truncate:3", "abcdef", "abc"),
    ("split_name:first", "Anne Marie van Berg", "Anne Marie van"),
    ("split_name:last", "Anne Marie van Berg", "Berg"),
    ("split_name:first", "Cher", ""),
    ("join", ["Zoë", "", None, "Müller"], "Zoë Müller"),
    ("join:', '", ["a", "b"], "a, b"),
    ("default:Open", "", "Open"),
    ("default:a:b", None, "a:b"),
    ("boolean", "1", True),
    ("boolean", "no", False),
    ("text", Decimal("1.50"), "1.50"),
    ("trim | default:x | upper", None, "X"),
])
def test_transforms(chain, value, expected):
    assert run(chain, value) == expected


def test_truncate_without_a_length_uses_the_target_max_length_and_warns():
    context = Context(spec=FieldSpec("string", max_length=5))
    assert run_chain(parse_chain("truncate"), "abcdefgh", context) == "abcde"
    assert context.warnings == ["cut to 5 characters (was 8)"]


@pytest.mark.parametrize("chain, value", [
    ("decimal", "abc"), ("decimal", "NaN"), ("decimal", "1e99999"), ("integer", "2.5"), ("datetime", "yesterday"),
    ("boolean", "maybe"), ("truncate", "no max length here"), ("value_map:nope", "x"), ("decimal:12", "1e70"),
])
def test_bad_values_are_transform_errors(chain, value):
    with pytest.raises(TransformError):
        run(chain, value)


@pytest.mark.parametrize("chain", [
    "nope", "decimal:x", "decimal:99", "trim ||upper", "datetime:Mars/Olympus", "split_name:middle", "value_map:",
    "truncate:0", "trim:1", " | ".join(["trim"] * 30),
])
def test_bad_chains_are_refused_when_saved(chain):
    assert check_chain(chain)


def test_lookup_uses_the_injected_resolver_and_reports_failures_on_the_field():
    assert run("lookup:customer", "a@b.c", resolvers={"customer": lambda email: "C1"}) == "C1"

    def broken(email):
        raise ValueError("no such customer")

    with pytest.raises(TransformError, match="no such customer"):
        run("lookup:customer", "a@b.c", resolvers={"customer": broken})

    def refused(email):
        raise errors.ValidationFailed("TIMS refused the data (422)", system="TIMS")

    with pytest.raises(TransformError, match="refused"):  # a permanent connector error is reported on the field
        run("lookup:customer", "a@b.c", resolvers={"customer": refused})


@pytest.mark.parametrize("error", [
    errors.TransientError("TIMS did not answer in time.", system="TIMS"),
    errors.RateLimited("TIMS is limiting our requests (429)", retry_after=3, system="TIMS"),
    errors.CircuitOpen("Calls to TIMS are paused", retry_after=30, system="tims"),
    OperationalError("server closed the connection unexpectedly"),
])
def test_lookup_lets_transient_failures_through_so_the_pipeline_retries(error):
    def flaky(email):
        raise error

    with pytest.raises(type(error)) as caught:
        run("lookup:customer", "a@b.c", resolvers={"customer": flaky})
    assert caught.value is error


def test_value_maps_match_exactly_then_ignoring_case_and_spaces():
    states = CompiledValueMap("states", {"Shipped": "Fulfilled"}, strict=True, pk=7)
    context = Context(value_maps={"states": states})
    assert run_chain(parse_chain("value_map:states"), " shipped ", context) == "Fulfilled"
    with pytest.raises(UnmappedValueError) as caught:
        run_chain(parse_chain("value_map:states"), "Lost", context)
    assert (caught.value.map_name, caught.value.value, caught.value.permanent) == ("states", "Lost", True)
    assert context.unmapped == [("states", "Lost")]
    empty = Context(value_maps={"states": states})
    assert run_chain(parse_chain("value_map:states"), "", empty) == ""  # missing, not unmapped
    assert empty.unmapped == []
    loose = CompiledValueMap("carriers", {"UPS": "UPS"}, default="STANDARD")
    assert run_chain(parse_chain("value_map:carriers"), "Pigeon", Context(value_maps={"carriers": loose})) == \
        "STANDARD"


VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.text(max_size=50) | \
    st.lists(st.text(max_size=5), max_size=3) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
CHAINS = st.lists(st.sampled_from([
    "trim", "upper", "lower", "text", "decimal", "decimal:2", "round:1", "integer", "datetime", "date:Europe/Paris",
    "datetime:UTC:America/New_York", "truncate:10", "split_name:first", "split_name:last", "join", "default:x",
    "boolean", "value_map:m", "lookup:l",
]), min_size=1, max_size=5).map(" | ".join)


@settings(max_examples=500, deadline=None)
@given(CHAINS, VALUES)
def test_any_value_through_any_chain_gives_a_value_or_a_mapping_error(chain, value):
    context = Context(value_maps={"m": CompiledValueMap("m", {"a": "b"})}, resolvers={"l": lambda v: "found"},
                      spec=FieldSpec("string", max_length=8))
    try:
        run_chain(parse_chain(chain), value, context)
    except MappingError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_chain_text_is_accepted_or_refused_with_a_reason(text):
    problem = check_chain(text)
    assert problem is None or isinstance(problem, str)


def test_every_transform_documents_itself():
    assert all(transform.help or transform.run.__doc__ for transform in REGISTRY.values())
