r"""The task world: small, exactly checkable tasks a tiny model can learn on a CPU in seconds.

Five operations on short lists of digits, each with one correct answer, so every stage has a
measurable effect:

========  =====================================  ==============  ===========
task      instruction                            input           output
========  =====================================  ==============  ===========
reverse   "Reverse the list."                    ``3 1 4``       ``4 1 3``
sort      "Sort the list in ascending order."    ``3 1 4``       ``1 3 4``
max       "What is the largest number?"          ``3 1 4``       ``4``
count     "How many numbers are in the list?"    ``3 1 4``       ``3``
add       "Add the two numbers."                 ``3 4``         ``7``
========  =====================================  ==============  ===========

What each stage gets from it:

* **pre-training text** (:func:`pretraining_text`): the same operations written as plain sentences
  ("the list 3 1 4 reversed is 4 1 3 ."), never in an instruction format — so the base model *knows*
  the operations but scores ≈ 0 exact match on instruction prompts until SFT teaches the format;
* **instruction records** (:func:`instruction_records`): Alpaca-format ``instruction/input/output``;
* **preference pairs** (:func:`preference_pairs`): the correct answer vs. a subtly wrong one (one
  digit changed, truncated, rambling), optionally with a deliberate **length bias** (``bias="length"``:
  the chosen answer carries filler ``" !"`` tokens) that a reward model learns and a policy can exploit;
* **RL prompts** (:func:`rl_prompts`) and the scorer :func:`exact_match`.

All generators take a ``seed`` (or a ``random.Random``) and never touch global random state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

TASKS = ("reverse", "sort", "max", "count", "add")

INSTRUCTIONS = {
    "reverse": "Reverse the list.",
    "sort": "Sort the list in ascending order.",
    "max": "What is the largest number?",
    "count": "How many numbers are in the list?",
    "add": "Add the two numbers.",
}

FILLER = " !"  # the token a length-biased reward model learns to like


@dataclass(frozen=True)
class Problem:
    """One task instance: ``items`` are the digits the task operates on."""

    task: str
    items: tuple[int, ...]

    @property
    def input(self) -> str:
        return " ".join(str(x) for x in self.items)

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS[self.task]

    @property
    def answer(self) -> str:
        return solve(self.task, self.items)


def solve(task: str, items: Sequence[int]) -> str:
    """The one correct answer, as text."""
    if task == "reverse":
        return " ".join(str(x) for x in reversed(items))
    if task == "sort":
        return " ".join(str(x) for x in sorted(items))
    if task == "max":
        return str(max(items))
    if task == "count":
        return str(len(items))
    if task == "add":
        return str(sum(items))
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def _rng(seed: int | random.Random) -> random.Random:
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def sample_problem(rng: random.Random, tasks: Sequence[str] = TASKS, min_len: int = 3, max_len: int = 6) -> Problem:
    task = rng.choice(list(tasks))
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    n = 2 if task == "add" else rng.randint(min_len, max_len)
    return Problem(task, tuple(rng.randint(0, 9) for _ in range(n)))


def problems(n: int, seed: int | random.Random = 0, tasks: Sequence[str] = TASKS) -> list[Problem]:
    """``n`` random problems (tasks drawn uniformly)."""
    rng = _rng(seed)
    return [sample_problem(rng, tasks) for _ in range(n)]


def split_problems(n_train: int, n_test: int, seed: int = 0, tasks: Sequence[str] = TASKS) -> tuple[list[Problem], list[Problem]]:
    """Disjoint train / held-out problems (no held-out problem appears in train)."""
    rng = _rng(seed)
    seen: set[Problem] = set()
    out: list[Problem] = []
    while len(out) < n_train + n_test:
        p = sample_problem(rng, tasks)
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out[:n_train], out[n_train:]


# --------------------------------------------------------------------------- pre-training text

_PLAIN = {
    "reverse": ["the list {x} reversed is {y} .", "{x} backwards reads {y} .", "reversing {x} gives {y} ."],
    "sort": ["the list {x} sorted is {y} .", "in order , {x} becomes {y} .", "sorting {x} gives {y} ."],
    "max": ["the largest of {x} is {y} .", "among {x} the biggest number is {y} .", "the maximum of {x} is {y} ."],
    "count": ["the list {x} has {y} numbers .", "there are {y} numbers in {x} .", "counting {x} gives {y} ."],
    "add": ["{a} plus {b} is {y} .", "adding {a} and {b} gives {y} .", "the sum of {a} and {b} is {y} ."],
}


def plain_example(p: Problem, rng: random.Random) -> tuple[str, int]:
    """The problem and its answer as one plain-text sentence, and where its predictable part starts.

    Returns ``(sentence, start)``: from character ``start`` on, the text follows from what came
    before — the answer (with the space before it) and the words after it. Everything before it is a
    random draw (the task, the wording, the digits). When the wording puts the answer before the list
    ("there are 3 numbers in 8 1 9 ."), nothing in the sentence follows from its past and ``start`` is
    ``len(sentence)``.
    """
    template = rng.choice(_PLAIN[p.task])
    a, b = (p.items + (0, 0))[:2]
    fields = dict(x=p.input, y=p.answer, a=a, b=b)
    sentence = template.format(**fields)
    answer_at = template.index(" {y}")
    if answer_at < max(template.find("{x}"), template.find("{b}")):
        return sentence, len(sentence)
    return sentence, len(template[:answer_at].format(**fields))


def plain_prompt(p: Problem, rng: random.Random) -> str:
    """The problem's plain sentence cut just before its answer ("the list 6 0 1 8 reversed is"): how to
    ask a base model in its own format. Wordings are drawn again until the answer comes after the
    whole input and ends the sentence, so the model's first words are the answer."""
    while True:
        sentence, start = plain_example(p, rng)
        if start < len(sentence) and sentence.endswith(f" {p.answer} ."):
            return sentence[:start]


def plain_sentence(p: Problem, rng: random.Random) -> str:
    """The problem and its answer as one plain-text sentence (pre-training style)."""
    return plain_example(p, rng)[0]


def pretraining_text(n: int, seed: int | random.Random = 0) -> list[str]:
    """``n`` plain sentences about the five operations — no instruction format anywhere."""
    return [s for s, _ in pretraining_examples(n, seed)]


def pretraining_examples(n: int, seed: int | random.Random = 0) -> list[tuple[str, int]]:
    """``n`` pairs ``(sentence, start)`` of :func:`plain_example` — the same sentences as
    :func:`pretraining_text` with the same seed, each with where its answer starts."""
    rng = _rng(seed)
    return [plain_example(sample_problem(rng), rng) for _ in range(n)]


# --------------------------------------------------------------------------- instruction records


def to_record(p: Problem) -> dict[str, str]:
    """An Alpaca-format record."""
    return {"instruction": p.instruction, "input": p.input, "output": p.answer}


def instruction_records(n: int, seed: int | random.Random = 0, tasks: Sequence[str] = TASKS) -> list[dict[str, str]]:
    """``n`` Alpaca-format records ``{"instruction", "input", "output"}``."""
    return [to_record(p) for p in problems(n, seed, tasks)]


# --------------------------------------------------------------------------- preference pairs


def wrong_answer(p: Problem, rng: random.Random) -> str:
    """A subtly wrong answer: one digit changed, truncated, or rambling past the answer."""
    right = p.answer.split()
    kind = rng.choice(["digit", "truncate", "ramble"] if len(right) > 1 else ["digit", "ramble"])
    if kind == "digit":
        out = list(right)
        i = rng.randrange(len(out))
        if len(out[i]) == 1:
            out[i] = str((int(out[i]) + rng.randint(1, 9)) % 10)
        else:  # two-digit sums: change the value, keep it plausible
            out[i] = str(int(out[i]) + rng.choice([-2, -1, 1, 2]))
        return " ".join(out)
    if kind == "truncate":
        return " ".join(right[: rng.randint(1, len(right) - 1)])
    return " ".join(right + [str(rng.randint(0, 9)) for _ in range(rng.randint(1, 3))])


def preference_pairs(n: int, seed: int | random.Random = 0, *, bias: str | None = None,
                     tasks: Sequence[str] = TASKS, template: Callable[[dict], str] | None = None) -> list[dict[str, str]]:
    """``n`` records ``{"prompt", "chosen", "rejected"}``: chosen = correct answer, rejected = wrong.

    ``bias="length"`` plants a spurious preference: the chosen answer is followed by 1–4 filler
    tokens (``" !"``), so a reward model learns "more ``!`` is better" alongside correctness — the
    exploitable bias of the reward-hacking lab. ``template`` renders the prompt from a record
    (default: the instruction and input on two lines).
    """
    if bias not in (None, "length"):
        raise ValueError(f"bias must be None or 'length', got {bias!r}")
    rng = _rng(seed)
    out = []
    for p in problems(n, rng, tasks):
        rec = to_record(p)
        prompt = template(rec) if template else f"{rec['instruction']}\n{rec['input']}"
        chosen, rejected = p.answer, wrong_answer(p, rng)
        if bias == "length":
            chosen = chosen + FILLER * rng.randint(1, 4)
        out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out


# --------------------------------------------------------------------------- RL prompts and scoring


def rl_prompts(n: int, seed: int | random.Random = 0, tasks: Sequence[str] = TASKS) -> list[dict[str, str]]:
    """Records for PPO: Alpaca fields plus the reference answer the exact-match scorer needs."""
    return [to_record(p) for p in problems(n, seed, tasks)]


def normalize(text: str) -> str:
    """Whitespace-normalised answer text (generation may add a trailing space or newline)."""
    return " ".join(text.split())


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference after whitespace normalisation, in [0, 1]."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("exact_match of an empty list is undefined")
    return sum(normalize(p) == normalize(r) for p, r in zip(predictions, references)) / len(references)
