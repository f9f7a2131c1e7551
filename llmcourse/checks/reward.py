r"""Graders for notebook 02 (reward models): the Bradley–Terry loss in NumPy and PyTorch, rankings →
pairs, and reading the score at the last real token.

Each grader compares a student's function with the package reference (:mod:`llmcourse.reward`) on
fixed cases (and, with ``hidden=True``, random ones) and names the classic mistake when the student's
output matches one. Graders return ``None`` and write nothing to stderr.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from llmcourse import reward
from llmcourse.checks import Case, Mistake, check_function, fail, passed, quiet, uses

# --------------------------------------------------------------------------- exercise 1: NumPy loss


def _np_per_pair(chosen, rejected):
    """The right per-pair loss, written independently of the reference (mistakes below reuse it)."""
    return np.logaddexp(0.0, -(np.asarray(chosen, dtype=np.float64) - np.asarray(rejected, dtype=np.float64)))


def _np_reduce(per, reduction):
    return per.sum() if reduction == "sum" else per.mean()


def _np_sign_flipped(chosen, rejected, reduction="mean"):
    return _np_reduce(_np_per_pair(rejected, chosen), reduction)


def _np_naive_overflow(chosen, rejected, reduction="mean"):
    with np.errstate(over="ignore", divide="ignore"):
        per = -np.log(1.0 / (1.0 + np.exp(-(np.asarray(chosen, float) - np.asarray(rejected, float)))))
    return _np_reduce(per, reduction)


def _np_always_mean(chosen, rejected, reduction="mean"):
    return _np_per_pair(chosen, rejected).mean()


def _np_always_sum(chosen, rejected, reduction="mean"):
    return _np_per_pair(chosen, rejected).sum()


def _np_missing_minus(chosen, rejected, reduction="mean"):
    return -_np_reduce(_np_per_pair(chosen, rejected), reduction)


NUMPY_MISTAKES = [
    Mistake("sign flipped (rejected − chosen)", _np_sign_flipped,
            "The loss must fall as r_chosen − r_rejected grows: it is −log σ(r_c − r_r), not σ(r_r − r_c)."),
    Mistake("log(sigmoid(x)) overflow", _np_naive_overflow,
            "For a gap of −1e4, np.exp(1e4) overflows to inf, sigmoid becomes 0 and −log(0) = inf; writing "
            "np.log(1 + np.exp(−x)) or np.log1p(np.exp(−x)) still forms exp(1e4) = inf. Use "
            "np.logaddexp(0, −x) = log(1 + e^(−x)), which never exponentiates a positive number."),
    Mistake("mean vs sum confusion (asked for reduction='sum', returned the mean)", _np_always_mean,
            "Honour the `reduction` argument: 'sum' adds the per-pair losses, 'mean' averages them."),
    Mistake("mean vs sum confusion (asked for reduction='mean', returned the sum)", _np_always_sum,
            "The default reduction is the mean over pairs (so the loss does not grow with the batch size)."),
    Mistake("missing minus sign (returned the log-likelihood, not its negative)", _np_missing_minus,
            "A loss is minimised: it is −log σ(r_c − r_r) ≥ 0, the negative log-likelihood."),
]


def _a(*xs):
    return np.array(xs, dtype=np.float64)


@uses(NUMPY_MISTAKES)
def check_bradley_terry_numpy(fn, *, hidden: bool = False) -> None:
    """Grade ``bradley_terry_loss_numpy(chosen, rejected, reduction="mean")``."""
    cases = [
        # −log σ(1) = log(1 + e^−1) ≈ 0.3133
        Case((_a(2.0), _a(1.0)), label="one pair"),
        # equal scores: −log σ(0) = log 2 per pair
        Case((_a(0.5, -1.0), _a(0.5, -1.0)), label="equal scores (loss log 2)"),
        Case((_a(2.5, 3.1, 1.8, 4.0), _a(1.0, 2.0, 0.5, 2.1)), label="the seed's well-separated batch"),
        Case((_a(1.5, 2.1, 0.8, 3.0), _a(1.8, 2.0, 1.5, 3.3)), label="the seed's poorly separated batch"),
        Case((_a(2.5, 3.1, 1.8, 4.0), _a(1.0, 2.0, 0.5, 2.1)), {"reduction": "sum"}, label="reduction='sum'"),
        # gaps +1e4 and −1e4: per-pair losses 0 and 1e4, mean 5000
        Case((_a(1e4, -1e4), _a(0.0, 0.0)), label="large score gaps (±1e4)", rtol=1e-9),
    ]
    if hidden:
        rng = np.random.default_rng(20240602)
        for i in range(4):
            n = int(rng.integers(1, 9))
            cases.append(Case((rng.normal(0, 3, n), rng.normal(0, 3, n)), {"reduction": ["mean", "sum"][i % 2]},
                              label=f"random batch {i + 1}"))
        cases.append(Case((_a(-800.0, 3.0, 750.0), _a(800.0, -2.0, -10.0)), {"reduction": "sum"},
                          label="mixed huge gaps, sum", rtol=1e-9))
        cases.append(Case((_a(-50.0), _a(0.0)), label="gap −50 (exp(50) still fits, but barely)", rtol=1e-9))
    check_function(fn, reward.bradley_terry_loss_numpy, cases, name="bradley_terry_loss_numpy",
                   mistakes=NUMPY_MISTAKES, atol=1e-6, rtol=1e-6)


# --------------------------------------------------------------------------- exercise 2: PyTorch loss with margin


def _t_gap(chosen, rejected, margin):
    return chosen - rejected - (0.0 if margin is None else margin)


def _t_reduce(per, reduction):
    return per.sum() if reduction == "sum" else per.mean()


def _t_sign_flipped(chosen, rejected, margin=None, reduction="mean"):
    return _t_reduce(F.softplus(_t_gap(chosen, rejected, margin)), reduction)


def _t_naive_overflow(chosen, rejected, margin=None, reduction="mean"):
    return _t_reduce(-torch.log(torch.sigmoid(_t_gap(chosen, rejected, margin))), reduction)


def _t_margin_added(chosen, rejected, margin=None, reduction="mean"):
    d = chosen - rejected + (0.0 if margin is None else margin)
    return _t_reduce(F.softplus(-d), reduction)


def _t_margin_ignored(chosen, rejected, margin=None, reduction="mean"):
    return _t_reduce(F.softplus(-(chosen - rejected)), reduction)


def _t_always_mean(chosen, rejected, margin=None, reduction="mean"):
    return F.softplus(-_t_gap(chosen, rejected, margin)).mean()


def _t_always_sum(chosen, rejected, margin=None, reduction="mean"):
    return F.softplus(-_t_gap(chosen, rejected, margin)).sum()


def _t_missing_minus(chosen, rejected, margin=None, reduction="mean"):
    return -_t_reduce(F.softplus(-_t_gap(chosen, rejected, margin)), reduction)


def _t_detached(chosen, rejected, margin=None, reduction="mean"):
    # a loss turned into a Python number and back: the right value, no gradient
    return torch.tensor(_t_reduce(F.softplus(-_t_gap(chosen, rejected, margin)), reduction).item())


TORCH_MISTAKES = [
    Mistake("sign flipped (rejected − chosen)", _t_sign_flipped,
            "Use σ(r_c − r_r − m): the loss must fall as the chosen score rises above the rejected one."),
    Mistake("log(sigmoid(x)) overflow", _t_naive_overflow,
            "torch.sigmoid(−1e4) is exactly 0 in floating point, so log gives −inf and the gradient NaN "
            "(torch.log1p(torch.exp(−x)) overflows the same way). Use F.softplus(−x) or −F.logsigmoid(x), "
            "which are computed stably."),
    Mistake("margin added instead of subtracted", _t_margin_added,
            "The margin is a gap the chosen score must clear: σ(r_c − r_r − m), so a larger m means a larger loss."),
    Mistake("margin ignored", _t_margin_ignored,
            "When `margin` is given (a number or one value per pair), subtract it from r_c − r_r."),
    Mistake("mean vs sum confusion (asked for reduction='sum', returned the mean)", _t_always_mean,
            "Honour the `reduction` argument: 'sum' adds the per-pair losses."),
    Mistake("mean vs sum confusion (asked for reduction='mean', returned the sum)", _t_always_sum,
            "The default reduction is the mean over pairs."),
    Mistake("missing minus sign (returned the log-likelihood, not its negative)", _t_missing_minus,
            "A loss is minimised: −log σ(r_c − r_r − m) ≥ 0."),
    Mistake("the loss is detached from the graph (no gradient)", _t_detached,
            "`torch.tensor(loss.item())`, `.detach()` or a loss computed under `torch.no_grad()` has the right "
            "value but no gradient: the reward model would not learn. Keep every step in torch on the inputs."),
]


def _t(*xs, dtype=torch.float32):
    return torch.tensor(xs, dtype=dtype)


@uses(TORCH_MISTAKES)
def check_bradley_terry_torch(fn, *, hidden: bool = False) -> None:
    """Grade ``bradley_terry_loss(chosen, rejected, margin=None, reduction="mean")`` on values *and*
    gradients (a loss that is finite but has a NaN gradient, or no gradient at all, still fails)."""
    cases = [
        # −log σ(1) ≈ 0.3133, gradient −σ(−1) ≈ −0.2689 for chosen, +0.2689 for rejected
        Case((_t(2.0), _t(1.0)), label="one pair"),
        Case((_t(2.5, 3.1, 1.8, 4.0), _t(1.0, 2.0, 0.5, 2.1)), label="no margin"),
        # gap 1, margin 1 → −log σ(0) = log 2
        Case((_t(2.0, 0.0), _t(1.0, 1.0)), {"margin": 1.0}, label="scalar margin"),
        Case((_t(2.0, 0.5, -1.0), _t(1.0, 1.0, -3.0)), {"margin": _t(0.5, 0.0, 2.0)}, label="per-pair margins"),
        Case((_t(2.0, 0.5, -1.0), _t(1.0, 1.0, -3.0)), {"margin": _t(0.5, 0.0, 2.0), "reduction": "sum"},
             label="per-pair margins, reduction='sum'"),
        # gaps ±1e4: losses 0 and 1e4 (mean 5000), gradients 0 and ∓0.5 per score
        Case((_t(1e4, -1e4), _t(0.0, 0.0)), label="large score gaps (±1e4)", rtol=1e-6),
    ]
    if hidden:
        gen = torch.Generator().manual_seed(4242)
        for i in range(4):
            n = int(torch.randint(1, 9, (1,), generator=gen))
            c, r = torch.randn(n, generator=gen) * 3, torch.randn(n, generator=gen) * 3
            kw = {"reduction": ["mean", "sum"][i % 2]}
            if i >= 2:
                kw["margin"] = torch.rand(n, generator=gen) * 2
            cases.append(Case((c, r), kw, label=f"random batch {i + 1}"))
        cases.append(Case((_t(-500.0, 2.0, 300.0, dtype=torch.float64), _t(500.0, 2.5, -300.0, dtype=torch.float64)),
                          {"margin": 0.5, "reduction": "sum"}, label="float64, huge gaps, margin", rtol=1e-9))
        cases.append(Case((_t(-120.0), _t(0.0)), label="gap −120 (σ underflows in float32)", rtol=1e-6))
    check_function(fn, reward.bradley_terry_loss, cases, name="bradley_terry_loss", mistakes=TORCH_MISTAKES,
                   grad_wrt=(0, 1), atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- exercise 3: rankings → pairs


def _ranks_or_default(responses, ranks):
    return list(range(1, len(responses) + 1)) if ranks is None else list(ranks)


def _pairs_right(responses, ranks=None):
    ranks = _ranks_or_default(responses, ranks)
    return [(responses[i], responses[j]) if ranks[i] < ranks[j] else (responses[j], responses[i])
            for i in range(len(responses)) for j in range(i + 1, len(responses)) if ranks[i] != ranks[j]]


def _pairs_swapped(responses, ranks=None):
    return [(r, c) for c, r in _pairs_right(responses, ranks)]


def _pairs_adjacent_only(responses, ranks=None):
    ranks = _ranks_or_default(responses, ranks)
    order = sorted(range(len(responses)), key=lambda i: ranks[i])
    return [(responses[a], responses[b]) for a, b in zip(order, order[1:]) if ranks[a] != ranks[b]]


def _pairs_ties_included(responses, ranks=None):
    ranks = _ranks_or_default(responses, ranks)
    out = []
    for i in range(len(responses)):
        for j in range(i + 1, len(responses)):
            a, b = (i, j) if ranks[i] <= ranks[j] else (j, i)
            out.append((responses[a], responses[b]))
    return out


def _pairs_both_directions(responses, ranks=None):
    pairs = _pairs_right(responses, ranks)
    return pairs + [(r, c) for c, r in pairs]


def _pairs_ranks_ignored(responses, ranks=None):
    return _pairs_right(responses, None)


def _normalise_pairs(x):
    if not isinstance(x, (list, tuple)):
        return x
    out = []
    for p in x:
        if isinstance(p, (list, tuple)) and len(p) == 2:
            out.append(tuple(p))
        else:
            return x
    return sorted(out)


def _compare_pair_sets(got, expected, atol, rtol):
    if not isinstance(got, (list, tuple)):
        return f"expected a list of (chosen, rejected) tuples, got {type(got).__name__}"
    for i, p in enumerate(got):
        if not (isinstance(p, (list, tuple)) and len(p) == 2):
            return f"element {i} is {p!r:.60}; each element must be a (chosen, rejected) pair"
    g, e = _normalise_pairs(got), _normalise_pairs(expected)
    if len(g) != len(e):
        return f"{len(g)} pairs, expected {len(e)} (K responses with distinct ranks give K(K−1)/2 pairs; ties give none)"
    missing = [p for p in e if p not in g]
    if missing:
        return f"missing pair {missing[0]!r} (chosen first, then rejected); your pairs: {g!r:.200}"
    return None


RANKING_MISTAKES = [
    Mistake("pairs built in the wrong order (rejected, chosen)", _pairs_swapped,
            "Each pair is (chosen, rejected): the better-ranked response comes first — rank 1 is the best, "
            "a smaller rank means preferred."),
    Mistake("only adjacent pairs (K−1 instead of K(K−1)/2)", _pairs_adjacent_only,
            "InstructGPT uses every pair of the ranking: for K responses, all K(K−1)/2 comparisons, not just neighbours."),
    Mistake("tied responses turned into a pair", _pairs_ties_included,
            "Equal ranks mean 'equally good': the Bradley–Terry likelihood has no term for that, so skip tied pairs."),
    Mistake("each pair in both directions", _pairs_both_directions,
            "Keep one (chosen, rejected) pair per comparison; the reversed pair contradicts it."),
    Mistake("ranks ignored (list order used instead)", _pairs_ranks_ignored,
            "When `ranks` is given, the list order means nothing: compare the ranks."),
]


@uses(RANKING_MISTAKES)
def check_ranking_to_pairs(fn, *, hidden: bool = False) -> None:
    """Grade ``ranking_to_pairs(responses, ranks=None)`` (pairs compared as a set; order of the list free)."""
    cases = [
        Case((["A", "B"],), label="two responses, best first"),
        Case((["A", "B", "C"],), label="three responses, best first"),  # 3·2/2 = 3 pairs
        Case((["good", "ok", "meh", "bad"],), label="four responses (6 pairs)"),
        Case((["x", "y", "z"], [3, 1, 2]), label="explicit ranks"),  # y > z > x
        Case((["x", "y", "z"], [2, 1, 2]), label="a tie (x and z)"),  # (y,x), (y,z) only
    ]
    if hidden:
        rng = np.random.default_rng(77)
        for i in range(4):
            k = int(rng.integers(2, 7))
            responses = [f"answer {j}" for j in range(k)]
            ranks = [int(v) for v in rng.integers(1, k + 1, k)]
            cases.append(Case((responses, ranks), label=f"random ranking {i + 1} (K={k})"))
        cases.append(Case((["p", "q", "r", "s"], [1, 1, 1, 1]), label="all tied (no pairs)"))
    check_function(fn, reward.ranking_to_pairs, cases, name="ranking_to_pairs", mistakes=RANKING_MISTAKES,
                   compare_fn=_compare_pair_sets)
    try:
        with quiet():
            out = fn(["same", "other", "same"], None)
    except ValueError:
        pass
    except Exception as exc:  # noqa: BLE001 — report the student's error type
        fail(f"✗ ranking_to_pairs: a ranking with a duplicated response must raise ValueError; yours raised "
             f"{type(exc).__name__}: {exc}")
    else:
        fail(f"✗ ranking_to_pairs: a duplicated response ('same' listed twice) must raise ValueError, but you returned "
             f"{out!r:.120}. The same answer cannot be both better and worse than itself.")
    passed("ranking_to_pairs", "a duplicated response is refused")


# --------------------------------------------------------------------------- exercise 4: where the score is read


def _read_final_position(values, attention_mask):
    return values[:, -1]


def _read_sum_minus_one(values, attention_mask):
    idx = attention_mask.long().sum(-1) - 1
    return values[torch.arange(values.shape[0]), idx]


def _read_first_real(values, attention_mask):
    idx = attention_mask.long().argmax(-1)
    return values[torch.arange(values.shape[0]), idx]


def _read_mean_over_tokens(values, attention_mask):
    m = attention_mask.to(values.dtype)
    return (values * m).sum(-1) / m.sum(-1)


def _read_as_numbers(values, attention_mask):
    last = (torch.arange(attention_mask.shape[-1]) * attention_mask.long()).argmax(-1)
    return torch.tensor([values[row, i].item() for row, i in enumerate(last.tolist())], dtype=values.dtype)


SCORE_MISTAKES = [
    Mistake("score read at the final position (a pad token in right-padded rows)", _read_final_position,
            "values[:, -1] is a padding position whenever a row is shorter than the batch: find each row's last "
            "real token from the attention mask."),
    Mistake("index mask.sum(-1) − 1 (right only for right padding)", _read_sum_minus_one,
            "With left padding the real tokens end at the last column, not at length − 1. Take the position of the "
            "rightmost 1 in the mask, e.g. (torch.arange(T) * mask).argmax(-1)."),
    Mistake("score read at the first token instead of the last", _read_first_real,
            "In a causal model an early position has seen only the first tokens (and mask.argmax(-1) finds the "
            "*first* 1). The score lives at the last real token, which has seen the whole text."),
    Mistake("averaged over tokens instead of reading one position", _read_mean_over_tokens,
            "The reward is the value at the last real token only, not an average over the sequence."),
    Mistake("scores rebuilt from Python numbers (no gradient)", _read_as_numbers,
            "`torch.tensor([... .item() ...])` has the right values but is cut from the graph: the reward-model loss "
            "would not reach the model. Index the tensor instead, e.g. values[torch.arange(B), last]."),
]


def _mask(rows):
    return torch.tensor(rows, dtype=torch.long)


@uses(SCORE_MISTAKES)
def check_scores_at_last_token(fn, *, hidden: bool = False) -> None:
    """Grade ``scores_at_last_token(values, attention_mask)`` on right-, left- and un-padded batches."""
    v = torch.arange(1.0, 13.0).reshape(3, 4)  # distinct values so every wrong index shows
    cases = [
        Case((v[:1], _mask([[1, 1, 1, 1]])), label="one row, no padding"),
        Case((v, _mask([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])), label="right padding"),  # 3, 8, 9
        Case((v, _mask([[0, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]])), label="left padding"),  # 4, 8, 12
        Case((v, _mask([[1, 1, 0, 0], [0, 1, 1, 1], [1, 1, 1, 0]])), label="mixed padding sides"),  # 2, 8, 11
        Case((v.double(), _mask([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]]).bool()), label="boolean mask, float64"),
    ]
    if hidden:
        gen = torch.Generator().manual_seed(99)
        for i in range(4):
            b, t = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(2, 9, (1,), generator=gen))
            mask = torch.zeros(b, t, dtype=torch.long)
            for row in range(b):
                n = int(torch.randint(1, t + 1, (1,), generator=gen))
                if bool(torch.rand(1, generator=gen) < 0.5):
                    mask[row, :n] = 1
                else:
                    mask[row, t - n:] = 1
            cases.append(Case((torch.randn(b, t, generator=gen), mask), label=f"random batch {i + 1}"))
    check_function(fn, reward.scores_at_last_token, cases, name="scores_at_last_token", mistakes=SCORE_MISTAKES,
                   grad_wrt=(0,))
