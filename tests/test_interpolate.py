"""Tests for ``${VAR}`` interpolation (batch.interpolate)."""

from __future__ import annotations

import pytest

from batch.errors import Problem
from batch.interpolate import InterpolationError, interpolate, interpolate_tree
from batch.validate import Problems

ENV = {"BUCKET": "assets", "EMPTY": "", "NESTED": "${BUCKET}", "A_1": "x"}


class TestInterpolate:
    """interpolate(): one string."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("plain text", "plain text"),
            ("${BUCKET}", "assets"),
            ("s3://${BUCKET}/${A_1}/${BUCKET}", "s3://assets/x/assets"),
            ("${EMPTY}", ""),
            ("$${BUCKET}", "${BUCKET}"),
            ("cost: $5 and $$5", "cost: $5 and $$5"),
            ("trailing $", "trailing $"),
            ("$${", "${"),
            ("${NESTED}", "${BUCKET}"),
            ("a$${B}c${A_1}", "a${B}cx"),
        ],
    )
    def test_replaces_references(self, text: str, expected: str) -> None:
        """Each ${NAME} is replaced once, $${ is a literal ${, and any other $ is kept."""
        assert interpolate(text, ENV) == expected

    def test_unset_variable_is_an_error(self) -> None:
        """An unset variable raises instead of becoming an empty string."""
        with pytest.raises(InterpolationError) as caught:
            interpolate("key-${AWS_KEY}", ENV)
        assert caught.value.messages == ("environment variable AWS_KEY is not set",)

    def test_each_unset_variable_is_named_once(self) -> None:
        """Several unset variables are all reported, each once."""
        with pytest.raises(InterpolationError) as caught:
            interpolate("${X}/${Y}/${X}", ENV)
        assert caught.value.messages == (
            "environment variable X is not set",
            "environment variable Y is not set",
        )

    @pytest.mark.parametrize(
        ("text", "position"),
        [("${", 1), ("abc${BUCKET", 4), ("${}", 1), ("${1A}", 1), ("${A-B}", 1),
         ("${A:-x}", 1), ("ok ${BUCKET} ${ X}", 14)],
    )
    def test_malformed_reference_is_an_error(self, text: str, position: int) -> None:
        """A ${ that does not form ${NAME} is reported with its character position."""
        with pytest.raises(InterpolationError) as caught:
            interpolate(text, ENV)
        (message,) = caught.value.messages
        assert message.startswith(f"malformed ${{...}} at character {position}:")

    def test_message_never_quotes_the_text(self) -> None:
        """The error names positions and variables, never the text (it may be a secret)."""
        secret = "wJalrXUtnFEMI/K7MDENG${"
        with pytest.raises(InterpolationError) as caught:
            interpolate(secret, ENV)
        assert "wJalr" not in str(caught.value)


class TestInterpolateTree:
    """interpolate_tree(): every string value of a parsed manifest."""

    def test_values_are_replaced_and_keys_kept(self) -> None:
        """Strings in mappings and lists are interpolated; keys and non-strings are not."""
        data = {"${BUCKET}": "${BUCKET}", "list": ["${A_1}", 3, None], "n": {"deep": "${A_1}"}}
        problems = Problems()
        result = interpolate_tree(data, ENV, "", problems)
        assert result == {"${BUCKET}": "assets", "list": ["x", 3, None], "n": {"deep": "x"}}
        assert data["list"] == ["${A_1}", 3, None]  # the input is left alone
        assert not problems

    def test_problems_carry_locations(self) -> None:
        """A failure inside the tree is reported at the value's location."""
        data = {"items": [{"url": "x"}, {"url": "http://${HOST}/a", "tags": {"a b": "${"}}]}
        problems = Problems()
        result = interpolate_tree(data, ENV, "", problems)
        assert problems.found[0] == Problem("items[1].url", "environment variable HOST is not set")
        assert problems.found[1].location == "items[1].tags['a b']"
        assert len(problems.found) == 2
        assert result == data  # unresolved strings are kept as written

    def test_unresolved_location_silences_later_checks(self) -> None:
        """Once a value failed to interpolate, later problems at its location are dropped."""
        problems = Problems()
        interpolate_tree({"path": "${NOPE}"}, ENV, "items[0]", problems)
        problems.add("items[0].path", "must not start with '/'")
        problems.add("items[0].url", "is required")
        assert [p.location for p in problems.found] == ["items[0].path", "items[0].url"]
