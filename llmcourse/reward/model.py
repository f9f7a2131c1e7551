r"""The reward model: a decoder with a one-output linear head, read at the last real token.

$r_\phi(x, y) = w^\top h_{i}$ where $h_i$ is the final hidden state at $i$ = the last non-pad
position of ``[BOS] x y [EOS]``. The course computes this explicitly — backbone → per-token values
$v_t = w^\top h_t$ → :func:`~llmcourse.reward.functional.scores_at_last_token` with the index taken
from the **attention mask** — instead of trusting each model class's own pooling. (Transformers 5's
``LlamaForSequenceClassification`` takes the rightmost token that is not ``pad_token_id``: right for
left and right padding, but it reads the wrong token when PAD = EOS — the EOS counts as padding —
and it refuses batches when the config has no pad id.) Position ids also follow the mask, so a
left-padded row gets the same positions, hence the same score, as a right-padded one.

Ways in: :func:`load_reward_model` (the embedded base or any checkpoint, through
``AutoModelForSequenceClassification``), :func:`reward_model_from_causal_lm` (a causal LM in memory,
e.g. right after SFT: same backbone, new value head). Any ``*ForSequenceClassification`` with a
``score`` head works; encoder classifiers (BERT-style ``classifier`` on a pooled first token) fall back
to the model's own ``logits``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from llmcourse import models, training
from llmcourse.reward.data import encode_response, pad_sequences
from llmcourse.reward.functional import calibration_from_scores, scores_at_last_token

Pick = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _score_head(model) -> nn.Linear | None:
    head = getattr(model, "score", None)
    if isinstance(head, nn.Linear) and getattr(model, "base_model", model) is not model:
        return head
    return None


def init_score_head(model, seed: int = 0) -> nn.Module:
    r"""Re-initialise the ``score`` head from a seeded generator: $w \sim \mathcal{N}(0, 1/(H+1))$
    (the scale TRL uses), bias (if any) zero. ``from_pretrained`` draws a new head from the global
    RNG; this makes the untrained reward model reproducible."""
    head = _score_head(model)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no linear `score` head to initialise")
    gen = torch.Generator().manual_seed(seed)
    std = (head.in_features + 1) ** -0.5
    with torch.no_grad():
        w = torch.randn(head.weight.shape, generator=gen, dtype=torch.float32) * std
        head.weight.copy_(w.to(head.weight.dtype))
        if head.bias is not None:
            head.bias.zero_()
    return model


def _check_reward_model(model) -> None:
    n = getattr(getattr(model, "config", None), "num_labels", 1)
    if n != 1:
        raise ValueError(f"a reward model has one output (num_labels=1); this one has num_labels={n}. "
                         "Load it with llmcourse.models.load_model(name, kind='reward') or "
                         "AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)")


def token_rewards(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    r"""Per-position values $v_{b,t} = w^\top h_{b,t}$ (float32): what the head would say if the
    sequence ended at $t$. Only the last real position is the reward. Shapes: (B, T), (B, T) -> (B, T)."""
    head = _score_head(model)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no per-token `score` head; use reward_scores(), which falls "
                         "back to the model's own pooled logits")
    backbone = model.base_model
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if training.accepts(backbone, "position_ids"):
        kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    if training.accepts(backbone, "use_cache"):
        kwargs["use_cache"] = False
    out = backbone(**kwargs)
    hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    return head(hidden).squeeze(-1).float()


def reward_scores(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                  pick: Pick = scores_at_last_token) -> torch.Tensor:
    r"""One reward per sequence, $r_b = v_{b, i_b}$ with $i_b$ the last real token of row $b$.

    ``pick`` reads the score from the per-token values (default :func:`scores_at_last_token`; a
    student's version plugs in here). Works with left or right padding. Shapes: (B, T), (B, T) -> (B,).
    """
    _check_reward_model(model)
    if input_ids.shape != attention_mask.shape or input_ids.dim() != 2:
        raise ValueError(f"input_ids {tuple(input_ids.shape)} and attention_mask {tuple(attention_mask.shape)} "
                         "must both be (batch, seq)")
    if _score_head(model) is None:  # encoder classifiers pool at a fixed position themselves
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
    return pick(token_rewards(model, input_ids, attention_mask), attention_mask)


def supports_shared_prompt(model) -> bool:
    """True when the model has a per-token ``score`` head and a backbone that takes a key/value cache
    (decoder-only Hugging Face models: Llama, Mistral, Qwen, GPT-2, …)."""
    return _score_head(model) is not None and training.cache_argument(model.base_model) is not None


def reward_scores_shared_prompt(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                                response_ids: torch.Tensor, response_mask: torch.Tensor, *,
                                pick: Pick = scores_at_last_token) -> torch.Tensor:
    r"""Rewards of several responses per prompt, encoding each prompt **once**.

    A preference pair's two sequences share their prompt, usually most of their tokens. A causal
    model's prompt states do not depend on what follows, so the prompt is run once, its keys/values
    are repeated for each response, and only the responses are run again — the same scores (to float
    rounding) and gradients as two full sequences, for roughly (P + 2R)/(2P + 2R) of the compute.

    Shapes: prompt_ids / prompt_mask (B, P), **left**-padded; response_ids / response_mask (kB, R),
    right-padded, row ``j·B + b`` answering prompt ``b`` -> (kB,) scores read at each response's last
    real token (``pick``), positions following the mask across the seam.
    """
    _check_reward_model(model)
    b, k = prompt_ids.shape[0], response_ids.shape[0] // max(1, prompt_ids.shape[0])
    if b == 0 or k * b != response_ids.shape[0]:
        raise ValueError(f"{response_ids.shape[0]} response rows for {b} prompts; expected a multiple (k rows per prompt)")
    backbone, head = model.base_model, _score_head(model)
    prompt_pos = (prompt_mask.long().cumsum(-1) - 1).clamp(min=0)
    cache_arg = training.cache_argument(backbone)
    if cache_arg is None:
        raise ValueError(f"{type(backbone).__name__}.forward takes no key/value cache (neither `cache` nor "
                         "`past_key_values`); score whole sequences with reward_scores instead")
    out = backbone(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=prompt_pos, use_cache=True)
    cache = training.returned_cache(out)
    cache.batch_select_indices(torch.arange(b, device=prompt_ids.device).repeat(k))
    full_mask = torch.cat([prompt_mask.repeat(k, 1), response_mask], dim=1)
    positions = (full_mask.long().cumsum(-1) - 1).clamp(min=0)[:, prompt_ids.shape[1]:]
    hidden = backbone(input_ids=response_ids, attention_mask=full_mask, position_ids=positions,
                      use_cache=True, **{cache_arg: cache}).last_hidden_state
    return pick(head(hidden).squeeze(-1).float(), response_mask)


class RewardScorer(nn.Module):
    """``reward_scores`` as a module, so Accelerate/DDP wraps one ``forward`` that touches every
    parameter (calling the backbone and head separately from outside would bypass DDP's hooks).
    Given ``prompt_ids``/``prompt_mask`` it uses :func:`reward_scores_shared_prompt`."""

    def __init__(self, model, pick: Pick = scores_at_last_token):
        super().__init__()
        self.model = model
        self.pick = pick

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_ids: torch.Tensor | None = None,
                prompt_mask: torch.Tensor | None = None) -> torch.Tensor:
        if prompt_ids is not None:
            return reward_scores_shared_prompt(self.model, prompt_ids, prompt_mask, input_ids, attention_mask, pick=self.pick)
        return reward_scores(self.model, input_ids, attention_mask, pick=self.pick)


# --------------------------------------------------------------------------- building


def _quiet_hf():
    """Silence transformers' loading chatter (progress bars go to stderr, which zeroes an nbgrader cell)."""
    import contextlib

    from transformers.utils import logging as hf_logging

    @contextlib.contextmanager
    def ctx():
        level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            yield
        finally:
            hf_logging.set_verbosity(level)
            if bars:
                hf_logging.enable_progress_bar()

    return ctx()


def reward_model_from_causal_lm(causal_model, *, seed: int = 0):
    """A sequence-classification reward model sharing a causal LM's backbone weights (copied) with a
    fresh seeded value head — e.g. initialise the RM from the SFT model, as InstructGPT does."""
    from transformers import AutoModelForSequenceClassification

    cfg = causal_model.config.__class__.from_dict(causal_model.config.to_dict())
    cfg.num_labels = 1
    cfg.architectures = None
    with torch.random.fork_rng(devices=[]), _quiet_hf():
        torch.manual_seed(seed)  # from_config draws weights from the global RNG: fork it
        rm = AutoModelForSequenceClassification.from_config(cfg)
    missing, unexpected = rm.base_model.load_state_dict(causal_model.base_model.state_dict(), strict=False)
    if missing:
        raise ValueError(f"backbone weights do not fit the reward model ({len(missing)} missing, e.g. {missing[:3]})")
    param = next(causal_model.parameters())
    rm.to(device=param.device, dtype=param.dtype)
    init_score_head(rm, seed)
    training.disable_dropout(rm)
    return rm.eval()


def _restore_head_bias(model, path: Path) -> None:
    """``apply_calibration`` may give a bias-free head a bias; put it back after from_pretrained."""
    head = _score_head(model)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if head is None or head.bias is not None or not files:
        return
    from safetensors import safe_open

    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                if key.endswith("score.bias"):
                    head.bias = nn.Parameter(st.get_tensor(key).to(head.weight.dtype))
                    return


def load_reward_model(name_or_path=None, *, seed: int = 0):
    """A reward model (``AutoModelForSequenceClassification``, one output, dropout off, eval mode):
    the embedded base model with a new seeded head when no name is given, a plain LM checkpoint the
    same way, or a trained reward-model checkpoint as saved (calibrated head bias included)."""
    with _quiet_hf():
        model = models.load_model(name_or_path, kind="reward")
    _check_reward_model(model)
    archs = getattr(model.config, "architectures", None) or []
    if not any("SequenceClassification" in a for a in archs) and _score_head(model) is not None:
        init_score_head(model, seed)  # the checkpoint had no head: replace the unseeded one
    elif name_or_path is not None:
        _restore_head_bias(model, Path(str(name_or_path)))
    training.disable_dropout(model)
    return model.eval()


def save_reward_model(model, tokenizer, path, accelerator=None, *, overwrite: bool = False):
    """Save weights (safetensors) and tokenizer; reload with :func:`load_reward_model`."""
    return training.save_checkpoint(model, tokenizer, path, accelerator, overwrite=overwrite)


# --------------------------------------------------------------------------- scoring text


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def score_token_ids(model, sequences: Sequence[Sequence[int]], pad_token_id: int, *, batch_size: int = 64,
                    padding_side: str = "right") -> torch.Tensor:
    """Rewards for already tokenised ``[BOS] prompt response [EOS]`` id lists (e.g. PPO rollouts).
    Returns a float32 CPU tensor (N,). The model is put in eval mode for the call and restored."""
    if len(sequences) == 0:
        raise ValueError("no sequences to score")
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(sequences), batch_size):
            ids, mask = pad_sequences(sequences[start : start + batch_size], pad_token_id, padding_side)
            dev = _device(model)
            out.append(reward_scores(model, ids.to(dev), mask.to(dev)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def score_texts(model, tokenizer, prompts: Sequence[str], responses: Sequence[str], *,
                batch_size: int = 64) -> torch.Tensor:
    """Rewards $r_\\phi(x, y)$ for prompt/response strings (EOS appended). Shapes: N, N -> (N,)."""
    if isinstance(prompts, str) or isinstance(responses, str):
        raise TypeError("prompts and responses must be lists of strings (wrap a single one in [ ])")
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses; give one prompt per response")
    seqs = [encode_response(tokenizer, p, r) for p, r in zip(prompts, responses)]
    return score_token_ids(model, seqs, tokenizer.pad_token_id, batch_size=batch_size)


def score_pairs(model, tokenizer, pairs: Sequence[dict], *, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(chosen_scores, rejected_scores)`` for pair records, each (N,)."""
    prompts = [p["prompt"] for p in pairs]
    return (score_texts(model, tokenizer, prompts, [p["chosen"] for p in pairs], batch_size=batch_size),
            score_texts(model, tokenizer, prompts, [p["rejected"] for p in pairs], batch_size=batch_size))


# --------------------------------------------------------------------------- calibration


def apply_calibration(model, gain, bias):
    r"""Fold $r \mapsto g\,r + b$ into the linear head: $w \leftarrow g\,w$, $b_{\text{head}} \leftarrow
    g\,b_{\text{head}} + b$ (a bias is added when the head has none; :func:`load_reward_model` restores
    it). Rankings are unchanged for $g > 0$."""
    head = _score_head(model)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no linear `score` head; apply (gain, bias) to its scores instead")
    gain, bias = float(gain), float(bias)
    if not gain > 0:
        raise ValueError(f"gain must be positive (a negative gain would reverse every preference); got {gain}")
    with torch.no_grad():
        head.weight.mul_(gain)
        if head.bias is None:
            head.bias = nn.Parameter(torch.zeros(head.out_features, dtype=head.weight.dtype, device=head.weight.device))
        head.bias.mul_(gain).add_(bias)
    return model


def calibrate_reward_model(model, tokenizer, prompts: Sequence[str], responses: Sequence[str], *,
                           apply: bool = True, batch_size: int = 64) -> tuple[float, float]:
    r"""Normalise rewards to mean 0 / std 1 on a reference sample: returns $(g, b)$ from
    :func:`~llmcourse.reward.functional.calibration_from_scores` and, with ``apply=True``, folds them
    into the model's head (:func:`apply_calibration`)."""
    scores = score_texts(model, tokenizer, prompts, responses, batch_size=batch_size)
    gain, bias = calibration_from_scores(scores)
    if apply:
        apply_calibration(model, gain, bias)
    return float(gain), float(bias)


