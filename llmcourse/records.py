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


# Compressed files: read when the standard library can, named (with the fix) otherwise.
_DECOMPRESS = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "lzma"}
_REFUSED = {b"PK\x03\x04": ("zip", "unzip it and pass the .json/.jsonl inside"),
            b"\x28\xb5\x2f\xfd": ("zstd", "decompress it (zstd -d FILE) or re-compress with gzip"),
            b"PAR1": ("Parquet", "convert it: pandas.read_parquet(FILE).to_json(OUT, orient='records', lines=True)")}


def _read_text(path: Path) -> str:
    """The file's text: gzip / bz2 / xz decompressed, a UTF-8 byte-order mark removed."""
    if not path.exists():
        raise RecordError(f"{path}: no such file")
    if path.is_dir():
        raise RecordError(f"{path}: is a folder; pass a .json or .jsonl file")
    data = path.read_bytes()
    for magic, (name, fix) in _REFUSED.items():
        if data.startswith(magic):
            raise RecordError(f"{path}: a {name} file, not JSON text; {fix}")
    for magic, module in _DECOMPRESS.items():
        if data.startswith(magic):
            import importlib

            try:
                data = importlib.import_module(module).decompress(data)
            except (OSError, EOFError, ValueError) as exc:
                raise RecordError(f"{path}: a damaged {module} file ({exc}); re-compress it or pass it uncompressed") from exc
            break
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RecordError(f"{path}: UTF-16 text (byte-order mark {data[:2].hex(' ')}); re-save the file as UTF-8")
    try:
        return data.decode("utf-8-sig")  # -sig: a leading byte-order mark is not part of the JSON
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not UTF-8 text (byte {exc.start}); re-save the file as UTF-8") from exc


def _loads(text: str):
    """``json.loads`` that fails with :class:`ValueError` only (deeply nested JSON included)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply for Python's parser; a record is an object of fields, "
                         "not thousands of nested arrays") from None


def short_repr(value: Any, width: int = 60) -> str:
    """A bounded ``repr`` for messages: a few levels and characters (deeply nested values stay safe)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 3, width, width
    return r.repr(value)[: width + 10]


def _inner_suffix(path: Path) -> str:
    """``.jsonl`` for ``data.jsonl.gz``; the suffix that says what the (decompressed) text is."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz") and len(suffixes) > 1:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def iter_records(path: str | Path) -> Iterator[Located]:
    """Yield every record of a ``.json`` (array of objects, or ``{"data": [...]}``) or ``.jsonl`` file.

    The format is decided by the content, not the suffix: a file whose first non-blank character is
    ``[`` or which parses as one JSON value is a JSON document; otherwise it is read line by line.
    gzip, bz2 and xz files are decompressed (``data.jsonl.gz``); a UTF-8 byte-order mark is skipped.
    """
    path = Path(path)
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise RecordError(f"{path}: file is empty; expected a JSON array or JSON Lines of records")
    as_document = stripped[0] == "["
    if not as_document and _inner_suffix(path) == ".json":
        try:
            _loads(text)
            as_document = True
        except ValueError:
            as_document = False  # maybe JSON Lines saved as .json: parse line by line below
    if as_document:
        try:
            doc = _loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg})") from exc
        except ValueError as exc:
            raise RecordError(f"{path}: {exc}") from exc
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
    # split on "\n" only: str.splitlines would also split at U+2028, U+0085, … which JSON strings may hold
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = _loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{lineno}: malformed JSON at column {exc.colno} ({exc.msg}); "
                              "each line of a .jsonl file must be one complete JSON object") from exc
        except ValueError as exc:
            raise RecordError(f"{path}:{lineno}: {exc}") from exc
        if not isinstance(rec, dict):
            raise RecordError(f"{path}:{lineno}: line holds a {type(rec).__name__}; expected a JSON object")
        yield Located(f"{path}:{lineno}", rec)


def read_records(path: str | Path) -> list[Located]:
    """All records of a file; an empty dataset is an error, never a silent ``[]``."""
    out = list(iter_records(path))
    if not out:
        raise RecordError(f"{path}: no records found")
    return out


def check_text(value: str, where: str, field: str) -> str:
    """``value`` unchanged, or a :class:`RecordError` if it cannot be encoded as UTF-8 (a lone UTF-16
    surrogate such as ``"\ud800"``, which JSON escapes can spell but no tokenizer accepts)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(f"{where}: field {field!r} holds a lone surrogate {value[exc.start]!r} at character "
                          f"{exc.start} (an unpaired \\ud800–\\udfff escape); it is not text — fix or drop "
                          "the record") from None
    return value


def content_text(parts: list, where: str, field: str) -> str:
    """OpenAI-style content parts ``[{"type": "text", "text": ...}, ...]`` as one string, the text parts
    joined by newlines; any other part (an image, audio, a file) is an error naming it."""
    texts = []
    for i, part in enumerate(parts):
        at = f"{where}: {field}[{i}]"
        if not isinstance(part, dict):
            raise RecordError(f"{at} is {type(part).__name__}; a content part is an object like "
                              '{"type": "text", "text": "..."}')
        kind = part.get("type", "text")
        if kind not in ("text", "input_text", "output_text"):
            raise RecordError(f"{at} is a {kind!r} part; only text parts can be trained on here "
                              "(the models are text-only) — drop the part or the record")
        texts.append(require_str(part, "text", at, allow_empty=True))
    return "\n".join(texts)


def require_str(rec: dict[str, Any], field: str, where: str, *, allow_empty: bool = False,
                optional: bool = False, hint: str = "", parts: bool = False) -> str:
    """``rec[field]`` as a string, or a :class:`RecordError` naming ``where`` and ``field``.

    ``optional``: a missing or ``null`` field reads as ``""``. Otherwise a missing field and a
    ``null`` one are different errors, each named as what it is. ``parts``: a list of OpenAI
    content parts is accepted too (:func:`content_text`)."""
    if field not in rec or rec[field] is None:
        if optional:
            return ""
        if field in rec:
            what = f"field {field!r} is null; expected a string" + (' ("" for none)' if allow_empty else "")
        else:
            what = f"missing field {field!r} (found {sorted(rec)})"
        raise RecordError(f"{where}: {what}{'; ' + hint if hint else ''}")
    value = rec[field]
    if parts and isinstance(value, list):
        value = content_text(value, where, field)
    if not isinstance(value, str):
        raise RecordError(f"{where}: field {field!r} must be a string, got {type(value).__name__} ({short_repr(value)})")
    if not allow_empty and not value.strip():
        raise RecordError(f"{where}: field {field!r} is empty{'; ' + hint if hint else ''}")
    return check_text(value, where, field)
