"""The cached models each assignment's notebook loads, built before grading (graded kernels see the
model cache read-only, so a notebook could not build one itself).

The course tooling does not know what a stage's notebook loads: each stage declares it. A stage
package (``llmcourse.ppo``, …) whose notebook loads cached models beyond the base model has a
``NOTEBOOK_MODELS`` dict, ``{assignment: build}``, where ``build(progress=True)`` builds them once per
machine and returns their folders. Every notebook runs on the embedded base model, so it is built
for every assignment.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

import llmcourse


def declared_notebook_models() -> dict[str, list[Callable]]:
    """``{assignment: [build, …]}`` as the stage packages declare it (their ``NOTEBOOK_MODELS``)."""
    declared: dict[str, list[Callable]] = {}
    for module in pkgutil.iter_modules(llmcourse.__path__):
        if not module.ispkg:
            continue
        stage = importlib.import_module(f"llmcourse.{module.name}")
        for assignment, build in getattr(stage, "NOTEBOOK_MODELS", {}).items():
            declared.setdefault(assignment, []).append(build)
    return declared


def model_builders(assignments: list[str]) -> list[Callable]:
    """What builds the cached models of ``assignments``' notebooks: the base model, then what each
    notebook's stage declares, each once."""
    from llmcourse import models

    declared = declared_notebook_models()
    builders: list[Callable] = [models.base_model_path] if assignments else []
    for a in assignments:
        builders += [b for b in declared.get(a, []) if b not in builders]
    return builders


def prepare_models(assignments: list[str]) -> None:
    """Build (once per machine) the cached models the given assignments' notebooks load."""
    for build in model_builders(assignments):
        build(progress=True)
