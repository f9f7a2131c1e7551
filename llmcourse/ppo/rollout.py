r"""PPO for RLHF, the model glue: prompts → sampled responses → log-probs, values and scores.

One rollout, step by step. Steps 1–3 are the RL layer PPO shares with GRPO
(:mod:`llmcourse.rl.rollout`, re-exported here as ``R.left_pad`` etc.); step 4 is PPO's own:

1. :func:`encode_prompts` + :func:`left_pad` — prompts become ids (BOS prepended), left-padded;
2. :func:`sample_responses` — temperature sampling, cut after the first EOS, with the response mask;
3. :func:`join` — prompt + response as one batch with ``position_ids`` that follow the attention mask;
4. :class:`PolicyAndValue` (the trained pair: policy logits and values ``V(s_t)``, from a separate
   value model or a value head), :func:`response_logprobs` for the frozen reference, and
   :func:`sequence_scores` (reward model, read at the last real token) — all without gradients here;
   the update calls the same :class:`PolicyAndValue` forward again, with gradients
   (:func:`collect_rollout` runs the four steps).

Column $t$ of every (B, T) tensor refers to response token $a_t$: ``logprobs[:, t]`` is
$\log\pi(a_t\mid s_t)$, computed from the logits at position $P - 1 + t$ of the joined sequence (the
position that *predicted* $a_t$), and ``values[:, t]`` is $V(s_t)$ read at the same position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch

from llmcourse.ppo import functional as F
from llmcourse.rl.rollout import (  # noqa: F401  (the shared layer, re-exported for PPO's callers)
    encode_prompts,
    join,
    left_pad,
    pad_sequences,
    policy_samples,
    position_ids_from_mask,
    response_logits,
    response_logprobs,
    sample_responses,
    sampled_kl,
)

__all__ = [
    "Rollout", "encode_prompts", "pad_sequences", "left_pad", "sample_responses", "policy_samples", "join",
    "position_ids_from_mask", "response_logits", "response_logprobs", "token_values", "sequence_scores",
    "same_tokenizer", "check_reward_tokenizer", "score_responses", "PolicyAndValue", "collect_rollout",
]


@dataclass
class Rollout:
    """One batch of experience. Shapes: ``B`` rows, ``P`` prompt columns, ``T`` response columns."""

    query_ids: torch.Tensor  # (B, P) left-padded prompt ids (BOS first)
    query_mask: torch.Tensor  # (B, P) 1 on prompt tokens
    response_ids: torch.Tensor  # (B, T) right-padded after the first EOS
    response_mask: torch.Tensor  # (B, T) 1 on response tokens, EOS included
    has_eos: torch.Tensor  # (B,) bool: the response ended with EOS (not the length limit)
    logprobs: torch.Tensor  # (B, T) log π_old(a_t | s_t), temperature-scaled
    ref_logprobs: torch.Tensor  # (B, T) log π_ref(a_t | s_t), same temperature
    values: torch.Tensor  # (B, T) V_old(s_t)
    scores: torch.Tensor  # (B,) reward-model score r_φ(x, y) as the RM gave it
    entropy: torch.Tensor  # (B, T) policy entropy at each response position (a diagnostic)
    prompts: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)  # seconds: "generate" (sampling), "score" (forward passes)

    def __len__(self) -> int:
        return self.query_ids.shape[0]


# --------------------------------------------------------------------------- values and scores


def _backbone_and_head(model):
    """The transformer trunk and the scalar head of a ``*ForSequenceClassification`` model."""
    prefix = getattr(model, "base_model_prefix", None)
    backbone = getattr(model, prefix, None) if prefix else None
    head = getattr(model, "score", None)
    if backbone is None or head is None:
        raise TypeError(f"{type(model).__name__} is not a reward/value model with a per-token scalar head "
                        "(expected an AutoModelForSequenceClassification with num_labels=1, which has "
                        "`.score`); load one with llmcourse.models.load_model(path, kind='reward')")
    if getattr(head, "out_features", 1) != 1:
        raise ValueError(f"{type(model).__name__}.score outputs {head.out_features} numbers; a reward/value "
                         "model needs num_labels=1")
    return backbone, head


def _token_scores(model, input_ids, attention_mask, position_ids) -> torch.Tensor:
    """The scalar head applied at every position: (B, L)."""
    backbone, head = _backbone_and_head(model)
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                      use_cache=False).last_hidden_state
    return head(hidden).squeeze(-1).float()


def token_values(value_model, query_ids, query_mask, response_ids, response_mask) -> torch.Tensor:
    r"""$V(s_t)$ for every response position: the value head read at position $P - 1 + t$ (the last
    token of $s_t$). Shapes: query (B, P), response (B, T) -> (B, T)."""
    input_ids, attention_mask, position_ids = join(query_ids, query_mask, response_ids, response_mask)
    P = query_ids.shape[1]
    return _token_scores(value_model, input_ids, attention_mask, position_ids)[:, P - 1 : -1]


def sequence_scores(reward_model, input_ids, attention_mask) -> torch.Tensor:
    r"""The reward model's score $r_\phi(x, y)$, read at the **last real token** of each row (padding
    on either side is fine: positions follow the mask). Shapes: (B, L) -> (B,)."""
    scores = _token_scores(reward_model, input_ids, attention_mask, position_ids_from_mask(attention_mask))
    last = F.last_token_index(attention_mask)
    return scores.gather(1, last.unsqueeze(1)).squeeze(1)


# --------------------------------------------------------------------------- the reward model's tokenizer


def same_tokenizer(a, b) -> bool:
    """True when two tokenizers map text to the same ids (same vocabulary and special tokens)."""
    if a is b:
        return True
    return (a.get_vocab() == b.get_vocab() and a.bos_token_id == b.bos_token_id
            and a.eos_token_id == b.eos_token_id and a.pad_token_id == b.pad_token_id)


def check_reward_tokenizer(reward_model, tokenizer, reward_tokenizer=None) -> bool:
    """Decide how responses reach the reward model; returns ``True`` when they must be re-tokenised.

    Same tokenizer (or none given) → the policy's ids are scored directly. A different
    ``reward_tokenizer`` → responses are decoded to text and re-tokenised with it. No
    ``reward_tokenizer`` but a reward model whose vocabulary size differs from the policy's → a clear
    error (its ids would mean different tokens)."""
    if reward_tokenizer is not None:
        return not same_tokenizer(tokenizer, reward_tokenizer)
    rm_vocab = getattr(reward_model.config, "vocab_size", None)
    if rm_vocab is not None and rm_vocab < len(tokenizer):
        raise ValueError(f"the reward model has a vocabulary of {rm_vocab} tokens but the policy's tokenizer has "
                         f"{len(tokenizer)}: they were not trained with the same tokenizer. Pass the reward model's "
                         "own tokenizer as reward_tokenizer=... so responses are re-tokenised as text")
    return False


def score_responses(reward_model, reward_tokenizer, prompts: Sequence[str], responses: Sequence[str],
                    has_eos: torch.Tensor, device=None) -> torch.Tensor:
    """Score text with a reward model that has its own tokenizer: ``BOS + prompt + response (+ EOS if
    the policy emitted one)``, prompt and response tokenised separately, right-padded. Shapes -> (B,)."""
    rows = []
    for p, r, eos in zip(prompts, responses, has_eos.tolist()):
        ids = encode_prompts(reward_tokenizer, [p])[0] + reward_tokenizer(r, add_special_tokens=False)["input_ids"]
        if eos:
            ids.append(reward_tokenizer.eos_token_id)
        rows.append(ids)
    pad = reward_tokenizer.pad_token_id if reward_tokenizer.pad_token_id is not None else 0
    return sequence_scores(reward_model, *pad_sequences(rows, pad, "right", device))


def _check_scores(scores: torch.Tensor, prompts: Sequence[str], responses: Sequence[str]) -> None:
    bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
    if bad:
        i = bad[0]
        raise ValueError(f"the reward model returned a non-finite score ({scores[i].item()}) for row(s) {bad[:5]}"
                         f"{' …' if len(bad) > 5 else ''}, e.g. prompt {prompts[i][-60:]!r} → response "
                         f"{responses[i][:60]!r}. A NaN score would poison every advantage in the batch; check the "
                         "reward model's weights (NaN after training?) and its dtype")


# --------------------------------------------------------------------------- the trained pair


class PolicyAndValue(torch.nn.Module):
    r"""The policy and the value function under one module, so one optimizer, one
    ``accelerator.prepare`` and (under DDP) one gradient all-reduce cover both.

    * ``value_model`` given (a scalar-head model, e.g. a copy of the reward model — TRL's default):
      a separate trunk, $V(s_t)$ = its head at position $P - 1 + t$;
    * ``value_model=None``: a **value head** — one ``Linear(hidden, 1)`` on the policy's own last
      hidden states (the older ``AutoModelForCausalLMWithValueHead`` design): one forward and one
      backward pass instead of two, at the price of value-loss gradients reaching the policy's trunk
      (kept small by ``vf_coef``). The head starts at zero, so the first values are 0.

    ``forward`` returns ``(logits (B, T, V), values (B, T))`` for the response positions; the rollout
    and the update both call it, so the stored and recomputed log-probs come from the same code.
    """

    def __init__(self, policy, value_model=None):
        super().__init__()
        self.policy = policy
        self.value_model = value_model
        if value_model is None:
            hidden = policy.get_output_embeddings().in_features
            self.value_head = torch.nn.Linear(hidden, 1)
            torch.nn.init.zeros_(self.value_head.weight)
            torch.nn.init.zeros_(self.value_head.bias)
        else:
            _backbone_and_head(value_model)  # fail early with the fix if it has no scalar head
            self.value_head = None

    def forward(self, query_ids, query_mask, response_ids, response_mask):
        if self.value_model is not None:
            logits = response_logits(self.policy, query_ids, query_mask, response_ids, response_mask)
            values = token_values(self.value_model, query_ids, query_mask, response_ids, response_mask)
            return logits, values
        input_ids, attention_mask, position_ids = join(query_ids, query_mask, response_ids, response_mask)
        trunk = getattr(self.policy, self.policy.base_model_prefix)
        hidden = trunk(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                       use_cache=False).last_hidden_state
        h = hidden[:, query_ids.shape[1] - 1 : -1]  # the states s_t that chose each response token
        logits = self.policy.get_output_embeddings()(h)
        return logits, self.value_head(h).squeeze(-1).float()


# --------------------------------------------------------------------------- one rollout


@torch.no_grad()
def collect_rollout(model: PolicyAndValue, ref_model, reward_model, tokenizer, prompts: Sequence[str], *,
                    response_length: int, temperature: float, seed: int, reward_tokenizer=None,
                    forward_batch_size: int | None = None) -> Rollout:
    """Sample responses to ``prompts`` with ``model.policy`` and compute everything PPO needs from them.

    ``forward_batch_size`` splits the scoring forward passes into chunks (memory); the result does
    not depend on it. The reward model's raw scores are returned; penalties are the trainer's job.
    Non-finite scores raise a ``ValueError`` naming the rows.
    """
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    query_ids, query_mask = left_pad(encode_prompts(tokenizer, prompts), tokenizer.pad_token_id, device)
    response_ids, response_mask, has_eos = sample_responses(
        model.policy, tokenizer, query_ids, query_mask, response_length=response_length, temperature=temperature,
        seed=seed)
    t1 = time.perf_counter()
    retokenize = check_reward_tokenizer(reward_model, tokenizer, reward_tokenizer)

    n = len(prompts)
    step = forward_batch_size or n
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("logprobs", "entropy", "ref_logprobs", "values", "scores")}
    for s in range(0, n, step):
        q, qm, r, rm = query_ids[s:s + step], query_mask[s:s + step], response_ids[s:s + step], response_mask[s:s + step]
        logits, values = model(q, qm, r, rm)
        parts["logprobs"].append(F.logprobs_from_logits(logits, r, temperature))
        parts["entropy"].append(F.entropy_from_logits(logits, temperature))
        parts["values"].append(values)
        parts["ref_logprobs"].append(response_logprobs(ref_model, q, qm, r, rm, temperature))
        if not retokenize:
            ids, mask, _ = join(q, qm, r, rm)
            parts["scores"].append(sequence_scores(reward_model, ids, mask))
    out = {k: torch.cat(v) for k, v in parts.items() if v}
    responses = tokenizer.batch_decode(response_ids.masked_fill(response_mask == 0, tokenizer.pad_token_id),
                                       skip_special_tokens=True)
    if retokenize:
        out["scores"] = score_responses(reward_model, reward_tokenizer, prompts, responses, has_eos, device)
    _check_scores(out["scores"], prompts, responses)
    m = response_mask.float()
    return Rollout(query_ids=query_ids, query_mask=query_mask, response_ids=response_ids, response_mask=response_mask,
                   has_eos=has_eos, logprobs=out["logprobs"] * m, ref_logprobs=out["ref_logprobs"] * m,
                   values=out["values"].float() * m, scores=out["scores"], entropy=out["entropy"] * m,
                   prompts=list(prompts), responses=responses,
                   timings={"generate": t1 - t0, "score": time.perf_counter() - t1})
