"""Small, pure building blocks for manifest validation: the problem collector and value checks.

Every check appends a :class:`~batch.errors.Problem` and returns ``None`` instead of raising,
so one pass over a manifest reports everything wrong with it. Messages name types and rules,
never the offending value itself unless the value is a harmless identifier (an option name,
a bucket, an object key): a credential pasted into the wrong field must not reach a terminal
or a cron mail.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from batch.errors import Problem

#: S3 accepts object keys of at most 1024 bytes of UTF-8.
MAX_KEY_BYTES: Final = 1024
#: Problems kept in one ManifestError; later ones are only counted (see Problems).
MAX_PROBLEMS: Final = 1000

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: Non-empty segments without control characters: with no ".." and at most 256 characters
#: (so at most 1024 bytes of UTF-8), certainly a usable key. The fast path for big manifests.
_PLAIN_OBJECT_KEY = re.compile(r"[^/\x00-\x1f\x7f-\x9f]+(?:/[^/\x00-\x1f\x7f-\x9f]+)*")


class Problems:
    """The problems of one validation run, in the order found, at most ``limit`` of them.

    Locations whose ``${VAR}`` interpolation already failed are silenced so that the value
    left behind does not produce a second, confusing problem at the same place; checks that
    may see a value twice (before and after a merge) silence its location the same way.

    Only the first ``limit`` problems are kept and the rest are counted: a million-row item
    file with one mistake per row must not need a million Problem objects in memory (nor a
    million lines in a cron mail). :meth:`report` adds one closing line saying how many more
    there were.
    """

    __slots__ = ("_unresolved", "found", "limit", "more")

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.found: list[Problem] = []
        self.limit = limit
        #: Problems found after the first ``limit``: counted, not kept.
        self.more = 0
        # A dict used as an ordered set: release() drops the newest entries first.
        self._unresolved: dict[str, None] = {}

    def add(self, location: str, message: str) -> None:
        """Record a problem unless this location's value could not be interpolated."""
        if location not in self._unresolved:
            self._keep(Problem(location, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Record problems found elsewhere (the YAML reader's), within the same limit."""
        for problem in problems:
            self._keep(problem)

    def unresolved(self, location: str, messages: Iterable[str]) -> None:
        """Record interpolation failures and silence later checks of the same value."""
        for message in messages:
            self._keep(Problem(location, message))
        self._unresolved[location] = None

    def silence(self, location: str) -> None:
        """Drop later problems at ``location``: what is wrong there was already said."""
        self._unresolved[location] = None

    def mark(self) -> int:
        """A point to :meth:`release` back to once one item has been checked."""
        return len(self._unresolved)

    def release(self, mark: int) -> None:
        """Forget the locations silenced since ``mark``.

        Silenced locations belong to one item (``items.csv:12.path``) and can never be seen
        again once that item is checked, so streamed validation releases them after each
        item instead of keeping one string per faulty row.
        """
        while len(self._unresolved) > mark:
            self._unresolved.popitem()

    @property
    def total(self) -> int:
        """How many problems were found, kept or only counted."""
        return len(self.found) + self.more

    def report(self) -> list[Problem]:
        """The kept problems, plus one closing line when some were only counted."""
        if not self.more:
            return list(self.found)
        return [*self.found, Problem("", f"... and {self.more} more problems ({self.total} in "
                                         f"all; only the first {len(self.found)} are listed)")]

    def _keep(self, problem: Problem) -> None:
        if len(self.found) < self.limit:
            self.found.append(problem)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.found) or self.more > 0


def child(location: str, key: object) -> str:
    """The location of ``key`` inside the mapping at ``location``: ``items[0].s3_store``."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{location}.{key}" if location else key
    return f"{location}[{key!r}]"


def type_name(value: object) -> str:
    """Name a YAML value's type the way an operator reads the manifest."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"  # dates and timestamps YAML builds from unquoted text


def check_keys(
    mapping: Mapping[Any, Any], allowed: Collection[str], location: str, problems: Problems
) -> None:
    """Report every key of ``mapping`` outside ``allowed``, with a spelling hint when close."""
    for key in mapping:
        if isinstance(key, str) and key in allowed:
            continue
        hint = ""
        if isinstance(key, str):
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.add(child(location, key), f"unknown key{hint}")


def expect_mapping(value: object, location: str, problems: Problems) -> dict[Any, Any] | None:
    """Return ``value`` if it is a mapping, else report it."""
    if isinstance(value, dict):
        return value
    problems.add(location, f"must be a mapping, not {type_name(value)}")
    return None


def expect_str(
    value: object, location: str, problems: Problems, *, empty_ok: bool = False
) -> str | None:
    """Return ``value`` if it is a string (non-empty unless ``empty_ok``), else report it.

    Only the type is named, never the value: this is also the check for credentials.
    """
    if not isinstance(value, str):
        problems.add(location, f"must be a string, not {type_name(value)}")
        return None
    if not value and not empty_ok:
        problems.add(location, "must not be empty")
        return None
    return value


def expect_bool(value: object, location: str, problems: Problems) -> bool | None:
    """Return ``value`` if it is ``true``/``false``, else report it."""
    if isinstance(value, bool):
        return value
    problems.add(location, f"must be true or false, not {type_name(value)}")
    return None


def expect_int(
    value: object,
    location: str,
    problems: Problems,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int | None:
    """Return ``value`` if it is an integer within bounds; ``true`` is not an integer here."""
    if type(value) is not int:
        problems.add(location, f"must be an integer, not {type_name(value)}")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            problems.add(location, f"must be at least {low}, not {value}")
        else:
            problems.add(location, f"must be from {low} to {high}, not {value}")
        return None
    return value


def expect_choice(
    value: object, choices: Collection[str], location: str, problems: Problems, hint: str = ""
) -> str | None:
    """Return ``value`` if it is one of ``choices`` (fixed, non-secret words), else report it."""
    if isinstance(value, str) and value in choices:
        return value
    allowed = ", ".join(sorted(choices))
    got = repr(value) if isinstance(value, str) and len(value) <= 40 else type_name(value)
    problems.add(location, f"must be one of {allowed}, not {got}{hint}")
    return None


def check_object_key(value: object, location: str, problems: Problems) -> str | None:
    """Return ``value`` if it is a usable S3 object key, else report why not.

    Leading ``/``, empty and ``..`` segments are legal in S3 but are almost always a
    templating mistake, and many tools (and the local server) map keys onto file paths.
    """
    if (type(value) is str and len(value) <= MAX_KEY_BYTES // 4 and ".." not in value
            and _PLAIN_OBJECT_KEY.fullmatch(value)):
        return value  # what nearly every key is, decided in one regex match
    key = expect_str(value, location, problems)
    if key is None:
        return None
    reasons = []
    if key.startswith("/"):
        reasons.append("must not start with '/'")
    segments = key.split("/")
    if ".." in segments:
        reasons.append("must not contain a '..' segment")
    if "" in segments[1:]:
        reasons.append("must not contain an empty segment ('//' or a trailing '/')")
    if _CONTROL.search(key):
        reasons.append("must not contain control characters")
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        reasons.append(f"is {size} bytes of UTF-8; S3 allows at most {MAX_KEY_BYTES}")
    for reason in reasons:
        problems.add(location, reason)
    return None if reasons else key


def check_bucket(value: object, location: str, problems: Problems) -> str | None:
    """Return ``value`` if it looks like an S3 bucket name, else report it."""
    bucket = expect_str(value, location, problems)
    if bucket is None:
        return None
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        problems.add(
            location,
            f"{bucket!r} is not a valid bucket name (3 to 63 lowercase letters, digits, dots "
            "and hyphens, starting and ending with a letter or digit)",
        )
        return None
    return bucket


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` over ``base``: mappings merge recursively, anything else replaces.

    Neither argument is modified; shared sub-mappings are copied only where they merge.
    """
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged
