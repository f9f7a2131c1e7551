r"""DPO data: preference pairs rendered with a template, tokenised with response-only labels, batched.

A pair is rendered to three texts, ``(prompt, chosen, rejected)``, then tokenised the way every
stage of the course does it — prompt and response separately, ids concatenated — into two
sequences that share their prompt:

$$\text{chosen} = [\text{BOS}]\,\Vert\,\text{tok}(x)\,\Vert\,\text{tok}(y_w)\,\Vert\,[\text{EOS}], \qquad
\text{labels} = [-100]^{1+|\text{tok}(x)|}\,\Vert\,\text{tok}(y_w)\,\Vert\,[\text{EOS}]$$

(and the same for $y_l$), so :func:`llmcourse.dpo.functional.sequence_logprobs` sums exactly the
response tokens and the EOS. A pair longer than ``max_length`` is dropped and counted, never
truncated (a truncated response is a different response).

**Templates** (``template=``): ``None`` uses the prompt text as it is (pairs whose prompt is
already rendered, e.g. :func:`llmcourse.reward.task_pairs`); ``"alpaca"`` and ``"simple"`` wrap the
prompt as an instruction; ``"chat"`` renders it as a user turn with the tokenizer's own chat template
(a prompt given as a list of ``{"role", "content"}`` messages keeps its system prompt and earlier
turns); a function ``Example -> (prompt, response)`` does anything else. Rendering is
:func:`llmcourse.sft.render`, the one SFT uses, so DPO sees prompts exactly as the SFT model did.

**Formats**: pair records ``{"prompt", "chosen", "rejected"}`` (:func:`llmcourse.reward.validate_pair`),
JSON/JSONL files of them (:func:`llmcourse.reward.load_preference_pairs`), ranking records
(``{"prompt", "responses", "ranks"}``, turned into all their pairs), and TRL's conversational form
(``prompt`` a list of messages, ``chosen`` / ``rejected`` one assistant message each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from llmcourse.records import RecordError
from llmcourse.reward.data import encode_prompt, load_preference_pairs, rankings_to_pairs, validate_pair
from llmcourse.sft.batching import pad_collate
from llmcourse.sft.data import Example, parse_record, render
from llmcourse.sft.loss import IGNORE_INDEX

__all__ = ["as_pairs", "render_pair", "encode_pair", "DPODataset", "DPOCollator"]

Template = str | Callable | None


# --------------------------------------------------------------------------- records


def _assistant_text(value: Any, where: str, field: str) -> str:
    """A response given as a string or as TRL's ``[{"role": "assistant", "content": ...}]``."""
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], dict) or value[0].get("role") != "assistant":
            raise RecordError(f"{where}: field {field!r} must be a string or one assistant message "
                              f"[{{'role': 'assistant', 'content': ...}}], got {value!r:.80}")
        value = value[0].get("content")
    if not isinstance(value, str):
        raise RecordError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
    return value


def _conversational(rec: dict, where: str) -> dict[str, Any]:
    """TRL's conversational pair: a message-list prompt, one assistant message per response."""
    chosen = _assistant_text(rec.get("chosen"), where, "chosen")
    rejected = _assistant_text(rec.get("rejected"), where, "rejected")
    # parse_record checks roles and turn order, naming the record
    parse_record({"messages": rec["prompt"] + [{"role": "assistant", "content": chosen}]}, where, "chat")
    checked = validate_pair({"prompt": "", "chosen": chosen, "rejected": rejected}, where)
    return {**checked, "prompt": list(rec["prompt"])}


def as_pairs(data, name: str = "pairs") -> list[dict[str, Any]]:
    """Checked pair records from a file path, a list of pair records (string or conversational
    prompts) or a list of ranking records. Errors name the file and line, or ``name[i]``, and the field."""
    if isinstance(data, (str, Path)):
        return load_preference_pairs(data)
    if isinstance(data, dict) or not isinstance(data, Sequence) or isinstance(data, bytes):
        raise TypeError(f"{name}: expected a file path or a list of preference records, got {type(data).__name__}")
    if len(data) == 0:
        raise RecordError(f"{name} is empty: DPO needs at least one (prompt, chosen, rejected) pair")
    if all(isinstance(r, dict) and "responses" in r for r in data):
        return rankings_to_pairs(data)
    out = []
    for i, rec in enumerate(data):
        where = f"{name}[{i}]"
        if isinstance(rec, dict) and isinstance(rec.get("prompt"), list):
            out.append(_conversational(rec, where))
        else:
            out.append(validate_pair(rec, where))
    return out


# --------------------------------------------------------------------------- rendering and tokenisation


def render_pair(pair: dict[str, Any], template: Template = None, tokenizer=None) -> tuple[str, str, str]:
    """``(prompt, chosen, rejected)`` texts of one checked pair, rendered with ``template`` (see the
    module docstring). The responses carry no EOS: tokenisation appends the EOS id."""
    prompt = pair["prompt"]
    if template is None:
        if isinstance(prompt, list):
            raise ValueError("a conversational prompt (a list of messages) needs template='chat' (or a function)")
        return prompt, pair["chosen"], pair["rejected"]

    def example(response: str) -> Example:
        if isinstance(prompt, list):
            return parse_record({"messages": prompt + [{"role": "assistant", "content": response}]}, "pair", "chat")
        return Example(instruction=prompt, output=response)

    p, chosen = render(example(pair["chosen"]), template, tokenizer)
    p2, rejected = render(example(pair["rejected"]), template, tokenizer)
    if p != p2:  # a template that lets the answer change the prompt would give the two responses different contexts
        raise ValueError(f"template {template!r} renders a different prompt for the chosen and the rejected response")
    return p, chosen, rejected


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
        pairs = as_pairs(data, name)
        self.max_length = max_length
        self.items: list[dict[str, Any]] = []
        self.texts: list[tuple[str, str, str]] = []
        self.n_filtered = 0
        for p in pairs:
            texts = render_pair(p, template, tokenizer)
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
