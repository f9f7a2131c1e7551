"""The cached models each assignment's notebook loads, built before grading (graded kernels see the
model cache read-only).

Kept apart from the rest of the course tooling on purpose: it is the one place that reaches into the
stages (``ppo.lab``, ``models``), and it is meant to become "each stage declares what its notebook needs".
"""

from __future__ import annotations

def _lab_models() -> None:
    from llmcourse.ppo import lab

    lab.sft_model_path(progress=True)
    lab.reward_model_path(None, progress=True)
    lab.reward_model_path("length", progress=True)


def _base_model() -> None:
    from llmcourse import models

    models.base_model_path()


MODEL_CACHES = {"00_welcome": [_base_model], "01_sft_data": [_base_model], "02_reward_model": [_base_model],
                "03_ppo_rlhf": [_base_model, _lab_models], "04_augmentation": [_base_model],
                "05_scaling_laws": [_base_model], "06_interview_prep": [_base_model]}
"""The cached models each notebook loads (built on first use). Graded kernels see the cache read-only,
so :func:`grade` builds them first, in the instructor's environment; cheap once they exist."""


def prepare_models(assignments: list[str]) -> None:
    """Build (once per machine) the cached models the given assignments' notebooks load."""
    done = set()
    for a in assignments:
        for build in MODEL_CACHES.get(a, []):
            if build not in done:
                build()
                done.add(build)
