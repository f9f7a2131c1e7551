r"""The interview question bank of notebook 06: the question types and every question, written once.

Each question carries its text, its options (multiple choice) or its number and tolerance (numeric),
the answer, the explanation shown after a right answer, and a note for each classic wrong answer.
:mod:`llmcourse.checks.interview` checks answers against it and renders the notebook's question cells
from it; ``tests/wrong_answers`` derives the concept checks' wrong answers from it. Open-book, as
every grader: the answers are here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["ChoiceQuestion", "NumberQuestion", "QUESTIONS"]


# --------------------------------------------------------------------------- question types


@dataclass(frozen=True)
class ChoiceQuestion:
    """A multiple-choice question with one right option."""

    qid: str
    """Identifier used by the notebook (``answer_<qid>``, ``check_choice("<qid>", ...)``)."""
    text: str
    """The question, in Markdown (LaTeX allowed); rendered into the notebook."""
    options: Mapping[str, str]
    """Option letter → option text (Markdown), letters ``A``, ``B``, … in order."""
    answer: str
    """The right letter."""
    why: str
    """Plain-text explanation printed after a right answer."""
    wrong: Mapping[str, str] = field(default_factory=dict)
    """Wrong letter → why it is wrong (a hint, never the right letter). Every wrong option needs one."""

    def __post_init__(self):
        letters = list(self.options)
        if letters != [chr(ord("A") + i) for i in range(len(letters))] or len(letters) < 2:
            raise ValueError(f"question {self.qid!r}: options must be lettered A, B, C, … in order; got {letters}")
        if self.answer not in self.options:
            raise ValueError(f"question {self.qid!r}: answer {self.answer!r} is not one of the options {letters}")
        missing = [k for k in letters if k != self.answer and k not in self.wrong]
        extra = [k for k in self.wrong if k not in self.options or k == self.answer]
        if missing or extra:
            raise ValueError(f"question {self.qid!r}: every wrong option needs a note in `wrong` "
                             f"(missing {missing}; notes for non-options or for the answer: {extra})")


@dataclass(frozen=True)
class NumberQuestion:
    """A question whose answer is one number, accepted within a tolerance."""

    qid: str
    """Identifier used by the notebook (``answer_<qid>``, ``check_number("<qid>", ...)``)."""
    text: str
    """The question, in Markdown (LaTeX allowed); rendered into the notebook."""
    answer: float
    """The right value."""
    why: str
    """Plain-text explanation printed after a right answer."""
    rel_tol: float = 0.01
    """Relative tolerance (``math.isclose``), the same for every question — the notebook states it: an
    answer within 1 % is right, so two significant digits are always enough (0.69 for ln 2)."""
    abs_tol: float = 0.0
    """Absolute tolerance (0: tolerances are relative)."""
    wrong: tuple[tuple[float, str], ...] = ()
    """Classic wrong values and what each reveals (matched with the same tolerance)."""
    hint: str = ""
    """Shown for a wrong value that is not a classic one."""

    def __post_init__(self):
        if not math.isfinite(self.answer):
            raise ValueError(f"question {self.qid!r}: the answer must be a finite number")
        for value, _ in self.wrong:
            if _close(value, self.answer, self.rel_tol, self.abs_tol):
                raise ValueError(f"question {self.qid!r}: classic wrong value {value!r} is within tolerance "
                                 f"of the answer {self.answer!r}")


def _close(a: float, b: float, rel_tol: float, abs_tol: float) -> bool:
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


# --------------------------------------------------------------------------- the bank

_BANK: list[ChoiceQuestion | NumberQuestion] = [
    # ---- theory question 1: the training stages
    ChoiceQuestion(
        "t1a",
        "Which stage trains on data that the model being trained **generates itself, during training**?",
        {"A": "supervised fine-tuning (SFT)", "B": "reward modelling (RM)",
         "C": "RLHF with PPO", "D": "pre-training"},
        "C",
        "PPO is on-policy: every iteration samples fresh responses from the current policy, scores them with "
        "the frozen reward model, and updates on those samples, then throws them away. SFT, RM and "
        "pre-training all read a fixed dataset.",
        {"A": "SFT reads a fixed set of demonstrations written (or curated) before training starts.",
         "B": "The RM's responses were sampled from the SFT model once, *before* RM training, then labelled by "
              "people; the RM trains on that fixed set.",
         "D": "Pre-training reads a fixed text corpus."},
    ),
    ChoiceQuestion(
        "t1b",
        "During PPO, which models receive gradient updates?",
        {"A": "the policy only", "B": "the policy, the value model and the reward model",
         "C": "all four: policy, value model, reward model and reference (SFT) model",
         "D": "the policy and the value model"},
        "D",
        "PPO is actor-critic: the policy (actor) and the value model (critic, a regression onto the returns) "
        "learn. The reward model stays frozen — it holds the human labels and has no new labels to learn "
        "from — and so does the reference model, the anchor of the KL penalty.",
        {"A": "PPO is actor-critic: the value model is trained too (a regression onto the returns), so GAE has "
              "a baseline to subtract.",
         "B": "The reward model encodes the human comparisons; during PPO there are no new labels for it, and "
              "updating it on the policy's own samples would let the two co-adapt.",
         "C": "If the reference moved with the policy, the KL penalty would stay near 0 and anchor nothing."},
    ),
    # ---- theory question 2: the reward model and its loss
    NumberQuestion(
        "t2a",
        "A labeller ranks $K = 4$ responses to one prompt from best to worst. How many (chosen, rejected) "
        "pairs does this ranking give?",
        6,
        "Every unordered pair of distinct responses is one comparison: K(K−1)/2 = 4·3/2 = 6. InstructGPT "
        "ranks K = 4…9 responses per prompt and trains all K(K−1)/2 pairs of a ranking together as one batch "
        "element, so a prompt with many pairs is not over-weighted.",
        wrong=((12, "that counts ordered pairs, but (a ≻ b) and (b ≻ a) are one comparison; count each pair once."),
               (16, "K² also pairs every response with itself and counts both orders."),
               (3, "K − 1 uses only neighbours in the ranking, but a ranking implies a comparison between "
                   "*every* two responses (1st ≻ 3rd too).")),
        hint="count the ways to choose 2 of the 4 responses (order doesn't matter).",
    ),
    ChoiceQuestion(
        "t2b",
        "A reward model is a causal LM with a one-number head, run on a **right-padded** batch of "
        "`[BOS] prompt response [EOS] [PAD]…` rows. At which position is each row's score read?",
        {"A": "position 0 (the BOS token)",
         "B": "the last column of the batch (index `seq_len − 1`)",
         "C": "the last non-pad token of each row (the EOS after the response)",
         "D": "the first response token"},
        "C",
        "A causal model's hidden state at position t has read only tokens ≤ t, so only the last real token "
        "has read the whole prompt and response. With right padding that is index attention_mask.sum(-1) − 1 "
        "of each row — the EOS, which must therefore survive truncation (filter too-long pairs instead).",
        {"A": "At position 0 a causal model has seen only BOS: every response would get the same score.",
         "B": "For every row shorter than the longest, the last column is a PAD: its score depends on how much "
              "padding the row got.",
         "D": "At the first response token the model has seen one token of the response: the rest can't "
              "change the score."},
    ),
    NumberQuestion(
        "t2c",
        "The reward model gives the chosen and the rejected response the **same** score. What is the "
        "Bradley–Terry loss $-\\log\\sigma(r_c - r_r)$ of this pair? (natural log, e.g. `0.123`)",
        math.log(2.0),
        "σ(0) = 1/2, so the loss is −log(1/2) = log 2 ≈ 0.693 nats: the loss of a coin flip. A reward model "
        "whose training loss stays at 0.693 has learnt nothing.",
        wrong=((0.5, "0.5 is σ(0), the preference probability; the loss is its negative log."),
               (math.log10(2.0), "that's log base 10; the loss uses the natural logarithm."),
               (1.0, "that's log base 2 (one bit); the loss uses the natural logarithm."),
               (-math.log(2.0), "the sign: the loss is −log σ(·), which is ≥ 0.")),
        hint="what is σ(0)?",
    ),
    ChoiceQuestion(
        "t2d",
        "Add $+5$ to **every** score the reward model outputs. What happens to its Bradley–Terry loss on a "
        "batch of pairs?",
        {"A": "it does not change", "B": "it decreases", "C": "it increases",
         "D": "it can't be computed any more"},
        "A",
        "The loss depends on scores only through the differences r_c − r_r, and a constant cancels. So "
        "reward scores have no absolute meaning (which is why they are normalised before PPO), and the RM "
        "is not 'a regression model that predicts a score' as the seed says: it is a pairwise classifier "
        "on score differences.",
        {"B": "Both scores of a pair move by 5; what does that do to r_c − r_r?",
         "C": "Both scores of a pair move by 5; what does that do to r_c − r_r?",
         "D": "Nothing overflows or breaks: look at what the loss depends on."},
    ),
    # ---- theory question 3: the PPO objective and the KL term
    ChoiceQuestion(
        "t3a",
        "In the per-token rewards PPO optimises in RLHF (InstructGPT, TRL), where does the reward model's "
        "score of the whole response go?",
        {"A": "added at every response token",
         "B": "added at the first response token",
         "C": "added at the last response token, with $-\\beta\\,(\\log\\pi_\\theta - \\log\\pi_{\\text{ref}})$ "
              "at every token",
         "D": "divided by the length and spread evenly over the tokens"},
        "C",
        "r_t = −β·(log π_θ(y_t|·) − log π_ref(y_t|·)) at every response token, plus the RM score at the final "
        "token (the EOS). GAE then carries the score back to earlier tokens through the value function.",
        {"A": "Adding the whole score at every token multiplies it by the length: longer answers earn more "
              "(a built-in length bias).",
         "B": "At the first token the response doesn't exist yet; the score is about the finished response.",
         "D": "Dividing by the length makes the reward depend on length again; credit assignment is GAE's "
              "job."},
    ),
    NumberQuestion(
        "t3b",
        "A sampled response $y \\sim \\pi_\\theta$ has three tokens whose log-ratios "
        "$\\log\\pi_\\theta(y_t\\mid\\cdot) - \\log\\pi_{\\text{ref}}(y_t\\mid\\cdot)$ are $0.2$, $-0.1$ and $0.3$. "
        "What is this sample's estimate of the **sequence-level** KL "
        "$\\log\\frac{\\pi_\\theta(y\\mid x)}{\\pi_{\\text{ref}}(y\\mid x)}$?",
        0.4,
        "log π(y|x) = Σ_t log π(y_t|x, y_<t) for both models, so the sequence log-ratio is the sum of the "
        "per-token log-ratios: 0.2 − 0.1 + 0.3 = 0.4. Its average over samples y ∼ π_θ is the sequence KL — "
        "which is why PPO can penalise per token and still optimise the sequence-level objective. One "
        "sample's term can be negative (as one token's is); only the expectation is ≥ 0.",
        wrong=((0.4 / 3, "that's the mean per token; the sequence log-ratio is the *sum* over tokens."),
               (0.6, "the middle token's log-ratio is negative: sum the terms with their signs."),
               (-0.4, "the sign: log π_θ − log π_ref, summed.")),
        hint="write log π(y|x) with the chain rule, for both models.",
    ),
    ChoiceQuestion(
        "t3c",
        "Which part of PPO limits how far **one update** moves the policy from the policy that collected "
        "the batch?",
        {"A": "the KL penalty against the frozen SFT (reference) model",
         "B": "the value loss",
         "C": "normalising the reward model's scores",
         "D": "clipping the probability ratio $\\pi_\\theta/\\pi_{\\text{old}}$ to $[1-\\varepsilon, 1+\\varepsilon]$"},
        "D",
        "The clipped surrogate removes any gain from pushing the ratio beyond 1 ± ε on a batch: a trust "
        "region per update. The KL penalty is a different anchor: it bounds how far the policy drifts from "
        "the SFT model over the whole run. (The seed credits the KL term with 'preventing excessively large "
        "updates' — that is the clip's job.)",
        {"A": "The reference is the SFT model, not the previous iterate: the KL limits total drift from SFT, "
              "not the size of one step.",
         "B": "The value loss trains the critic; it puts no constraint on the policy.",
         "C": "Normalising scores rescales the reward; it does not bound the policy's step."},
    ),
    # ---- theory question 4: a medical SFT dataset
    ChoiceQuestion(
        "t4a",
        "Your medical SFT set has 5,000 expert-reviewed Q&A pairs, and many questions appear several times "
        "in paraphrased form. How do you build the held-out evaluation split?",
        {"A": "cluster near-duplicate and paraphrased questions, and split by cluster (whole clusters go to "
              "one side)",
         "B": "a random 10% of the rows",
         "C": "evaluate on the training set, since the answers are expert-verified",
         "D": "the 500 longest questions"},
        "A",
        "With paraphrases on both sides of a random split, the evaluation measures recall of training answers, "
        "not generalisation. Group near-duplicates (n-gram or embedding similarity) and split by group; keep "
        "the evaluation set's topics and difficulty representative of real questions.",
        {"B": "Paraphrases of the same question land on both sides, so the held-out score is inflated by "
              "memorisation.",
         "C": "Training-set accuracy measures memorisation, not whether the bot answers new questions.",
         "D": "Length is not a good proxy for a representative held-out set; and paraphrases still leak."},
    ),
    ChoiceQuestion(
        "t4b",
        "What is the best SFT target response for *\"Do I have skin cancer? My mole is itchy and has grown.\"*?",
        {"A": "names the most probable diagnosis from the description, with a confidence level and the usual "
              "treatment",
         "B": "\"I can't help with medical questions. Please consult a doctor.\"",
         "C": "says it cannot diagnose, explains which changes in a mole doctors consider warning signs (and "
              "that growth and itching are among them), and recommends seeing a doctor soon",
         "D": "asks the user to upload a photo of the mole so it can judge whether it looks malignant and "
              "give a diagnosis"},
        "C",
        "The target should be safe *and* useful: no diagnosis, general and accurate information, and a clear, "
        "appropriately urgent referral to a professional. Bare refusals teach the model to be unhelpful; "
        "diagnoses are unsafe.",
        {"A": "A chatbot can't examine the patient; a confident diagnosis is unsafe either way.",
         "B": "A bare refusal is safe but useless, and SFT on it teaches the model to refuse too often.",
         "D": "A photo doesn't make a chatbot a dermatologist; the diagnosis problem stays."},
    ),
    # ---- theory question 5: scaling laws
    NumberQuestion(
        "t5a",
        "Using the \"≈ 20 training tokens per parameter\" rule, how many tokens does a 7-billion-parameter model "
        "need for compute-optimal pre-training? (write a number, e.g. `3e9`)",
        1.4e11,
        "7·10⁹ parameters × 20 tokens/parameter = 1.4·10¹¹ = 140 billion tokens. It minimises *training* "
        "compute for a given loss; LLaMA-7B was deliberately trained on 1T tokens (~7× more) because a "
        "smaller model trained longer is cheaper to serve.",
        wrong=((7e9 / 20, "you divided by 20; the rule is tokens = 20 × parameters."),),
        hint="tokens = 20 × parameters; mind the powers of ten (7 billion = 7e9).",
    ),
    NumberQuestion(
        "t5b",
        "Chinchilla has $N = 70\\cdot10^9$ parameters and was trained on $D = 1.4\\cdot10^{12}$ tokens. Roughly "
        "how many FLOPs did training take, using the usual approximation? (e.g. `1.2e22`)",
        5.88e23,
        "C ≈ 6·N·D: per parameter and token, the forward pass costs ~2 FLOPs (a multiply and an add) and the "
        "backward ~4. 6 × 7·10¹⁰ × 1.4·10¹² ≈ 5.9·10²³ FLOPs — about the same as Gopher's 6 × 2.8·10¹¹ × "
        "3·10¹¹ ≈ 5.0·10²³, which is what makes the Gopher/Chinchilla comparison a fixed-compute one.",
        wrong=((70e9 * 1.4e12, "that's N·D; each parameter costs ~6 FLOPs per token (2 forward + 4 backward)."),
               (2 * 70e9 * 1.4e12, "2·N·D is the forward pass only; training adds the backward pass (~2× more)."),),
        hint="training compute C ≈ 6·N·D.",
    ),
    ChoiceQuestion(
        "t5c",
        "Your compute budget grows **4×**. Under Chinchilla's compute-optimal scaling, the best model size…",
        {"A": "grows 4×", "B": "grows about 1.4×", "C": "stays the same", "D": "grows 2×"},
        "D",
        "Hoffmann et al. find N_opt ∝ C^a and D_opt ∝ C^b with a ≈ b ≈ 0.5: scale parameters and tokens "
        "equally, so with C ≈ 6ND, 4× compute = 2× parameters and 2× tokens. (Kaplan et al.'s N ∝ C^0.73 "
        "would have said ≈ 2.8×.)",
        {"A": "That puts all the extra compute into parameters and none into data — the pre-Chinchilla "
              "'bigger is better' extreme.",
         "B": "That would be N ∝ C^0.25: most of the budget going to data.",
         "C": "Then all the extra compute goes into data; Chinchilla scales both."},
    ),
    ChoiceQuestion(
        "t5d",
        "LLaMA-7B was trained on 1 trillion tokens, about 7× the Chinchilla-optimal 140 billion. Why?",
        {"A": "a mistake: the extra tokens wasted compute, since a 7B model cannot improve beyond its "
              "Chinchilla-optimal 140B tokens",
         "B": "Chinchilla-optimal minimises training compute for a target loss; a smaller model trained "
              "longer reaches a given loss with a cheaper model to *serve*, and its loss keeps falling "
              "with more tokens",
         "C": "training tokens cost no compute, only parameters do, so the extra tokens were free",
         "D": "to make it memorise its training set on purpose, which raises benchmark scores"},
        "B",
        "'Compute-optimal' is about the training budget only. When a model will answer many queries, "
        "inference dominates the lifetime cost, so 'over-training' a smaller model past 20 tokens/parameter is "
        "a good trade: its loss still falls with more data, only less per FLOP than a bigger model would gain.",
        {"A": "It is over-trained relative to Chinchilla-optimal, not undertrained, and on purpose.",
         "C": "Every training token costs ~6N FLOPs; tokens are not free.",
         "D": "Loss kept falling on held-out text; one pass over 1T tokens is not overfitting."},
    ),
    # ---- extra: DPO vs PPO
    NumberQuestion(
        "x_dpo_a",
        "DPO with $\\beta = 0.1$. For one pair, the policy's log-ratios to the reference are "
        "$\\log\\frac{\\pi_\\theta(y_c\\mid x)}{\\pi_{\\text{ref}}(y_c\\mid x)} = 0.5$ and "
        "$\\log\\frac{\\pi_\\theta(y_r\\mid x)}{\\pi_{\\text{ref}}(y_r\\mid x)} = -0.5$. What is the DPO loss of "
        "this pair? (natural log)",
        math.log1p(math.exp(-0.1)),
        "L = −log σ(β·(0.5 − (−0.5))) = −log σ(0.1) = log(1 + e^−0.1) ≈ 0.644: the Bradley–Terry loss with the "
        "implicit reward β·log(π_θ/π_ref) in place of a reward model's score.",
        wrong=((math.log1p(math.exp(-1.0)), "β is missing: the implicit reward is β·log(π_θ/π_ref)."),
               (math.log(2.0), "the two log-ratios don't cancel: chosen minus rejected is 0.5 − (−0.5)."),
               (math.log1p(math.exp(0.1)), "the sign: −log σ(β·(chosen − rejected)), not rejected − chosen.")),
        hint="DPO is the Bradley–Terry loss on implicit rewards β·log(π_θ/π_ref).",
    ),
    ChoiceQuestion(
        "x_dpo_b",
        "Compared with RLHF by PPO, what does DPO **not** need?",
        {"A": "a frozen reference model (usually the SFT model)",
         "B": "preference pairs (prompt, chosen, rejected) labelled by people or a judge model",
         "C": "a separately trained reward model, and sampling from the policy during training",
         "D": "a coefficient $\\beta$ that sets the strength of the KL constraint"},
        "C",
        "DPO solves the KL-regularised objective in closed form (π* ∝ π_ref·exp(r/β)), inverts it to write the "
        "reward through the policy, and fits that implicit reward to the preference pairs with the "
        "Bradley–Terry loss: an offline classification loss, no reward model and no rollouts.",
        {"A": "DPO's implicit reward is β·log(π_θ/π_ref): it needs the reference's log-probs.",
         "B": "DPO trains directly on preference pairs.",
         "D": "β is the KL coefficient of the objective DPO solves; it scales the implicit reward."},
    ),
    # ---- extra: why PPO clips
    NumberQuestion(
        "x_clip_a",
        "PPO's clipped surrogate for one token is "
        "$\\min\\bigl(\\rho A,\\ \\operatorname{clip}(\\rho, 1-\\varepsilon, 1+\\varepsilon)\\,A\\bigr)$. "
        "With $\\varepsilon = 0.2$, advantage $A = 2$ and ratio $\\rho = 1.5$, what is its value?",
        2.4,
        "ρA = 3.0, clip(1.5, 0.8, 1.2)·A = 2.4; the min is 2.4, a constant in θ: once the ratio passed 1.2 "
        "this token gives no gradient towards raising its probability further.",
        wrong=((3.0, "that's the unclipped ρA; PPO takes the min with the clipped term."),
               (1.6, "clip(ρ) is 1 + ε = 1.2, not 1 − ε = 0.8, when the ratio is above 1.")),
        hint="clip ρ into [0.8, 1.2] first, then take the smaller of the two products.",
    ),
    ChoiceQuestion(
        "x_clip_b",
        "Same objective with $\\varepsilon = 0.2$. A token has advantage $A = -1$ and ratio $\\rho = 0.5$ "
        "(its probability already fell a lot). What does the clipped objective do to this token's "
        "probability?",
        {"A": "nothing: the clipped term is the min and is constant, so the gradient is zero",
         "B": "keeps pushing it down, because the advantage is negative",
         "C": "pushes it back up towards ρ = 0.8",
         "D": "the objective is undefined for ρ < 1 − ε"},
        "A",
        "min(0.5·(−1), 0.8·(−1)) = min(−0.5, −0.8) = −0.8, the clipped constant: no gradient. The min makes "
        "the objective pessimistic — it removes the incentive to move further once the ratio left the trust "
        "region in the direction the advantage favours, but keeps the gradient when it moved the wrong way "
        "(e.g. ρ = 1.5 with A < 0).",
        {"B": "Compare ρA and clip(ρ)·A: which one does the min pick, and does it depend on θ?",
         "C": "Clipping never pulls the ratio back; it only stops pushing it further.",
         "D": "It is defined for every ρ > 0: compute both terms."},
    ),
    # ---- extra: GAE
    NumberQuestion(
        "x_gae_a",
        "Three response tokens with rewards $r = (0, 0, 1)$ and values $V = (0.2, 0.6, 0.9)$ (and 0 after the "
        "end). With $\\gamma = \\lambda = 1$, what is the GAE advantage $A_0$ of the first token?",
        0.8,
        "With γ = λ = 1, GAE is the Monte-Carlo return minus the value: A_0 = (0 + 0 + 1) − V_0 = 0.8. It is "
        "unbiased but carries the noise of every later reward.",
        wrong=((1.0, "that's the return alone; the advantage subtracts the baseline V_0."),
               (0.4, "that's the one-step TD error r_0 + V_1 − V_0, which is GAE with λ = 0.")),
        hint="with γ = λ = 1, A_t = (sum of rewards from t on) − V_t.",
    ),
    NumberQuestion(
        "x_gae_b",
        "Same rewards and values, now with $\\gamma = 1$ and $\\lambda = 0$. What is $A_0$?",
        0.4,
        "λ = 0 keeps only the one-step TD error δ_0 = r_0 + γV_1 − V_0 = 0 + 0.6 − 0.2 = 0.4: low variance, "
        "but as wrong as the value model is. λ between 0 and 1 trades this bias for the Monte-Carlo return's "
        "variance (0.95 is the common RLHF choice).",
        wrong=((0.8, "that's the λ = 1 advantage (return minus value); λ = 0 keeps only the first TD error."),
               (0.6, "that's r_0 + V_1; subtract V_0.")),
        hint="λ = 0: A_0 = δ_0 = r_0 + γ·V_1 − V_0.",
    ),
    # ---- extra: packing vs padding
    NumberQuestion(
        "x_pack_a",
        "A batch holds four sequences of 10, 20, 30 and 100 tokens, padded to the longest. What fraction of "
        "the batch's positions is padding? (e.g. `0.25`)",
        0.6,
        "The padded batch is 4 × 100 = 400 positions for 160 real tokens: 240/400 = 60% of the compute goes "
        "to padding. Packing concatenates examples into full rows (or sort-by-length bucketing groups similar "
        "lengths) to recover it.",
        wrong=((0.4, "that's the fraction of real tokens; the question asks for padding."),),
        hint="padded positions = rows × longest length; real tokens = the sum of the lengths.",
    ),
    ChoiceQuestion(
        "x_pack_b",
        "You pack several SFT examples into one 2,048-token row with EOS between them. What must you add so "
        "that training matches the unpacked examples?",
        {"A": "nothing: the EOS between examples tells the model where one ends, so attention and positions "
              "are already right",
         "B": "pad every example to the same length before packing so that the rows line up",
         "C": "a larger learning rate, since packing leaves fewer rows per epoch",
         "D": "position ids that restart at each example and an attention mask that is block-diagonal (no "
              "attention across examples); labels still mask each prompt"},
        "D",
        "Without a block-diagonal mask a token attends to the unrelated examples before it, and position ids "
        "keep counting across them: the model trains on contexts it never sees at inference. Restart the "
        "position ids per example and mask attention to the example (e.g. flash-attention varlen or a 4-D "
        "mask); labels still mask prompts and the first token of each example predicts nothing from the "
        "previous one.",
        {"A": "EOS tells the model where an answer ends, but causal attention still reads every earlier token "
              "in the row.",
         "B": "Padding is what packing removes; and the pads would still be attended across examples.",
         "C": "The number of target tokens per step is unchanged; nothing calls for a new learning rate."},
    ),
    # ---- extra: detecting reward hacking
    ChoiceQuestion(
        "x_hack_a",
        "During PPO the reward model's score climbs steadily, the KL to the reference climbs fast, responses "
        "get longer, and exact match on held-out tasks falls. What is most likely happening?",
        {"A": "training is working as intended", "B": "reward hacking: the policy exploits the reward model's "
         "errors (here, a length bias)",
         "C": "the learning rate is too low", "D": "the value model diverged"},
        "B",
        "The proxy (RM score) rises while a gold measure (held-out exact match) falls: the signature of reward "
        "over-optimisation (Goodhart). Look at samples, compare the RM with a gold metric or held-out human / "
        "judge evaluation, watch KL and length, and raise β or fix the RM.",
        {"A": "The gold measure falls while the proxy rises: the policy is not getting better.",
         "C": "A low learning rate would move slowly, not raise KL fast.",
         "D": "A diverged critic shows as exploding value loss or noisy advantages, not a rising RM score with "
              "falling quality."},
    ),
    ChoiceQuestion(
        "x_hack_b",
        "Which signal alone is **least** able to tell real improvement from reward hacking?",
        {"A": "the reward model's mean score on the training prompts",
         "B": "a held-out gold metric (exact match, human or independent judge ratings)",
         "C": "reading a sample of responses from each checkpoint",
         "D": "the agreement between the reward model and a second, independently trained reward model"},
        "A",
        "The RM score is the thing being optimised, so it rises in both cases. Detection needs a signal the "
        "policy is not optimising: a gold metric, people (or an independent judge) reading samples, or a "
        "second reward model the policy never saw.",
        {"B": "A gold metric is not optimised by the policy: it falls under hacking.",
         "C": "Reading samples is how hacks (repetition, filler, flattery) are usually found.",
         "D": "A held-out RM disagrees with the optimised one when the policy exploits the latter's errors."},
    ),
    # ---- extra: model collapse
    NumberQuestion(
        "x_collapse_a",
        "Each \"generation\" fits a Gaussian by maximum likelihood to $n = 10$ samples drawn from the previous "
        "generation's Gaussian (starting from the true one). After 10 generations, what is the expected "
        "fitted variance as a fraction of the true variance?",
        0.9 ** 10,
        "The maximum-likelihood variance is biased: E[σ̂²] = (n−1)/n · σ² = 0.9 σ². Each generation multiplies "
        "the expected variance by 0.9, so after 10 generations it is 0.9¹⁰ ≈ 0.35: the tails go first, the "
        "same mechanism Shumailov et al. (2024) call model collapse.",
        wrong=((1.0, "the MLE variance (dividing by n) is biased low by (n−1)/n each generation."),
               (0.9, "that's one generation; the shrinkage compounds."),
               (0.0, "it shrinks, but not to zero in 10 generations: (n−1)/n per generation.")),
        hint="E[σ̂²_MLE] = (n−1)/n · σ², applied once per generation.",
    ),
    ChoiceQuestion(
        "x_collapse_b",
        "You iterate: train on data, generate synthetic data with the model, train the next model. Which "
        "practice best prevents collapse?",
        {"A": "train each generation only on the newest synthetic data, the cleanest and most up to date",
         "B": "sample the synthetic data greedily (temperature 0) so that it contains less noise",
         "C": "keep the original human data and accumulate synthetic data alongside it, filtered and deduplicated",
         "D": "train each generation for more epochs so that it fits its data more closely"},
        "C",
        "Replacing real data by synthetic data compounds sampling and estimation errors generation after "
        "generation; accumulating real and synthetic data keeps the error bounded (Gerstgrasser et al., 2024). "
        "Filtering (correctness checks, ROUGE-L dedup as in Self-Instruct) and keeping diversity help too.",
        {"A": "That is exactly the replace-the-data loop in which collapse was shown.",
         "B": "Greedy sampling removes diversity and the tails even faster.",
         "D": "More epochs on a narrowing distribution fits it more closely; the tails still vanish."},
    ),
    # ---- extra: how much SFT data
    NumberQuestion(
        "x_sft_data_a",
        "LIMA (Zhou et al., 2023) fine-tuned a 65B LLaMA into a strong assistant with a small, carefully "
        "curated SFT set. How many examples?",
        1000,
        "1,000 curated prompt–response pairs. Its 'superficial alignment hypothesis': a strong base model "
        "already has the knowledge, and SFT mostly teaches the format and style — for which quality and "
        "diversity matter more than quantity. (Alpaca used 52K generated examples, Dolly 15K human-written.)",
        wrong=((52000, "52K is Alpaca's size; LIMA used far fewer."),
               (15000, "15K is Dolly's size; LIMA used far fewer.")),
        hint="it is in the paper's title: 'Less Is More for Alignment'.",
    ),
    ChoiceQuestion(
        "x_sft_data_b",
        "How do you find out whether **more** SFT data would help your model on its task?",
        {"A": "fine-tune on nested subsets (say 1/8, 1/4, 1/2 and all of the data) and plot the held-out "
              "metric against data size",
         "B": "use the 20-tokens-per-parameter rule: a 7B model needs about 140B tokens of SFT data",
         "C": "collect as much as the budget allows, since more data always helps",
         "D": "match the number of pre-training tokens, so that the model does not forget"},
        "A",
        "A learning curve on nested subsets shows whether the metric still climbs with data (collect more) "
        "or has flattened (improve quality, diversity or the base model instead). Style and format adapt with "
        "hundreds to thousands of good examples; new skills need more.",
        {"B": "That is Chinchilla's pre-training rule; the seed itself says it is not for fine-tuning.",
         "C": "More low-quality data can hurt, and data costs money: measure first.",
         "D": "SFT sets are many orders of magnitude smaller than pre-training corpora by design."},
    ),
]

QUESTIONS: dict[str, ChoiceQuestion | NumberQuestion] = {}
for _q in _BANK:
    if _q.qid in QUESTIONS:
        raise ValueError(f"duplicate question id {_q.qid!r}")
    QUESTIONS[_q.qid] = _q
del _q
