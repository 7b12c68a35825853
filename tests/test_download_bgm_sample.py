"""data_scripts/download_bgm_sample.py against a loopback HTTP server (no internet)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # data_scripts/ is not installed with the package
    sys.path.insert(0, str(ROOT))

from data_scripts import download_bgm_sample as dbs  # noqa: E402
from data_scripts._download import ChecksumError  # noqa: E402
from tests import test_download as download_tests  # noqa: E402

#: The loopback file server fixture of the alphamatting download tests.
server = download_tests.server
closed_port_url = download_tests.closed_port_url

PNG = {rel: b"\x89PNG stand-in " + rel.encode() for rel in dbs.FILES}


def serve(server):
    for rel, repo_path in dbs.FILES.items():
        server.files["/repo/" + repo_path] = PNG[rel]


def sums():
    return {"files": {rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                      for rel, data in PNG.items()}}


def fetch(server, root, **kw):
    return dbs.fetch_bgm_sample(root, base_url=server.url + "/repo/", progress=False, timeout=5.0,
                                log=lambda m: None, **{"checksums": sums(), **kw})


def test_layout_is_the_one_the_data_readme_describes():
    assert sorted(dbs.FILES) == ["input/0001_img.png", "input/0500_img.png", "input/1000_img.png",
                                 "input/1500_img.png", "input/background_plate.png",
                                 "target_backgrounds/0001.png", "target_backgrounds/0002.png"]
    assert dbs.FILES["input/background_plate.png"] == "sample_data/input/0001_back.png"
    assert set(dbs.load_checksums()) == set(dbs.FILES)  # every file has a recorded sha256


def test_download_then_nothing_to_do(server, tmp_path):
    serve(server)
    assert sorted(fetch(server, tmp_path)) == sorted(dbs.FILES)
    for rel, data in PNG.items():
        assert (tmp_path / "bgm_sample" / rel).read_bytes() == data
    assert not (tmp_path / "downloads").exists()
    before = len(server.requests)
    assert fetch(server, tmp_path) == []
    assert len(server.requests) == before


def test_a_wrong_file_is_replaced(server, tmp_path):
    serve(server)
    fetch(server, tmp_path)
    (tmp_path / "bgm_sample" / "input" / "0500_img.png").write_bytes(b"damaged")
    assert fetch(server, tmp_path) == ["input/0500_img.png"]
    written = tmp_path / "bgm_sample" / "input" / "0500_img.png"
    assert written.read_bytes() == PNG["input/0500_img.png"]


def test_checksum_mismatch_writes_nothing(server, tmp_path):
    serve(server)
    server.files["/repo/sample_data/background/0002.png"] = b"something else"
    with pytest.raises(ChecksumError):
        fetch(server, tmp_path)
    assert not (tmp_path / "bgm_sample").exists()


def test_missing_file_on_the_server_leaves_no_half_made_folder(server, tmp_path):
    serve(server)
    del server.files["/repo/sample_data/input/1500_img.png"]
    status = dbs.main(["--root", str(tmp_path), "--base-url", server.url + "/repo", "--no-progress",
                       "--no-checksums"])
    assert status == 1
    assert not (tmp_path / "bgm_sample").exists()


def test_cli_network_failure_says_what_to_do(tmp_path, capsys):
    status = dbs.main(["--root", str(tmp_path), "--base-url", closed_port_url().rsplit("/", 1)[0],
                       "--no-progress"])
    assert status == 1
    err = capsys.readouterr().err
    assert "What to do" in err and "bgm_sample/input/background_plate.png" in err


def test_the_recorded_checksums_match_the_shared_copy(bgm_sample_dir):
    from data_scripts._download import sha256_file

    for rel, entry in dbs.load_checksums().items():
        assert sha256_file(bgm_sample_dir / rel) == entry["sha256"], rel
