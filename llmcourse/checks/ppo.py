r"""Graders for notebook 03 (PPO for RLHF): KL-penalised rewards, GAE, the clipped policy loss and
the adaptive KL update.

Each grader compares the student's function with the reference in :mod:`llmcourse.ppo.functional`
on fixed cases (padding with garbage values in it, rows of different lengths, β ≠ 1, very unlikely
tokens) and recognises the classic mistakes by name. ``hidden=True`` adds seeded random batches.
"""

from __future__ import annotations

import torch

from llmcourse.checks import Case, Mistake, check_function, uses
from llmcourse.ppo import functional as F

__all__ = ["check_kl_penalized_rewards", "check_gae_advantages", "check_clipped_policy_loss",
           "check_adaptive_kl_update"]

T = torch.tensor


# --------------------------------------------------------------------------- 1. KL-penalised rewards


def _rewards_kl_sign_flipped(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.float()
    return -kl_coef * (ref_logprobs - logprobs) * m + scores[:, None] * F.last_token_onehot(mask)


def _rewards_score_on_every_token(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.float()
    return (-kl_coef * (logprobs - ref_logprobs) + scores[:, None]) * m


def _rewards_score_on_first_token(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.float()
    first = torch.zeros_like(m)
    first[:, 0] = 1.0
    return -kl_coef * (logprobs - ref_logprobs) * m + scores[:, None] * first


def _rewards_score_on_last_column(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.float()
    last_col = torch.zeros_like(m)
    last_col[:, -1] = 1.0
    return -kl_coef * (logprobs - ref_logprobs) * m + scores[:, None] * last_col


def _rewards_padding_not_masked(scores, logprobs, ref_logprobs, mask, kl_coef):
    return -kl_coef * (logprobs - ref_logprobs) + scores[:, None] * F.last_token_onehot(mask)


def _rewards_beta_on_score(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.float()
    return kl_coef * (scores[:, None] * F.last_token_onehot(mask) - (logprobs - ref_logprobs) * m)


def _rewards_kl_from_probabilities(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.float()
    return -kl_coef * (logprobs.exp() - ref_logprobs.exp()) * m + scores[:, None] * F.last_token_onehot(mask)


REWARD_MISTAKES = [
    Mistake("KL sign flipped (log π_ref − log π)", _rewards_kl_sign_flipped,
            "The penalty is −β·(log π_θ − log π_ref): tokens the policy likes *more* than the reference cost "
            "reward. With the sign flipped, drifting away from the SFT model is rewarded."),
    Mistake("score added to every token", _rewards_score_on_every_token,
            "The reward model judges the whole response once: add r_φ(x, y) only at the last real token. "
            "Adding it everywhere multiplies it by the response length (and rewards long answers)."),
    Mistake("score added to the first token", _rewards_score_on_first_token,
            "The score belongs to the *last* real token (the EOS): only then has the whole response been seen."),
    Mistake("score put in the last column even for padded rows", _rewards_score_on_last_column,
            "For a shorter response the last column is padding: find each row's last position where mask = 1."),
    Mistake("padding tokens not masked", _rewards_padding_not_masked,
            "Multiply the KL term by the mask: padding positions are not actions and must get reward 0."),
    Mistake("β multiplies the score too", _rewards_beta_on_score,
            "β scales only the KL penalty: r_t = −β·KL_t (+ the unscaled score at the last token)."),
    Mistake("KL from probabilities, not log-probabilities", _rewards_kl_from_probabilities,
            "The per-token KL estimate is the log-ratio log π_θ − log π_ref (the inputs are already log-probs)."),
]

_LP = T([[-0.5, -1.2, -2.0, -0.3], [-1.0, -0.7, -4.0, -6.0]])
_REF = T([[-0.9, -1.0, -2.5, -0.1], [-0.4, -1.5, -2.0, -3.0]])
_MASK = T([[1, 1, 1, 1], [1, 1, 0, 0]])  # row 1: two real tokens; its padding holds garbage log-probs


@uses(REWARD_MISTAKES)
def check_kl_penalized_rewards(fn, *, hidden: bool = False) -> None:
    """Grade ``kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef) -> (B, T)``."""
    cases = [
        Case((T([1.5, -0.5]), _LP, _REF, _MASK, 0.1), label="two rows, the second padded (β = 0.1)"),
        Case((T([2.0]), _LP[:1], _REF[:1], _MASK[:1], 0.5), label="one full row (β = 0.5)"),
        Case((T([0.3, 1.0]), _LP, _REF, _MASK, 0.0), label="β = 0: only the score"),
        Case((T([1.0, -2.0]), _LP, _REF, T([[1, 0, 0, 0], [1, 1, 1, 0]]), 0.2),
             label="an empty response (EOS only) and a 3-token one"),
    ]
    if hidden:
        g = torch.Generator().manual_seed(303)
        for i in range(4):
            B, L = 3 + i, 5 + i
            lengths = torch.randint(1, L + 1, (B,), generator=g)
            mask = (torch.arange(L)[None, :] < lengths[:, None]).long()
            lp, ref = -3 * torch.rand(B, L, generator=g), -3 * torch.rand(B, L, generator=g)
            cases.append(Case((torch.randn(B, generator=g), lp, ref, mask, float(0.05 * (i + 1))),
                              label=f"random batch {i + 1}"))
    check_function(fn, F.kl_penalized_rewards, cases, name="kl_penalized_rewards", mistakes=REWARD_MISTAKES,
                   atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- 2. GAE


def _gae_loop(rewards, values, mask, gamma, lam, *, forward=False, shift_values=False,
              use_lam=True, add_values=True, use_mask=True):
    m = mask.float() if use_mask else torch.ones_like(values)
    v = values * m if use_mask else values
    r = rewards * m
    B, L = r.shape
    adv = torch.zeros_like(r)
    carry = torch.zeros(B)
    order = range(L) if forward else reversed(range(L))
    for t in order:
        if shift_values:  # δ_t = r_t + γ V_t − V_{t−1}
            nxt = v[:, t]
            cur = v[:, t - 1] if t > 0 else torch.zeros(B)
            nm = m[:, t]
        else:
            nxt = v[:, t + 1] if t + 1 < L else torch.zeros(B)
            cur = v[:, t]
            nm = m[:, t + 1] if t + 1 < L else torch.zeros(B)
        delta = r[:, t] + gamma * nm * nxt - cur
        carry = delta + gamma * (lam if use_lam else 1.0) * nm * carry
        adv[:, t] = carry
    adv = adv * m
    return adv, ((adv + v) * m if add_values else adv)


def _gae_forward(rewards, values, mask, gamma, lam):
    return _gae_loop(rewards, values, mask, gamma, lam, forward=True)


def _gae_bootstraps_padding(rewards, values, mask, gamma, lam):
    # the recursion runs over every column and reads V wherever it is, padding included
    m = mask.float()
    r = rewards * m
    B, L = r.shape
    adv = torch.zeros_like(r)
    carry = torch.zeros(B)
    for t in reversed(range(L)):
        nxt = values[:, t + 1] if t + 1 < L else torch.zeros(B)
        carry = r[:, t] + gamma * nxt - values[:, t] + gamma * lam * carry
        adv[:, t] = carry
    adv = adv * m
    return adv, (adv + values * m) * m


def _gae_shifted_values(rewards, values, mask, gamma, lam):
    return _gae_loop(rewards, values, mask, gamma, lam, shift_values=True)


def _gae_no_lambda(rewards, values, mask, gamma, lam):
    return _gae_loop(rewards, values, mask, gamma, lam, use_lam=False)


def _gae_returns_without_values(rewards, values, mask, gamma, lam):
    return _gae_loop(rewards, values, mask, gamma, lam, add_values=False)


def _gae_padding_not_masked(rewards, values, mask, gamma, lam):
    return _gae_loop(rewards, values, mask, gamma, lam, use_mask=False)


GAE_MISTAKES = [
    Mistake("GAE iterated forward", _gae_forward,
            "Â_t = δ_t + γλ·Â_{t+1} depends on the *future*: loop t = T−1, …, 0 (backwards)."),
    Mistake("off by one at the sequence end: bootstraps V from the padding after the last token", _gae_bootstraps_padding,
            "After the last real token the episode is over: use V(s_{t+1}) = 0 (multiply by mask[t+1]) — never "
            "the value the model wrote on a padding position."),
    Mistake("off by one: δ_t uses V(s_t) − V(s_{t−1})", _gae_shifted_values,
            "The TD error is δ_t = r_t + γ·V(s_{t+1}) − V(s_t): the *next* state's value minus the current one."),
    Mistake("λ left out of the recursion", _gae_no_lambda,
            "Â_t = δ_t + γ·λ·Â_{t+1}: without λ it is the high-variance Monte-Carlo advantage."),
    Mistake("returns without the values", _gae_returns_without_values,
            "The value target is R̂_t = Â_t + V(s_t), not the advantage alone."),
    Mistake("padding tokens not masked", _gae_padding_not_masked,
            "Padding positions are not steps of the episode: mask rewards, values and the outputs."),
]

_R = T([[0.0, -0.1, 0.05, 1.0], [0.1, 2.0, 5.0, 5.0]])  # row 1 ends after 2 tokens; its padding holds garbage
_V = T([[0.4, 0.3, 0.7, 0.9], [0.2, 0.6, 3.0, -3.0]])


@uses(GAE_MISTAKES)
def check_gae_advantages(fn, *, hidden: bool = False) -> None:
    """Grade ``gae_advantages(rewards, values, mask, gamma, lam) -> (advantages, returns)``."""
    cases = [
        Case((_R, _V, _MASK, 1.0, 0.95), label="γ = 1, λ = 0.95, the second row padded"),
        Case((_R[:1], _V[:1], _MASK[:1], 0.9, 0.8), label="one full row, γ = 0.9, λ = 0.8"),
        Case((_R, _V, T([[1, 1, 1, 0], [1, 1, 1, 1]]), 1.0, 0.5), label="padding in the first row"),
        Case((_R, _V, _MASK, 1.0, 1.0), label="γ = λ = 1 (reward-to-go minus value)"),
    ]
    if hidden:
        g = torch.Generator().manual_seed(404)
        for i in range(4):
            B, L = 2 + i, 4 + 2 * i
            lengths = torch.randint(1, L + 1, (B,), generator=g)
            mask = (torch.arange(L)[None, :] < lengths[:, None]).long()
            cases.append(Case((torch.randn(B, L, generator=g), torch.randn(B, L, generator=g), mask,
                               float(0.8 + 0.05 * i), float(0.7 + 0.1 * i)), label=f"random batch {i + 1}"))
    check_function(fn, F.gae_advantages, cases, name="gae_advantages", mistakes=GAE_MISTAKES, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- 3. the clipped policy loss


def _pl_min_max_swapped(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs - old_logprobs)
    a, b = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return F.masked_mean(torch.minimum(a, b), mask)


def _pl_prob_ratio(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs) / torch.exp(old_logprobs)
    a, b = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return F.masked_mean(torch.maximum(a, b), mask)


def _pl_logprob_quotient(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = logprobs / old_logprobs
    a, b = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return F.masked_mean(torch.maximum(a, b), mask)


def _pl_not_masked(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs - old_logprobs)
    a, b = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return torch.maximum(a, b).mean()


def _pl_no_clip(logprobs, old_logprobs, advantages, mask, cliprange):
    return F.masked_mean(-advantages * torch.exp(logprobs - old_logprobs), mask)


def _pl_objective_not_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs - old_logprobs)
    a, b = advantages * ratio, advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return F.masked_mean(torch.minimum(a, b), mask)


def _pl_ratio_detached(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs.detach() - old_logprobs)
    a, b = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return F.masked_mean(torch.maximum(a, b), mask)


def _pl_as_a_number(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs - old_logprobs)
    a, b = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    return torch.tensor(F.masked_mean(torch.maximum(a, b), mask).item())


POLICY_MISTAKES = [
    Mistake("min/max swapped in the clipped objective", _pl_min_max_swapped,
            "PPO takes the pessimistic term: min(ρÂ, clip(ρ)Â) of the objective, i.e. max(−ρÂ, −clip(ρ)Â) of the "
            "loss. The other choice lets one step gain without bound."),
    Mistake("ratio computed from probabilities instead of log-probs", _pl_prob_ratio,
            "exp(log π) underflows to 0 for unlikely tokens (0/0 = NaN, x/0 = inf): use ρ = exp(log π_θ − log π_old)."),
    Mistake("ratio computed as log π / log π_old", _pl_logprob_quotient,
            "A ratio of probabilities is a *difference* of log-probs, exponentiated: ρ = exp(log π_θ − log π_old)."),
    Mistake("padding tokens not masked", _pl_not_masked,
            "Average over real tokens only: sum(loss·mask) / sum(mask)."),
    Mistake("no clipping", _pl_no_clip,
            "Without clip(ρ, 1−ε, 1+ε) this is the plain policy-gradient surrogate: PPO's trust region is gone."),
    Mistake("returned the objective instead of the loss (sign)", _pl_objective_not_loss,
            "Optimisers minimise: return the negated clipped objective, masked_mean(max(−Âρ, −Â·clip(ρ)))."),
    *(Mistake("no gradient reaches logprobs (a ratio from logprobs.detach(), .item() or torch.no_grad())", wrong,
              "The loss has the right value but no gradient, so the policy would not move: ρ = exp(log π_θ − log π_old) "
              "must stay connected to `logprobs` (only `old_logprobs` and the advantages are constants).")
      for wrong in (_pl_ratio_detached, _pl_as_a_number)),
]


@uses(POLICY_MISTAKES)
def check_clipped_policy_loss(fn, *, hidden: bool = False) -> None:
    """Grade ``clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange) -> scalar``."""
    old = T([[-1.0, -2.0, -0.5, -3.0], [-1.5, -0.2, -9.0, -9.0]])
    new = old + T([[0.4, -0.5, 0.05, -0.1], [0.3, -0.4, 2.0, -2.0]])
    adv = T([[1.0, -0.5, 2.0, -1.0], [-1.5, 0.8, 3.0, 3.0]])
    cases = [
        Case((new, old, adv, _MASK, 0.2), label="clipped and unclipped tokens, the second row padded"),
        Case((old, old, adv, _MASK, 0.2), label="first minibatch: ratio = 1"),
        Case((new, old, -adv, T([[1, 1, 1, 1], [1, 1, 1, 0]]), 0.1), label="advantages negated, ε = 0.1"),
        # exp(−100) is a float32 subnormal and exp(−105) rounds to 0: a ratio of probabilities is inf
        Case((T([[-100.0, -1.0]]), T([[-105.0, -1.2]]), T([[-1.0, 1.0]]), T([[1, 1]]), 0.2),
             label="very unlikely tokens (log-probs ≈ −100)"),
    ]
    if hidden:
        g = torch.Generator().manual_seed(505)
        for i in range(4):
            B, L = 3, 6
            lengths = torch.randint(1, L + 1, (B,), generator=g)
            mask = (torch.arange(L)[None, :] < lengths[:, None]).long()
            o = -4 * torch.rand(B, L, generator=g)
            cases.append(Case((o + 0.5 * torch.randn(B, L, generator=g), o, torch.randn(B, L, generator=g), mask,
                               0.2), label=f"random batch {i + 1}"))
    check_function(fn, F.clipped_policy_loss, cases, name="clipped_policy_loss", mistakes=POLICY_MISTAKES,
                   atol=1e-5, rtol=1e-4, grad_wrt=(0,))


# --------------------------------------------------------------------------- 4. the adaptive KL update


def _kl_not_clipped(kl_coef, current_kl, target, n_steps, horizon):
    return kl_coef * (1 + (current_kl / target - 1) * n_steps / horizon)


def _kl_sign_flipped(kl_coef, current_kl, target, n_steps, horizon):
    e = min(max(1 - current_kl / target, -0.2), 0.2)
    return kl_coef * (1 + e * n_steps / horizon)


def _kl_no_horizon(kl_coef, current_kl, target, n_steps, horizon):
    e = min(max(current_kl / target - 1, -0.2), 0.2)
    return kl_coef * (1 + e)


def _kl_absolute_error(kl_coef, current_kl, target, n_steps, horizon):
    e = min(max(current_kl - target, -0.2), 0.2)
    return kl_coef * (1 + e * n_steps / horizon)


def _kl_additive(kl_coef, current_kl, target, n_steps, horizon):
    e = min(max(current_kl / target - 1, -0.2), 0.2)
    return kl_coef + e * n_steps / horizon


KL_MISTAKES = [
    Mistake("error not clipped to ±0.2", _kl_not_clipped,
            "e = clip(KL/target − 1, −0.2, 0.2): one batch with a huge KL must not multiply β by a huge factor."),
    Mistake("error sign flipped", _kl_sign_flipped,
            "KL above target must *raise* β (stronger pull back to the reference): e = KL/target − 1."),
    Mistake("step size n/H left out", _kl_no_horizon,
            "β ← β·(1 + e·n/H): the horizon H sets how fast β adapts, per sequence seen."),
    Mistake("absolute error KL − target instead of the proportional error", _kl_absolute_error,
            "Ziegler et al. use the proportional error KL/target − 1, which does not depend on the KL's scale."),
    Mistake("additive update β + e·n/H", _kl_additive,
            "The controller is multiplicative: β ← β·(1 + e·n/H), so β stays positive and moves in proportion."),
]


@uses(KL_MISTAKES)
def check_adaptive_kl_update(fn, *, hidden: bool = False) -> None:
    """Grade ``adaptive_kl_update(kl_coef, current_kl, target, n_steps, horizon) -> float``."""
    cases = [
        Case((0.2, 18.0, 6.0, 32, 640), label="KL three times the target (error clipped at +0.2)"),
        Case((0.1, 6.6, 6.0, 64, 640), label="KL 10% above target"),
        Case((0.2, 4.5, 6.0, 256, 1000), label="KL 25% below target"),
        Case((0.05, 0.0, 3.0, 32, 100), label="KL 0"),
        Case((0.3, 0.55, 0.5, 128, 512), label="small target, KL 10% above"),
    ]
    if hidden:
        import random

        rng = random.Random(606)
        for i in range(6):
            target = rng.uniform(0.5, 8.0)
            cases.append(Case((rng.uniform(0.01, 0.5), target * rng.uniform(0.0, 2.5), target, rng.choice([16, 64, 256]),
                               rng.choice([100.0, 1000.0, 10000.0])), label=f"random case {i + 1}"))
    check_function(fn, F.adaptive_kl_update, cases, name="adaptive_kl_update", mistakes=KL_MISTAKES,
                   atol=1e-9, rtol=1e-7)
