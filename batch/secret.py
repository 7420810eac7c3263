"""Credentials that cannot leak by accident.

A :class:`Secret` prints as ``********`` in ``repr``, ``str``, f-strings, tracebacks and
dataclass reprs; only :meth:`Secret.reveal` gives the value, and only the request builder
calls it. :func:`redact` is the last line of defence for text that came from elsewhere (a
server message that echoes a key, say) before it reaches a report or a log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

MASK: Final = "********"


class Secret:
    """A credential whose value is only available through :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the real value. Call this only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:  # pickling would be a way out; refuse it
        raise TypeError("Secret values cannot be pickled")


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace every occurrence of each secret's value in ``text`` with the mask.

    Values shorter than 4 characters are left alone: masking every "a" in a message would
    destroy it, and such values are not credentials anyone uses.
    """
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if len(value) >= 4 and value in text:
            text = text.replace(value, MASK)
    return text
