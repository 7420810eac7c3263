"""Manifest loading: YAML text -> frozen :class:`~batch.models.Manifest`, or every problem.

:func:`load_manifest` reads and parses the file; :func:`parse_manifest` validates data that
is already parsed. Both raise :class:`~batch.errors.ManifestError` carrying *every* problem
with its location (``items[3].path: ...``), so an operator fixes a manifest in one round.
The order of work is: YAML (with duplicate keys detected), ``${VAR}`` interpolation of every
string, then validation of the interpolated values, item defaults merged, and finally the
check that no two items write the same object.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from batch.errors import ManifestError, Problem
from batch.interpolate import interpolate_tree
from batch.models import OTHER_STORES, ApiSettings, Item, Manifest, S3Store
from batch.options import check_merged_options, check_options, storage_paths
from batch.secret import Secret
from batch.stores import build_s3_store, check_other_store, check_s3_store
from batch.validate import (
    Problems,
    check_keys,
    check_object_key,
    child,
    deep_merge,
    expect_mapping,
    expect_str,
    type_name,
)
from batch.yaml_loader import read_yaml

VERSION: Final = 1
TOP_KEYS: Final = frozenset({"version", "api", "options", "s3_store", "items"}) | OTHER_STORES
ITEM_KEYS: Final = frozenset({"url", "file", "path", "options", "s3_store"}) | OTHER_STORES
API_KEYS: Final = frozenset({"url", "key", "secret"})
_UNSAFE_URL: Final = re.compile(r"[\s\x00-\x1f\x7f]")

#: Where an object is written: an item's ``path`` (entry ``None``) or a resize entry's index.
_Writer = tuple[int, int | None]


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
    problems.found.extend(found)
    data = interpolate_tree(data, environ, "", problems)
    if not isinstance(data, dict):
        problems.add("", f"the manifest must be a mapping (version, items, ...), not "
                     f"{type_name(data)}")
        raise ManifestError(str(source), problems.found)
    check_keys(data, TOP_KEYS, "", problems)
    _check_version(data, problems)
    api = _api(data["api"], problems) if "api" in data else ApiSettings()
    items = _Items(data, source, problems).build()
    if problems:
        raise ManifestError(str(source), problems.found)
    return Manifest(source=source, version=VERSION, api=api, items=items)


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
    url = _http_url(block["url"], "api.url", problems) if "url" in block else None
    key = expect_str(block["key"], "api.key", problems) if "key" in block else None
    secret = expect_str(block["secret"], "api.secret", problems) if "secret" in block else None
    return ApiSettings(
        url=url,
        key=Secret(key) if key is not None else None,
        secret=Secret(secret) if secret is not None else None,
    )


def _http_url(value: object, location: str, problems: Problems) -> str | None:
    """Return ``value`` if it is an http(s) URL with a host. The URL is never echoed: it may
    carry a signature or a password."""
    url = expect_str(value, location, problems)
    if url is None:
        return None
    if _UNSAFE_URL.search(url):
        problems.add(location, "must not contain spaces or control characters "
                     "(percent-encode them)")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        problems.add(location, "is not a valid URL")
        return None
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"scheme {parts.scheme!r}" if parts.scheme.isalnum() else "no scheme"
        problems.add(location, f"must be an http or https URL, not one with {scheme}")
        return None
    if not parts.hostname:
        problems.add(location, "must be an http or https URL with a host")
        return None
    return url


def _local_file(value: object, location: str, base: Path, problems: Problems) -> Path | None:
    """Return the absolute path of an existing, readable regular file, else report it."""
    name = expect_str(value, location, problems)
    if name is None:
        return None
    path = Path(os.path.abspath(base / name))
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        problems.add(location, f"{path}: {exc.strerror or 'cannot be read'}")
        return None
    if not stat.S_ISREG(mode):
        problems.add(location, f"{path}: not a regular file")
    elif not os.access(path, os.R_OK):
        problems.add(location, f"{path}: not readable")
    else:
        return path
    return None


class _Items:
    """Builds every item of one manifest, sharing the unmerged defaults between items.

    Items without their own ``options``/``s3_store`` reuse one checked default object, so a
    100 000-item manifest costs one merge per item that overrides something, not per item.
    """

    def __init__(self, data: dict[Any, Any], source: Path, problems: Problems) -> None:
        self.problems = problems
        self.base = Path(os.path.abspath(source)).parent
        self.raw_items = data.get("items")
        self.options = check_options(data["options"], "options", problems) \
            if "options" in data else {}
        self.s3 = check_s3_store(data["s3_store"], "s3_store", problems) \
            if "s3_store" in data else None
        self.others = {
            name: block
            for name in sorted(OTHER_STORES & data.keys())
            if (block := check_other_store(data[name], name, problems)) is not None
        }
        self._default_options: dict[str, Any] | None = None
        self._default_s3: tuple[S3Store | None] | None = None
        self.targets: dict[tuple[str, str], _Writer] = {}

    def build(self) -> tuple[Item, ...]:
        """Every valid item, in manifest order (problems collected for the others)."""
        raw = self.raw_items
        if raw is None:
            self.problems.add("items", "is required (a list of items with url or file, "
                              "and path)")
            return ()
        if not isinstance(raw, list):
            self.problems.add("items", f"must be a list, not {type_name(raw)}")
            return ()
        if not raw:
            self.problems.add("items", "must not be empty")
        built = (self._item(index, value) for index, value in enumerate(raw))
        return tuple(item for item in built if item is not None)

    def _item(self, index: int, value: object) -> Item | None:
        """One item, or ``None`` when it has a problem (already recorded)."""
        here = f"items[{index}]"
        problems = self.problems
        raw = expect_mapping(value, here, problems)
        if raw is None:
            return None
        check_keys(raw, ITEM_KEYS, here, problems)
        url = file = None
        if ("url" in raw) == ("file" in raw):
            problems.add(here, "needs exactly one of url and file"
                         if "url" in raw else "needs a url or a file")
        elif "url" in raw:
            url = _http_url(raw["url"], f"{here}.url", problems)
        else:
            file = _local_file(raw["file"], f"{here}.file", self.base, problems)
        if "path" not in raw:
            problems.add(f"{here}.path", "is required (the full S3 key, file name included)")
        path = check_object_key(raw.get("path"), f"{here}.path", problems) \
            if "path" in raw else None
        options = self._item_options(raw, here)
        s3 = self._item_s3(raw, here)
        stores = self._item_stores(raw, here)
        if path is None or options is None or (url is None and file is None):
            return None
        if s3 is not None:
            self._claim(s3.bucket, path, (index, None), f"{here}.path")
            for entry, storage_path in storage_paths(options):
                self._claim(s3.bucket, storage_path, (index, entry),
                            f"{here}.options.resize[{entry}].storage_path")
        return Item(index=index, path=path, url=url, file=file, options=options,
                    s3_store=s3, stores=stores)

    def _item_options(self, raw: dict[Any, Any], here: str) -> dict[str, Any] | None:
        """The item's options merged over the defaults; defaults are checked once, on use."""
        if "options" not in raw:
            if self._default_options is None and self.options is not None:
                check_merged_options(self.options, "options", self.problems)
                self._default_options = self.options
            return self._default_options
        own = check_options(raw["options"], f"{here}.options", self.problems)
        if own is None or self.options is None:
            return None
        merged = deep_merge(self.options, own)
        check_merged_options(merged, f"{here}.options", self.problems)
        return merged

    def _item_s3(self, raw: dict[Any, Any], here: str) -> S3Store | None:
        """The item's merged store; the defaults are completed once, at ``s3_store``, on use."""
        if "s3_store" not in raw:
            if self._default_s3 is None:
                store = self.s3
                built = build_s3_store(store, "s3_store", self.problems, defaults=None) \
                    if store is not None else None
                self._default_s3 = (built,)
            return self._default_s3[0]
        own = check_s3_store(raw["s3_store"], f"{here}.s3_store", self.problems)
        if own is None:
            return None
        merged = deep_merge(self.s3, own) if self.s3 is not None else own
        return build_s3_store(merged, f"{here}.s3_store", self.problems, defaults=self.s3)

    def _item_stores(self, raw: dict[Any, Any], here: str) -> dict[str, dict[str, Any]]:
        """Kraken's other stores, merged like ``s3_store`` but otherwise passed through."""
        if not OTHER_STORES & raw.keys():
            return self.others
        stores = dict(self.others)
        for name in sorted(OTHER_STORES & raw.keys()):
            own = check_other_store(raw[name], child(here, name), self.problems)
            if own is not None:
                stores[name] = deep_merge(stores.get(name, {}), own)
        return stores

    def _claim(self, bucket: str, key: str, writer: _Writer, location: str) -> None:
        """Record that ``writer`` writes ``bucket/key``; report it if someone already does."""
        earlier = self.targets.get((bucket, key))
        if earlier is None:
            self.targets[(bucket, key)] = writer
        else:
            item, entry = earlier
            who = f"items[{item}]" if entry is None else f"items[{item}].options.resize[{entry}]"
            self.problems.add(location, f"{key} in bucket {bucket} is already written by {who}")
