"""Downloading and verifying PTB against a local HTTP server on loopback: good, truncated, corrupted
and missing files, and the offline error that says where to put the files."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading

import pytest

from tinygrad_w2v.data import PTB_MD5, download, ensure_ptb, load_ptb, md5sum

BODY = b" the cat sat on the mat \n" * 2000
MD5 = hashlib.md5(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        name = self.path.rsplit("/", 1)[-1]
        if name == "truncated.txt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.close_connection = True
            return
        body = {"good.txt": BODY, "corrupt.txt": BODY[:-3] + b"xyz"}.get(name, self.files.get(name))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    Handler.files = {}


def test_good_download_is_verified_and_written(server, tmp_path):
    dest = download(f"{server}/good.txt", tmp_path / "good.txt", MD5)
    assert dest.read_bytes() == BODY and md5sum(dest) == MD5


@pytest.mark.parametrize("name, message", [("truncated.txt", "stopped after|could not download"),
                                           ("corrupt.txt", "corrupted"),
                                           ("absent.txt", "could not download.*404|Not Found")])
def test_bad_download_never_replaces_a_file(server, tmp_path, name, message):
    dest = tmp_path / "ptb.train.txt"
    dest.write_bytes(b"a good file the user had")
    with pytest.raises(OSError, match=message):
        download(f"{server}/{name}", dest, MD5)
    assert dest.read_bytes() == b"a good file the user had"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ptb.train.txt"]  # no temporary left behind


def test_offline_error_says_where_to_put_the_files(tmp_path):
    with pytest.raises(OSError, match=f"put ptb.train.txt.*in {tmp_path}"):
        ensure_ptb(tmp_path, url="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(FileNotFoundError, match="TINYGRAD_W2V_DATA"):
        ensure_ptb(tmp_path, download_missing=False)


def test_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGRAD_W2V_DATA", str(tmp_path / "from-env"))
    with pytest.raises(FileNotFoundError, match="from-env"):
        ensure_ptb(download_missing=False)


@pytest.mark.ptb
def test_ptb_is_downloaded_into_an_empty_cache(server, tmp_path, ptb_dir):
    Handler.files = {f"ptb.{s}.txt": (ptb_dir / f"ptb.{s}.txt").read_bytes() for s in PTB_MD5}
    cache = tmp_path / "cache"
    corpus = load_ptb(cache, url=server)
    assert len(corpus.train) == 929589
    assert all(md5sum(cache / f"ptb.{s}.txt") == md5 for s, md5 in PTB_MD5.items())


@pytest.mark.ptb
def test_a_corrupted_local_file_is_reported_not_used(tmp_path, ptb_dir):
    for s in PTB_MD5:
        shutil.copy(ptb_dir / f"ptb.{s}.txt", tmp_path)
    with open(tmp_path / "ptb.valid.txt", "ab") as f:
        f.write(b"extra words\n")
    with pytest.raises(ValueError, match="ptb.valid.txt is corrupted: md5"):
        ensure_ptb(tmp_path)
