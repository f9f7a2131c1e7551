r"""Reward modelling (course stage 2): Bradley–Terry loss, preference data, the reward model, its trainer.

Layers, leaf first (each module imports only the ones above it):

* :mod:`llmcourse.reward.functional` — the math: ``bradley_terry_loss_numpy`` / ``bradley_terry_loss``
  $= -\log\sigma(r_c - r_r - m)$ computed stably, pairwise accuracy, reading the score at the last real
  token, calibration gain/bias;
* :mod:`llmcourse.reward.data` — pair and ranking records (JSON/JSONL), rankings → $K(K-1)/2$ pairs,
  tokenisation ``[BOS] prompt response [EOS]``, collation of chosen + rejected into one batch;
* :mod:`llmcourse.reward.model` — building / loading / saving the model, scoring text, calibration;
* :mod:`llmcourse.reward.trainer` — :func:`train_reward_model`, task-world pairs (also a policy's own
  answers judged: :func:`onpolicy_pairs`) and the task-world reward model :func:`train_task_reward_model`
  (clean or length-biased).
"""

from llmcourse.reward.functional import (bradley_terry_loss, bradley_terry_loss_numpy, calibration_from_scores,
                                         last_token_index, mean_margin, pairwise_accuracy, reward_centering_penalty,
                                         scores_at_last_token)
from llmcourse.reward.data import (GroupedBatchSampler, PreferenceCollator, PreferenceDataset, encode_prompt, encode_response,
                                   load_preference_pairs, load_rankings, pad_sequences, ranking_to_pairs,
                                   rankings_to_pairs, validate_pair, validate_pairs, validate_ranking)
from llmcourse.reward.model import (RewardScorer, apply_calibration, calibrate_reward_model, init_score_head,
                                    load_reward_model, reward_model_from_causal_lm, reward_scores, reward_scores_shared_prompt, save_reward_model,
                                    score_pairs, score_texts, score_token_ids, supports_shared_prompt, token_rewards)
from llmcourse.reward.trainer import (RewardConfig, TaskRewardModel, alpaca_template, evaluate_reward_model,
                                      filler_preference, onpolicy_pairs, task_pairs, task_preference_data, task_rankings, train_reward_model,
                                      train_task_reward_model)

__all__ = [
    "bradley_terry_loss", "bradley_terry_loss_numpy", "calibration_from_scores", "last_token_index", "mean_margin",
    "pairwise_accuracy", "reward_centering_penalty", "scores_at_last_token",
    "GroupedBatchSampler", "PreferenceCollator", "PreferenceDataset", "encode_prompt", "encode_response", "load_preference_pairs",
    "load_rankings", "pad_sequences", "ranking_to_pairs", "rankings_to_pairs", "validate_pair", "validate_pairs",
    "validate_ranking",
    "RewardScorer", "apply_calibration", "calibrate_reward_model", "init_score_head", "load_reward_model",
    "reward_model_from_causal_lm", "reward_scores", "reward_scores_shared_prompt", "save_reward_model", "score_pairs", "score_texts",
    "score_token_ids", "supports_shared_prompt", "token_rewards",
    "RewardConfig", "TaskRewardModel", "alpaca_template", "evaluate_reward_model", "filler_preference",
    "onpolicy_pairs", "task_pairs", "task_preference_data", "task_rankings", "train_reward_model", "train_task_reward_model",
]
