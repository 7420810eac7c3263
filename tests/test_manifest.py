"""Tests for manifest loading and validation (batch.manifest and the modules it uses)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from batch.errors import ManifestError, Problem
from batch.manifest import load_manifest, parse_manifest
from batch.models import ApiSettings, Item, S3Store
from batch.secret import Secret
from batch.yaml_loader import ManifestLoader

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENV = {"AWS_KEY": AWS_KEY, "AWS_SECRET": AWS_SECRET, "KRAKEN_KEY": "kk-1234", "CDN": "cdn.example"}
STORE = {"key": "${AWS_KEY}", "secret": "${AWS_SECRET}", "bucket": "assets"}


def base(**top: Any) -> dict[str, Any]:
    """A valid manifest with one URL item, with top-level keys replaced by ``top``."""
    data: dict[str, Any] = {
        "version": 1,
        "s3_store": dict(STORE),
        "items": [{"url": "https://img.example/a.png", "path": "images/a.png"}],
    }
    data.update(top)
    return data


DELETE = object()


def with_item(**fields: Any) -> dict[str, Any]:
    """A valid manifest whose first item gets ``fields`` merged in (DELETE removes one)."""
    data = base()
    item = data["items"][0]
    for key, value in fields.items():
        if value is DELETE:
            item.pop(key, None)
        else:
            item[key] = value
    return data


def parse(data: object, source: Path = Path("/manifests/m.yaml"),
          environ: dict[str, str] | None = None) -> Any:
    return parse_manifest(data, source=source, environ=ENV if environ is None else environ)


def problems(data: object, source: Path = Path("/manifests/m.yaml"),
             environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        parse(data, source, environ)
    assert caught.value.source == str(source)
    return list(caught.value.problems)


def only_problem(data: object, **kwargs: Any) -> Problem:
    found = problems(data, **kwargs)
    assert len(found) == 1, found
    return found[0]


class TestLoadManifest:
    """load_manifest(): the file, the bytes and the YAML."""

    def write(self, tmp_path: Path, text: str | bytes) -> Path:
        path = tmp_path / "m.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def test_reads_a_valid_file(self, tmp_path: Path) -> None:
        """A valid YAML manifest becomes a Manifest whose source is the file."""
        path = self.write(tmp_path, yaml.safe_dump(base()))
        manifest = load_manifest(path, ENV)
        assert manifest.source == path
        assert [item.path for item in manifest.items] == ["images/a.png"]

    def test_uses_the_c_loader_when_available(self) -> None:
        """The duplicate-detecting loader keeps libyaml's speed when PyYAML has it."""
        if yaml.__with_libyaml__:
            assert issubclass(ManifestLoader, yaml.CSafeLoader)
        else:
            assert issubclass(ManifestLoader, yaml.SafeLoader)

    @pytest.mark.parametrize(
        ("content", "location", "message"),
        [
            (b"", "", "the manifest is empty"),
            (b"# only a comment\n", "", "the manifest is empty"),
            (b"version: 1\nitems: [1\n", "line 3, column 1", "invalid YAML: did not find"),
            (b"version: 1\n  items: x\n", "line 2, column 8", "invalid YAML: mapping values"),
            (b"a: 1\n---\nb: 2\n", "line 2, column 1", "invalid YAML: but found another doc"),
            (b"a: !!python/object:os.system x\n", "line 1, column 4", "invalid YAML: could not"),
            (b"a: \x01\n", "line 1, column 4", "invalid YAML: character U+0001 is not allowed"),
            (b"version: 1\npath: caf\xe9\n", "line 2, column 10", "not valid UTF-8 (byte 0xe9)"),
        ],
    )
    def test_unusable_files(self, tmp_path: Path, content: bytes, location: str,
                            message: str) -> None:
        """Empty, non-UTF-8 and malformed YAML files give one located problem, no traceback."""
        with pytest.raises(ManifestError) as caught:
            load_manifest(self.write(tmp_path, content), ENV)
        (problem,) = caught.value.problems
        assert problem.location == location
        assert problem.message.startswith(message)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a ManifestError naming the reason."""
        with pytest.raises(ManifestError) as caught:
            load_manifest(tmp_path / "absent.yaml", ENV)
        assert caught.value.problems == (
            Problem("", "cannot read the manifest: No such file or directory"),
        )

    def test_directory(self, tmp_path: Path) -> None:
        """A directory given as the manifest is a ManifestError, not a traceback."""
        with pytest.raises(ManifestError) as caught:
            load_manifest(tmp_path, ENV)
        assert caught.value.problems[0].message.startswith("cannot read the manifest: ")

    def test_byte_order_mark_is_accepted(self, tmp_path: Path) -> None:
        """A UTF-8 byte order mark (Windows editors) does not break the manifest."""
        path = self.write(tmp_path, b"\xef\xbb\xbf" + yaml.safe_dump(base()).encode())
        assert len(load_manifest(path, ENV).items) == 1

    def test_duplicate_keys_are_all_reported(self, tmp_path: Path) -> None:
        """Every duplicate key is reported with its line and column, with other problems."""
        text = (
            "version: 1\n"
            "items:\n"
            "  - url: https://img.example/a.png\n"
            "    path: images/a.png\n"
            "    path: images/b.png\n"
            "  - {url: 'https://img.example/b.png', path: b.png, url: 'https://x/y.png'}\n"
            "version: 2\n"
        )
        with pytest.raises(ManifestError) as caught:
            load_manifest(self.write(tmp_path, text), ENV)
        assert caught.value.problems == (
            Problem("line 5, column 5", "duplicate key 'path' (first at line 4, column 5); "
                    "YAML would silently keep only the last one"),
            Problem("line 6, column 53", "duplicate key 'url' (first at line 6, column 6); "
                    "YAML would silently keep only the last one"),
            Problem("line 7, column 1", "duplicate key 'version' (first at line 1, column 1); "
                    "YAML would silently keep only the last one"),
            Problem("version", "unsupported version 2: this program reads version 1"),
        )

    def test_merge_keys_are_not_duplicates(self, tmp_path: Path) -> None:
        """Overriding a key brought in with <<: *anchor is not a duplicate."""
        text = (
            "version: 1\n"
            "common: &common {url: 'https://img.example/a.png', path: a.png}\n"
            "items:\n"
            "  - <<: *common\n"
            "    path: b.png\n"
        )
        with pytest.raises(ManifestError) as caught:
            load_manifest(self.write(tmp_path, text), ENV)
        assert caught.value.problems == (Problem("common", "unknown key"),)

    def test_yaml_errors_do_not_quote_the_line(self, tmp_path: Path) -> None:
        """A syntax error on a line holding a secret does not echo that line."""
        text = f"version: 1\ns3_store:\n  secret: {AWS_SECRET}: oops\n"
        with pytest.raises(ManifestError) as caught:
            load_manifest(self.write(tmp_path, text), ENV)
        assert AWS_SECRET not in str(caught.value)
        assert caught.value.problems[0].location == "line 3, column 51"


class TestValidManifest:
    """parse_manifest() on valid data: what the frozen objects contain."""

    def test_design_example(self, tmp_path: Path) -> None:
        """The DESIGN.md example resolves defaults, merges, interpolation and files."""
        (tmp_path / "originals").mkdir()
        banner = tmp_path / "originals" / "banner.jpg"
        banner.write_bytes(b"\xff\xd8")
        data: dict[str, Any] = {
            "version": 1,
            "api": {"url": "https://api.kraken.io", "key": "${KRAKEN_KEY}", "secret": "s3cr3t!"},
            "options": {"lossy": True},
            "s3_store": {
                "key": "${AWS_KEY}", "secret": "${AWS_SECRET}", "bucket": "assets",
                "region": "ap-southwest-2", "acl": "public_read",
                "headers": {"Cache-Control": "max-age=2592000"},
                "metadata": {"source": "nightly"}, "tags": {"team": "web"},
            },
            "items": [
                {"url": "http://awesome-website.com/images/header.png",
                 "path": "images/layout/header.png"},
                {"url": "http://awesome-website.com/images/logo.png", "path": "images/logo.png",
                 "options": {"lossy": False},
                 "s3_store": {"acl": "private", "tags": {"campaign": "winter"}}},
                {"file": "./originals/banner.jpg", "path": "images/banner.jpg"},
            ],
        }
        manifest = parse(data, source=tmp_path / "m.yaml")
        assert manifest.version == 1
        assert manifest.api == ApiSettings(
            url="https://api.kraken.io", key=Secret("kk-1234"), secret=Secret("s3cr3t!"))
        default_store = S3Store(
            key=Secret(AWS_KEY), secret=Secret(AWS_SECRET), bucket="assets",
            region="ap-southwest-2", acl="public_read",
            headers={"Cache-Control": "max-age=2592000"}, metadata={"source": "nightly"},
            tags={"team": "web"},
        )
        assert manifest.items == (
            Item(index=0, path="images/layout/header.png",
                 url="http://awesome-website.com/images/header.png",
                 options={"lossy": True}, s3_store=default_store),
            Item(index=1, path="images/logo.png",
                 url="http://awesome-website.com/images/logo.png", options={"lossy": False},
                 s3_store=S3Store(
                     key=Secret(AWS_KEY), secret=Secret(AWS_SECRET), bucket="assets",
                     region="ap-southwest-2", acl="private",
                     headers={"Cache-Control": "max-age=2592000"},
                     metadata={"source": "nightly"}, tags={"team": "web", "campaign": "winter"})),
            Item(index=2, path="images/banner.jpg", file=banner, options={"lossy": True},
                 s3_store=default_store),
        )
        assert data["s3_store"]["tags"] == {"team": "web"}  # merging copied, not mutated

    def test_minimal_manifest_without_store(self) -> None:
        """Without s3_store, items have no store, empty options and no api settings."""
        manifest = parse({"version": 1, "items": [{"url": "http://h/a.png", "path": "a.png"},
                                                  {"url": "http://h/b.png", "path": "a.png"}]})
        assert manifest.api == ApiSettings()
        assert [(i.index, i.s3_store, dict(i.options)) for i in manifest.items] == [
            (0, None, {}), (1, None, {})]  # same path, but no store: no collision

    def test_options_deep_merge(self) -> None:
        """Item options merge into top-level ones: mappings recursively, lists replace."""
        data = base(options={"resize": {"strategy": "fit", "width": 100, "height": 80},
                             "preserve_meta": ["date", "profile"], "quality": 80})
        data["items"][0]["options"] = {"resize": {"width": 50}, "preserve_meta": ["geotag"]}
        (item,) = parse(data).items
        assert item.options == {"resize": {"strategy": "fit", "width": 50, "height": 80},
                                "preserve_meta": ["geotag"], "quality": 80}

    def test_resize_strategy_from_item_completes_top_level(self) -> None:
        """A resize whose strategy is only set per item is complete after the merge."""
        data = base(options={"resize": {"width": 100, "height": 80}})
        data["items"][0]["options"] = {"resize": {"strategy": "exact"}}
        assert parse(data).items[0].options["resize"]["strategy"] == "exact"

    def test_other_stores_pass_through_and_merge(self) -> None:
        """gcs_store and friends are passed through, deep-merged like s3_store."""
        data = base(gcs_store={"bucket": "g", "credentials": {"type": "service_account"}})
        del data["s3_store"]
        data["items"].append({"url": "http://h/b.png", "path": "b.png",
                              "gcs_store": {"credentials": {"project_id": "p"}},
                              "azure_store": {"account": "a", "key": "k", "container": "c"}})
        first, second = parse(data).items
        assert first.stores == {"gcs_store": {"bucket": "g",
                                              "credentials": {"type": "service_account"}}}
        assert second.stores == {
            "gcs_store": {"bucket": "g", "credentials": {"type": "service_account",
                                                         "project_id": "p"}},
            "azure_store": {"account": "a", "key": "k", "container": "c"},
        }

    def test_full_kraken_options(self) -> None:
        """Every documented option, multi-resize and convert are accepted as given."""
        options = {
            "lossy": True, "quality": 1, "webp": False, "auto_orient": True, "dev": True,
            "sampling_scheme": "4:4:4", "preserve_meta": ["profile", "date", "copyright",
                                                          "geotag", "orientation"],
            "convert": {"format": "avif", "background": "#ff6600", "keep_extension": True},
            "resize": [
                {"id": "small", "strategy": "fit", "width": 100, "height": 100,
                 "crop_mode": "n", "storage_path": "img/small/a.png"},
                {"id": 2, "strategy": "square", "size": 40, "storage_path": "img/sq/a.png"},
                {"id": "l", "strategy": "landscape", "width": 10, "enhance": True},
                {"id": "p", "strategy": "portrait", "height": 10, "quality": 100},
                {"id": "c", "strategy": "crop", "width": 1, "height": 1, "scale": 50,
                 "x": 0, "y": -3},
                {"id": "f", "strategy": "fill", "width": 5, "height": 5, "background": "#fff"},
            ],
        }
        (item,) = parse(with_item(options=options)).items
        assert item.options == options

    def test_file_paths_are_absolute(self, tmp_path: Path) -> None:
        """A relative file is resolved against the manifest folder, even from a relative path."""
        (tmp_path / "a.png").write_bytes(b"x")
        data = with_item(url=DELETE, file="a.png")
        cwd = Path.cwd()
        os.chdir(tmp_path.parent)
        try:
            (item,) = parse(data, source=Path(tmp_path.name) / "m.yaml").items
        finally:
            os.chdir(cwd)
        assert item.file == tmp_path / "a.png"
        assert item.url is None and item.source == str(tmp_path / "a.png")

    def test_yaml_anchors_share_defaults(self, tmp_path: Path) -> None:
        """YAML anchors and merge keys work like in any YAML file."""
        text = (
            "version: 1\n"
            "items:\n"
            "  - &first {url: 'https://h/a.png', path: a.png}\n"
            "  - {<<: *first, path: b.png}\n"
        )
        path = tmp_path / "m.yaml"
        path.write_text(text, encoding="utf-8")
        assert [(i.url, i.path) for i in load_manifest(path, ENV).items] == [
            ("https://h/a.png", "a.png"), ("https://h/a.png", "b.png")]


class TestInterpolationInManifest:
    """${VAR} inside a manifest."""

    def test_every_string_is_interpolated_and_keys_are_not(self) -> None:
        """Values anywhere are interpolated before validation; keys stay literal."""
        data = with_item(url="https://${CDN}/a.png", path="$${CDN}/${CDN}.png",
                         s3_store={"metadata": {"${CDN}": "${CDN}"}})
        (item,) = parse(data).items
        assert item.url == "https://cdn.example/a.png"
        assert item.path == "${CDN}/cdn.example.png"
        assert item.s3_store is not None
        assert item.s3_store.metadata == {"${CDN}": "cdn.example"}
        assert item.s3_store.key.reveal() == AWS_KEY

    def test_unset_variable_is_one_problem_at_its_location(self) -> None:
        """An unset variable is reported where it is used, and its value is not checked too."""
        data = with_item(url="${SOURCE_URL}", path="${NOPE}/a.png")
        assert problems(data) == [
            Problem("items[0].url", "environment variable SOURCE_URL is not set"),
            Problem("items[0].path", "environment variable NOPE is not set"),
        ]

    def test_unset_credential(self) -> None:
        """An unset credential variable is a problem at the top-level store, not per item."""
        assert problems(base(), environ={"AWS_KEY": "x"}) == [
            Problem("s3_store.secret", "environment variable AWS_SECRET is not set")]

    def test_interpolation_happens_before_validation(self) -> None:
        """A value is validated after interpolation (an interpolated URL must still be http)."""
        assert only_problem(with_item(url="${CDN}/a.png")) == Problem(
            "items[0].url", "must be an http or https URL, not one with no scheme")


INVALID_TOP = [
    ([], "", "the manifest must be a mapping (version, items, ...), not a list"),
    (base(version=None), "version", "unsupported version null: this program reads version 1"),
    (base(version=2), "version", "unsupported version 2: this program reads version 1"),
    (base(version="1"), "version", "unsupported version a string: this program reads"),
    (base(version=True), "version", "unsupported version a boolean: this program reads"),
    ({k: v for k, v in base().items() if k != "version"}, "version", "is required"),
    ({"version": 1, "s3_store": STORE}, "items", "is required"),
    (base(items=[]), "items", "must not be empty"),
    (base(items={"url": "x"}), "items", "must be a list, not a mapping"),
    (base(item=[]), "item", "unknown key (did you mean 'items'?)"),
    (base(s3_stor={}), "s3_stor", "unknown key (did you mean 's3_store'?)"),
    (base(**{"1": 2}), "1", "unknown key"),
    (base(**{"a b": 2}), "['a b']", "unknown key"),
    (base(api="https://x"), "api", "must be a mapping, not a string"),
    (base(api={"url": "ftp://x"}), "api.url", "must be an http or https URL, not one with"),
    (base(api={"url": "https://"}), "api.url", "must be an http or https URL with a host"),
    (base(api={"urls": "x"}), "api.urls", "unknown key (did you mean 'url'?)"),
    (base(api={"key": 5}), "api.key", "must be a string, not a number"),
    (base(api={"secret": ""}), "api.secret", "must not be empty"),
    (base(options=[]), "options", "must be a mapping, not a list"),
    (base(s3_store="assets"), "s3_store", "must be a mapping, not a string"),
    (base(gcs_store=1), "gcs_store", "must be a mapping, not a number"),
    (base(s3_store={"key": "k", "secret": "s"}), "s3_store.bucket",
     "is required (here or in the top-level s3_store)"),
]


class TestTopLevel:
    """Top-level keys: version, items, api, options, stores."""

    @pytest.mark.parametrize(("data", "location", "message"), INVALID_TOP)
    def test_invalid(self, data: Any, location: str, message: str) -> None:
        """Each invalid top-level value is one problem at its exact location."""
        problem = only_problem(data)
        assert problem.location == location
        assert problem.message.startswith(message), problem.message

    def test_every_problem_is_collected(self) -> None:
        """Validation reports all problems at once, in manifest order, with their locations."""
        data = base(version=3, api={"url": 1})
        data["items"] = [{"url": "ftp://h/a"}, {"path": "//"}, "x"]
        assert [p.location for p in problems(data)] == [
            "version", "api.url", "items[0].url", "items[0].path", "items[1]",
            "items[1].path", "items[1].path", "items[2]"]


INVALID_ITEMS = [
    ({"url": DELETE}, "items[0]", "needs a url or a file"),
    ({"file": "a.png"}, "items[0]", "needs exactly one of url and file"),
    ({"url": 5}, "items[0].url", "must be a string, not a number"),
    ({"url": ""}, "items[0].url", "must not be empty"),
    ({"url": "ftp://h/a.png"}, "items[0].url", ("must be an http or https URL, not one with "
     "scheme 'ftp'")),
    ({"url": "file:///etc/passwd"}, "items[0].url", "must be an http or https URL, not one"),
    ({"url": "img.example/a.png"}, "items[0].url", ("must be an http or https URL, not one "
     "with no scheme")),
    ({"url": "http:///a.png"}, "items[0].url", "must be an http or https URL with a host"),
    ({"url": "http://h:port/a.png"}, "items[0].url", "is not a valid URL"),
    ({"url": "http://h/a b.png"}, "items[0].url", "must not contain spaces or control"),
    ({"path": DELETE}, "items[0].path", "is required (the full S3 key, file name included)"),
    ({"path": 3}, "items[0].path", "must be a string, not a number"),
    ({"path": ""}, "items[0].path", "must not be empty"),
    ({"path": "/images/a.png"}, "items[0].path", "must not start with '/'"),
    ({"path": "images/../a.png"}, "items[0].path", "must not contain a '..' segment"),
    ({"path": ".."}, "items[0].path", "must not contain a '..' segment"),
    ({"path": "images//a.png"}, "items[0].path", "must not contain an empty segment"),
    ({"path": "images/"}, "items[0].path", "must not contain an empty segment"),
    ({"path": "images/a\tb.png"}, "items[0].path", "must not contain control characters"),
    ({"path": "a\x7f"}, "items[0].path", "must not contain control characters"),
    ({"path": "é" * 513}, "items[0].path", "is 1026 bytes of UTF-8; S3 allows at most 1024"),
    ({"pth": "a.png"}, "items[0].pth", "unknown key (did you mean 'path'?)"),
    ({"s3_stor": {}}, "items[0].s3_stor", "unknown key (did you mean 's3_store'?)"),
    ({"options": "lossy"}, "items[0].options", "must be a mapping, not a string"),
    ({"s3_store": None}, "items[0].s3_store", "must be a mapping, not null"),
    ({"sl_store": []}, "items[0].sl_store", "must be a mapping, not a list"),
]


class TestItems:
    """Each item: url or file, path, overrides."""

    @pytest.mark.parametrize(("fields", "location", "message"), INVALID_ITEMS)
    def test_invalid(self, fields: dict[str, Any], location: str, message: str) -> None:
        """Each invalid item field is one problem at its exact location."""
        problem = only_problem(with_item(**fields))
        assert problem.location == location
        assert problem.message.startswith(message), problem.message

    def test_path_of_exactly_1024_bytes_is_accepted(self) -> None:
        """The S3 key limit is inclusive."""
        assert parse(with_item(path="a" * 1019 + "/é.p")).items[0].path.endswith("é.p")

    def test_item_must_be_a_mapping(self) -> None:
        """A bare string in the items list is one problem at the item's location."""
        assert only_problem(base(items=["https://h/a.png"])) == Problem(
            "items[0]", "must be a mapping, not a string")

    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda d: None, "No such file or directory"),
            (lambda d: (d / "x.png").mkdir(), "not a regular file"),
        ],
    )
    def test_invalid_file(self, tmp_path: Path, make: Any, message: str) -> None:
        """A file item must name an existing regular file, relative to the manifest."""
        make(tmp_path)
        problem = only_problem(with_item(url=DELETE, file="x.png"), source=tmp_path / "m.yaml")
        assert problem == Problem("items[0].file", f"{tmp_path / 'x.png'}: {message}")

    def test_index_is_the_position_in_the_list(self) -> None:
        """Item.index is the 0-based position of the item in the manifest."""
        data = base(items=[{"url": f"http://h/{i}.png", "path": f"{i}.png"} for i in range(4)])
        assert [item.index for item in parse(data).items] == [0, 1, 2, 3]


INVALID_OPTIONS = [
    ({"lossy": "yes"}, "lossy", "must be true or false, not a string"),
    ({"webp": 1}, "webp", "must be true or false, not a number"),
    ({"auto_orient": None}, "auto_orient", "must be true or false, not null"),
    ({"dev": "true"}, "dev", "must be true or false, not a string"),
    ({"quality": True}, "quality", "must be an integer, not a boolean"),
    ({"quality": 80.5}, "quality", "must be an integer, not a number"),
    ({"quality": 0}, "quality", "must be from 1 to 100, not 0"),
    ({"quality": 101}, "quality", "must be from 1 to 100, not 101"),
    ({"sampling_scheme": "4:1:1"}, "sampling_scheme", ("must be one of 4:2:0, 4:2:2, 4:4:4, "
     "not '4:1:1'")),
    ({"sampling_scheme": 14520}, "sampling_scheme", ("must be one of 4:2:0, 4:2:2, 4:4:4, not a "
     "number (quote it: YAML reads an unquoted 4:2:0 as a base-60 number)")),
    ({"preserve_meta": "date"}, "preserve_meta", "must be a list, not a string"),
    ({"preserve_meta": ["date", "gps"]}, "preserve_meta[1]", "must be one of copyright, date,"),
    ({"lossyy": True}, "lossyy", "unknown key (did you mean 'lossy'?)"),
    ({"s3_store": {}}, "s3_store", "unknown key"),
    ({"resize": "100x100"}, "resize", "must be a mapping, not a string"),
    ({"resize": {"width": 1, "height": 1}}, "resize.strategy", "is required (one of auto, crop,"),
    ({"resize": {"strategy": "stretch"}}, "resize.strategy", "must be one of auto, crop, exact,"),
    ({"resize": {"strategy": "fit", "width": 10}}, "resize.height", ("is required by strategy "
     "'fit'")),
    ({"resize": {"strategy": "portrait", "width": 10}}, "resize.height", ("is required by "
     "strategy 'portrait'")),
    ({"resize": {"strategy": "landscape", "height": 10}}, "resize.width", "is required by"),
    ({"resize": {"strategy": "square", "width": 1, "height": 1}}, "resize.size",
     "is required by strategy 'square'"),
    ({"resize": {"strategy": "exact", "width": 0, "height": 1}}, "resize.width",
     "must be at least 1, not 0"),
    ({"resize": {"strategy": "square", "size": True}}, "resize.size", "must be an integer, not"),
    ({"resize": {"strategy": "crop", "width": 1, "height": 1, "x": "1"}}, "resize.x",
     "must be an integer, not a string"),
    ({"resize": {"strategy": "fill", "width": 1, "height": 1, "background": 0}},
     "resize.background", "must be a string, not a number"),
    ({"resize": {"strategy": "square", "size": 1, "widht": 1}}, "resize.widht",
     "unknown key (did you mean 'width'?)"),
    ({"resize": {"strategy": "square", "size": 1, "id": 1}}, "resize.id", "unknown key"),
    ({"resize": []}, "resize", "must not be an empty list"),
    ({"resize": [{"id": i, "strategy": "square", "size": 1} for i in range(11)]}, "resize",
     "has 11 sizes; Kraken allows at most 10"),
    ({"resize": [{"strategy": "square", "size": 1}]}, "resize[0].id", "is required in a list"),
    ({"resize": [{"id": 1.5, "strategy": "square", "size": 1}]}, "resize[0].id",
     "must be a non-empty string or an integer, not a number"),
    ({"resize": [{"id": 1, "strategy": "square", "size": 1},
                 {"id": "1", "strategy": "square", "size": 2}]}, "resize[1].id",
     "'1' is already used by {at}resize[0]"),
    ({"resize": [{"id": 1, "size": 1}]}, "resize[0].strategy", "is required"),
    ({"resize": [{"id": 1, "strategy": "fit", "width": 1}]}, "resize[0].height", "is required"),
    ({"resize": ["small"]}, "resize[0]", "must be a mapping, not a string"),
    ({"resize": [{"id": 1, "strategy": "square", "size": 1, "storage_path": "/x"}]},
     "resize[0].storage_path", "must not start with '/'"),
    ({"resize": [{"id": 1, "strategy": "square", "size": 1, "storage_path": "s/a.png"},
                 {"id": 2, "strategy": "square", "size": 2, "storage_path": "s/a.png"}]},
     "resize[1].storage_path", "s/a.png is already used by {at}resize[0]"),
    ({"convert": "webp"}, "convert", "must be a mapping, not a string"),
    ({"convert": {}}, "convert.format", "is required (one of avif, gif, jpeg, png, webp)"),
    ({"convert": {"format": "jpg"}}, "convert.format", ("must be one of avif, gif, jpeg, png, "
     "webp, not 'jpg'")),
    ({"convert": {"format": "png", "keep_extension": "no"}}, "convert.keep_extension",
     "must be true or false"),
    ({"convert": {"format": "png", "backgroud": "#fff"}}, "convert.backgroud",
     "unknown key (did you mean 'background'?)"),
]


class TestOptions:
    """Kraken options, top-level and per item."""

    @pytest.mark.parametrize(("options", "location", "message"), INVALID_OPTIONS)
    def test_invalid_item_options(self, options: dict[str, Any], location: str,
                                  message: str) -> None:
        """Each invalid item option is one problem under items[0].options."""
        problem = only_problem(with_item(options=options))
        assert problem.location == f"items[0].options.{location}"
        assert problem.message.startswith(message.format(at="items[0].options.")), problem

    @pytest.mark.parametrize(
        ("options", "location", "message"),
        [case for case in INVALID_OPTIONS if "storage_path" not in repr(case[0])],
    )
    def test_invalid_top_level_options_are_reported_once(
        self, options: dict[str, Any], location: str, message: str
    ) -> None:
        """An invalid top-level option is reported once at options.*, not once per item."""
        data = base(options=options)
        data["items"].append({"url": "http://h/b.png", "path": "b.png"})
        problem = only_problem(data)
        assert problem.location == f"options.{location}"
        assert problem.message.startswith(message.format(at="options.")), problem.message

    def test_incomplete_merge_is_reported_on_the_item(self) -> None:
        """A resize completed by neither block is reported at the overriding item."""
        data = base(options={"resize": {"strategy": "fit", "width": 5, "height": 5}})
        data["items"][0]["options"] = {"resize": {"strategy": "square"}}
        assert only_problem(data) == Problem("items[0].options.resize.size",
                                             "is required by strategy 'square'")


INVALID_STORES = [
    ({"key": 5}, "key", "must be a string, not a number"),
    ({"secret": ""}, "secret", "must not be empty"),
    ({"bucket": "Assets"}, "bucket", "'Assets' is not a valid bucket name"),
    ({"bucket": "ab"}, "bucket", "'ab' is not a valid bucket name"),
    ({"bucket": "a" * 64}, "bucket", f"'{'a' * 64}' is not a valid bucket name"),
    ({"bucket": "my_bucket"}, "bucket", "'my_bucket' is not a valid bucket name"),
    ({"bucket": "-assets"}, "bucket", "'-assets' is not a valid bucket name"),
    ({"bucket": "a..b"}, "bucket", "'a..b' is not a valid bucket name"),
    ({"region": 1}, "region", "must be a string, not a number"),
    ({"acl": "public-read"}, "acl", "must be one of private, public_read, not 'public-read'"),
    ({"path": "images/"}, "path", ("not allowed in s3_store: the item's own path is the full "
     "S3 key")),
    ({"buckett": "x"}, "buckett", "unknown key (did you mean 'bucket'?)"),
    ({"headers": "Cache-Control: x"}, "headers", "must be a mapping, not a string"),
    ({"headers": {"Expires": True}}, "headers.Expires", "must be a string or an integer, not"),
    ({"headers": {"X": 1.5}}, "headers.X", "must be a string, not a number"),
    ({"metadata": {"version": 2}}, "metadata.version", ("must be a string, not a number: quote "
     "the value in the manifest")),
    ({"metadata": {"a": None}}, "metadata.a", "must be a string, not null"),
    ({"metadata": {1: "a"}}, "metadata[1]", "names must be non-empty strings, not a number"),
    ({"tags": ["a"]}, "tags", "must be a mapping, not a list"),
    ({"tags": {"year": 2026}}, "tags.year", "must be a string, not a number: quote"),
    ({"tags": {f"t{i}": "v" for i in range(11)}}, "tags", "has 11 tags; S3 allows at most 10"),
]


class TestS3Store:
    """s3_store: fields, merge, completeness."""

    @pytest.mark.parametrize(("store", "location", "message"), INVALID_STORES)
    def test_invalid_item_store(self, store: dict[str, Any], location: str,
                                message: str) -> None:
        """Each invalid item s3_store field is one problem at items[0].s3_store.*."""
        problem = only_problem(with_item(s3_store=store))
        assert problem.location == f"items[0].s3_store.{location}".replace(".[", "[")
        assert problem.message.startswith(message), problem.message

    @pytest.mark.parametrize(("store", "location", "message"), INVALID_STORES)
    def test_invalid_top_level_store(self, store: dict[str, Any], location: str,
                                     message: str) -> None:
        """Each invalid top-level s3_store field is one problem at s3_store.*."""
        problem = only_problem(base(s3_store={**STORE, **store}))
        assert problem.location == f"s3_store.{location}".replace(".[", "[")
        assert problem.message.startswith(message), problem.message

    @pytest.mark.parametrize("missing", ["key", "secret", "bucket"])
    def test_required_after_merge(self, missing: str) -> None:
        """key, secret and bucket must be set by the item or the top-level store."""
        top = {k: v for k, v in STORE.items() if k != missing}
        data = base(s3_store=top)
        data["items"][0]["s3_store"] = {"acl": "private"}
        assert only_problem(data) == Problem(f"items[0].s3_store.{missing}",
                                             "is required (here or in the top-level s3_store)")

    def test_store_may_come_from_item_only(self) -> None:
        """An item may carry a complete s3_store of its own without top-level defaults."""
        data = with_item(s3_store={**STORE, "bucket": "other-bucket"})
        del data["s3_store"]
        store = parse(data).items[0].s3_store
        assert store is not None and store.bucket == "other-bucket"

    def test_too_many_tags_after_merge(self) -> None:
        """Ten tags at the top plus one in the item exceed the S3 limit after the merge."""
        data = base(s3_store={**STORE, "tags": {f"t{i}": "v" for i in range(10)}})
        data["items"][0]["s3_store"] = {"tags": {"campaign": "winter"}}
        assert only_problem(data) == Problem(
            "items[0].s3_store.tags",
            "has 11 tags after merging with the top-level s3_store; S3 allows at most 10")

    def test_headers_accept_integers(self) -> None:
        """Header values may be integers (Expires: 1700000000)."""
        store = parse(with_item(s3_store={"headers": {"Expires": 1700000000}})).items[0].s3_store
        assert store is not None and store.headers == {"Expires": 1700000000}


class TestCollisions:
    """Two writers of one bucket+key."""

    def items(self, *entries: dict[str, Any]) -> dict[str, Any]:
        return base(items=[{"url": f"http://h/{i}.png", **entry}
                           for i, entry in enumerate(entries)])

    def test_same_bucket_and_path(self) -> None:
        """The later item is reported, naming the earlier one."""
        data = self.items({"path": "images/a.png"}, {"path": "b.png"}, {"path": "images/a.png"})
        assert only_problem(data) == Problem(
            "items[2].path", "images/a.png in bucket assets is already written by items[0]")

    def test_every_later_writer_is_reported(self) -> None:
        """Three writers of one key give two problems, both naming the first writer."""
        data = self.items({"path": "a.png"}, {"path": "a.png"}, {"path": "a.png"})
        assert [str(p) for p in problems(data)] == [
            "items[1].path: a.png in bucket assets is already written by items[0]",
            "items[2].path: a.png in bucket assets is already written by items[0]"]

    def test_same_path_in_other_bucket_is_fine(self) -> None:
        """The same key in two buckets is two different objects."""
        data = self.items({"path": "a.png"},
                          {"path": "a.png", "s3_store": {"bucket": "assets-eu"}})
        assert len(parse(data).items) == 2

    def test_storage_paths_collide_across_items(self) -> None:
        """A multi-resize storage_path may not overwrite another item's object."""
        resize = {"resize": [{"id": "s", "strategy": "square", "size": 1,
                              "storage_path": "thumbs/a.png"}]}
        data = self.items({"path": "thumbs/a.png"}, {"path": "b.png", "options": resize},
                          {"path": "c.png", "options": resize})
        assert [str(p) for p in problems(data)] == [
            ("items[1].options.resize[0].storage_path: thumbs/a.png in bucket assets is already "
            "written by items[0]"),
            ("items[2].options.resize[0].storage_path: thumbs/a.png in bucket assets is already "
            "written by items[0]"),
        ]

    def test_path_collides_with_earlier_storage_path(self) -> None:
        """An item path may not overwrite an earlier item's resized image."""
        resize = {"resize": [{"id": "s", "strategy": "square", "size": 1,
                              "storage_path": "thumbs/a.png"}]}
        data = self.items({"path": "a.png", "options": resize}, {"path": "thumbs/a.png"})
        assert only_problem(data) == Problem(
            "items[1].path",
            "thumbs/a.png in bucket assets is already written by items[0].options.resize[0]")


    def test_top_level_storage_path_is_written_by_every_item(self) -> None:
        """A storage_path in the top-level options would make every item write one key."""
        data = self.items({"path": "a.png"}, {"path": "b.png"})
        data["options"] = {"resize": [{"id": 1, "strategy": "square", "size": 9,
                                       "storage_path": "thumb.png"}]}
        assert only_problem(data) == Problem(
            "items[1].options.resize[0].storage_path",
            "thumb.png in bucket assets is already written by items[0].options.resize[0]")

    def test_item_path_equal_to_its_own_storage_path(self) -> None:
        """An item whose resized image would overwrite its own path is reported."""
        data = self.items({"path": "a.png", "options": {"resize": [
            {"id": 1, "strategy": "square", "size": 9, "storage_path": "a.png"}]}})
        assert only_problem(data) == Problem(
            "items[0].options.resize[0].storage_path",
            "a.png in bucket assets is already written by items[0]")


class TestSecretsNeverLeak:
    """No credential value appears in any problem."""

    @pytest.mark.parametrize(
        "store",
        [
            {"key": [AWS_SECRET]},
            {"secret": {AWS_SECRET: AWS_SECRET}},
            {"key": AWS_SECRET + "${"},
            {"secret": AWS_SECRET + "${NOT_SET}"},
            {"bucket": None, "key": AWS_SECRET, "secret": 12345678901234},
        ],
    )
    def test_store_credentials(self, store: dict[str, Any]) -> None:
        """Wrong or unusable key/secret values are described without echoing them."""
        found = problems(base(s3_store={**STORE, **store}))
        text = "\n".join(map(str, found))
        assert found and AWS_SECRET not in text and "12345678901234" not in text
        assert AWS_KEY not in text

    def test_api_credentials_and_urls(self) -> None:
        """api.key/secret and URLs with credentials are never quoted in problems."""
        data = base(api={"url": f"ftp://user:{AWS_SECRET}@h/", "key": [AWS_SECRET],
                         "secret": 42})
        data["items"][0]["url"] = f"gopher://u:{AWS_SECRET}@h/a.png"
        with pytest.raises(ManifestError) as caught:
            parse(data)
        assert len(caught.value.problems) == 4
        assert AWS_SECRET not in str(caught.value)

    def test_manifest_repr_masks_credentials(self) -> None:
        """A parsed manifest printed whole (a debugging print, a traceback) shows no secret."""
        manifest = parse(base(api={"key": "kraken-key-1", "secret": "kraken-secret-1"}))
        text = repr(manifest)
        for value in (AWS_KEY, AWS_SECRET, "kraken-key-1", "kraken-secret-1"):
            assert value not in text


class TestScale:
    """Large manifests."""

    def test_twenty_thousand_items(self, tmp_path: Path) -> None:
        """A 20 000-item manifest loads with every item resolved and one collision found."""
        count = 20_000
        lines = ["version: 1", ("s3_store: {key: '${AWS_KEY}', secret: '${AWS_SECRET}', "
                 "bucket: assets, tags: {team: web}}"), "options: {lossy: true}", "items:"]
        for i in range(count):
            lines.append(f"  - {{url: 'https://${{CDN}}/{i}.png', path: 'images/{i}.png'}}")
            if i % 100 == 0:
                lines.append(f"  - {{url: 'https://h/x{i}.png', path: 'x/{i}.png', "
                             "options: {quality: 70}, s3_store: {tags: {n: '1'}}}")
        path = tmp_path / "big.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        items = load_manifest(path, ENV).items
        assert isinstance(items, tuple)  # inline items stay a tuple; items_from streams
        assert len(items) == count + count // 100
        assert items[-1].url == f"https://cdn.example/{count - 1}.png"
        assert items[-1].index == len(items) - 1
        assert items[1].options == {"lossy": True, "quality": 70}
        assert items[1].s3_store is not None
        assert items[1].s3_store.tags == {"team": "web", "n": "1"}

        lines.append("  - {url: 'https://h/dup.png', path: 'images/19999.png'}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ManifestError) as caught:
            load_manifest(path, ENV)
        assert [str(p) for p in caught.value.problems] == [
            (f"items[{count + count // 100}].path: images/19999.png in bucket assets is already "
            f"written by items[{count + count // 100 - 1}]")]

    def test_parse_does_not_modify_its_input(self) -> None:
        """parse_manifest() is pure: the data it was given is unchanged."""
        data = base(options={"resize": {"strategy": "fit", "width": 1, "height": 1}})
        data["items"][0]["options"] = {"resize": {"width": 2}}
        data["items"][0]["s3_store"] = {"tags": {"a": "b"}}
        before = copy.deepcopy(data)
        parse(data)
        assert data == before
