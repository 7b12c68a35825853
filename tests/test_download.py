"""Download helpers and the alphamatting.com script, against a local HTTP server.

Nothing here touches the internet: a ``http.server`` thread on 127.0.0.1 serves
zips built in ``tmp_path`` from generated PNGs, honours (or, on request, ignores)
HTTP Range requests, and can cut a response in the middle to simulate a
dropped connection.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # data_scripts/ is not installed with the package
    sys.path.insert(0, str(ROOT))

from data_scripts import download_alphamatting as am  # noqa: E402
from data_scripts._download import (  # noqa: E402
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    atomic_write,
    download,
    safe_extract,
    sha256_file,
    verify_sha256,
)
from mattinglib.io import ALPHAMATTING_NAMES, load_alphamatting  # noqa: E402


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- test server


class FileServer:
    """Serves ``files`` (URL path -> bytes); records each request's path and Range header.

    ``cut[path] = n`` makes the next ``len`` responses for ``path`` stop after
    ``n`` body bytes and close the connection (a list, consumed one per request).
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, list[int]] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                cuts = server.cut.get(self.path)
                if cuts:
                    self.wfile.write(body[: cuts.pop(0)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval makes shutdown() return quickly at teardown.
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)

    def count(self, suffix: str = "") -> int:
        return sum(path.endswith(suffix) for path, _ in self.requests)


@pytest.fixture
def server():
    srv = FileServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.zip"


PAYLOAD = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()


def fast(**kw):
    """Download options for tests: no bar, no waiting between retries."""
    return {"progress": False, "retry_wait": 0.0, "timeout": 5.0, "log": lambda msg: None, **kw}


# --------------------------------------------------------------------------- download()


class TestDownload:
    def test_full_then_reused(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        dest = tmp_path / "a.bin"
        first = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert dest.read_bytes() == PAYLOAD
        assert (first.bytes_fetched, first.reused, first.resumed) == (len(PAYLOAD), False, False)
        assert not dest.with_name("a.bin.part").exists()
        second = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert second.reused and second.bytes_fetched == 0
        assert server.count() == 1

    def test_connection_cut_mid_file_is_resumed_with_range(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        server.cut["/a.bin"] = [20_000]
        dest = tmp_path / "a.bin"
        result = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast(retries=2))
        assert dest.read_bytes() == PAYLOAD
        assert server.requests == [("/a.bin", None), ("/a.bin", "bytes=20000-")]
        assert result.resumed and result.bytes_fetched == len(PAYLOAD)

    def test_cut_without_retries_keeps_part_and_next_call_resumes(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        server.cut["/a.bin"] = [12_345]
        dest = tmp_path / "a.bin"
        with pytest.raises(DownloadError, match="run again to resume") as info:
            download(server.url + "/a.bin", dest, **fast(retries=0))
        assert server.url + "/a.bin" in str(info.value)
        assert info.value.partial.stat().st_size == 12_345
        assert not dest.exists()
        result = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast(retries=0))
        assert server.requests[-1] == ("/a.bin", "bytes=12345-")
        assert result.bytes_fetched == len(PAYLOAD) - 12_345
        assert dest.read_bytes() == PAYLOAD

    def test_existing_part_file_is_resumed(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        dest = tmp_path / "a.bin"
        dest.with_name("a.bin.part").write_bytes(PAYLOAD[:30_000])
        result = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert server.requests == [("/a.bin", "bytes=30000-")]
        assert result.resumed and result.bytes_fetched == len(PAYLOAD) - 30_000
        assert dest.read_bytes() == PAYLOAD

    def test_server_ignoring_range_restarts_cleanly(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        server.ignore_range = True
        dest = tmp_path / "a.bin"
        dest.with_name("a.bin.part").write_bytes(PAYLOAD[:30_000])
        result = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert server.requests == [("/a.bin", "bytes=30000-")]  # asked, got a 200
        assert not result.resumed and result.bytes_fetched == len(PAYLOAD)
        assert dest.read_bytes() == PAYLOAD  # not 30 000 bytes longer

    def test_stale_part_from_another_file_is_fetched_again(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        dest = tmp_path / "a.bin"
        dest.with_name("a.bin.part").write_bytes(b"\0" * 1000)  # wrong bytes, right length
        result = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert [r for _, r in server.requests] == ["bytes=1000-", None]
        assert dest.read_bytes() == PAYLOAD and not result.resumed

    def test_complete_part_answered_416_is_kept(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        dest = tmp_path / "a.bin"
        dest.with_name("a.bin.part").write_bytes(PAYLOAD)
        result = download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert server.requests == [("/a.bin", f"bytes={len(PAYLOAD)}-")]
        assert result.bytes_fetched == 0 and dest.read_bytes() == PAYLOAD

    def test_checksum_mismatch_raises_and_leaves_no_file(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        dest = tmp_path / "a.bin"
        wrong = "0" * 64
        with pytest.raises(ChecksumError) as info:
            download(server.url + "/a.bin", dest, sha256=wrong, **fast())
        message = str(info.value)
        assert wrong in message and sha(PAYLOAD) in message and "nothing was kept" in message
        assert list(tmp_path.iterdir()) == []

    def test_wrong_size_raises(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        with pytest.raises(ChecksumError, match=f"expected {len(PAYLOAD) + 1} bytes"):
            download(server.url + "/a.bin", tmp_path / "a.bin", size=len(PAYLOAD) + 1, **fast())
        assert list(tmp_path.iterdir()) == []

    def test_present_file_with_wrong_sha_is_replaced(self, server, tmp_path):
        server.files["/a.bin"] = PAYLOAD
        dest = tmp_path / "a.bin"
        dest.write_bytes(b"corrupt")
        download(server.url + "/a.bin", dest, sha256=sha(PAYLOAD), **fast())
        assert dest.read_bytes() == PAYLOAD

    def test_http_error_names_url_and_status(self, server, tmp_path):
        with pytest.raises(DownloadError, match=r"missing\.bin: HTTP 404"):
            download(server.url + "/missing.bin", tmp_path / "m.bin", **fast())

    def test_offline_fails_fast_with_url(self, tmp_path):
        url = closed_port_url()
        with pytest.raises(DownloadError, match="could not download " + url):
            download(url, tmp_path / "x.zip", **fast())
        assert not (tmp_path / "x.zip").exists()

    def test_bad_sha_argument(self, tmp_path):
        with pytest.raises(ValueError, match="^sha256: expected 64 hexadecimal digits"):
            download("http://127.0.0.1:1/x", tmp_path / "x", sha256="abc", **fast())


def test_verify_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert verify_sha256(path, sha(b"abc").upper()) == sha(b"abc")
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}, got {sha(b'abc')}"):
        verify_sha256(path, "0" * 64)


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


# --------------------------------------------------------------------------- safe_extract()


def make_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] = {}) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in symlinks.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def make_tar(path: Path, members: dict[str, bytes], symlinks: dict[str, str] = {}) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in symlinks.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return path


class TestSafeExtract:
    @pytest.mark.parametrize("make", [make_zip, make_tar], ids=["zip", "tar"])
    def test_good_archive(self, tmp_path, make):
        archive = make(tmp_path / "good.bin", {"a/b/c.png": b"abc", "top.txt": b"t"},
                       symlinks={"a/link.png": "b/c.png"})
        written = safe_extract(archive, tmp_path / "out")
        assert (tmp_path / "out/a/b/c.png").read_bytes() == b"abc"
        assert (tmp_path / "out/top.txt").read_bytes() == b"t"
        assert (tmp_path / "out/a/link.png").read_bytes() == b"abc"
        assert sorted(written) == sorted(tmp_path / "out" / n
                                         for n in ("a/b/c.png", "top.txt", "a/link.png"))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["good.bin", "out"]

    @pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/abs/evil.png",
                                      "C:/evil.png", "..\\evil.png"])
    @pytest.mark.parametrize("make", [make_zip, make_tar], ids=["zip", "tar"])
    def test_escaping_member_is_refused_before_writing(self, tmp_path, make, name):
        archive = make(tmp_path / "bad.bin", {"fine.png": b"ok", name: b"evil"})
        out = tmp_path / "deep" / "out"
        with pytest.raises(UnsafeArchiveError, match="^archive: member .*refusing to extract"):
            safe_extract(archive, out)
        # not even the harmless member, nor the folders dest would have needed
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bin"]

    @pytest.mark.parametrize("target", ["../../outside", "/etc/passwd", "a/../../../x"])
    @pytest.mark.parametrize("make", [make_zip, make_tar], ids=["zip", "tar"])
    def test_link_escaping_target_is_refused(self, tmp_path, make, target):
        archive = make(tmp_path / "bad.bin", {"fine.png": b"ok"}, symlinks={"sub/link": target})
        out = tmp_path / "out"
        with pytest.raises(UnsafeArchiveError, match="^archive: link 'sub/link'"):
            safe_extract(archive, out)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bin"]

    @pytest.mark.parametrize("make", [make_zip, make_tar], ids=["zip", "tar"])
    def test_a_chain_of_links_out_of_the_folder_is_refused(self, tmp_path, make):
        """``x -> .`` then ``x/y -> ..``: each looks inside by its name; on disk y is the parent."""
        archive = make(tmp_path / "chain.bin", {"fine.png": b"ok"},
                       symlinks={"x": ".", "x/y": ".."})
        out = tmp_path / "dest" / "out"
        with pytest.raises(UnsafeArchiveError, match="^archive: member 'x/y' .* outside the target "
                                                     "folder through a link"):
            safe_extract(archive, out)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.bin"]

    @pytest.mark.parametrize("kind", ["zip", "tar"])
    def test_a_member_written_through_a_chain_is_refused(self, tmp_path, kind):
        """A file under the chain would land beside the destination: nothing is written there."""
        archive = tmp_path / "chain.bin"
        links, name, data = (("x", "."), ("x/y", "..")), "x/y/evil.png", b"evil"
        if kind == "zip":  # the links first, then the file written through them
            with zipfile.ZipFile(archive, "w") as zf:
                for link, target in links:
                    info = zipfile.ZipInfo(link)
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    zf.writestr(info, target)
                zf.writestr(name, data)
        else:
            with tarfile.open(archive, "w") as tf:
                for link, target in links:
                    info = tarfile.TarInfo(link)
                    info.type, info.linkname = tarfile.SYMTYPE, target
                    tf.addfile(info)
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        out = tmp_path / "out"
        with pytest.raises(UnsafeArchiveError, match="refusing to extract"):
            safe_extract(archive, out)
        assert not list(tmp_path.rglob("evil.png"))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.bin"]

    def test_a_link_to_a_link_that_leaves_is_refused(self, tmp_path):
        """Link targets are resolved on disk, through links extracted before them."""
        with tarfile.open(tmp_path / "t.tar", "w") as tf:
            for name, target in (("a/up", ".."), ("a/up2", "up/..")):
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tf.addfile(info)
        with pytest.raises(UnsafeArchiveError, match="'a/up2'"):
            safe_extract(tmp_path / "t.tar", tmp_path / "out")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tar"]

    def test_a_hard_link_through_a_link_is_refused(self, tmp_path):
        (tmp_path / "secret.txt").write_text("outside")
        with tarfile.open(tmp_path / "t.tar", "w") as tf:
            for name, kind, target in (("x", tarfile.SYMTYPE, "."),
                                       ("x/y", tarfile.SYMTYPE, ".."),
                                       ("stolen.txt", tarfile.LNKTYPE, "y/secret.txt")):
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                tf.addfile(info)
        with pytest.raises(UnsafeArchiveError):
            safe_extract(tmp_path / "t.tar", tmp_path / "out")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt", "t.tar"]

    @pytest.mark.parametrize("make", [make_zip, make_tar], ids=["zip", "tar"])
    def test_into_an_existing_folder_merges(self, tmp_path, make):
        out = tmp_path / "out"
        (out / "a").mkdir(parents=True)
        (out / "keep.txt").write_text("mine")
        (out / "a" / "c.png").write_text("old")
        archive = make(tmp_path / "good.bin", {"a/c.png": b"new", "b/d.png": b"d"},
                       symlinks={"b/link.png": "d.png"})
        written = safe_extract(archive, out)
        assert sorted(written) == sorted([out / "a/c.png", out / "b/d.png", out / "b/link.png"])
        assert (out / "a/c.png").read_bytes() == b"new" and (out / "keep.txt").read_text() == "mine"
        assert (out / "b/link.png").read_bytes() == b"d"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["good.bin", "out"]  # no scratch left

    def test_a_refused_archive_leaves_an_existing_folder_as_it_was(self, tmp_path):
        out = tmp_path / "out"
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        archive = make_zip(tmp_path / "chain.zip", {"a.png": b"a"},
                           symlinks={"x": ".", "x/y": ".."})
        with pytest.raises(UnsafeArchiveError):
            safe_extract(archive, out)
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.zip", "out"]

    def test_not_an_archive(self, tmp_path):
        (tmp_path / "x.zip").write_bytes(b"plain text")
        with pytest.raises(ValueError, match="^archive: .* is neither a zip nor a tar"):
            safe_extract(tmp_path / "x.zip", tmp_path / "out")


# --------------------------------------------------------------------------- alphamatting script


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def fake_dataset():
    """Generated PNGs for GT01..GT27 and the three zips, laid out as the real ones
    are believed to be (plus a sub-folder, macOS debris and a Trimap3 to ignore)."""
    rng = np.random.default_rng(1)
    pngs: dict[str, bytes] = {}
    for name in ALPHAMATTING_NAMES:
        alpha = rng.integers(0, 256, (6, 9), dtype=np.uint8)
        pngs[f"input/{name}.png"] = _png(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8))
        pngs[f"gt/{name}.png"] = _png(np.repeat(alpha[:, :, None], 3, axis=2))
        for kind in ("trimap1", "trimap2"):
            pngs[f"{kind}/{name}.png"] = _png(
                rng.choice(np.array([0, 128, 255], np.uint8), size=(6, 9)))
    zips = {}
    for archive, members in {
        "input_training_lowres.zip": {f"{n}.png": pngs[f"input/{n}.png"]
                                      for n in ALPHAMATTING_NAMES},
        "gt_training_lowres.zip": {f"gt_training_lowres/{n}.png": pngs[f"gt/{n}.png"]
                                   for n in ALPHAMATTING_NAMES} | {"__MACOSX/._GT01.png": b"junk"},
        "trimap_training_lowres.zip": {f"Trimap{k}/{n}.png": pngs[f"trimap{k}/{n}.png"]
                                       for k in (1, 2) for n in ALPHAMATTING_NAMES}
                                      | {"Trimap3/GT01.png": b"scribbles"},
    }.items():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        zips[archive] = buf.getvalue()
    # "Recorded" checksums as the real file has them: GT01..GT14 only, plus one zip.
    recorded = {
        "files": {rel: sha(data) for rel, data in pngs.items() if int(rel[-6:-4]) <= 14},
        "archives": {"gt_training_lowres.zip": {"sha256": sha(zips["gt_training_lowres.zip"]),
                                                "size": len(zips["gt_training_lowres.zip"])}},
    }
    return pngs, zips, recorded


@pytest.fixture
def site(server, fake_dataset, tmp_path):
    """The server publishing the zips, and the CLI arguments that point at it."""
    pngs, zips, recorded = fake_dataset
    for name, data in zips.items():
        server.files[f"/datasets/zip/{name}"] = data
    checksums = tmp_path / "checksums.json"
    checksums.write_text(json.dumps(recorded))
    root = tmp_path / "data"
    args = ["--root", str(root), "--base-url", server.url + "/datasets/zip/",
            "--checksums", str(checksums), "--no-progress"]
    return server, root, args, pngs


class TestAlphamattingScript:
    def test_full_download_writes_the_layout_load_alphamatting_reads(self, site):
        server, root, args, pngs = site
        assert am.main(args) == 0
        dataset = root / am.DATASET
        for rel, data in pngs.items():
            assert (dataset / rel).read_bytes() == data, rel
        assert sorted(p.name for p in dataset.iterdir()) == ["gt", "input", "trimap1", "trimap2"]
        assert not (root / am.ARCHIVE_DIR).exists()  # zips removed, no temp folders
        samples = load_alphamatting(dataset, trimap="trimap2")
        assert [s.name for s in samples] == list(ALPHAMATTING_NAMES)
        assert samples[0].image.shape == (6, 9, 3) and samples[0].trimap.shape == (6, 9)
        assert server.count(".zip") == 3

    def test_second_run_downloads_nothing_and_says_so(self, site, capsys):
        server, root, args, _ = site
        assert am.main(args) == 0
        before = len(server.requests)
        capsys.readouterr()
        assert am.main(args) == 0
        assert len(server.requests) == before
        out = capsys.readouterr().out
        assert "nothing to download" in out
        assert "108 files: 56 match the recorded checksums, 52 have no recorded checksum" in out
        assert "no recorded checksum for 52 files (GT15..GT27)" in out

    def test_interrupted_download_is_resumed(self, site):
        server, root, args, pngs = site
        path = "/datasets/zip/input_training_lowres.zip"
        server.cut[path] = [len(server.files[path]) // 2]
        assert am.main(args) == 0
        ranges = [r for p, r in server.requests if p == path]
        assert ranges == [None, f"bytes={len(server.files[path]) // 2}-"]
        assert (root / am.DATASET / "input/GT27.png").read_bytes() == pngs["input/GT27.png"]

    def test_only_the_archive_of_a_damaged_file_is_fetched(self, site, capsys):
        server, root, args, pngs = site
        assert am.main(args) == 0
        damaged = root / am.DATASET / "trimap2/GT03.png"
        damaged.write_bytes(b"not a png")
        before = len(server.requests)
        capsys.readouterr()
        assert am.main(args) == 0
        fetched = [p for p, _ in server.requests[before:]]
        assert fetched == ["/datasets/zip/trimap_training_lowres.zip"]
        assert "differ from their recorded sha256" in capsys.readouterr().out
        assert damaged.read_bytes() == pngs["trimap2/GT03.png"]

    def test_record_pins_unrecorded_files_trust_on_first_use(self, site, capsys):
        server, root, args, pngs = site
        assert am.main(args + ["--record"]) == 0
        manifest = json.loads((root / am.DATASET / am.LOCAL_MANIFEST).read_text())
        assert len(manifest["files"]) == 52
        assert manifest["files"]["gt/GT20.png"] == sha(pngs["gt/GT20.png"])
        assert "input/GT01.png" not in manifest["files"]  # recorded already
        assert set(manifest["archives"]) == {"input_training_lowres.zip",
                                             "trimap_training_lowres.zip"}
        # A later change to a pinned file is now caught and repaired.
        (root / am.DATASET / "gt/GT20.png").write_bytes(b"changed")
        capsys.readouterr()
        assert am.main(args) == 0
        out = capsys.readouterr().out
        assert "differ from their recorded sha256" in out and "no recorded checksum" not in out
        assert "56 match the recorded checksums, 52 match the local manifest" in out
        assert (root / am.DATASET / "gt/GT20.png").read_bytes() == pngs["gt/GT20.png"]

    def test_extracted_file_with_wrong_checksum_writes_nothing(self, site, fake_dataset, capsys):
        server, root, args, _ = site
        recorded = json.loads(json.dumps(fake_dataset[2]))
        recorded["files"]["input/GT03.png"] = "f" * 64
        bad = root.parent / "bad.json"
        bad.write_text(json.dumps(recorded))
        args = args[:args.index("--checksums")] + ["--checksums", str(bad), "--no-progress"]
        assert am.main(args) == 2
        err = capsys.readouterr().err
        assert "checksum mismatch" in err and "input/GT03.png" in err
        assert not (root / am.DATASET / "input").exists()
        assert not (root / am.ARCHIVE_DIR).exists()

    def test_archive_checksum_mismatch_is_an_error(self, site):
        server, root, args, _ = site
        server.files["/datasets/zip/gt_training_lowres.zip"] += b"tampered"
        with pytest.raises(ChecksumError, match="gt_training_lowres.zip"):
            am.fetch_alphamatting(root, base_url=server.url + "/datasets/zip/",
                                  checksums=args[args.index("--checksums") + 1],
                                  progress=False, log=lambda m: None)
        assert not (root / am.DATASET).exists()

    def test_malicious_archive_is_refused(self, site, tmp_path):
        server, root, args, _ = site
        evil = io.BytesIO()
        with zipfile.ZipFile(evil, "w") as zf:
            zf.writestr("Trimap1/GT01.png", b"x")
            zf.writestr("../../evil.png", b"evil")
        server.files["/datasets/zip/trimap_training_lowres.zip"] = evil.getvalue()
        with pytest.raises(UnsafeArchiveError, match="evil.png"):
            am.fetch_alphamatting(root, base_url=server.url + "/datasets/zip/", checksums=None,
                                  progress=False, log=lambda m: None)
        assert not list(tmp_path.rglob("evil.png"))
        assert not (root / am.DATASET / "trimap1").exists()

    def test_kept_archives_are_reused_without_network(self, site):
        server, root, args, pngs = site
        assert am.main(args + ["--keep-archives"]) == 0
        assert sorted(p.name for p in (root / am.ARCHIVE_DIR).iterdir()) == sorted(am.ARCHIVES)
        (root / am.DATASET / "input/GT05.png").unlink()
        before = len(server.requests)
        assert am.main(args + ["--keep-archives"]) == 0
        assert len(server.requests) == before
        assert (root / am.DATASET / "input/GT05.png").read_bytes() == pngs["input/GT05.png"]

    def test_force_downloads_again(self, site):
        server, root, args, _ = site
        assert am.main(args) == 0
        assert am.main(args + ["--force"]) == 0
        assert server.count(".zip") == 6

    def test_offline_prints_what_to_do_and_creates_no_dataset(self, tmp_path, capsys):
        url = closed_port_url().removesuffix("/file.zip")
        rc = am.main(["--root", str(tmp_path), "--base-url", url, "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 1
        assert f"{url}/input_training_lowres.zip" in err
        assert f"{url}/trimap_training_lowres.zip" in err  # every URL to fetch by hand
        assert "generated" in err
        assert not (tmp_path / am.DATASET).exists()

    def test_runs_as_a_script(self):
        proc = subprocess.run([sys.executable, str(ROOT / "data_scripts/download_alphamatting.py"),
                               "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "--keep-archives" in proc.stdout


def test_recorded_checksums_match_the_real_images(alphamatting_dir):
    recorded = am.load_checksums()
    expected = {f"{kind}/GT{i:02d}.png" for kind in am.KINDS for i in range(1, 15)}
    assert set(recorded["files"]) == expected  # GT15..GT27 honestly absent
    for rel, digest in sorted(recorded["files"].items()):
        assert sha256_file(alphamatting_dir / rel) == digest, rel
    assert set(recorded["archives"]) == set(am.ARCHIVES)
