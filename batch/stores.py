"""Checks of the manifest's storage blocks: ``s3_store`` in full, the other stores as given.

Like options, an ``s3_store`` is checked where it is written (:func:`check_s3_store`) and
completed after the item's block is deep-merged over the top-level one
(:func:`build_s3_store`), because ``bucket`` often sits at the top and ``tags`` in the item.
``key`` and ``secret`` are never echoed: a problem names the field, never its value.
"""

from __future__ import annotations

from typing import Any, Final

from batch.models import S3_ACLS, S3Store
from batch.secret import Secret
from batch.validate import (
    Problems,
    check_bucket,
    check_keys,
    child,
    expect_choice,
    expect_mapping,
    expect_str,
    type_name,
)

#: S3 allows at most 10 tags per object.
MAX_TAGS: Final = 10
S3_KEYS: Final = frozenset(
    {"key", "secret", "bucket", "region", "acl", "headers", "metadata", "tags"}
)
S3_REQUIRED: Final = ("key", "secret", "bucket")
_QUOTE_HINT: Final = ": quote the value in the manifest"


def check_s3_store(value: object, location: str, problems: Problems) -> dict[str, Any] | None:
    """Check one ``s3_store`` block where it is written; return it, or ``None`` if unusable.

    Required fields are not demanded here: the top-level block may hold only defaults.
    """
    store = expect_mapping(value, location, problems)
    if store is None:
        return None
    if "path" in store:
        problems.add(
            child(location, "path"),
            "not allowed in s3_store: the item's own path is the full S3 key",
        )
    check_keys({k: v for k, v in store.items() if k != "path"}, S3_KEYS, location, problems)
    for name in ("key", "secret", "region"):
        if name in store:
            expect_str(store[name], child(location, name), problems)
    if "bucket" in store:
        check_bucket(store["bucket"], child(location, "bucket"), problems)
    if "acl" in store:
        expect_choice(store["acl"], S3_ACLS, child(location, "acl"), problems)
    if "headers" in store:
        _check_string_map(store["headers"], child(location, "headers"), problems, ints=True)
    if "metadata" in store:
        _check_string_map(store["metadata"], child(location, "metadata"), problems)
    if "tags" in store:
        tags = _check_string_map(store["tags"], child(location, "tags"), problems)
        if tags is not None and len(tags) > MAX_TAGS:
            problems.add(child(location, "tags"),
                         f"has {len(tags)} tags; S3 allows at most {MAX_TAGS}")
            problems.silence(child(location, "tags"))  # not again after the merge
    return store


def _check_string_map(
    value: object, location: str, problems: Problems, *, ints: bool = False
) -> dict[Any, Any] | None:
    """Check a mapping of string names to string values (or integers, for headers)."""
    mapping = expect_mapping(value, location, problems)
    if mapping is None:
        return None
    for key, item in mapping.items():
        here = child(location, key)
        if not isinstance(key, str) or not key:
            problems.add(here, f"names must be non-empty strings, not {type_name(key)}")
        elif isinstance(item, str) or (ints and type(item) is int):
            continue
        elif isinstance(item, int | float) and not isinstance(item, bool):
            problems.add(here, f"must be a string, not a number{_QUOTE_HINT}")
        else:
            allowed = "a string or an integer" if ints else "a string"
            problems.add(here, f"must be {allowed}, not {type_name(item)}")
    return mapping


def build_s3_store(
    merged: dict[str, Any], location: str, problems: Problems, *, defaults: dict[str, Any] | None
) -> S3Store | None:
    """Complete a merged ``s3_store``: required fields present, at most 10 tags in total.

    Field types were checked by :func:`check_s3_store` on each block, so a wrong type only
    makes this return ``None`` without a second report; likewise too many tags in the
    top-level ``defaults`` were reported there once, not again for every item.
    """
    complete = True
    for name in S3_REQUIRED:
        if name not in merged:
            problems.add(child(location, name), "is required (here or in the top-level s3_store)")
            complete = False
    tags = merged.get("tags", {})
    inherited = defaults.get("tags") if defaults is not None else None
    if isinstance(inherited, dict) and len(inherited) > MAX_TAGS:
        complete = False
    elif isinstance(tags, dict) and len(tags) > MAX_TAGS:
        problems.add(child(location, "tags"),
                     f"has {len(tags)} tags after merging with the top-level s3_store; "
                     f"S3 allows at most {MAX_TAGS}")
        complete = False
    if not complete or not _well_typed(merged):
        return None
    return S3Store(
        key=Secret(merged["key"]),
        secret=Secret(merged["secret"]),
        bucket=merged["bucket"],
        region=merged.get("region"),
        acl=merged.get("acl"),
        headers=merged.get("headers", {}),
        metadata=merged.get("metadata", {}),
        tags=tags,
    )


def _well_typed(store: dict[str, Any]) -> bool:
    """Whether every field has the type :class:`S3Store` promises (problems already told)."""
    if "path" in store or not S3_KEYS.issuperset(store):
        return False
    strings = all(isinstance(store.get(name, ""), str) for name in ("key", "secret", "bucket"))
    optional = all(isinstance(store.get(name), str | None) for name in ("region", "acl"))
    maps = all(isinstance(store.get(name, {}), dict) for name in ("headers", "metadata", "tags"))
    return strings and optional and maps


def check_other_store(value: object, location: str, problems: Problems) -> dict[str, Any] | None:
    """Check a ``gcs_store``/``azure_store``/``cf_store``/``sl_store``: a mapping, as given."""
    return expect_mapping(value, location, problems)
