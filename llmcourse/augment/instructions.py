r"""Self-Instruct (Wang et al., 2023): a model writes new tasks from a few examples; filters keep the new ones.

One round: sample seed tasks (and a few already generated ones) into a numbered prompt, let a
generator continue it, parse the new tasks, and keep a task only if

* its instruction has between ``min_words`` and ``max_words`` words, starts with a letter or digit,
  and names nothing a text model cannot do (:data:`BANNED_KEYWORDS`: images, files, …);
* its **ROUGE-L** F-measure with *every* instruction kept so far (seeds included) is at most 0.7:

$$\text{ROUGE-L}(a, b) = \frac{2\,\mathrm{LCS}(a, b)}{|a| + |b|}$$

over tokens (lower-cased alphanumeric runs, as in ``rouge-score``); ``LCS`` is the longest common
subsequence. This is the F-measure $2PR/(P+R)$ with $P = \mathrm{LCS}/|a|$, $R = \mathrm{LCS}/|b|$,
computed as one division so that a pair at exactly 0.7 (LCS 7 of 10 + 10 tokens) is kept; ``rouge-score``
computes $2PR/(P+R)$ in floating point and gets 0.7000000000000001 there.

:func:`lcs_length` uses the bit-parallel LCS recurrence (Allison & Dix 1986; Hyyrö 2004): the rows of
the LCS table are encoded in one integer, so a pair costs $O(|b|)$ integer operations.
:class:`RougeLFilter` adds an inverted index: $\mathrm{LCS}(a, b) \le \sum_t \min(c_a(t), c_b(t))$
(shared tokens, with multiplicity), so only instructions whose token overlap could exceed the
threshold are compared exactly — near-linear on realistic pools instead of all pairs.
"""

from __future__ import annotations

import random
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from llmcourse.augment.word_level import as_rng

__all__ = [
    "rouge_tokenize", "lcs_length", "rouge_l", "RougeLFilter", "rouge_l_filter", "BANNED_KEYWORDS",
    "instruction_filter_reason", "encode_prompt", "parse_tasks", "SelfInstructResult", "self_instruct",
]

_TOKEN = re.compile(r"[^\W_]+")


def rouge_tokenize(text: str) -> list[str]:
    """Lower-cased runs of letters/digits: ``"Sort, the list!"`` -> ``['sort', 'the', 'list']``.

    On ASCII text this is ``rouge-score``'s default tokenizer (no stemming); on other scripts it keeps
    the letters (``rouge-score`` drops non-ASCII letters, so ``"café"`` becomes ``"caf"`` there).
    """
    return _TOKEN.findall(text.lower())


def lcs_length(a: Sequence, b: Sequence) -> int:
    r"""Length of the longest common subsequence of two token sequences (bit-parallel, exact).

    Bit $i$ of ``V`` is 1 while row $i$ of the LCS table has not yet gained a match; for each
    token $y$ of ``b``: $U = V \wedge M_y$, $V \leftarrow (V + U) \vee (V - U)$, where $M_y$ marks the
    positions of $y$ in ``a``. At the end, $\mathrm{LCS} = |a| - \mathrm{popcount}(V)$.

    >>> lcs_length("a b c d".split(), "a c e d".split())
    3
    """
    m = len(a)
    if m == 0 or len(b) == 0:
        return 0
    masks: dict = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    return _lcs_with_masks(masks, m, b)


def _lcs_with_masks(masks: Mapping, m: int, b: Iterable) -> int:
    full = (1 << m) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        if u:
            v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def rouge_l(candidate: str | Sequence[str], reference: str | Sequence[str]) -> float:
    r"""ROUGE-L F-measure $2\,\mathrm{LCS}/(|a| + |b|)$; strings are tokenised with :func:`rouge_tokenize`.

    Symmetric; 0 when either side has no tokens (as ``rouge-score``).

    >>> rouge_l("Sort the list.", "sort the numbers in the list")
    0.6666666666666666
    """
    a = rouge_tokenize(candidate) if isinstance(candidate, str) else list(candidate)
    b = rouge_tokenize(reference) if isinstance(reference, str) else list(reference)
    if not a or not b:
        return 0.0
    return 2 * lcs_length(a, b) / (len(a) + len(b))


class RougeLFilter:
    r"""A growing pool of instructions; :meth:`add` keeps a new one only if its ROUGE-L with every
    instruction in the pool is ``<= threshold``.

    Exact (the same decisions as comparing all pairs) and fast: an inverted index bounds each
    candidate's LCS with every pooled instruction by their shared-token count, and only those whose
    bound $2U/(|a|+|b|)$ exceeds the threshold are compared with :func:`lcs_length`.
    """

    def __init__(self, existing: Iterable[str] = (), threshold: float = 0.7,
                 tokenizer: Callable[[str], list[str]] = rouge_tokenize):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold={threshold!r}: expected a number in [0, 1] (Self-Instruct uses 0.7)")
        if isinstance(existing, str):
            raise TypeError("existing: expected a list of instructions, got a single str")
        self.threshold = float(threshold)
        self.tokenizer = tokenizer
        self.comparisons = 0  # exact LCS computations so far (the index skips the rest)
        self.texts: list[str] = []
        self._ids: dict[str, int] = {}  # token -> integer id
        self._masks: list[dict[int, int]] = []  # per pooled text: token id -> bit mask of its positions
        self._lengths = array("q")
        self._post: dict[int, tuple[array, array]] = {}  # token id -> (text indices, counts)
        for i, text in enumerate(existing):
            if not isinstance(text, str):
                raise TypeError(f"existing[{i}]: expected str, got {type(text).__name__}")
            self._insert(text, self._encode(text))

    def __len__(self) -> int:
        return len(self.texts)

    def _encode(self, text: str) -> list[int]:
        ids = self._ids
        return [ids.setdefault(tok, len(ids)) for tok in self.tokenizer(text)]

    def _insert(self, text: str, toks: list[int]) -> None:
        index = len(self.texts)
        self.texts.append(text)
        masks: dict[int, int] = {}
        for i, t in enumerate(toks):
            masks[t] = masks.get(t, 0) | (1 << i)
        self._masks.append(masks)
        self._lengths.append(len(toks))
        for t, c in Counter(toks).items():
            post = self._post.get(t)
            if post is None:
                post = self._post[t] = (array("q"), array("q"))
            post[0].append(index)
            post[1].append(c)

    def _suspects(self, toks: list[int]) -> np.ndarray:
        """Pooled texts whose shared-token bound on ROUGE-L exceeds the threshold, best bound first."""
        n = len(self.texts)
        if n == 0 or not toks:
            return np.zeros(0, dtype=np.int64)
        shared = np.zeros(n, dtype=np.int64)
        for t, c in Counter(toks).items():
            post = self._post.get(t)
            if post is not None:
                idx = np.frombuffer(post[0], dtype=np.int64)
                cnt = np.frombuffer(post[1], dtype=np.int64)
                shared[idx] += np.minimum(cnt, c)
        lengths = np.frombuffer(self._lengths, dtype=np.int64)
        bound = 2.0 * shared / (len(toks) + lengths)
        hits = np.flatnonzero(bound > self.threshold)
        return hits[np.argsort(-bound[hits], kind="stable")]

    def _score(self, toks: list[int], j: int) -> float:
        m = self._lengths[j]
        if m == 0:
            return 0.0
        self.comparisons += 1
        return 2 * _lcs_with_masks(self._masks[j], m, toks) / (m + len(toks))

    def max_similarity(self, text: str) -> tuple[float, int | None]:
        """Highest ROUGE-L of ``text`` with the pool, and the index of that instruction (``None`` if no
        pooled instruction can exceed the threshold; then the score returned is 0.0)."""
        toks = [self._ids.get(t, -1) for t in self.tokenizer(text)]
        best, arg = 0.0, None
        for j in self._suspects(toks):
            s = self._score(toks, int(j))
            if s > best:
                best, arg = s, int(j)
        return best, arg

    def add(self, text: str) -> bool:
        """Add ``text`` to the pool if no pooled instruction has ROUGE-L ``> threshold`` with it."""
        if not isinstance(text, str):
            raise TypeError(f"expected an instruction str, got {type(text).__name__}")
        known = [self._ids.get(t, -1) for t in self.tokenizer(text)]
        for j in self._suspects(known):
            if self._score(known, int(j)) > self.threshold:
                return False
        self._insert(text, self._encode(text))
        return True


def rouge_l_filter(candidates: Sequence[str], existing: Sequence[str] = (), threshold: float = 0.7) -> list[str]:
    """The candidates Self-Instruct keeps, in order: each must have ROUGE-L ``<= threshold`` with every
    instruction in ``existing`` *and* with every candidate kept before it. Inputs are not modified.

    >>> rouge_l_filter(["Sort the list.", "Sort the list!", "Add two numbers."], ["Reverse the list."])
    ['Sort the list.', 'Add two numbers.']
    """
    pool = RougeLFilter(existing, threshold)
    return [c for c in candidates if pool.add(c)]


# --------------------------------------------------------------------------- generation and parsing

# Instructions asking for things a text-only model cannot do or check (the Self-Instruct paper filters
# such keywords; this list is ours).
BANNED_KEYWORDS: tuple[str, ...] = (
    "image", "images", "picture", "pictures", "photo", "photos", "graph", "graphs", "chart", "diagram",
    "flowchart", "draw", "plot", "video", "audio", "music", "sound", "file", "files", "map", "maps",
    "go to", "website", "url", "click",
)

PROMPT_HEADER = (
    "Below are example tasks. Each has an instruction, an optional input, and the correct output. "
    "Write new tasks in the same format. Make them diverse: different verbs, topics and lengths; an input "
    "only when the task needs one.\n\n"
)


def instruction_filter_reason(instruction: str, *, min_words: int = 3, max_words: int = 150,
                              banned_keywords: Sequence[str] = BANNED_KEYWORDS) -> str | None:
    """Why a generated instruction is rejected (``"too_short"``, ``"too_long"``, ``"bad_start"``,
    ``"banned_keyword"``), or ``None`` when it passes the length and keyword filters."""
    words = instruction.split()
    if len(words) < min_words:
        return "too_short"
    if len(words) > max_words:
        return "too_long"
    if not instruction.strip()[0].isalnum():
        return "bad_start"
    text = " " + " ".join(rouge_tokenize(instruction)) + " "
    if any(f" {kw} " in text for kw in banned_keywords):
        return "banned_keyword"
    return None


def _check_records(records: Sequence[Mapping], name: str) -> None:
    if isinstance(records, Mapping) or isinstance(records, str):
        raise TypeError(f"{name}: expected a list of Alpaca records, got {type(records).__name__}")
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise TypeError(f"{name}[{i}]: expected a dict with 'instruction', 'input', 'output', "
                            f"got {type(r).__name__}")
        for key in ("instruction", "output"):
            if not isinstance(r.get(key), str) or not r.get(key).strip():
                raise ValueError(
                    f"{name}[{i}]: missing or empty field {key!r} (found {sorted(r)}); Alpaca records need "
                    "'instruction' and 'output' ('input' may be empty)"
                )


def encode_prompt(examples: Sequence[Mapping], header: str = PROMPT_HEADER) -> str:
    """A numbered few-shot prompt of Alpaca records that ends where the next task's instruction starts.

    >>> print(encode_prompt([{"instruction": "Add the two numbers.", "input": "3 4", "output": "7"}]))
    Below are ...
    <BLANKLINE>
    Task 1
    Instruction: Add the two numbers.
    Input: 3 4
    Output: 7
    <BLANKLINE>
    Task 2
    Instruction:
    """
    _check_records(examples, "examples")
    parts = [header]
    for i, r in enumerate(examples, 1):
        inp = (r.get("input") or "").strip() or "<none>"
        parts.append(f"Task {i}\nInstruction: {r['instruction'].strip()}\nInput: {inp}\n"
                     f"Output: {r['output'].strip()}\n\n")
    parts.append(f"Task {len(examples) + 1}\nInstruction:")
    return "".join(parts)


_TASK_SPLIT = re.compile(r"^\s*Task\s+\d+\s*:?\s*$", re.MULTILINE)
_FIELD = re.compile(r"^\s*(Instruction|Input|Output)\s*:\s?", re.MULTILINE | re.IGNORECASE)


def parse_tasks(completion: str) -> tuple[list[dict[str, str]], int]:
    """Parse a completion of :func:`encode_prompt` (which starts inside ``Instruction:``) into Alpaca
    records; returns ``(records, number of unparsable chunks)``. A chunk needs a non-empty instruction
    and output; ``Input: <none>`` (or no input) becomes ``""``."""
    chunks = _TASK_SPLIT.split("Instruction:" + completion)
    records, bad = [], 0
    for chunk in chunks:
        if not chunk.strip():
            continue
        fields: dict[str, str] = {}
        pieces = _FIELD.split(chunk)
        for name, value in zip(pieces[1::2], pieces[2::2]):
            fields.setdefault(name.lower(), value.strip())
        inst, out = fields.get("instruction", ""), fields.get("output", "")
        if not inst or not out:
            bad += 1
            continue
        inp = fields.get("input", "")
        records.append({"instruction": inst, "input": "" if inp.lower() in ("<none>", "none", "<noinput>") else inp,
                        "output": out})
    return records, bad


@dataclass
class SelfInstructResult:
    """The new Alpaca records (seeds excluded) and what each filter removed."""

    records: list[dict[str, str]]
    stats: dict[str, int] = field(default_factory=dict)


def self_instruct(seed_records: Sequence[Mapping], generator: Callable[[list[str]], list[str]], *,
                  num_instructions: int, rng: random.Random | int | None = None, num_seed_tasks: int = 6,
                  num_generated_tasks: int = 2, batch_size: int = 4, max_calls: int = 100,
                  rouge_threshold: float = 0.7, min_words: int = 3, max_words: int = 150,
                  banned_keywords: Sequence[str] = BANNED_KEYWORDS) -> SelfInstructResult:
    """Grow ``num_instructions`` new Alpaca records from ``seed_records`` with ``generator``.

    ``generator`` is any callable ``list[prompt] -> list[completion]`` (one completion per prompt): an
    API client, :func:`llmcourse.augment.hf_generator` around a Hugging Face model, or a test stub.
    Each prompt holds ``num_seed_tasks`` seed tasks and, as in the paper, up to ``num_generated_tasks``
    tasks generated earlier, drawn with ``rng``. Stops after ``max_calls`` generator calls even if
    fewer records were kept (``stats["kept"]`` says how many).
    """
    _check_records(seed_records, "seed_records")
    if not seed_records:
        raise ValueError("seed_records is empty; Self-Instruct needs a few human-written tasks to start from")
    for name, value in (("num_instructions", num_instructions), ("batch_size", batch_size), ("max_calls", max_calls),
                        ("num_seed_tasks", num_seed_tasks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: expected an int >= 1")
    if not callable(generator):
        raise TypeError(f"generator: expected a callable list[str] -> list[str], got {type(generator).__name__}")
    gen = as_rng(rng)
    pool = RougeLFilter([r["instruction"] for r in seed_records], rouge_threshold)
    seeds = [dict(r) for r in seed_records]
    kept: list[dict[str, str]] = []
    stats = Counter({k: 0 for k in ("calls", "prompts", "parsed", "unparsable", "too_short", "too_long",
                                    "bad_start", "banned_keyword", "similar", "kept")})
    while len(kept) < num_instructions and stats["calls"] < max_calls:
        prompts = []
        for _ in range(batch_size):
            shots = gen.sample(seeds, min(num_seed_tasks, len(seeds)))
            shots += gen.sample(kept, min(num_generated_tasks, len(kept)))
            prompts.append(encode_prompt(shots))
        completions = generator(prompts)
        stats["calls"] += 1
        stats["prompts"] += len(prompts)
        if isinstance(completions, str) or not isinstance(completions, Sequence) or len(completions) != len(prompts):
            raise TypeError(
                f"generator returned {type(completions).__name__}"
                f"{'' if not isinstance(completions, Sequence) else f' of length {len(completions)}'}; "
                f"expected a list of {len(prompts)} completion strings (one per prompt)"
            )
        for text in completions:
            records, bad = parse_tasks(str(text))
            stats["unparsable"] += bad
            stats["parsed"] += len(records)
            for rec in records:
                reason = instruction_filter_reason(rec["instruction"], min_words=min_words, max_words=max_words,
                                                   banned_keywords=banned_keywords)
                if reason is None and not pool.add(rec["instruction"]):
                    reason = "similar"
                if reason is not None:
                    stats[reason] += 1
                    continue
                kept.append(rec)
                stats["kept"] += 1
                if len(kept) >= num_instructions:
                    break
            if len(kept) >= num_instructions:
                break
    return SelfInstructResult(kept, dict(stats))
