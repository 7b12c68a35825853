"""data_scripts/download_backgrounds.py against a loopback HTTP server (no internet)."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # data_scripts/ is not installed with the package
    sys.path.insert(0, str(ROOT))

from data_scripts import download_backgrounds as db  # noqa: E402
from data_scripts._download import ChecksumError, DownloadError, UnsafeArchiveError  # noqa: E402
from tests import test_download as download_tests  # noqa: E402

#: The loopback file server fixture of the alphamatting download tests.
server = download_tests.server
closed_port_url = download_tests.closed_port_url

JPEG = b"\xff\xd8\xff\xe0 tiny stand-in photo \xff\xd9"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


VAL = zip_bytes({f"val2017/{i:012d}.jpg": JPEG + bytes([i]) for i in range(3)})
VOC = tar_bytes({
    **{f"VOCdevkit/VOC2012/JPEGImages/2007_{i:06d}.jpg": JPEG + bytes([i]) for i in range(4)},
    "VOCdevkit/VOC2012/Annotations/2007_000000.xml": b"<annotation/>",
})


def quiet(**kw):
    return {"progress": False, "timeout": 5.0, "log": lambda m: None, **kw}


def cli(server, tmp_path, *extra, dataset="coco-val2017", path="/val2017.zip"):
    return db.main(["--dataset", dataset, "--root", str(tmp_path), "--url", server.url + path,
                    "--no-progress", *extra])


def test_official_urls_are_documented():
    assert db.DATASETS["coco-train2014"].url == "http://images.cocodataset.org/zips/train2014.zip"
    assert db.DATASETS["voc2012"].url == (
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar")
    for name, spec in db.DATASETS.items():
        assert spec.url in db.__doc__ and name in db.__doc__
    # Only VOC has a published checksum; none is made up for COCO.
    assert [n for n, s in db.DATASETS.items() if s.md5] == ["voc2012"]


class TestCoco:
    def test_download_extract_then_nothing_to_do(self, server, tmp_path, capsys):
        server.files["/val2017.zip"] = VAL
        assert cli(server, tmp_path) == 0
        folder = tmp_path / "backgrounds" / "coco" / "val2017"
        assert sorted(p.name for p in folder.iterdir()) == [f"{i:012d}.jpg" for i in range(3)]
        marker = json.loads((tmp_path / "backgrounds" / "coco-val2017.complete.json").read_text())
        assert marker["images"] == 3 and marker["sha256"] == hashlib.sha256(VAL).hexdigest()
        assert not (tmp_path / "downloads").exists()  # archive removed after extraction
        assert "no published checksum" in capsys.readouterr().out
        assert cli(server, tmp_path) == 0
        assert server.count("/val2017.zip") == 1
        assert "nothing to download" in capsys.readouterr().out

    def test_record_pins_the_sha256_and_a_changed_archive_is_refused(self, server, tmp_path,
                                                                     capsys):
        server.files["/val2017.zip"] = VAL
        assert cli(server, tmp_path, "--record") == 0
        manifest = json.loads((tmp_path / "backgrounds" / "checksums_local.json").read_text())
        assert manifest["archives"]["val2017.zip"]["sha256"] == hashlib.sha256(VAL).hexdigest()
        server.files["/val2017.zip"] = zip_bytes({"val2017/other.jpg": JPEG})
        capsys.readouterr()
        assert cli(server, tmp_path, "--force") == 2
        assert "checksum mismatch" in capsys.readouterr().err
        assert not (tmp_path / "downloads" / "val2017.zip").exists()

    def test_interrupted_download_resumes_on_the_next_run(self, server, tmp_path, capsys):
        server.files["/val2017.zip"] = VAL
        server.cut["/val2017.zip"] = [100]
        with pytest.raises(DownloadError, match="run again to resume"):
            db.fetch_backgrounds("coco-val2017", tmp_path, url=server.url + "/val2017.zip",
                                 retries=0, **quiet())
        assert (tmp_path / "downloads" / "val2017.zip.part").stat().st_size == 100
        assert cli(server, tmp_path) == 0
        assert server.requests[-1][1] == "bytes=100-"  # continued, not started over
        assert len(list((tmp_path / "backgrounds" / "coco" / "val2017").iterdir())) == 3

    def test_offline_says_what_to_do(self, tmp_path, capsys):
        assert db.main(["--dataset", "coco-val2017", "--root", str(tmp_path), "--no-progress",
                        "--url", closed_port_url()]) == 1
        err = capsys.readouterr().err
        assert "images.cocodataset.org/zips/val2017.zip" in err and "by hand" in err
        assert not (tmp_path / "backgrounds" / "coco").exists()

    def test_wrong_layout_writes_nothing(self, server, tmp_path, capsys):
        server.files["/val2017.zip"] = zip_bytes({"images/a.jpg": JPEG})
        assert cli(server, tmp_path) == 2
        assert "no val2017/ folder" in capsys.readouterr().err
        assert not (tmp_path / "backgrounds" / "coco").exists()
        assert not list((tmp_path / "backgrounds").glob("*.complete.json"))

    def test_path_traversal_is_refused(self, server, tmp_path, capsys):
        server.files["/val2017.zip"] = zip_bytes({"val2017/a.jpg": JPEG, "../../evil.jpg": JPEG})
        assert cli(server, tmp_path) == 2
        assert "refusing to extract" in capsys.readouterr().err
        assert not list(tmp_path.rglob("evil.jpg"))


class TestVoc:
    def test_only_jpegimages_is_kept_and_md5_checked(self, server, tmp_path):
        server.files["/voc.tar"] = VOC
        report = db.fetch_backgrounds("voc2012", tmp_path, url=server.url + "/voc.tar",
                                      md5=hashlib.md5(VOC).hexdigest(), **quiet())
        assert report.folder == tmp_path / "backgrounds" / "voc2012" / "JPEGImages"
        assert report.images == 4 and report.extracted and report.downloaded
        assert not list(tmp_path.rglob("*.xml"))

    def test_md5_mismatch_deletes_the_archive(self, server, tmp_path):
        server.files["/voc.tar"] = VOC
        with pytest.raises(ChecksumError, match="md5"):
            db.fetch_backgrounds("voc2012", tmp_path, url=server.url + "/voc.tar",
                                 md5="0" * 32, **quiet())
        assert not (tmp_path / "downloads" / "VOCtrainval_11-May-2012.tar").exists()
        assert not (tmp_path / "backgrounds" / "voc2012").exists()

    def test_the_published_md5_is_enforced_by_default(self, server, tmp_path):
        server.files["/voc.tar"] = VOC  # not the real tar, so the published md5 cannot match
        with pytest.raises(ChecksumError, match="6cd6e144f989b92b3379bac3b3de84fd"):
            db.fetch_backgrounds("voc2012", tmp_path, url=server.url + "/voc.tar", **quiet())

    def test_link_out_of_the_folder_is_refused(self, server, tmp_path):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            link = tarfile.TarInfo("VOCdevkit/VOC2012/JPEGImages/x.jpg")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(link)
        server.files["/voc.tar"] = buf.getvalue()
        with pytest.raises(UnsafeArchiveError):
            db.fetch_backgrounds("voc2012", tmp_path, url=server.url + "/voc.tar", md5=None,
                                 **quiet())


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="^dataset"):
        db.fetch_backgrounds("coco-2099")
    with pytest.raises(SystemExit):
        db.main(["--dataset", "coco-2099"])
