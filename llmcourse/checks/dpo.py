r"""Graders for notebook 07 (DPO): masked sequence log-probs, the DPO loss, implicit rewards and their
accuracy, a frozen reference model, and the IPO variant.

Each grader compares a student's function with the package reference (:mod:`llmcourse.dpo`) on fixed
cases (and, with ``hidden=True``, random ones), on values *and* gradients where training uses them,
and names the classic mistake when the student's output matches one. Graders return ``None`` and
write nothing to stderr.
"""

from __future__ import annotations

import copy
import functools
import inspect

import torch
import torch.nn.functional as F

from llmcourse import dpo
from llmcourse.checks import Case, Mistake, calls_reference, check_function, compare, fail, passed, quiet, uses

__all__ = ["LOGPS_MISTAKES", "LOSS_MISTAKES", "REWARD_MISTAKES", "ACCURACY_MISTAKES", "IPO_MISTAKES", "REFERENCE_MISTAKES",
           "check_sequence_logprobs", "check_dpo_loss", "check_implicit_rewards", "check_reward_accuracy",
           "check_make_reference", "check_ipo_loss"]


def _refuse_reference(fn, reference, name: str) -> None:
    if not callable(fn):
        fail(f"✗ {name}: expected a function, got {type(fn).__name__} — define it in the cell above and run that cell.")
    if calls_reference(fn, reference):
        fail(f"✗ {name}: your answer calls the package's reference `{reference.__module__}.{reference.__name__}`. "
             "The package is open-book for reading, but this exercise asks you to write it yourself.")


def _with_grads(fn, n_grad: int):
    """Run ``fn`` on leaf copies of its first ``n_grad`` tensor arguments; return ``(output, grads...)``
    with the gradient of ``output.sum()`` (zeros where no gradient reaches an input)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        leaves = [a.detach().clone().requires_grad_(True) for a in args[:n_grad]]
        out = fn(*leaves, *args[n_grad:], **kwargs)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            return (out,) + (None,) * n_grad
        grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
        return (out.detach(),) + tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))

    return run


def _compare_with_grads(what: str, grad_names: tuple[str, ...], scalar: bool):
    def cmp(got, expected, atol, rtol):
        out = got[0]
        if not isinstance(out, torch.Tensor):
            return f"{what} must be a torch.Tensor (got {type(out).__name__}) — did you call .item() or use NumPy?"
        if scalar and out.dim() != 0:
            return (f"{what} must be a scalar (0-d) tensor, got shape {tuple(out.shape)} — "
                    "reduce the per-pair losses with .mean()")
        if got[1] is None:
            return f"{what} carries no gradient (did you .detach(), call .item(), or go through NumPy?)"
        if isinstance(got[0], torch.Tensor) and not bool(torch.isfinite(got[0]).all()):
            # an overflowed output (±inf): its gradients are NaN in ways that depend on how it was written,
            # so only the values say which mistake it is
            return compare(got[0], expected[0], atol=atol, rtol=rtol, path=what)
        for g, e, name in zip(got, expected, (what, *grad_names)):
            if isinstance(e, torch.Tensor) and isinstance(g, torch.Tensor) and g.shape == e.shape:
                both_nan = torch.isnan(g) & torch.isnan(e)  # lets a NaN-gradient mistake be named
                g, e = g.masked_fill(both_nan, 0.0), e.masked_fill(both_nan, 0.0)
            reason = compare(g, e, atol=atol, rtol=rtol, path=name)
            if reason:
                return reason
        return None

    return cmp


# --------------------------------------------------------------------------- exercise 1: sequence log-probs


def _token_logps(logits, labels):
    targets = labels[:, 1:]
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return lp, targets != -100


def _lp_no_shift(logits, labels, average=False):
    lp = torch.log_softmax(logits.float(), -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    m = labels != -100
    s = (lp * m).sum(-1)
    return s / m.sum(-1) if average else s


def _lp_mask_not_applied(logits, labels, average=False):
    lp, m = _token_logps(logits, labels)
    return lp.mean(-1) if average else lp.sum(-1)


def _lp_padding_in_average(logits, labels, average=False):
    lp, m = _token_logps(logits, labels)
    s = (lp * m).sum(-1)
    return s / m.shape[-1] if average else s


def _lp_always_mean(logits, labels, average=False):
    lp, m = _token_logps(logits, labels)
    return (lp * m).sum(-1) / m.sum(-1)


def _lp_always_sum(logits, labels, average=False):
    lp, m = _token_logps(logits, labels)
    return (lp * m).sum(-1)


def _lp_log_softmax_naive(logits, labels, average=False):
    lp = torch.log(torch.softmax(logits[:, :-1].float(), -1)).gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0]
    m = labels[:, 1:] != -100
    s = torch.where(m, lp, torch.zeros_like(lp)).sum(-1)
    return s / m.sum(-1) if average else s


def _lp_batch_total(logits, labels, average=False):
    lp, m = _token_logps(logits, labels)
    total = (lp * m).sum()
    return (total / m.sum() if average else total).expand(logits.shape[0])


LOGPS_MISTAKES = [
    Mistake("prompt and padding summed in (the −100 mask not applied)", _with_grads(_lp_mask_not_applied, 1),
            "Only response tokens count: multiply the per-token log-probs by (labels[:, 1:] != -100) before summing. "
            "Clamping −100 to a valid id is fine for gather, but those positions must then be zeroed."),
    Mistake("no shift (logits[:, t] scored against labels[:, t])", _with_grads(_lp_no_shift, 1),
            "A causal LM's logits at position t predict token t + 1: pair logits[:, :-1] with labels[:, 1:]."),
    Mistake("padding counted in the average (divided by the sequence length)", _with_grads(_lp_padding_in_average, 1),
            "average=True divides by the number of response tokens of each row, (labels[:, 1:] != -100).sum(-1), "
            "not by the padded length: otherwise a short answer in a long batch looks more likely."),
    Mistake("mean vs sum (averaged when average=False asks for the sum)", _with_grads(_lp_always_mean, 1),
            "DPO's log π(y|x) is the SUM of the response tokens' log-probs; the mean is only for average=True."),
    Mistake("mean vs sum (summed when average=True asks for the mean)", _with_grads(_lp_always_sum, 1),
            "With average=True divide each row's sum by its number of response tokens."),
    Mistake("log(softmax(x)) underflow", _with_grads(_lp_log_softmax_naive, 1),
            "softmax of large logits rounds small probabilities to exactly 0 and log(0) = −inf (NaN gradients). "
            "Use torch.log_softmax (or −F.cross_entropy(..., reduction='none')), computed stably."),
    Mistake("summed over the whole batch (one number, not one per sequence)", _with_grads(_lp_batch_total, 1),
            "Return one log-prob per row, shape (B,): sum over the sequence dimension only (dim=-1)."),
]


def _lp_case(seed: int, b: int, t: int, v: int, scale: float = 1.0, prompt=None, lengths=None) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=gen) * scale
    ids = torch.randint(0, v, (b, t), generator=gen)
    labels = ids.clone()
    for row in range(b):
        p = prompt[row] if prompt else 2
        n = lengths[row] if lengths else t
        labels[row, :p] = -100
        labels[row, n:] = -100
    return logits, labels


@uses([m for m in LOGPS_MISTAKES if inspect.unwrap(m.fn) in (_lp_mask_not_applied, _lp_no_shift, _lp_padding_in_average,
                                                               _lp_always_mean, _lp_log_softmax_naive)])
def check_sequence_logprobs(fn, *, hidden: bool = False) -> None:
    """Grade ``sequence_logprobs(logits, labels, average=False)`` on values and ∂/∂logits."""
    _refuse_reference(fn, dpo.sequence_logprobs, "sequence_logprobs")
    uniform = torch.zeros(1, 4, 8)
    cases = [
        # uniform logits over 8 tokens, 2 response tokens: 2·log(1/8) ≈ −4.159
        Case((uniform, torch.tensor([[-100, -100, 3, 5]])), label="uniform logits, no padding"),
        Case(_lp_case(0, 2, 6, 11, prompt=[2, 3], lengths=[6, 5]), label="prompt masked, one row padded"),
        Case(_lp_case(1, 3, 7, 13, prompt=[1, 3, 2], lengths=[7, 4, 5]), {"average": True},
             label="average=True, rows of different lengths"),
        Case(_lp_case(2, 2, 6, 11, prompt=[3, 2], lengths=[5, 6]), {"average": False}, label="average=False given"),
        # logits ×300: most probabilities underflow to 0 in float32 softmax
        Case(_lp_case(3, 2, 5, 9, scale=300.0, prompt=[1, 2], lengths=[5, 4]), label="large logits (×300)", rtol=1e-5),
    ]
    if hidden:
        for i in range(4):
            gen = torch.Generator().manual_seed(700 + i)
            b, t = int(torch.randint(1, 5, (1,), generator=gen)), int(torch.randint(4, 10, (1,), generator=gen))
            prompt = [int(torch.randint(1, t - 1, (1,), generator=gen)) for _ in range(b)]
            lengths = [int(torch.randint(p + 1, t + 1, (1,), generator=gen)) for p in prompt]
            cases.append(Case(_lp_case(800 + i, b, t, 17, prompt=prompt, lengths=lengths), {"average": bool(i % 2)},
                              label=f"random batch {i + 1}"))
    check_function(_with_grads(fn, 1), _with_grads(dpo.sequence_logprobs, 1), cases, name="sequence_logprobs",
                   mistakes=LOGPS_MISTAKES, compare_fn=_compare_with_grads("log-probs", ("∂/∂logits",), scalar=False),
                   allow_reference=True, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- exercise 2: the DPO loss


def _delta(pc, pr, rc, rr):
    return (pc - rc) - (pr - rr)


def _loss_sign_flipped(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(-beta * _delta(pc, pr, rc, rr)).mean()


def _loss_beta_outside(pc, pr, rc, rr, beta=0.1):
    return -(beta * F.logsigmoid(_delta(pc, pr, rc, rr))).mean()


def _loss_beta_divides(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(_delta(pc, pr, rc, rr) / beta).mean()


def _loss_reference_ignored(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(beta * (pc - pr)).mean()


def _loss_reference_added(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(beta * ((pc + rc) - (pr + rr))).mean()


def _loss_naive(pc, pr, rc, rr, beta=0.1):
    return -torch.log(torch.sigmoid(beta * _delta(pc, pr, rc, rr))).mean()


def _loss_summed(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(beta * _delta(pc, pr, rc, rr)).sum()


def _loss_missing_minus(pc, pr, rc, rr, beta=0.1):
    return F.logsigmoid(beta * _delta(pc, pr, rc, rr)).mean()


LOSS_MISTAKES = [
    Mistake("sign flipped (rejected − chosen)", _with_grads(_loss_sign_flipped, 2),
            "The loss must fall as the chosen response gains log-prob relative to the reference: "
            "−log σ(β[(log π_w − log π_ref,w) − (log π_l − log π_ref,l)])."),
    Mistake("β misplaced (−β·log σ(Δ) instead of −log σ(βΔ))", _with_grads(_loss_beta_outside, 2),
            "β scales the log-ratio gap inside the sigmoid: it sets how far the policy may move from the reference, "
            "not the size of the loss."),
    Mistake("β misplaced (Δ/β instead of βΔ)", _with_grads(_loss_beta_divides, 2),
            "The implicit reward is β·log(π_θ/π_ref): multiply the gap by β, don't divide."),
    Mistake("reference ignored (log π_θ only)", _with_grads(_loss_reference_ignored, 2),
            "Subtract the reference's log-prob from the policy's for each response: the loss compares log-RATIOS, "
            "which is what keeps the policy near π_ref."),
    Mistake("reference added instead of subtracted", _with_grads(_loss_reference_added, 2),
            "Each response contributes log π_θ(y|x) − log π_ref(y|x)."),
    Mistake("log(sigmoid(x)) overflow", _with_grads(_loss_naive, 2),
            "torch.sigmoid(−200) is exactly 0 in float32, so log gives −inf and the gradient NaN. "
            "Use −F.logsigmoid(x) (or F.softplus(−x)), computed stably."),
    Mistake("mean vs sum (summed over pairs)", _with_grads(_loss_summed, 2),
            "Average the per-pair losses (TRL's loss_type='sigmoid' does): the loss must not grow with the batch size."),
    Mistake("missing minus sign (returned log σ, not −log σ)", _with_grads(_loss_missing_minus, 2),
            "A loss is minimised: it is −log σ(βΔ) ≥ 0."),
]


def _t(*xs, dtype=torch.float32):
    return torch.tensor(xs, dtype=dtype)


def _reference_dpo_loss(pc, pr, rc, rr, beta=0.1):
    return dpo.dpo_loss(pc, pr, rc, rr, beta)


@uses([m for m in LOSS_MISTAKES if inspect.unwrap(m.fn) in (_loss_sign_flipped, _loss_beta_outside, _loss_reference_ignored,
                                                             _loss_naive, _loss_summed)])
def check_dpo_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
    beta=0.1)`` on the loss and its gradients with respect to the policy's log-probs."""
    _refuse_reference(fn, dpo.dpo_loss, "dpo_loss")
    cases = [
        # π_θ = π_ref: Δ = 0, loss log 2, ∂/∂log π_w = −β/2 per pair / B
        Case((_t(-3.0, -7.0), _t(-4.0, -6.0), _t(-3.0, -7.0), _t(-4.0, -6.0)), label="policy = reference (loss log 2)"),
        # Δ = 2, β = 0.5: −log σ(1) ≈ 0.3133
        Case((_t(-1.0), _t(-3.0), _t(-2.0), _t(-2.0)), {"beta": 0.5}, label="one pair, β = 0.5"),
        Case((_t(-5.0, -2.0, -9.0), _t(-6.0, -1.5, -4.0), _t(-5.5, -2.5, -8.0), _t(-5.0, -2.0, -5.0)),
             label="a batch, default β"),
        Case((_t(-5.0, -2.0, -9.0), _t(-6.0, -1.5, -4.0), _t(-5.5, -2.5, -8.0), _t(-5.0, -2.0, -5.0)), {"beta": 2.0},
             label="the same batch, β = 2"),
        # βΔ = −200 and +200: losses 200 and 0, finite gradients
        Case((_t(-1000.0, 0.0), _t(0.0, -1000.0), _t(0.0, 0.0), _t(0.0, 0.0)), {"beta": 0.2},
             label="huge gaps (βΔ = ±200)", rtol=1e-5),
    ]
    if hidden:
        gen = torch.Generator().manual_seed(7007)
        for i in range(4):
            n = int(torch.randint(1, 9, (1,), generator=gen))
            xs = [-(torch.rand(n, generator=gen) * 30) for _ in range(4)]
            cases.append(Case(tuple(xs), {"beta": [0.05, 0.1, 0.5, 1.0][i]}, label=f"random batch {i + 1}"))
        cases.append(Case((_t(-400.0, -2.0, dtype=torch.float64), _t(-1.0, -3.0, dtype=torch.float64),
                           _t(-2.0, -2.5, dtype=torch.float64), _t(-1.5, -3.5, dtype=torch.float64)), {"beta": 1.0},
                          label="float64, one huge gap", rtol=1e-9))
    check_function(_with_grads(fn, 2), _with_grads(_reference_dpo_loss, 2), cases, name="dpo_loss",
                   mistakes=LOSS_MISTAKES, allow_reference=True, atol=1e-5, rtol=1e-5,
                   compare_fn=_compare_with_grads("the loss", ("∂loss/∂policy_chosen_logps", "∂loss/∂policy_rejected_logps"),
                                                  scalar=True))


# --------------------------------------------------------------------------- exercise 3: implicit rewards, accuracy


def _rw_no_beta(policy_logps, ref_logps, beta=0.1):
    return (policy_logps - ref_logps).detach()


def _rw_no_reference(policy_logps, ref_logps, beta=0.1):
    return (beta * policy_logps).detach()


def _rw_flipped(policy_logps, ref_logps, beta=0.1):
    return (beta * (ref_logps - policy_logps)).detach()


def _rw_over_beta(policy_logps, ref_logps, beta=0.1):
    return ((policy_logps - ref_logps) / beta).detach()


REWARD_MISTAKES = [
    Mistake("β missing (log-ratio returned, not β·log-ratio)", _rw_no_beta,
            "DPO's implicit reward is r̂ = β·(log π_θ(y|x) − log π_ref(y|x)): the β of the KL leash scales it."),
    Mistake("reference not subtracted", _rw_no_reference,
            "The reward is a log-RATIO to the reference: β·(log π_θ − log π_ref)."),
    Mistake("sign flipped (reference − policy)", _rw_flipped,
            "A response the policy now likes more than the reference did has a positive reward: log π_θ − log π_ref."),
    Mistake("β misplaced (divided by β)", _rw_over_beta, "Multiply the log-ratio by β."),
]


def _acc_ties_right(c, r):
    return (c >= r).float().mean()


def _acc_margin(c, r):
    return (c - r).mean()


def _acc_count(c, r):
    return (c > r).float().sum()


def _acc_reversed(c, r):
    return (c < r).float().mean()


ACCURACY_MISTAKES = [
    Mistake("a tie counted as right (>= instead of >)", _acc_ties_right,
            "At the start of training π_θ = π_ref, every reward is 0 and nothing is ranked yet: a tie must count as wrong "
            "(use >), or the accuracy starts at 100 %."),
    Mistake("returned the margin, not the accuracy", _acc_margin,
            "Accuracy is the share of pairs with r̂_w > r̂_l (a number in [0, 1]); the margin is the mean of r̂_w − r̂_l."),
    Mistake("count instead of share (sum, not mean)", _acc_count, "Divide by the number of pairs: use .mean()."),
    Mistake("comparison reversed (r̂_w < r̂_l)", _acc_reversed, "A pair is ranked right when the chosen reward is higher."),
]


def _rw_not_detached(policy_logps, ref_logps, beta=0.1):
    return beta * (policy_logps - ref_logps)


# right in value, so only the check after the cases names it (not a case-level mistake)
_NOT_DETACHED = Mistake("not detached", _rw_not_detached,
                        "The reward is a metric: return β·(…).detach() so no gradient flows from it.")


@uses(REWARD_MISTAKES[:1], [_NOT_DETACHED])
def check_implicit_rewards(fn, *, hidden: bool = False) -> None:
    """Grade ``implicit_rewards(policy_logps, ref_logps, beta=0.1)``: values, and no gradient (a metric)."""
    _refuse_reference(fn, dpo.implicit_rewards, "implicit_rewards")
    cases = [
        Case((_t(-1.0, -2.0, -3.0), _t(-2.0, -2.0, -1.0)), {"beta": 0.5}, label="β = 0.5"),  # 0.5, 0, −1
        Case((_t(-4.0, -10.0), _t(-5.0, -8.0)), label="default β"),  # 0.1, −0.2
        Case((_t(-4.0, -10.0), _t(-5.0, -8.0)), {"beta": 2.0}, label="β = 2"),
    ]
    if hidden:
        gen = torch.Generator().manual_seed(31)
        cases += [Case((-(torch.rand(6, generator=gen) * 20), -(torch.rand(6, generator=gen) * 20)), {"beta": b},
                       label=f"random batch, β = {b}") for b in (0.05, 0.3)]
    check_function(fn, dpo.implicit_rewards, cases, name="implicit_rewards", mistakes=REWARD_MISTAKES)
    policy = _t(-1.0, -2.0).requires_grad_(True)
    with quiet():  # nbgrader zeroes a test cell that writes to stderr
        out = fn(policy, _t(-1.5, -1.0), 0.1)
    if isinstance(out, torch.Tensor) and out.requires_grad:
        fail("✗ implicit_rewards: not detached — the reward is a metric, but yours carries the policy's gradient "
             "(it would flow into training if anyone added it to a loss). Return β·(…).detach().")
    passed("implicit_rewards", "the reward is detached (a metric, not part of the loss)")


@uses(ACCURACY_MISTAKES[:1])
def check_reward_accuracy(fn, *, hidden: bool = False) -> None:
    """Grade ``reward_accuracy(chosen_rewards, rejected_rewards)``."""
    _refuse_reference(fn, dpo.reward_accuracy, "reward_accuracy")
    cases = [
        Case((_t(0.5, 0.0, -1.0), _t(0.0, 0.0, -2.0)), label="one tie among three pairs"),  # 2/3
        Case((_t(0.0, 0.0), _t(0.0, 0.0)), label="start of training: every reward 0"),  # 0
        Case((_t(1.0, 2.0, 3.0, -1.0), _t(0.5, 2.5, -3.0, -2.0)), label="four pairs"),  # 3/4
    ]
    if hidden:
        gen = torch.Generator().manual_seed(32)
        cases += [Case((torch.randn(n, generator=gen), torch.randn(n, generator=gen)), label=f"random batch of {n}")
                  for n in (5, 9)]
    check_function(fn, dpo.reward_accuracy, cases, name="reward_accuracy", mistakes=ACCURACY_MISTAKES)


# --------------------------------------------------------------------------- exercise 4: a frozen reference


def _tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=2, max_position_embeddings=16, pad_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg).train()


def _ref_policy_itself(model):
    model.eval()
    return model


def _ref_requires_grad(model):
    return copy.deepcopy(model).eval()


def _ref_training_mode(model):
    ref = copy.deepcopy(model)
    for p in ref.parameters():
        p.requires_grad = False
    return ref


# the grader checks properties of the returned model, so these are named by its messages, not by their outputs
REFERENCE_MISTAKES = [
    Mistake("reference not frozen — you returned the policy itself", _ref_policy_itself,
            "Return copy.deepcopy(model): π_ref must stay where training started."),
    Mistake("reference not frozen — its parameters still require gradients", _ref_requires_grad,
            "Call ref.requires_grad_(False) on the copy."),
    Mistake("reference left in training mode", _ref_training_mode, "Call ref.eval() on the copy."),
]


@uses(REFERENCE_MISTAKES)
def check_make_reference(fn, *, hidden: bool = False) -> None:
    """Grade ``make_reference(model)``: a frozen copy — a different object with its own parameters, equal
    weights, no gradients, eval mode — that one optimizer step on the policy leaves unchanged."""
    name = "make_reference"
    if not callable(fn):
        fail(f"✗ {name}: expected a function, got {type(fn).__name__} — define it in the cell above and run that cell.")
    policy = _tiny_model()
    try:
        with quiet():  # nbgrader zeroes a test cell that writes to stderr
            ref = fn(policy)
    except NotImplementedError:
        fail(f"✗ {name}: not implemented yet — replace `raise NotImplementedError()` with your code.")
    except Exception as exc:  # noqa: BLE001 — the student's error, in one line
        fail(f"✗ {name}: your function raised {type(exc).__name__}: {exc}")
    if not isinstance(ref, torch.nn.Module):
        fail(f"✗ {name}: expected a model (torch.nn.Module), got {type(ref).__name__}")
    if ref is policy:
        fail(f"✗ {name}: reference not frozen — you returned the policy itself. π_ref must stay where training "
             "started; with π_ref = π_θ the log-ratio gap Δ is always 0 and DPO learns nothing. Return copy.deepcopy(model).")
    if not policy.training:
        fail(f"✗ {name}: your function switched the *policy* to eval mode; change only the copy.")
    if any(not p.requires_grad for p in policy.parameters()):
        fail(f"✗ {name}: your function froze the *policy's* parameters too (the copy shares them, or you froze the "
             "original): the policy must still train. Freeze a deep copy.")
    shared = {id(p) for p in policy.parameters()} & {id(p) for p in ref.parameters()}
    if shared:
        fail(f"✗ {name}: reference not frozen — it shares {len(shared)} parameter tensor(s) with the policy (a shallow "
             "copy, or the same modules), so every optimizer step moves it too. Use copy.deepcopy(model).")
    for (k, a), (_, b) in zip(policy.state_dict().items(), ref.state_dict().items()):
        if a.shape != b.shape or not torch.equal(a, b):
            fail(f"✗ {name}: the reference's weights differ from the model's ({k}); it must be a copy of the model as it "
                 "is now (the SFT model), not a fresh or re-initialised one.")
    if any(p.requires_grad for p in ref.parameters()):
        fail(f"✗ {name}: reference not frozen — its parameters still require gradients. Call "
             "ref.requires_grad_(False): no gradient must reach π_ref (and none is stored for it).")
    if ref.training:
        fail(f"✗ {name}: reference left in training mode — call ref.eval(), so dropout (in models that have it) "
             "never makes π_ref(y|x) random.")
    before = copy.deepcopy(ref.state_dict())
    ids = torch.randint(1, 32, (2, 6), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(policy.parameters(), lr=1.0)
    with quiet():
        policy(input_ids=ids, labels=ids).loss.backward()
        opt.step()
    if any(not torch.equal(v, ref.state_dict()[k]) for k, v in before.items()):
        fail(f"✗ {name}: reference not frozen — one optimizer step on the policy changed the reference's weights.")
    passed(name, "a separate copy with equal weights, no gradients, eval mode; a policy step leaves it unchanged")


# --------------------------------------------------------------------------- exercise 5: IPO


def _ipo_target_one_over_beta(pc, pr, rc, rr, beta=0.1):
    return ((_delta(pc, pr, rc, rr) - 1 / beta) ** 2).mean()


def _ipo_beta_inside(pc, pr, rc, rr, beta=0.1):
    return ((beta * _delta(pc, pr, rc, rr) - 0.5) ** 2).mean()


def _ipo_target_added(pc, pr, rc, rr, beta=0.1):
    return ((_delta(pc, pr, rc, rr) + 1 / (2 * beta)) ** 2).mean()


def _ipo_summed(pc, pr, rc, rr, beta=0.1):
    return ((_delta(pc, pr, rc, rr) - 1 / (2 * beta)) ** 2).sum()


def _ipo_absolute(pc, pr, rc, rr, beta=0.1):
    return (_delta(pc, pr, rc, rr) - 1 / (2 * beta)).abs().mean()


def _ipo_reference_ignored(pc, pr, rc, rr, beta=0.1):
    return ((pc - pr - 1 / (2 * beta)) ** 2).mean()


IPO_MISTAKES = [
    Mistake("target 1/β instead of 1/(2β)", _with_grads(_ipo_target_one_over_beta, 2),
            "IPO regresses the log-ratio gap Δ onto 1/(2β) (Azar et al., 2023): (Δ − 1/(2β))²."),
    Mistake("β misplaced ((βΔ − 1/2)² instead of (Δ − 1/(2β))²)", _with_grads(_ipo_beta_inside, 2),
            "The two have the same minimum but (βΔ − ½)² = β²(Δ − 1/(2β))²: the gradient is β² times too small."),
    Mistake("target added instead of subtracted", _with_grads(_ipo_target_added, 2),
            "The loss is zero when Δ = +1/(2β): (Δ − 1/(2β))²."),
    Mistake("mean vs sum (summed over pairs)", _with_grads(_ipo_summed, 2), "Average the per-pair losses."),
    Mistake("absolute value instead of the square", _with_grads(_ipo_absolute, 2), "IPO's loss is squared: (Δ − 1/(2β))²."),
    Mistake("reference ignored (log π_θ only)", _with_grads(_ipo_reference_ignored, 2),
            "Δ is the difference of log-RATIOS: (log π_w − log π_ref,w) − (log π_l − log π_ref,l)."),
]


def _reference_ipo_loss(pc, pr, rc, rr, beta=0.1):
    return dpo.ipo_loss(pc, pr, rc, rr, beta)


@uses(IPO_MISTAKES[:2])
def check_ipo_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps,
    beta=0.1)`` on the loss and its gradients with respect to the policy's log-probs."""
    _refuse_reference(fn, dpo.ipo_loss, "ipo_loss")
    cases = [
        # Δ = 0, β = 0.5: (0 − 1)² = 1
        Case((_t(-2.0), _t(-2.0), _t(-2.0), _t(-2.0)), {"beta": 0.5}, label="Δ = 0, β = 0.5 (loss 1)"),
        Case((_t(-1.0, -2.0), _t(-3.0, -1.0), _t(-2.0, -2.5), _t(-2.0, -1.0)), label="two pairs, default β"),
        Case((_t(-1.0, -2.0, -0.5), _t(-3.0, -1.0, -0.7), _t(-2.0, -2.5, -1.0), _t(-2.0, -1.0, -0.4)), {"beta": 0.25},
             label="three pairs, β = 0.25"),
    ]
    if hidden:
        gen = torch.Generator().manual_seed(5150)
        for i in range(3):
            n = int(torch.randint(1, 7, (1,), generator=gen))
            cases.append(Case(tuple(-(torch.rand(n, generator=gen) * 4) for _ in range(4)), {"beta": [0.1, 0.5, 2.0][i]},
                              label=f"random batch {i + 1}"))
    check_function(_with_grads(fn, 2), _with_grads(_reference_ipo_loss, 2), cases, name="ipo_loss",
                   mistakes=IPO_MISTAKES, allow_reference=True, atol=1e-5, rtol=1e-5,
                   compare_fn=_compare_with_grads("the loss", ("∂loss/∂policy_chosen_logps", "∂loss/∂policy_rejected_logps"),
                                                  scalar=True))
