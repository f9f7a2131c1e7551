"""Reading dataset files: JSON arrays and JSON Lines, with errors that say file, record and field.

The seed guide's loader wraps ``json.load`` in ``except Exception: self.data = []`` — a typo in one
line silently becomes an empty dataset and a training run that "works". Here every problem raises
:class:`RecordError` naming the file, the line (JSONL) or index (JSON array), and the field.

Stage modules build on :func:`read_records` and :func:`require_str`; this module knows nothing about
what the fields mean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


class RecordError(ValueError):
    """A dataset file or record is malformed; the message names where and how to fix it."""


@dataclass(frozen=True)
class Located:
    """A record and where it came from (``"data.jsonl:12"`` or ``"data.json[3]"``)."""

    where: str
    record: dict[str, Any]


def _read_text(path: Path) -> str:
    if not path.exists():
        raise RecordError(f"{path}: no such file")
    if path.is_dir():
        raise RecordError(f"{path}: is a folder; pass a .json or .jsonl file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not UTF-8 text (byte {exc.start}); re-save the file as UTF-8") from exc


def iter_records(path: str | Path) -> Iterator[Located]:
    """Yield every record of a ``.json`` (array of objects, or ``{"data": [...]}``) or ``.jsonl`` file.

    The format is decided by the content, not the suffix: a file whose first non-blank character is
    ``[`` or which parses as one JSON value is a JSON document; otherwise it is read line by line.
    """
    path = Path(path)
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise RecordError(f"{path}: file is empty; expected a JSON array or JSON Lines of records")
    as_document = stripped[0] == "["
    if not as_document and path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
            as_document = True
        except json.JSONDecodeError:
            as_document = False  # maybe JSON Lines saved as .json: parse line by line below
    if as_document:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg})") from exc
        if isinstance(doc, dict):
            lists = [k for k, v in doc.items() if isinstance(v, list)]
            if len(lists) != 1:
                raise RecordError(f"{path}: top-level JSON object; expected an array of records "
                                  f"(or an object with exactly one list, found {lists or 'none'})")
            doc = doc[lists[0]]
        if not isinstance(doc, list):
            raise RecordError(f"{path}: top-level JSON is {type(doc).__name__}; expected an array of records")
        for i, rec in enumerate(doc):
            if not isinstance(rec, dict):
                raise RecordError(f"{path}[{i}]: record is {type(rec).__name__}; expected a JSON object")
            yield Located(f"{path}[{i}]", rec)
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{lineno}: malformed JSON at column {exc.colno} ({exc.msg}); "
                              "each line of a .jsonl file must be one complete JSON object") from exc
        if not isinstance(rec, dict):
            raise RecordError(f"{path}:{lineno}: line holds a {type(rec).__name__}; expected a JSON object")
        yield Located(f"{path}:{lineno}", rec)


def read_records(path: str | Path) -> list[Located]:
    """All records of a file; an empty dataset is an error, never a silent ``[]``."""
    out = list(iter_records(path))
    if not out:
        raise RecordError(f"{path}: no records found")
    return out


def require_str(rec: dict[str, Any], field: str, where: str, *, allow_empty: bool = False,
                optional: bool = False, hint: str = "") -> str:
    """``rec[field]`` as a string, or a :class:`RecordError` naming ``where`` and ``field``."""
    if field not in rec or rec[field] is None:
        if optional:
            return ""
        raise RecordError(f"{where}: missing field {field!r} (found {sorted(rec)}){'; ' + hint if hint else ''}")
    value = rec[field]
    if not isinstance(value, str):
        raise RecordError(f"{where}: field {field!r} must be a string, got {type(value).__name__} ({value!r:.60})")
    if not allow_empty and not value.strip():
        raise RecordError(f"{where}: field {field!r} is empty{'; ' + hint if hint else ''}")
    return value
