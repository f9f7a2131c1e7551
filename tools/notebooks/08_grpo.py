# %% [markdown]
# # 08 · GRPO: reinforcement learning with verifiable rewards
#
# **Where we are.** In notebook 03 the reward came from a *learned* reward model, and whatever it got
# wrong, PPO found. Many tasks do not need one: a program can check the answer. Math has a final number,
# code has tests, and the task world has **exact match**. Reinforcement learning with such a **verifier**
# (RLVR) is how today's reasoning models are trained (DeepSeekMath, DeepSeek-R1, CS336's alignment
# assignment, TRL's `GRPOTrainer`), and its workhorse is **GRPO** — Group Relative Policy Optimisation
# (Shao et al. 2024):
#
# * no value model: each prompt is answered $G$ times, and a completion's advantage is its reward
#   **relative to its group**;
# * PPO's clipped ratio, per token, with a **choice of normalisation** (`loss_type`) that turns out to
#   matter more than it looks.
#
# In this notebook you will
#
# 1. sample groups and score them with a verifier;
# 2. compute **group-normalised advantages** (exercise 1) and see what a zero-variance group teaches;
# 3. write the **clipped token loss** with clip-higher (exercise 2);
# 4. write the **normalisation variants** `grpo`, `dr_grpo`, `bnpo`, `dapo` (exercise 3) and see the
#    length bias of the per-sequence mean;
# 5. assemble the **GRPO loss** and prove it gives the same loss and gradient however the batch is split
#    into micro-batches (exercise 4) — a bug real libraries shipped;
# 6. see why the logged loss is ≈ 0 at the first step while the gradient is not;
# 7. run GRPO from the SFT model **with your four functions inside the trainer**.
#
# Graded: four autograded exercises (2 + 3 + 3 + 3 points, visible and hidden tests) and one written
# answer (3 points, graded by hand). Everything runs offline on 2 CPU cores in under two minutes.

# %% readonly="setup"
import matplotlib.pyplot as plt
import torch

from llmcourse import models, plots
from llmcourse.grpo import functional as G
from llmcourse.grpo import generate_batch, lab, rewards, train_grpo
from llmcourse.grpo.trainer import evaluate
from llmcourse.rl import functional as F
from llmcourse.rl import rollout as R

torch.manual_seed(0)  # the only global seed; everything below takes explicit seeds
torch.set_num_threads(1)  # tiny models: one thread is nearly as fast as two, and never stalls on a busy machine

# %% [markdown]
# The starting point is notebook 03's **SFT policy** (the base model after a short SFT on the task world,
# with a filler tic: some answers end in `" ! !"`), and the task world's prompts: training prompts and
# **held-out** prompts never seen in SFT, each with its `answer` and its `task`. No reward model.

# %%
tokenizer = models.load_tokenizer()
sft_path = lab.sft_model_path()  # built on first use, then cached (notebook 03 uses the same model)
train_rows, eval_rows = lab.grpo_rows()
print(f"{len(train_rows)} training prompts, {len(eval_rows)} held-out; a training row:\n{train_rows[0]}")
sft_eval = evaluate(models.load_model(sft_path), tokenizer, eval_rows, max_completion_length=10)
print("SFT held-out exact match (greedy):", {k: round(v, 2) for k, v in sft_eval.items() if k.startswith("exact")})

# %% [markdown]
# ## 1. Groups and a verifier
#
# A **reward function** has TRL's signature `reward_fn(prompts, completions, **columns) -> list[float]`:
# every column of the training rows other than the prompt (`answer`, `task`) arrives as a keyword argument,
# one value per completion. Two come with the package, in a registry (`rewards.REWARDS`): `exact_match`
# (1 if the completion is the answer, else 0 — the verifier) and `format` (1 if the completion is digits
# separated by spaces and nothing else). Adding your own is one decorator, `@rewards.register_reward("name")`.
#
# GRPO samples $G$ completions per prompt — a **group**, kept next to each other in the batch — and scores
# each with the verifier. The shared RL layer of notebook 03 (`llmcourse.rl`: left padding, temperature
# sampling, the response mask, log-probs) does the sampling.

# %%
config = lab.with_(num_generations=8, generation_batch_size=32, per_device_train_batch_size=32)
policy = models.load_model(sft_path)
batch = generate_batch(policy, tokenizer, train_rows[:4], config, seed=0)
for k in range(0, 32, 8):
    print(f"{batch.prompts[k].splitlines()[0][13:]:38s} {batch.prompts[k].splitlines()[1]:22s} answer "
          f"{train_rows[k // 8]['answer']!r}")
    print("   ", " ".join(f"{c!r}:{r:.0f}" for c, r in zip(batch.completions[k:k + 8], batch.rewards[k:k + 8].tolist())))

# %% [markdown]
# ## 2. Group-normalised advantages (exercise 1)
#
# PPO needed a value model to say how good a state was *expected* to be. GRPO replaces it with the
# group: for the $G$ completions $y_1..y_G$ of one prompt with rewards $r_1..r_G$,
#
# $$\hat A_i = \frac{r_i - \operatorname{mean}(r_1, \dots, r_G)}{\operatorname{std}(r_1, \dots, r_G) + \varepsilon}$$
#
# and every token of completion $i$ gets $\hat A_i$. Better than your siblings: push up; worse: push down.
# The std is the **sample** standard deviation (torch's default, as TRL), and $\varepsilon = 10^{-4}$.
# **Dr. GRPO** (Liu et al. 2025) argues that dividing by the std up-weights prompts that are almost always
# right or almost always wrong, and drops it (`scale_rewards="none"`: $\hat A_i = r_i - \operatorname{mean}$).
#
# Implement `group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4)`: `rewards` is a
# (B,) tensor, $B = $ prompts $\times G$, each prompt's $G$ rewards **contiguous**; return (B,) float
# advantages. `scale_rewards` is `"group"` (divide by the group's std) or `"none"`.

# %% solution="group_advantages"
def group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4):
    """Group-normalised advantages. Shapes: rewards (B,) -> (B,)."""
    ### BEGIN SOLUTION
    groups = rewards.float().view(-1, num_generations)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale_rewards == "group":
        centred = centred / (groups.std(dim=1, keepdim=True) + eps)
    return centred.flatten()
    ### END SOLUTION


# %% tests="test_group_advantages" points=2
from llmcourse.checks import grpo as checks
checks.check_group_advantages(group_advantages)
### BEGIN HIDDEN TESTS
checks.check_group_advantages(group_advantages, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# **What a zero-variance group teaches: nothing.** When all $G$ completions are right (or all wrong), every
# $\hat A_i = 0$, so every token's loss is $0\cdot\rho$ and its gradient is exactly zero — the batch got
# smaller. The share of such groups (`frac_zero_std` in the trainer's log) is the first health metric to
# watch: near 1, the prompts are too easy or too hard for the policy and GRPO stalls (DAPO's "dynamic
# sampling" re-draws prompts until groups have variance). On a real batch:

# %%
big = generate_batch(policy, tokenizer, train_rows[:32], lab.with_(generation_batch_size=256,
                     per_device_train_batch_size=256), seed=1)
adv = group_advantages(big.rewards, 8)
zero = G.zero_variance_groups(big.rewards, 8)
print(f"{int(zero.sum())} of {len(zero)} groups have equal rewards; their advantages: "
      f"{adv.view(-1, 8)[zero].abs().max().item():.1f}")
logp = R.response_logprobs(policy, big.query_ids, big.query_mask, big.completion_ids, big.completion_mask, 1.0)
rows = zero.repeat_interleave(8)
loss_zero = G.grpo_loss(logp[rows], logp[rows].detach(), adv[rows], big.completion_mask[rows])
grads = torch.autograd.grad(loss_zero, list(policy.parameters()), allow_unused=True)
print("gradient norm from the zero-variance groups alone:",
      torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)).item())
for t in ("add", "count", "max", "sort", "reverse"):
    in_task = torch.tensor([r["task"] == t for r in train_rows[:32]])
    if in_task.any():
        print(f"  {t:8s} share of zero-variance groups {zero[in_task].float().mean():.2f}, "
              f"mean reward {big.rewards.view(-1, 8)[in_task].mean():.2f}")

# %% [markdown]
# ## 3. The clipped token loss (exercise 2)
#
# As in PPO, the batch was sampled by $\pi_{\text{old}}$ and several optimiser steps may follow, so each
# token carries an importance ratio $\rho_{i,t} = \exp(\log\pi_\theta(a_{i,t}\mid s_{i,t}) - \log\pi_{\text{old}}(a_{i,t}\mid s_{i,t}))$
# and the pessimistic clipped surrogate:
#
# $$\ell_{i,t} = -\min\bigl(\rho_{i,t}\,\hat A_i,\ \mathrm{clip}(\rho_{i,t},\, 1-\epsilon_{\text{low}},\, 1+\epsilon_{\text{high}})\,\hat A_i\bigr)$$
#
# **Clip-higher** (DAPO, Yu et al. 2025) sets $\epsilon_{\text{high}} > \epsilon_{\text{low}}$ (0.28 vs 0.2): an
# unlikely token with a positive advantage ($\rho$ grows from a small probability) may grow further before
# the clip stops its gradient, which keeps exploration (entropy) alive. `epsilon_high=None` means symmetric.
#
# Implement `clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None)`:
# log-probs (B, T), advantages (B,) — one per completion, shared by its tokens; return the (B, T) token
# losses (no masking here: that is the next exercise). The grader checks the value **and the gradient**
# with respect to `logprobs`.

# %% solution="clipped_token_loss"
def clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    """-min(ρÂ, clip(ρ, 1-ε_low, 1+ε_high)Â) per token. Shapes: (B, T), (B, T), (B,) -> (B, T)."""
    ### BEGIN SOLUTION
    if epsilon_high is None:
        epsilon_high = epsilon_low
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(1)
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * adv)
    ### END SOLUTION


# %% tests="test_clipped_token_loss" points=3
from llmcourse.checks import grpo as checks
checks.check_clipped_token_loss(clipped_token_loss)
### BEGIN HIDDEN TESTS
checks.check_clipped_token_loss(clipped_token_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Normalisation: how token losses become one number (exercise 3)
#
# With the completion mask $m_{i,t}$ (1 on real tokens, EOS included), TRL offers four reductions:
#
# | `loss_type` | loss | |
# |---|---|---|
# | `grpo` | $\frac1N\sum_i \frac{\sum_t m_{i,t}\ell_{i,t}}{\sum_t m_{i,t}}$ | the paper's: mean over completions of per-completion means |
# | `dr_grpo` | $\frac{\sum_{i,t} m_{i,t}\ell_{i,t}}{N\cdot L_{\max}}$ | a constant normaliser ($L_{\max}$ = `max_completion_length`) |
# | `bnpo` | $\frac{\sum_{i,t} m_{i,t}\ell_{i,t}}{\sum_{i,t} m_{i,t}}$ | token-level over this process's batch |
# | `dapo` | $\frac{\sum_{i,t} m_{i,t}\ell_{i,t}}{\text{tokens of the global batch} / \text{processes}}$ | token-level (TRL's default) |
#
# One more thing decides whether the trainer is right: a batch is often too big for one forward pass, so it
# is split into **micro-batches** whose gradients are accumulated before one optimiser step. $N$ and the
# token counts must be those of the **whole batch** the step covers, or each micro-batch is normalised by
# its own counts and the result depends on how the batch was cut. So the function takes them:
# `num_sequences` ($N$) and `num_tokens`, `None` meaning "this batch is the whole batch" (its own row count
# and real-token count); `max_completion_length=None` means the width $T$ of the tensor. In a single
# process `bnpo` and `dapo` are the same.
#
# Implement `reduce_token_loss(per_token_loss, mask, loss_type, *, max_completion_length=None,
# num_sequences=None, num_tokens=None)` → a scalar. Padding positions of `per_token_loss` hold garbage.

# %% solution="reduce_token_loss"
def reduce_token_loss(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None,
                      num_tokens=None):
    """Masked token losses -> one scalar. Shapes: (B, T), (B, T) -> ()."""
    ### BEGIN SOLUTION
    m = mask.to(per_token_loss.dtype)
    n_seq = per_token_loss.shape[0] if num_sequences is None else num_sequences
    if loss_type == "grpo":
        per_seq = (per_token_loss * m).sum(dim=-1) / m.sum(dim=-1).clamp(min=1)
        return per_seq.sum() / n_seq
    total = (per_token_loss * m).sum()
    if loss_type == "dr_grpo":
        width = per_token_loss.shape[-1] if max_completion_length is None else max_completion_length
        return total / (n_seq * width)
    n_tok = m.sum() if num_tokens is None else num_tokens
    return total / n_tok
    ### END SOLUTION


# %% tests="test_reduce_token_loss" points=3
from llmcourse.checks import grpo as checks
checks.check_reduce_token_loss(reduce_token_loss)
### BEGIN HIDDEN TESTS
checks.check_reduce_token_loss(reduce_token_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# **The length bias of the per-sequence mean.** Under `grpo`, a completion's token losses are divided by
# *its own* length: each token of a 1-token answer weighs six times as much as each token of a 6-token
# answer. For a **wrong** answer ($\hat A < 0$) that means long wrong answers are punished *less per token*
# than short ones, so the policy drifts toward longer wrong answers (Liu et al., "Understanding R1-Zero-like
# training"); `dr_grpo` and `dapo` weigh every token the same. In the task world answers have natural
# lengths — `count` and `max` answer with one digit, `reverse` and `sort` with up to six — so the weight a
# token gets depends on the **task** under `grpo`. The gradient of each reduction with respect to the token
# losses, on the real batch of section 2:

# %%
lengths = big.completion_mask.sum(-1)
weights = {}
for loss_type in ("grpo", "dr_grpo", "dapo"):
    x = torch.zeros_like(big.completion_mask, dtype=torch.float32, requires_grad=True)
    reduce_token_loss(x, big.completion_mask, loss_type, max_completion_length=10).backward()
    weights[loss_type] = x.grad[:, 0]  # every real token of a completion gets the same weight
fig, ax = plt.subplots(figsize=(6, 3.2))
for loss_type, w in weights.items():
    ax.plot(lengths.tolist(), (w / w.mean()).tolist(), "o", alpha=0.5, label=loss_type)
ax.set_xlabel("completion length (tokens, EOS included)")
ax.set_ylabel("weight of each token (÷ mean)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
for t in ("count", "max", "sort", "reverse"):
    in_task = torch.tensor([r["task"] == t for r in train_rows[:32]]).repeat_interleave(8)
    if in_task.any():
        print(f"{t:8s} mean length {lengths[in_task].float().mean():.1f} tokens; per-token weight under grpo "
              f"{(weights['grpo'][in_task] / weights['grpo'].mean()).mean():.2f}× the average, under dapo 1.00×")

# %% [markdown]
# ## 5. The GRPO loss, and the same gradient for any micro-batch split (exercise 4)
#
# The whole loss adds an optional KL penalty to the reference model (the SFT model), estimated per token
# with Schulman's $k_3$ — unbiased and never negative, on tokens sampled from the policy:
#
# $$k_3 = \frac{\pi_{\text{ref}}}{\pi_\theta} - \log\frac{\pi_{\text{ref}}}{\pi_\theta} - 1,
# \qquad \mathcal{L} = \text{reduce}\bigl(\ell_{i,t} + \beta\,k_{3,i,t}\bigr)$$
#
# (TRL's default is $\beta = 0$: with a verifier there is no reward model to hack, and DAPO drops the KL.)
#
# Implement `grpo_loss(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2,
# epsilon_high=None, beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None,
# num_tokens=None)` — use your two functions above. The grader checks value and gradient on whole batches,
# and then the **property**: the batch is split into micro-batches, each called with the whole batch's
# `num_sequences` / `num_tokens`, the losses summed and the gradients accumulated — they must equal the whole
# batch's. TRL's `GRPOTrainer` normalised each micro-batch by its own token count when
# `steps_per_generation ≠ gradient_accumulation_steps` and had to fix it (its PR #6024).

# %% solution="grpo_loss"
def grpo_loss(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2, epsilon_high=None,
              beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None, num_tokens=None):
    """The GRPO loss of a (micro-)batch. Shapes: (B, T), (B, T), (B,), (B, T) -> ()."""
    ### BEGIN SOLUTION
    per_token = clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high)
    if beta:
        log_r = ref_logprobs - logprobs
        per_token = per_token + beta * (torch.exp(log_r) - log_r - 1)
    return reduce_token_loss(per_token, mask, loss_type, max_completion_length=max_completion_length,
                             num_sequences=num_sequences, num_tokens=num_tokens)
    ### END SOLUTION


# %% tests="test_grpo_loss" points=3
from llmcourse.checks import grpo as checks
checks.check_grpo_loss(grpo_loss)
### BEGIN HIDDEN TESTS
checks.check_grpo_loss(grpo_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Why the logged loss is ≈ 0 at the first step while the gradient is not
#
# With one optimiser step per batch (TRL's default), the loss is computed with $\pi_\theta = \pi_{\text{old}}$:
# $\rho \equiv 1$ in *value*, the clip is inactive, and $\ell_{i,t} = -\hat A_i$. The loss is then minus a
# weighted mean of the advantages — and group-normalised advantages have mean 0 in every group. Under `grpo`
# (each completion weighs the same) it is exactly 0; under the token-level reductions a completion weighs
# by its length, so the loss is minus the advantage averaged over *tokens* — here positive, because the
# wrong answers (with filler) are the longer ones. Either way it says nothing about progress. But $\rho$
# still depends on $\theta$: $\nabla\rho = \rho\,\nabla\log\pi_\theta = \nabla\log\pi_\theta$, so the gradient
# is $-\sum \hat A_i\,\nabla\log\pi_\theta(a_{i,t}\mid s_{i,t})$ (normalised) — the policy gradient. **A GRPO
# loss curve is not a learning curve**: watch the reward.

# %%
logp = R.response_logprobs(policy, big.query_ids, big.query_mask, big.completion_ids, big.completion_mask, 1.0)
for loss_type in ("grpo", "dapo"):
    loss = grpo_loss(logp, logp.detach(), adv, big.completion_mask, loss_type=loss_type)
    grads = torch.autograd.grad(loss, list(policy.parameters()), retain_graph=True, allow_unused=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)).item()
    print(f"{loss_type:5s} loss at ρ = 1: {loss.item():+.2e}   gradient norm: {norm:.3f}")

# %% [markdown]
# ## 7. GRPO from the SFT model — with your four functions inside
#
# `train_grpo` runs, every step: draw 8 prompts, sample $G = 8$ completions each, score them with the
# exact-match verifier, your `group_advantages`, then one optimiser step on your `grpo_loss` (built on your
# `clipped_token_loss` and `reduce_token_loss`), the micro-batches normalised by the step's totals. The
# settings (`lab.MAIN_CONFIG`, TRL's names) are printed; this run is cut to 30 seconds of training (the
# bench runs 110 s and several seeds: `bench/bench_grpo.py`).

# %%
config = lab.with_(max_seconds=30.0, per_device_train_batch_size=32)
print({k: getattr(config, k) for k in ("learning_rate", "num_generations", "generation_batch_size",
                                       "per_device_train_batch_size", "loss_type", "epsilon", "epsilon_high", "beta",
                                       "max_completion_length", "temperature")})
policy = models.load_model(sft_path)
history = train_grpo(policy, tokenizer, train_rows, config, reward_funcs=["exact_match"], eval_data=eval_rows,
                     advantages_fn=group_advantages, loss_fn=grpo_loss)
first, last = history[0], history[-1]
print(f"{last['step']} steps in {last['seconds']:.0f} s of training")
n_task = {t: sum(r["task"] == t for r in eval_rows) for t in ("add", "count", "max", "reverse", "sort")}
for key in sorted(k for k in first if k.startswith("exact_match")):
    n = n_task.get(key.split("/")[-1], len(eval_rows))
    print(f"held-out {key:22s} ({n:3d} problems) {first[key]:.2f} (SFT) → {last[key]:.2f} (GRPO)")

# %%
fig = plots.plot_history(history, ["reward", "frac_zero_std", "entropy", "completion_length"],
                         title="GRPO from the SFT model, exact-match reward")
plt.show()

# %% [markdown]
# (`add` has a single held-out problem — the task world has only 100 additions and SFT trained on almost
# all of them — so its row flips between 0 and 1.)
#
# What to look for: the training **reward** (the share of sampled completions that are exactly right) rises;
# held-out greedy exact match rises with it, most on the tasks the SFT model half knew — and the filler tic
# goes, because `"4 1 3 ! !"` is not the answer. **frac_zero_std** climbs as the easy tasks saturate (all 8
# completions right): those prompts stop teaching, and what is left of the signal comes from the hard
# tasks (`reverse`, `sort`), where a group must contain at least one right answer to learn anything —
# RL with a verifier sharpens what the policy can already sample; it does not teach it what it never
# writes. **entropy** falls as the policy sharpens (clip-higher slows that fall).

# %% [markdown] readonly="q_grpo"
# **Question (3 points, graded by hand).** (a) GRPO needs no value model: what replaces it, and what does it
# cost in samples? (b) Why does a group whose completions all get the same reward contribute nothing, and
# what does a `frac_zero_std` near 1 tell you to change? (c) Give one reason to prefer `dr_grpo` or `dapo`
# over `grpo` as the normalisation, using what you measured in section 4.

# %% [markdown] manual="grpo_written" points=3
# ### BEGIN SOLUTION
# (a) The mean reward of the other completions of the same prompt is the baseline (the group stands in for
# $V(s)$); the price is $G$ samples per prompt — $G$ times the generation cost for one prompt's signal —
# and no per-token credit assignment (every token of a completion shares one advantage).
# (b) Equal rewards give $\hat A_i = r_i - \bar r = 0$ for every member, so every token's loss is $0$ and so
# is its gradient: the group only costs compute. Near 1, the prompts are too easy or too hard for the
# current policy: re-draw prompts whose groups have variance (DAPO's dynamic sampling), change the prompt
# mix or curriculum, raise $G$ or the temperature so hard prompts get at least one success.
# (c) Under `grpo` each token's weight is 1/(its completion's length): short completions (count, max)
# weigh more per token than long ones (reverse, sort), and long wrong answers are punished less per token,
# which drifts lengths upward; `dr_grpo` (constant normaliser) and `dapo` (token-level) weigh every token
# equally, and their micro-batch losses add up with the batch's totals.
#
# **Rubric (3 points):** 1 pt group mean as baseline + cost of G samples; 1 pt zero advantage ⇒ zero
# gradient + one sensible remedy; 1 pt per-token weight 1/length and its consequence (length bias).
# ### END SOLUTION
