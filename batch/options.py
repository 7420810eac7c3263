"""Checks of Kraken optimization options (``options:`` at the top and in each item).

Options are checked in two steps because items deep-merge theirs over the top-level ones:
:func:`check_options` checks each block where it is written (types, known keys, allowed
words), and :func:`check_merged_options` checks what only the merged result can tell (a
resize ``strategy`` set at the top, its ``width`` in the item). What Kraken documents is
validated; free-form values (``crop_mode``, colours) are passed through as given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from batch.models import OPTION_KEYS
from batch.validate import (
    Problems,
    check_keys,
    check_object_key,
    child,
    expect_bool,
    expect_choice,
    expect_int,
    expect_mapping,
    expect_str,
    type_name,
)

SAMPLING_SCHEMES: Final = frozenset({"4:2:0", "4:2:2", "4:4:4"})
PRESERVE_META: Final = frozenset({"profile", "date", "copyright", "geotag", "orientation"})
CONVERT_FORMATS: Final = frozenset({"jpeg", "png", "gif", "webp", "avif"})
#: Which dimensions each resize strategy needs (Kraken's "image resizing" documentation).
STRATEGY_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "exact": ("width", "height"),
    "portrait": ("height",),
    "landscape": ("width",),
    "auto": ("width", "height"),
    "fit": ("width", "height"),
    "crop": ("width", "height"),
    "square": ("size",),
    "fill": ("width", "height"),
}
#: Kraken allows at most 10 sizes in one multi-resize request.
MAX_RESIZES: Final = 10

_RESIZE_KEYS: Final = frozenset(
    {"strategy", "width", "height", "size", "crop_mode", "background", "scale", "x", "y",
     "enhance", "lossy", "quality", "sampling_scheme"}
)
_MULTI_RESIZE_KEYS: Final = _RESIZE_KEYS | {"id", "storage_path"}
_CONVERT_KEYS: Final = frozenset({"format", "background", "keep_extension"})
_SEXAGESIMAL_HINT: Final = " (quote it: YAML reads an unquoted 4:2:0 as a base-60 number)"

_Check = Callable[[object, str, Problems], object]


def _quality(value: object, location: str, problems: Problems) -> object:
    return expect_int(value, location, problems, low=1, high=100)


def _positive(value: object, location: str, problems: Problems) -> object:
    return expect_int(value, location, problems, low=1)


def _integer(value: object, location: str, problems: Problems) -> object:
    return expect_int(value, location, problems)


def _sampling(value: object, location: str, problems: Problems) -> object:
    hint = _SEXAGESIMAL_HINT if type(value) is int else ""
    return expect_choice(value, SAMPLING_SCHEMES, location, problems, hint)


def _strategy(value: object, location: str, problems: Problems) -> object:
    return expect_choice(value, STRATEGY_NEEDS, location, problems)


def _preserve_meta(value: object, location: str, problems: Problems) -> object:
    if not isinstance(value, list):
        problems.add(location, f"must be a list, not {type_name(value)}")
        return None
    for index, entry in enumerate(value):
        expect_choice(entry, PRESERVE_META, f"{location}[{index}]", problems)
    return value


def _convert(value: object, location: str, problems: Problems) -> object:
    mapping = expect_mapping(value, location, problems)
    if mapping is not None:
        _check_fields(mapping, _CONVERT_FIELDS, location, problems)
    return mapping


def _resize(value: object, location: str, problems: Problems) -> object:
    if isinstance(value, list):
        return _multi_resize(value, location, problems)
    mapping = expect_mapping(value, location, problems)
    if mapping is not None:
        _check_fields(mapping, _RESIZE_FIELDS, location, problems)
    return mapping


_RESIZE_FIELDS: Final[dict[str, _Check]] = {
    "strategy": _strategy,
    "width": _positive,
    "height": _positive,
    "size": _positive,
    "crop_mode": expect_str,
    "background": expect_str,
    "scale": _integer,
    "x": _integer,
    "y": _integer,
    "enhance": expect_bool,
    "lossy": expect_bool,
    "quality": _quality,
    "sampling_scheme": _sampling,
}
_CONVERT_FIELDS: Final[dict[str, _Check]] = {
    "format": lambda v, loc, p: expect_choice(v, CONVERT_FORMATS, loc, p),
    "background": expect_str,
    "keep_extension": expect_bool,
}
_OPTION_FIELDS: Final[dict[str, _Check]] = {
    "lossy": expect_bool,
    "webp": expect_bool,
    "auto_orient": expect_bool,
    "dev": expect_bool,
    "quality": _quality,
    "sampling_scheme": _sampling,
    "preserve_meta": _preserve_meta,
    "resize": _resize,
    "convert": _convert,
}
assert set(_OPTION_FIELDS) == OPTION_KEYS, "options.py must check every key models.py allows"


def _check_fields(
    mapping: dict[Any, Any], fields: dict[str, _Check], location: str, problems: Problems
) -> None:
    """Check the known keys of ``mapping`` with ``fields`` and report the unknown ones."""
    check_keys(mapping, fields, location, problems)
    for key, value in mapping.items():
        check = fields.get(key) if isinstance(key, str) else None
        if check is not None:
            check(value, child(location, key), problems)


def _multi_resize(entries: list[Any], location: str, problems: Problems) -> list[Any]:
    """Check a multi-resize list: complete entries, unique ids, unique storage paths."""
    if not entries:
        problems.add(location, "must not be an empty list")
    if len(entries) > MAX_RESIZES:
        problems.add(location, f"has {len(entries)} sizes; Kraken allows at most {MAX_RESIZES}")
    ids: dict[str, int] = {}
    paths: dict[str, int] = {}
    for index, entry in enumerate(entries):
        here = f"{location}[{index}]"
        mapping = expect_mapping(entry, here, problems)
        if mapping is None:
            continue
        check_keys(mapping, _MULTI_RESIZE_KEYS, here, problems)
        _check_fields({k: v for k, v in mapping.items() if k in _RESIZE_KEYS},
                      _RESIZE_FIELDS, here, problems)
        _check_resize_complete(mapping, here, problems)
        _unique_id(mapping, index, ids, location, problems)
        if "storage_path" in mapping:
            path = check_object_key(mapping["storage_path"], f"{here}.storage_path", problems)
            if path is not None and path in paths:
                problems.add(f"{here}.storage_path",
                             f"{path} is already used by {location}[{paths[path]}]")
            elif path is not None:
                paths[path] = index
    return entries


def _unique_id(
    entry: dict[Any, Any], index: int, ids: dict[str, int], location: str, problems: Problems
) -> None:
    """Check one multi-resize ``id``: required, a string or an integer, unique in the list."""
    here = f"{location}[{index}]"
    if "id" not in entry:
        problems.add(f"{here}.id", "is required in a list of sizes (a string or an integer)")
        return
    value = entry["id"]
    if not (isinstance(value, str) and value) and type(value) is not int:
        problems.add(f"{here}.id", f"must be a non-empty string or an integer, not "
                     f"{type_name(value)}")
        return
    key = str(value)  # Kraken answers with string ids: 1 and "1" would clash
    if key in ids:
        problems.add(f"{here}.id", f"{key!r} is already used by {location}[{ids[key]}]")
    else:
        ids[key] = index


def _check_resize_complete(resize: dict[Any, Any], location: str, problems: Problems) -> None:
    """Check that a (merged) resize names a strategy and the dimensions it needs."""
    strategy = resize.get("strategy")
    if strategy is None:
        if "strategy" not in resize:
            problems.add(f"{location}.strategy",
                         f"is required (one of {', '.join(sorted(STRATEGY_NEEDS))})")
        return
    for dimension in STRATEGY_NEEDS.get(strategy, ()) if isinstance(strategy, str) else ():
        if dimension not in resize:
            problems.add(f"{location}.{dimension}", f"is required by strategy {strategy!r}")


def check_options(value: object, location: str, problems: Problems) -> dict[str, Any] | None:
    """Check one ``options:`` block where it is written; return it, or ``None`` if unusable."""
    mapping = expect_mapping(value, location, problems)
    if mapping is not None:
        _check_fields(mapping, _OPTION_FIELDS, location, problems)
    return mapping


def check_merged_options(options: dict[str, Any], location: str, problems: Problems) -> None:
    """Check what only the merged options can tell: resize and convert completeness."""
    resize = options.get("resize")
    if isinstance(resize, dict):
        _check_resize_complete(resize, f"{location}.resize", problems)
    convert = options.get("convert")
    if isinstance(convert, dict) and "format" not in convert:
        problems.add(f"{location}.convert.format",
                     f"is required (one of {', '.join(sorted(CONVERT_FORMATS))})")


def storage_paths(options: dict[str, Any]) -> list[tuple[int, str]]:
    """The distinct, valid ``storage_path`` of each multi-resize entry, with its index.

    Invalid and repeated ones were already reported by :func:`check_options`.
    """
    resize = options.get("resize")
    if not isinstance(resize, list):
        return []
    found: dict[str, int] = {}
    for index, entry in enumerate(resize):
        path = entry.get("storage_path") if isinstance(entry, dict) else None
        if isinstance(path, str) and path not in found \
                and check_object_key(path, "", Problems()) is not None:
            found[path] = index
    return [(index, path) for path, index in found.items()]
