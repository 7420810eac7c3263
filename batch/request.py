"""The JSON body of one Kraken request, built from an item (pure).

This is the only place where the batch reveals credentials: :func:`build_body` and
:func:`build_auth` put them on the wire; :func:`masked_body` builds the same body with every
credential replaced by the mask, for ``--dry-run`` and nowhere else. Keeping both in one module
keeps them the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch.models import ApiConfig, Item, S3Store
from batch.secret import MASK, Secret

#: Fields of Kraken's other stores that hold credentials; masked in dry-run output.
_OTHER_STORE_SECRETS = frozenset({"key", "secret", "credentials", "user", "password"})


def build_auth(api: ApiConfig) -> dict[str, str]:
    """Kraken's ``auth`` object, credentials included (for ``/user_status``)."""
    return {"api_key": api.key.reveal(), "api_secret": api.secret.reveal()}


def build_body(item: Item, api: ApiConfig) -> dict[str, Any]:
    """The request body for ``item``, credentials included.

    Shape (DESIGN.md, "The request"): ``auth``, then ``url`` for URL items (file items go to
    ``/v1/upload`` and carry no ``url``), ``wait: true``, the merged options, ``s3_store``
    with the item's ``path``, then any other store passed through.
    """
    return _body(item, api, reveal=True)


def masked_body(item: Item, api: ApiConfig) -> dict[str, Any]:
    """The same body as :func:`build_body` with every credential replaced by ``********``."""
    return _body(item, api, reveal=False)


def _body(item: Item, api: ApiConfig, *, reveal: bool) -> dict[str, Any]:
    def show(secret: Secret) -> str:
        return secret.reveal() if reveal else MASK

    body: dict[str, Any] = {"auth": {"api_key": show(api.key), "api_secret": show(api.secret)}}
    if item.url is not None:
        body["url"] = item.url
    body["wait"] = True
    body.update(item.options)
    if item.s3_store is not None:
        body["s3_store"] = _s3_store(item.s3_store, item.path, show)
    for name, store in item.stores.items():
        body[name] = dict(store) if reveal else _mask_store(store)
    return body


def _s3_store(store: S3Store, path: str, show: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": show(store.key),
        "secret": show(store.secret),
        "bucket": store.bucket,
    }
    if store.region is not None:
        out["region"] = store.region
    out["path"] = path
    if store.acl is not None:
        out["acl"] = store.acl
    if store.headers:
        out["headers"] = dict(store.headers)
    if store.metadata:
        out["metadata"] = dict(store.metadata)
    if store.tags:
        out["tags"] = dict(store.tags)
    return out


def _mask_store(store: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in _OTHER_STORE_SECRETS else v) for k, v in store.items()}
