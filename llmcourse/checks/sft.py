"""Graders for notebook 01 (SFT data): Alpaca formatting, masked labels, the padding collator, the loss.

Each grader compares the student's function with the package reference (``llmcourse.sft``) on fixed
cases (and random ones with ``hidden=True``) and names the classic mistakes of the SFT pipeline:
masking the response instead of the prompt, forgetting EOS, the off-by-one shift, padding labels
with the pad id instead of -100, averaging over padded positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse import sft, templates
from llmcourse.checks import Case, Mistake, check_function, compare, uses

IGNORE = sft.IGNORE_INDEX


# --------------------------------------------------------------------------- 1. Alpaca formatting


def _alpaca_parts(record, *, blank_is_input=False):
    inp = record.get("input", "") or ""
    has_input = bool(inp) if blank_is_input else bool(inp.strip())
    tmpl = templates.ALPACA_WITH_INPUT if has_input else templates.ALPACA_NO_INPUT
    return tmpl.format(instruction=record["instruction"], input=inp), record["output"]


def _always_with_input(record):
    return templates.ALPACA_WITH_INPUT.format(instruction=record["instruction"], input=record.get("input", "")), record["output"]


def _truthy_input(record):  # `if record["input"]:` treats "  " as an input
    return _alpaca_parts(record, blank_is_input=True)


def _eos_in_response(record):
    prompt, response = _alpaca_parts(record)
    return prompt, response + "<eos>"


def _answer_in_prompt(record):
    prompt, response = _alpaca_parts(record)
    return prompt + response, response


def _no_newline_after_header(record):
    prompt, response = _alpaca_parts(record)
    return prompt.rstrip("\n"), response


def _space_after_header(record):
    prompt, response = _alpaca_parts(record)
    return prompt.rstrip("\n") + " ", response


def _output_stripped(record):
    prompt, response = _alpaca_parts(record)
    return prompt, response.strip()


FORMAT_MISTAKES = [
    Mistake("a blank input ('  ') treated as an input", _truthy_input,
            "`if record['input']:` is true for '  '; test `record['input'].strip()` so blank inputs use the no-input preamble."),
    Mistake("the with-input preamble used for a record without input", _always_with_input,
            "Alpaca has two preambles: use the 'paired with an input' one only when `input` is non-empty "
            "(templates.ALPACA_WITH_INPUT / ALPACA_NO_INPUT)."),
    Mistake("EOS added to the response text", _eos_in_response,
            "Return the output unchanged: the EOS *id* is appended at tokenisation (build_example), "
            "so adding '<eos>' here would give two."),
    Mistake("the answer included in the prompt", _answer_in_prompt,
            "The prompt ends at '### Response:\\n'; the output is the response, returned separately so it can be masked apart."),
    Mistake("the newline after '### Response:' dropped", _no_newline_after_header,
            "The prompt must end with '### Response:\\n' exactly (the model learns to answer after the newline)."),
    Mistake("a space instead of the newline after '### Response:'", _space_after_header,
            "The prompt must end with '### Response:\\n'; a trailing space would even split differently at the seam."),
    Mistake("the output stripped", _output_stripped,
            "Return `record['output']` unchanged: its spaces and newlines are part of what the model learns to write."),
]


@uses(FORMAT_MISTAKES)
def check_format_alpaca(fn, *, hidden: bool = False) -> None:
    """``format_alpaca(record) -> (prompt, response)``."""
    cases = [
        Case(({"instruction": "Reverse the list.", "input": "3 1 4", "output": "4 1 3"},), label="with input"),
        Case(({"instruction": "Name a prime number.", "input": "", "output": "7"},), label="empty input"),
        Case(({"instruction": "Add the two numbers.", "input": "   ", "output": "9"},), label="blank input ('   ')"),
        Case(({"instruction": "Write a haiku.", "input": "", "output": " Autumn leaves fall\n  softly.\n"},),
             label="an output with spaces and newlines (kept unchanged)"),
    ]
    if hidden:
        cases += [
            Case(({"instruction": "Summarise.", "input": "Line one.\nLine two.", "output": "Two lines."},), label="multi-line input"),
            Case(({"instruction": "Translate to French.", "input": "Hello, how are you?", "output": "Bonjour, comment ça va ?"},),
                 label="the seed's example"),
            Case(({"instruction": "Explain gravity.", "output": "A force."},), label="no 'input' key at all"),
        ]
    check_function(fn, sft.format_alpaca, cases, name="format_alpaca", mistakes=FORMAT_MISTAKES)


# --------------------------------------------------------------------------- 2. input ids + labels


def _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head = ([bos_token_id] if bos_token_id is not None else []) + list(prompt_ids)
    tail = list(response_ids) + [eos_token_id]
    return head, tail


def _response_masked(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id)
    return {"input_ids": head + tail, "labels": head + [IGNORE] * len(tail)}


def _no_eos(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id)
    return {"input_ids": head + tail[:-1], "labels": [IGNORE] * len(head) + tail[:-1]}


def _eos_masked(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id)
    return {"input_ids": head + tail, "labels": [IGNORE] * len(head) + tail[:-1] + [IGNORE]}


def _labels_preshifted(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id)
    return {"input_ids": head + tail, "labels": [IGNORE] * (len(head) - 1) + tail + [IGNORE]}


def _nothing_masked(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id)
    return {"input_ids": head + tail, "labels": head + tail}


def _no_bos(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, None, eos_token_id)
    return {"input_ids": head + tail, "labels": [IGNORE] * len(head) + tail}


def _prompt_mask_off_by_one(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head, tail = _ids_and_labels(prompt_ids, response_ids, bos_token_id, eos_token_id)
    return {"input_ids": head + tail, "labels": [IGNORE] * (len(head) + 1) + tail[1:]}  # the seed's seam bug


BUILD_MISTAKES = [
    Mistake("masking the response instead of the prompt", _response_masked,
            "Labels are -100 on BOS and the prompt, and equal to the ids on the response and EOS — the model learns the answer, not the question."),
    Mistake("forgetting EOS", _no_eos,
            "Append `eos_token_id` after the response (in input_ids *and* labels), or the model never learns to stop."),
    Mistake("EOS masked out of the labels", _eos_masked,
            "EOS must stay a target (its label is eos_token_id, not -100): stopping is part of the answer."),
    Mistake("labels shifted by hand (off by one)", _labels_preshifted,
            "Labels line up with input_ids position by position; the loss does the shift (logits[:, :-1] vs labels[:, 1:])."),
    Mistake("the prompt not masked", _nothing_masked,
            "Put -100 on BOS and on every prompt token so the loss covers only the response and EOS."),
    Mistake("BOS not prepended", _no_bos,
            "Start input_ids with `bos_token_id` (as pre-training did), masked with -100 in labels."),
    Mistake("the first response token masked too", _prompt_mask_off_by_one,
            "Mask exactly 1 + len(prompt_ids) positions; the first answer token is a target."),
]


def _label0_free(x):
    """labels[0] is never a target after the shift: treat -100 and the BOS id there alike."""
    if isinstance(x, dict):
        x = {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in x.items()}
        ids, labels = x.get("input_ids"), x.get("labels")
        if isinstance(ids, list) and isinstance(labels, list) and ids and labels and labels[0] == ids[0]:
            x["labels"] = [IGNORE] + list(labels[1:])
    return x


def _ignore_label0(got, expected, atol, rtol):
    return compare(_label0_free(got), _label0_free(expected), atol=atol, rtol=rtol)


@uses(BUILD_MISTAKES)
def check_build_example(fn, *, hidden: bool = False) -> None:
    """``build_example(prompt_ids, response_ids, bos_token_id, eos_token_id) -> {"input_ids", "labels"}``."""
    cases = [
        Case(([10, 11, 12], [20, 21], 1, 2), label="3 prompt tokens, 2 response tokens"),
        Case(([40], [50, 51, 52], 1, 2), label="1 prompt token, 3 response tokens"),
        Case(([7, 8], [9], 5, 6), label="other BOS/EOS ids"),
    ]
    if hidden:
        import random

        rng = random.Random(31)
        for i in range(4):
            p = [rng.randrange(3, 500) for _ in range(rng.randint(1, 12))]
            r = [rng.randrange(3, 500) for _ in range(rng.randint(1, 6))]
            cases.append(Case((p, r, 1, 2), label=f"random example {i + 1}"))
        cases.append(Case(([10, 11], [20], None, 2), label="tokenizer without BOS (bos_token_id=None)"))
    check_function(fn, sft.build_example, cases, name="build_example", mistakes=BUILD_MISTAKES,
                   compare_fn=_ignore_label0)


# --------------------------------------------------------------------------- 3. the padding collator


def _pad(batch, pad_token_id, *, label_pad=IGNORE, left=False, mask_value=0, labels_from_ids=False):
    width = max(len(x["input_ids"]) for x in batch)
    ids, labels, mask = [], [], []
    for x in batch:
        n, k = len(x["input_ids"]), width - len(x["input_ids"])
        lab = [t for t in x["input_ids"]] if labels_from_ids else list(x["labels"])
        if left:
            ids.append([pad_token_id] * k + list(x["input_ids"]))
            labels.append([label_pad] * k + lab)
            mask.append([mask_value] * k + [1] * n)
        else:
            ids.append(list(x["input_ids"]) + [pad_token_id] * k)
            labels.append(lab + [label_pad] * k)
            mask.append([1] * n + [mask_value] * k)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def _labels_padded_with_pad_id(batch, pad_token_id):
    return _pad(batch, pad_token_id, label_pad=pad_token_id)


def _left_padded(batch, pad_token_id):
    return _pad(batch, pad_token_id, left=True)


def _mask_all_ones(batch, pad_token_id):
    return _pad(batch, pad_token_id, mask_value=1)


def _pad_id_zero(batch, pad_token_id):
    return _pad(batch, 0)


def _labels_are_ids(batch, pad_token_id):
    return _pad(batch, pad_token_id, labels_from_ids=True)


COLLATE_MISTAKES = [
    Mistake("padding labels with the pad id instead of -100", _labels_padded_with_pad_id,
            "Pad `labels` with -100 so padding is ignored by the loss; the pad id is a real token id "
            "(and when PAD = EOS it would teach the model to emit EOS forever)."),
    Mistake("left padding for training", _left_padded,
            "Training batches are padded on the right (real tokens first); left padding is for generation."),
    Mistake("attention mask all ones", _mask_all_ones,
            "attention_mask is 1 on real tokens and 0 on padding."),
    Mistake("the pad id hard-coded as 0", _pad_id_zero,
            "Use the `pad_token_id` argument: tokenizers differ."),
    Mistake("labels copied from input_ids (the prompt mask lost)", _labels_are_ids,
            "Pad each example's own `labels` (which already hold -100 on the prompt); don't rebuild them from input_ids."),
]


def _collate_compare(got, expected, atol, rtol):
    if isinstance(got, dict):
        for k, v in got.items():
            if isinstance(v, torch.Tensor) and v.dtype not in (torch.int64, torch.int32, torch.long):
                return f"output[{k!r}]: dtype {v.dtype}; use integer tensors (torch.long) for ids, masks and labels"
    return compare(got, expected, atol=atol, rtol=rtol)


def _batch(*rows):
    return [{"input_ids": list(i), "labels": list(l)} for i, l in rows]


@uses(COLLATE_MISTAKES)
def check_pad_collate(fn, *, hidden: bool = False) -> None:
    """``pad_collate(batch, pad_token_id) -> {"input_ids", "attention_mask", "labels"}`` (tensors)."""
    cases = [
        Case((_batch(([1, 10, 11, 20, 2], [IGNORE, IGNORE, IGNORE, 20, 2]),
                     ([1, 12, 21, 2], [IGNORE, IGNORE, 21, 2])), 0), label="two examples, pad id 0"),
        Case((_batch(([1, 5, 2], [IGNORE, 5, 2]),
                     ([1, 6, 7, 8, 9, 2], [IGNORE, IGNORE, IGNORE, 8, 9, 2]),
                     ([1, 4, 3, 2], [IGNORE, IGNORE, 3, 2])), 3), label="three examples, pad id 3"),
        Case((_batch(([1, 5, 6, 2], [IGNORE, IGNORE, 6, 2]),), 0), label="a single example (no padding)"),
    ]
    if hidden:
        import random

        rng = random.Random(17)
        for i in range(4):
            rows = []
            for _ in range(rng.randint(2, 6)):
                p, r = rng.randint(1, 8), rng.randint(1, 5)
                ids = [1] + [rng.randrange(10, 400) for _ in range(p + r)] + [2]
                rows.append((ids, [IGNORE] * (1 + p) + ids[1 + p:]))
            cases.append(Case((_batch(*rows), rng.choice([0, 7])), label=f"random batch {i + 1}"))
    check_function(fn, sft.pad_collate, cases, name="pad_collate", mistakes=COLLATE_MISTAKES,
                   compare_fn=_collate_compare)


# --------------------------------------------------------------------------- 4. the masked SFT loss


def _nll(logits, labels):
    """Per-token NLL of the shifted pairs, 0 where ignored: (B, T-1)."""
    lg, lb = logits[:, :-1], labels[:, 1:]
    return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), lb.reshape(-1), ignore_index=IGNORE,
                           reduction="none").view(lb.shape)


def _no_shift(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)


def _mean_over_all_positions(logits, labels):
    return _nll(logits, labels).mean()


def _sum_not_mean(logits, labels):
    return _nll(logits, labels).sum()


def _mean_of_sequence_means(logits, labels):
    counts = (labels[:, 1:] != IGNORE).sum(1).clamp(min=1)
    return (_nll(logits, labels).sum(1) / counts).mean()


def _sequence_sum_mean(logits, labels):
    return _nll(logits, labels).sum(1).mean()


def _wrong_direction(logits, labels):
    lg, lb = logits[:, 1:], labels[:, :-1]
    return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), lb.reshape(-1), ignore_index=IGNORE)


def _unmasked(logits, labels):
    lg, lb = logits[:, :-1], labels[:, 1:].clamp(min=0)
    return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), lb.reshape(-1))


def _the_right_loss(logits, labels):
    lg, lb = logits[:, :-1], labels[:, 1:]
    return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), lb.reshape(-1), ignore_index=IGNORE)


def _loss_as_a_number(logits, labels):
    return torch.tensor(_the_right_loss(logits, labels).item())


def _loss_without_grad(logits, labels):
    with torch.no_grad():
        return _the_right_loss(logits, labels)


def _logits_detached(logits, labels):
    return _the_right_loss(logits.detach(), labels)


LOSS_MISTAKES = [
    Mistake("off-by-one shift (logits and labels not shifted)", _no_shift,
            "Logits at position t predict token t+1: compare logits[:, :-1] with labels[:, 1:]."),
    Mistake("shifted the wrong way", _wrong_direction,
            "Drop the *last* logit and the *first* label: logits[:, :-1] vs labels[:, 1:]."),
    Mistake("averaging over padded positions", _mean_over_all_positions,
            "Divide by the number of target tokens (labels != -100), not by every position: padding and prompt must not dilute the loss."),
    Mistake("a sum instead of a mean", _sum_not_mean,
            "Return the mean per target token (sum of token losses / number of targets)."),
    Mistake("mean of per-sequence means", _mean_of_sequence_means,
            "Average over all target tokens of the batch at once; averaging each sequence first over-weights short answers."),
    Mistake("per-sequence sums averaged over the batch", _sequence_sum_mean,
            "That is the seed's per-example sum; this exercise wants the per-token mean over the batch."),
    Mistake("-100 positions not ignored", _unmasked,
            "Ignore positions whose label is -100 (prompt, padding): `ignore_index=-100` or an explicit mask."),
    *(Mistake("the loss is detached from the graph (no gradient)", wrong,
              "The value is right but `loss.backward()` has nothing to follow: `torch.tensor(loss.item())`, "
              "`torch.no_grad()` or `.detach()` cut the loss from the logits, and SFT would not train.")
      for wrong in (_loss_as_a_number, _loss_without_grad, _logits_detached)),
]


def _loss_case(seed: int, B: int, T: int, V: int, label: str) -> Case:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g) * 2.0
    labels = torch.randint(0, V, (B, T), generator=g)
    for b in range(B):
        prompt = int(torch.randint(1, max(2, T // 2), (1,), generator=g))
        length = int(torch.randint(prompt + 1, T + 1, (1,), generator=g))
        labels[b, :prompt] = IGNORE
        labels[b, length:] = IGNORE
    labels[0, -1] = IGNORE  # at least one padded row end
    labels[-1, -1] = int(torch.randint(0, V, (1,), generator=g))  # and one full-length row
    labels[-1, 1] = int(torch.randint(0, V, (1,), generator=g))
    return Case((logits, labels), label=label, atol=1e-5, rtol=1e-4)


@uses(LOSS_MISTAKES)
def check_sft_loss(fn, *, hidden: bool = False) -> None:
    """``sft_loss(logits, labels) -> scalar`` (mean per target token, shifted)."""
    cases = [
        _loss_case(0, 2, 6, 5, "2 sequences × 6 positions, prompt and padding masked"),
        _loss_case(1, 3, 8, 7, "3 sequences of different answer lengths"),
    ]
    if hidden:
        cases += [_loss_case(100 + i, 4, 12, 11, f"random batch {i + 1}") for i in range(3)]
        cases.append(_loss_case(7, 1, 5, 4, "one sequence"))
    check_function(fn, sft.sft_loss, cases, name="sft_loss", mistakes=LOSS_MISTAKES, grad_wrt=(0,))
