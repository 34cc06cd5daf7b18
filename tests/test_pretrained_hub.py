"""coursekit.pretrained on the Hugging Face Hub: ``load("hf:OWNER/REPO[@REVISION]")`` downloads
a course checkpoint with the Hub's own client (huggingface_hub), here from a server on
127.0.0.1 that answers as the Hub does (``/OWNER/REPO/resolve/REVISION/FILE`` with the
X-Repo-Commit, ETag and X-Error-Code headers the client reads), never a faked client."""
import hashlib
import http.server
import threading
import time

import pytest
import torch

from coursekit import pretrained
from coursekit.cli import main
from coursekit.models import cyclegan

TINY = dict(image_size=32, ngf=4, n_blocks=1, ndf=4)


class _Hub(http.server.BaseHTTPRequestHandler):
    repos: dict = {}  # "owner/name" -> {revision: {filename: bytes}}
    requests: list = []

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def _answer(self, body: bool) -> None:
        self.requests.append((self.command, self.path))
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(404, "RepoNotFound")
        repo, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo not in self.repos:
            return self._error(401, "RepoNotFound")  # the Hub hides private repos behind 401
        if revision not in self.repos[repo]:
            return self._error(404, "RevisionNotFound")
        files = self.repos[repo][revision]
        if filename not in files:
            return self._error(404, "EntryNotFound")
        data = files[filename]
        self.send_response(200)
        commit = hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A local Hub serving one coursekit checkpoint as alice/zebras (main and a v1 tag that
    holds other weights) and a repository without a card; HF_ENDPOINT points at it and the
    Hub's cache is in tmp_path."""
    torch.manual_seed(0)
    method = cyclegan.build(cyclegan.Config.fast(**TINY)).eval()
    folder = tmp_path / "published"
    pretrained.save(method, "cyclegan", folder, {"data": "synthetic-zebras", "steps": 0})
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    torch.manual_seed(1)
    other = tmp_path / "v1"
    pretrained.save(cyclegan.build(cyclegan.Config.fast(**TINY)), "cyclegan", other,
                    {"data": "synthetic-zebras", "steps": 0})
    _Hub.repos = {"alice/zebras": {"main": files,
                                   "v1": {p.name: p.read_bytes() for p in other.iterdir()}},
                  "alice/not-a-checkpoint": {"main": {"README.md": b"# hello\n"}}}
    _Hub.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # conftest sets it: read at import
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield method, endpoint
    server.shutdown()
    server.server_close()


def test_a_hub_repository_loads_like_a_local_folder(hub):
    method, _ = hub
    loaded = pretrained.load("hf:alice/zebras")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        # float16 storage moves a tiny network's outputs by ~1e-3 (test_pretrained.py).
        assert (loaded.translate(x, "AtoB") - method.translate(x, "AtoB")).abs().max() < 1e-2
    assert any(path.endswith("/model.safetensors") and verb == "GET"
               for verb, path in _Hub.requests), "the weights did not come from the local Hub"
    # A revision after '@' is another set of weights (the v1 tag was saved from seed 1).
    v1 = pretrained.load("hf:alice/zebras@v1")
    with torch.no_grad():
        assert (v1.translate(x, "AtoB") - method.translate(x, "AtoB")).abs().max() > 1e-2
    assert pretrained.card("hf:alice/zebras")["method"] == "cyclegan"


def test_hub_errors_say_what_to_do(hub, tmp_path, monkeypatch):
    with pytest.raises(pretrained.PretrainedError, match="No Hub repository alice/nothing"):
        pretrained.load("hf:alice/nothing")
    with pytest.raises(pretrained.PretrainedError, match="has no revision 'v9'"):
        pretrained.load("hf:alice/zebras@v9")
    with pytest.raises(pretrained.PretrainedError, match="has no card.json: it is not a coursekit"):
        pretrained.load("hf:alice/not-a-checkpoint")
    with pytest.raises(pretrained.PretrainedError, match="hf:OWNER/REPO"):
        pretrained.load("hf:zebras")
    # A download whose weights differ from its card is refused as a local folder would be.
    files = _Hub.repos["alice/zebras"]["main"]
    _Hub.repos["alice/zebras"]["tampered"] = {**files, "model.safetensors":
                                              files["model.safetensors"][:-100]}
    with pytest.raises(pretrained.PretrainedError, match="truncated or was replaced"):
        pretrained.load("hf:alice/zebras@tampered")
    # No server and nothing cached: a clear error, not a traceback from the HTTP client. The
    # client retries a refused connection five times with back-off (about 23 s); skip the waits.
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused
    with pytest.raises(pretrained.PretrainedError, match="could not reach the Hub at "
                       "http://127.0.0.1:9"):
        pretrained.download("alice/elsewhere", cache_dir=tmp_path / "empty-cache")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(pretrained.PretrainedError, match="offline mode is on"):
        pretrained.download("alice/elsewhere", cache_dir=tmp_path / "empty-cache")


def test_a_downloaded_checkpoint_is_used_offline_from_the_cache(hub, monkeypatch):
    first = pretrained.download("alice/zebras")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the Hub is gone
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert pretrained.download("alice/zebras") == first
    assert pretrained.load("hf:alice/zebras").config.ngf == TINY["ngf"]


def test_the_command_line_scores_a_hub_checkpoint(hub, capsys):
    assert main(["eval", "cyclegan", "--pretrained", "hf:alice/zebras", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"AtoB_zebra_rate"' in out
    assert main(["eval", "cut", "--pretrained", "hf:alice/zebras"]) == 1
    assert "is a cyclegan model, not cut" in capsys.readouterr().err
