# %% [markdown]
# # 02 · Reward models: learning what people prefer
#
# **Where we are.** Notebook 01 taught the base model to *follow* instructions (SFT). PPO, in notebook 03,
# will push it towards answers people *prefer*. PPO needs a number for every answer it samples — thousands
# of them — and no person can rate that many. The **reward model** (RM) is that person's stand-in: a
# network $r_\phi(x, y)$ that reads a prompt $x$ and a response $y$ and returns one scalar.
#
# In this notebook you will
# 1. see what preference data looks like and where it comes from (pairs, rankings);
# 2. derive the Bradley–Terry loss that turns comparisons into a training signal;
# 3. meet the numerical trap in the textbook formula, and write the loss so it cannot overflow;
# 4. turn rankings of $K$ answers into pairs the way InstructGPT did;
# 5. find *where* in a padded batch the score must be read;
# 6. train a real reward model with your four functions plugged in, and inspect what it prefers —
#    including a bias we plant on purpose, which PPO will exploit in notebook 03.
#
# Everything runs offline on a CPU in about a minute. Graded exercises: 4 × 2 points (autograded) and one
# written derivation (3 points, graded by hand).

# %% readonly="setup"
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from llmcourse import models, plots, reward, tasks

torch.manual_seed(0)  # the only global seed; everything below takes explicit seeds
torch.set_num_threads(min(2, torch.get_num_threads()))  # ≤ 2: tiny models gain nothing from more; honours OMP_NUM_THREADS

# %% [markdown]
# ## 1. Preference data
#
# People are bad at giving absolute scores ("is this answer a 6 or a 7?") and good at comparisons ("A is
# better than B"). So preference datasets store **comparisons**: a prompt, the response a labeller
# preferred (`chosen`) and the one they did not (`rejected`). The seed guide's example:
#
# ```json
# {"prompt": "What are the main benefits of Python?",
#  "chosen": "Python's main benefits include its simple, readable syntax ...",
#  "rejected": "Python is a programming language. It is used for coding."}
# ```
#
# Public examples: Anthropic HH-RLHF (`chosen`/`rejected` conversations), OpenAI's summarisation comparisons,
# UltraFeedback (ratings turned into pairs). Our task world has the same shape: the chosen answer is the
# correct one, the rejected one is *subtly* wrong — one digit changed, cut short, or rambling on. The prompt
# uses the same Alpaca template as SFT and PPO, so the reward model judges exactly the text the policy writes.

# %%
pairs = tasks.preference_pairs(3, seed=0, template=reward.alpaca_template)
for p in pairs:
    task_line = p["prompt"].split("### Instruction:\n")[1].split("\n\n### Response")[0]
    print(repr(task_line), "| chosen:", repr(p["chosen"]), "| rejected:", repr(p["rejected"]))

# %% [markdown]
# Files are read with `reward.load_preference_pairs` (JSON array or JSON Lines). A broken record is an
# error that names the file, the line and the field — never a silently empty dataset. A record whose
# `chosen` and `rejected` are identical is refused too: it carries no preference at all.

# %%
folder = Path(tempfile.mkdtemp())
good = folder / "prefs.jsonl"
good.write_text('{"prompt": "Add the two numbers.\\n3 4", "chosen": "7", "rejected": "8"}\n')
print(reward.load_preference_pairs(good))

bad = folder / "bad.jsonl"
bad.write_text('{"prompt": "Q", "chosen": "7", "rejected": "8"}\n{"prompt": "Q", "chosen": "7", "rejected": "7"}\n')
try:
    reward.load_preference_pairs(bad)
except ValueError as err:
    print("ValueError:", err)


# %% [markdown]
# ## 2. From comparisons to a loss: Bradley–Terry
#
# Give every response a latent quality score $s = r_\phi(x, y)$. The **Bradley–Terry model** (1952, first
# used for ranking chess players and sports teams) says a labeller prefers $y_c$ over $y_r$ with probability
#
# $$P(y_c \succ y_r \mid x) = \frac{e^{s_c}}{e^{s_c} + e^{s_r}}.$$
#
# Step by step to the loss:
#
# 1. Divide numerator and denominator by $e^{s_c}$:
#    $$P(y_c \succ y_r \mid x) = \frac{1}{1 + e^{-(s_c - s_r)}} = \sigma(s_c - s_r),$$
#    the logistic sigmoid of the score **difference**. Only differences matter: adding a constant to every
#    score changes nothing.
# 2. Each labelled pair is an independent observation "$y_c$ won". The likelihood of the dataset
#    $D = \{(x^{(i)}, y_c^{(i)}, y_r^{(i)})\}_{i=1}^N$ is the product
#    $$\mathcal{L}(\phi) = \prod_{i=1}^N \sigma\bigl(r_\phi(x^{(i)}, y_c^{(i)}) - r_\phi(x^{(i)}, y_r^{(i)})\bigr).$$
# 3. Maximising the likelihood = minimising the average negative log-likelihood:
#    $$\mathcal{L}_{\text{RM}}(\phi) = -\frac{1}{N}\sum_{i=1}^N \log\sigma\bigl(r_\phi(x^{(i)}, y_c^{(i)}) - r_\phi(x^{(i)}, y_r^{(i)})\bigr)
#      = -\mathbb{E}_{(x, y_c, y_r)\sim D}\bigl[\log\sigma(r_c - r_r)\bigr].$$
# 4. The gradient with respect to the chosen score, with $\Delta = r_c - r_r$ and $\sigma'(\Delta) = \sigma(\Delta)\,(1-\sigma(\Delta))$:
#    $$\frac{\partial}{\partial r_c}\bigl(-\log\sigma(\Delta)\bigr) = -\frac{\sigma'(\Delta)}{\sigma(\Delta)} = -(1 - \sigma(\Delta)) = -\sigma(-\Delta),$$
#    and $+\sigma(-\Delta)$ for $r_r$. A pair the model already ranks right by a wide margin
#    ($\Delta \gg 0$) has gradient ≈ 0; a pair ranked wrong ($\Delta \ll 0$) pushes with full strength 1.
#
# Two variants you will meet: a **margin** $m \ge 0$ (Llama 2 uses a larger $m$ when labellers say
# "significantly better"), $-\log\sigma(r_c - r_r - m)$, which asks for a gap of at least $m$; and a
# **centring** term $\eta\,\mathbb{E}[(r_c + r_r)^2]$ (Eisenstein et al., 2023) which pins the arbitrary
# offset of the scores near 0.

# %% [markdown] readonly="q_derivation"
# **Question (3 points, graded by hand).** In your own words and symbols, derive the reward-model loss
# $-\log\sigma(r_c - r_r)$ from the Bradley–Terry assumption $P(y_c \succ y_r) = \sigma(s_c - s_r)$:
# state what is being maximised and why taking the negative logarithm gives a loss; then explain
# (a) why the loss depends on the scores only through their difference and what that means for the
# absolute value of a trained reward, and (b) what the gradient $-\sigma(-(r_c - r_r))$ says about
# which pairs the model learns from.

# %% [markdown] manual="derivation" points=3
# ### BEGIN SOLUTION
# **Model answer.** Bradley–Terry models each comparison as a Bernoulli event with
# $P(y_c \succ y_r\mid x) = \sigma(s_c - s_r) = e^{s_c}/(e^{s_c} + e^{s_r})$. The pairs are independent, so
# the likelihood of the labels is $\prod_i \sigma(r_c^{(i)} - r_r^{(i)})$. We want the parameters $\phi$ that
# make the observed preferences most probable. Products of many probabilities underflow and are awkward to
# differentiate, so we take logs (monotone: same maximiser) and flip the sign to get something to
# *minimise*: $\mathcal{L} = -\frac1N\sum_i \log\sigma(r_c^{(i)} - r_r^{(i)})$, the negative log-likelihood
# (equivalently the binary cross-entropy with label "chosen wins" = 1).
#
# (a) $\sigma(s_c - s_r)$ is unchanged when the same constant is added to both scores, so the loss only sees
# differences. A trained RM's absolute level is arbitrary (an untrained offset survives training), which is
# why rewards are normalised (mean 0, std 1 on a reference set) before PPO, or a centring term is added.
#
# (b) $\partial\mathcal{L}/\partial r_c = -\sigma(-(r_c - r_r))$: close to $-1$ when the pair is ranked
# wrong, close to 0 when it is already ranked right by a wide margin. Learning concentrates on the pairs
# the model gets wrong or nearly wrong; confident correct pairs stop contributing (unlike a hinge or a
# squared loss on the gap).
#
# **Rubric (3 points).**
# - 1 pt: likelihood of independent comparisons → log → negative sign → mean over pairs, with the formula.
# - 1 pt: (a) only differences matter / shift invariance, and the consequence (offset arbitrary → normalise or centre).
# - 1 pt: (b) gradient magnitude $\sigma(-\Delta)$ interpreted: wrong pairs push hardest, well-separated pairs ≈ 0.
# Half points for a correct formula with no explanation, or a correct explanation with a sign error.
# ### END SOLUTION

# %% [markdown]
# ## 3. The numerical trap
#
# The seed guide computes the loss literally: `sigmoid(x) = 1 / (1 + np.exp(-x))`, then `-np.log(sigmoid(x))`.
# Watch what happens when a model gets a pair badly wrong — a score gap of $-10^4$ (not unusual for an
# unnormalised RM early in training, or for a diverging one):

# %%
def seed_sigmoid(x):
    return 1 / (1 + np.exp(-x))

def seed_reward_model_loss(chosen_scores, rejected_scores):
    return np.mean(-np.log(seed_sigmoid(chosen_scores - rejected_scores)))

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("seed loss, gap -1e4:", seed_reward_model_loss(np.array([-1e4]), np.array([0.0])))
print("warnings:", [str(w.message) for w in caught])
print("stable loss, gap -1e4:", reward.bradley_terry_loss_numpy(np.array([-1e4]), np.array([0.0])))


# %% [markdown]
# `np.exp(1e4)` overflows to `inf`, the sigmoid becomes exactly `0`, and `-log(0) = inf`. In PyTorch the
# loss is `inf` **and the gradient is `nan`** — one such pair and every weight becomes `nan`.
#
# The fix is algebra, not a bigger float. Write the per-pair loss without ever forming the sigmoid:
#
# $$-\log\sigma(x) = -\log\frac{1}{1 + e^{-x}} = \log\bigl(1 + e^{-x}\bigr) = \operatorname{softplus}(-x).$$
#
# `log(1 + exp(-x))` typed literally still overflows for $x = -10^4$. Stable implementations use
# $\log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})$, which only ever exponentiates a non-positive number:
# NumPy's `np.logaddexp(0, z)` and PyTorch's `F.softplus(z)` / `-F.logsigmoid(x)` do exactly that.
# For $x = -10^4$ the loss is $10^4$, and the gradient is $-1$: large, finite, useful.

# %% [markdown]
# ### Exercise 1 — the stable NumPy loss (2 points)
#
# The seed's coding Question 2, done right. Implement `bradley_terry_loss_numpy(chosen, rejected, reduction="mean")`:
# - `chosen`, `rejected`: 1-D arrays of shape `(B,)` with the scores $r_c$ and $r_r$;
# - per pair $\ell_i = -\log\sigma(r_{c,i} - r_{r,i})$, computed so that gaps of $\pm 10^4$ give finite values;
# - `reduction="mean"` returns the average over pairs, `reduction="sum"` the sum.
#
# Use NumPy only.

# %% solution="bt_numpy"
def bradley_terry_loss_numpy(chosen, rejected, reduction="mean"):
    """-log sigmoid(r_c - r_r) per pair, reduced over the batch. Shapes: (B,), (B,) -> scalar."""
    ### BEGIN SOLUTION
    chosen = np.asarray(chosen, dtype=np.float64)
    rejected = np.asarray(rejected, dtype=np.float64)
    per_pair = np.logaddexp(0.0, -(chosen - rejected))  # log(1 + e^{-(r_c - r_r)}), never overflows
    return per_pair.sum() if reduction == "sum" else per_pair.mean()
    ### END SOLUTION


# %% tests="test_bt_numpy" points=2
from llmcourse.checks import reward as checks

checks.check_bradley_terry_numpy(bradley_terry_loss_numpy)
### BEGIN HIDDEN TESTS
checks.check_bradley_terry_numpy(bradley_terry_loss_numpy, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 — the PyTorch loss, with a margin (2 points)
#
# Training needs gradients, so the loss the trainer calls is written in PyTorch. Implement
# `bradley_terry_loss(chosen, rejected, margin=None, reduction="mean")`:
# - `chosen`, `rejected`: float tensors of shape `(B,)`;
# - `margin`: `None`, a number, or a tensor `(B,)` — per pair $\ell_i = -\log\sigma(r_{c,i} - r_{r,i} - m_i)$;
# - return a **0-d tensor** (mean or sum over pairs) that carries gradients — no `.item()`, no NumPy.
#
# The grader checks the value *and* the gradients $\partial\mathcal{L}/\partial r_c$, $\partial\mathcal{L}/\partial r_r$, including at gaps of $\pm10^4$.

# %% solution="bt_torch"
def bradley_terry_loss(chosen, rejected, margin=None, reduction="mean"):
    """-log sigmoid(r_c - r_r - m) per pair, reduced. Shapes: (B,), (B,), margin None/float/(B,) -> scalar."""
    ### BEGIN SOLUTION
    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin
    per_pair = F.softplus(-diff)  # = -log sigmoid(diff), stable
    return per_pair.sum() if reduction == "sum" else per_pair.mean()
    ### END SOLUTION


# %% tests="test_bt_torch" points=2
from llmcourse.checks import reward as checks

checks.check_bradley_terry_torch(bradley_terry_loss)
### BEGIN HIDDEN TESTS
checks.check_bradley_terry_torch(bradley_terry_loss, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Rankings → pairs
#
# InstructGPT (Ouyang et al., 2022) showed labellers $K$ = 4 to 9 responses per prompt and asked for a
# **ranking**. A ranking of $K$ responses contains $\binom{K}{2} = K(K-1)/2$ comparisons — every two
# responses, the better-ranked one chosen. Two details from the paper:
#
# - all $\binom{K}{2}$ pairs of one prompt go into the **same batch**: spread over the epoch, each response
#   would be fitted $K-1$ times in separate steps, and the model overfitted after one epoch. The trainer here
#   batches pairs that share a `group` together;
# - a **tie** (equal ranks) says "equally good"; the Bradley–Terry likelihood has no event for that, so tied
#   responses give no pair.
#
# Convention: `ranks[i]` is the rank of `responses[i]`, **1 = best**; `ranks=None` means the list is already
# ordered best first. The same response listed twice is an error.

# %%
print(reward.ranking_to_pairs(["best", "middle", "worst"]))
print(reward.ranking_to_pairs(["x", "y", "z"], ranks=[2, 1, 2]))   # x and z tied: no (x, z) pair


# %% [markdown]
# ### Exercise 3 — rankings to pairs (2 points)
#
# Implement `ranking_to_pairs(responses, ranks=None)` returning a list of `(chosen, rejected)` tuples: one
# per two responses with different ranks, the better-ranked (smaller rank) first; none for ties; raise
# `ValueError` if a response appears twice. The order of the list does not matter.

# %% solution="rank_pairs"
def ranking_to_pairs(responses, ranks=None):
    """All (chosen, rejected) pairs of one ranking (rank 1 = best; ties give no pair)."""
    ### BEGIN SOLUTION
    if len(set(responses)) != len(responses):
        raise ValueError("a response appears twice in the ranking")
    if ranks is None:
        ranks = list(range(1, len(responses) + 1))
    pairs = []
    for i in range(len(responses)):
        for j in range(i + 1, len(responses)):
            if ranks[i] < ranks[j]:
                pairs.append((responses[i], responses[j]))
            elif ranks[j] < ranks[i]:
                pairs.append((responses[j], responses[i]))
    return pairs
    ### END SOLUTION


# %% tests="test_rank_pairs" points=2
from llmcourse.checks import reward as checks

checks.check_ranking_to_pairs(ranking_to_pairs)
### BEGIN HIDDEN TESTS
checks.check_ranking_to_pairs(ranking_to_pairs, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Where is the score read?
#
# A reward model is the language model with its vocabulary head swapped for a linear **value head**
# $w \in \mathbb{R}^H$: every position $t$ gets a number $v_t = w^\top h_t$. In a causal (left-to-right)
# model, position $t$ has only seen tokens $\le t$, so the only position that has read the *whole* prompt
# and response is the last one. We append EOS to every response, so the score is $v$ at the EOS:
# $r_\phi(x, y) = v_{i}$ with $i$ the **last real (non-pad) token**.
#
# In a batch, sequences are padded to one length. With right padding the last column is usually a pad; with
# left padding (used for generation) the real tokens end at the last column but start at different places.
# So "the last position" and "position `length − 1`" are each right for one padding side only; the index of
# the rightmost `1` in the attention mask is right for both. (Transformers' own
# `LlamaForSequenceClassification` looks for the rightmost token that is not `pad_token_id`; that breaks when
# a tokenizer reuses EOS as its pad token — the EOS itself then counts as padding. The course reads the
# mask, so it works for any model.) Below: the per-position values of an untrained RM for the same two
# sequences, right- and left-padded; `*` marks where the score is read.

# %%
tok = models.load_tokenizer()
rm0 = reward.load_reward_model(seed=0)
texts = [("Add the two numbers.\n3 4", "7"), ("Reverse the list.\n1 2 3 4", "4 3 2 1")]
seqs = [reward.encode_response(tok, p, r) for p, r in texts]
for side in ("right", "left"):
    ids, mask = reward.pad_sequences(seqs, tok.pad_token_id, side)
    with torch.no_grad():
        values = reward.token_rewards(rm0, ids, mask)
    last = reward.last_token_index(mask)
    print(f"{side}-padded, score = {reward.scores_at_last_token(values, mask).numpy().round(4)}")
    for row in range(len(seqs)):
        cells = [f"{'*' if t == last[row] else ' '}{'PAD' if mask[row, t] == 0 else tok.decode([int(ids[row, t])]).strip() or '·'}"
                 for t in range(ids.shape[1] - 6, ids.shape[1])]
        print("   last 6 positions:", " ".join(f"{c:>6}" for c in cells))


# %% [markdown]
# ### Exercise 4 — read the score at the last real token (2 points)
#
# Implement `scores_at_last_token(values, attention_mask)`:
# - `values`: float tensor `(B, T)`, the value head's output at every position;
# - `attention_mask`: `(B, T)` of 0/1 (or booleans), any mix of left and right padding;
# - return `(B,)`: for each row, the value at its **rightmost** position whose mask is 1.

# %% solution="last_token"
def scores_at_last_token(values, attention_mask):
    """values (B, T), attention_mask (B, T) -> (B,): the value at each row's last real token."""
    ### BEGIN SOLUTION
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (positions * attention_mask.long()).argmax(dim=1)  # rightmost 1, left or right padding
    return values[torch.arange(values.shape[0], device=values.device), last]
    ### END SOLUTION


# %% tests="test_last_token" points=2
from llmcourse.checks import reward as checks

checks.check_scores_at_last_token(scores_at_last_token)
### BEGIN HIDDEN TESTS
checks.check_scores_at_last_token(scores_at_last_token, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Train the reward model — with your code inside
#
# Now all four functions go into the real pipeline:
# - the training pairs come from **rankings** turned into pairs by your `ranking_to_pairs` — each prompt's
#   ranking is `[correct, wrong₁, wrong₂]` with ranks `[1, 2, 2]` (the two wrong answers tied), so 2 pairs per prompt;
# - `train_reward_model` calls your `bradley_terry_loss` as its loss and your `scores_at_last_token` to read
#   every score (chosen and rejected rows go through the model in **one** forward pass);
# - the held-out loss is recomputed from the scores with your NumPy loss.
#
# The model starts from the embedded base model (pre-trained on plain text) with a fresh value head.

# %%
rankings = reward.task_rankings(600, seed=0)
train_pairs = [{"prompt": r["prompt"], "chosen": c, "rejected": rj, "group": g}
               for g, r in enumerate(rankings) for c, rj in ranking_to_pairs(r["responses"], r["ranks"])]
_, held_out = reward.task_preference_data(len(rankings), 120, seed=0)
print(len(rankings), "rankings →", len(train_pairs), "pairs;", len(held_out), "held-out pairs")

rm = reward.load_reward_model(seed=0)
config = reward.RewardConfig(learning_rate=2e-3, per_device_train_batch_size=8, max_steps=60, warmup_steps=5,
                             logging_steps=5, eval_steps=20, eval_at_start=True)  # ≈ 30 s on 2 CPU cores
history = reward.train_reward_model(rm, tok, train_pairs, config, eval_pairs=held_out,
                                    loss_fn=bradley_terry_loss, pick=scores_at_last_token)
final = [h for h in history if "eval_accuracy" in h][-1]
print(f"held-out pairwise accuracy {final['eval_accuracy']:.1%}, mean margin {final['eval_margin']:.2f}")

# %%
fig = plots.plot_history([h for h in history if "eval_accuracy" in h], ["eval_accuracy", "eval_margin"],
                         title="held-out pairwise accuracy and mean margin r_c - r_r")
fig2 = plots.plot_history([h for h in history if "loss" in h], ["loss", "accuracy"], title="training batches")

# %%
chosen_scores, rejected_scores = reward.score_pairs(rm, tok, held_out)
mine = bradley_terry_loss_numpy(chosen_scores.numpy(), rejected_scores.numpy())
print(f"held-out loss from your NumPy function: {mine:.4f}   trainer's: {final['eval_loss']:.4f}")

# %% [markdown]
# **On a real chat model.** The same value head on SmolLM2-135M-Instruct (Hugging Face, Apache-2.0; 134.5M
# parameters, prompts in its ChatML template), scoring short real answers: the correct one ≻ a plausible wrong one.
# An **untrained** head is a random direction $w \sim \mathcal{N}(0, 1/(H+1))$ in the model's 576-dimensional
# hidden space: its score says how far the last hidden state happens to lie along $w$. Both answers of a pair
# share the prompt, so their scores are close, and which one wins is a coin toss — the number means nothing yet.
# Then a few hundred Bradley–Terry steps (your loss, your `scores_at_last_token`) train **the head alone** on 8
# pairs, the backbone frozen (its hidden states computed once, so this takes seconds), and we score 4 held-out
# questions. The model is not part of the course download: the cell skips unless it is already in the model
# cache (`models.load_model("smollm2-135m-instruct")` builds it once), and while nbgrader grades the notebook.

# %%
from llmcourse import pretrained, templates

real_dir = pretrained.notebook_path("smollm2-135m-instruct")  # None (saying why) if not cached, or while grading
if real_dir is not None:
    real_tok = models.load_tokenizer(real_dir)
    real_rm = reward.reward_model_from_causal_lm(models.load_model(real_dir), seed=0)  # fresh seeded head
    qa = [("What is the capital of France?", "Paris.", "Berlin."), ("What is 2 + 2?", "4.", "5."),
          ("How many legs does a spider have?", "Eight.", "Six."), ("What colour is grass?", "Green.", "Purple."),
          ("Who wrote Romeo and Juliet?", "William Shakespeare.", "Charles Dickens."),
          ("What is the largest planet in the solar system?", "Jupiter.", "Mercury."),
          ("At what temperature does water boil at sea level?", "100 degrees Celsius.", "50 degrees Celsius."),
          ("How many days are in a week?", "Seven.", "Five."),
          # held out
          ("What is the capital of Japan?", "Tokyo.", "Beijing."), ("What is 3 + 5?", "8.", "9."),
          ("How many sides does a triangle have?", "Three.", "Four."), ("What colour is snow?", "White.", "Red.")]
    seqs = [reward.encode_response(real_tok, templates.single_turn("chat", q, tokenizer=real_tok)[0], answer)
            for q, good, bad in qa for answer in (good, bad)]  # rows: chosen, rejected, chosen, ...
    ids, mask = reward.pad_sequences(seqs, real_tok.pad_token_id, "right")
    with torch.no_grad():  # the frozen backbone's hidden states, once: (2N, T, H)
        hidden = real_rm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state

    def real_scores():
        scores = scores_at_last_token(real_rm.score(hidden).squeeze(-1), mask)  # head at every position, read at EOS
        return scores[0::2], scores[1::2]

    def show(when):
        with torch.no_grad():
            c, r = real_scores()
        wins = (c > r).tolist()
        print(f"{when}: train pairs {sum(wins[:8])}/8 chosen ≻ rejected, held-out {sum(wins[8:])}/4")
        for (q, good, bad), sc, sr in list(zip(qa, c.tolist(), r.tolist()))[8:]:
            print(f"    {q:<40} r({good!r}) = {sc:+.2f}   r({bad!r}) = {sr:+.2f}")

    show("untrained head")
    opt = torch.optim.Adam(real_rm.score.parameters(), lr=1e-3)
    for step in range(200):
        c, r = real_scores()
        loss = bradley_terry_loss(c[:8], r[:8])
        opt.zero_grad()
        loss.backward()
        opt.step()
    show(f"head trained on 8 pairs (loss {loss.item():.3f})")
    del real_rm, hidden  # 0.5 GB: not needed below

# %% [markdown]
# Untrained, the two answers to a question get close scores (the shared prompt dominates the last hidden state)
# and the winner is a coin toss (here 4/8 and 0/4). Trained, the head ranks its 8 training pairs right, and 3 of
# the 4 held-out ones here — four questions are too few to tell skill from luck (one flip is 25 points). Note the
# level: every score drifted far below zero, because the Bradley–Terry loss sees only differences $r_c - r_r$, so
# the level is arbitrary (which is why a reward model is calibrated before RL, section 7). A real reward model
# learns from tens of thousands of comparisons and trains the backbone too, as section 6 did on the task world.

# %% [markdown]
# ## 7. What does it prefer?
#
# A reward model is only a proxy. Score a few candidate answers to one prompt: the correct one, the
# classic mistakes — and the correct answer followed by filler `" !"` tokens, which no labeller asked for.

# %%
prompt = reward.alpaca_template({"instruction": "Sort the list in ascending order.", "input": "7 2 9 4"})
candidates = ["2 4 7 9", "2 4 8 9", "2 4 7", "2 4 7 9 1 3", "2 4 7 9 ! ! !"]
scores = reward.score_texts(rm, tok, [prompt] * len(candidates), candidates)
for cand, s in sorted(zip(candidates, scores.tolist()), key=lambda t: -t[1]):
    print(f"{s:+7.3f}  {cand!r}")

# %% [markdown]
# **A planted bias.** Real preference data has quirks: labellers tend to prefer longer, more confident,
# better-formatted answers, and a reward model learns the quirk along with the intent. We plant one: in the
# `bias="length"` data every chosen answer ends with one to four `" !"` tokens. The model trained on it still
# separates right from wrong, but it has also learned that more `!` is better — a shortcut a policy can
# maximise without being any more correct. That is the **reward hacking** notebook 03 demonstrates.
# `filler_preference` measures the bias: the share of prompts where the correct answer *with* filler outscores
# the same answer without it — and, with `wrong=True`, where a **wrong** answer with filler outscores the
# correct one: exactly the trade a reward-hacking policy makes.

# %%
biased = reward.load_reward_model(seed=0)
b_train, b_held = reward.task_preference_data(400, 100, seed=1, bias="length")
b_history = reward.train_reward_model(biased, tok, b_train, reward.RewardConfig(learning_rate=2e-3, per_device_train_batch_size=16, max_steps=15), eval_pairs=b_held)
print(f"biased RM: held-out accuracy on its own data {b_history[-1]['eval_accuracy']:.1%}")
prefs = {name: reward.filler_preference(model, tok, 100) for name, model in (("clean RM", rm), ("length-biased RM", biased))}
hacks = {name: reward.filler_preference(model, tok, 100, wrong=True) for name, model in (("clean RM", rm), ("length-biased RM", biased))}
print("answer + filler beats the answer:        ", prefs)
print("WRONG answer + filler beats the answer:  ", hacks)
fig3 = plots.plot_bars(prefs, title="share of prompts where answer + ' ! ! !' beats the answer", ylabel="share")

# %% [markdown]
# **Calibration.** Bradley–Terry fixes score *differences* only, so the level of a trained RM is arbitrary
# (look at the scores above). Before PPO adds a KL penalty to the reward, the reward is normalised on a
# reference sample — here the correct answers to 200 prompts — to mean 0 and standard deviation 1:
# $r \mapsto g\,r + b$ with $g = 1/\operatorname{std}$, $b = -\operatorname{mean}/\operatorname{std}$, folded into the
# value head so every later call returns calibrated scores. Rankings do not change ($g > 0$).

# %%
ref = tasks.instruction_records(200, seed=7)
ref_prompts, ref_answers = [reward.alpaca_template(r) for r in ref], [r["output"] for r in ref]
before = reward.score_texts(rm, tok, ref_prompts, ref_answers)
gain, bias = reward.calibrate_reward_model(rm, tok, ref_prompts, ref_answers)
after = reward.score_texts(rm, tok, ref_prompts, ref_answers)
print(f"before: mean {before.mean():+.3f}, std {before.std(unbiased=False):.3f}  ->  gain {gain:.3f}, bias {bias:+.3f}")
print(f"after:  mean {after.mean():+.3f}, std {after.std(unbiased=False):.3f}")

# %% [markdown]
# ## Summary
#
# - Preference data are comparisons; rankings of $K$ answers give $K(K-1)/2$ pairs, batched per prompt; ties give none.
# - Bradley–Terry: $P(y_c \succ y_r) = \sigma(r_c - r_r)$ → loss $-\log\sigma(r_c - r_r)$, computed as
#   `softplus(-(r_c - r_r))` / `np.logaddexp(0, -(r_c - r_r))` so that no gap overflows.
# - The score is read at the last real token (EOS) — found from the attention mask, whatever the padding side.
# - A reward model learns what the data reward, including its quirks; calibrate it before RL.
#
# Next, notebook 03 uses this reward model — and the length-biased one — to train the policy with PPO.
#
# **Going further (not graded).** Train with a margin (give each task-world pair `"margin": 1.0`), or with
# `center_rewards_coefficient=0.01`, and compare the score levels. Replace the base model with the SFT model
# from notebook 01 (`reward.reward_model_from_causal_lm(sft_model)`) — InstructGPT initialises its RM that way.
# The full recipe, `reward.train_task_reward_model()`, trains longer and reports its held-out accuracy.
