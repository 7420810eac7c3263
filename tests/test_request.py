"""The request body: exactly DESIGN.md's shape, and masked bodies reveal nothing."""

from __future__ import annotations

import json
from pathlib import Path

from batch.models import ApiConfig, Item, S3Store
from batch.request import build_body, masked_body
from batch.secret import MASK, Secret

API = ApiConfig(url="https://api.kraken.io", key=Secret("api-key-123"), secret=Secret("api-secret-456"))
STORE = S3Store(
    key=Secret("AKIAEXAMPLEKEY"),
    secret=Secret("s3-secret-value"),
    bucket="assets",
    region="ap-southwest-2",
    acl="public_read",
    headers={"Cache-Control": "max-age=2592000"},
    metadata={"source": "nightly"},
    tags={"team": "web"},
)


class TestBuildBody:
    def test_url_item_matches_the_documented_body(self) -> None:
        """A URL item produces auth, url, wait, options and s3_store with the item's path."""
        item = Item(index=0, url="http://example.com/a.png", path="images/a.png",
                    options={"lossy": True}, s3_store=STORE)
        assert build_body(item, API) == {
            "auth": {"api_key": "api-key-123", "api_secret": "api-secret-456"},
            "url": "http://example.com/a.png",
            "wait": True,
            "lossy": True,
            "s3_store": {
                "key": "AKIAEXAMPLEKEY", "secret": "s3-secret-value", "bucket": "assets",
                "region": "ap-southwest-2", "path": "images/a.png", "acl": "public_read",
                "headers": {"Cache-Control": "max-age=2592000"},
                "metadata": {"source": "nightly"}, "tags": {"team": "web"},
            },
        }

    def test_file_item_has_no_url(self) -> None:
        """A local file goes to /v1/upload, so its JSON carries no ``url``."""
        item = Item(index=0, file=Path("/tmp/a.png"), path="a.png")
        body = build_body(item, API)
        assert "url" not in body and body["wait"] is True and "s3_store" not in body

    def test_other_stores_pass_through(self) -> None:
        """Kraken's other stores are sent exactly as the manifest gave them."""
        item = Item(index=0, url="https://x.test/a.png", path="a.png",
                    stores={"azure_store": {"account": "acc", "key": "az-key-999", "container": "c"}})
        assert build_body(item, API)["azure_store"] == {
            "account": "acc", "key": "az-key-999", "container": "c"}


class TestMaskedBody:
    def test_no_credential_survives_masking(self) -> None:
        """Every credential is replaced by the mask; the rest is unchanged."""
        item = Item(index=0, url="http://example.com/a.png", path="images/a.png",
                    s3_store=STORE,
                    stores={"azure_store": {"account": "acc", "key": "az-key-999"}})
        text = json.dumps(masked_body(item, API))
        for secret in ("api-key-123", "api-secret-456", "AKIAEXAMPLEKEY", "s3-secret-value",
                       "az-key-999"):
            assert secret not in text
        body = masked_body(item, API)
        assert body["auth"] == {"api_key": MASK, "api_secret": MASK}
        assert body["s3_store"]["bucket"] == "assets"
        assert body["s3_store"]["path"] == "images/a.png"
