r"""DPO data: preference pairs rendered with a template, tokenised with response-only labels, batched.

A pair is rendered to three texts, ``(prompt, chosen, rejected)``, then tokenised the way every
stage of the course does it — prompt and response separately, ids concatenated — into two
sequences that share their prompt:

$$\text{chosen} = [\text{BOS}]\,\Vert\,\text{tok}(x)\,\Vert\,\text{tok}(y_w)\,\Vert\,[\text{EOS}], \qquad
\text{labels} = [-100]^{1+|\text{tok}(x)|}\,\Vert\,\text{tok}(y_w)\,\Vert\,[\text{EOS}]$$

(and the same for $y_l$), so :func:`llmcourse.dpo.functional.sequence_logprobs` sums exactly the
response tokens and the EOS. A pair longer than ``max_length`` is dropped and counted, never
truncated (a truncated response is a different response).

**Formats**: every shape :mod:`llmcourse.preferences` reads — text pairs, HH-RLHF's implicit prompt,
TRL's conversational and implicit-message pairs, UltraFeedback, OpenAI's preference JSONL — from a file
or a list of records, and ranking records (``{"prompt", "responses", "ranks"}``, all their pairs).

**Templates** (``template=``): a text prompt is used as it is with ``None`` (pairs whose prompt is
already rendered, e.g. :func:`llmcourse.reward.task_pairs`), and is wrapped as the instruction of
``"alpaca"``, ``"simple"`` or ``"chat"`` (a user turn in the tokenizer's own chat template) — rendered
by :func:`llmcourse.sft.render`, the function SFT uses, so DPO sees prompts exactly as the SFT model
did; a function ``Example -> (prompt, response)`` does anything else. A conversation keeps its system
prompt and earlier turns and is rendered by :func:`llmcourse.preferences.render_pair` (``None``: the
tokenizer's chat template when it has one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from llmcourse.preferences import PreferencePair, parse_preference, read_preference_records
from llmcourse.preferences import render_pair as render_conversation
from llmcourse.records import RecordError
from llmcourse.reward.data import encode_prompt, rankings_to_pairs
from llmcourse.sft.batching import pad_collate
from llmcourse.sft.data import Example, render
from llmcourse.sft.loss import IGNORE_INDEX

__all__ = ["as_pairs", "render_pair", "encode_pair", "DPODataset", "DPOCollator"]

Template = str | Callable | None


# --------------------------------------------------------------------------- records and rendering


def _parsed(data, name: str) -> list[PreferencePair]:
    """Every record of ``data`` checked and parsed (:mod:`llmcourse.preferences`), rankings expanded."""
    if isinstance(data, (str, Path)):
        return read_preference_records(data)
    if isinstance(data, dict) or not isinstance(data, Sequence) or isinstance(data, bytes):
        raise TypeError(f"{name}: expected a file path or a list of preference records, got {type(data).__name__}")
    if len(data) == 0:
        raise RecordError(f"{name} is empty: DPO needs at least one (prompt, chosen, rejected) pair")
    if all(isinstance(r, dict) and "responses" in r for r in data):
        data = rankings_to_pairs(data)
    return [parse_preference(r, f"{name}[{i}]") for i, r in enumerate(data)]


def _render(pair: PreferencePair, template: Template, tokenizer) -> tuple[str, str, str]:
    if template is None or not isinstance(pair.prompt, str):  # conversations: the preference reader renders them
        if template is not None and not isinstance(template, str):
            raise ValueError(f"{pair.where}: a function template renders a text prompt; this record is a conversation "
                             "— use template='chat', 'simple' or 'alpaca'")
        out = render_conversation(pair, template, tokenizer)
        return out["prompt"], out["chosen"], out["rejected"]
    # a text prompt wrapped as the instruction of the template, exactly as SFT renders one
    p, chosen = render(Example(instruction=pair.prompt, output=pair.chosen), template, tokenizer)
    p2, rejected = render(Example(instruction=pair.prompt, output=pair.rejected), template, tokenizer)
    if p != p2:  # a template that lets the answer change the prompt gives the two responses different contexts
        raise ValueError(f"{pair.where}: template {template!r} renders a different prompt for the chosen and the rejected response")
    return p, chosen, rejected


def render_pair(pair: dict[str, Any], template: Template = None, tokenizer=None) -> tuple[str, str, str]:
    """``(prompt, chosen, rejected)`` texts of one preference record (any shape of
    :mod:`llmcourse.preferences`), rendered with ``template`` (see the module docstring). The
    responses carry no EOS: tokenisation appends the EOS id.

    >>> render_pair({"prompt": "Add 3 4", "chosen": "7", "rejected": "8"}, "simple")
    ('Instruction: Add 3 4\\nOutput:', ' 7', ' 8')
    """
    return _render(parse_preference(pair, "pair"), template, tokenizer)


def as_pairs(data, *, template: Template = None, tokenizer=None, name: str = "pairs") -> list[tuple[str, str, str]]:
    """``(prompt, chosen, rejected)`` texts of every pair of ``data``: a preference file or a list of
    records of any shape :mod:`llmcourse.preferences` reads, or ranking records (all their pairs). Every
    record is checked before any is rendered; errors name the file and line, or ``name[i]``, and the field."""
    return [_render(p, template, tokenizer) for p in _parsed(data, name)]


def encode_pair(tokenizer, prompt: str, chosen: str, rejected: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Token ids and labels of the chosen and the rejected sequence (see the module docstring); the
    prompt is tokenised once, so both sequences share its ids exactly."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; set tokenizer.eos_token so responses can end")
    prompt_ids = encode_prompt(tokenizer, prompt)

    def seq(response: str) -> dict[str, list[int]]:
        target = list(tokenizer(response, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
        return {"input_ids": prompt_ids + target, "labels": [IGNORE_INDEX] * len(prompt_ids) + target}

    return seq(chosen), seq(rejected)


class DPODataset(torch.utils.data.Dataset):
    """Tokenised preference pairs: item ``i`` is ``{"chosen": {"input_ids", "labels"}, "rejected": {...},
    "index": i}``, plus ``"ref_chosen_logps"`` / ``"ref_rejected_logps"`` once
    :meth:`set_reference_logps` has stored the reference model's log-probs.

    ``data``: anything :func:`as_pairs` reads. Pairs longer than ``max_length`` tokens are dropped and
    counted in :attr:`n_filtered`.
    """

    def __init__(self, data, tokenizer, *, template: Template = None, max_length: int = 256, name: str = "pairs"):
        if not isinstance(max_length, int) or max_length < 3:
            raise ValueError(f"max_length must be an integer ≥ 3 (BOS, one response token, EOS), got {max_length!r}")
        pairs = as_pairs(data, template=template, tokenizer=tokenizer, name=name)
        self.max_length = max_length
        self.items: list[dict[str, Any]] = []
        self.texts: list[tuple[str, str, str]] = []
        self.n_filtered = 0
        for texts in pairs:
            chosen, rejected = encode_pair(tokenizer, *texts)
            if max(len(chosen["input_ids"]), len(rejected["input_ids"])) > max_length:
                self.n_filtered += 1
                continue
            self.items.append({"chosen": chosen, "rejected": rejected, "index": len(self.items)})
            self.texts.append(texts)
        if not self.items:
            raise ValueError(f"all {len(pairs)} {name} are longer than max_length={max_length} tokens; raise "
                             "max_length (pairs are dropped, not truncated)")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]

    def set_reference_logps(self, chosen: torch.Tensor, rejected: torch.Tensor) -> None:
        """Store precomputed reference log-probs, one per pair (shapes (N,), (N,))."""
        if chosen.shape != (len(self),) or rejected.shape != (len(self),):
            raise ValueError(f"expected two tensors of shape ({len(self)},), got {tuple(chosen.shape)} and {tuple(rejected.shape)}")
        for item, c, r in zip(self.items, chosen.tolist(), rejected.tolist()):
            item["ref_chosen_logps"], item["ref_rejected_logps"] = c, r


class DPOCollator:
    """Batch ``B`` pairs for one forward pass: rows ``0..B-1`` chosen, ``B..2B-1`` rejected, right-padded
    (``input_ids``, ``attention_mask``, ``labels`` (2B, T), ``-100`` on prompt and padding), plus
    ``ref_chosen_logps`` / ``ref_rejected_logps`` (B,) when the items carry them and ``index`` (B,).

    >>> c = DPOCollator(pad_token_id=0)
    >>> b = c([{"chosen": {"input_ids": [1, 7, 5, 2], "labels": [-100, -100, 5, 2]},
    ...         "rejected": {"input_ids": [1, 7, 2], "labels": [-100, -100, 2]}, "index": 0}])
    >>> b["input_ids"].tolist(), b["labels"].tolist()
    ([[1, 7, 5, 2], [1, 7, 2, 0]], [[-100, -100, 5, 2], [-100, -100, 2, -100]])
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not items:
            raise ValueError("empty batch: the collator got no pairs")
        batch = pad_collate([it["chosen"] for it in items] + [it["rejected"] for it in items], self.pad_token_id)
        batch["index"] = torch.tensor([it["index"] for it in items], dtype=torch.long)
        if "ref_chosen_logps" in items[0]:
            for key in ("ref_chosen_logps", "ref_rejected_logps"):
                batch[key] = torch.tensor([it[key] for it in items], dtype=torch.float32)
        return batch
