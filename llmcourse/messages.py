"""Chat messages inside records: roles, text (plain or OpenAI content parts), turn order.

Shared by the SFT reader (``messages`` / ShareGPT ``conversations``) and the preference reader
(conversational pairs). Every problem is a :class:`~llmcourse.records.RecordError` naming the record,
the turn (``messages[3]``) and the field.
"""

from __future__ import annotations

from typing import Any

from llmcourse.records import RecordError, require_str

ROLES = ("system", "user", "assistant")
# OpenAI's newer name for the system role is "developer"
CHAT_ROLES = {**{r: r for r in ROLES}, "developer": "system"}
# ShareGPT's speaker names → chat roles
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}


def parse_turns(raw: Any, where: str, field: str, role_key: str = "role", text_key: str = "content",
                role_map: dict[str, str] = CHAT_ROLES, *, last: str | None = "assistant",
                offset: int = 0) -> list[tuple[str, str]]:
    """``raw`` (a list of turn objects) as ``[(role, text), ...]``, checked: known roles, text (a
    string or content parts), an optional first system turn, then user/assistant alternating, ending
    with a ``last`` turn (``None``: either). ``offset`` numbers the turns in messages (a turn list
    that continues another one)."""
    if not isinstance(raw, list):
        raise RecordError(f"{where}: field {field!r} must be a list of turns, got {type(raw).__name__}")
    if not raw:
        raise RecordError(f"{where}: field {field!r} is an empty list; a conversation needs at least "
                          "a user turn and an assistant turn")
    out = []
    for i, turn in enumerate(raw):
        at = f"{where}: {field}[{i + offset}]"
        if not isinstance(turn, dict):
            raise RecordError(f"{at} is {type(turn).__name__}; expected an object with {role_key!r} and {text_key!r}")
        speaker = turn.get(role_key)
        if not isinstance(speaker, str) or speaker.lower() not in role_map:
            raise RecordError(f"{at}: {role_key!r} is {speaker!r}; expected one of {sorted(set(role_map))}")
        role = role_map[speaker.lower()]
        text = require_str(turn, text_key, at, allow_empty=role != "assistant", parts=True,
                           hint="an empty assistant turn gives the model nothing to learn")
        out.append((role, text))
    check_order(out, where, field, last=last, offset=offset)
    return out


def check_order(turns: list[tuple[str, str]], where: str, field: str, *, last: str | None = "assistant",
                offset: int = 0) -> None:
    """An optional first system turn, then user, assistant, user, … ending with ``last``."""
    for i, (role, _) in enumerate(turns):
        if role == "system" and i + offset != 0:
            raise RecordError(f"{where}: {field}[{i + offset}] is a system turn; only the first turn may be 'system'")
    start = 1 if turns and turns[0][0] == "system" and offset == 0 else 0
    body = turns[start:]
    parity = 0 if offset == 0 else None  # a continuation starts wherever the previous part stopped
    for i, (role, _) in enumerate(body):
        if parity is None:
            parity = 0 if role == "user" else 1
        want = "user" if (i + parity) % 2 == 0 else "assistant"
        if role != want:
            raise RecordError(f"{where}: {field}[{i + start + offset}] has role {role!r} where {want!r} was expected; "
                              "turns must alternate user, assistant, user, ... (after an optional system turn)")
    if last is not None and (not body or body[-1][0] != last):
        what = "the response to learn" if last == "assistant" else "the prompt a response answers"
        raise RecordError(f"{where}: field {field!r} must end with {'an' if last == 'assistant' else 'a'} {last} turn ({what})")
