# %% [markdown]
# # 03 · RLHF with PPO: rewards, the KL penalty, advantages and clipping
#
# **Where we are.** The three stages of instruction tuning (the seed guide's Question 1):
#
# 1. **SFT** (notebook 01) — imitate demonstrations: the model learns the *format* and the tasks;
# 2. **reward modelling** (notebook 02) — learn a scalar $r_\phi(x, y)$ from human comparisons;
# 3. **RLHF** (this notebook) — let the SFT model *generate*, score what it wrote with $r_\phi$, and push it
#    towards higher scores with reinforcement learning — while a **KL penalty** keeps it close to the SFT
#    model it started from.
#
# Stage 3 is different in kind: there is no fixed dataset. The model writes its own training data, and
# whatever the reward model gets wrong, the policy will find. In this notebook you will
#
# 1. see the LLM as an RL policy, and sample *rollouts*;
# 2. derive the objective $r - \beta\,\mathrm{KL}$ and why the KL is applied **per token** (exercise 1);
# 3. go from that objective to PPO's **clipped surrogate** (exercise 2);
# 4. estimate advantages with **GAE** (exercise 3);
# 5. adapt $\beta$ with the **adaptive KL controller** of Ziegler et al. (exercise 4);
# 6. run PPO on the task world **with your four functions inside the trainer**, and watch the curves;
# 7. run the **reward-hacking lab**: a reward model with a planted bias, with and without the KL penalty;
# 8. explain, in writing, why the KL term matters.
#
# Graded: four autograded exercises (3 + 3 + 3 + 2 points, visible and hidden tests) and one written
# answer (4 points, graded by hand). Everything runs offline on 2 CPU cores in about a minute and a half.
# TRL removed its PPO trainer; the one used here (`llmcourse.ppo.train_ppo`) is meant to be read — every
# line of the algorithm is in `llmcourse/ppo/`.

# %% readonly="setup"
import dataclasses

import matplotlib.pyplot as plt
import torch

from llmcourse import models, plots, tasks
from llmcourse.ppo import functional as F
from llmcourse.ppo import lab
from llmcourse.ppo import rollout as R
from llmcourse.ppo import train_ppo

torch.manual_seed(0)  # the only global seed; everything below takes explicit seeds
torch.set_num_threads(1)  # tiny models: one thread is nearly as fast as two, and never stalls on a busy machine

# %% [markdown]
# The lab's starting point (built once by `llmcourse.ppo.lab` with the trainers of notebooks 01 and 02,
# and cached, like the base model):
#
# * the **SFT policy** — the base model after a *short* supervised fine-tuning on the task world. Its
#   demonstrations were sloppy: almost half of them end with filler (`"4 1 3 ! !"`), and the model picked
#   up the tic;
# * a **clean reward model**, trained the way InstructGPT collected comparisons: the SFT policy answered
#   training prompts, and a labeller preferred the correct answer to the policy's whenever the policy's was
#   not exactly right — so it dislikes the tic and the policy's typical mistakes;
# * a **length-biased reward model**, trained on notebook 02's biased pairs (chosen answers carried
#   filler): it *loves* the tic;
# * training prompts and **held-out** prompts (never seen in SFT) with their answers, for exact match.
#
# Every stage uses the seed guide's short template (`Instruction: …`, `Input: …`, `Output:`): a 20-token
# prompt instead of Alpaca's 57 makes a PPO step 2.5× cheaper. Both reward models are calibrated to mean 0
# and standard deviation 1 on the SFT demonstrations, as is usual before RL — the scale of the reward
# decides how strong a given $\beta$ is.

# %%
tokenizer = models.load_tokenizer()
sft_path = lab.sft_model_path()           # built on first use, then cached
reward_model = lab.reward_model(bias=None)
biased_reward_model = lab.reward_model(bias="length")
prompts, eval_data = lab.ppo_prompts()
print(f"{len(prompts)} training prompts, {len(eval_data)} held-out prompts; a held-out example:")
print(eval_data[0]["prompt"] + " " + eval_data[0]["answer"])
print("SFT held-out exact match (greedy):", lab.sft_facts()["eval"]["eval_exact_match"])
print("clean RM prefers the plain answer to answer + filler:", lab.reward_facts(None)["prefers_plain_to_filler"])
print("biased RM prefers the plain answer to answer + filler:", lab.reward_facts("length")["prefers_plain_to_filler"])

# %% [markdown]
# ## 1. The LLM as a policy
#
# Reinforcement learning talks about an agent acting in an environment. For a language model:
#
# | RL | RLHF with an LLM |
# |---|---|
# | state $s_t$ | the prompt $x$ and the response so far: $s_t = (x, a_0, \dots, a_{t-1})$ |
# | action $a_t$ | the next token (one of $|V|$) |
# | policy $\pi_\theta(a_t \mid s_t)$ | the LLM's next-token distribution, $\mathrm{softmax}(z_t / \tau)$ |
# | transition | deterministic: append $a_t$ to the state |
# | episode | one response; it ends at EOS or at the length limit |
# | reward | the reward model's score $r_\phi(x, y)$ for the *whole* response, at the end |
#
# One batch of experience is a **rollout**: prompts are tokenised (BOS first) and padded on the **left**,
# so that every row's last prompt token sits in the same column and `generate` can continue all rows at
# once. The policy samples with plain temperature sampling (`top_k=0`, `top_p=1`: exactly the distribution
# whose log-probabilities PPO will use). Each response is cut after its first EOS and gets a **response
# mask**: 1 on real tokens (the EOS included: stopping is an action too), 0 on padding.
#
# Then four forward passes over prompt + response: the policy's log-probs $\log\pi_\theta(a_t\mid s_t)$,
# the frozen reference model's $\log\pi_{\mathrm{ref}}(a_t\mid s_t)$ (the SFT model itself), the value
# model's $V(s_t)$, and the reward model's score, read at the last real token.

# %%
policy = models.load_model(sft_path)
pair = R.PolicyAndValue(policy, value_model=None)  # a value head on the policy (starts at 0)
rollout = R.collect_rollout(pair, models.load_model(sft_path), reward_model, tokenizer, prompts[:6],
                            response_length=12, temperature=1.0, seed=0)
for text, score, mask in zip(rollout.responses, rollout.scores, rollout.response_mask):
    print(f"{score:+6.2f}  {int(mask.sum()):2d} tokens  {text!r}")
print("response mask of the first rows:\n", rollout.response_mask[:3])
print("log π(a_t | s_t) of row 0:", rollout.logprobs[0, : int(rollout.response_mask[0].sum())])

# %% [markdown]
# Two details that silently break PPO when they are wrong:
#
# * **temperature** — sampling at $\tau$ draws from $\mathrm{softmax}(z/\tau)$, so the log-probs of the
#   rollout, of the reference and of the update must *all* divide the logits by $\tau$;
# * **alignment** — the logits at position $P - 1 + t$ of the joined sequence predicted response token
#   $a_t$; `rollout.logprobs[:, t]` is read there, and so is $V(s_t)$.
#
# Get both right and, before the first gradient step, the recomputed log-probs equal the stored ones
# *exactly*: the probability ratio of PPO is 1 on the first minibatch (the trainer logs its largest
# deviation as `first_ratio_dev`; the tests check it is 0).
#
# ## 2. The objective: reward minus a KL penalty — per token
#
# The seed guide writes the RLHF objective at the level of whole sequences:
#
# $$\max_\theta\; \mathbb{E}_{x\sim D,\; y\sim\pi_\theta(\cdot\mid x)}\Bigl[r_\phi(x, y) - \beta\,\mathrm{KL}\bigl(\pi_\theta(\cdot\mid x)\,\Vert\,\pi^{\mathrm{SFT}}(\cdot\mid x)\bigr)\Bigr],$$
#
# and then says the penalty is applied *per token*. Both are the same thing. The probability of a response
# is the product of its token probabilities, $\pi(y\mid x) = \prod_t \pi(a_t\mid s_t)$, so
#
# $$\log\frac{\pi_\theta(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)} = \sum_{t} \log\frac{\pi_\theta(a_t\mid s_t)}{\pi_{\mathrm{ref}}(a_t\mid s_t)},
# \qquad
# \mathrm{KL}\bigl(\pi_\theta(\cdot\mid x)\,\Vert\,\pi_{\mathrm{ref}}(\cdot\mid x)\bigr) = \mathbb{E}_{y\sim\pi_\theta}\Bigl[\sum_t \log\frac{\pi_\theta(a_t\mid s_t)}{\pi_{\mathrm{ref}}(a_t\mid s_t)}\Bigr].$$
#
# The sequence KL is the expected **sum of per-token log-ratios**. For one sampled response the sum is an
# unbiased estimate of it (the "$k_1$" estimator). So we can hand out the penalty token by token:
#
# $$r_t = -\beta\,\bigl(\log\pi_\theta(a_t\mid s_t) - \log\pi_{\mathrm{ref}}(a_t\mid s_t)\bigr) \;+\; \mathbb{1}[t = T_{\text{last}}]\; r_\phi(x, y),$$
#
# and $\sum_t r_t = r_\phi(x,y) - \beta\log\frac{\pi_\theta(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)}$ — exactly
# the objective's integrand. Why bother splitting it? Because RL assigns **credit** per action: the token
# where the policy departs from the SFT model is the one that pays, right where it happened, and the
# advantage estimator below gets a dense signal instead of one number at the end.
#
# The reward model's score arrives **once, at the last real token** — it judged the whole response. On a
# padded batch "last" means the last position where the mask is 1, not the last column.
#
# **KL estimators.** Per token, $k_1 = \log\rho_t$ with $\rho_t = \pi_\theta/\pi_{\mathrm{ref}}$ is unbiased but
# can be negative for a single token. Schulman's $k_3 = (r - 1) - \log r$ with $r = 1/\rho_t$ is also unbiased
# and never negative — handy for monitoring. The trainer penalises with $k_1$ (its sum is the sequence
# log-ratio above) and logs both.

# %%
logp, ref = rollout.logprobs, rollout.ref_logprobs       # the policy IS the reference here
mask = rollout.response_mask
print("k1 per sequence with π = π_ref:", F.sequence_kl(logp, ref, mask))
drifted = logp + 0.3 * mask                               # pretend the policy now likes its tokens more
print("k1 per sequence after a drift:", F.sequence_kl(drifted, ref, mask))
print("k3 per sequence after a drift:", F.sequence_kl(drifted, ref, mask, "k3"))
print("rewards of row 0 with β = 0.1:",
      F.kl_penalized_rewards(rollout.scores, drifted, ref, mask, 0.1)[0, : int(mask[0].sum())])


# %% [markdown]
# ### Exercise 1 — per-token KL-penalised rewards (3 points)
#
# Implement `kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef)`:
#
# * `scores` (B,) — reward-model scores; `logprobs`, `ref_logprobs`, `mask` (B, T); `kl_coef` = $\beta$;
# * return (B, T): $-\beta(\log\pi_\theta - \log\pi_{\mathrm{ref}})$ on every real token, 0 on padding, plus
#   the score at each row's **last real token**.
#
# Padding positions of `logprobs` and `ref_logprobs` may hold any number — don't trust them.

# %% solution="kl_penalized_rewards"
def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    """-β·(log π − log π_ref) per real token, plus the score at each row's last real token. (B, T)."""
    ### BEGIN SOLUTION
    m = mask.to(logprobs.dtype)
    rewards = -kl_coef * (logprobs - ref_logprobs) * m
    positions = torch.arange(mask.shape[1])
    last = torch.where(mask.bool(), positions, -1).max(dim=1).values   # last index where mask == 1
    rewards[torch.arange(mask.shape[0]), last] += scores
    return rewards
    ### END SOLUTION


# %% tests="test_kl_penalized_rewards" points=3
from llmcourse.checks import ppo as checks
checks.check_kl_penalized_rewards(kl_penalized_rewards)
### BEGIN HIDDEN TESTS
checks.check_kl_penalized_rewards(kl_penalized_rewards, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. From the objective to PPO's clipped surrogate
#
# The policy-gradient theorem turns "maximise expected reward" into something we can differentiate:
#
# $$\nabla_\theta J = \mathbb{E}\Bigl[\sum_t \nabla_\theta\log\pi_\theta(a_t\mid s_t)\,\hat A_t\Bigr],$$
#
# where the **advantage** $\hat A_t$ says how much better action $a_t$ was than what the policy does on
# average in $s_t$ (section 4). Sampling is expensive, so PPO reuses each rollout for several epochs of
# minibatch updates. After the first step the samples come from the *old* policy $\pi_{\text{old}}$, and
# importance sampling corrects for it with the **ratio**
#
# $$\rho_t(\theta) = \frac{\pi_\theta(a_t\mid s_t)}{\pi_{\text{old}}(a_t\mid s_t)} = \exp\bigl(\log\pi_\theta(a_t\mid s_t) - \log\pi_{\text{old}}(a_t\mid s_t)\bigr),
# \qquad L^{\text{PG}} = \mathbb{E}\bigl[\rho_t\,\hat A_t\bigr]$$
#
# (its gradient at $\theta = \theta_{\text{old}}$ is the policy gradient). Far from $\theta_{\text{old}}$ the
# estimate is unreliable, and maximising it pushes $\rho$ without bound. PPO (Schulman et al. 2017) removes
# the incentive to move $\rho$ outside $[1-\epsilon, 1+\epsilon]$:
#
# $$L^{\text{CLIP}} = \mathbb{E}_t\Bigl[\min\bigl(\rho_t\hat A_t,\; \mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\,\hat A_t\bigr)\Bigr].$$
#
# | | $\rho_t < 1-\epsilon$ | inside | $\rho_t > 1+\epsilon$ |
# |---|---|---|---|
# | $\hat A_t > 0$ (make $a_t$ likelier) | $\rho\hat A$ (keep pushing up) | $\rho\hat A$ | $(1+\epsilon)\hat A$: flat, **no gradient** |
# | $\hat A_t < 0$ (make $a_t$ rarer) | $(1-\epsilon)\hat A$: flat, **no gradient** | $\rho\hat A$ | $\rho\hat A$ (undo a bad move) |
#
# The min makes it a *pessimistic* bound: gains are capped, losses never are. As a **loss** to minimise we
# negate it — $\max(-\rho\hat A, -\mathrm{clip}(\rho)\hat A)$ — and average over real tokens only.
# Compute $\rho$ from the *difference of log-probs*: $\exp(\log\pi)$ of a 12-token answer is already tiny,
# and a ratio of two underflowed probabilities is $0/0$.

# %% [markdown]
# ### Exercise 2 — the clipped policy loss (3 points)
#
# Implement `clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange)` → a scalar tensor:
# the masked mean over real tokens of $\max\bigl(-\hat A_t\rho_t,\; -\hat A_t\,\mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\bigr)$.

# %% solution="clipped_policy_loss"
def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    """PPO's clipped surrogate as a loss: masked mean of max(-A·ρ, -A·clip(ρ, 1-ε, 1+ε)). Scalar."""
    ### BEGIN SOLUTION
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    m = mask.to(logprobs.dtype)
    return (torch.maximum(unclipped, clipped) * m).sum() / m.sum()
    ### END SOLUTION


# %% tests="test_clipped_policy_loss" points=3
from llmcourse.checks import ppo as checks
checks.check_clipped_policy_loss(clipped_policy_loss)
### BEGIN HIDDEN TESTS
checks.check_clipped_policy_loss(clipped_policy_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Advantages with GAE
#
# How much better was $a_t$ than average? The **TD error** compares what happened with what the value
# function expected:
#
# $$\delta_t = r_t + \gamma\,V(s_{t+1}) - V(s_t).$$
#
# One $\delta_t$ has low variance but trusts $V$ completely (biased while $V$ is still learning); the full
# sum of future rewards minus $V(s_t)$ is unbiased but noisy. **Generalised advantage estimation**
# (Schulman et al. 2016) blends them with $\lambda \in [0, 1]$:
#
# $$\hat A_t = \sum_{l \ge 0} (\gamma\lambda)^l\,\delta_{t+l} = \delta_t + \gamma\lambda\,\hat A_{t+1},$$
#
# computed **backwards** from the end of each response, where the episode stops: after the last real token
# there is no next state, so $V(s_{T}) = 0$ and $\hat A_{T} = 0$ — in a padded batch that means multiplying
# by the mask of the *next* position, never bootstrapping from whatever the value model wrote on padding.
# $\lambda = 0$ gives $\delta_t$; $\gamma = \lambda = 1$ gives "reward-to-go minus value". The **returns**
# $\hat R_t = \hat A_t + V(s_t)$ are the targets of the value loss. RLHF usually takes $\gamma = 1$,
# $\lambda = 0.95$. The trainer then **whitens** the advantages (zero mean, unit variance over the batch's
# real tokens), which makes the step size independent of the reward's scale.

# %%
rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
values = torch.tensor([[0.5, 0.2, 0.9, 7.0]])        # 7.0 sits on padding
mask = torch.tensor([[1, 1, 1, 0]])
for lam in (0.0, 0.95, 1.0):
    adv, ret = F.gae_advantages(rewards, values, mask, gamma=1.0, lam=lam)
    print(f"λ = {lam}: advantages {adv[0].tolist()}  returns {ret[0].tolist()}")


# %% [markdown]
# ### Exercise 3 — GAE over masked sequences (3 points)
#
# Implement `gae_advantages(rewards, values, mask, gamma, lam)` → `(advantages, returns)`, both (B, T) and
# 0 on padding. Loop backwards over positions; treat $V$ after each row's last real token as 0.

# %% solution="gae_advantages"
def gae_advantages(rewards, values, mask, gamma, lam):
    """GAE(γ, λ) computed backwards over masked rows. Returns (advantages, returns), both (B, T)."""
    ### BEGIN SOLUTION
    m = mask.to(values.dtype)
    values, rewards = values * m, rewards * m
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_value, next_adv, next_mask = torch.zeros(B), torch.zeros(B), torch.zeros(B)
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_mask * next_value - values[:, t]
        next_adv = delta + gamma * lam * next_mask * next_adv
        advantages[:, t] = next_adv
        next_value, next_mask = values[:, t], m[:, t]
    advantages = advantages * m
    return advantages, (advantages + values) * m
    ### END SOLUTION


# %% tests="test_gae_advantages" points=3
from llmcourse.checks import ppo as checks
checks.check_gae_advantages(gae_advantages)
### BEGIN HIDDEN TESTS
checks.check_gae_advantages(gae_advantages, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. The adaptive KL controller
#
# $\beta$ trades reward against staying close to the SFT model, and the right value depends on the
# reward model's scale and on how far the policy has already drifted. Ziegler et al. (2019, "Fine-tuning
# language models from human preferences") pick a **target KL** instead and let $\beta$ follow it, a
# proportional controller updated after every batch of $n$ sequences:
#
# $$e = \mathrm{clip}\Bigl(\frac{\mathrm{KL}}{\mathrm{KL}_{\text{target}}} - 1,\; -0.2,\; 0.2\Bigr),\qquad
# \beta \leftarrow \beta\,\Bigl(1 + e\,\frac{n}{H}\Bigr).$$
#
# KL above target → $\beta$ grows (a stronger pull back to the reference); below → $\beta$ shrinks. The
# proportional error makes it independent of the KL's units; the clip stops one noisy batch from jerking
# $\beta$; the horizon $H$ sets how many sequences it takes to adapt.
#
# ### Exercise 4 — the adaptive KL update (2 points)
#
# Implement `adaptive_kl_update(kl_coef, current_kl, target, n_steps, horizon)` → the new $\beta$ (a float).

# %% solution="adaptive_kl_update"
def adaptive_kl_update(kl_coef, current_kl, target, n_steps, horizon):
    """β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·n/H)."""
    ### BEGIN SOLUTION
    error = min(max(current_kl / target - 1.0, -0.2), 0.2)
    return kl_coef * (1.0 + error * n_steps / horizon)
    ### END SOLUTION


# %% tests="test_adaptive_kl_update" points=2
from llmcourse.checks import ppo as checks
checks.check_adaptive_kl_update(adaptive_kl_update)
### BEGIN HIDDEN TESTS
checks.check_adaptive_kl_update(adaptive_kl_update, hidden=True)
### END HIDDEN TESTS

# %%
# your controller on a made-up KL history: the KL overshoots the target of 2 nats, then settles
kls = [0.5, 1.5, 3.0, 4.0, 3.5, 2.5, 2.0, 1.8, 2.1, 2.0]
beta, betas = 0.05, []
for kl in kls:
    beta = adaptive_kl_update(beta, kl, 2.0, 32, 320)
    betas.append(beta)
print(" ".join(f"{b:.4f}" for b in betas))

# %% [markdown]
# ## 6. PPO on the task world — with your four functions inside
#
# `train_ppo` runs the loop you now know piece by piece, every iteration:
#
# 1. **rollout** — sample a batch of prompts, generate, compute log-probs (policy, reference), values and scores;
# 2. **rewards** — your `kl_penalized_rewards` (with $\beta$ from your controller);
# 3. **advantages** — your `gae_advantages`, then whitened;
# 4. **update** — `num_ppo_epochs` passes over shuffled minibatches, each minimising your
#    `clipped_policy_loss` $+\; c_v \cdot$ the clipped value loss, gradients clipped, dropout off;
# 5. **controller** — your `adaptive_kl_update` moves $\beta$ toward the KL target.
#
# The settings (`lab.MAIN_CONFIG`, TRL's names) are printed below. Every two steps the trainer answers the
# held-out prompts twice — greedily, and by sampling as in training — and scores the answers: exact match
# and the reward model's score.

# %%
config = lab.MAIN_CONFIG
print({k: getattr(config, k) for k in ("learning_rate", "max_steps", "batch_size", "num_mini_batches", "num_ppo_epochs",
                                       "kl_coef", "adaptive_kl", "target_kl", "horizon", "cliprange", "vf_coef", "value_head")})
policy = models.load_model(sft_path)
history = train_ppo(policy, tokenizer, reward_model, prompts, config, eval_data=eval_data,
                    rewards_fn=kl_penalized_rewards, advantages_fn=gae_advantages,
                    policy_loss_fn=clipped_policy_loss, kl_update_fn=adaptive_kl_update)
first, last = history[0], history[-1]
for key, label in [("exact_match", "exact match, greedy"), ("exact_match_sampled", "exact match, sampled"),
                   ("eval_score", "reward-model score, greedy")]:
    print(f"held-out {label:28s} {first[key]:+.2f} (SFT) → {last[key]:+.2f} (PPO)")
print(f"mean per-sequence KL at the end: {last['kl']:.2f} nats (target {config.target_kl}); β = {last['kl_coef']:.3f}")
print("largest |ρ − 1| on the first minibatch of every update:", max(h["first_ratio_dev"] for h in history[1:]))

# %%
fig = plots.plot_history(history, ["score", "kl", "exact_match", "exact_match_sampled"],
                         title="PPO from the SFT model, clean reward model")
fig.axes[1].axhline(config.target_kl, ls="--", c="gray", label="KL target")
fig.axes[1].legend()
plt.show()

# %% [markdown]
# What to look for: the **score** of the sampled responses rises, and with it held-out **exact match** —
# the clean reward model dislikes the filler tic and the policy's typical mistakes, so the policy drops the
# one and makes fewer of the other. Sampled answers improve most: PPO sharpens the distribution the policy
# samples from. The **KL** to the SFT model grows from exactly 0 (policy = reference at step 1) and stays
# under the target while the controller adjusts $\beta$. (The training score is noisy: every batch is a new
# random set of prompts, and some tasks score higher than others.)
#
# ## 7. The reward-hacking lab
#
# Now the **length-biased** reward model: its chosen answers always carried filler, so it learned "more
# `!` is better". The SFT policy already has the tic — the bias is *reachable*. Same trainer, same settings,
# two values of $\beta$. Why such a large $\beta$ for the second run? Filler is worth about 2 (calibrated
# units) to this reward model, and the KL-regularised optimum $\pi^* \propto \pi_{\mathrm{ref}}\,e^{r/\beta}$
# multiplies the odds of filler by $e^{2/\beta}$: ×7 at $\beta = 1$, ×1.2 at $\beta = 10$.

# %%
lab_runs, lab_policies = {}, {}
for name, cfg in lab.HACKING_CONFIGS.items():
    lab_policies[name] = models.load_model(sft_path)
    lab_runs[name] = train_ppo(lab_policies[name], tokenizer, biased_reward_model, prompts, cfg, eval_data=eval_data)
    h0, h1 = lab_runs[name][0], lab_runs[name][-1]
    print(f"{name:22s} score {h0['eval_score_sampled']:+.2f} → {h1['eval_score_sampled']:+.2f}   exact match (sampled) "
          f"{h0['exact_match_sampled']:.2f} → {h1['exact_match_sampled']:.2f}   KL {h1['kl']:.2f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
panels = [("score", "biased reward-model score (training batch)"), ("kl", "KL to the SFT model (nats / sequence)"),
          ("exact_match_sampled", "held-out exact match (sampled)")]
for name, h in lab_runs.items():
    for ax, (key, title) in zip(axes, panels):
        ax.plot(*zip(*[(e["step"], e[key]) for e in h if key in e]), marker=".", label=name)
        ax.set_title(title)
        ax.set_xlabel("PPO step")
        ax.grid(alpha=0.3)
axes[0].legend()
plt.show()

# %% [markdown]
# With $\beta = 0$ nothing ties the policy to its starting point: the score climbs, the KL keeps growing,
# and exact match **collapses** — answers now end in a string of `!`, which the biased reward model pays
# for and the task does not. The reward went up; the behaviour we wanted went down. That is **reward
# hacking** (Goodhart's law): the policy optimises the reward *model*, not the intent behind it. With
# $\beta > 0$ every `!` the SFT model would not have written costs $\beta\log\frac{\pi_\theta}{\pi_{\mathrm{ref}}}$
# right at that token; the KL stays small and the policy's answers stay close to the SFT model's.
#
# A caution about **greedy** decoding: the SFT model ends an answer with `!` almost half the time, so for
# many prompts "stop" and "add filler" are nearly tied, and the slightest shift flips the greedy choice for
# all of them at once. That is why the lab compares *sampled* answers, which move smoothly with the
# policy; the greedy numbers are in the history (`exact_match`) for you to look at.

# %%
held = eval_data[:6]
answers = {"SFT": models.generate(models.load_model(sft_path), tokenizer, [r["prompt"] for r in held],
                                  max_new_tokens=10, do_sample=True, seed=0)}
for name, pol in lab_policies.items():
    answers[name] = models.generate(pol, tokenizer, [r["prompt"] for r in held], max_new_tokens=10, do_sample=True, seed=0)
for i, r in enumerate(held):
    print(f"answer {r['answer']!r:14}", " | ".join(f"{n.split(' (')[0]}: {answers[n][i]!r}" for n in answers))

# %% [markdown] readonly="q_kl_term"
# **Question (4 points, graded by hand).** Why does RLHF need the KL term? Using what you saw in the
# reward-hacking lab, explain (a) what goes wrong when $\beta = 0$ and why a better optimiser would make it
# worse, not better; (b) why the penalty is written per token and what the sum of the per-token terms
# equals; (c) what happens when $\beta$ is too large, and how the adaptive controller chooses it.

# %% [markdown] manual="kl_term" points=4
# ### BEGIN SOLUTION
# **Model answer.** (a) The reward model is only an approximation of what people want, trained on a narrow
# set of comparisons. PPO maximises *its* number on the policy's own samples, so it finds inputs where the
# RM is wrong — here the filler that the biased RM learned to like. Without a penalty the policy drifts
# arbitrarily far from the SFT model into that region: the score rises while the real quality (exact match)
# falls and the KL to the SFT model explodes. A stronger optimiser just exploits the RM's errors faster
# (Goodhart's law); the KL term makes leaving the SFT distribution cost reward, so only changes that the RM
# rewards *more* than they cost survive. It also keeps the text fluent (SFT probabilities stay relevant) and
# stabilises training. (b) $\log\pi(y\mid x) = \sum_t\log\pi(a_t\mid s_t)$, so the sequence log-ratio is the
# sum of per-token log-ratios and the sequence KL is its expectation; the per-token penalty
# $-\beta\log\frac{\pi_\theta(a_t\mid s_t)}{\pi_{\mathrm{ref}}(a_t\mid s_t)}$ sums to
# $-\beta\log\frac{\pi_\theta(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)}$ — the objective's term — while giving each
# token its own credit (dense rewards for GAE). (c) Too large a $\beta$ pins the policy to the SFT model:
# KL ≈ 0, no improvement (the optimum is $\pi^*\propto\pi_{\mathrm{ref}}e^{r/\beta}$, which tends to
# $\pi_{\mathrm{ref}}$). The adaptive controller sets a KL *budget* instead and moves $\beta$ multiplicatively
# by the clipped proportional error $\mathrm{clip}(\mathrm{KL}/\mathrm{target} - 1, \pm0.2)$ times $n/H$.
#
# **Rubric (4 points):** 1 pt — reward hacking: the RM is imperfect and is exploited (score up, true quality
# down, KL up), with the lab's evidence; 1 pt — the KL keeps the policy near the SFT distribution (where the
# RM is trustworthy), preserving fluency/capabilities and stability; 1 pt — per-token: the sum of per-token
# log-ratios is the sequence log-ratio / its expectation the KL, and per-token gives credit assignment;
# 1 pt — too-large β prevents learning, and the adaptive controller (target KL, proportional clipped
# update) balances the two.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * The LLM is the policy; a response is an episode; the reward model scores it once, at the end.
# * The KL penalty goes on **every token** — the per-token log-ratios sum to the sequence log-ratio — and
#   the score on the **last real token**.
# * PPO reuses rollouts safely with the clipped ratio $\exp(\log\pi_\theta - \log\pi_{\text{old}})$; the
#   first minibatch of every rollout has $\rho = 1$ exactly.
# * GAE runs backwards and stops at each response's end; advantages are whitened.
# * The adaptive controller keeps the KL near a target.
# * Without the KL term the policy hacks the reward model: score up, quality down.
