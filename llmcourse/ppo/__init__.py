r"""Stage 3 of the course: RLHF with PPO and a per-token KL penalty.

* :mod:`llmcourse.ppo.functional` — the math (log-probs, KL estimators, KL-penalised rewards, GAE,
  whitening, clipped policy and value losses, the adaptive KL controller);
* :mod:`llmcourse.ppo.rollout` — prompts → sampled responses → log-probs, values and scores;
* :mod:`llmcourse.ppo.trainer` — :func:`train_ppo` and :class:`PPOConfig`.

Everything a notebook needs is re-exported here: ``from llmcourse.ppo import train_ppo, gae_advantages``.
"""

from llmcourse.ppo.functional import (
    AdaptiveKLController,
    FixedKLController,
    adaptive_kl_update,
    approx_kl,
    clip_fraction,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    gae_advantages,
    kl_penalized_rewards,
    kl_per_token,
    last_token_index,
    logprobs_from_logits,
    masked_mean,
    masked_sum,
    masked_var,
    masked_whiten,
    penalize_missing_eos,
    sequence_kl,
    truncate_after_eos,
)
from llmcourse.ppo.rollout import PolicyAndValue, Rollout, collect_rollout
from llmcourse.ppo.trainer import PPOConfig, evaluate, ppo_update, prompts_from_records, train_ppo

__all__ = [
    "AdaptiveKLController", "FixedKLController", "adaptive_kl_update", "approx_kl", "clip_fraction",
    "clipped_policy_loss", "clipped_value_loss", "entropy_from_logits", "gae_advantages",
    "kl_penalized_rewards", "kl_per_token", "last_token_index", "logprobs_from_logits", "masked_mean",
    "masked_sum", "masked_var", "masked_whiten", "penalize_missing_eos", "sequence_kl", "truncate_after_eos",
    "Rollout", "collect_rollout", "PolicyAndValue", "PPOConfig", "evaluate", "ppo_update", "prompts_from_records",
    "train_ppo",
]


def _notebook_models(progress: bool = True) -> list:
    from llmcourse.ppo import lab  # the lab imports the SFT and reward stages: only when a notebook is prepared

    return lab.notebook_models(progress=progress)


NOTEBOOK_MODELS = {"03_ppo_rlhf": _notebook_models}
"""What this stage's notebook loads from the model cache beyond the base model (the lab's SFT policy
and both reward models), as ``{assignment: build}``; the course tooling builds it before grading
(:mod:`llmcourse.course.prepare`)."""
