r"""Stage 8 of the course: GRPO — reinforcement learning with verifiable rewards.

* :mod:`llmcourse.grpo.functional` — the math (group-normalised advantages, the clipped token loss,
  the ``loss_type`` reductions, clip fractions);
* :mod:`llmcourse.grpo.rewards` — reward functions (exact match, answer format) and their registry;
* :mod:`llmcourse.grpo.trainer` — :func:`train_grpo` and :class:`GRPOConfig`;
* :mod:`llmcourse.grpo.lab` — the task-world lab (data, settings) of notebook 08 and the bench.

Sampling, log-probs, masks and position ids come from the RL layer PPO uses too (:mod:`llmcourse.rl`).
"""

from llmcourse.grpo.functional import (
    LOSS_TYPES,
    clip_fractions,
    clipped_token_loss,
    group_advantages,
    grpo_loss,
    reduce_token_loss,
    zero_variance_groups,
)
from llmcourse.grpo.rewards import REWARDS, exact_match_reward, format_reward, get_reward, register_reward
from llmcourse.grpo.trainer import GRPOConfig, evaluate, generate_batch, grpo_update, train_grpo

__all__ = [
    "LOSS_TYPES", "clip_fractions", "clipped_token_loss", "group_advantages", "grpo_loss", "reduce_token_loss",
    "zero_variance_groups", "REWARDS", "exact_match_reward", "format_reward", "get_reward", "register_reward",
    "GRPOConfig", "evaluate", "generate_batch", "grpo_update", "train_grpo",
]


def _notebook_models(progress: bool = True) -> list:
    from llmcourse.grpo import lab  # the lab imports the PPO lab (and through it SFT): only when a notebook is prepared

    return [lab.sft_model_path(progress=progress)]


NOTEBOOK_MODELS = {"08_grpo": _notebook_models}
"""What notebook 08 loads from the model cache beyond the base model (the PPO lab's SFT policy), as
``{assignment: build}``; the course tooling builds it before grading (:mod:`llmcourse.course.prepare`)."""
