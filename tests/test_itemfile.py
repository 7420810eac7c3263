"""Tests for ``items_from:``: streamed CSV / JSON Lines item files (batch.itemfile and friends)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.cli import main
from batch.errors import ManifestError, Problem
from batch.itemfile import StreamedItems
from batch.manifest import load_manifest
from batch.models import Item, Manifest, S3Store
from batch.secret import Secret
from batch.validate import MAX_PROBLEMS, Problems

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENV = {"AWS_KEY": AWS_KEY, "AWS_SECRET": AWS_SECRET, "CDN": "cdn.example", "LIST": "items"}
TOP = ("version: 1\n"
       "options: {lossy: true}\n"
       "s3_store: {key: '${AWS_KEY}', secret: '${AWS_SECRET}', bucket: assets, "
       "tags: {team: web}}\n")
STORE = S3Store(key=Secret(AWS_KEY), secret=Secret(AWS_SECRET), bucket="assets",
                tags={"team": "web"})


def write(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8, bytes as given) to ``path``."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def manifest_for(folder: Path, listing: str, content: str | bytes, top: str = TOP) -> Path:
    """A manifest in ``folder`` whose items_from names ``listing``, written with ``content``."""
    write(folder / listing, content)
    return write(folder / "m.yaml", f"{top}items_from: {listing}\n")


def load(path: Path, environ: dict[str, str] | None = None) -> Manifest:
    return load_manifest(path, ENV if environ is None else environ)


def streamed(path: Path) -> list[Item]:
    """The items of a valid item-file manifest, checking they are streamed, not a tuple."""
    items = load(path).items
    assert isinstance(items, StreamedItems)
    listed = list(items)
    assert len(items) == len(listed)
    return listed


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(path, environ)
    assert caught.value.source == str(path)
    return [str(problem) for problem in caught.value.problems]


def jsonl(*lines: dict[str, Any] | str) -> str:
    """JSON Lines text: mappings are dumped, strings written as they are."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                   for line in lines)


class TestCsv:
    """CSV item files: header, rows, defaults."""

    def test_rows_become_items_with_shared_defaults(self, tmp_path: Path) -> None:
        """Each row is an item, indexed from 0, sharing one default options dict and store."""
        (tmp_path / "img").mkdir()
        write(tmp_path / "img" / "b.jpg", b"\xff\xd8")
        path = manifest_for(tmp_path, "items.csv", "url,file,path\n"
                            "https://${CDN}/a.png,,images/a.png\n"
                            ",img/b.jpg,images/${CDN}.jpg\n")
        first, second = streamed(path)
        assert first == Item(index=0, path="images/a.png", url="https://cdn.example/a.png",
                             options={"lossy": True}, s3_store=STORE)
        assert second == Item(index=1, path="images/cdn.example.jpg",
                              file=tmp_path / "img" / "b.jpg", options={"lossy": True},
                              s3_store=STORE)
        assert first.options is second.options and first.s3_store is second.s3_store

    def test_columns_in_any_order_and_a_byte_order_mark(self, tmp_path: Path) -> None:
        """A UTF-8 BOM before the header is dropped and columns may come in any order."""
        path = manifest_for(tmp_path, "items.csv", b"\xef\xbb\xbfpath,url\r\na.png,http://h/a\r\n")
        assert [(i.url, i.path) for i in streamed(path)] == [("http://h/a", "a.png")]

    def test_blank_lines_are_skipped_but_counted_as_lines(self, tmp_path: Path) -> None:
        """Blank lines are no items (indices stay consecutive) but do count in line numbers."""
        path = manifest_for(tmp_path, "items.csv",
                            "url,path\n\nhttp://h/a,a.png\n\n\nhttp://h/b,b.png\n\n")
        assert [(i.index, i.path) for i in streamed(path)] == [(0, "a.png"), (1, "b.png")]
        write(tmp_path / "items.csv", "url,path\n\nhttp://h/a,a.png\n\n\nftp://h/b,b.png\n")
        assert problems(path) == [
            "items.csv:6.url: must be an http or https URL, not one with scheme 'ftp'"]

    def test_a_quoted_newline_keeps_later_line_numbers_physical(self, tmp_path: Path) -> None:
        """A record spanning two lines is located at its first; the next at its own line."""
        path = manifest_for(tmp_path, "items.csv",
                            'url,path\nhttp://h/a,"a\nb"\nhttp://h/b,../b\n')
        assert problems(path) == [
            "items.csv:2.path: must not contain control characters",
            "items.csv:4.path: must not contain a '..' segment"]

    @pytest.mark.parametrize(
        ("row", "expected"),
        [
            ("ftp://h/a.png,,a.png", ("items.csv:2.url: must be an http or https URL, not one "
             "with scheme 'ftp'")),
            ("http://h/a b.png,,a.png", ("items.csv:2.url: must not contain spaces or control "
             "characters (percent-encode them)")),
            ("http://h/a.png,,images/../a.png", ("items.csv:2.path: must not contain a '..' "
             "segment")),
            ("http://h/a.png,,/a.png", "items.csv:2.path: must not start with '/'"),
            ("http://h/a.png,,", ("items.csv:2.path: is required (the full S3 key, file name "
             "included)")),
            (",,a.png", "items.csv:2: needs a url or a file"),
            ("http://h/a.png,x.png,a.png", "items.csv:2: needs exactly one of url and file"),
            (",missing.png,a.png", ("items.csv:2.file: {folder}/missing.png: No such file or "
             "directory")),
            ("http://h/a.png,,a.png,extra", ("items.csv:2: has 4 cells, but the header names 3 "
             "columns")),
            ("https://${NOPE}/a,,a.png", ("items.csv:2.url: environment variable NOPE is not "
             "set")),
        ],
    )
    def test_each_invalid_row_is_one_located_problem(self, tmp_path: Path, row: str,
                                                     expected: str) -> None:
        """Each invalid row gives exactly one problem at <file>:<line>.<field>."""
        path = manifest_for(tmp_path, "items.csv", f"url,file,path\n{row}\n")
        assert problems(path) == [expected.format(folder=tmp_path)]

    def test_a_short_row_lacks_its_last_cells(self, tmp_path: Path) -> None:
        """A row with fewer cells than columns has the missing ones absent."""
        path = manifest_for(tmp_path, "items.csv", "url,path\nhttp://h/a.png\n")
        assert problems(path) == [
            "items.csv:2.path: is required (the full S3 key, file name included)"]

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ("url,path,options\n", ("items.csv:1: unknown column 'options': a CSV item list has "
             "only the columns url, file and path (per-item options and stores need a JSON Lines "
             "file)")),
            ("URL,path,size\n", ("items.csv:1: unknown columns 'URL' (did you mean 'url'?), "
             "'size': a CSV item list has only the columns url, file and path (per-item options "
             "and stores need a JSON Lines file)")),
            ("url,path,path\n", "items.csv:1: has the column 'path' twice"),
            ("url\n", "items.csv:1: needs a path column (the full S3 key of each item)"),
            ("path\n", ("items.csv:1: needs a url or a file column (or both, one of them set per "
             "row)")),
            ("\nurl,path\n", ("items.csv:1: must be a header row naming the columns (url or "
             "file, and path), not a blank line")),
        ],
    )
    def test_header_problems(self, tmp_path: Path, content: str, expected: str) -> None:
        """A blank, incomplete or unknown header is one problem, and no row is checked."""
        path = manifest_for(tmp_path, "items.csv", content + "ftp://h/a,../a\n")
        assert problems(path) == [expected]

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ("", ("items_from: items.csv is empty: a CSV item list needs a header row (url,path "
             "or file,path) and one row per item")),
            ("url,path\n\n", "items_from: items.csv has no items"),
        ],
    )
    def test_no_items(self, tmp_path: Path, content: str, expected: str) -> None:
        """An empty file, or one with only a header, is one problem at items_from."""
        assert problems(manifest_for(tmp_path, "items.csv", content)) == [expected]

    def test_not_utf8_is_located_and_stops_reading(self, tmp_path: Path) -> None:
        """A byte that is not UTF-8 is reported at its line, and nothing after it is read."""
        path = manifest_for(tmp_path, "items.csv",
                            b"url,path\nhttp://h/a,a.png\nhttp://h/b,caf\xe9.png\nftp://x,y\n")
        assert problems(path) == [
            "items.csv:3: not valid UTF-8 (byte 0xe9): save the file as UTF-8"]

    def test_csv_syntax_error_is_located(self, tmp_path: Path) -> None:
        """A CSV error (a huge field) is reported at its line without quoting the text."""
        path = manifest_for(tmp_path, "items.csv",
                            "url,path\nhttp://h/a,a\nhttp://h/b," + "b" * 200_000 + "\n")
        assert problems(path) == [
            "items.csv:3: not valid CSV: field larger than field limit (131072)"]


class TestJsonl:
    """JSON Lines item files: objects with inline-item keys, merged over the defaults."""

    def test_lines_merge_over_the_defaults_like_inline_items(self, tmp_path: Path) -> None:
        """Per-line options and stores deep-merge; lines without overrides share the defaults."""
        top = TOP + "gcs_store: {bucket: g}\n"
        path = manifest_for(tmp_path, "items.jsonl", jsonl(
            {"url": "https://${CDN}/a.png", "path": "a.png"},
            {"url": "http://h/b.png", "path": "b.png", "options": {"quality": 70},
             "s3_store": {"acl": "private", "tags": {"n": "${CDN}"}},
             "gcs_store": {"path_prefix": "p"}},
            {"url": "http://h/c.png", "path": "c.png"},
        ), top=top)
        first, second, third = streamed(path)
        assert first == Item(index=0, path="a.png", url="https://cdn.example/a.png",
                             options={"lossy": True}, s3_store=STORE,
                             stores={"gcs_store": {"bucket": "g"}})
        assert second == Item(
            index=1, path="b.png", url="http://h/b.png", options={"lossy": True, "quality": 70},
            s3_store=S3Store(key=Secret(AWS_KEY), secret=Secret(AWS_SECRET), bucket="assets",
                             acl="private", tags={"team": "web", "n": "cdn.example"}),
            stores={"gcs_store": {"bucket": "g", "path_prefix": "p"}})
        assert third.index == 2
        assert third.options is first.options and third.s3_store is first.s3_store

    def test_ndjson_and_blank_lines(self, tmp_path: Path) -> None:
        """.ndjson is JSON Lines too; blank lines are skipped and not counted as items."""
        path = manifest_for(tmp_path, "items.NDJSON", "\n" + jsonl(
            {"url": "http://h/a", "path": "a"}, "   ", {"url": "http://h/b", "path": "b"}))
        assert [(i.index, i.path) for i in streamed(path)] == [(0, "a"), (1, "b")]

    def test_byte_order_mark(self, tmp_path: Path) -> None:
        """A UTF-8 BOM before the first line is dropped."""
        path = manifest_for(tmp_path, "items.jsonl",
                            b"\xef\xbb\xbf" + jsonl({"url": "http://h/a", "path": "a"}).encode())
        assert [i.path for i in streamed(path)] == ["a"]

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ('{"url": "http://h/a", "path": "a", "options": {"quality": 0}}',
             "items.jsonl:3.options.quality: must be from 1 to 100, not 0"),
            ('{"url": "http://h/a", "path": "a", "optons": {}}',
             "items.jsonl:3.optons: unknown key (did you mean 'options'?)"),
            ('{"url": "http://h/a", "path": "a", "s3_store": {"acl": "public"}}',
             "items.jsonl:3.s3_store.acl: must be one of private, public_read, not 'public'"),
            ('{"url": "http://h/a", "path": "a", "s3_store": {"tags": {'
             + ", ".join(f'"t{i}": "v"' for i in range(10)) + "}}}",
             ("items.jsonl:3.s3_store.tags: has 11 tags after merging with the top-level "
             "s3_store; S3 allows at most 10")),
            (('{"url": "http://h/a", "path": "a", "options": {"resize": {"strategy": "fit", '
              '"height": 5}}}'),
             "items.jsonl:3.options.resize.width: is required by strategy 'fit'"),
            ('{"url": 5, "path": "a"}', "items.jsonl:3.url: must be a string, not a number"),
            ('{"url": "http://h/a", "path": null}',
             "items.jsonl:3.path: must be a string, not null"),
            ('["http://h/a", "a"]', "items.jsonl:3: must be a JSON object (one item), not a list"),
            ('{"url": "http://h/a", "path": "a",}',
             ("items.jsonl:3: not valid JSON: Expecting property name enclosed in double quotes "
             "(column 35)")),
            ('{"url": "http://h/a", "path": "a", "path": "b"}',
             ("items.jsonl:3: duplicate key 'path' in one JSON object; JSON would silently keep "
             "only the last one")),
        ],
    )
    def test_each_invalid_line_is_one_located_problem(self, tmp_path: Path, line: str,
                                                      expected: str) -> None:
        """Each invalid line gives exactly one problem at <file>:<line>.<field>."""
        path = manifest_for(tmp_path, "items.jsonl",
                            jsonl({"url": "http://h/0", "path": "0"}, "") + line + "\n")
        assert problems(path) == [expected]

    def test_not_utf8_line_is_located_and_the_rest_is_checked(self, tmp_path: Path) -> None:
        """A line that is not UTF-8 is one problem; the following lines are still checked."""
        path = manifest_for(tmp_path, "items.jsonl", b'{"url": "http://h/\xff", "path": "a"}\n'
                            b'{"url": "ftp://h", "path": "b"}\n')
        assert problems(path) == [
            "items.jsonl:1: not valid UTF-8 (byte 0xff): save the file as UTF-8",
            "items.jsonl:2.url: must be an http or https URL, not one with scheme 'ftp'"]


class TestItemsFrom:
    """The items_from key of the manifest itself."""

    def test_items_and_items_from_together(self, tmp_path: Path) -> None:
        """Giving both items and items_from is one clear problem."""
        write(tmp_path / "items.csv", "url,path\nhttp://h/a,a\n")
        path = write(tmp_path / "m.yaml", TOP + "items_from: items.csv\n"
                     "items: [{url: 'http://h/b', path: b}]\n")
        assert problems(path) == [
            ("items_from: cannot be used together with items: give the items inline (items) or "
            "in a CSV / JSON Lines file (items_from), not both")]

    def test_neither_items_nor_items_from(self, tmp_path: Path) -> None:
        """A manifest without items says that either key would do."""
        assert problems(write(tmp_path / "m.yaml", TOP)) == [
            ("items: is required (a list of items with url or file, and path), unless "
            "items_from names a CSV or JSON Lines file of items")]

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("items.txt", ("items_from: items.txt: unknown format ('.txt'): an item file must be "
             ".csv, .jsonl or .ndjson")),
            ("items", ("items_from: items: unknown format (no extension): an item file must be "
             ".csv, .jsonl or .ndjson")),
            ("[a.csv]", "items_from: must be a string, not a list"),
            ("''", "items_from: must not be empty"),
            ("${NOPE}.csv", "items_from: environment variable NOPE is not set"),
            ("absent.csv", "items_from: {folder}/absent.csv: No such file or directory"),
            ("sub.csv", "items_from: {folder}/sub.csv: not a regular file"),
        ],
    )
    def test_unusable_values(self, tmp_path: Path, value: str, expected: str) -> None:
        """An items_from that names no readable item file is one problem at items_from."""
        (tmp_path / "sub.csv").mkdir()
        path = write(tmp_path / "m.yaml", f"{TOP}items_from: {value}\n")
        assert problems(path) == [expected.format(folder=tmp_path)]

    def test_path_is_interpolated_and_relative_to_the_manifest(self, tmp_path: Path) -> None:
        """${VAR} works in items_from, and a relative name starts at the manifest's folder."""
        (tmp_path / "lists").mkdir()
        write(tmp_path / "lists" / "items.CSV", "url,path\nhttp://h/a,a\n")
        path = write(tmp_path / "m.yaml", f"{TOP}items_from: lists/${{LIST}}.CSV\n")
        cwd = Path.cwd()
        os.chdir(tmp_path.parent)
        try:
            manifest = load(Path(tmp_path.name) / "m.yaml")
        finally:
            os.chdir(cwd)
        assert isinstance(manifest.items, StreamedItems)
        assert manifest.items.path == tmp_path / "lists" / "items.CSV"
        assert len(path.read_text()) > 0

    def test_top_level_and_row_problems_are_reported_together(self, tmp_path: Path) -> None:
        """Problems of the manifest and of the item file come in one ManifestError."""
        path = manifest_for(tmp_path, "items.csv", "url,path\nhttp://h/a,/a\n",
                            top=TOP.replace("version: 1", "version: 2"))
        assert problems(path) == [
            "version: unsupported version 2: this program reads version 1",
            "items.csv:2.path: must not start with '/'"]

    def test_invalid_defaults_are_reported_once(self, tmp_path: Path) -> None:
        """An incomplete top-level store is reported once, not once per row."""
        top = "version: 1\ns3_store: {key: k, secret: s}\n"
        path = manifest_for(tmp_path, "items.csv", "url,path\nhttp://h/a,a\nhttp://h/b,b\n",
                            top=top)
        assert problems(path) == [("s3_store.bucket: is required (here or in the top-level "
                                  "s3_store)")]

    def test_manifest_repr_shows_no_secret(self, tmp_path: Path) -> None:
        """Printing a streamed manifest shows the file and count, never a credential."""
        manifest = load(manifest_for(tmp_path, "items.csv", "url,path\nhttp://h/a,a\n"))
        text = repr(manifest)
        assert "items.csv" in text and "1 items" in text
        assert AWS_KEY not in text and AWS_SECRET not in text


class TestCollisions:
    """Two lines writing one bucket+key, named by their lines."""

    def test_later_line_names_the_earlier_line(self, tmp_path: Path) -> None:
        """A collision is reported on the later row, naming the physical line of the first."""
        path = manifest_for(tmp_path, "items.csv", "url,path\n\nhttp://h/a,x.png\n"
                            "http://h/b,y.png\n\nhttp://h/c,x.png\nhttp://h/d,x.png\n")
        assert problems(path) == [
            "items.csv:6.path: x.png in bucket assets is already written by items.csv:3",
            "items.csv:7.path: x.png in bucket assets is already written by items.csv:3"]

    def test_storage_paths_across_lines(self, tmp_path: Path) -> None:
        """A resized image's storage_path may not overwrite another line's object."""
        resize = {"resize": [{"id": 1, "strategy": "square", "size": 9,
                              "storage_path": "thumbs/a.png"}]}
        path = manifest_for(tmp_path, "items.jsonl", jsonl(
            {"url": "http://h/a", "path": "a.png", "options": resize},
            {"url": "http://h/b", "path": "thumbs/a.png"},
            {"url": "http://h/c", "path": "c.png", "s3_store": {"bucket": "other"},
             "options": resize},
        ))
        assert problems(path) == [
            ("items.jsonl:2.path: thumbs/a.png in bucket assets is already written by "
            "items.jsonl:1.options.resize[0]")]

    def test_same_key_in_another_bucket_is_fine(self, tmp_path: Path) -> None:
        """Lines writing the same key to two buckets are two objects."""
        path = manifest_for(tmp_path, "items.jsonl", jsonl(
            {"url": "http://h/a", "path": "a.png"},
            {"url": "http://h/b", "path": "a.png", "s3_store": {"bucket": "assets-eu"}}))
        assert len(streamed(path)) == 2


class TestProblemCap:
    """At most 1000 problems are kept; the rest are counted."""

    def test_item_file_problems_are_capped(self, tmp_path: Path) -> None:
        """1500 bad rows give the first 1000 problems and one line counting the other 500."""
        rows = "".join(f"http://h/{i},/{i}.png\n" for i in range(1500))
        with pytest.raises(ManifestError) as caught:
            load(manifest_for(tmp_path, "items.csv", "url,path\n" + rows))
        found = caught.value.problems
        assert len(found) == MAX_PROBLEMS + 1
        assert found[0] == Problem("items.csv:2.path", "must not start with '/'")
        assert found[MAX_PROBLEMS - 1] == Problem("items.csv:1001.path", "must not start with '/'")
        assert found[-1] == Problem(
            "", "... and 500 more problems (1500 in all; only the first 1000 are listed)")

    def test_inline_problems_are_capped_too(self, tmp_path: Path) -> None:
        """An inline items list is held to the same cap."""
        rows = "".join(f"  - {{url: 'ftp://h/{i}', path: '{i}.png'}}\n" for i in range(1001))
        with pytest.raises(ManifestError) as caught:
            load(write(tmp_path / "m.yaml", TOP + "items:\n" + rows))
        assert len(caught.value.problems) == MAX_PROBLEMS + 1
        assert str(caught.value.problems[-1]) == (
            "... and 1 more problems (1001 in all; only the first 1000 are listed)")

    def test_release_forgets_only_what_was_silenced_since_the_mark(self) -> None:
        """Problems.release() drops the locations silenced after its mark, not before."""
        found = Problems()
        found.silence("s3_store.tags")
        mark = found.mark()
        found.unresolved("items.csv:2.url", ["unset"])
        found.release(mark)
        found.add("items.csv:2.url", "checked again")
        found.add("s3_store.tags", "silenced")
        assert found.report() == [Problem("items.csv:2.url", "unset"),
                                  Problem("items.csv:2.url", "checked again")]


class TestStreamedItems:
    """Iterating a validated item file, again and again, and refusing a changed one."""

    @pytest.fixture(name="listing")
    def _listing(self, tmp_path: Path) -> Path:
        rows = "".join(f"http://h/{i},{i}.png\n" for i in range(3000))
        return manifest_for(tmp_path, "items.csv", "url,path\n" + rows)

    def test_every_iteration_gives_the_same_items(self, listing: Path) -> None:
        """Two iterations yield equal items, indexed 0..n-1, and len() needs no iteration."""
        items = load(listing).items
        assert len(items) == 3000
        first, second = list(items), list(items)
        assert first == second
        assert [item.index for item in first] == list(range(3000))
        assert first[2999].url == "http://h/2999"

    @pytest.mark.parametrize("how", ["append", "replace", "touch", "delete"])
    def test_a_file_changed_after_validation_is_refused(self, listing: Path, how: str) -> None:
        """Appending, replacing, touching or deleting the file makes iteration raise."""
        items = load(listing).items
        csv_path = listing.parent / "items.csv"
        if how == "append":
            with csv_path.open("a") as handle:
                handle.write("http://h/new,new.png\n")
        elif how == "replace":
            write(listing.parent / "new.csv", csv_path.read_bytes())
            os.replace(listing.parent / "new.csv", csv_path)
        elif how == "touch":
            status = csv_path.stat()
            os.utime(csv_path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
        else:
            csv_path.unlink()
        with pytest.raises(ManifestError) as caught:
            next(iter(items))
        (problem,) = caught.value.problems
        assert caught.value.source == str(listing)
        assert problem.location == "items_from"
        assert problem.message.startswith(f"{csv_path} changed since the manifest was validated")

    def test_a_change_during_iteration_stops_it(self, listing: Path) -> None:
        """A file changed while it is being iterated is refused at the next periodic check."""
        items: Iterator[Item] = iter(load(listing).items)
        seen = [next(items) for _ in range(10)]
        with (listing.parent / "items.csv").open("a") as handle:
            handle.write("http://h/new,new.png\n")
        with pytest.raises(ManifestError):
            seen.extend(items)
        assert len(seen) == 1024

    def test_two_hundred_thousand_rows(self, tmp_path: Path) -> None:
        """A 200 000-row CSV validates, iterates in order and finds a collision at its end."""
        count = 200_000
        with (tmp_path / "items.csv").open("w", encoding="utf-8") as out:
            out.write("url,path\n")
            out.writelines(f"https://${{CDN}}/{i}.png,images/{i % 100}/{i}.png\n"
                           for i in range(count))
        path = write(tmp_path / "m.yaml", f"{TOP}items_from: items.csv\n")
        items = load(path).items
        assert len(items) == count
        seen = 0
        for seen, item in enumerate(items, 1):
            assert item.index == seen - 1
        assert seen == count
        assert item.url == f"https://cdn.example/{count - 1}.png"
        assert item.s3_store is STORE or item.s3_store == STORE
        with (tmp_path / "items.csv").open("a", encoding="utf-8") as out:
            out.write("https://h/dup.png,images/7/7.png\n")
        assert problems(path) == [(f"items.csv:{count + 2}.path: images/7/7.png in bucket "
                                  "assets is already written by items.csv:9")]


class TestValidateCommand:
    """kraken-batch validate on an items_from manifest."""

    def test_prints_the_count_and_exits_0(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
        """validate prints 'valid, N items' for a streamed manifest and exits 0."""
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        path = manifest_for(tmp_path, "items.jsonl", jsonl(
            {"url": "http://h/a", "path": "a"}, {"url": "http://h/b", "path": "b"}))
        assert main(["validate", str(path)]) == 0
        assert capsys.readouterr().out == f"{path}: valid, 2 items\n"
