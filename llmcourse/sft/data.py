r"""SFT records: every common instruction format, read into one form, rendered with one function.

Formats recognised (decided from the first record's fields, then required of every record):

===================  ============================================================  ======================
format               fields                                                        example source
===================  ============================================================  ======================
``alpaca``           ``instruction``, ``input`` (optional, often empty), ``output``  Stanford Alpaca (52K)
``dolly``            ``instruction``, ``context`` (optional), ``response``,          databricks-dolly-15k
                     ``category`` (optional)
``openorca``         ``system_prompt`` (optional), ``question``, ``response``        Open-Orca/OpenOrca
``prompt_completion`` ``prompt``, ``completion`` — or the seed's ``input``/``output``  TRL, OpenAI fine-tuning
``chat``             ``messages``: ``[{"role", "content"}, ...]`` (content a string   most chat datasets,
                     or OpenAI text parts ``[{"type": "text", "text"}]``)            OpenAI fine-tuning
``sharegpt``         ``conversations``: ``[{"from", "value"}, ...]`` (converted)     ShareGPT, Vicuna
===================  ============================================================  ======================

Every record becomes an :class:`Example`. :func:`render` turns an example into ``(prompt, response)``
with a chosen template — ``"alpaca"``, ``"simple"`` (the seed's ``Instruction:/Input:/Output:``) or
``"chat"`` (the tokenizer's own chat template); :func:`render_segments` gives the general form for
multi-turn chats, a list of ``(text, is_target)`` pieces.

Errors are :class:`~llmcourse.records.RecordError` naming the file and line/index and the field —
never the seed's ``except Exception: self.data = []``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from llmcourse import templates
from llmcourse.messages import CHAT_ROLES, SHAREGPT_ROLES, parse_turns
from llmcourse.records import Located, RecordError, read_records, require_str

__all__ = ["Example", "FORMATS", "TEMPLATES", "detect_format", "parse_record", "load_examples",
           "examples_from_records", "format_alpaca", "render", "render_segments"]

FORMATS = ("alpaca", "dolly", "openorca", "prompt_completion", "chat", "sharegpt")
TEMPLATES = ("alpaca", "simple", "chat")


@dataclass(frozen=True)
class Example:
    """One SFT example in a format-independent form.

    The last exchange is ``instruction`` (+ optional ``input``/context) → ``output``; a multi-turn
    chat keeps its earlier turns in ``history`` as ``(role, content)`` pairs, and a system prompt in
    ``system``. ``where`` says where it came from (``"data.jsonl:12"``).
    """

    instruction: str
    output: str
    input: str = ""
    system: str = ""
    history: tuple[tuple[str, str], ...] = ()
    where: str = ""
    format: str = ""

    def messages(self) -> list[dict[str, str]]:
        """The example as chat messages (``input`` joined to the instruction by a blank line)."""
        user = self.instruction + ("\n\n" + self.input if self.input.strip() else "")
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs += [{"role": r, "content": c} for r, c in self.history]
        return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": self.output}]


# --------------------------------------------------------------------------- format detection


def detect_format(record: dict[str, Any], where: str = "record") -> str:
    """The format of one record, from its fields (see the module table)."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: record is {type(record).__name__}; expected a JSON object")
    keys = set(record)
    if "messages" in keys:
        return "chat"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "instruction" in keys and "response" in keys:
        return "dolly"
    if "question" in keys and "response" in keys:
        return "openorca"
    if {"prompt", "completion"} <= keys or {"input", "output"} <= keys:
        return "prompt_completion"
    raise RecordError(
        f"{where}: unknown record format (fields {sorted(keys)}); expected one of: "
        "alpaca (instruction/input/output), dolly (instruction/context/response), "
        "openorca (system_prompt/question/response), prompt_completion (prompt/completion), "
        "chat (messages: [{role, content}]), sharegpt (conversations: [{from, value}])")


def parse_record(record: dict[str, Any], where: str = "record", format: str = "auto") -> Example:
    """Validate one record of the given format (``"auto"``: detect it) and return an :class:`Example`."""
    fmt = detect_format(record, where) if format == "auto" else format
    if fmt not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    if not isinstance(record, dict):
        raise RecordError(f"{where}: record is {type(record).__name__}; expected a JSON object")
    if fmt == "alpaca":
        return Example(instruction=require_str(record, "instruction", where),
                       input=require_str(record, "input", where, allow_empty=True, optional=True),
                       output=require_str(record, "output", where, hint="an empty output gives the model nothing to learn"),
                       where=where, format=fmt)
    if fmt == "dolly":
        require_str(record, "category", where, allow_empty=True, optional=True)
        return Example(instruction=require_str(record, "instruction", where),
                       input=require_str(record, "context", where, allow_empty=True, optional=True),
                       output=require_str(record, "response", where, hint="an empty response gives the model nothing to learn"),
                       where=where, format=fmt)
    if fmt == "openorca":
        return Example(instruction=require_str(record, "question", where),
                       system=require_str(record, "system_prompt", where, allow_empty=True, optional=True),
                       output=require_str(record, "response", where, hint="an empty response gives the model nothing to learn"),
                       where=where, format=fmt)
    if fmt == "prompt_completion":
        p, c = ("prompt", "completion") if "prompt" in record or "completion" in record else ("input", "output")
        return Example(instruction=require_str(record, p, where),
                       output=require_str(record, c, where, hint="an empty completion gives the model nothing to learn"),
                       where=where, format=fmt)
    if fmt == "chat":
        if "messages" not in record:
            raise RecordError(f"{where}: missing field 'messages' (found {sorted(record)})")
        turns = parse_turns(record["messages"], where, "messages", "role", "content", CHAT_ROLES)
    else:
        if "conversations" not in record:
            raise RecordError(f"{where}: missing field 'conversations' (found {sorted(record)})")
        turns = parse_turns(record["conversations"], where, "conversations", "from", "value", SHAREGPT_ROLES)
    system = turns[0][1] if turns[0][0] == "system" else ""
    body = turns[1:] if system or turns[0][0] == "system" else turns
    return Example(instruction=body[-2][1], output=body[-1][1], system=system, history=tuple(body[:-2]),
                   where=where, format=fmt)


def _parse_all(located: Sequence[Located], format: str) -> list[Example]:
    if not located:
        raise RecordError("no records: an SFT dataset needs at least one example")
    fmt = detect_format(located[0].record, located[0].where) if format == "auto" else format
    return [parse_record(loc.record, loc.where, fmt) for loc in located]


def load_examples(path: str | Path, format: str = "auto") -> list[Example]:
    """Read a JSON array or JSONL file of SFT records (format detected from the first record)."""
    return _parse_all(read_records(path), format)


def examples_from_records(records: Sequence[dict[str, Any]], format: str = "auto",
                          name: str = "records") -> list[Example]:
    """In-memory records (e.g. :func:`llmcourse.tasks.instruction_records`) as examples; errors say
    ``records[i]``."""
    if isinstance(records, (str, bytes, dict)):
        raise TypeError(f"{name}: expected a list of record dicts, got {type(records).__name__}; "
                        "to read a file use load_examples(path)")
    return _parse_all([Located(f"{name}[{i}]", r) for i, r in enumerate(records)], format)


# --------------------------------------------------------------------------- templates


def format_alpaca(record: dict[str, str]) -> tuple[str, str]:
    r"""An Alpaca record as ``(prompt, response)``: the with-input preamble when ``input`` is
    non-blank, the no-input one otherwise; the response is the ``output`` unchanged (EOS is added
    at tokenisation).

    >>> format_alpaca({"instruction": "Add the two numbers.", "input": "3 4", "output": "7"})[1]
    '7'
    """
    return templates.alpaca_prompt(record["instruction"], record.get("input", "") or ""), record["output"]


def render_segments(example: Example, template: str | Callable = "alpaca", tokenizer=None) -> list[tuple[str, bool]]:
    """The example as text pieces ``(text, is_target)``, in order; targets are assistant answers.

    Single-turn templates give ``[(prompt, False), (response, True)]``. ``"chat"`` renders with the
    tokenizer's chat template and finds each assistant answer by rendering the conversation up to it
    (the *prefix* method, which works for any template that renders a conversation's beginning the
    same way whatever follows). The template's leading BOS text is removed (tokenisation adds the BOS
    id) and so is the end-of-turn EOS text right after an answer (tokenisation appends the EOS id to
    every target, so it stays a target).
    """
    if callable(template):
        if example.history:
            raise ValueError(f"{example.where}: a custom template renders one exchange; this chat has "
                             f"{len(example.history) // 2 + 1} turns — use template='chat'")
        prompt, response = template(example)
        return [(prompt, False), (response, True)]
    if template in ("alpaca", "simple"):
        if example.history:
            raise ValueError(f"{example.where}: the {template!r} template renders one exchange; this chat has "
                             f"{len(example.history) // 2 + 1} turns — use template='chat'")
        prompt, response = templates.single_turn(template, example.instruction, example.input, example.output)
        if example.system:
            prompt = example.system + "\n\n" + prompt
        return [(prompt, False), (response, True)]
    if template != "chat":
        raise ValueError(f"template must be one of {TEMPLATES} or a function record -> (prompt, response), got {template!r}")
    messages = example.messages()
    eos = getattr(tokenizer, "eos_token", None) or ""
    segments: list[tuple[str, bool]] = []
    done = ""  # text rendered so far
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix = templates.chat_text(tokenizer, messages[:i], add_generation_prompt=True)
        full = templates.chat_text(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not prefix.startswith(done) or not full.startswith(prefix) or not full[len(prefix):].startswith(msg["content"]):
            raise ValueError(f"{example.where}: the chat template does not render conversations prefix-consistently "
                             "(an answer's text is not where rendering the turns before it says); "
                             "assistant masking needs a template whose output for the first k turns is a prefix "
                             "of its output for k+1 turns")
        segments.append((prefix[len(done):], False))
        segments.append((msg["content"], True))
        done = prefix + msg["content"]
        if eos and full[len(done):].startswith(eos):
            done += eos  # the EOS id is appended to the target at tokenisation
    tail = templates.chat_text(tokenizer, messages, add_generation_prompt=False)[len(done):]
    segments = [s for s in segments if s[0] or s[1]]
    if tail.strip():
        segments.append((tail, False))
    return segments


def render(example: Example | dict, template: str | Callable = "alpaca", tokenizer=None) -> tuple[str, str]:
    """One example (or a raw record) as ``(prompt, response)`` with the chosen template.

    ``template``: ``"alpaca"``, ``"simple"``, ``"chat"`` (the tokenizer's chat template; earlier turns
    of a multi-turn chat become part of the prompt) or a function ``Example -> (prompt, response)``.
    The response carries no EOS: tokenisation appends the EOS id.
    """
    if isinstance(example, dict):
        example = parse_record(example)
    segments = render_segments(example, template, tokenizer)
    last_target = max(i for i, (_, t) in enumerate(segments) if t)
    return "".join(s for s, _ in segments[:last_target]), segments[last_target][0]
