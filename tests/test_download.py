"""Downloading and verifying PTB against a local HTTP server on loopback: good, truncated, corrupted
and missing files, and the offline error that says where to put the files."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
import time

import pytest

from tinygrad_w2v.data import PTB_MD5, download, ensure_ptb, load_ptb, md5sum

BODY = b" the cat sat on the mat \n" * 2000
MD5 = hashlib.md5(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        name = self.path.rsplit("/", 1)[-1]
        if name in self.misbehaving:
            try:
                self.misbehaving[name](self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should
            return
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

    def trickle(self):  # a byte every 0.2 s: each read succeeds, the download never ends
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        for byte in BODY[:100]:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)

    def huge(self):  # announces a terabyte and keeps sending
        self.send_response(200)
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        for _ in range(100):
            self.wfile.write(BODY)

    def endless(self):  # no length announced, more bytes than the file has
        self.send_response(200)
        self.end_headers()
        for _ in range(100):
            self.wfile.write(BODY)
        self.close_connection = True

    def bad_length(self):
        self.send_response(200)
        self.send_header("Content-Length", "lots")
        self.end_headers()
        self.wfile.write(BODY)
        self.close_connection = True

    misbehaving = {"trickle.txt": trickle, "huge.txt": huge, "endless.txt": endless, "bad_length.txt": bad_length}


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


@pytest.mark.parametrize("name, message", [
    ("trickle.txt", "did not finish within 1 s"),
    ("huge.txt", f"announces 1000000000000 bytes, the file has {len(BODY)}"),
    ("endless.txt", f"sent more than the {len(BODY)} bytes"),
    ("bad_length.txt", "sent the Content-Length 'lots', not a number of bytes"),
])
def test_a_misbehaving_server_is_stopped_and_named(server, tmp_path, name, message):
    dest = tmp_path / "ptb.train.txt"
    dest.write_bytes(b"a good file the user had")
    with pytest.raises(OSError, match=f"{server}/{name}.*{message}|{message}.*{server}/{name}"):
        download(f"{server}/{name}", dest, MD5, size=len(BODY), timeout=1.0, deadline=1.0)
    assert dest.read_bytes() == b"a good file the user had"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ptb.train.txt"]


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
