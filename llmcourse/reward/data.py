r"""Preference data: pair records, rankings turned into pairs, tokenisation, batches.

* A **pair record** is ``{"prompt", "chosen", "rejected"}`` (optional ``"margin"``: a number, larger
  for clearer preferences; optional ``"group"``: pairs with the same group are batched together).
  Read files with :func:`llmcourse.preferences.load_preference_pairs` (re-exported here): it also
  reads TRL's conversational shapes, HH-RLHF implicit-prompt pairs and UltraFeedback; every problem
  raises :class:`~llmcourse.records.RecordError` naming file:line (or index) and field.
* A **ranking record** is ``{"prompt", "responses": [...], "ranks": [...]}`` (rank 1 = best; equal
  ranks = a tie; ``ranks`` omitted = responses listed best first). InstructGPT (Ouyang et al., 2022)
  turns a ranking of $K$ responses into all $\binom{K}{2} = K(K-1)/2$ pairs and keeps one prompt's
  pairs together in a batch, so the model sees each comparison once per epoch instead of fitting the
  same response $K-1$ times in different batches. Ties give no pair (the Bradley–Terry likelihood
  has no term for "equally good"); ``ties="error"`` refuses them instead.
* **Tokenisation**: ``[BOS] + prompt ids + response ids + [EOS]`` — prompt and response tokenised
  separately and concatenated (the same ids the policy produces during PPO), EOS appended so the
  score is read at a token that marks "the response ended here". A pair longer than ``max_length``
  is **dropped and counted**, never truncated: truncation would cut the EOS, and the score would be
  read somewhere in the middle of the response.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from llmcourse.preferences import load_preference_pairs, validate_pair  # noqa: F401 — the reader lives there
from llmcourse.records import RecordError, read_records, require_str
from llmcourse.rl.rollout import pad_sequences  # one padding helper for every stage

TIES = ("skip", "error")


# --------------------------------------------------------------------------- pair records


def validate_pairs(pairs: Sequence[dict[str, Any]], name: str = "pairs") -> list[dict[str, Any]]:
    """Check a list of pair records (errors name ``pairs[i]``); an empty list is an error."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"{name} must be a list of dicts with 'prompt', 'chosen', 'rejected'; got {type(pairs).__name__}")
    if len(pairs) == 0:
        raise ValueError(f"{name} is empty: a reward model needs at least one (chosen, rejected) pair")
    out = [validate_pair(p, f"{name}[{i}]") for i, p in enumerate(pairs)]
    margins = sum("margin" in p for p in out)
    if 0 < margins < len(out):
        first = next(i for i, p in enumerate(out) if "margin" not in p)
        raise RecordError(f"{name}[{first}]: has no 'margin' while other pairs do; give every pair a margin "
                          "(0 for 'no margin') or none of them")
    return out


# --------------------------------------------------------------------------- rankings


def ranking_to_pairs(responses: Sequence[str], ranks: Sequence[int] | None = None, *,
                     ties: str = "skip") -> list[tuple[str, str]]:
    r"""All (chosen, rejected) pairs of one ranking: for every two positions $i < j$ (in the order
    given), the response with the better (smaller) rank is *chosen*.

    ``ranks=None`` means ``responses`` are listed best first (ranks 1, 2, …, K). $K$ responses with
    distinct ranks give $\binom{K}{2} = K(K-1)/2$ pairs; a tie (equal ranks) gives no pair
    (``ties="skip"``) or an error (``ties="error"``). Repeated response texts are an error: the same
    answer cannot be both better and worse than itself.

    >>> ranking_to_pairs(["A", "B", "C"])
    [('A', 'B'), ('A', 'C'), ('B', 'C')]
    >>> ranking_to_pairs(["A", "B", "C"], ranks=[2, 1, 2])
    [('B', 'A'), ('B', 'C')]
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if isinstance(responses, str) or not isinstance(responses, Sequence):
        raise TypeError(f"responses must be a list of strings, got {type(responses).__name__}")
    for i, r in enumerate(responses):
        if not isinstance(r, str):
            raise TypeError(f"responses[{i}] is {type(r).__name__}; expected a string")
    if len(responses) < 2:
        raise ValueError(f"a ranking needs at least 2 responses to compare; got {len(responses)}")
    seen: dict[str, int] = {}
    for i, r in enumerate(responses):
        if r in seen:
            raise ValueError(f"responses[{i}] repeats responses[{seen[r]}] ({r!r:.40}); "
                             "each response may appear once in a ranking — remove the duplicate")
        seen[r] = i
    if ranks is None:
        ranks = list(range(1, len(responses) + 1))
    if len(ranks) != len(responses):
        raise ValueError(f"{len(ranks)} ranks for {len(responses)} responses; give one rank per response")
    for i, k in enumerate(ranks):
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"ranks[{i}] is {k!r}; ranks must be integers (1 = best)")
    pairs = []
    for i in range(len(responses)):
        for j in range(i + 1, len(responses)):
            if ranks[i] == ranks[j]:
                if ties == "error":
                    raise ValueError(f"responses {i} and {j} are tied (rank {ranks[i]}); pass ties='skip' to drop tied "
                                     "pairs, or break the tie in the data")
                continue
            better, worse = (i, j) if ranks[i] < ranks[j] else (j, i)
            pairs.append((responses[better], responses[worse]))
    return pairs


def validate_ranking(rec: dict[str, Any], where: str = "ranking") -> dict[str, Any]:
    """A checked ranking record ``{"prompt", "responses", "ranks"?}`` (errors name ``where`` and the field)."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: record is {type(rec).__name__}; expected a dict with 'prompt' and 'responses'")
    prompt = require_str(rec, "prompt", where, allow_empty=True, hint="a ranking record needs 'prompt' and 'responses'")
    responses = rec.get("responses")
    if not isinstance(responses, list):
        raise RecordError(f"{where}: field 'responses' must be a list of strings (best first, or with 'ranks'); "
                          f"got {type(responses).__name__ if 'responses' in rec else 'nothing'}")
    for i, r in enumerate(responses):
        if not isinstance(r, str) or not r.strip():
            raise RecordError(f"{where}: responses[{i}] must be a non-empty string, got {r!r:.40}")
    ranks = rec.get("ranks")
    if ranks is not None and not isinstance(ranks, list):
        raise RecordError(f"{where}: field 'ranks' must be a list of integers (1 = best), got {type(ranks).__name__}")
    try:
        ranking_to_pairs(responses, ranks, ties="skip")
    except (ValueError, TypeError) as exc:
        raise RecordError(f"{where}: {exc}") from exc
    return {"prompt": prompt, "responses": list(responses), **({"ranks": list(ranks)} if ranks is not None else {})}


def load_rankings(path) -> list[dict[str, Any]]:
    """Read and validate ranking records from a ``.json`` array or ``.jsonl`` file."""
    return [validate_ranking(loc.record, loc.where) for loc in read_records(path)]


def rankings_to_pairs(rankings: Sequence[dict[str, Any]], *, ties: str = "skip") -> list[dict[str, Any]]:
    """Pair records from ranking records; each ranking's pairs share a ``group`` (its index), so the
    trainer batches them together. A ranking whose responses are all tied yields no pair; if no
    ranking yields any pair that is an error."""
    out: list[dict[str, Any]] = []
    for g, rec in enumerate(rankings):
        rec = validate_ranking(rec, f"rankings[{g}]")
        for chosen, rejected in ranking_to_pairs(rec["responses"], rec.get("ranks"), ties=ties):
            out.append({"prompt": rec["prompt"], "chosen": chosen, "rejected": rejected, "group": g})
    if not out:
        raise ValueError(f"the {len(rankings)} ranking(s) gave no pairs (every response tied, or no rankings)")
    return out


# --------------------------------------------------------------------------- tokenisation


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """``[BOS] + ids(prompt)``; BOS is added when the tokenizer has one and the prompt does not already
    start with it (the embedded tokenizer adds no special tokens by itself)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and not (
        tokenizer.bos_token and prompt.startswith(tokenizer.bos_token)) else []
    return bos + (list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else [])


def _response_ids(tokenizer, response: str) -> list[int]:
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; set tokenizer.eos_token so responses can end "
                         "(the reward is read at the EOS)")
    return list(tokenizer(response, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]


def encode_response(tokenizer, prompt: str, response: str) -> list[int]:
    """``[BOS] + ids(prompt) + ids(response) + [EOS]``, prompt and response tokenised separately (so
    the prompt's ids are a prefix, identical for the chosen and the rejected response)."""
    return encode_prompt(tokenizer, prompt) + _response_ids(tokenizer, response)


class PreferenceDataset(torch.utils.data.Dataset):
    """Tokenised preference pairs: item ``i`` is ``{"chosen_ids", "rejected_ids", "prompt_len", "group",
    "margin"?}`` (the first ``prompt_len`` ids, ``[BOS] + prompt``, are shared by both sequences).

    Pairs whose chosen or rejected sequence is longer than ``max_length`` tokens are dropped and
    counted in :attr:`n_filtered` (never truncated: the EOS where the score is read must stay).
    """

    def __init__(self, pairs: Sequence[dict[str, Any]], tokenizer, max_length: int, *, name: str = "pairs"):
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an integer ≥ 2, got {max_length!r}")
        pairs = validate_pairs(pairs, name)
        self.max_length = max_length
        self.examples: list[dict[str, Any]] = []
        self.n_filtered = 0
        self.longest = 0
        for i, p in enumerate(pairs):
            prompt_ids = encode_prompt(tokenizer, p["prompt"])  # tokenised once, shared by both sequences
            c = prompt_ids + _response_ids(tokenizer, p["chosen"])
            r = prompt_ids + _response_ids(tokenizer, p["rejected"])
            self.longest = max(self.longest, len(c), len(r))
            if len(c) > max_length or len(r) > max_length:
                self.n_filtered += 1
                continue
            ex = {"chosen_ids": c, "rejected_ids": r, "prompt_len": len(prompt_ids),
                  "group": p.get("group", f"pair-{i}")}
            if "margin" in p:
                ex["margin"] = p["margin"]
            self.examples.append(ex)
        if not self.examples:
            raise ValueError(f"all {len(pairs)} {name} are longer than max_length={max_length} tokens (longest: "
                             f"{self.longest}); raise max_length — pairs are dropped, not truncated, so the EOS is kept")

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.examples[i]

    @property
    def groups(self) -> list:
        return [ex["group"] for ex in self.examples]


class PreferenceCollator:
    """Batch ``B`` pairs for one forward pass: rows ``0..B-1`` chosen, ``B..2B-1`` rejected, so
    ``scores[:B]`` / ``scores[B:]`` are the chosen / rejected rewards.

    ``share_prompt=False``: ``input_ids`` / ``attention_mask`` (2B, T) hold whole right-padded
    sequences. ``share_prompt=True``: the prompt, common to both responses, is sent once —
    ``prompt_ids`` / ``prompt_mask`` (B, P) left-padded (every prompt ends at column P−1) — and
    ``input_ids`` / ``attention_mask`` (2B, R) hold only the right-padded responses (+ EOS); the model
    encodes each prompt once and reuses its keys/values for both responses
    (:func:`llmcourse.reward.model.reward_scores_shared_prompt`). When pairs carry margins: ``margin`` (B,).
    """

    def __init__(self, pad_token_id: int, padding_side: str = "right", *, share_prompt: bool = False):
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side
        self.share_prompt = share_prompt

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("empty batch: the collator got no pairs")
        if self.share_prompt and all(ex.get("prompt_len", 0) > 0 for ex in examples):
            prompts = [ex["chosen_ids"][: ex["prompt_len"]] for ex in examples]
            responses = ([ex["chosen_ids"][ex["prompt_len"]:] for ex in examples]
                         + [ex["rejected_ids"][ex["prompt_len"]:] for ex in examples])
            p_ids, p_mask = pad_sequences(prompts, self.pad_token_id, "left")
            ids, mask = pad_sequences(responses, self.pad_token_id, "right")
            batch = {"input_ids": ids, "attention_mask": mask, "prompt_ids": p_ids, "prompt_mask": p_mask}
        else:
            seqs = [ex["chosen_ids"] for ex in examples] + [ex["rejected_ids"] for ex in examples]
            ids, mask = pad_sequences(seqs, self.pad_token_id, self.padding_side)
            batch = {"input_ids": ids, "attention_mask": mask}
        if "margin" in examples[0]:
            batch["margin"] = torch.tensor([float(ex["margin"]) for ex in examples], dtype=torch.float32)
        return batch


class GroupedBatchSampler:
    """Batches of whole groups: ``batch_size`` groups per batch (a group = all pairs of one ranking,
    or a single pair), groups shuffled each epoch with a ``torch.Generator`` seeded by ``seed + epoch``.

    With one pair per group (plain pair data) this is ordinary shuffled batching of ``batch_size``
    pairs. Deterministic: every process of a distributed run builds the same batches, and Accelerate
    hands each process its share.
    """

    def __init__(self, groups: Sequence, batch_size: int, *, seed: int = 0, shuffle: bool = True, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        order: dict[Any, list[int]] = {}
        for i, g in enumerate(groups):
            order.setdefault(g, []).append(i)
        self.members = list(order.values())
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.members)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            perm = torch.randperm(len(self.members), generator=gen).tolist()
        else:
            perm = list(range(len(self.members)))
        self.epoch += 1
        for start in range(0, len(perm), self.batch_size):
            chunk = perm[start : start + self.batch_size]
            if self.drop_last and len(chunk) < self.batch_size:
                return
            yield [i for g in chunk for i in self.members[g]]
