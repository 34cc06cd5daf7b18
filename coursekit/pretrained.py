"""Course checkpoints: trained models that load in a second, with the scores they were shipped with.

A lecture's live run shows how training starts; a course checkpoint shows what the method does
once trained. Each is a folder in the format the ecosystem uses (``safetensors`` weights and
JSON beside them), so the same call loads one shipped with coursekit, a local folder, or a
Hugging Face Hub repository (``load("hf:OWNER/REPO")``, or ``"hf:OWNER/REPO@REVISION"``):

    NAME/
      model.safetensors   the networks a trained model needs to translate
                          (``Method.inference_networks``: the generators), float16
      config.json         {"method": "cyclegan", "config": {... the method's Config ...}}
      card.json           how it was made (command, commit, seed, steps, seconds, device),
                          its scores on the test split, and the SHA-256 and size of the weights
      README.md           the card in words

:func:`load` checks the weights against the card's hash before reading them, rebuilds the
method from ``config.json`` and returns it in eval mode; :func:`available` lists the shipped
ones with their scores; :func:`save` writes a folder from a trained method.

To publish your own, write the folder with :func:`save` (or ``scripts/train_course_checkpoints.py``)
and upload it with the Hub's own tool, ``hf upload OWNER/REPO FOLDER``; anyone can then
``load("hf:OWNER/REPO")``. Downloads go to the Hub's cache (``HF_HOME``), honour ``HF_TOKEN``
for private repositories, ``HF_ENDPOINT`` for a mirror and ``HF_HUB_OFFLINE=1`` for the cache
only, and are checked against the card's hash like a local folder.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["SHIPPED", "WEIGHTS", "CONFIG", "CARD", "HUB_PREFIX", "PretrainedError", "available",
           "card", "download", "load", "locate", "save", "write_card"]

#: Where the shipped checkpoints live: package data, so ``pip install coursekit`` has them.
SHIPPED = Path(__file__).parent / "checkpoints"
WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "card.json"
#: ``load("hf:OWNER/REPO[@REVISION]")`` reads a Hugging Face Hub repository (:func:`download`).
HUB_PREFIX = "hf:"


class PretrainedError(ValueError):
    """A checkpoint folder that cannot be used as it is; the message says what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shipped_names() -> list[str]:
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / CARD).is_file())


def download(repo: str, revision: str | None = None, *, cache_dir: str | os.PathLike | None = None,
             endpoint: str | None = None) -> Path:
    """The folder of the course checkpoint in Hugging Face Hub repository ``repo``
    ("OWNER/NAME") at ``revision`` (a branch, tag or commit; default the main branch),
    downloaded into the Hub's cache (or ``cache_dir``) unless it is there already.
    ``endpoint`` (default ``$HF_ENDPOINT``, else huggingface.co) serves the files.

    Raises :class:`PretrainedError` for an unknown repository or revision, a repository that is
    not a course checkpoint (no card) and a Hub that cannot be reached."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError,
                                        LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    where = f"{repo}" + (f" at revision {revision}" if revision else "")
    paths = []
    for filename in (CARD, CONFIG, WEIGHTS):  # the card first: it says whether this is one
        try:
            paths.append(Path(hf_hub_download(repo, filename, revision=revision,
                                              cache_dir=cache_dir, endpoint=endpoint)))
        except RevisionNotFoundError:
            raise PretrainedError(f"The Hub repository {repo} has no revision {revision!r}; "
                                  "give an existing branch, tag or commit after '@'.") from None
        except RepositoryNotFoundError:
            raise PretrainedError(f"No Hub repository {repo} (or it is private: log in with "
                                  "`hf auth login` or set HF_TOKEN).") from None
        # (LocalEntryNotFoundError is an EntryNotFoundError: it goes first)
        except LocalEntryNotFoundError:
            from huggingface_hub import constants

            why = ("offline mode is on (HF_HUB_OFFLINE=1; unset it to download)"
                   if constants.HF_HUB_OFFLINE else "could not reach the Hub at "
                   f"{endpoint or constants.ENDPOINT} (connect to the internet)")
            raise PretrainedError(f"{filename} of {where} is not in the Hub's cache and {why}; "
                                  "or download the folder elsewhere and pass its path.") from None
        except EntryNotFoundError:
            raise PretrainedError(f"The Hub repository {where} has no {filename}: it is not a "
                                  f"coursekit checkpoint (a folder of {WEIGHTS}, {CONFIG} and "
                                  f"{CARD} written by coursekit.pretrained.save).") from None
        except HfHubHTTPError as err:
            raise PretrainedError(f"The Hub refused {filename} of {where}: {err}") from None
    folders = {p.parent for p in paths}
    if len(folders) != 1:  # hf_hub_download puts one revision's files in one snapshot folder
        raise PretrainedError(f"The files of {where} came from different revisions; pass a "
                              "commit after '@' to pin one.")
    return folders.pop()


def locate(name_or_path: str | os.PathLike) -> Path:
    """The folder of a course checkpoint given as a shipped name, a folder holding the three
    files, or ``hf:OWNER/REPO[@REVISION]`` (downloaded by :func:`download`)."""
    text = str(name_or_path)
    if text.startswith(HUB_PREFIX):
        repo, _, revision = text[len(HUB_PREFIX):].partition("@")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise PretrainedError(f"{text!r}: a Hub checkpoint is named hf:OWNER/REPO or "
                                  "hf:OWNER/REPO@REVISION, e.g. hf:alice/cyclegan-zebras.")
        return download(repo, revision or None)
    if text in _shipped_names():
        return SHIPPED / text
    path = Path(name_or_path)
    if path.is_dir():
        return path
    names = ", ".join(_shipped_names()) or "none shipped yet"
    raise PretrainedError(f"No course checkpoint {text!r}: it is neither a shipped name "
                          f"({names}; `coursekit pretrained list` shows them with their "
                          f"scores), a folder holding {WEIGHTS}, {CONFIG} and {CARD}, nor a Hub "
                          "repository (hf:OWNER/REPO).")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PretrainedError(f"{path.parent} has no {path.name}: a course checkpoint folder "
                              f"holds {WEIGHTS}, {CONFIG} and {CARD}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PretrainedError(f"{path} is damaged ({err}); restore the folder (reinstall "
                              "coursekit for a shipped one).") from None


def card(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The card of a course checkpoint (how it was made, its scores, the weights' hash)."""
    return _read_json(locate(name_or_path) / CARD)


def available() -> list[dict[str, Any]]:
    """The shipped course checkpoints: one dict per name with its card."""
    return [{"name": name, **card(name)} for name in _shipped_names()]


def load(name_or_path: str | os.PathLike, device: str | torch.device = "cpu"):
    """The method stored in a course checkpoint (a shipped name, a folder or
    ``hf:OWNER/REPO[@REVISION]``, see :func:`download`), on ``device``,
    in eval mode. Only its ``inference_networks`` hold trained weights; the networks that
    only train them (discriminators, projection heads) keep their initial ones.

    Raises :class:`PretrainedError` for an unknown name, a missing or damaged file, weights
    whose SHA-256 differs from the card's (a truncated or replaced file) or weights that do
    not fit the method's networks."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from coursekit.models import config_from_dict, inference_config, load_method_module

    folder = locate(name_or_path)
    info, about = _read_json(folder / CONFIG), _read_json(folder / CARD)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise PretrainedError(f"{folder} has no {WEIGHTS}; restore the folder (reinstall "
                              "coursekit for a shipped one).")
    if _sha256(weights) != about.get("sha256"):
        raise PretrainedError(f"{weights} does not match its card (SHA-256 {_sha256(weights)[:12]}"
                              f"..., card {str(about.get('sha256'))[:12]}...): the file is "
                              "truncated or was replaced. Restore it (reinstall coursekit for a "
                              "shipped checkpoint), or write the folder again with "
                              "coursekit.pretrained.save.")
    module = load_method_module(info["method"])
    method = module.build(inference_config(config_from_dict(module.Config, info["config"])))
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise PretrainedError(f"{weights} cannot be read ({err}).") from None
    own = method.state_dict()
    names = method.inference_networks or tuple(method.networks())
    expected = {k for k in own if k.split(".", 1)[0] in names}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise PretrainedError(f"{weights} does not fit {info['method']}'s networks "
                              f"{', '.join(names)} (missing {missing[:3]}, unexpected "
                              f"{extra[:3]}): it was written for other settings.")
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise PretrainedError(f"{weights}: {key} has shape {tuple(value.shape)}, the "
                                  f"network expects {tuple(own[key].shape)}.")
    method.load_state_dict(state, strict=False)  # copy_ casts float16 back to float32
    return method.to(device).eval()


def save(method, method_name: str, folder: str | os.PathLike, about: dict[str, Any],
         dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Write ``method`` (registered as ``method_name``) as a course checkpoint in ``folder``:
    its ``inference_networks`` in ``dtype``, its config, and ``about`` (how it was made, its
    scores) as the card (:func:`write_card`). Returns the card."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = method.inference_networks or tuple(method.networks())
    state = {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in method.state_dict().items() if k.split(".", 1)[0] in names}
    save_file(state, str(folder / WEIGHTS))
    (folder / CONFIG).write_text(json.dumps({"method": method_name,
                                             "config": method.hparams()}, indent=2) + "\n")
    return write_card(folder, {**about, "method": method_name, "networks": list(names),
                               "dtype": str(dtype)})


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(cells) + " |" for cells in (header, *rows)]
    return "\n".join([lines[0], "|" + "---|" * len(header), *lines[1:]])


def write_card(folder: str | os.PathLike, about: dict[str, Any]) -> dict[str, Any]:
    """(Re)write ``card.json`` and ``README.md`` of a checkpoint folder from ``about``, with the
    SHA-256 and size of its weights as they are now. Returns the card."""
    folder = Path(folder)
    about = {**about, "sha256": _sha256(folder / WEIGHTS),
             "bytes": (folder / WEIGHTS).stat().st_size}
    (folder / CARD).write_text(json.dumps(about, indent=2, sort_keys=True) + "\n")
    scores = _table(["score", "value"], [[k, f"{v:.3f}"] for k, v in about.get("scores", {}).items()])
    threads = f", {about['threads']} thread{'s' * (about['threads'] > 1)}" if about.get("threads") else ""
    curve = about.get("curve") or {}
    if curve.get("steps"):  # the run's evaluations: how far the scores had come, and when
        keys = list(curve["scores"])
        scores += (f"\n\nDuring training, on the first {about.get('check', {}).get('items', '?')} "
                   "test items:\n\n" + _table(["step", *keys], [
                       [str(step), *(f"{curve['scores'][k][i]:.3f}" for k in keys)]
                       for i, step in enumerate(curve["steps"])]))
    (folder / "README.md").write_text(
        f"# {folder.name}\n\n{about.get('method', '?')}, {about.get('data', '')}: networks "
        f"{', '.join(about.get('networks', []))} in {about.get('dtype', '?')}, "
        f"{about['bytes'] / 2**20:.1f} MB.\n\n"
        f"Trained with `{about.get('command', '?')}` (commit {about.get('commit', '?')}, seed "
        f"{about.get('seed', '?')}, {about.get('steps', '?')} steps, "
        f"{about.get('seconds', 0) / 60:.0f} minutes on {about.get('device', '?')}"
        f"{threads}).\n\n"
        f"Scores on the test split (`coursekit eval`):\n\n{scores}\n")
    return about
