r"""Direct preference optimisation (course stage 7): the DPO loss and its variants, preference data for
a causal LM, and the trainer.

Layers, leaf first (each module imports only the ones above it):

* :mod:`llmcourse.dpo.functional` — the math: masked sequence log-probs $\log\pi(y\mid x)$ (summed over
  response tokens, or their mean), the DPO loss $-\log\sigma(\beta\Delta)$ computed stably, label
  smoothing (cDPO), IPO, robust DPO, implicit rewards $\beta\log\frac{\pi_\theta}{\pi_{\mathrm{ref}}}$,
  their accuracy and margin;
* :mod:`llmcourse.dpo.data` — pairs in every preference format and template (the tokenizer's chat
  template included), tokenised with response-only labels, chosen + rejected collated into one batch;
* :mod:`llmcourse.dpo.trainer` — :func:`train_dpo` on Accelerate, with a frozen reference model or
  precomputed reference log-probs;
* :mod:`llmcourse.dpo.lab` — the task-world recipe: DPO from a cached SFT model on pairs that
  include the SFT model's own answers, labelled by the exact-match checker.
"""

from llmcourse.dpo.functional import (AVERAGED_LOSS_TYPES, LOSS_TYPES, dpo_logits, dpo_loss, implicit_rewards,
                                      ipo_loss, preference_loss, reward_accuracy, reward_margin, robust_dpo_loss,
                                      sequence_logprobs)
from llmcourse.dpo.data import DPOCollator, DPODataset, as_pairs, encode_pair, render_pair
from llmcourse.dpo.trainer import DPOConfig, evaluate_dpo, reference_logps, train_dpo

__all__ = [
    "AVERAGED_LOSS_TYPES", "LOSS_TYPES", "dpo_logits", "dpo_loss", "implicit_rewards", "ipo_loss", "preference_loss",
    "reward_accuracy", "reward_margin", "robust_dpo_loss", "sequence_logprobs",
    "DPOCollator", "DPODataset", "as_pairs", "encode_pair", "render_pair",
    "DPOConfig", "evaluate_dpo", "reference_logps", "train_dpo",
]


def _notebook_models(progress: bool = True) -> list:
    from llmcourse.dpo import lab  # the lab imports the SFT stage: only when a notebook is prepared

    return [lab.sft_model_path(progress=progress)]


NOTEBOOK_MODELS = {"07_dpo": _notebook_models}
"""What this stage's notebook loads from the model cache beyond the base model (the DPO lab's SFT model),
as ``{assignment: build}``; the course tooling builds it before grading (:mod:`llmcourse.course.prepare`)."""
