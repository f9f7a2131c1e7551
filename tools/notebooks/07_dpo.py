# %% [markdown]
# # 07 · Direct preference optimisation (DPO): RLHF without the reward model and without sampling
#
# **Where we are.** Notebook 02 trained a reward model on comparisons; notebook 03 let the SFT policy
# generate, scored its answers with that reward model and pushed it with PPO, on a KL leash to the SFT
# model. That is four models in memory (policy, reference, reward, value), sampling inside the training
# loop, and a reward model whose every flaw the policy will find.
#
# **DPO** (Rafailov et al., 2023) gets the same optimum from the same comparisons with one supervised-looking
# loss on the policy itself: no reward model, no sampling, no value function. Every library ships it (TRL's
# `DPOTrainer`), and it is how most open chat models are aligned today. In this notebook you will
#
# 1. derive DPO from the KL-regularised RLHF objective (its closed-form optimal policy, then the loss);
# 2. compute $\log\pi(y\mid x)$ of a response from a model's logits — masked, summed (exercise 1);
# 3. write the DPO loss so it cannot overflow (exercise 2);
# 4. read what the policy learned: implicit rewards and their accuracy (exercise 3);
# 5. build the frozen reference model, and see what it is for (exercise 4);
# 6. train the SFT model with DPO **with your functions inside the real trainer**;
# 7. run the **likelihood-displacement** lab: the chosen answer's probability can *fall* while the margin grows;
# 8. sweep $\beta$, and write one variant, IPO (exercise 5).
#
# Graded: five autograded exercises (3 + 3 + 2 + 2 + 2 points, visible and hidden tests) and one written
# answer (3 points, graded by hand). Everything runs offline on 2 CPU cores in about a minute.

# %% readonly="setup"
import copy
import dataclasses

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from llmcourse import dpo, models, reward
from llmcourse.dpo import lab

torch.manual_seed(0)  # the only global seed; everything below takes explicit seeds
torch.set_num_threads(1)  # tiny models: one thread is nearly as fast as two, and never stalls on a busy machine

# %% [markdown]
# ## 1. From the RLHF objective to the DPO loss
#
# RLHF (notebook 03) maximises the reward while a KL penalty keeps the policy near the reference
# $\pi_{\mathrm{ref}}$ (the SFT model):
#
# $$\max_{\pi}\ \mathbb{E}_{x\sim D,\;y\sim\pi(\cdot\mid x)}\bigl[r(x,y)\bigr] - \beta\,\mathrm{KL}\bigl(\pi(\cdot\mid x)\,\Vert\,\pi_{\mathrm{ref}}(\cdot\mid x)\bigr).$$
#
# **Step 1 — the optimum has a closed form.** For one prompt $x$, write the objective as a sum over responses
# and pull out $-\beta$:
#
# $$\sum_y \pi(y\mid x)\Bigl[r(x,y) - \beta\log\frac{\pi(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)}\Bigr]
#   = -\beta\sum_y \pi(y\mid x)\log\frac{\pi(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)\,e^{r(x,y)/\beta}}.$$
#
# Define $Z(x) = \sum_y \pi_{\mathrm{ref}}(y\mid x)\,e^{r(x,y)/\beta}$ and the distribution
# $\pi^*(y\mid x) = \frac{1}{Z(x)}\pi_{\mathrm{ref}}(y\mid x)\,e^{r(x,y)/\beta}$. The objective becomes
# $-\beta\,\mathrm{KL}(\pi\,\Vert\,\pi^*) + \beta\log Z(x)$; $Z(x)$ does not depend on $\pi$, and a KL is
# $\ge 0$ with equality only when the two distributions are equal. So the maximiser is $\pi^*$: the reference,
# re-weighted by $e^{r/\beta}$. (Small $\beta$: follow the reward; large $\beta$: stay at the reference.)
#
# **Step 2 — invert it.** Take logs and solve for the reward:
#
# $$r(x,y) = \beta\log\frac{\pi^*(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)} + \beta\log Z(x).$$
#
# Every reward function corresponds to an optimal policy and vice versa — up to $\beta\log Z(x)$, a term that
# depends on the prompt only.
#
# **Step 3 — put it into Bradley–Terry.** Notebook 02's preference model is
# $P(y_w \succ y_l\mid x) = \sigma(r(x,y_w) - r(x,y_l))$. In the difference, $\beta\log Z(x)$ cancels, so the
# probability of the labels can be written with the *policy* in place of the reward. Fitting it by maximum
# likelihood with $\pi_\theta$ in place of $\pi^*$ gives the **DPO loss**:
#
# $$\mathcal{L}_{\mathrm{DPO}}(\theta) = -\mathbb{E}_{(x,y_w,y_l)}\Bigl[\log\sigma\Bigl(\beta\Bigl[
#   \underbrace{\log\tfrac{\pi_\theta(y_w\mid x)}{\pi_{\mathrm{ref}}(y_w\mid x)}}_{\text{chosen log-ratio}}
#   - \underbrace{\log\tfrac{\pi_\theta(y_l\mid x)}{\pi_{\mathrm{ref}}(y_l\mid x)}}_{\text{rejected log-ratio}}\Bigr]\Bigr)\Bigr].$$
#
# The policy *is* the reward model: its **implicit reward** is $\hat r(x,y) = \beta\log\frac{\pi_\theta(y\mid x)}{\pi_{\mathrm{ref}}(y\mid x)}$.
# Write $\Delta = (\log\pi_\theta^w - \log\pi_{\mathrm{ref}}^w) - (\log\pi_\theta^l - \log\pi_{\mathrm{ref}}^l)$.
# The gradient is
#
# $$\nabla_\theta\mathcal{L} = -\beta\,\mathbb{E}\Bigl[\sigma(-\beta\Delta)\bigl(\nabla_\theta\log\pi_\theta(y_w\mid x) - \nabla_\theta\log\pi_\theta(y_l\mid x)\bigr)\Bigr]:$$
#
# raise the chosen response, lower the rejected one, weighted by how wrong the implicit reward ranks the pair
# ($\sigma(-\beta\Delta)$ is near 1 when it ranks them the wrong way round, near 0 when it is already right).
#
# What it needs: the policy, a frozen copy of the SFT model, and a fixed file of comparisons. What it lost:
# the policy never samples during training, so it only learns about answers someone put in the data (we will
# put the SFT model's *own* mistakes there).

# %% [markdown]
# ## 2. The data: the SFT model's own mistakes, labelled by a checker
#
# We start from an SFT model (notebook 01's trainer, built once and cached): it follows the template and gets
# `count` and `max` right, but it often slips a digit when it reverses or sorts. A perfect labeller — the
# task world's exact-match checker — reads its answers to *training* prompts and prefers the correct answer
# to every wrong one. That is the InstructGPT recipe with the labeller automated, and it puts exactly the
# model's typical mistakes into the rejected side.

# %%
tok = models.load_tokenizer(lab.sft_model_path())
sft = lab.load_sft_model()
train_problems, held_out = lab.split()
print("SFT held-out exact match:", {k: round(v, 2) for k, v in lab.exact_match_by_task(sft, tok, held_out).items() if k != "n"})

problems = lab.dpo_problems(400, seed=0)  # fresh training problems (never a held-out one)
pairs = lab.task_dpo_pairs(sft, tok, problems, seed=0, recipe={**lab.PAIRS_RECIPE, "n_samples": 0, "n_task": 300})
print(len(pairs), "pairs, e.g.")
for p in pairs[:3]:
    print(repr(p["prompt"]), "| chosen:", repr(p["chosen"]), "| rejected:", repr(p["rejected"]))

# %% [markdown]
# `dpo.DPODataset` renders and tokenises a pair into two sequences that share the prompt, with labels
# `-100` on the BOS and the prompt — exactly SFT's convention — so that only response tokens (and the EOS)
# will count. Any preference file the package reads works the same way, in any template, including the
# tokenizer's chat template (`template="chat"`).

# %%
ds = dpo.DPODataset(pairs[:2], tok)
item = ds[0]
print("chosen ids:  ", item["chosen"]["input_ids"])
print("chosen labels:", item["chosen"]["labels"])
batch = dpo.DPOCollator(tok.pad_token_id)([ds[0], ds[1]])
print({k: tuple(v.shape) for k, v in batch.items()}, "— rows 0..B-1 chosen, B..2B-1 rejected")

# %% [markdown]
# ## 3. Exercise 1 — the log-probability of a response (3 points)
#
# $\log\pi(y\mid x)$ of a whole response is the **sum** of its tokens' log-probabilities (chain rule):
#
# $$\log\pi(y\mid x) = \sum_{t} m_t\,\log\operatorname{softmax}(z_t)[y_{t+1}],\qquad m_t = [\,\text{labels}_{t+1} \ne -100\,].$$
#
# Three details decide whether this is right:
# * **the shift** — the logits at position $t$ predict the token at $t+1$: pair `logits[:, :-1]` with `labels[:, 1:]`;
# * **the mask** — prompt and padding positions carry label `-100` and must contribute nothing (gather
#   needs a valid index there: replace `-100` by any id, then zero those terms);
# * **the reduction** — a sum per row, shape `(B,)`; with `average=True`, divide each row by its own number of
#   response tokens (length-normalised log-probs, used by IPO and TRL's `sigmoid_norm`).
#
# Use `torch.log_softmax` (never `torch.log(torch.softmax(...))`, which gives $-\infty$ once a probability
# rounds to 0). Inputs: `logits` (B, T, V), `labels` (B, T); output (B,).

# %% solution="sequence_logprobs"
def sequence_logprobs(logits, labels, average=False):
    """Summed (or, with average=True, mean) log-prob of the response tokens of each row. Shapes: (B, T, V), (B, T) -> (B,)."""
    ### BEGIN SOLUTION
    targets = labels[:, 1:]
    mask = targets != -100
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    logp = logp.gather(-1, targets.masked_fill(~mask, 0).unsqueeze(-1)).squeeze(-1)
    total = (logp * mask).sum(-1)
    return total / mask.sum(-1) if average else total
    ### END SOLUTION


# %% tests="test_sequence_logprobs" points=3
from llmcourse.checks import dpo as checks

checks.check_sequence_logprobs(sequence_logprobs)
### BEGIN HIDDEN TESTS
checks.check_sequence_logprobs(sequence_logprobs, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# On the real model: the SFT model's log-probs of the chosen and the rejected answers of a few pairs. It
# already prefers most correct answers — but not all, which is what DPO will work on.

# %%
with torch.no_grad():
    logits = sft(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
lp = sequence_logprobs(logits, batch["labels"])
print("log π_SFT(chosen):", lp[:2].tolist(), " log π_SFT(rejected):", lp[2:].tolist())

# %% [markdown]
# **On a real chat model.** The same function on SmolLM2-135M-Instruct (Hugging Face, Apache-2.0; pairs rendered
# with its ChatML template, `template="chat"`): a pretrained instruct model already gives the correct answer a
# higher log-prob than a plausible wrong one — DPO's starting margin $\log\pi(y_w) - \log\pi(y_l)$ is positive,
# but small where the two answers differ in one common word. The model is not part of the course download: the
# cell skips unless it is already in the model cache (`models.load_model("smollm2-135m-instruct")` builds it once),
# and while nbgrader grades the notebook (these cells grade nothing).

# %%
from llmcourse import pretrained

real_dir = pretrained.notebook_path("smollm2-135m-instruct")  # None (saying why) if not cached, or while grading
if real_dir is not None:
    real_tok, real = models.load_tokenizer(real_dir), models.load_model(real_dir)
    real_pairs = [
        {"prompt": "What is the capital of France?", "chosen": "The capital of France is Paris.",
         "rejected": "The capital of France is Berlin."},
        {"prompt": "What is 2 + 2?", "chosen": "2 + 2 = 4.", "rejected": "2 + 2 = 5."},
        {"prompt": "Name a primary colour.", "chosen": "Red is a primary colour.", "rejected": "Green is a primary colour."},
        {"prompt": "How many legs does a spider have?", "chosen": "A spider has eight legs.",
         "rejected": "A spider has six legs."},
    ]
    real_ds = dpo.DPODataset(real_pairs, real_tok, template="chat")
    real_batch = dpo.DPOCollator(real_tok.pad_token_id)([real_ds[i] for i in range(len(real_ds))])
    with torch.no_grad():
        real_logits = real(input_ids=real_batch["input_ids"], attention_mask=real_batch["attention_mask"]).logits
    real_lp = sequence_logprobs(real_logits, real_batch["labels"])
    n_real = len(real_pairs)
    for pair, w, l in zip(real_pairs, real_lp[:n_real].tolist(), real_lp[n_real:].tolist()):
        print(f"{pair['prompt']:<34} log π(chosen) {w:6.2f}   log π(rejected) {l:6.2f}   margin {w - l:+.2f}")
    del real, real_logits  # 0.5 GB of weights: not needed below

# %% [markdown]
# ## 4. Exercise 2 — the DPO loss (3 points)
#
# $$\ell_i = -\log\sigma\bigl(\beta\,\Delta_i\bigr),\qquad
# \Delta_i = (\log\pi_\theta(y_{w,i}) - \log\pi_{\mathrm{ref}}(y_{w,i})) - (\log\pi_\theta(y_{l,i}) - \log\pi_{\mathrm{ref}}(y_{l,i})),
# \qquad \mathcal{L} = \frac1B\sum_i \ell_i.$$
#
# $\beta$ multiplies the gap *inside* the sigmoid. As in notebook 02, $-\log\sigma(x)$ must not be computed as
# `-torch.log(torch.sigmoid(x))`: at $x = -200$ the sigmoid is exactly 0 in float32, the loss is `inf` and
# the gradient `nan`. `F.logsigmoid` (or `F.softplus(-x)`) is stable. Return a scalar tensor that carries
# gradients to the policy's log-probs; the grader checks the gradients too.

# %% solution="dpo_loss"
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    """−log σ(β[(log π_w − log π_ref,w) − (log π_l − log π_ref,l)]), averaged over pairs. Shapes: 4 × (B,) -> scalar."""
    ### BEGIN SOLUTION
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * delta).mean()
    ### END SOLUTION


# %% tests="test_dpo_loss" points=3
from llmcourse.checks import dpo as checks

checks.check_dpo_loss(dpo_loss)
### BEGIN HIDDEN TESTS
checks.check_dpo_loss(dpo_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Exercise 3 — what the policy learned: implicit rewards and their accuracy (2 points)
#
# DPO's policy carries a reward model inside it: $\hat r(x,y) = \beta\,(\log\pi_\theta(y\mid x) - \log\pi_{\mathrm{ref}}(y\mid x))$.
# Trainers log it for the chosen and the rejected responses, their **accuracy** (the share of pairs with
# $\hat r_w > \hat r_l$ — a tie counts as wrong, so at the start, when $\pi_\theta = \pi_{\mathrm{ref}}$ and
# every reward is 0, the accuracy is 0) and their **margin** (the mean of $\hat r_w - \hat r_l$). A metric must
# not carry gradients: detach the reward.

# %% solution="implicit_rewards"
def implicit_rewards(policy_logps, ref_logps, beta=0.1):
    """β · (log π_θ − log π_ref), detached. Shapes: (B,), (B,) -> (B,)."""
    ### BEGIN SOLUTION
    return (beta * (policy_logps - ref_logps)).detach()
    ### END SOLUTION


def reward_accuracy(chosen_rewards, rejected_rewards):
    """Share of pairs with r̂_w > r̂_l (ties count as wrong). Shapes: (B,), (B,) -> scalar."""
    ### BEGIN SOLUTION
    return (chosen_rewards > rejected_rewards).float().mean()
    ### END SOLUTION


# %% tests="test_implicit_rewards" points=2
from llmcourse.checks import dpo as checks

checks.check_implicit_rewards(implicit_rewards)
checks.check_reward_accuracy(reward_accuracy)
### BEGIN HIDDEN TESTS
checks.check_implicit_rewards(implicit_rewards, hidden=True)
checks.check_reward_accuracy(reward_accuracy, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Exercise 4 — the reference model, and what it is for (2 points)
#
# $\pi_{\mathrm{ref}}$ appears in every term of the loss. It is the SFT model **as it was when DPO started**,
# and it must stay there:
#
# * it is the anchor of the KL leash: $\beta\,\mathrm{KL}(\pi_\theta\Vert\pi_{\mathrm{ref}})$ in the objective we
#   derived, which stops the policy from drifting into text the data never covered;
# * it turns absolute log-probs into **log-ratios**: a response does not have to be likely, only *more likely
#   than it used to be*. Without it, DPO would push the rejected answer's probability towards 0 and the chosen
#   one towards 1 at any cost;
# * if the "reference" moved with the policy, $\Delta$ would be 0 at every step: the loss would sit at $\log 2$,
#   the weight $\sigma(-\beta\Delta)$ would never tell a solved pair from an unsolved one, and nothing would hold
#   the policy near where it started.
#
# Write `make_reference(model)`: a separate copy of the model (its own parameter tensors, the same
# weights), with no parameter requiring gradients, in eval mode (so dropout, in models that have it, never
# makes $\pi_{\mathrm{ref}}$ random). The grader takes one optimizer step on the policy and checks your
# reference did not move.

# %% solution="make_reference"
def make_reference(model):
    """A frozen copy of `model`: deep-copied, requires_grad False everywhere, eval mode."""
    ### BEGIN SOLUTION
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref.eval()
    ### END SOLUTION


# %% tests="test_make_reference" points=2
from llmcourse.checks import dpo as checks

checks.check_make_reference(make_reference)

# %% [markdown]
# ## 7. Your functions in the real trainer
#
# `dpo.train_dpo` is an ordinary Accelerate loop (read it in `llmcourse/dpo/trainer.py`): one forward pass
# of the policy over the $2B$ sequences of a batch, `logps_fn` for $\log\pi_\theta$ and $\log\pi_{\mathrm{ref}}$,
# `loss_fn`, backward, clip, AdamW; `rewards_fn` for the logged metrics. We pass **your** four functions and
# train the SFT model for 40 steps of 16 pairs on the pairs above, then measure held-out exact match. Compare
# it with the SFT model's, printed in section 2 — and keep the number in mind for section 8.

# %%
config = dpo.DPOConfig(beta=0.1, learning_rate=1e-3, per_device_train_batch_size=16, max_steps=40, warmup_steps=5,
                       logging_steps=2, seed=0)
policy = copy.deepcopy(sft)
history = dpo.train_dpo(policy, tok, pairs, config, ref_model=make_reference(sft), loss_fn=dpo_loss,
                        logps_fn=sequence_logprobs, rewards_fn=implicit_rewards, progress=False)
last = history[-1]
print(f"step {last['step']}: loss {last['loss']:.3f}, reward accuracy {last['reward_accuracy']:.2f}, "
      f"margin {last['reward_margin']:.2f}")
after = lab.exact_match_by_task(policy, tok, held_out)
print("held-out exact match after DPO:", {k: round(v, 2) for k, v in after.items() if k != "n"})

# %% [markdown]
# **A few DPO steps on a real chat model.** Your four functions in the same trainer, now on SmolLM2-135M-Instruct
# and three real preference pairs that ask for **brevity**: the chosen answer is the bare fact (`"Paris."`), the
# rejected one a full sentence saying the same (`"The capital of France is Paris."`). Neither is wrong: this is
# a preference about style, the kind of thing DPO is used for. Three steps of 3 pairs at learning rate 5e-5 (a
# pretrained model takes rates about 100× lower than the tiny one's 1e-3). In the log, step 1's margin is 0 (the
# policy *is* the reference before its first update); then $\log\pi$(chosen) rises and $\log\pi$(rejected) falls,
# each by several nats. Then the greedy answers to two questions it was not trained on, before and after.
# It skips when the cell above did.

# %%
if real_dir is not None:  # from the cell above
    from llmcourse import templates

    real = models.load_model(real_dir)

    def brevity(question, short, sentence):
        return {"prompt": [{"role": "user", "content": question}], "chosen": [{"role": "assistant", "content": short}],
                "rejected": [{"role": "assistant", "content": sentence}]}

    style_pairs = [brevity("What is the capital of France?", "Paris.", "The capital of France is Paris."),
                   brevity("How many legs does a spider have?", "Eight.", "A spider has eight legs."),
                   brevity("What colour is grass?", "Green.", "Grass is green.")]
    questions = ["How many days are in a week?", "What colour is the sky on a clear day?"]
    chat_prompts = [templates.single_turn("chat", q, tokenizer=real_tok)[0] for q in questions]
    before = models.generate(real, real_tok, chat_prompts, max_new_tokens=16)
    real_cfg = dpo.DPOConfig(beta=0.1, learning_rate=5e-5, per_device_train_batch_size=3, max_steps=3, template="chat",
                             precompute_ref_log_probs=True, logging_steps=1, seed=0)
    real_history = dpo.train_dpo(real, real_tok, style_pairs, real_cfg, loss_fn=dpo_loss, logps_fn=sequence_logprobs,
                                 rewards_fn=implicit_rewards, progress=False)
    for h in real_history:
        print(f"step {h['step']}: loss {h['loss']:.3f}  margin {h['reward_margin']:+.2f}  "
              f"log π(chosen) {h['logps_chosen']:7.2f}  log π(rejected) {h['logps_rejected']:7.2f}")
    after_dpo = models.generate(real, real_tok, chat_prompts, max_new_tokens=16)
    for q, b, a in zip(questions, before, after_dpo):
        print(f"\n{q}\n  before: {b!r}\n  after:  {a!r}")
    del real  # 0.5 GB: not needed below

# %% [markdown]
# Both answers changed, on questions DPO never saw (here the first became the short answer the pairs prefer; the
# second changed too, but not toward brevity). What the pairs share — a short answer — is the direction of the
# gradient, but each step moves the model's answers to every prompt, and nothing in three pairs holds the rest in
# place: the log-probs moved by several nats per step. A real DPO run uses thousands of pairs and a gentler
# rate, and checks held-out quality as it goes (section 8 shows what else can fall).

# %% [markdown]
# ## 8. Lab — likelihood displacement
#
# The loss only cares about the **gap** $\Delta$. Nothing in it says the chosen answer must become *more*
# likely in absolute terms: $\Delta$ grows just as well when both log-probs fall, the rejected one faster.
# And when chosen and rejected answers are near neighbours — here they share most of their tokens, since the
# rejected one is the same list with one digit wrong — pushing the rejected answer down also pulls down the
# chosen one, through the shared parameters. This is **likelihood displacement** (Razin et al., 2024; Pal et
# al., 2024 "Smaug"): the chosen answer's log-prob falls while the margin grows, and its probability mass goes
# to answers *nobody* preferred. The training history logs both:

# %%
fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
steps = [h["step"] for h in history if "loss" in h]
ax[0].plot(steps, [h["logps_chosen"] for h in history if "loss" in h], marker=".", label="log π_θ(chosen)")
ax[0].plot(steps, [h["logps_rejected"] for h in history if "loss" in h], marker=".", label="log π_θ(rejected)")
ax[0].set_xlabel("step"); ax[0].set_ylabel("mean log-prob (batch)"); ax[0].legend(); ax[0].set_title("what the policy assigns")
ax[1].plot(steps, [h["reward_margin"] for h in history if "loss" in h], marker=".", color="C2", label="margin r̂_w − r̂_l")
ax[1].plot(steps, [h["rewards_chosen"] for h in history if "loss" in h], marker=".", color="C0", label="r̂_w (chosen)")
ax[1].set_xlabel("step"); ax[1].legend(); ax[1].set_title("implicit rewards")
plt.tight_layout()
plt.show()

# %% [markdown]
# The margin grows steadily; the chosen implicit reward $\hat r_w = \beta(\log\pi_\theta^w - \log\pi_{\mathrm{ref}}^w)$
# is **negative** — the policy now finds its correct answers *less* likely than the SFT model did — and greedy
# exact match can drop below the SFT model's even though the preference accuracy went up.
#
# The usual fix (RPO, Pang et al., 2024; TRL: `loss_type=["sigmoid", "sft"]`) adds the SFT loss on the chosen
# answers, $\alpha\cdot\bigl(-\frac{1}{|y_w|}\log\pi_\theta(y_w\mid x)\bigr)$, which anchors their likelihood while
# DPO separates the pair. `DPOConfig(rpo_alpha=1.0)`:

# %%
rpo_policy = copy.deepcopy(sft)
rpo_history = dpo.train_dpo(rpo_policy, tok, pairs, dataclasses.replace(config, rpo_alpha=1.0), ref_model=make_reference(sft),
                            loss_fn=dpo_loss, logps_fn=sequence_logprobs, rewards_fn=implicit_rewards, progress=False)
for name, h, m in (("DPO", history, policy), ("DPO + SFT term (RPO)", rpo_history, rpo_policy)):
    rows = [r for r in h if "loss" in r]
    em = lab.exact_match_by_task(m, tok, held_out)["all"]
    print(f"{name:22s} log π(chosen) {rows[0]['logps_chosen']:6.2f} → {rows[-1]['logps_chosen']:6.2f}, "
          f"margin {rows[-1]['reward_margin']:.2f}, held-out exact match {em:.3f}")

# %% [markdown]
# With the SFT term the chosen answers stay likely and exact match stays where the SFT model had it; 40 steps
# on 400 problems' mistakes are too few to do more. The full recipe (`llmcourse.dpo.lab`, run by
# `bench/bench_dpo.py`: 400 steps on the SFT model's mistakes on 6,000 fresh problems) lifts held-out exact
# match from 0.770 to 0.872 ± 0.018 over three seeds — reverse from 0.32 to 0.64 — in about 40 CPU-seconds.
# An honest control: the SFT term *alone*, on the same chosen answers, reaches 0.897 ± 0.015. On this task world
# the lift comes from training on the correct answers to the model's own mistakes (what "rejection-sampling
# fine-tuning" does), and DPO's contrast with the wrong answers adds nothing on top — when one right answer is
# known, imitating it is a stronger signal than pushing one wrong answer down. DPO earns its place where there is
# no single right answer to imitate, only a judgement that one response is better than another.
#
# ## 9. The β sweep
#
# $\beta$ is the price of moving away from the reference. Small $\beta$: the loss saturates only when the
# log-ratio gap is huge ($\beta\Delta$ must be large), so the policy travels far; large $\beta$: a small gap
# already satisfies the loss, and the policy stays near $\pi_{\mathrm{ref}}$. After 20 steps at each $\beta$ we
# measure, on held-out pairs, the preference accuracy reached and how far the policy moved: the change of the
# mean log-prob of chosen and of rejected answers (reference log-probs precomputed once:
# `precompute_ref_log_probs=True`).

# %%
eval_pairs = reward.task_pairs(64, seed=99, template=lab.TEMPLATE)
sweep_cfg = dataclasses.replace(config, max_steps=20, logging_steps=20, precompute_ref_log_probs=True)
start = dpo.evaluate_dpo(sft, tok, eval_pairs, sft, config=sweep_cfg)
for beta in (0.02, 0.1, 0.5):
    m = copy.deepcopy(sft)
    dpo.train_dpo(m, tok, pairs, dataclasses.replace(sweep_cfg, beta=beta), progress=False)
    r = dpo.evaluate_dpo(m, tok, eval_pairs, sft, config=dataclasses.replace(sweep_cfg, beta=beta))
    print(f"β = {beta:<4}: held-out reward accuracy {r['reward_accuracy']:.2f}; mean log π vs SFT: "
          f"chosen {r['logps_chosen'] - start['logps_chosen']:+6.2f}, rejected {r['logps_rejected'] - start['logps_rejected']:+6.2f} nats")

# %% [markdown]
# ## 10. Exercise 5 — a variant: IPO (2 points)
#
# With deterministic preferences (the correct answer *always* wins) DPO's loss keeps falling as
# $\Delta\to\infty$: nothing stops the policy from driving the rejected answer's probability to 0 — the KL
# leash only holds if the preferences are noisy. **IPO** (Azar et al., 2023) regresses the gap onto a finite
# target instead:
#
# $$\ell_i = \Bigl(\Delta_i - \frac{1}{2\beta}\Bigr)^2,\qquad \mathcal{L} = \frac1B\sum_i \ell_i,$$
#
# computed on **per-token mean** log-probs (`sequence_logprobs(..., average=True)`; the trainer does this when
# `loss_type="ipo"`). Same signature as `dpo_loss`.

# %% solution="ipo_loss"
def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    """(Δ − 1/(2β))², averaged over pairs. Shapes: 4 × (B,) -> scalar."""
    ### BEGIN SOLUTION
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return ((delta - 1 / (2 * beta)) ** 2).mean()
    ### END SOLUTION


# %% tests="test_ipo_loss" points=2
from llmcourse.checks import dpo as checks

checks.check_ipo_loss(ipo_loss)
### BEGIN HIDDEN TESTS
checks.check_ipo_loss(ipo_loss, hidden=True)
### END HIDDEN TESTS

# %%
ipo_cfg = dataclasses.replace(config, loss_type="ipo", beta=0.5, learning_rate=5e-4, max_steps=20, logging_steps=5,
                              precompute_ref_log_probs=True)
ipo_history = dpo.train_dpo(copy.deepcopy(sft), tok, pairs, ipo_cfg, loss_fn=ipo_loss, logps_fn=sequence_logprobs,
                            progress=False)
rows = [r for r in ipo_history if "loss" in r]
print(f"IPO, β = 0.5 (target gap 1/(2β) = 1 nat per token): loss {rows[0]['loss']:.3f} → {rows[-1]['loss']:.3f}; "
      f"mean per-token gap Δ = margin/β: {rows[0]['reward_margin'] / 0.5:.2f} → {rows[-1]['reward_margin'] / 0.5:.2f}")

# %% [markdown] readonly="q_reference"
# **Question (3 points, graded by hand).** (a) In the displacement lab, the reward accuracy went up while the
# chosen answers became *less* likely. Explain how the DPO loss allows this, and why it is more likely when the
# chosen and rejected answers share most of their tokens. (b) What would happen to training if the reference
# model were the policy itself (updated at every step)? And if there were no reference at all
# (i.e. $\log\pi_{\mathrm{ref}} \equiv 0$)? (c) Which way would you move $\beta$ to keep the policy closer to the
# SFT model, and why?

# %% [markdown] manual="reference" points=3
# ### BEGIN SOLUTION
# **Model answer.** (a) The loss depends only on $\Delta$, the *difference* of the two log-ratios. It falls
# whenever the rejected answer's log-prob drops faster than the chosen one's — both may drop. The gradient
# raises $\log\pi(y_w)$ and lowers $\log\pi(y_l)$, but the two responses share a prefix (and every parameter):
# on the shared tokens the two pushes cancel, and on the diverging token the push down on the rejected digit
# also moves the hidden states that produce the chosen one. The probability mass removed goes to other answers
# that nobody preferred, so greedy decoding can get worse while the pairwise accuracy improves.
#
# (b) A reference equal to the current policy makes both log-ratios 0 at every step: $\Delta \equiv 0$, the loss
# is the constant $\log 2$ and its gradient is $-\frac{\beta}{2}(\nabla\log\pi_w - \nabla\log\pi_l)$ at every
# step — a push that never shrinks once a pair is separated and never stops: no leash, no notion of "done". No reference at all
# ($\log\pi_{\mathrm{ref}} \equiv 0$) turns the loss into a contrast of absolute log-probs: nothing keeps the
# policy near the SFT model (the KL term of the objective is gone), and long or rare answers are penalised for
# being long or rare rather than for being worse.
#
# (c) Increase $\beta$: the loss saturates at a smaller log-ratio gap ($\sigma(\beta\Delta)$ is close to 1 for a
# smaller $\Delta$), and in the objective $\beta$ is the weight of $\mathrm{KL}(\pi_\theta\Vert\pi_{\mathrm{ref}})$;
# the optimum $\pi^* \propto \pi_{\mathrm{ref}}e^{r/\beta}$ approaches $\pi_{\mathrm{ref}}$ as $\beta$ grows.
#
# **Rubric (3 points).** 1 pt per part: (a) the loss sees only the gap + the shared-token/shared-parameter
# mechanism; (b) $\Delta \equiv 0$ (no anchor, nothing learned as intended) and the no-reference case loses the
# KL anchor / compares absolute likelihoods; (c) larger β, with either the saturation or the KL-weight argument.
# Half a point for the right direction without a reason.
# ### END SOLUTION
