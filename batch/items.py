"""One manifest item, checked or resolved: the code inline ``items:`` and ``items_from:`` share.

Checking (:class:`ItemChecker`) validates one raw item mapping at a location
(``items[3]`` inline, ``items.csv:12`` in an item file) and records which objects it writes;
:class:`batch.itemfile.ItemResolver` later rebuilds an item file's checked items without
checking them again. Both share the top-level defaults (:class:`ItemDefaults`), so that an
item without its own ``options``/``s3_store`` reuses one default object instead of merging
per item.

Collisions are tracked as a 16-byte BLAKE2b digest of ``bucket\\0key`` mapped to the first
writer, so the check costs about 125 bytes per written object (the digest, a small int and
the dict slot) whatever the length of the keys: about 120 MiB for a million objects.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from batch.models import OTHER_STORES, Item, S3Store
from batch.options import check_merged_options, check_options, storage_paths
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

ITEM_KEYS: Final = frozenset({"url", "file", "path", "options", "s3_store"}) | OTHER_STORES
_SOURCE_KEYS: Final = frozenset({"url", "file", "path"})
_UNSAFE_URL: Final = re.compile(r"[\s\x00-\x1f\x7f]")
#: An http(s) URL whose host is plain ASCII letters, digits, dots and hyphens (no user, port
#: or IPv6 literal) and with no space or control character: valid by every rule below,
#: decided in one regex match instead of urlsplit (a third of a million-item validation).
_PLAIN_URL: Final = re.compile(r"https?://[A-Za-z0-9.-]+(?:[/?#][^\s\x00-\x1f\x7f]*)?")

#: What a checked item resolves to: url, file, path, options, s3_store, other stores.
Checked = tuple[str | None, Path | None, str, dict[str, Any], S3Store | None,
                dict[str, dict[str, Any]]]


def http_url(value: object, location: str, problems: Problems) -> str | None:
    """Return ``value`` if it is an http(s) URL with a host. The URL is never echoed: it may
    carry a signature or a password."""
    if type(value) is str and _PLAIN_URL.fullmatch(value):
        return value
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


def local_file(value: object, location: str, base: Path, problems: Problems) -> Path | None:
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


@dataclass(frozen=True, slots=True)
class ItemDefaults:
    """The manifest's top-level blocks every item inherits, each checked where it is written.

    ``options`` is ``None`` when the top-level options are unusable (already reported), so
    items relying on them are dropped without a second report.
    """

    base: Path  #: the manifest's folder: relative ``file:`` paths start here
    options: dict[str, Any] | None
    s3: dict[str, Any] | None = field(repr=False)  # raw blocks: their credentials are plain
    others: dict[str, dict[str, Any]] = field(repr=False)

    @classmethod
    def check(cls, data: dict[Any, Any], source: Path, problems: Problems) -> ItemDefaults:
        """Check the top-level ``options`` and stores of (interpolated) manifest ``data``."""
        return cls(
            base=Path(os.path.abspath(source)).parent,
            options=check_options(data["options"], "options", problems)
            if "options" in data else {},
            s3=check_s3_store(data["s3_store"], "s3_store", problems)
            if "s3_store" in data else None,
            others={
                name: block
                for name in sorted(OTHER_STORES & data.keys())
                if (block := check_other_store(data[name], name, problems)) is not None
            },
        )


class Writers:
    """Who writes each (bucket, key): a 16-byte digest -> the first writer, packed in an int.

    The writer is ``ordinal * 16 + entry + 1`` (``entry`` the resize index, 0 for the item's
    own ``path``), where the ordinal is the item's index or line number and ``label`` turns
    it back into ``items[3]`` or ``items.csv:5`` for the message.
    """

    __slots__ = ("_label", "_seen")

    def __init__(self, label: Callable[[int], str]) -> None:
        self._label = label
        self._seen: dict[bytes, int] = {}

    def claim(self, bucket: str, key: str, ordinal: int, entry: int | None, location: str,
              problems: Problems) -> None:
        """Record that this writer writes ``bucket/key``; report it if someone already does."""
        digest = hashlib.blake2b(f"{bucket}\0{key}".encode("utf-8", "surrogatepass"),
                                 digest_size=16).digest()
        writer = ordinal * 16 + (0 if entry is None else entry + 1)
        earlier = self._seen.setdefault(digest, writer)
        if earlier == writer:
            return
        who = self._label(earlier >> 4)
        if earlier & 15:
            who += f".options.resize[{(earlier & 15) - 1}]"
        problems.add(location, f"{key} in bucket {bucket} is already written by {who}")


class ItemChecker:
    """Checks items one by one against shared defaults, and the objects they write.

    The defaults are completed lazily, the first time an item relies on them, and at their
    own location (``options``, ``s3_store``), so a problem in them is reported once, not
    once per item.
    """

    def __init__(self, defaults: ItemDefaults, problems: Problems,
                 label: Callable[[int], str]) -> None:
        self.defaults = defaults
        self.problems = problems
        self.writers = Writers(label)
        self._default_options: dict[str, Any] | None = None
        self._default_s3: tuple[S3Store | None] | None = None

    def check(self, value: object, here: str, ordinal: int) -> Checked | None:
        """Check one (interpolated) item at ``here``; ``None`` when it has a problem."""
        problems = self.problems
        raw = expect_mapping(value, here, problems)
        if raw is None:
            return None
        plain = raw.keys() <= _SOURCE_KEYS  # every CSV row, most lines: the defaults apply
        if not plain:
            check_keys(raw, ITEM_KEYS, here, problems)
        url = file = None
        if ("url" in raw) == ("file" in raw):
            problems.add(here, "needs exactly one of url and file"
                         if "url" in raw else "needs a url or a file")
        elif "url" in raw:
            url = http_url(raw["url"], f"{here}.url", problems)
        else:
            file = local_file(raw["file"], f"{here}.file", self.defaults.base, problems)
        if "path" not in raw:
            problems.add(f"{here}.path", "is required (the full S3 key, file name included)")
        path = check_object_key(raw["path"], f"{here}.path", problems) \
            if "path" in raw else None
        if plain:
            options, s3, stores = self._plain_options(), self._plain_s3(), self.defaults.others
        else:
            options, s3, stores = self._options(raw, here), self._s3(raw, here), \
                self._stores(raw, here)
        if path is None or options is None or (url is None and file is None):
            return None
        if s3 is not None:
            self.writers.claim(s3.bucket, path, ordinal, None, f"{here}.path", problems)
            for entry, storage_path in storage_paths(options):
                self.writers.claim(s3.bucket, storage_path, ordinal, entry,
                                   f"{here}.options.resize[{entry}].storage_path", problems)
        return url, file, path, options, s3, stores

    def _plain_options(self) -> dict[str, Any] | None:
        """The default options, completed (and their problems reported) on first use."""
        defaults = self.defaults.options
        if self._default_options is None and defaults is not None:
            check_merged_options(defaults, "options", self.problems)
            self._default_options = defaults
        return self._default_options

    def _plain_s3(self) -> S3Store | None:
        """The default store, completed (and its problems reported) on first use."""
        if self._default_s3 is None:
            defaults = self.defaults.s3
            built = build_s3_store(defaults, "s3_store", self.problems, defaults=None) \
                if defaults is not None else None
            self._default_s3 = (built,)
        return self._default_s3[0]

    def _options(self, raw: dict[Any, Any], here: str) -> dict[str, Any] | None:
        """The item's options merged over the defaults; defaults are checked once, on use."""
        defaults = self.defaults.options
        if "options" not in raw:
            return self._plain_options()
        own = check_options(raw["options"], f"{here}.options", self.problems)
        if own is None or defaults is None:
            return None
        merged = deep_merge(defaults, own)
        check_merged_options(merged, f"{here}.options", self.problems)
        return merged

    def _s3(self, raw: dict[Any, Any], here: str) -> S3Store | None:
        """The item's merged store; the defaults are completed once, at ``s3_store``, on use."""
        defaults = self.defaults.s3
        if "s3_store" not in raw:
            return self._plain_s3()
        own = check_s3_store(raw["s3_store"], f"{here}.s3_store", self.problems)
        if own is None:
            return None
        merged = deep_merge(defaults, own) if defaults is not None else own
        return build_s3_store(merged, f"{here}.s3_store", self.problems, defaults=defaults)

    def _stores(self, raw: dict[Any, Any], here: str) -> dict[str, dict[str, Any]]:
        """Kraken's other stores, merged like ``s3_store`` but otherwise passed through."""
        others = self.defaults.others
        if not OTHER_STORES & raw.keys():
            return others
        stores = dict(others)
        for name in sorted(OTHER_STORES & raw.keys()):
            own = check_other_store(raw[name], child(here, name), self.problems)
            if own is not None:
                stores[name] = deep_merge(stores.get(name, {}), own)
        return stores


def inline_items(raw: object, defaults: ItemDefaults, problems: Problems) -> tuple[Item, ...]:
    """Every valid item of an inline ``items:`` list, in order (problems collected)."""
    if not isinstance(raw, list):
        problems.add("items", f"must be a list, not {type_name(raw)}")
        return ()
    if not raw:
        problems.add("items", "must not be empty")
    checker = ItemChecker(defaults, problems, label=lambda index: f"items[{index}]")
    items = []
    for index, value in enumerate(raw):
        mark = problems.mark()
        checked = checker.check(value, f"items[{index}]", index)
        problems.release(mark)
        if checked is not None:
            url, file, path, options, s3, stores = checked
            items.append(Item(index=index, path=path, url=url, file=file, options=options,
                              s3_store=s3, stores=stores))
    return tuple(items)
