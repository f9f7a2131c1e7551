r"""Reward functions for GRPO: verifiers, not learned models.

A reward function has TRL's signature ``reward_fn(prompts, completions, **columns) -> list[float]``:
``prompts`` and ``completions`` are lists of strings of the same length (each prompt repeated once
per completion of its group), and every other column of the training rows (``answer``, ``task``, …)
arrives as a keyword argument holding one value per completion. Return one float per completion
(``None`` is not allowed: say 0.0 for "wrong").

The registry maps names to functions so a config can say ``reward_funcs=["exact_match", "format"]``:
:func:`register_reward` adds your own (``@register_reward("my_name")``), :func:`get_reward` looks a
name (or a callable) up.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from llmcourse import tasks

__all__ = ["RewardFn", "REWARDS", "register_reward", "get_reward", "exact_match_reward", "position_match_reward",
           "format_reward",
           "compute_rewards"]

RewardFn = Callable[..., Sequence[float]]
REWARDS: dict[str, RewardFn] = {}


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator: make a reward function available by ``name`` (refuses to overwrite another one)."""
    def add(fn: RewardFn) -> RewardFn:
        if name in REWARDS and REWARDS[name] is not fn:
            raise ValueError(f"a reward function named {name!r} is already registered ({REWARDS[name].__qualname__})")
        REWARDS[name] = fn
        return fn
    return add


def get_reward(name_or_fn: str | RewardFn) -> RewardFn:
    """A registered reward function by name, or the callable itself."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in REWARDS:
        raise KeyError(f"no reward function named {name_or_fn!r}; registered: {sorted(REWARDS)} "
                       "(add yours with @llmcourse.grpo.register_reward('name'))")
    return REWARDS[name_or_fn]


@register_reward("exact_match")
def exact_match_reward(prompts: Sequence[str], completions: Sequence[str], answer: Sequence[str] | None = None,
                       **columns) -> list[float]:
    """1.0 when the completion equals the row's ``answer`` after :func:`llmcourse.tasks.normalize`
    (whitespace), else 0.0 — the task world's exact-match checker used as the reward."""
    if answer is None:
        raise KeyError("the exact_match reward needs an 'answer' column in the training rows")
    return [float(tasks.normalize(c) == tasks.normalize(a)) for c, a in zip(completions, answer, strict=True)]


@register_reward("position_match")
def position_match_reward(prompts: Sequence[str], completions: Sequence[str], answer: Sequence[str] | None = None,
                          **columns) -> list[float]:
    r"""Partial credit from the same checker: the share of answer positions right,
    $\frac{|\{i : c_i = a_i\}|}{\max(|c|, |a|)}$ over the whitespace-separated items of the normalised
    completion $c$ and answer $a$ — 1.0 exactly when :func:`exact_match_reward` is 1, less for each wrong,
    missing or extra item. A shaping term beside exact match (weight it below 1), never instead of it."""
    if answer is None:
        raise KeyError("the position_match reward needs an 'answer' column in the training rows")
    out = []
    for c, a in zip(completions, answer, strict=True):
        c_items, a_items = tasks.normalize(c).split(), tasks.normalize(a).split()
        hits = sum(x == y for x, y in zip(c_items, a_items))
        out.append(hits / max(len(c_items), len(a_items), 1))
    return out


_ANSWER = re.compile(r"\s*\d+( \d+)*\s*")


@register_reward("format")
def format_reward(prompts: Sequence[str], completions: Sequence[str], **columns) -> list[float]:
    """1.0 when the completion is a well-formed task-world answer — digits separated by single
    spaces and nothing else (no filler, no words) — right or wrong; else 0.0."""
    return [float(_ANSWER.fullmatch(c) is not None) for c in completions]


def compute_rewards(reward_funcs: Sequence[str | RewardFn], prompts: Sequence[str], completions: Sequence[str],
                    columns: dict[str, Sequence], weights: Sequence[float] | None = None) -> list[list[float]]:
    """Each reward function's rewards, checked: one list of ``len(completions)`` finite floats per
    function (the trainer sums them with ``weights``). A wrong length or a non-number is an error that
    names the function and the row."""
    out = []
    for f in reward_funcs:
        fn = get_reward(f)
        name = getattr(fn, "__name__", repr(fn))
        values = list(fn(list(prompts), list(completions), **columns))
        if len(values) != len(completions):
            raise ValueError(f"reward function {name} returned {len(values)} rewards for {len(completions)} completions")
        for i, v in enumerate(values):
            if not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"reward function {name} returned {v!r} for completion {i} ({completions[i][:60]!r}); "
                                 "rewards must be finite numbers")
        out.append([float(v) for v in values])
    return out
