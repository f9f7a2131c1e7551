"""The harness shared by the notebook-04 graders (:mod:`llmcourse.checks.augment`): the graders'
thesaurus and sentences, the guarded call of an answer (time limit, quiet, mutation and type checks), and
the contract checks every random augmentation shares (seeded, varied, independent of string hashing,
α = 0 unchanged)."""

from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
from typing import Any, Callable, Sequence

from llmcourse import augment
from llmcourse.checks import calls_reference, fail, quiet, short_repr

# The graders' thesaurus: a few content words with synonyms, one without, and stop words *with*
# synonyms — so an answer that forgets the stop-word rule is caught replacing them.
THESAURUS: dict[str, list[str]] = {
    "quick": ["fast", "rapid", "speedy"], "brown": ["tan", "umber"], "fox": ["vixen", "reynard"],
    "jumps": ["leaps", "hops", "bounds"], "lazy": ["idle", "sluggish"], "dog": ["hound", "canine", "pooch"],
    "movie": ["film", "picture"], "great": ["excellent", "superb"], "plot": ["storyline", "story"],
    "actors": ["performers", "cast"], "sort": ["order", "arrange"], "list": ["sequence", "series"],
    "numbers": ["digits", "figures"], "reverse": ["invert", "flip"], "add": ["sum", "total"],
    "the": ["this", "that"], "over": ["above", "across"], "was": ["is", "became"], "and": ["plus", "also"],
    "in": ["inside", "within"], "a": ["one", "any"],
}


def synonyms(word: str) -> list[str]:
    """The graders' synonym source (a plain function, like the ones your code receives)."""
    return list(THESAURUS.get(word.lower(), ()))


SENTENCES = [
    "the quick brown fox jumps over the lazy dog".split(),
    "the movie was great and the plot was great".split(),  # 'great' twice: one word, two positions
    "sort the list of numbers in ascending order and reverse it".split(),
]


TIME_LIMIT = 5.0  # seconds per call of an answer; a correct one takes milliseconds


class _TooSlow(BaseException):
    """Raised by the time limit (a BaseException so `except Exception` in an answer can't swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _alarm(signum, frame):
        raise _TooSlow()

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _call(fn: Callable, name: str, words: list[str], *rest: Any, **kwargs: Any) -> list[str]:
    """Run an answer on ``words``: named failures for not implemented, errors, endless loops, mutation,
    and a result that is not a list of str. Warnings from the answer are captured (stderr costs points)."""
    before = list(words)
    shown = ", ".join([short_repr(words, 90)] + [short_repr(r, 40) for r in rest if not isinstance(r, random.Random)]
                      + [f"{k}={short_repr(v, 40)}" for k, v in kwargs.items()])
    try:
        with _time_limit(TIME_LIMIT), quiet():
            out = fn(words, *rest, **kwargs)
    except NotImplementedError:
        fail(f"✗ {name}: not implemented yet — replace `raise NotImplementedError()` with your code.")
    except _TooSlow:
        fail(f"✗ {name}: did not finish within {TIME_LIMIT:g} s on ({shown}). An endless loop? With no word that has a synonym, "
             "a loop that waits for one never ends: loop over the candidates (or a bounded number of tries) instead.")
    except Exception as exc:
        if len(words) < 2:
            fail(f"✗ {name}: crashed on a short sentence ({shown}): {type(exc).__name__}: {exc}\n"
                 "  An empty or one-word sentence is valid input: return a copy when there is nothing to do.")
        fail(f"✗ {name}: your function raised {type(exc).__name__}: {exc}\n  inputs: {shown}")
    if words != before:
        fail(f"✗ {name}: mutating the caller's list — the input {short_repr(before, 90)} became {short_repr(words, 90)}.\n"
             "  Work on a copy (`new_words = list(words)`) and return it; the caller may augment the same sentence again.")
    if not isinstance(out, list) or not all(isinstance(w, str) for w in out):
        fail(f"✗ {name}: expected a list of str (words), got {short_repr(out, 90)} on ({shown}).")
    return out


def _refuse_reference(fn: Callable, reference: Callable, name: str) -> None:
    if not callable(fn):
        fail(f"✗ {name}: expected a function, got {type(fn).__name__} — define it in the cell above and run that cell.")
    if calls_reference(fn, reference):
        fail(f"✗ {name}: your answer calls the package's `llmcourse.augment.{reference.__name__}`. "
             "Reading it is fine; this exercise asks you to write it yourself.")


def _check_seeded(fn: Callable, name: str, make: Callable[[random.Random], tuple], words: list[str]) -> None:
    """Same seed -> same output, even when the global `random` state differs between the calls."""
    state = random.getstate()
    outs = []
    try:
        for global_seed in (1, 2, 3, 4):  # an answer drawing from `random` itself sees four different states
            random.seed(global_seed)
            outs.append(_call(fn, name, list(words), *make(random.Random(7))))
    finally:
        random.setstate(state)
    a, b = outs[0], next((o for o in outs if o != outs[0]), outs[0])
    if a != b:
        fail(f"✗ {name}: not reproducible — two calls with `random.Random(7)` gave\n  {short_repr(a, 100)}\n  "
             f"{short_repr(b, 100)}\n  Draw every random number from the `rng` argument (`rng.random()`, "
             "`rng.choice(...)`, `rng.sample(...)`), never from the `random` module itself.")


def _check_variety(fn: Callable, name: str, make: Callable[[random.Random], tuple], words: list[str]) -> None:
    """Repeated calls with one generator must not all give the same augmentation."""
    rng = random.Random(3)
    outs = [tuple(_call(fn, name, list(words), *make(rng))) for _ in range(8)]
    if len(set(outs)) == 1:
        fail(f"✗ {name}: same RNG state reused so every augmentation is identical — 8 calls sharing one generator "
             f"all returned {short_repr(list(outs[0]), 90)}.\n  Use the `rng` you are given and let it advance: "
             "don't create `random.Random(seed)` inside the function or copy the generator.")


class _Salted(str):
    """A word whose hash depends on a salt, as a string's hash depends on ``PYTHONHASHSEED`` in a fresh
    process: a ``set`` of these iterates in another order for each salt, while equality, ``dict.fromkeys``
    order and sorting are unchanged. A correct answer cannot tell the salts apart."""

    salt = 0

    def __hash__(self) -> int:
        return hash((type(self).salt, str(self)))


def _salted_words(words: Sequence[str], salt: int) -> list[str]:
    cls = type(f"_Salted{salt}", (_Salted,), {"salt": salt})
    return [cls(w) for w in words]


def _check_hash_independent(fn: Callable, name: str, words: list[str], *rest: Any, with_stop_words: bool) -> None:
    """The same seed must give the same output in every process: run the answer with words (and stop
    words, synonyms) hashed as eight different ``PYTHONHASHSEED`` values would hash them."""
    outs = []
    for salt in range(8):
        salted = lambda ws, salt=salt: _salted_words(ws, salt)  # noqa: E731
        args = [synonyms_salted(salt) if r is synonyms else r for r in rest]
        kwargs = {"stop_words": frozenset(salted(augment.STOP_WORDS))} if with_stop_words else {}
        outs.append([str(w) for w in _call(fn, name, salted(words), *args, random.Random(11), **kwargs)])
    if any(o != outs[0] for o in outs):
        other = next(o for o in outs if o != outs[0])
        fail(f"✗ {name}: not reproducible across processes (set ordering) — with `random.Random(11)` the same "
             f"sentence gave\n  {short_repr(outs[0], 100)}\n  {short_repr(other, 100)}\n  when strings hash "
             "differently, as they do in every new Python process (PYTHONHASHSEED). A `set` iterates in hash order: "
             "use `dict.fromkeys(words)` for distinct words in order, and lists for synonyms.")


def synonyms_salted(salt: int) -> Callable[[str], list[str]]:
    def salted_synonyms(word: str) -> list[str]:
        return _salted_words(synonyms(word), salt)

    return salted_synonyms


def _check_alpha_zero(fn: Callable, name: str, *rest: Any) -> None:
    words = list(SENTENCES[0])
    out = _call(fn, name, list(words), 0.0, *rest, random.Random(0))
    if out != words:
        fail(f"✗ {name}: α = 0 still changes the sentence — {' '.join(words)!r} became {' '.join(out)!r}.\n"
             "  n = max(1, ⌊α·ℓ⌋) is for α > 0; with α = 0 return an unchanged copy.")


def _n(alpha: float, length: int) -> int:
    return 0 if alpha == 0 or length == 0 else max(1, math.floor(alpha * length + 1e-9))


def _changed(a: Sequence[str], b: Sequence[str]) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
