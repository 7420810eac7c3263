"""``items_from:``: a manifest's items in a CSV or JSON Lines file, streamed, never slurped.

A YAML list of a million items costs PyYAML about a minute and 3.5 GiB. An item file is
instead read twice, one line at a time: once by :func:`load_item_file` to validate every item
(with the same checks and merge rules as inline items, problems located as
``items.csv:12.path``), and again on each iteration of the :class:`StreamedItems` the
manifest carries, which builds the already-validated Items cheaply and holds none of them.

What stays in memory is bounded by the number of *objects written*, not their content: the
collision check's 16-byte digest per (bucket, key), about 125 bytes each
(:class:`batch.items.Writers`), and at most 1000 problems (:class:`batch.validate.Problems`).

The file must not change between validation and the run: its size, mtime and inode are
recorded when it is validated, and iterating it again after a change raises
:class:`~batch.errors.ManifestError` instead of sending items that were never validated.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final, cast

from batch.errors import ManifestError, Problem
from batch.interpolate import interpolate_tree
from batch.itemformats import Record, csv_records, jsonl_records
from batch.items import ItemChecker, ItemDefaults
from batch.models import OTHER_STORES, Item, S3Store
from batch.stores import build_s3_store
from batch.validate import Problems, deep_merge, expect_str

#: Item file formats by (case-insensitive) extension.
FORMATS: Final = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: How many items are yielded between two checks that the file is still the validated one.
_RECHECK_EVERY: Final = 1024

_Reader = Callable[[IO[bytes], str, Problems], Iterator[Record]]
#: What identifies the validated file: device, inode, size, mtime in nanoseconds.
_Signature = tuple[int, int, int, int]


def _signature(status: os.stat_result) -> _Signature:
    """Size and mtime change with an edit in place, the inode with a replacing rename."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _reader(kind: str, *, strict: bool) -> _Reader:
    """The record reader of a format; ``strict`` checks what re-reading may trust."""
    if kind == "csv":
        return csv_records
    return lambda handle, name, problems: jsonl_records(handle, name, problems, strict=strict)


def _interpolated(raw: dict[str, Any], environ: Mapping[str, str], here: str,
                  problems: Problems) -> dict[str, Any]:
    """``raw`` with ``${VAR}`` replaced; as is, without copying, when it has no ``$`` at all."""
    for value in raw.values():
        if type(value) is not str or "$" in value:
            return cast(dict[str, Any], interpolate_tree(raw, environ, here, problems))
    return raw


def load_item_file(value: object, defaults: ItemDefaults, environ: Mapping[str, str],
                   manifest: Path, problems: Problems) -> StreamedItems | None:
    """Validate the item file named by ``items_from`` (already interpolated) in one pass.

    Every problem is added to ``problems``; the result is ``None`` only when the file could
    not be read at all. It is meant to be used only when ``problems`` stays empty.
    """
    name = expect_str(value, "items_from", problems)
    if name is None:
        return None
    path = Path(os.path.abspath(defaults.base / name))
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        shown = repr(path.suffix) if path.suffix else "no extension"
        problems.add("items_from", f"{path.name}: unknown format ({shown}): an item file "
                     "must be .csv, .jsonl or .ndjson")
        return None
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            problems.add("items_from", f"{path}: not a regular file")
            return None
        handle = path.open("rb")
    except OSError as exc:
        problems.add("items_from", f"{path}: {exc.strerror or 'cannot be read'}")
        return None
    label = path.name
    checker = ItemChecker(defaults, problems, label=lambda line: f"{label}:{line}")
    count, before = 0, problems.total
    with handle:
        signature = _signature(os.fstat(handle.fileno()))
        for line, raw in _reader(kind, strict=True)(handle, label, problems):
            here = f"{label}:{line}"
            mark = problems.mark()
            checker.check(_interpolated(raw, environ, here, problems), here, line)
            problems.release(mark)
            count += 1
    if count == 0 and problems.total == before:  # nothing said about the file yet
        problems.add("items_from", f"{path.name} has no items")
    return StreamedItems(path, kind, manifest=manifest, defaults=defaults, environ=environ,
                         count=count, signature=signature)


class StreamedItems:
    """The validated items of an item file, read from it again on every iteration.

    Implements :class:`~batch.models.ItemSource`: ``len()`` is the count of the validation
    pass; each iteration yields the same Items with ``index`` 0, 1, 2, ... and raises
    :class:`~batch.errors.ManifestError` (at ``items_from``) as soon as it sees that the
    file is no longer the one that was validated: on opening it, every 1024 items, and if
    the count or the format no longer agrees.
    """

    __slots__ = ("_count", "_environ", "_kind", "_manifest", "_resolver", "_signature", "path")

    def __init__(self, path: Path, kind: str, *, manifest: Path, defaults: ItemDefaults,
                 environ: Mapping[str, str], count: int, signature: _Signature) -> None:
        self.path = path
        self._kind = kind
        self._manifest = manifest
        self._environ = dict(environ)  # a snapshot: the values validated are the values sent
        self._count = count
        self._signature = signature
        self._resolver = ItemResolver(defaults)

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:  # never the defaults: they hold credentials
        return f"StreamedItems({str(self.path)!r}, {self._count} items)"

    def __iter__(self) -> Iterator[Item]:
        scratch = Problems()
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise self._changed(f"cannot be read any more: {exc.strerror or exc}") from None
        with handle:
            self._check(handle)
            index = 0
            resolver, environ = self._resolver, self._environ
            for _line, raw in _reader(self._kind, strict=False)(handle, self.path.name, scratch):
                if scratch:
                    break
                if index == self._count:
                    raise self._changed(f"it has more than the {self._count} items validated")
                if index % _RECHECK_EVERY == 0 and index:
                    self._check(handle)
                yield resolver.item(_interpolated(raw, environ, "", scratch), index)
                index += 1
            if scratch:
                raise self._changed("it is no longer a valid item file")
            if index != self._count:
                raise self._changed(f"it has {index} items, not the {self._count} validated")

    def _check(self, handle: IO[bytes]) -> None:
        """Raise if the open file is not the one that was validated."""
        if _signature(os.fstat(handle.fileno())) != self._signature:
            raise self._changed("its size, modification time or inode differs")

    def _changed(self, why: str) -> ManifestError:
        return ManifestError(str(self._manifest), [Problem(
            "items_from",
            f"{self.path} changed since the manifest was validated ({why}); validate it "
            "again before running it: items that were not validated are never sent",
        )])


class ItemResolver:
    """Builds Items from raw mappings that were already checked, trusting them.

    Used to re-read an item file: an item without overrides gets the very same default
    options dict and :class:`S3Store` as every other (built once here), and one with
    overrides is merged as :class:`ItemChecker` merged it, without the checks.
    """

    def __init__(self, defaults: ItemDefaults) -> None:
        self.defaults = defaults
        self.options: dict[str, Any] = defaults.options if defaults.options is not None else {}
        self._s3: tuple[S3Store | None] | None = None

    def item(self, raw: dict[str, Any], index: int) -> Item:
        """The Item of one checked, interpolated raw mapping."""
        defaults = self.defaults
        file = raw.get("file")
        options = self.options if "options" not in raw \
            else deep_merge(self.options, raw["options"])
        stores = defaults.others
        if OTHER_STORES & raw.keys():
            stores = dict(stores)
            for name in sorted(OTHER_STORES & raw.keys()):
                stores[name] = deep_merge(stores.get(name, {}), raw[name])
        return Item(
            index=index,
            path=raw["path"],
            url=raw.get("url"),
            file=Path(os.path.abspath(defaults.base / file)) if file is not None else None,
            options=options,
            s3_store=self._store(raw.get("s3_store")),
            stores=stores,
        )

    def _store(self, own: dict[str, Any] | None) -> S3Store | None:
        """The shared default store, or the item's own merged over it."""
        defaults = self.defaults.s3
        if own is None:
            if self._s3 is None:  # checked before: the scratch Problems stay empty
                self._s3 = (build_s3_store(defaults, "s3_store", Problems(), defaults=None)
                            if defaults is not None else None,)
            return self._s3[0]
        merged = deep_merge(defaults, own) if defaults is not None else own
        return build_s3_store(merged, "s3_store", Problems(), defaults=defaults)
