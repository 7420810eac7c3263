"""Manifest loading: YAML text -> frozen :class:`~batch.models.Manifest`, or every problem.

:func:`load_manifest` reads and parses the file; :func:`parse_manifest` validates data that
is already parsed. Both raise :class:`~batch.errors.ManifestError` carrying *every* problem
with its location (``items[3].path: ...``), so an operator fixes a manifest in one round.
The order of work is: YAML (with duplicate keys detected), ``${VAR}`` interpolation of every
string, then validation of the interpolated values, item defaults merged, and finally the
check that no two items write the same object.

The items are either inline (``items:``, checked by :mod:`batch.items` into a tuple) or in a
CSV / JSON Lines file (``items_from:``, streamed by :mod:`batch.itemfile` and never held in
memory: the manifest then carries a re-iterable :class:`~batch.models.ItemSource`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from batch.errors import ManifestError, Problem
from batch.interpolate import interpolate_tree
from batch.itemfile import load_item_file
from batch.items import ItemDefaults, http_url, inline_items
from batch.models import OTHER_STORES, ApiSettings, Item, ItemSource, Manifest
from batch.secret import Secret
from batch.validate import Problems, check_keys, expect_mapping, expect_str, type_name
from batch.yaml_loader import read_yaml

VERSION: Final = 1
TOP_KEYS: Final = frozenset(
    {"version", "api", "options", "s3_store", "items", "items_from"}) | OTHER_STORES
API_KEYS: Final = frozenset({"url", "key", "secret"})


def load_manifest(path: Path, environ: Mapping[str, str]) -> Manifest:
    """Read, parse and validate the manifest at ``path``, interpolating from ``environ``.

    Raises:
        ManifestError: the file is unreadable, not UTF-8, empty, not YAML, or invalid.
    """
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ManifestError(source, [Problem("", f"cannot read the manifest: {reason}")]) from None
    data, duplicates = read_yaml(raw, source)
    return _parse(data, path, environ, duplicates)


def parse_manifest(data: object, *, source: Path, environ: Mapping[str, str]) -> Manifest:
    """Validate already-parsed manifest ``data``; ``source`` locates relative ``file:`` paths.

    Raises:
        ManifestError: with every problem found.
    """
    return _parse(data, source, environ, [])


def _parse(
    data: object, source: Path, environ: Mapping[str, str], found: list[Problem]
) -> Manifest:
    """Interpolate, then validate; ``found`` holds problems the YAML reader already had."""
    problems = Problems()
    problems.extend(found)
    data = interpolate_tree(data, environ, "", problems)
    if not isinstance(data, dict):
        problems.add("", f"the manifest must be a mapping (version, items, ...), not "
                     f"{type_name(data)}")
        raise ManifestError(str(source), problems.report())
    check_keys(data, TOP_KEYS, "", problems)
    _check_version(data, problems)
    api = _api(data["api"], problems) if "api" in data else ApiSettings()
    items = _items(data, source, environ, problems)
    if problems:
        raise ManifestError(str(source), problems.report())
    return Manifest(source=source, version=VERSION, api=api, items=items)


def _items(data: dict[Any, Any], source: Path, environ: Mapping[str, str],
           problems: Problems) -> tuple[Item, ...] | ItemSource:
    """The inline items, or the streamed ``items_from`` file: exactly one of the two."""
    defaults = ItemDefaults.check(data, source, problems)
    if "items" in data and "items_from" in data:
        # Checking neither: which of the two lists is the one meant is the operator's call.
        problems.add("items_from", "cannot be used together with items: give the items "
                     "inline (items) or in a CSV / JSON Lines file (items_from), not both")
        return ()
    if "items_from" in data:
        streamed = load_item_file(data["items_from"], defaults, environ, source, problems)
        return () if streamed is None else streamed
    if "items" not in data:
        problems.add("items", "is required (a list of items with url or file, and path), "
                     "unless items_from names a CSV or JSON Lines file of items")
        return ()
    return inline_items(data["items"], defaults, problems)


def _check_version(data: dict[Any, Any], problems: Problems) -> None:
    """Only version 1 exists; a later format must be refused, not half understood."""
    if "version" not in data:
        problems.add("version", f"is required (write version: {VERSION})")
    elif type(data["version"]) is not int or data["version"] != VERSION:
        shown = data["version"] if type(data["version"]) is int else type_name(data["version"])
        problems.add("version", f"unsupported version {shown}: this program reads version "
                     f"{VERSION}")


def _api(value: object, problems: Problems) -> ApiSettings:
    """The optional ``api:`` block; the CLI applies flag > environment > manifest precedence."""
    block = expect_mapping(value, "api", problems)
    if block is None:
        return ApiSettings()
    check_keys(block, API_KEYS, "api", problems)
    url = http_url(block["url"], "api.url", problems) if "url" in block else None
    key = expect_str(block["key"], "api.key", problems) if "key" in block else None
    secret = expect_str(block["secret"], "api.secret", problems) if "secret" in block else None
    return ApiSettings(
        url=url,
        key=Secret(key) if key is not None else None,
        secret=Secret(secret) if secret is not None else None,
    )
