r"""The task-world GRPO lab: data and settings shared by notebook 08, ``bench/bench_grpo.py`` and the tests.

GRPO starts from the PPO lab's SFT model (:func:`llmcourse.ppo.lab.load_sft_model`: a short SFT on
demonstrations of which a share end with filler ``" !"``), prompts in the same short template, and
the exact-match checker as the reward — no reward model.

This module sits above the trainer (it imports the PPO lab for the cached SFT model); the GRPO math
and trainer never import it.
"""

from __future__ import annotations

import dataclasses

from llmcourse import recipes
from llmcourse.grpo.trainer import GRPOConfig
from llmcourse.ppo import lab as ppo_lab

__all__ = ["MAIN_CONFIG", "grpo_rows", "load_sft_model", "sft_model_path", "with_"]

load_sft_model = ppo_lab.load_sft_model
sft_model_path = ppo_lab.sft_model_path

MAIN_CONFIG = GRPOConfig(**recipes.LAB_GRPO, progress=False)
"""GRPO from the SFT model with the exact-match reward (:data:`llmcourse.recipes.LAB_GRPO`, where the
measured outcomes are noted)."""


def grpo_rows(n_train: int = 2000, n_eval: int = 200) -> tuple[list[dict], list[dict]]:
    """``(train_rows, eval_rows)``: ``{"prompt", "answer", "task"}`` from the SFT training problems and
    from its held-out problems (never trained on, by SFT or GRPO)."""
    train, held = ppo_lab._split()
    if n_train > len(train) or n_eval > len(held):
        raise ValueError(f"the lab has {len(train)} training and {len(held)} held-out problems; "
                         f"asked for {n_train} and {n_eval}")

    def row(p):
        return {"prompt": ppo_lab.prompt(p.instruction, p.input), "answer": p.answer, "task": p.task}

    return [row(p) for p in train[:n_train]], [row(p) for p in held[:n_eval]]


def with_(config: GRPOConfig = MAIN_CONFIG, **changes) -> GRPOConfig:
    """A copy of a lab config with some fields changed."""
    return dataclasses.replace(config, **changes)
