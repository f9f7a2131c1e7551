r"""Tokenisation with label masks: prompt and response tokenised *separately*, then concatenated.

For a prompt $X$ and response $Y$, one training example is

$$\text{input\_ids} = [\text{BOS}] \,\Vert\, \text{tok}(X) \,\Vert\, \text{tok}(Y) \,\Vert\, [\text{EOS}],\qquad
\text{labels} = [-100]^{1+|\text{tok}(X)|} \,\Vert\, \text{tok}(Y) \,\Vert\, [\text{EOS}].$$

Why separately: the seed guide tokenises the prompt and the *full text* and masks
``len(tok(prompt))`` tokens. A byte-level BPE need not split ``prompt + response`` at the seam:
with the seed's ``"Output: "`` (trailing space), the prompt ends in a lone ``" "`` token while the
full text merges it into ``" 4"`` — so the prompt is one token longer than its share of the full
text and the mask eats the first answer token. Concatenating ids makes the seam exact by
construction. EOS is a target: without it the model never learns to stop.

**Truncation policy** (``max_length``): ``"right"`` cuts the end of an over-long example (the
response loses its tail, maybe its EOS); an example left with *no* target token — its prompt alone
fills ``max_length`` — is dropped and counted, never turned into a 0/0 loss. ``"drop"`` drops every
example that does not fit, so every kept example keeps its EOS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from llmcourse.sft.loss import IGNORE_INDEX

__all__ = ["build_example", "tokenize_segments", "truncate_example", "TokenizeStats", "TRUNCATION_POLICIES"]

TRUNCATION_POLICIES = ("right", "drop")


def build_example(prompt_ids: Sequence[int], response_ids: Sequence[int], bos_token_id: int | None,
                  eos_token_id: int) -> dict[str, list[int]]:
    r"""Input ids and labels for one (prompt, response) pair, the prompt masked with ``-100``.

    ``input_ids = [BOS] + prompt + response + [EOS]``; ``labels`` equal ``input_ids`` except ``-100``
    on BOS and the prompt. ``bos_token_id=None`` (a tokenizer without BOS) prepends nothing.

    >>> build_example([10, 11], [20], bos_token_id=1, eos_token_id=2)
    {'input_ids': [1, 10, 11, 20, 2], 'labels': [-100, -100, -100, 20, 2]}
    """
    head = ([bos_token_id] if bos_token_id is not None else []) + list(prompt_ids)
    target = list(response_ids) + [eos_token_id]
    return {"input_ids": head + target, "labels": [IGNORE_INDEX] * len(head) + target}


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def tokenize_segments(segments: Sequence[tuple[str, bool]], tokenizer, *, completion_only_loss: bool = True,
                      add_bos: bool = True) -> dict[str, list[int]]:
    """Tokenise ``(text, is_target)`` pieces one by one and concatenate; EOS follows every target.

    With ``completion_only_loss=False`` every token after BOS is a target (plain language modelling
    of the whole conversation).
    """
    bos = tokenizer.bos_token_id if add_bos else None
    ids: list[int] = [bos] if bos is not None else []
    labels: list[int] = [IGNORE_INDEX] * len(ids)
    for text, is_target in segments:
        piece = _encode(tokenizer, text)
        if is_target:
            piece = piece + [tokenizer.eos_token_id]
        ids += piece
        labels += piece if (is_target or not completion_only_loss) else [IGNORE_INDEX] * len(piece)
    return {"input_ids": ids, "labels": labels}


def truncate_example(example: dict[str, list[int]], max_length: int | None, policy: str = "right") -> dict[str, list[int]] | None:
    """Apply the truncation policy; ``None`` means "drop this example" (no target token would remain)."""
    if policy not in TRUNCATION_POLICIES:
        raise ValueError(f"truncation must be one of {TRUNCATION_POLICIES}, got {policy!r}")
    n = len(example["input_ids"])
    if max_length is None or n <= max_length:
        return example
    if policy == "drop":
        return None
    labels = example["labels"][:max_length]
    # labels[0] is never a target after the shift: at least one target must sit at index >= 1
    if all(t == IGNORE_INDEX for t in labels[1:]):
        return None
    return {"input_ids": example["input_ids"][:max_length], "labels": labels}


@dataclass
class TokenizeStats:
    """What tokenisation did to a dataset: kept / truncated / dropped counts and token totals."""

    total: int = 0
    kept: int = 0
    truncated: int = 0
    dropped: int = 0
    dropped_where: list[str] = field(default_factory=list)  # first few locations of dropped examples
    tokens: int = 0
    target_tokens: int = 0

    def __str__(self) -> str:
        s = (f"{self.kept}/{self.total} examples kept ({self.truncated} truncated, {self.dropped} dropped: "
             f"no response token left within max_length); {self.tokens} tokens, {self.target_tokens} targets")
        if self.dropped_where:
            s += f"; dropped e.g. {', '.join(self.dropped_where[:3])}"
        return s


def tokenize_all(items: Sequence[tuple[str, Callable[[], dict[str, list[int]]]]], max_length: int | None,
                 truncation: str) -> tuple[list[dict[str, list[int]]], TokenizeStats]:
    """Run each ``(where, make_example)`` and apply the truncation policy, counting what happened."""
    stats = TokenizeStats(total=len(items))
    out: list[dict[str, list[int]]] = []
    for where, make in items:
        ex = make()
        if not any(t != IGNORE_INDEX for t in ex["labels"][1:]):
            raise ValueError(f"{where}: no target token (labels are all -100); "
                             "the response must be non-empty and marked as a target")
        cut = truncate_example(ex, max_length, truncation)
        if cut is None:
            stats.dropped += 1
            if len(stats.dropped_where) < 5:
                stats.dropped_where.append(where)
            continue
        stats.truncated += cut is not ex
        stats.kept += 1
        stats.tokens += len(cut["input_ids"])
        stats.target_tokens += sum(t != IGNORE_INDEX for t in cut["labels"][1:])
        out.append(cut)
    return out, stats
