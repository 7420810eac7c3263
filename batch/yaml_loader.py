"""YAML reading for manifests: the safe loader, plus duplicate-key detection.

PyYAML silently keeps the last of two equal keys in a mapping, so a manifest with two
``path:`` lines in one item would write one image to the wrong place without a word. The
loader here reports every duplicate with its line and column instead. It subclasses
libyaml's ``CSafeLoader`` when PyYAML was built with it (scanning and parsing in C is what
makes 100 000-item manifests load in seconds) and the pure-Python ``SafeLoader`` otherwise;
only mapping construction, which is Python in both, is overridden.
"""

from __future__ import annotations

from typing import Any, Final

import yaml  # type: ignore[import-untyped]  # no stubs are installed for PyYAML

from batch.errors import ManifestError, Problem

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


def _where(mark: Any) -> str:
    """PyYAML marks count from 0; editors and operators count from 1."""
    return f"line {mark.line + 1}, column {mark.column + 1}"


class ManifestLoader(_BASE):  # type: ignore[misc]  # PyYAML is untyped
    """A safe YAML loader that records duplicate mapping keys in :attr:`duplicates`.

    Keys merged in with ``<<: *anchor`` are not duplicates: overriding them is the point.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, int, Problem]] = []  # line and column sort them

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, Any] = {}
            for key_node, _value in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: SafeConstructor reports it below
                    continue
                if first is not key_node.start_mark:
                    name = repr(key) if isinstance(key, str) else type(key).__name__
                    mark = key_node.start_mark
                    self.duplicates.append((mark.line, mark.column, Problem(
                        _where(mark),
                        f"duplicate key {name} (first at {_where(first)}); "
                        "YAML would silently keep only the last one",
                    )))
        return super().construct_mapping(node, deep=deep)


def read_yaml(raw: bytes, source: str) -> tuple[object, list[Problem]]:
    """Decode and parse manifest bytes; return the data and the duplicate-key problems.

    Raises:
        ManifestError: the bytes are not UTF-8, not YAML, or hold no document at all.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(source, [Problem(
            f"line {line}, column {column}",
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}): save the manifest as UTF-8",
        )]) from None
    loader = ManifestLoader(text)  # what yaml.load() does, keeping the loader to read from
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise ManifestError(source, [_syntax_problem(exc)]) from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        raise ManifestError(source, [_reader_problem(exc, text)]) from None
    finally:
        loader.dispose()
    if data is None:
        raise ManifestError(source, [Problem("", "the manifest is empty (expected a mapping "
                                                 "with version and items)")])
    # Outer mappings are built before inner ones: report in file order instead.
    return data, [problem for *_, problem in sorted(loader.duplicates, key=lambda d: d[:2])]


def _syntax_problem(exc: Any) -> Problem:
    """Describe a YAML syntax error by position and rule, never by quoting the line."""
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        context_at = f" at {_where(exc.context_mark)}" if exc.context_mark else ""
        message = f"{exc.problem} ({exc.context}{context_at})"
    return Problem(_where(mark) if mark is not None else "", f"invalid YAML: {message}")


def _reader_problem(exc: Any, text: str) -> Problem:
    """Locate a ReaderError, which carries a character offset instead of a mark."""
    position = getattr(exc, "position", None)
    character = getattr(exc, "character", None)
    if not isinstance(position, int) or not 0 <= position <= len(text):
        return Problem("", f"invalid YAML: {type(exc).__name__}")
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = ord(character) if isinstance(character, str) else character
    what = f"character U+{code:04X}" if isinstance(code, int) else "a character"
    return Problem(f"line {line}, column {column}",
                   f"invalid YAML: {what} is not allowed (control characters are not allowed)")
