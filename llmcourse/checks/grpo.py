r"""Graders for notebook 08 (GRPO): group-normalised advantages, the clipped token loss, the
``loss_type`` reductions and the whole loss with its micro-batch invariance.

Each grader compares the student's function with the reference in :mod:`llmcourse.grpo.functional`
on fixed cases (groups with all-equal rewards, padding holding garbage, rows of different lengths,
clip-higher, very unlikely tokens) and recognises the classic mistakes by name. The loss graders
compare the **gradient** too (with respect to the log-probs or the token losses): a loss that is
right in value but detached, or whose clipped tokens still pass a gradient, fails. The last grader
splits batches into micro-batches as gradient accumulation does and checks that the summed loss and
the accumulated gradient are the whole batch's. ``hidden=True`` adds seeded random batches.
"""

from __future__ import annotations

import inspect

import torch

from llmcourse.checks import Case, Mistake, calls_reference, check_function, compare, fail, uses
from llmcourse.grpo import functional as G

__all__ = ["check_group_advantages", "check_clipped_token_loss", "check_reduce_token_loss", "check_grpo_loss"]

T = torch.tensor


def _no_reference(student, reference, name: str) -> None:
    if calls_reference(student, reference):
        fail(f"✗ {name}: your answer calls the package's reference `{reference.__module__}.{reference.__name__}`. "
             "The package is open-book for reading, but this exercise asks you to write it yourself.")


def _compare(got, expected, atol: float, rtol: float, path: str = "output"):
    """:func:`llmcourse.checks.compare`, except that NaN matches NaN at the same place: a reference
    never gives NaN, so this only lets a NaN-producing classic mistake be recognised by name."""
    if isinstance(expected, tuple) and isinstance(got, tuple) and len(got) == len(expected):
        for i, (g, e) in enumerate(zip(got, expected)):
            reason = _compare(g, e, atol, rtol, f"{path}[{i}]")
            if reason:
                return reason
        return None
    if isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor) and got.shape == expected.shape:
        both = torch.isnan(got.detach().float()) & torch.isnan(expected.detach().float())
        got, expected = got.detach().float().masked_fill(both, 0.0), expected.detach().float().masked_fill(both, 0.0)
    return compare(got, expected, atol=atol, rtol=rtol, path=path)


def _random_mask(g: torch.Generator, B: int, L: int) -> torch.Tensor:
    lengths = torch.randint(1, L + 1, (B,), generator=g)
    return (torch.arange(L)[None, :] < lengths[:, None]).long()


# --------------------------------------------------------------------------- 1. group-normalised advantages


def _adv_layout(rewards, num_generations, scale_rewards="group", eps=1e-4):
    g = rewards.float().view(num_generations, -1)  # strided: rows of one group are G apart
    c = g - g.mean(0, keepdim=True)
    if scale_rewards == "group":
        c = c / (g.std(0, keepdim=True) + eps)
    return c.flatten()


def _adv_batch_stats(rewards, num_generations, scale_rewards="group", eps=1e-4):
    r = rewards.float()
    c = r - r.mean()
    return c / (r.std() + eps) if scale_rewards != "none" else c


def _adv_population_std(rewards, num_generations, scale_rewards="group", eps=1e-4):
    g = rewards.float().view(-1, num_generations)
    c = g - g.mean(1, keepdim=True)
    if scale_rewards == "group":
        c = c / (g.std(1, unbiased=False, keepdim=True) + eps)
    return c.flatten()


def _adv_no_eps(rewards, num_generations, scale_rewards="group", eps=1e-4):
    g = rewards.float().view(-1, num_generations)
    c = g - g.mean(1, keepdim=True)
    if scale_rewards == "group":
        c = c / g.std(1, keepdim=True)
    return c.flatten()


def _adv_always_scaled(rewards, num_generations, scale_rewards="group", eps=1e-4):
    g = rewards.float().view(-1, num_generations)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + eps)).flatten()


def _adv_not_centred(rewards, num_generations, scale_rewards="group", eps=1e-4):
    g = rewards.float().view(-1, num_generations)
    if scale_rewards == "group":
        g = g / (g.std(1, keepdim=True) + eps)
    return g.flatten()


ADVANTAGE_MISTAKES = [
    Mistake("groups read with the wrong layout (strided instead of contiguous)", _adv_layout,
            "The G completions of one prompt are next to each other: rewards.view(-1, G) puts one group per row "
            "(view(G, -1) mixes completions of different prompts)."),
    Mistake("normalised over the whole batch instead of within each group", _adv_batch_stats,
            "GRPO's baseline is the mean of the *same prompt's* G rewards: reduce over dim 1 of view(-1, G)."),
    Mistake("population std (unbiased=False) instead of the sample std", _adv_population_std,
            "The package (and TRL) divide by the sample standard deviation, torch's default std(unbiased=True)."),
    Mistake("ε left out: a zero-variance group divides 0 by 0", _adv_no_eps,
            "A group whose rewards are all equal has std 0: divide by (std + eps) so its advantages are 0, not NaN."),
    Mistake("divided by the std even with scale_rewards='none' (Dr. GRPO)", _adv_always_scaled,
            "scale_rewards='none' only centres the rewards: Â = r − mean(group), no division."),
    Mistake("rewards not centred (only divided by the std)", _adv_not_centred,
            "The advantage is the reward *minus its group's mean* (then optionally divided by the std)."),
]


@uses(ADVANTAGE_MISTAKES[:4])
def check_group_advantages(fn, *, hidden: bool = False) -> None:
    """Grade ``group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4) -> (B,)``."""
    r = T([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    cases = [
        Case((r, 4), label="three groups of 4 (the last one all wrong)"),
        Case((T([0.2, 0.9, 0.4, 0.4, 1.0, 0.0]), 3), label="two groups of 3, fractional rewards"),
        Case((T([1.0, 0.0, 0.5, 0.5, 2.0, 1.0, 1.0, 1.0]), 2), label="four groups of 2"),
        Case((T([3.0, 1.0, 2.0, 6.0, 4.0, 2.0]), 3), {"scale_rewards": "none"}, label="Dr. GRPO: scale_rewards='none'"),
        Case((T([1.0, 1.0, 1.0, 1.0]), 4), label="one zero-variance group"),
    ]
    if hidden:
        g = torch.Generator().manual_seed(808)
        for i in range(4):
            n, G_ = 2 + i, (4, 8, 3, 6)[i]
            cases.append(Case((torch.randint(0, 3, (n * G_,), generator=g).float(), G_),
                              {"scale_rewards": ("group", "none")[i % 2]}, label=f"random groups {i + 1}"))
    check_function(fn, G.group_advantages, cases, name="group_advantages", mistakes=ADVANTAGE_MISTAKES,
                   atol=1e-5, rtol=1e-4, compare_fn=_compare)


# --------------------------------------------------------------------------- helpers: value and gradient


def _with_grad(fn, wrt: int):
    """``fn`` returning ``(output, d sum(output) / d args[wrt])``: the grader compares both."""
    def run(*args, **kwargs):
        args = list(args)
        x = args[wrt].detach().clone().requires_grad_(True)
        args[wrt] = x
        out = fn(*args, **kwargs)
        if not isinstance(out, torch.Tensor):
            fail(f"✗ {getattr(fn, '__name__', 'your function')}: expected a torch.Tensor, got {type(out).__name__}")
        if not out.requires_grad:
            return out.detach(), torch.zeros_like(x)  # detached: its gradient is 0 (the comparison says so)
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
        return out.detach(), torch.zeros_like(x) if grad is None else grad
    run.__name__ = getattr(fn, "__name__", "fn")
    try:
        run.__signature__ = inspect.signature(fn)  # feedback names the arguments as the exercise does
    except (TypeError, ValueError):
        pass
    return run


# --------------------------------------------------------------------------- 2. the clipped token loss


def _tok(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None, *, swap=False, prob=False,
         symmetric=False, high_both=False, noclip=False, objective=False, detach=False):
    """The clipped token loss with one classic mistake switched on (the graders' own copy: a mistake
    must not call the reference, or it would be refused as one)."""
    eh = epsilon_low if (epsilon_high is None or symmetric) else epsilon_high
    el = eh if high_both else epsilon_low
    lp = logprobs.detach() if detach else logprobs
    ratio = torch.exp(lp) / torch.exp(old_logprobs) if prob else torch.exp(lp - old_logprobs)
    a = advantages[:, None]
    if noclip:
        return -ratio * a
    pick = torch.maximum if swap else torch.minimum
    out = -pick(ratio * a, torch.clamp(ratio, 1 - el, 1 + eh) * a)
    return -out if objective else out


def _tok_mistake(**flags):
    def f(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
        return _tok(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high, **flags)
    return f


# the catalogued ones are named functions (the catalogue derives the student's cell from them)
def _tok_min_max_swapped(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    return _tok(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high, swap=True)


def _tok_prob_ratio(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    return _tok(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high, prob=True)


def _tok_symmetric(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    return _tok(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high, symmetric=True)


_tok_clip_both_sides_high = _tok_mistake(high_both=True)
_tok_no_clip = _tok_mistake(noclip=True)
_tok_objective = _tok_mistake(objective=True)
_tok_ratio_detached = _tok_mistake(detach=True)


TOKEN_MISTAKES = [
    Mistake("min/max swapped in the clipped objective", _tok_min_max_swapped,
            "Take the pessimistic term: −min(ρÂ, clip(ρ)Â). The other choice lets one step gain without bound."),
    Mistake("ratio computed from probabilities instead of log-probs", _tok_prob_ratio,
            "exp(log π) underflows to 0 for unlikely tokens (0/0 = NaN): use ρ = exp(log π_θ − log π_old)."),
    Mistake("epsilon_high ignored (symmetric clipping)", _tok_symmetric,
            "Clip-higher: clip(ρ, 1 − epsilon_low, 1 + epsilon_high), with epsilon_high = epsilon_low when it is None."),
    Mistake("epsilon_high used for the lower clip too", _tok_clip_both_sides_high,
            "The lower bound stays 1 − epsilon_low; only the upper one is raised."),
    Mistake("no clipping", _tok_no_clip,
            "Without clip(ρ, 1−ε_low, 1+ε_high) this is the plain policy gradient: the trust region is gone."),
    Mistake("returned the objective instead of the loss (sign)", _tok_objective,
            "Optimisers minimise: ℓ = −min(ρÂ, clip(ρ)Â)."),
    Mistake("the loss does not depend on the log-probs (detached: zero gradient)", _tok_ratio_detached,
            "Keep logprobs in the graph: no .detach(), .item() or numpy inside the loss."),
]

_OLD = T([[-1.0, -2.0, -0.5, -3.0], [-1.5, -0.2, -9.0, -9.0], [-0.7, -0.7, -0.7, -0.7]])
_NEW = _OLD + T([[0.4, -0.5, 0.05, 0.2], [0.3, -0.4, 2.0, -2.0], [0.0, 0.25, -0.3, 0.1]])
_ADV = T([1.0, -1.5, 0.5])


@uses(TOKEN_MISTAKES[:3])
def check_clipped_token_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None)
    -> (B, T)``, value and gradient with respect to ``logprobs``."""
    _no_reference(fn, G.clipped_token_loss, "clipped_token_loss")
    cases = [
        Case((_NEW, _OLD, _ADV), label="clipped and unclipped tokens, ε = 0.2"),
        Case((_NEW, _OLD, _ADV, 0.2, 0.28), label="clip-higher: ε_low = 0.2, ε_high = 0.28"),
        Case((_OLD, _OLD, _ADV, 0.2, 0.28), label="first step: ratio = 1"),
        Case((_NEW, _OLD, -_ADV, 0.1, 0.3), label="advantages negated, ε_low = 0.1, ε_high = 0.3"),
        Case((T([[-100.0, -1.0]]), T([[-105.0, -1.2]]), T([1.0]), 0.2, 0.28), label="very unlikely tokens (log-probs ≈ −100)"),
    ]
    if hidden:
        g = torch.Generator().manual_seed(809)
        for i in range(4):
            o = -4 * torch.rand(4, 6, generator=g)
            cases.append(Case((o + 0.4 * torch.randn(4, 6, generator=g), o, torch.randn(4, generator=g), 0.2,
                               (None, 0.28)[i % 2]), label=f"random batch {i + 1}"))
    check_function(_with_grad(fn, 0), _with_grad(G.clipped_token_loss, 0), cases, name="clipped_token_loss",
                   mistakes=[Mistake(m.name, _with_grad(m.fn, 0), m.hint) for m in TOKEN_MISTAKES],
                   atol=1e-5, rtol=1e-4, allow_reference=True, compare_fn=_compare)


# --------------------------------------------------------------------------- 3. the reductions


def _red(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None, num_tokens=None,
         grpo_token_level=False, grpo_pad=False, dr_tokens=False, dr_width=False, unmasked=False, local=False):
    m = mask.to(per_token_loss.dtype)
    x = per_token_loss if unmasked else per_token_loss * m
    n_seq = per_token_loss.shape[0] if (num_sequences is None or local) else num_sequences
    n_tok = m.sum() if (num_tokens is None or local) else torch.as_tensor(num_tokens, dtype=x.dtype)
    if loss_type == "grpo" and not grpo_token_level:
        per_seq = x.mean(-1) if (grpo_pad or unmasked) else x.sum(-1) / m.sum(-1).clamp(min=1)
        return per_seq.sum() / n_seq
    if loss_type == "dr_grpo" and not dr_tokens:
        width = per_token_loss.shape[-1] if (dr_width or max_completion_length is None) else max_completion_length
        return x.sum() / (n_seq * width)
    return x.sum() / (per_token_loss.numel() if unmasked else n_tok.clamp(min=1))


def _red_mistake(**flags):
    def f(per_token_loss, mask, loss_type="dapo", **kw):
        return _red(per_token_loss, mask, loss_type, **kw, **flags)
    return f


def _red_grpo_token_level(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None,
                          num_sequences=None, num_tokens=None):
    return _red(per_token_loss, mask, loss_type, max_completion_length=max_completion_length,
                num_sequences=num_sequences, num_tokens=num_tokens, grpo_token_level=True)


def _red_dr_tokens(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None,
                   num_tokens=None):
    return _red(per_token_loss, mask, loss_type, max_completion_length=max_completion_length,
                num_sequences=num_sequences, num_tokens=num_tokens, dr_tokens=True)


def _red_local(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None,
               num_tokens=None):
    return _red(per_token_loss, mask, loss_type, max_completion_length=max_completion_length,
                num_sequences=num_sequences, num_tokens=num_tokens, local=True)


REDUCTION_MISTAKES = [
    Mistake("loss_type='grpo' computed token-level (Σ mℓ / Σ m) instead of a mean of per-sequence means",
            _red_grpo_token_level,
            "'grpo' first averages each completion over its own real tokens, then averages the completions."),
    Mistake("per-sequence mean over all T columns (padding counted in the length)", _red_mistake(grpo_pad=True),
            "Divide each completion's masked sum by *its* number of real tokens, mask.sum(-1), not by T."),
    Mistake("dr_grpo divided by the number of real tokens", _red_dr_tokens,
            "Dr. GRPO's normaliser is a constant, N · max_completion_length, so no completion's length changes "
            "the weight of its tokens."),
    Mistake("dr_grpo divided by the tensor width T instead of max_completion_length", _red_mistake(dr_width=True),
            "Use max_completion_length (when given): a batch whose longest completion is short must not weigh more."),
    Mistake("padding not masked", _red_mistake(unmasked=True),
            "Multiply by the mask before summing: padding positions hold garbage."),
    Mistake("num_sequences / num_tokens ignored (normalised by this micro-batch's own counts)", _red_local,
            "The totals of the whole batch are passed so micro-batch losses add up to the batch's loss: divide by "
            "num_sequences / num_tokens when they are given (this is the bug TRL fixed in its PR #6024)."),
]

_PTL = T([[1.0, 2.0, 3.0, 99.0], [4.0, 99.0, 99.0, 99.0], [-1.0, 0.5, -2.0, 1.5]])  # 99: garbage on padding
_PMASK = T([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])


@uses([m for m in REDUCTION_MISTAKES if m.fn in (_red_grpo_token_level, _red_dr_tokens, _red_local)])
def check_reduce_token_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``reduce_token_loss(per_token_loss, mask, loss_type, *, max_completion_length=None,
    num_sequences=None, num_tokens=None) -> scalar``, value and gradient with respect to the token losses."""
    _no_reference(fn, G.reduce_token_loss, "reduce_token_loss")
    cases = []
    for lt in G.LOSS_TYPES:
        cases.append(Case((_PTL, _PMASK, lt), label=f"{lt}, rows of 3, 1 and 4 real tokens"))
    cases += [
        Case((_PTL, _PMASK, "dr_grpo"), {"max_completion_length": 8}, label="dr_grpo with max_completion_length = 8"),
        Case((_PTL[:2], _PMASK[:2], "dapo"), {"num_sequences": 6, "num_tokens": 12},
             label="dapo on a micro-batch of a 12-token batch"),
        Case((_PTL[:2], _PMASK[:2], "grpo"), {"num_sequences": 6, "num_tokens": 12},
             label="grpo on a micro-batch of a 6-completion batch"),
        Case((_PTL[2:], _PMASK[2:], "dr_grpo"), {"num_sequences": 3, "max_completion_length": 4},
             label="dr_grpo on a micro-batch"),
    ]
    if hidden:
        g = torch.Generator().manual_seed(810)
        for i, lt in enumerate(G.LOSS_TYPES * 2):
            mask = _random_mask(g, 4, 5)
            kw = {"num_sequences": 10, "num_tokens": int(mask.sum()) + 7} if i >= 4 else {}
            cases.append(Case((torch.randn(4, 5, generator=g), mask, lt), kw, label=f"random batch {i + 1} ({lt})"))
    check_function(_with_grad(fn, 0), _with_grad(G.reduce_token_loss, 0), cases, name="reduce_token_loss",
                   mistakes=[Mistake(m.name, _with_grad(m.fn, 0), m.hint) for m in REDUCTION_MISTAKES],
                   atol=1e-5, rtol=1e-4, allow_reference=True, compare_fn=_compare)


# --------------------------------------------------------------------------- 4. the whole loss, micro-batch invariant


def _accumulated(fn):
    """``fn`` run as gradient accumulation does when the case says ``micro_batch=k``: the batch in
    slices of k rows, each called with the whole batch's ``num_sequences`` / ``num_tokens``, losses
    summed and gradients accumulated. Returns ``(loss, d loss / d logprobs)``."""
    def run(logprobs, old_logprobs, advantages, mask, *, micro_batch=None, **kw):
        x = logprobs.detach().clone().requires_grad_(True)
        B = x.shape[0]
        k = micro_batch or B
        totals = {"num_sequences": B, "num_tokens": mask.sum()} if micro_batch else {}
        total = torch.zeros(())
        for s in range(0, B, k):
            i = slice(s, s + k)
            kw_i = dict(kw)
            if kw.get("ref_logprobs") is not None:
                kw_i["ref_logprobs"] = kw["ref_logprobs"][i]
            loss = fn(x[i], old_logprobs[i], advantages[i], mask[i], **kw_i, **totals)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                fail(f"✗ grpo_loss: expected a scalar tensor, got {type(loss).__name__} "
                     f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}")
            if loss.requires_grad:
                loss.backward()
            total = total + loss.detach()
        return total, (x.grad if x.grad is not None else torch.zeros_like(x))
    run.__name__ = getattr(fn, "__name__", "fn")
    try:
        run.__signature__ = inspect.signature(G.grpo_loss)
    except (TypeError, ValueError):
        pass
    return run


def _loss(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2, epsilon_high=None,
          beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None, num_tokens=None,
          kl="k3", kl_masked=True, kl_sign=1.0, local=False):
    """The GRPO loss with one classic mistake switched on (the graders' own copy, see :func:`_tok`)."""
    per_token = _tok(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high)
    totals = dict(max_completion_length=max_completion_length, num_sequences=None if local else num_sequences,
                  num_tokens=None if local else num_tokens)
    out = _red(per_token, mask, loss_type, **totals)
    if beta:
        d = ref_logprobs - logprobs
        k = {"k3": torch.exp(d) - d - 1, "k1": -d, "k3_reversed": torch.exp(-d) + d - 1}[kl]
        if kl_masked:
            out = out + kl_sign * beta * _red(k, mask, loss_type, **totals)
        else:
            n_tok = mask.sum() if num_tokens is None else num_tokens
            out = out + kl_sign * beta * k.sum() / n_tok
    return out


def _loss_mistake(**flags):
    def f(logprobs, old_logprobs, advantages, mask, **kw):
        return _loss(logprobs, old_logprobs, advantages, mask, **kw, **flags)
    return f


def _loss_local(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2, epsilon_high=None,
                beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None, num_tokens=None):
    return _loss(logprobs, old_logprobs, advantages, mask, loss_type=loss_type, epsilon_low=epsilon_low,
                 epsilon_high=epsilon_high, beta=beta, ref_logprobs=ref_logprobs,
                 max_completion_length=max_completion_length, num_sequences=num_sequences, num_tokens=num_tokens,
                 local=True)


def _loss_k1(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2, epsilon_high=None,
             beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None, num_tokens=None):
    return _loss(logprobs, old_logprobs, advantages, mask, loss_type=loss_type, epsilon_low=epsilon_low,
                 epsilon_high=epsilon_high, beta=beta, ref_logprobs=ref_logprobs,
                 max_completion_length=max_completion_length, num_sequences=num_sequences, num_tokens=num_tokens,
                 kl="k1")


_loss_k3_reversed = _loss_mistake(kl="k3_reversed")
_loss_kl_unmasked = _loss_mistake(kl_masked=False)
_loss_kl_outside_clip_sign = _loss_mistake(kl_sign=-1.0)


LOSS_MISTAKES = [
    Mistake("normalised by the micro-batch's own sequences/tokens: the loss changes with the micro-batch size",
            _loss_local,
            "Divide by the whole batch's num_sequences / num_tokens when they are given: then the micro-batch "
            "losses (and gradients) add up to the whole batch's. Normalising each micro-batch by its own token "
            "count is the bug TRL shipped (PR #6024)."),
    Mistake("KL estimated with k1 = log π_θ − log π_ref instead of k3", _loss_k1,
            "Use k3 = π_ref/π_θ − log(π_ref/π_θ) − 1 = exp(ref − logp) − (ref − logp) − 1: unbiased and never negative."),
    Mistake("k3 with the ratio inverted (π_θ/π_ref)", _loss_k3_reversed,
            "k3 estimates KL(π_θ ‖ π_ref) from samples of π_θ with r = π_ref/π_θ: exp(ref − logp) − (ref − logp) − 1."),
    Mistake("KL term not masked", _loss_kl_unmasked,
            "Padding positions hold garbage log-probs: add β·k3 to the token losses *before* the masked reduction."),
    Mistake("KL term subtracted (sign)", _loss_kl_outside_clip_sign,
            "The loss is minimised and the KL is a penalty: ℓ = clipped term + β·k3."),
]


@uses(LOSS_MISTAKES[:2])
def check_grpo_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``grpo_loss(logprobs, old_logprobs, advantages, mask, *, loss_type, epsilon_low, epsilon_high,
    beta, ref_logprobs, max_completion_length, num_sequences, num_tokens) -> scalar``: its value and
    gradient on whole batches, and — the property — on the same batches split into micro-batches
    (losses summed, gradients accumulated) for every ``loss_type``."""
    _no_reference(fn, G.grpo_loss, "grpo_loss")
    g = torch.Generator().manual_seed(811)
    B, L = 6, 5
    mask = T([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]])
    old = -3 * torch.rand(B, L, generator=g)
    new = old + 0.3 * torch.randn(B, L, generator=g)
    ref = old + 0.2 * torch.randn(B, L, generator=g)
    new[mask == 0], ref[mask == 0] = 7.0, -50.0  # garbage on padding
    adv = G.group_advantages(T([1.0, 0.0, 0.0, 1.0, 1.0, 0.0]), 3)
    kl = {"beta": 0.1, "ref_logprobs": ref}
    cases = [Case((new, old, adv, mask), {"loss_type": lt, "epsilon_low": 0.2, "epsilon_high": 0.28,
                                           "max_completion_length": 8}, label=f"{lt}, whole batch")
             for lt in G.LOSS_TYPES]
    cases.append(Case((new, old, adv, mask), {"loss_type": "dapo", **kl}, label="β = 0.1: the k3 KL term"))
    for lt in G.LOSS_TYPES:
        cases.append(Case((new, old, adv, mask), {"loss_type": lt, "max_completion_length": 8, "micro_batch": 2, **kl},
                          label=f"{lt} in micro-batches of 2 (losses summed, gradients accumulated)"))
    if hidden:
        for i, lt in enumerate(G.LOSS_TYPES):
            m = _random_mask(g, 8, 6)
            o = -3 * torch.rand(8, 6, generator=g)
            cases.append(Case((o + 0.3 * torch.randn(8, 6, generator=g), o, torch.randn(8, generator=g), m),
                              {"loss_type": lt, "micro_batch": (1, 2, 4, 3)[i], "beta": 0.05 * i,
                               "ref_logprobs": o + 0.1 * torch.randn(8, 6, generator=g), "max_completion_length": 6},
                              label=f"random batch {i + 1} ({lt})"))
    check_function(_accumulated(fn), _accumulated(G.grpo_loss), cases, name="grpo_loss",
                   mistakes=[Mistake(m.name, _accumulated(m.fn), m.hint) for m in LOSS_MISTAKES],
                   atol=1e-5, rtol=1e-4, allow_reference=True, compare_fn=_compare)
