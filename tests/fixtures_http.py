"""A local HTTP server and generated dataset archives, for the download tests.

Nothing here touches the network: the server listens on 127.0.0.1 on a port the OS picks,
and every archive is built in memory from small generated images, in the layouts of the
official pix2pix (``NAME/train/1.jpg`` with A|B side by side) and CycleGAN
(``NAME/trainA/``, ``trainB/``, ``testA/``, ``testB/``) archives.
"""
from __future__ import annotations

import io
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image


@dataclass
class _Route:
    body: bytes
    declared_length: int  # the Content-Length header; more than len(body) simulates a cut


@dataclass
class ArchiveServer:
    """Serves registered byte strings at URL paths; records every requested path."""

    url: str = ""
    routes: dict[str, _Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(self, path: str, body: bytes, *, declared_length: int | None = None) -> None:
        """Serve ``body`` at ``path``. ``declared_length`` larger than the body makes the
        server announce that many bytes, send the body, and close the connection."""
        self.routes[path] = _Route(body, len(body) if declared_length is None else declared_length)


def _handler_for(state: ArchiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: the connection closes after each response, which is what makes a short
        # body a truncated transfer rather than a hanging one.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(route.declared_length))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    return Handler


@pytest.fixture
def archive_server():
    """An :class:`ArchiveServer` running in a thread on 127.0.0.1 for one test."""
    state = ArchiveServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    state.url = f"http://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ----------------------------------------------------------------------------- archives
def image_bytes(width: int, height: int, seed: int, fmt: str = "JPEG") -> bytes:
    """A small random RGB image, encoded."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def pix2pix_files(name: str = "facades", counts: dict[str, int] | None = None,
                  half: int = 16) -> dict[str, bytes]:
    """``{archive path: bytes}`` of a pix2pix-style dataset: A|B images ``2*half x half``."""
    counts = counts or {"train": 3, "val": 1, "test": 1}
    files = {}
    for s, (split, n) in enumerate(counts.items()):
        for i in range(1, n + 1):
            files[f"{name}/{split}/{i}.jpg"] = image_bytes(2 * half, half, seed=100 * s + i)
    return files


def cyclegan_files(name: str = "horse2zebra", counts: dict[str, int] | None = None,
                   size: int = 16) -> dict[str, bytes]:
    """``{archive path: bytes}`` of a CycleGAN-style dataset (trainA/, trainB/, ...)."""
    counts = counts or {"trainA": 3, "trainB": 2, "testA": 1, "testB": 1}
    files = {}
    for s, (folder, n) in enumerate(counts.items()):
        for i in range(n):
            files[f"{name}/{folder}/n{i:03d}.jpg"] = image_bytes(size, size,
                                                                 seed=1000 + 100 * s + i)
    return files


def tar_gz(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    """A .tar.gz of the files (with their folders), then the ``extra`` raw entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        folders = sorted({p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes],
              extra: list[tuple[zipfile.ZipInfo, bytes]] | None = None) -> bytes:
    """A .zip of the files, then the ``extra`` raw entries."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        for info, data in extra or []:
            zf.writestr(info, data)
    return buf.getvalue()
