"""Listing a container's blobs (`Storage.blobs`): what a plan compares uploads with and
what a download fetches. Read from each page's XML on the real Azurite, it must give
exactly what the SDK's own `list_blobs` gives, across pages and for awkward names."""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from runner import localstack, storage
from runner.errors import BwfError
from runner.placement import Placement
from runner.state import ObservedBlob
from tests.helpers import local_target

NAMES = [
    "plain.txt",
    "deep/er/path/file_OUTPUT.txt",
    "with space.txt",
    "percent%20kept.txt",
    "plus+and&amp;.txt",
    "question?hash#.txt",
    "unicodé/日本語.txt",
    "empty.txt",
]


def fill(blob_service: BlobServiceClient, name: str) -> dict[str, ObservedBlob]:
    """A container of blobs with and without a Content-MD5 (a block list has none),
    one of them empty; what a listing must give for each."""
    cc = blob_service.create_container(name)
    want = {}
    for i, blob in enumerate(NAMES):
        data = b"" if blob == "empty.txt" else f"{blob} {i}\n".encode() * (i + 1)
        md5 = hashlib.md5(data).digest()
        cc.upload_blob(blob, data, content_settings=ContentSettings(content_md5=bytearray(md5)))
        want[blob] = ObservedBlob(blob, len(data), base64.b64encode(md5).decode())
    staged = cc.get_blob_client("blocks/no-md5.bin")
    staged.stage_block("b1", b"first ")
    staged.stage_block("b2", b"second")
    staged.commit_block_list(["b1", "b2"])
    want["blocks/no-md5.bin"] = ObservedBlob("blocks/no-md5.bin", 12, None)
    return want


@pytest.mark.parametrize("page_size", [None, 3], ids=["one-page", "pages-of-3"])
def test_listing_gives_what_the_sdk_lists(
    blob_service: BlobServiceClient, azurite: Any, page_size: int | None, monkeypatch: Any
) -> None:
    name = f"listing-{page_size or 'all'}"
    want = fill(blob_service, name)
    monkeypatch.setattr(storage, "PAGE_SIZE", page_size)
    listed = storage.Storage(local_target(storage_url=azurite.url)).blobs(name)
    assert {b.name: b for b in listed} == want
    assert len(listed) == len(want)  # none twice across the pages
    by_sdk = [
        ObservedBlob(b.name, int(b.size or 0), storage._md5(b))
        for b in blob_service.get_container_client(name).list_blobs()
    ]
    assert listed == by_sdk  # same blobs, same order


def test_a_plan_and_a_download_see_the_listed_blobs(
    blob_service: BlobServiceClient, azurite: Any, tmp_path: Path
) -> None:
    """observe() and download() over the same listing: the downloaded files are the
    blobs, byte for byte, and a second download finds them identical (no fetch)."""
    want = fill(blob_service, "listing-download")
    store = storage.Storage(local_target(storage_url=azurite.url))
    observed = store.observe(["listing-download", "absent"], list_blobs=["listing-download"])
    assert set(observed) == {"listing-download"}
    assert observed["listing-download"].blobs == want
    got = store.download("listing-download", "*.txt", tmp_path)
    assert sorted(f.name for f in got) == sorted(n for n in want if n.endswith(".txt"))
    for f in got:
        data = (tmp_path / f.name).read_bytes()
        assert len(data) == want[f.name].size
        assert base64.b64encode(hashlib.md5(data).digest()).decode() == want[f.name].md5
    mtimes = {f.name: (tmp_path / f.name).stat().st_mtime_ns for f in got}
    again = store.download("listing-download", "*.txt", tmp_path)
    assert sorted(again, key=lambda f: f.name) == sorted(got, key=lambda f: f.name)
    assert {f.name: (tmp_path / f.name).stat().st_mtime_ns for f in again} == mtimes


def test_a_blob_whose_place_is_a_directory_is_a_clear_error_and_leaves_no_partial(
    blob_service: BlobServiceClient, azurite: Any, tmp_path: Path
) -> None:
    """`to/a.out` is a directory the user made: the download says which file it cannot
    write (a BwfError, which bwf prints without a traceback) and leaves nothing behind."""
    cc = blob_service.create_container("listing-onto-dir")
    cc.upload_blob("a.out", b"result\n")
    (tmp_path / "a.out").mkdir()
    store = storage.Storage(local_target(storage_url=azurite.url))
    with pytest.raises(BwfError, match=r"writing .*a\.out"):
        store.download("listing-onto-dir", "*", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.out"]
    assert (tmp_path / "a.out").is_dir()


def test_a_missing_container_is_not_found(blob_service: BlobServiceClient, azurite: Any) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        storage.Storage(local_target(storage_url=azurite.url)).blobs("never-made")


def test_the_installed_sdk_keeps_each_pages_xml(
    blob_service: BlobServiceClient, azurite: Any
) -> None:
    """What the fast listing reads: an SDK that stops keeping it makes the listing fall
    back to `list_blobs` (correct, ten times the CPU); this says so on upgrade."""
    fill(blob_service, "listing-sdk")
    pages = blob_service.get_container_client("listing-sdk").list_blob_names().by_page()
    next(pages)
    assert isinstance(getattr(pages, "_response", None), ET.Element)


def test_a_page_with_encoded_names_and_missing_properties() -> None:
    """Storage percent-encodes a name it cannot put in XML and says so (`Encoded`);
    a blob may come without a Content-MD5 or with an empty one."""
    page = ET.fromstring(
        "<EnumerationResults><Blobs>"
        '<Blob><Name Encoded="true">bad%EF%BF%BEchar%2Fx.txt</Name>'
        "<Properties><Content-Length>5</Content-Length>"
        "<Content-MD5>q83vEjRWeJA=</Content-MD5></Properties></Blob>"
        "<Blob><Name>a%20b.txt</Name><Properties><Content-Length>0</Content-Length>"
        "<Content-MD5 /></Properties></Blob>"
        "<Blob><Name>no-properties</Name></Blob>"
        "</Blobs><NextMarker /></EnumerationResults>"
    )
    assert list(storage.listed_blobs(page)) == [
        ObservedBlob("bad\ufffechar/x.txt", 5, "q83vEjRWeJA="),
        ObservedBlob("a%20b.txt", 0, None),
        ObservedBlob("no-properties", 0, None),
    ]


def test_a_download_places_each_blob_as_a_resolved_path_would(tmp_path: Path) -> None:
    """Where a download writes each blob (`runner.placement.Placement`): the path `Path.resolve` gives,
    refused outside the download directory, for plain names, names that climb, absolute
    names, and links inside the directory to inside and outside."""
    to = tmp_path / "out"
    outside = tmp_path / "elsewhere"
    (to / "sub").mkdir(parents=True)
    outside.mkdir()
    (to / "a.txt").write_text("a")
    (to / "sub" / "b.txt").write_text("b")
    (outside / "secret.txt").write_text("s")
    (to / "link-out").symlink_to(outside)
    (to / "link-in").symlink_to(to / "sub")
    (to / "file-out").symlink_to(outside / "secret.txt")
    (to / "file-in").symlink_to(to / "a.txt")
    names = [
        "a.txt",
        "sub/b.txt",
        "new/dir/c.txt",
        "../x",
        "/etc/passwd",
        "sub/../a.txt",
        "sub/../../x",
        "./a.txt",
        "a//b",
        "sub/",
        ".",
        "link-out/x",
        "link-in/b.txt",
        "link-in/new.txt",
        "file-out",
        "file-in",
    ]
    place = Placement(to, "c")
    for name in names:
        resolved = (to.resolve() / name).resolve()
        if to.resolve() in resolved.parents:
            assert place.path(name) == (str(resolved), resolved.is_file()), name
        else:
            with pytest.raises(storage.BwfError, match="would be written outside"):
                place.path(name)


def _azure_page(endpoint: str, blobs: list[str], next_marker: str) -> bytes:
    """A List Blobs page as Azure Storage writes it: a byte-order mark before the XML
    declaration, every property of a blob (empty ones as `<X />`), the metadata element,
    the next marker empty on the last page (the shape of responses recorded from Azure)."""
    marker = f"<NextMarker>{next_marker}</NextMarker>" if next_marker else "<NextMarker />"
    return (
        '\ufeff<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ServiceEndpoint="{endpoint}/" ContainerName="results">'
        "<MaxResults>2</MaxResults><Blobs>" + "".join(blobs) + f"</Blobs>{marker}"
        "</EnumerationResults>"
    ).encode()


def _azure_blob(name: str, size: int, md5: str, encoded: bool = False) -> str:
    attribute = ' Encoded="true"' if encoded else ""
    digest = f"<Content-MD5>{md5}</Content-MD5>" if md5 else "<Content-MD5 />"
    return (
        f"<Blob><Name{attribute}>{name}</Name><Properties>"
        "<Creation-Time>Tue, 08 Dec 2026 02:40:11 GMT</Creation-Time>"
        "<Last-Modified>Tue, 08 Dec 2026 02:40:11 GMT</Last-Modified>"
        "<Etag>0x8DE1A2B3C4D5E6F</Etag>"
        f"<Content-Length>{size}</Content-Length>"
        "<Content-Type>application/octet-stream</Content-Type><Content-Encoding />"
        f"<Content-Language /><Content-CRC64 />{digest}<Cache-Control />"
        "<Content-Disposition /><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
        "<AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus>"
        "<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
        "</Properties><OrMetadata /></Blob>"
    )


def test_pages_shaped_as_azure_sends_them_read_as_the_sdk_reads_them() -> None:
    """Two List Blobs pages in Azure's own shape, served on loopback to the real SDK: bwf's
    reading of each page's XML gives what the SDK's `list_blobs` models give, across the
    marker, for a name Azure encodes and a block blob without an MD5."""
    endpoint = ""
    pages = {
        "": [
            _azure_blob("job/t-001/a_OUTPUT.txt", 42, "XrY7u+Ae7tCTyyK7j1rNww=="),
            _azure_blob("job/t-002/b_OUTPUT.txt", 7, "q83vEjRWeJA="),
        ],
        "2!72!MDAwMDA1IWpvYi90LTAwMiEwMDAwMjgh": [
            _azure_blob("odd%EF%BF%BEname.txt", 3, "1B2M2Y8AsgTpgAmY7PhCfg==", encoded=True),
            _azure_blob("large.bin", 3 << 30, ""),
        ],
    }
    markers = list(pages)
    asked: list[str] = []

    class Replay(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            marker = query.get("marker", [""])[0]
            asked.append(marker)
            following = markers[markers.index(marker) + 1] if marker != markers[-1] else ""
            body = _azure_page(endpoint, pages[marker], following)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-ms-version", "2025-11-05")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}/{localstack.STORAGE_ACCOUNT}"
        store = storage.Storage(local_target(storage_url=endpoint))
        listed = store.blobs("results")
        assert asked == markers  # both pages, the second through the first's marker
        by_sdk = [
            ObservedBlob(b.name, int(b.size or 0), storage._md5(b))
            for b in store.client.get_container_client("results").list_blobs()
        ]
    finally:
        server.shutdown()
    assert listed == by_sdk
    assert listed == [
        ObservedBlob("job/t-001/a_OUTPUT.txt", 42, "XrY7u+Ae7tCTyyK7j1rNww=="),
        ObservedBlob("job/t-002/b_OUTPUT.txt", 7, "q83vEjRWeJA="),
        ObservedBlob("odd\ufffename.txt", 3, "1B2M2Y8AsgTpgAmY7PhCfg=="),
        ObservedBlob("large.bin", 3 << 30, None),
    ]
