r"""The model glue every RL stage shares (PPO, GRPO): prompts → left-padded ids → sampled responses →
log-probs of the tokens taken.

1. :func:`encode_prompts` + :func:`left_pad` — prompts become ids (BOS prepended) padded on the
   **left**, so every row's last prompt token sits in the same column and generation continues right
   after it;
2. :func:`sample_responses` — ``model.generate`` samples with plain temperature sampling
   (``top_k=0``, ``top_p=1``: the policy whose log-probs RL uses is exactly the distribution
   sampled from), then :func:`~llmcourse.rl.functional.truncate_after_eos` cuts each response after
   its first EOS and builds the response mask (``group_size``: rows that are G copies of one prompt,
   GRPO's groups, run the prompt once and share its key/value cache);
3. :func:`join` — prompt + response as one (B, P + T) batch with ``position_ids`` that follow the
   attention mask (left padding would otherwise shift every position);
4. :func:`response_logits` / :func:`response_logprobs` — the logits that predicted each response
   token and $\log\pi(a_t\mid s_t)$ (temperature-scaled).

Column $t$ of every (B, T) tensor refers to response token $a_t$: ``logprobs[:, t]`` is
$\log\pi(a_t\mid s_t)$, computed from the logits at position $P - 1 + t$ of the joined sequence (the
position that *predicted* $a_t$). PPO adds values and reward-model scores
(:mod:`llmcourse.ppo.rollout`); GRPO adds groups and reward functions (:mod:`llmcourse.grpo.trainer`).
"""

from __future__ import annotations

from typing import Sequence

import torch

from llmcourse import training
from llmcourse.rl import functional as F

__all__ = ["encode_prompts", "pad_sequences", "left_pad", "position_ids_from_mask", "join", "sample_responses",
           "policy_samples", "response_logits", "response_logprobs", "sampled_kl"]


# --------------------------------------------------------------------------- tokens


def encode_prompts(tokenizer, prompts: Sequence[str], add_bos: bool = True) -> list[list[int]]:
    """Token ids of each prompt, with the tokenizer's BOS prepended once (as in SFT and ``models.generate``).

    Empty prompts are refused: with nothing to condition on, the "state" of the first action is
    undefined and the reward model cannot judge an answer to no question.
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, got a single string; wrap it: [prompt]")
    out = []
    bos = tokenizer.bos_token_id if add_bos else None
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] is {type(p).__name__}, expected str (the formatted prompt text)")
        if not p.strip():
            raise ValueError(f"prompts[{i}] is empty; every RL prompt needs text to respond to")
        ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        out.append(ids)
    return out


def pad_sequences(seqs: Sequence[Sequence[int]], pad_token_id: int, padding_side: str = "right",
                  device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id lists to one length: ``(input_ids, attention_mask)``, both (N, T_max) long, on ``device``.

    ``padding_side="left"`` puts every row's last token in the last column (prompts for generation);
    ``"right"`` keeps every row's first token in column 0 (training and scoring batches)."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if pad_token_id is None:
        raise ValueError("no pad token id; call llmcourse.models.ensure_pad_token(tokenizer, model)")
    if not seqs:
        raise ValueError("nothing to pad: empty batch")
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s) == 0:
            raise ValueError(f"sequence {i} is empty; every sequence needs at least one token")
        sl = slice(0, len(s)) if padding_side == "right" else slice(width - len(s), width)
        ids[i, sl] = torch.as_tensor(list(s), dtype=torch.long)
        mask[i, sl] = 1
    return ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)  # queued: no device sync


def left_pad(sequences: Sequence[Sequence[int]], pad_token_id: int, device=None):
    """Pad on the left to the longest sequence (prompts before generation). Returns ``(ids, mask)``, both (B, P) long."""
    return pad_sequences(sequences, pad_token_id, "left", device)


def position_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    r"""Positions that count real tokens only: $p_j = \sum_{i \le j} m_i - 1$ (0 on left padding),
    the same rule ``generate`` uses, so a left-padded row gets the positions it would have alone.
    Shapes: (B, L) -> (B, L)."""
    return (mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def join(query_ids, query_mask, response_ids, response_mask):
    """Prompt + response as one batch: ``(input_ids, attention_mask, position_ids)``, each (B, P + T)."""
    input_ids = torch.cat([query_ids, response_ids], dim=1)
    attention_mask = torch.cat([query_mask, response_mask], dim=1).long()
    return input_ids, attention_mask, position_ids_from_mask(attention_mask)


# --------------------------------------------------------------------------- generation


@torch.no_grad()
def sample_responses(model, tokenizer, query_ids, query_mask, *, response_length: int, temperature: float = 1.0,
                     seed: int = 0, do_sample: bool = True, group_size: int = 1):
    r"""Sample one response per prompt, $a_t \sim \mathrm{softmax}(z_t/\tau)$ — no top-k, no top-p —
    and cut it after its first EOS (``do_sample=False``: greedy decoding, for evaluation).

    ``generate`` draws from the global RNG, so it runs inside ``torch.random.fork_rng`` seeded with
    ``seed``: the caller's random state is untouched and the same seed gives the same responses.
    ``group_size`` > 1: the rows come in runs of that many copies of one prompt (GRPO's groups); each
    prompt is then run through the model once and its key/value cache repeated for its copies (the
    same responses, for about 1/``group_size`` of the prompt's compute; rows that are not such runs, or
    a model whose ``forward`` takes no cache, are sampled as usual).
    Returns ``(response_ids, response_mask, has_eos)`` with ``T = response_length`` columns.
    """
    sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if do_sample else dict(do_sample=False)
    devices = [query_ids.device] if query_ids.device.type == "cuda" else []
    cached = _shared_prompt_cache(model, query_ids, query_mask, group_size) if group_size > 1 else {}
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=query_ids, attention_mask=query_mask, max_new_tokens=response_length,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **sampling, **cached,
        )
    response = out[:, query_ids.shape[1]:]
    if response.shape[1] < response_length:  # every row stopped early: pad to a fixed width
        pad = torch.full((response.shape[0], response_length - response.shape[1]), tokenizer.pad_token_id,
                         dtype=response.dtype, device=response.device)
        response = torch.cat([response, pad], dim=1)
    return F.truncate_after_eos(response, tokenizer.eos_token_id, tokenizer.pad_token_id)


def _shared_prompt_cache(model, query_ids, query_mask, group_size: int) -> dict:
    """``{cache argument: cache}`` for ``generate``: every prompt token but the last (which ``generate``
    runs itself, to get the first logits) run once per group, the cache repeated ``group_size`` times;
    ``{}`` when the rows are not runs of ``group_size`` identical prompts or the model takes no cache."""
    b, p = query_ids.shape
    if b % group_size or p < 2:
        return {}
    ids, mask = query_ids.view(-1, group_size, p), query_mask.view(-1, group_size, p)
    if not (torch.equal(ids, ids[:, :1].expand_as(ids)) and torch.equal(mask, mask[:, :1].expand_as(mask))):
        return {}
    name = training.cache_argument(model)
    if name is None:
        return {}
    first_ids, first_mask = ids[:, 0, :-1], mask[:, 0, :-1]
    with torch.no_grad():
        out = model(input_ids=first_ids, attention_mask=first_mask, position_ids=position_ids_from_mask(first_mask),
                    use_cache=True, logits_to_keep=1)
    cache = training.returned_cache(out)
    if not hasattr(cache, "batch_select_indices"):  # a legacy tuple (older transformers): sample as usual
        return {}
    cache.batch_select_indices(torch.arange(first_ids.shape[0], device=query_ids.device).repeat_interleave(group_size))
    return {name: cache}


def policy_samples(policy, tokenizer, prompts: list[str], *, response_length: int, temperature: float = 1.0,
                   seed: int = 0, batch_size: int = 64) -> list[str]:
    """A policy's sampled answer to each prompt, decoded as generated (leading space included), in
    batches of ``batch_size`` (batch ``s`` sampled with seed ``seed + s``): the answers a labeller judges
    when a reward model learns from the policy's own distribution."""
    out = []
    for s in range(0, len(prompts), batch_size):
        q, qm = left_pad(encode_prompts(tokenizer, prompts[s:s + batch_size]), tokenizer.pad_token_id)
        ids, _, _ = sample_responses(policy, tokenizer, q, qm, response_length=response_length,
                                     temperature=temperature, seed=seed + s)
        out += tokenizer.batch_decode(ids, skip_special_tokens=True)
    return out


# --------------------------------------------------------------------------- forward passes


def response_logits(model, query_ids, query_mask, response_ids, response_mask) -> torch.Tensor:
    r"""Logits that predicted each response token: position $P - 1 + t$ of the joined sequence for
    $a_t$. Only the last $T + 1$ positions go through the LM head (``logits_to_keep``).
    Shapes: query (B, P), response (B, T) -> (B, T, V)."""
    input_ids, attention_mask, position_ids = join(query_ids, query_mask, response_ids, response_mask)
    T = response_ids.shape[1]
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                logits_to_keep=T + 1, use_cache=False)
    return out.logits[:, :-1, :]


def response_logprobs(model, query_ids, query_mask, response_ids, response_mask, temperature: float,
                      with_entropy: bool = False):
    r"""$\log\pi(a_t \mid s_t)$ for every response token (temperature-scaled), shape (B, T);
    with ``with_entropy=True`` also the per-position entropy (B, T)."""
    logits = response_logits(model, query_ids, query_mask, response_ids, response_mask)
    logp = F.logprobs_from_logits(logits, response_ids, temperature)
    if with_entropy:
        return logp, F.entropy_from_logits(logits, temperature)
    return logp


@torch.no_grad()
def sampled_kl(policy, ref_model, tokenizer, prompts: Sequence[str], *, response_length: int, temperature: float = 1.0,
               seed: int = 0, batch_size: int = 64) -> float:
    r"""Monte-Carlo $\mathrm{KL}(\pi\,\Vert\,\pi_{\mathrm{ref}})$ per response, in nats: one response per prompt
    sampled from ``policy`` (seeded, batch ``s`` with seed ``seed + s``), then the mean over prompts of
    $\sum_t \log\pi(a_t\mid s_t) - \log\pi_{\mathrm{ref}}(a_t\mid s_t)$ (the k1 estimator summed over the
    response, EOS included; temperature-scaled log-probs on both sides, the true KL at ``temperature=1``).
    The same measure for any two models of one tokenizer, whatever trained them: the demo's "KL to
    the SFT model" of every method. ``policy`` is ``ref_model`` → exactly 0."""
    if policy is ref_model:
        return 0.0
    device = next(policy.parameters()).device
    total, n = 0.0, 0
    for s in range(0, len(prompts), batch_size):
        q, qm = left_pad(encode_prompts(tokenizer, prompts[s:s + batch_size]), tokenizer.pad_token_id, device)
        ids, mask, _ = sample_responses(policy, tokenizer, q, qm, response_length=response_length,
                                        temperature=temperature, seed=seed + s)
        logp = response_logprobs(policy, q, qm, ids, mask, temperature)
        ref = response_logprobs(ref_model.to(device), q, qm, ids, mask, temperature)
        total += float(F.kl_per_token(logp, ref, mask).sum())
        n += len(ids)
    return total / max(1, n)
