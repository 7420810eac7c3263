"""``${VAR}`` interpolation of manifest strings from the environment.

Rules (the README repeats them):

* ``${NAME}`` is replaced by the variable's value; ``NAME`` matches ``[A-Za-z_][A-Za-z0-9_]*``.
* ``$${`` is an escape for a literal ``${``: ``$${HOME}`` stays ``${HOME}``. A ``$`` anywhere
  else is an ordinary character, so passwords and regular expressions need no escaping.
* An unset variable is an error, never an empty string: an empty S3 secret or bucket
  discovered at 2 a.m. is worse than a manifest that refuses to load.
* Any other ``${`` (unterminated, empty, ``${A-B}``, ``${A:-x}``) is an error.
* Substitution is one pass: a value that itself contains ``${...}`` is used as is.
* Only values are interpolated; mapping keys stay literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from batch.validate import Problems, child

_REFERENCE: Final = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)\})?")


class InterpolationError(ValueError):
    """A string could not be interpolated; ``messages`` says why, one line per reason.

    Messages name variables and character positions, never the text itself (it may be a
    credential).
    """

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Return ``text`` with every ``${NAME}`` replaced from ``environ``.

    Raises:
        InterpolationError: a variable is unset or a ``${`` is malformed.
    """
    if "$" not in text:  # the common case, and the fast path for 100 000-item manifests
        return text
    messages: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            messages.append(
                f"malformed ${{...}} at character {match.start() + 1}: write ${{NAME}} with "
                "NAME made of letters, digits and _ (not starting with a digit), or $${ for "
                "a literal ${"
            )
            return match.group(0)
        value = environ.get(name)
        if value is None:
            messages.append(f"environment variable {name} is not set")
            return ""
        return value

    result = _REFERENCE.sub(replace, text)
    if messages:
        raise InterpolationError(tuple(dict.fromkeys(messages)))
    return result


def interpolate_tree(
    value: object, environ: Mapping[str, str], location: str, problems: Problems
) -> object:
    """Interpolate every string value inside ``value`` (mappings, lists, scalars).

    Returns a new structure; the input is not modified. A string that cannot be
    interpolated is kept as written and its location is marked unresolved in ``problems``,
    so the value checks that follow stay silent about it.
    """
    if isinstance(value, str):
        try:
            return interpolate(value, environ)
        except InterpolationError as exc:
            problems.unresolved(location, exc.messages)
            return value
    if isinstance(value, dict):
        return {
            key: _leaf_or_tree(item, environ, location, key, problems)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate_tree(item, environ, f"{location}[{index}]", problems)
            for index, item in enumerate(value)
        ]
    return value


def _leaf_or_tree(
    value: object, environ: Mapping[str, str], location: str, key: object, problems: Problems
) -> object:
    """Interpolate one mapping value, building its location only when it can be needed."""
    if isinstance(value, str) and "$" not in value:
        return value
    if isinstance(value, str | dict | list):
        return interpolate_tree(value, environ, child(location, key), problems)
    return value
