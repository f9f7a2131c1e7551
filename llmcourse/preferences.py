r"""Preference pairs from the files users already have: one entry point, every common shape.

**Entry point**: :func:`load_preference_pairs` ``(path, *, template=None, tokenizer=None)`` reads a
``.json`` / ``.jsonl`` file (gzip, bz2 or xz compressed too; a UTF-8 byte-order mark is fine) and
returns validated pair records ``{"prompt", "chosen", "rejected", "margin"?, "group"?}`` whose values
are **text**, ready for the reward model and DPO trainers (``prompt`` is what the response follows;
tokenisation adds BOS before it and EOS after the response). :func:`pairs_from_records` does the
same for records already in memory, and :func:`read_preference_records` stops one step earlier, at
:class:`PreferencePair` objects that keep conversations as messages.

Shapes recognised (decided per record, so a file may mix them):

=====================  ==================================================================  ===========================
shape                  fields                                                              written by
=====================  ==================================================================  ===========================
``text``               ``prompt``, ``chosen``, ``rejected`` strings (+ ``margin``,          this package; TRL "standard"
                       ``group``)
``implicit_text``      ``chosen``, ``rejected`` strings, no ``prompt``: their common        Anthropic HH-RLHF
                       beginning is the prompt (cut after the last ``Assistant:``, else
                       at a word boundary)
``conversational``     ``prompt``, ``chosen``, ``rejected`` as message lists               TRL "conversational"
``implicit_messages``  ``chosen``, ``rejected`` whole conversations sharing their first     TRL's hh-rlhf-helpful-base
                       turns, no ``prompt``
``ultrafeedback``      ``prompt`` string, ``chosen`` / ``rejected`` conversations starting   HuggingFaceH4/
                       with that user turn, ``score_chosen`` / ``score_rejected``          ultrafeedback_binarized
``openai``             ``input: {"messages"}``, ``preferred_output``,                      OpenAI preference
                       ``non_preferred_output`` (one assistant message each)              fine-tuning (DPO) JSONL
=====================  ==================================================================  ===========================

Messages are ``{"role", "content"}`` with content a string or OpenAI text parts
(``[{"type": "text", "text": ...}]``). A conversation pair must differ only in its **last assistant
turn**; everything before it is the prompt. Conversations become text with ``template``:
``"chat"`` (the tokenizer's chat template; the default when a tokenizer with one is given), or
``"simple"`` / ``"alpaca"`` for single-exchange conversations. Text records are used as written.

Scores (``score_chosen`` / ``score_rejected``) are checked (finite; the chosen one not lower) but
not turned into a margin: give ``margin`` explicitly to train with one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from llmcourse import templates
from llmcourse.messages import check_order, parse_turns
from llmcourse.records import Located, RecordError, read_records, require_str, short_repr

__all__ = ["PreferencePair", "SHAPES", "PAIR_HINT", "load_preference_pairs", "pairs_from_records",
           "read_preference_records", "parse_preference", "render_pair", "validate_pair"]

PAIR_HINT = "each preference record needs 'prompt', 'chosen' and 'rejected' strings"
SHAPES = ("text", "implicit_text", "conversational", "implicit_messages", "ultrafeedback", "openai")
PAIR_TEMPLATES = ("chat", "simple", "alpaca")


@dataclass(frozen=True)
class PreferencePair:
    """One preference pair before rendering: ``prompt`` is text (text shapes) or ``[(role, text), ...]``
    ending with a user turn (conversations); ``chosen`` / ``rejected`` are the two final answers."""

    prompt: str | tuple[tuple[str, str], ...]
    chosen: str
    rejected: str
    where: str = ""
    shape: str = "text"
    margin: float | None = None
    group: int | str | None = None


# --------------------------------------------------------------------------- checks shared by every shape


def optional_number(rec: dict, field: str, where: str) -> float | None:
    """``rec[field]`` as a finite float, ``None`` when absent or null; a :class:`RecordError` otherwise."""
    if field not in rec or rec[field] is None:
        return None
    value = rec[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{where}: field {field!r} must be a number, got {type(value).__name__} ({short_repr(value, 40)})")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        raise RecordError(f"{where}: field {field!r} is an integer too large for a float; it must be a finite number") from None
    if not math.isfinite(number):
        raise RecordError(f"{where}: field {field!r} is {value}; it must be a finite number")
    return number


def _group(rec: dict, where: str) -> int | str | None:
    group = rec.get("group")
    if group is not None and (isinstance(group, bool) or not isinstance(group, (int, str))):
        raise RecordError(f"{where}: field 'group' must be an int or string, got {type(group).__name__}")
    return group


def _differ(chosen: str, rejected: str, where: str) -> None:
    if chosen == rejected:
        raise RecordError(f"{where}: 'chosen' and 'rejected' are identical ({chosen!r:.60}); such a pair carries no "
                          "preference (its loss is the constant log 2). Drop the record or fix its label")


def validate_pair(rec: dict[str, Any], where: str = "pair") -> dict[str, Any]:
    """A checked copy of one **text** pair record: ``prompt`` (may be empty, e.g. when the conversation
    is inside the responses), non-empty ``chosen`` and ``rejected`` that differ, optional ``margin``
    and ``group``. Raises :class:`RecordError` naming ``where`` and the field."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: record is {type(rec).__name__}; expected a dict with 'prompt', 'chosen', 'rejected'")
    prompt = require_str(rec, "prompt", where, allow_empty=True, hint=PAIR_HINT)
    chosen = require_str(rec, "chosen", where, hint=PAIR_HINT)
    rejected = require_str(rec, "rejected", where, hint=PAIR_HINT)
    _differ(chosen, rejected, where)
    out: dict[str, Any] = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    margin = optional_number(rec, "margin", where)
    if margin is not None:
        out["margin"] = margin
    group = _group(rec, where)
    if group is not None:
        out["group"] = group
    return out


# --------------------------------------------------------------------------- one record, any shape


_ASSISTANT_MARK = re.compile(r"\n\s*Assistant:")  # HH-RLHF's "\n\nHuman: … \n\nAssistant: …"


def _split_implicit_text(chosen: str, rejected: str) -> int:
    """Where the shared prompt of two texts ends: after the last ``Assistant:`` of their common
    beginning, else at the start of the first differing word (its leading space goes with the answer)."""
    n = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        n += 1
    marks = [m.end() for m in _ASSISTANT_MARK.finditer(chosen[:n])]
    if marks:
        return marks[-1]
    while n > 0 and not chosen[n - 1].isspace():
        n -= 1
    return n - 1 if n > 0 and chosen[n - 1] == " " else n


def _messages(rec: dict, field: str, where: str, *, last: str | None, offset: int = 0) -> list[tuple[str, str]]:
    return parse_turns(rec[field], where, field, last=last, offset=offset)


def _conversation_pair(prompt: list[tuple[str, str]], chosen: list[tuple[str, str]], rejected: list[tuple[str, str]],
                       where: str) -> tuple[tuple[tuple[str, str], ...], str, str]:
    """Split two whole conversations into (shared prompt turns, chosen answer, rejected answer)."""
    conv_c, conv_r = prompt + chosen, prompt + rejected
    n = 0
    while n < min(len(conv_c), len(conv_r)) and conv_c[n] == conv_r[n]:
        n += 1
    if n == len(conv_c) and n == len(conv_r):
        raise RecordError(f"{where}: the chosen and rejected conversations are identical; such a pair carries no "
                          "preference. Drop the record or fix its label")
    for name, conv in (("chosen", conv_c), ("rejected", conv_r)):
        rest = conv[n:]
        if len(rest) != 1 or rest[0][0] != "assistant":
            first = n - len(prompt)
            raise RecordError(
                f"{where}: the chosen and rejected conversations differ at {name}[{max(first, 0)}] "
                f"({len(rest)} turn(s) left, first {rest[0][0] if rest else 'none'!r}); a pair must share every turn "
                "but its last assistant answer — split other records into one pair per answer")
    shared = conv_c[:n]
    if not shared or shared[-1][0] != "user":
        raise RecordError(f"{where}: the turns the two answers share do not end with a user turn; a preference pair "
                          "compares two answers to the same user message")
    return tuple(shared), conv_c[n][1], conv_r[n][1]


def parse_preference(rec: dict[str, Any], where: str = "record") -> PreferencePair:
    """One record of any shape in the module table, checked, as a :class:`PreferencePair`."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: record is {type(rec).__name__}; expected an object with 'chosen' and 'rejected'")
    if "preferred_output" in rec or "non_preferred_output" in rec:
        return _openai_pair(rec, where)
    for field in ("chosen", "rejected"):
        if field not in rec:
            raise RecordError(f"{where}: missing field {field!r} (found {sorted(rec)}); {PAIR_HINT} "
                              "(or 'chosen'/'rejected' conversations: see llmcourse.preferences)")
    c, r, p = rec["chosen"], rec["rejected"], rec.get("prompt")
    margin, group = optional_number(rec, "margin", where), _group(rec, where)
    if isinstance(c, list) or isinstance(r, list):
        if not (isinstance(c, list) and isinstance(r, list)):
            raise RecordError(f"{where}: 'chosen' is {type(c).__name__} but 'rejected' is {type(r).__name__}; give both "
                              "as strings or both as message lists")
        scores = [optional_number(rec, f"score_{k}", where) for k in ("chosen", "rejected")]
        if None not in scores and scores[0] < scores[1]:
            raise RecordError(f"{where}: score_chosen {scores[0]:g} < score_rejected {scores[1]:g}; the label contradicts "
                              "the scores — swap 'chosen' and 'rejected' or fix the scores")
        if isinstance(p, list):
            shape = "conversational"
            prompt = _messages(rec, "prompt", where, last="user")
            chosen = _messages(rec, "chosen", where, last="assistant", offset=len(prompt))
            rejected = _messages(rec, "rejected", where, last="assistant", offset=len(prompt))
            check_order(prompt + chosen, where, "prompt + chosen")
            check_order(prompt + rejected, where, "prompt + rejected")
        else:
            chosen = _messages(rec, "chosen", where, last="assistant", offset=0 if p is None else 1)
            rejected = _messages(rec, "rejected", where, last="assistant", offset=0 if p is None else 1)
            if p is None:
                shape, prompt = "implicit_messages", []
            else:
                text = require_str(rec, "prompt", where, hint=PAIR_HINT)
                starts = [conv[:1] == [("user", text)] for conv in (chosen, rejected)]
                if all(starts):  # UltraFeedback: the conversations repeat the prompt as their first turn
                    shape, prompt = "ultrafeedback", []
                    chosen = _messages(rec, "chosen", where, last="assistant")
                    rejected = _messages(rec, "rejected", where, last="assistant")
                elif any(starts):
                    raise RecordError(f"{where}: only one of 'chosen'/'rejected' starts with the prompt's user turn; "
                                      "give both conversations the same beginning")
                else:
                    shape, prompt = "conversational", [("user", text)]
        shared, c_text, r_text = _conversation_pair(prompt, chosen, rejected, where)
        return PreferencePair(shared, c_text, r_text, where, shape, margin, group)
    if "prompt" in rec:  # explicit text pair: a null prompt is reported as null, not as missing
        v = validate_pair(rec, where)
        return PreferencePair(v["prompt"], v["chosen"], v["rejected"], where, "text", margin, group)
    chosen = require_str(rec, "chosen", where, hint=PAIR_HINT)
    rejected = require_str(rec, "rejected", where, hint=PAIR_HINT)
    _differ(chosen, rejected, where)
    cut = _split_implicit_text(chosen, rejected)
    if not chosen[cut:].strip() or not rejected[cut:].strip():
        raise RecordError(f"{where}: no 'prompt', and one of 'chosen'/'rejected' is the other plus more text, so no "
                          "answer is left once their shared beginning is taken as the prompt; add a 'prompt' field")
    return PreferencePair(chosen[:cut], chosen[cut:], rejected[cut:], where, "implicit_text", margin, group)


def _openai_pair(rec: dict[str, Any], where: str) -> PreferencePair:
    """OpenAI's preference fine-tuning line: ``input.messages`` then one preferred and one
    non-preferred assistant message."""
    for field in ("input", "preferred_output", "non_preferred_output"):
        if field not in rec:
            raise RecordError(f"{where}: missing field {field!r} (found {sorted(rec)}); an OpenAI preference record has "
                              "'input' ({'messages': [...]}), 'preferred_output' and 'non_preferred_output'")
    if not isinstance(rec["input"], dict) or "messages" not in rec["input"]:
        raise RecordError(f"{where}: field 'input' must be an object with 'messages', got {short_repr(rec['input'], 40)}")
    prompt = _messages(rec["input"], "messages", f"{where}: input", last="user")
    chosen = _messages(rec, "preferred_output", where, last="assistant", offset=len(prompt))
    rejected = _messages(rec, "non_preferred_output", where, last="assistant", offset=len(prompt))
    shared, c, r = _conversation_pair(prompt, chosen, rejected, where)
    return PreferencePair(shared, c, r, where, "openai", optional_number(rec, "margin", where), _group(rec, where))


# --------------------------------------------------------------------------- rendering


def _resolve_template(template: str | None, tokenizer) -> str | None:
    if template is None:
        return "chat" if getattr(tokenizer, "chat_template", None) else None
    if template not in PAIR_TEMPLATES:
        raise ValueError(f"template must be one of {PAIR_TEMPLATES} (or None), got {template!r}")
    return template


def render_pair(pair: PreferencePair, template: str | None = None, tokenizer=None) -> dict[str, Any]:
    """A :class:`PreferencePair` as a text pair record ``{"prompt", "chosen", "rejected", ...}``.

    Text shapes pass through. Conversations: ``"chat"`` renders the prompt turns with the tokenizer's
    chat template (generation prompt added, its BOS text removed: tokenisation adds the BOS id);
    ``"simple"`` / ``"alpaca"`` render a single exchange (an optional system turn, one user turn) as
    the SFT stage does; ``None`` means ``"chat"`` when the tokenizer has a chat template."""
    out: dict[str, Any] = {"prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected}
    if not isinstance(pair.prompt, str):
        kind = _resolve_template(template, tokenizer)
        if kind is None:
            raise RecordError(f"{pair.where}: a conversation ({pair.shape} record) needs a template to become text: pass "
                              "tokenizer= (its chat template) or template='simple'/'alpaca'")
        turns = list(pair.prompt)
        if kind == "chat":
            messages = [{"role": r, "content": t} for r, t in turns]
            out["prompt"] = templates.chat_text(tokenizer, messages, add_generation_prompt=True)
        else:
            system = turns.pop(0)[1] if turns[0][0] == "system" else ""
            if len(turns) != 1:
                raise RecordError(f"{pair.where}: a multi-turn conversation ({len(turns) // 2 + 1} exchanges); the "
                                  f"{kind!r} template renders one exchange — use template='chat' with a tokenizer that "
                                  "has a chat template, or keep only the last exchange")
            prompt = templates.single_turn(kind, turns[0][1])[0]
            out["prompt"] = (system + "\n\n" + prompt) if system else prompt
            out["chosen"], out["rejected"] = templates.response(kind, pair.chosen), templates.response(kind, pair.rejected)
    if pair.margin is not None:
        out["margin"] = pair.margin
    if pair.group is not None:
        out["group"] = pair.group
    return out


# --------------------------------------------------------------------------- files and lists


def _check_margins(pairs: Sequence[PreferencePair]) -> None:
    with_margin = [p.margin is not None for p in pairs]
    if any(with_margin) and not all(with_margin):
        first = next(p.where for p in pairs if p.margin is None)
        raise RecordError(f"{first}: has no 'margin' while other records do; give every record a margin "
                          "(0 for 'no margin') or none of them")


def _parse_all(located: Sequence[Located]) -> list[PreferencePair]:
    pairs = [parse_preference(loc.record, loc.where) for loc in located]
    _check_margins(pairs)
    return pairs


def read_preference_records(path: str | Path) -> list[PreferencePair]:
    """Every record of a preference file, checked, as :class:`PreferencePair` (conversations kept as turns)."""
    return _parse_all(read_records(path))


def load_preference_pairs(path: str | Path, *, template: str | None = None, tokenizer=None) -> list[dict[str, Any]]:
    """**The** way to read preference data: text pair records from a file of any shape in the module
    table, every record checked before any model is touched (errors name file:line or file[index]
    and the field). ``template`` / ``tokenizer`` turn conversations into text (:func:`render_pair`)."""
    return [render_pair(p, template, tokenizer) for p in read_preference_records(path)]


def pairs_from_records(records: Sequence[dict[str, Any]], *, template: str | None = None, tokenizer=None,
                       name: str = "records") -> list[dict[str, Any]]:
    """:func:`load_preference_pairs` for records already in memory (errors say ``records[i]``)."""
    if isinstance(records, (str, bytes, dict)) or not isinstance(records, Sequence):
        raise TypeError(f"{name}: expected a list of record dicts, got {type(records).__name__}; "
                        "to read a file use load_preference_pairs(path)")
    if not records:
        raise ValueError(f"{name} is empty: preference training needs at least one (chosen, rejected) pair")
    pairs = _parse_all([Located(f"{name}[{i}]", r) for i, r in enumerate(records)])
    return [render_pair(p, template, tokenizer) for p in pairs]
