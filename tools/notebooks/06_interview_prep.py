# %% [markdown]
# # 06 · Interview prep: the seed's questions, graded — and what the seed gets wrong
#
# The guide this course follows ends with five theory questions and four coding questions. Here they all
# are, graded, followed by questions interviewers ask that the guide does not, and the guide's errata.
#
# | part | what | how it is graded |
# |---|---|---|
# | 1 | the guide's 5 theory questions | short **concept checks** (autograded) + a **written answer** (rubric) each |
# | 2 | the guide's 4 coding questions | autograded by the same graders as the stage notebooks |
# | 3 | 7 more interview questions (DPO, clipping, GAE, packing, reward hacking, model collapse, SFT data size) | concept checks + written answers |
# | 4 | the guide's errata | — (demonstrations; also in `docs/errata.md`) |
#
# **Concept checks.** Each is a multiple-choice or numeric question. Replace `raise NotImplementedError()` in
# the answer cell with your answer (`answer_t1a = "C"` or `answer_t2a = 6`), run it, then run the test cell.
# A right answer prints `✓` and **why** it is right; a wrong one says why *that* answer is wrong and gives a
# hint, without the answer — think again and re-run. Stuck for good? `checks.reveal("t2a")` prints the answer
# and its explanation (self-study; it doesn't change your score, but `course grade` reports an answer cell that
# calls `reveal`, the `check_*` functions or the question bank to the instructor). Numeric answers are right
# within **1 % (relative)**, the same for every question: two significant digits are always enough (`0.69` for
# $\ln 2$).
#
# **Written answers.** Write your answer in the Markdown cell under each written question, as you would say
# it in an interview: the key ideas, a formula where it helps. An instructor grades it with the rubric;
# self-study readers compare with the model answer and rubric in
# `solutions/06_interview_prep/interview_prep.ipynb`.
#
# **Coding questions.** As in the stage notebooks: implement the function, run the test cell, and the
# notebook then uses your function for real.

# %%
import json
import math
import random
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from llmcourse import templates
from llmcourse.augment import STOP_WORDS
from llmcourse.checks import interview as checks
from llmcourse.scaling.law import BESIROGLU_2024, HOFFMANN_2022

# %% [markdown]
# # Part 1 · The guide's theory questions
#
# ## Theory question 1 · The training stages
# *"Explain the three main stages of training an instruction-following LLM like ChatGPT or Llama 3."*

# %% concept="t1a"

# %% concept="t1b"

# %% [markdown] readonly="q_written_t1"
# **Written answer (4 points).** Explain the stages of training an instruction-following LLM: for each, the data, the objective and what it teaches the model; say where pre-training fits.

# %% [markdown] manual="written_t1" points=4
# ### BEGIN SOLUTION
# **Model answer.** Everything starts from a **pre-trained base model** (next-token prediction on a large
# text corpus); you reuse a released one unless you are a large lab. Post-training then has three stages:
#
# 1. **Supervised fine-tuning (SFT).** Data: curated (prompt, response) demonstrations — Alpaca-style
#    instruction / input / output, or chat `messages`. Objective: the causal-LM cross-entropy on the
#    *response tokens only* (prompt positions masked with −100, EOS kept as a target). Teaches the format
#    and the assistant behaviour: answer the instruction, then stop.
# 2. **Reward modelling (RM).** Data: for each prompt, several responses sampled from the SFT model and
#    ranked by people, turned into (prompt, chosen, rejected) pairs (K(K−1)/2 per ranking). Model: the SFT
#    network with a one-number head, score read at the last token. Objective: Bradley–Terry,
#    $-\log\sigma(r_c - r_r)$. Learns what people prefer, as a scalar that is cheap to query.
# 3. **RL against the reward model (RLHF, usually PPO).** Data: prompts only; responses are sampled from the
#    current policy on the fly (on-policy). Objective: maximise $\mathbb{E}[r_\phi(x, y)] - \beta\,
#    \mathrm{KL}(\pi_\theta\|\pi_{\text{SFT}})$ with PPO's clipped surrogate, a value model and GAE. Moves
#    the behaviour towards higher-rated responses while the KL keeps it close to the SFT model.
#
# Modern pipelines often replace stages 2–3 with DPO (Llama 3: SFT, rejection sampling and DPO).
#
# **Rubric (4 points).** 1 pt SFT (demonstrations; loss on response tokens only). 1 pt RM (comparisons
# from rankings; pairwise Bradley–Terry loss; scalar score). 1 pt RL (on-policy samples scored by the RM;
# PPO; KL penalty to the SFT model and why). 1 pt the pipeline as a whole (pre-trained base first; each
# stage initialised from the previous; what each stage adds). Naming DPO as an alternative is a plus, not
# required.
# ### END SOLUTION

# %% [markdown]
# ## Theory question 2 · The reward model
# *"What is the purpose of the Reward Model in RLHF? Derive and explain the loss function used to train it."*

# %% concept="t2a"
answer_t2a = 4 * 3 // 2  # K(K − 1)/2 unordered pairs

# %% concept="t2b"

# %% concept="t2c"
answer_t2c = math.log(2)  # −log σ(0) = −log ½

# %% concept="t2d"

# %% [markdown] readonly="q_written_t2"
# **Written answer (4 points).** What is the reward model for, and how is its loss derived? Start from a model of pairwise preferences and end with the loss you would implement.

# %% [markdown] manual="written_t2" points=4
# ### BEGIN SOLUTION
# **Model answer.** People can't rate every response PPO samples, so a **reward model** $r_\phi(x, y)$
# stands in for them: a network (the SFT model with a scalar head, read at the last token) that scores a
# response to a prompt, trained on human comparisons.
#
# **Derivation.** The Bradley–Terry model gives each response a strength $e^{r}$ and
# $$P(y_c \succ y_r\mid x) = \frac{e^{r_c}}{e^{r_c} + e^{r_r}} = \sigma(r_c - r_r).$$
# Maximising the likelihood of the observed preferences over a dataset of pairs $D$ means minimising the
# negative log-likelihood
# $$\mathcal{L}(\phi) = -\mathbb{E}_{(x, y_c, y_r)\sim D}\bigl[\log\sigma(r_\phi(x, y_c) - r_\phi(x, y_r))\bigr].$$
# Its gradient with respect to the difference is $-\sigma(r_r - r_c)$: pairs the model already orders
# confidently contribute little; wrongly ordered pairs contribute most.
#
# **In practice.** Compute it as $\operatorname{softplus}(-(r_c - r_r))$ = `np.logaddexp(0, -(rc - rr))`, never
# `-log(sigmoid(·))` (overflows). Only differences matter: scores are defined up to a constant (normalise
# them before PPO). A ranking of K gives K(K−1)/2 pairs, trained together. Accuracy = share of pairs with
# $r_c > r_r$.
#
# **Rubric (4 points).** 1 pt purpose (scalable proxy for human judgement, used as the RL reward). 1 pt the
# Bradley–Terry model $P = \sigma(r_c - r_r)$. 1 pt the negative log-likelihood step to the loss. 1 pt one
# practical point: stable computation, shift invariance, score at the last token, or rankings → pairs.
# ### END SOLUTION

# %% [markdown]
# ## Theory question 3 · The PPO objective and the KL term
# *"Write down and explain the objective function for PPO in the context of RLHF. What is the critical role
# of the KL-divergence term?"*

# %% concept="t3a"

# %% concept="t3b"
answer_t3b = 0.2 + (-0.1) + 0.3  # the sequence log-ratio is the sum of the token log-ratios

# %% concept="t3c"

# %% [markdown] readonly="q_written_t3"
# **Written answer (5 points).** Write down the objective RLHF optimises and PPO's own objective, explain each term, and the role of the KL term (and how it differs from PPO's clipping).

# %% [markdown] manual="written_t3" points=5
# ### BEGIN SOLUTION
# **Model answer.** RLHF maximises the KL-regularised reward, for prompts $x\sim D$ and responses sampled
# from the policy, $y \sim \pi_\theta(\cdot\mid x)$:
# $$J(\theta) = \mathbb{E}_{x\sim D,\,y\sim\pi_\theta}\bigl[r_\phi(x,y)\bigr] - \beta\,\mathbb{E}_{x\sim D}\,
# \mathrm{KL}\bigl(\pi_\theta(\cdot\mid x)\,\|\,\pi_{\text{ref}}(\cdot\mid x)\bigr).$$
# Since $\log\pi(y\mid x) = \sum_t\log\pi(y_t\mid x, y_{<t})$, the KL is the expected *sum of per-token
# log-ratios* of the sampled tokens; implementations give each response token the reward
# $-\beta(\log\pi_\theta - \log\pi_{\text{ref}})$ and add $r_\phi(x,y)$ at the last token.
#
# **PPO** optimises this with advantages $\hat A_t$ from GAE and a value model, maximising the clipped surrogate
# $$L^{\text{CLIP}} = \mathbb{E}_t\bigl[\min(\rho_t\hat A_t,\ \operatorname{clip}(\rho_t, 1-\varepsilon, 1+\varepsilon)\hat A_t)\bigr],
# \quad \rho_t = \frac{\pi_\theta(y_t\mid\cdot)}{\pi_{\text{old}}(y_t\mid\cdot)},$$
# minus a (clipped) value loss.
#
# **The KL term** keeps the policy near the SFT model: the reward model is accurate only near the
# distribution it was trained on, so the KL limits over-optimisation / reward hacking (it mitigates, does
# not prevent), keeps the text fluent and diverse, and preserves what SFT taught. Its optimum is
# $\pi^* \propto \pi_{\text{ref}}\,e^{r/\beta}$: β sets the trade-off (fixed or adapted to a KL target).
# It is *not* what limits a single update — that is the clip, relative to $\pi_{\text{old}}$.
#
# **Rubric (5 points).** 1 pt the objective with $y\sim\pi_\theta$. 1 pt per-token implementation (sum of
# log-ratios; score at the final token). 1 pt PPO's clipped surrogate with the ratio, and the value model /
# GAE. 1 pt the KL's role (RM valid only near its data; reward hacking; fluency; forgetting). 1 pt the
# distinction between KL-to-reference (total drift) and clipping (step size).
# ### END SOLUTION

# %% [markdown]
# ## Theory question 4 · A medical SFT dataset
# *"You are tasked with fine-tuning an LLM for a medical Q&A bot. How would you approach creating the SFT
# dataset? What are the key considerations?"*
#
# Notebook **00b · data curation** builds the tools this answer relies on: quality filters, exact and MinHash
# near-duplicate removal, decontamination against the held-out set, PII redaction, and a lab measuring what a
# leaked test set does to a score.

# %% concept="t4a"

# %% concept="t4b"

# %% [markdown] readonly="q_written_t4"
# **Written answer (4 points).** How would you build the SFT dataset for a medical Q&A bot, and what are the key considerations?

# %% [markdown] manual="written_t4" points=4
# ### BEGIN SOLUTION
# **Model answer.**
# * **Sources.** Questions that look like real users' (patient portals, de-identified support logs, FAQ
#   pages with permission), answered or reviewed by clinicians; guideline- and textbook-grounded answers;
#   synthetic questions from an LLM only with expert review. Record provenance and licence for every item.
# * **Target behaviour.** Accurate, plain-language answers with appropriate uncertainty; no diagnosis or
#   prescriptions; referral (with urgency for red flags) to professionals; clarifying questions for
#   ambiguous queries; refusals for out-of-scope requests — but not a refusal for everything (that teaches
#   the model to be useless).
# * **Privacy and law.** Remove PII/PHI (names, dates, record numbers, rare conditions + place), consent and
#   terms of use for scraped text, HIPAA/GDPR as applicable.
# * **Quality control and evaluation.** Expert review with a written guideline and agreement checks; dedup
#   and cluster paraphrases, split by cluster; a held-out set graded by clinicians; red-teaming for unsafe
#   advice; iterate on failures.
# * **Format.** Consistent records (Alpaca or chat `messages`), a system prompt with the disclaimer policy.
#
# **Rubric (4 points).** 1 pt expert-sourced or expert-verified data with provenance. 1 pt safety behaviours
# (referral, uncertainty, no diagnosis, calibrated refusals). 1 pt privacy/licensing. 1 pt evaluation and
# iteration (contamination-free split, expert evaluation, red-teaming).
# ### END SOLUTION

# %% [markdown]
# ## Theory question 5 · Scaling laws
# *"What are Scaling Laws, and how did the Chinchilla paper change our understanding of them? What is the
# practical implication for training a new foundation model?"*

# %% concept="t5a"
answer_t5a = 20 * 7e9

# %% concept="t5b"
answer_t5b = 6 * 70e9 * 1.4e12  # C ≈ 6ND

# %% concept="t5c"

# %% concept="t5d"

# %% [markdown] readonly="q_written_t5"
# **Written answer (4 points).** What are scaling laws, what did Chinchilla change, and what follows in practice for training a new foundation model?

# %% [markdown] manual="written_t5" points=4
# ### BEGIN SOLUTION
# **Model answer.** Scaling laws are empirical power laws for the held-out loss as a function of model size
# $N$, training tokens $D$ and compute $C \approx 6ND$. Chinchilla (Hoffmann et al., 2022) fitted
# $$L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}\quad(E = 1.69,\ A = 406.4,\ B = 410.7,\ \alpha = 0.34,\ \beta = 0.28)$$
# and minimised it under $6ND = C$: $N_{opt}\propto C^{a}$, $D_{opt}\propto C^{b}$ with $a \approx b \approx 0.5$.
# Kaplan et al. (2020) had found $N_{opt}\propto C^{0.73}$ — spend extra compute mostly on parameters — partly
# because they did not tune the learning-rate schedule to each run length. Chinchilla's evidence: 70B
# parameters on 1.4T tokens beat Gopher's 280B on 300B at the same compute; the rule of thumb is ≈ 20 tokens
# per parameter at that scale.
#
# **Practice.** Given a budget, choose $N$ and $D$ together (≈ 20 tokens/param for compute-optimal
# training); the data pipeline — enough, clean, deduplicated, diverse tokens — becomes the bottleneck. If
# the model will serve heavy traffic, train a smaller model on more tokens than compute-optimal (LLaMA:
# 7B on 1T tokens), because inference cost dominates. Refits (Besiroglu et al., 2024) move the constants but
# keep ~20 tokens/param.
#
# **Rubric (4 points).** 1 pt definition (power laws in N, D, C; C ≈ 6ND). 1 pt Kaplan vs Chinchilla
# allocation (0.73 vs ≈ 0.5). 1 pt the Gopher/Chinchilla evidence or the 20 tokens/param rule. 1 pt the
# practical implication (data investment; inference-aware over-training).
# ### END SOLUTION

# %% [markdown]
# # Part 2 · The guide's coding questions
#
# Each is graded by the same grader as its stage notebook; the guide's versions have defects (Part 4),
# which the graders name when you repeat them.

# %% [markdown]
# ## Coding question 1 · An SFT `Dataset` for Alpaca-style JSON (3 points)
#
# *"Implement a simple PyTorch `Dataset` class for Supervised Fine-Tuning (SFT) that handles JSON data with
# "instruction", "input", and "output" fields."*
#
# A dataset item is `input_ids` and `labels` for one record. Two functions do the work; the `Dataset` around
# them is a few lines (below). First, the Alpaca prompt: the with-input preamble when `input` is non-empty
# (after stripping), the no-input one otherwise (`templates.ALPACA_WITH_INPUT` / `ALPACA_NO_INPUT`, both ending
# in `"### Response:\n"`). Return `(prompt, response)` with the response unchanged (EOS is added as an *id*
# later).

# %% include="01_sft_data:format_alpaca"

# %% include="01_sft_data:test_format_alpaca"

# %% [markdown]
# Then the ids and labels. The guide tokenises `bos + prompt` and `bos + prompt + output + eos` separately and
# masks `len(prompt ids)` labels — wrong whenever the tokenizer merges across the seam (Part 4). Instead,
# tokenise prompt and response **separately** and concatenate the ids:
#
# $$\texttt{input\_ids} = [\text{BOS}] \Vert \text{prompt} \Vert \text{response} \Vert [\text{EOS}],\qquad
# \texttt{labels} = [-100]^{1 + |\text{prompt}|} \Vert \text{response} \Vert [\text{EOS}].$$
#
# Return `{"input_ids": [...], "labels": [...]}` (lists of int); `bos_token_id=None` means "no BOS".

# %% include="01_sft_data:build_example"

# %% include="01_sft_data:test_build_example"

# %% [markdown]
# The `Dataset` itself, with **your** two functions, fixing the guide's loader too: a malformed file raises
# an error that names the file and line (`llmcourse.records`) instead of becoming an empty dataset, and a
# missing field names the record.

# %%
from torch.utils.data import Dataset

from llmcourse import models, records, tasks

tokenizer = models.load_tokenizer()


class SFTDataset(Dataset):
    """Alpaca JSON/JSONL -> {"input_ids", "labels"}; errors name the file, line and field."""

    def __init__(self, path, tokenizer):
        self.examples = []
        for item in records.read_records(path):  # raises RecordError('file:line: ...'), never returns []
            for field in ("instruction", "output"):
                records.require_str(item.record, field, item.where)
            prompt, response = format_alpaca(item.record)
            encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
            self.examples.append(build_example(encode(prompt), encode(response),
                                               tokenizer.bos_token_id, tokenizer.eos_token_id))

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, idx):
        return self.examples[idx]


workdir = Path(tempfile.mkdtemp())
(workdir / "sft.json").write_text(json.dumps(tasks.instruction_records(4, seed=1), indent=1))
dataset = SFTDataset(workdir / "sft.json", tokenizer)
item = dataset[0]
print(len(dataset), "examples; the first one's target text:",
      repr(tokenizer.decode([t for t in item["labels"] if t != -100])))

(workdir / "broken.json").write_text('[\n {"instruction": "Sort.", "input": "3 1", "output": "1 3",}\n]')
try:
    SFTDataset(workdir / "broken.json", tokenizer)
except records.RecordError as err:
    print("RecordError:", err)


# %% [markdown]
# ## Coding question 2 · The reward model's loss in NumPy (2 points)
#
# *"Using only NumPy, implement the loss function for a Reward Model based on the Bradley-Terry model."*
#
# $$\ell_i = -\log\sigma(r_{c,i} - r_{r,i}) = \log\bigl(1 + e^{-(r_{c,i} - r_{r,i})}\bigr),$$
# averaged over pairs (`reduction="mean"`) or summed (`"sum"`). It must be finite and exact for any finite
# score gap, including ±10⁴ — the guide's `-np.log(sigmoid(x))` is not (Part 4).

# %% include="02_reward_model:bt_numpy" grade_id="bradley_terry_numpy"

# %% include="02_reward_model:test_bt_numpy" grade_id="test_bradley_terry_numpy"

# %% [markdown]
# Your loss on the guide's two example batches (well and poorly separated):

# %%
good = bradley_terry_loss_numpy(np.array([2.5, 3.1, 1.8, 4.0]), np.array([1.0, 2.0, 0.5, 2.1]))
poor = bradley_terry_loss_numpy(np.array([1.5, 2.1, 0.8, 3.0]), np.array([1.8, 2.0, 1.5, 3.3]))
print(f"well separated: {good:.4f}   poorly separated: {poor:.4f}   (coin flip: log 2 = {math.log(2):.4f})")

# %% [markdown]
# ## Coding question 3 · Easy Data Augmentation: synonym replacement and random deletion (3 points)
#
# *"Write a Python function that performs "Easy Data Augmentation (EDA)" on a given sentence. Implement two of
# the four techniques: Synonym Replacement and Random Deletion."*
#
# As in EDA (Wei & Zou, 2019), with every random draw from the generator `rng` you are given (so a run is
# reproducible — the guide's snippet uses the global `random` module):
#
# * **synonym replacement** — $n = \max(1, \lfloor\alpha\,\ell\rfloor)$ *distinct* non-stop words (those not in
#   `stop_words`), chosen at random, are each replaced **at every occurrence** by a random synonym from
#   `synonyms(word)` (a function returning a list). Skip words without synonyms; return a new list.
# * **random deletion** — delete each word independently with probability $p$; never return an empty
#   sentence (if every word went, keep one at random); a one-word sentence is returned as it is.

# %% include="04_augmentation:synonym_replacement"

# %% include="04_augmentation:test_synonym_replacement"

# %% include="04_augmentation:random_deletion"

# %% include="04_augmentation:test_random_deletion" points=1

# %% [markdown]
# The guide's `perform_eda`, fixed: the `Dict` import it forgot, a generator instead of the global `random`,
# and **your** two operations (with the guide's own small thesaurus):

# %%
from typing import Dict, List  # the guide imports only List, so its `-> Dict[str, str]` raises NameError

SEED_SYNONYMS = {
    "quick": ["fast", "swift", "rapid"], "brown": ["dark", "ebony"], "fox": ["canine", "vulpine"],
    "jumps": ["leaps", "hops", "vaults"], "lazy": ["idle", "inactive", "slothful"], "dog": ["hound", "mutt", "pooch"],
    "amazing": ["incredible", "fantastic", "wonderful"], "story": ["tale", "narrative", "account"],
}


def perform_eda(sentence: str, rng: random.Random, alpha_sr: float = 0.1, p_rd: float = 0.1) -> Dict[str, str]:
    words: List[str] = sentence.split()
    lookup = lambda word: SEED_SYNONYMS.get(word.lower(), [])
    return {
        "original": sentence,
        "synonym_replacement": " ".join(synonym_replacement(words, alpha_sr, lookup, rng)),
        "random_deletion": " ".join(random_deletion(words, p_rd, rng)),
    }


eda_rng = random.Random(0)
for sentence in ["The quick brown fox jumps over the lazy dog", "This is an amazing story about a brave hero"]:
    for key, value in perform_eda(sentence, eda_rng, alpha_sr=0.2, p_rd=0.2).items():
        print(f"{key:<20} {value}")
    print()

# %% [markdown]
# ## Coding question 4 · A scaling-law plot (2 points)
#
# *"Using Matplotlib, create a visualization to explain the concept of Scaling Laws. Plot hypothetical model
# loss against the number of model parameters for different dataset sizes."*
#
# Not a hypothetical loss: the **published** Chinchilla fit (Hoffmann et al., 2022, Approach 3),
# $$L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}},\qquad E = 1.69,\ A = 406.4,\ B = 410.7,\ \alpha = 0.34,\ \beta = 0.28,$$
# with the numbers read from `params` (a `ChinchillaParams` with fields `E, A, B, alpha, beta`), so the same
# function draws other fits too. Draw one line per data size $D$ over the parameter grid `n_values`, on
# log–log axes, with a legend (one entry per $D$) and labelled axes; return the `Figure`. (Afterwards, try
# `params=BESIROGLU_2024`, the 2024 refit of the same data.)

# %% include="05_scaling_laws:plot_loss_vs_params"

# %% include="05_scaling_laws:test_plot_loss_vs_params"

# %% [markdown]
# Your plot with the guide's three data sizes, plus the comparison the guide's "Chinchilla insight" annotation
# is really about: Gopher (280B parameters, 300B tokens) and Chinchilla (70B, 1.4T) used about the same
# compute ($C \approx 6ND$), and the smaller model trained on more data has the lower loss.

# %%
from llmcourse.scaling import chinchilla_loss as published_loss

fig = plot_loss_vs_params(np.logspace(8, 12, 50), [50e9, 300e9, 1.5e12])
ax = fig.axes[0]
for name, n, d in [("Gopher", 280e9, 300e9), ("Chinchilla", 70e9, 1.4e12)]:
    loss = float(published_loss(n, d))
    ax.scatter([n], [loss], zorder=3)
    ax.annotate(f"{name}\n{6 * n * d:.1e} FLOPs, L = {loss:.3f}", (n, loss), textcoords="offset points", xytext=(8, 8))

# %% [markdown]
# # Part 3 · Questions interviewers ask that the guide doesn't
#
# ## DPO vs PPO
#
# Notebook 07 is the whole DPO stage: the derivation step by step, the loss and the sequence log-probs it
# needs as graded exercises, DPO training of the SFT model, likelihood displacement, a β sweep and IPO.

# %% concept="x_dpo_a"
answer_x_dpo_a = math.log1p(math.exp(-0.1 * (0.5 - (-0.5))))  # −log σ(β·(Δ_c − Δ_r))

# %% concept="x_dpo_b"

# %% [markdown] readonly="q_written_dpo"
# **Written answer (4 points).** Derive the DPO loss from the KL-regularised RLHF objective, and compare DPO with PPO: what each needs, and when you would pick which.

# %% [markdown] manual="written_dpo" points=4
# ### BEGIN SOLUTION
# **Model answer.** For each prompt, maximise $\mathbb{E}_{y\sim\pi}[r(x,y)] - \beta\,\mathrm{KL}(\pi\|\pi_{\text{ref}})$.
# Writing it as
# $-\beta\,\mathrm{KL}\bigl(\pi\,\|\,\pi_{\text{ref}}e^{r/\beta}/Z(x)\bigr) + \beta\log Z(x)$ with
# $Z(x) = \sum_y \pi_{\text{ref}}(y\mid x)e^{r(x,y)/\beta}$ shows the maximiser:
# $$\pi^*(y\mid x) = \frac{1}{Z(x)}\,\pi_{\text{ref}}(y\mid x)\,e^{r(x,y)/\beta}
# \quad\Longleftrightarrow\quad r(x,y) = \beta\log\frac{\pi^*(y\mid x)}{\pi_{\text{ref}}(y\mid x)} + \beta\log Z(x).$$
# Put this reward into the Bradley–Terry model: $Z(x)$ cancels in $r(x,y_c) - r(x,y_r)$, so the preference
# probability is a function of the policy alone. Parametrise $\pi^*$ by $\pi_\theta$ and maximise the
# likelihood of the preference pairs:
# $$\mathcal{L}_{\text{DPO}}(\theta) = -\mathbb{E}_{(x,y_c,y_r)}\Bigl[\log\sigma\Bigl(\beta\log\frac{\pi_\theta(y_c\mid x)}{\pi_{\text{ref}}(y_c\mid x)} - \beta\log\frac{\pi_\theta(y_r\mid x)}{\pi_{\text{ref}}(y_r\mid x)}\Bigr)\Bigr].$$
#
# **Comparison.** DPO: no reward model, no sampling, no value model — one supervised-style loss on fixed
# pairs with a frozen reference; cheap and stable. But it is offline (learns only from the pairs' responses,
# not from the policy's own mistakes), can lower the likelihood of both responses, and over-fits
# deterministic preferences. PPO: on-policy exploration with a reward model that generalises to new
# responses, and a reward that can come from anywhere (verifiers, exact match); more compute, more moving
# parts and hyperparameters. Iterative/online DPO variants sit in between.
#
# **Rubric (4 points).** 1 pt the closed-form optimum $\pi^*\propto\pi_{\text{ref}}e^{r/\beta}$. 1 pt inverting it
# for $r$ (with $\beta\log Z$). 1 pt substituting into Bradley–Terry, $Z$ cancelling, the loss. 1 pt a correct
# comparison (offline vs on-policy; components needed; a trade-off).
# ### END SOLUTION

# %% [markdown]
# ## Why PPO clips

# %% concept="x_clip_a"
answer_x_clip_a = min(1.5 * 2, min(max(1.5, 0.8), 1.2) * 2)

# %% concept="x_clip_b"

# %% [markdown] readonly="q_written_clip"
# **Written answer (3 points).** Why does PPO clip the probability ratio? What would go wrong without it?

# %% [markdown] manual="written_clip" points=3
# ### BEGIN SOLUTION
# **Model answer.** PPO reuses each batch of rollouts for several epochs of minibatch updates. The surrogate
# $\rho_t\hat A_t$ with $\rho_t = \pi_\theta/\pi_{\text{old}}$ is an importance-weighted estimate of the
# policy improvement that is only accurate while $\pi_\theta$ stays close to the policy that collected the
# data (the advantages were estimated under $\pi_{\text{old}}$). Maximised freely, it pushes ratios far from 1
# on the tokens with large advantages: huge, noisy steps, collapse of the policy, NaNs. Clipping the ratio
# to $[1-\varepsilon, 1+\varepsilon]$ and taking the **min** with the unclipped term makes the objective a
# pessimistic bound: no gain from moving a ratio beyond the trust region in the direction the advantage
# favours (gradient 0), while moves in the wrong direction are still corrected. It approximates TRPO's KL
# trust region with first-order optimisation. Monitor the clip fraction and the approximate KL to
# $\pi_{\text{old}}$; the value loss is often clipped the same way.
#
# **Rubric (3 points).** 1 pt reuse of samples / importance ratio valid only near $\pi_{\text{old}}$. 1 pt the
# min/clip mechanism (zero gradient beyond $1\pm\varepsilon$ in the favoured direction; pessimistic bound).
# 1 pt what goes wrong without it or the link to TRPO / monitoring.
# ### END SOLUTION

# %% [markdown]
# ## What GAE trades off

# %% concept="x_gae_a"
answer_x_gae_a = (0 + 0 + 1) - 0.2  # return − V_0

# %% concept="x_gae_b"
answer_x_gae_b = 0 + 1.0 * 0.6 - 0.2  # δ_0 = r_0 + γV_1 − V_0

# %% [markdown] readonly="q_written_gae"
# **Written answer (3 points).** What is Generalised Advantage Estimation, and what do $\gamma$ and $\lambda$ trade off? What values are used in RLHF and why?

# %% [markdown] manual="written_gae" points=3
# ### BEGIN SOLUTION
# **Model answer.** With the TD error $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$,
# $$\hat A_t^{\text{GAE}(\gamma,\lambda)} = \sum_{l\ge 0}(\gamma\lambda)^l\,\delta_{t+l}.$$
# $\lambda = 0$ gives the one-step TD error: low variance, but biased by the value model's errors.
# $\lambda = 1$ gives the Monte-Carlo return minus the baseline: unbiased (for a fixed V), but it carries the
# noise of every later reward. $\lambda$ interpolates — a **bias–variance** trade-off; $\gamma$ discounts
# the future (also reducing variance, but changing the objective). In RLHF the reward is sparse (the RM
# score at the last token plus small per-token KL terms) and episodes are short, so $\gamma = 1$ (don't
# discount the only real reward) and $\lambda \approx 0.95$; advantages are then whitened per batch.
#
# **Rubric (3 points).** 1 pt the formula (TD errors, $(\gamma\lambda)^l$ sum). 1 pt the λ = 0 / λ = 1 limits
# and bias vs variance. 1 pt RLHF values (γ = 1, λ ≈ 0.95) with a reason.
# ### END SOLUTION

# %% [markdown]
# ## Packing vs padding

# %% concept="x_pack_a"
answer_x_pack_a = 1 - (10 + 20 + 30 + 100) / (4 * 100)

# %% concept="x_pack_b"

# %% [markdown] readonly="q_written_pack"
# **Written answer (3 points).** Compare padding and packing for SFT batches: cost, correctness pitfalls, and when you'd use each.

# %% [markdown] manual="written_pack" points=3
# ### BEGIN SOLUTION
# **Model answer.** **Padding** brings each batch to its longest sequence: simple and exact (attention mask,
# labels −100 on pads), but with a long-tailed length distribution most positions are pads (lengths 10, 20,
# 30, 100 → 60% waste). Sorting or bucketing by length reduces the waste. **Packing** concatenates examples
# (with EOS) into full rows of `max_length`: almost no waste and a fixed shape. Done naively, tokens attend
# across example boundaries and position ids keep counting, so training contexts differ from inference;
# fix with per-example position ids and a block-diagonal mask (varlen attention). Packing also changes the
# loss weighting (per-token averages over a row mixing examples) and splits examples at row ends unless
# examples are bin-packed whole. Use padding (with bucketing) for small data or when exact per-example
# behaviour matters; packing for throughput on large datasets, with boundary-aware attention.
#
# **Rubric (3 points).** 1 pt padding cost quantified / bucketing. 1 pt packing and its contamination
# pitfall with the fix (position ids, block-diagonal mask). 1 pt trade-offs or when to choose which.
# ### END SOLUTION

# %% [markdown]
# ## Detecting reward hacking

# %% concept="x_hack_a"

# %% concept="x_hack_b"

# %% [markdown] readonly="q_written_hack"
# **Written answer (3 points).** How do you detect reward hacking during RLHF, and what do you do about it?

# %% [markdown] manual="written_hack" points=3
# ### BEGIN SOLUTION
# **Model answer.** Reward hacking = the policy finds responses the reward model over-rates (length, filler,
# flattery, repeated phrases, format tricks): the proxy rises while true quality stalls or falls (Goodhart;
# Gao et al., 2023 on over-optimisation). **Detect:** track a gold signal the policy is not optimised on —
# held-out task metrics, human or independent-judge ratings, a second reward model — next to the RM score;
# watch KL to the reference (fast growth), response length and diversity/entropy; read samples from each
# checkpoint; check the RM on adversarial probes (e.g. the same answer padded). **Fix:** stronger or adaptive
# KL (β), early stopping at the best gold checkpoint, improve the RM (more/adversarial data, length
# debiasing, ensembles, reward normalisation/clipping), penalties for known hacks (missing EOS, length).
#
# **Rubric (3 points).** 1 pt definition (proxy vs true objective). 1 pt at least two concrete detection
# signals including a gold/independent one. 1 pt mitigations.
# ### END SOLUTION

# %% [markdown]
# ## When synthetic data hurts: model collapse

# %% concept="x_collapse_a"
answer_x_collapse_a = (1 - 1 / 10) ** 10

# %% [markdown]
# The variance shrinkage of `x_collapse_a`, simulated (20,000 independent chains of 10 generations):

# %%
sim = np.random.default_rng(0)
mu, var = np.zeros(20_000), np.ones(20_000)
for generation in range(1, 11):
    sample = sim.normal(mu[:, None], np.sqrt(var)[:, None], size=(20_000, 10))
    mu, var = sample.mean(axis=1), sample.var(axis=1)  # maximum-likelihood fit to the previous generation's samples
    if generation in (1, 5, 10):
        print(f"generation {generation:2d}: mean fitted variance {var.mean():.3f}   (0.9^{generation} = {0.9**generation:.3f})")

# %% concept="x_collapse_b"

# %% [markdown] readonly="q_written_collapse"
# **Written answer (3 points).** When does training on synthetic (model-generated) data hurt, and how do you use it safely?

# %% [markdown] manual="written_collapse" points=3
# ### BEGIN SOLUTION
# **Model answer.** Each generation of fitting to samples loses information: finite samples miss rare
# events, estimators are biased (the MLE variance shrinks by (n−1)/n), and the model's own approximation
# errors are sampled and learnt again. When models are trained **recursively on their own outputs, replacing
# real data**, these errors compound: tails vanish first, then diversity collapses (Shumailov et al., 2024).
# Synthetic data also hurts when it is wrong (hallucinated answers become targets), low-diversity
# (templated, greedy decoding), or leaks evaluation data. It helps when it is verified (exact-match or
# execution checks, reward filtering, rejection sampling), diverse (Self-Instruct's ROUGE-L < 0.7 filter,
# sampling temperature), mixed with and **accumulated alongside real data** rather than replacing it
# (Gerstgrasser et al., 2024), and its share is tuned on held-out real data.
#
# **Rubric (3 points).** 1 pt the mechanism (tails lost, errors compound across generations). 1 pt when it
# hurts (replacement, unverified, low diversity, contamination). 1 pt mitigations (accumulate real data,
# verify/filter, dedup, diversity).
# ### END SOLUTION

# %% [markdown]
# ## How much SFT data is enough?
# (The guide's "data scaling for fine-tuning" section.)

# %% concept="x_sft_data_a"

# %% concept="x_sft_data_b"

# %% [markdown] readonly="q_written_sft_data"
# **Written answer (3 points).** How much data does supervised fine-tuning need? How would you decide for a given task?

# %% [markdown] manual="written_sft_data" points=3
# ### BEGIN SOLUTION
# **Model answer.** It depends on the gap between the base model and the target behaviour. Format and style
# (answer in this template, this tone) need hundreds to a few thousand good examples — LIMA: 1,000 curated
# examples on a 65B base; new skills or a new domain need tens of thousands or more, or continued
# pre-training on domain text first. Quality and diversity beat quantity: duplicates and noisy targets
# cost more than they add. Decide empirically: hold out an evaluation set that matches the real use,
# fine-tune on nested subsets (1/8, 1/4, 1/2, all), plot the metric against data size; a curve still rising
# says collect more (or augment / generate and verify), a flat one says improve quality, coverage or the base
# model. Watch for over-fitting (several epochs on small sets) and for regressions on general ability.
#
# **Rubric (3 points).** 1 pt task dependence (format vs skill vs domain) with orders of magnitude. 1 pt
# quality/diversity over quantity (LIMA or similar evidence). 1 pt the empirical method (held-out metric vs
# data-size curve on subsets).
# ### END SOLUTION

# %% [markdown]
# # Part 4 · The guide's errata
#
# What the guide gets wrong or states imprecisely, with the correction; the code defects are demonstrated
# below (and in `tests/test_errata.py`). The full list with sources is in `docs/errata.md`.
#
# ### 1. `-np.log(sigmoid(x))` overflows (coding question 2)
# For a large negative score difference, `np.exp(-x)` overflows, σ becomes 0 and the loss `inf` (with NaN
# gradients). In float64 that needs x ≈ −710, but in float16 — mixed-precision training — already x ≈ −11.
# The guide's comment offers `-log(1 + exp(-x))` as "more stable": it is the same expression. Use
# `np.logaddexp(0, -x)`.

# %%
def seed_sigmoid(x):
    return 1 / (1 + np.exp(-x))


with np.errstate(over="ignore", divide="ignore"):  # the guide's version warns, then returns inf
    for x in (np.float64(-1000.0), np.float16(-12.0)):
        naive = -np.log(seed_sigmoid(x))
        stable = np.logaddexp(np.float64(0.0), -np.float64(x))
        print(f"x = {float(x):>7} ({x.dtype}):  -log(sigmoid(x)) = {float(naive)}   logaddexp(0, -x) = {stable:.6f}")


# %% [markdown]
# ### 2. The JSON loader swallows errors (coding question 1)
# `except Exception as e: print(...); self.data = []` turns a typo in the file into an empty dataset that
# "trains" without complaint. The `SFTDataset` of coding question 1 raises `RecordError` naming the file and
# line instead; the guide's behaviour:

# %%
class SeedLoader:  # the guide's loading logic
    def __init__(self, json_path):
        try:
            with open(json_path, "r", encoding="utf-8") as f:
                self.data = json.load(f)
        except Exception as e:
            print(f"Error loading or parsing JSON file: {e}")
            self.data = []


errata_dir = Path(tempfile.mkdtemp())
(errata_dir / "broken.json").write_text('[\n {"instruction": "Sort.", "input": "3 1", "output": "1 3",}\n]')
print("the guide's dataset size:", len(SeedLoader(errata_dir / "broken.json").data))

# %% [markdown]
# ### 3. The EDA snippet uses `Dict` without importing it (coding question 3)
# It imports only `List` and annotates `perform_eda(...) -> Dict[str, str]`; annotations are evaluated when
# the `def` runs, so the snippet stops before augmenting anything. A minimal reproduction:

# %%
snippet = """
from typing import List

def perform_eda(sentence: str) -> Dict[str, str]:
    return {}
"""
try:
    exec(snippet, {})
except NameError as err:
    print("NameError:", err)

# %% [markdown]
# ### 4. Tokenising the prompt and the full text separately (coding question 1)
# The guide's prompt ends in `"Output: "` (a trailing space). With a byte-level BPE the prompt then ends in
# a lone space token, while the full text merges the space into the answer's first token — so the prompt's
# ids are not a prefix of the full text's, and masking `len(prompt ids)` labels swallows the first answer
# token. (Its character-level `DummyTokenizer` hides this.) With the embedded tokenizer:

# %%
seed_prompt = "Instruction: Reverse the list.\nInput: 3 1 4\nOutput: "
p_ids = tokenizer(seed_prompt, add_special_tokens=False)["input_ids"]
full_ids = tokenizer(seed_prompt + "4 1 3", add_special_tokens=False)["input_ids"]
print("prompt ends with  ", tokenizer.convert_ids_to_tokens(p_ids[-2:]))
print("full text has     ", tokenizer.convert_ids_to_tokens(full_ids[len(p_ids) - 2:]))
print("prompt ids a prefix of the full text's?", full_ids[: len(p_ids)] == p_ids)
labels = [-100] * len(p_ids) + full_ids[len(p_ids):]
print("what the guide trains on:", repr(tokenizer.decode([t for t in labels if t != -100])), "instead of '4 1 3'")

# %% [markdown]
# ### 5. "STFT" for SFT (theory question 1)
# "…deviating too much from its original STFT capabilities" means **SFT**, supervised fine-tuning (STFT is
# the short-time Fourier transform).
#
# ### 6. The relativity example: "objects getting heavier the faster they move" (Alpaca example)
# "Relativistic mass" is a deprecated notion: an object's (invariant) mass does not change with speed. What
# grows without bound as the speed approaches *c* is its energy $E = \gamma mc^2$ and momentum $p = \gamma mv$,
# which is why nothing with mass reaches the speed of light. Also, the laws of physics are the same for
# every observer moving at *constant velocity* (special relativity), not "no matter how fast". A corrected
# output: *"…This leads to surprising consequences: moving clocks run slow, moving objects are shortened
# along their motion, and an object's energy grows without limit as it approaches the speed of light, so
# nothing with mass can reach it."* A demonstration is a target the model learns to imitate: its facts
# must be right.
#
# ### 7. The KL is written per sequence but described per token (stage 3, theory question 3)
# Both are right once stated precisely: by the chain rule the sequence log-ratio is the **sum of per-token
# log-ratios**, so the sequence-level KL is the expected sum of per-token log-ratios of tokens **sampled
# from the policy itself**. PPO implementations therefore penalise every token by
# $\beta(\log\pi_\theta - \log\pi_{\text{ref}})$. Checked exactly on a small autoregressive model (3 tokens,
# length 4, all 81 sequences enumerated), and by sampling:

# %%
import itertools

kl_rng = np.random.default_rng(0)
V, T = 3, 4


def next_token_table(rng):  # row v: next-token probabilities after token v (row V: at the start)
    logits = rng.normal(size=(V + 1, V))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


pi, ref = next_token_table(kl_rng), next_token_table(kl_rng)
seqs = list(itertools.product(range(V), repeat=T))


def seq_log_probs(table):  # log π(y) = Σ_t log π(y_t | y_{t-1}) for every sequence
    return np.array([sum(math.log(table[prev, tok]) for prev, tok in zip((V,) + s[:-1], s)) for s in seqs])


log_pi, log_ref = seq_log_probs(pi), seq_log_probs(ref)
token_sums = log_pi - log_ref  # = Σ_t per-token log-ratio, sequence by sequence (chain rule)
exact = float(np.sum(np.exp(log_pi) * token_sums))  # KL(π‖π_ref) over whole sequences
from_pi = token_sums[kl_rng.choice(len(seqs), size=20_000, p=np.exp(log_pi))].mean()
from_ref = token_sums[kl_rng.choice(len(seqs), size=20_000, p=np.exp(log_ref))].mean()
print(f"sequence-level KL, exact over all {len(seqs)} sequences:  {exact:+.4f}")
print(f"summed per-token log-ratios, mean over y ~ π:        {from_pi:+.4f}")
print(f"the same sums under y ~ π_ref (wrong distribution):  {from_ref:+.4f}")

# %% [markdown]
# ### 8. A hypothetical loss presented like a law (coding question 4)
# The guide's `hypothetical_loss` uses invented constants (A = 3, B = 2.5, α = 0.35, β = 0.45, L∞ = 1.6 and
# arbitrary scales) under the title "Visualizing LLM Scaling Laws", and annotates fixed-*data* curves with
# "Chinchilla Insight", which is about fixed *compute*. Hoffmann et al.'s published fit
# $L = 1.69 + 406.4/N^{0.34} + 410.7/D^{0.28}$ tells a different, checkable story:

# %%
from llmcourse.scaling import chinchilla_loss, training_flops


def seed_hypothetical_loss(params, tokens, p_scale=1e10, t_scale=2e11):
    return 3.0 / (params / p_scale) ** 0.35 + 2.5 / (tokens / t_scale) ** 0.45 + 1.6


for name, n, d in [("Gopher", 280e9, 300e9), ("Chinchilla", 70e9, 1.4e12)]:
    print(f"{name:<11} {n / 1e9:.0f}B parameters, {d / 1e9:,.0f}B tokens, C = {float(training_flops(n, d)):.2e} FLOPs: "
          f"published fit L = {float(chinchilla_loss(n, d)):.3f} nats/token, the guide's curve {seed_hypothetical_loss(n, d):.2f}")

# %% [markdown]
# ### 9. More, briefly (details in `docs/errata.md`)
# * **"Three stages", then four.** The knowledge section announces a three-stage process and lists four, the
#   first "Pre-training (Optional Foundation)". Pre-training is not optional (every stage starts from a
#   pre-trained model); doing it *yourself* is. Consistent: pre-training, then SFT, RM and RL.
# * **"like ChatGPT or Llama 3" … PPO.** Llama 3's post-training used SFT, rejection sampling and DPO, not PPO.
# * **"The PPO objective"** in theory question 3 is the KL-regularised RL objective that PPO optimises; PPO's
#   own objective is the clipped surrogate, and "preventing excessively large updates" is the clip's job,
#   not the KL's. The KL mitigates reward hacking; it does not prevent it.
# * **"Trained as a regression model"** (stage 2): the Bradley–Terry loss sees only score differences, so
#   scores are defined up to a constant (concept check `t2d`).
# * **The PPO "data format"** `(prompt, response, reward)` omits what PPO stores per token: the sampling
#   policy's and the reference's log-probabilities, values and per-token rewards.
# * **OpenOrca**'s completions come from GPT-4 (~1M) and GPT-3.5 (~3.2M), not from open-source models.
# * **"140 billion tokens for optimal performance"** (7B model): compute-optimal for *training*; LLaMA-7B was
#   deliberately trained on 1T tokens to be cheaper to serve (concept check `t5d`).
# * **Small slips:** "Mayo Clinic, a, WebMD"; scraped medical text also needs its terms and licences checked.
#
# Checked and correct: Alpaca's 52K examples from 175 seed tasks with `text-davinci-003`; Dolly's ~15K;
# The Pile's 825 GiB / 22 subsets; Chinchilla 70B / 1.4T vs Gopher 280B / 300B; "double the model, double
# the data"; 20 tokens per parameter → 140B tokens for 7B parameters.
