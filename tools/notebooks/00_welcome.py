# %% [markdown]
# # 00 · Welcome: the course, the tiny model, and the task world
#
# This course teaches the **data and the objectives** of LLM post-training — the part after pre-training
# that turns a text predictor into an assistant:
#
# | notebook | stage | you implement |
# |---|---|---|
# | 00 welcome | the tools | an exact-match scorer |
# | 00b data curation | from a raw crawl to training text | shingles, Jaccard, MinHash, LSH, decontamination |
# | 01 SFT data | supervised fine-tuning | Alpaca formatting, label masking, a collator, the masked loss |
# | 02 reward model | reward modelling | the Bradley–Terry loss (stable), rankings → pairs, reading the score |
# | 03 PPO / RLHF | reinforcement learning | KL-penalised rewards, GAE, the clipped loss, the KL controller |
# | 04 augmentation | data augmentation | EDA operations, AEDA, a ROUGE-L filter |
# | 05 scaling laws | how much data | the Chinchilla law, compute-optimal allocation, fitting |
# | 06 interview prep | all of it | the classic questions, graded |
# | 07 DPO | preference optimisation without a reward model | sequence log-probs, the DPO loss, implicit rewards, the reference, IPO |
# | 08 GRPO | RL with a verifier | group advantages, the clipped token loss, loss normalisations |
#
# Every exercise is checked against the `llmcourse` package's own implementation, and then **your code is
# used for real**: your loss trains a model, your scorer measures it.
#
# **How grading works.** Each exercise has a cell to fill in (replace `raise NotImplementedError()`) and a
# test cell after it. Run the test cell: it prints `✓ …` or tells you which case failed and, when it
# recognises a classic mistake, names it. Instructors grade the same cells with nbgrader (with some hidden
# cases added); in self-study you just run them.
#
# Everything runs offline on a laptop CPU in seconds: a tiny model and data the package generates itself.

# %%
import random

import torch

from llmcourse import models, tasks, templates

rng = random.Random(0)  # every random choice in this notebook comes from here: re-running gives the same output

# %% [markdown]
# ## 1 · The task world
#
# Five small tasks on lists of digits, each with exactly one right answer — so we can *measure* what each
# training stage changes. Here they are as Alpaca-format records (`instruction`, `input`, `output`):

# %%
for record in tasks.instruction_records(5, seed=1):
    print(record)

# %% [markdown]
# The **base model** was pre-trained on the same operations written as plain sentences — it has read
# "the list 3 1 4 sorted is 1 3 4 ." thousands of times, but it has never seen an instruction format.
# One liberty with the textbook recipe: its loss was on each sentence's answer only ("1 3 4 ."). The rest
# of a sentence is a random draw (which task, which wording, which digits) that no model can predict,
# and leaving it out taught the same tiny model far more in the same minute of CPU (`bench/bench_base.py`).

# %%
for sentence in tasks.pretraining_text(5, seed=2):
    print(sentence)

# %% [markdown]
# For reward modelling the task world also produces **preference pairs**: the correct answer (`chosen`)
# against a subtly wrong one (`rejected`: a digit changed, the answer cut short, or rambling on). With
# `bias="length"` the chosen answers also carry filler `!` tokens — a spurious pattern a reward model will
# happily learn, and that notebook 03 will show a policy exploiting.

# %%
for pair in tasks.preference_pairs(3, seed=3):
    print(pair)
print(tasks.preference_pairs(1, seed=3, bias="length")[0])

# %% [markdown]
# ## 2 · The tokenizer
#
# A real Hugging Face `PreTrainedTokenizerFast` (byte-level BPE, trained by the package on the task world).
# Three special tokens matter all course long:
#
# * `<bos>` starts every sequence; `<eos>` ends every answer — the model must *learn* to emit it, or it never stops;
# * `<pad>` fills short rows in a batch. It is **not** `<eos>`: if it were, masking padding out of the loss would
#   also mask the real end-of-answer token.

# %%
tokenizer = models.load_tokenizer()
print("vocabulary:", len(tokenizer), "| pad/bos/eos ids:", tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
print(tokenizer.tokenize("Reverse the list.\n3 1 4"))
prompt = templates.alpaca_prompt("Reverse the list.", "3 1 4")
print(prompt)

# %% [markdown]
# It also has a **chat template** (used by chat datasets with `messages`):

# %%
chat = [{"role": "user", "content": "Sort the list in ascending order.\n3 1 2"}, {"role": "assistant", "content": "1 2 3"}]
print(tokenizer.apply_chat_template(chat, tokenize=False))

# %% [markdown]
# **Padding side.** Training batches are padded on the *right*; generation batches on the *left*, so that the
# last prompt token of every row sits in the same column and new tokens are appended right after it:

# %%
tokenizer.padding_side = "left"
print(tokenizer(["1 2", "1 2 3 4"], padding=True)["input_ids"])
tokenizer.padding_side = "right"
print(tokenizer(["1 2", "1 2 3 4"], padding=True)["input_ids"])

# %% [markdown]
# ## 3 · The model
#
# A Llama-style decoder from a `transformers` config — about a million parameters instead of billions, but
# the same classes: `AutoModelForCausalLM` for generation, and the same backbone with a one-number head
# (`AutoModelForSequenceClassification`, `num_labels=1`) for reward and value models.

# %%
model = models.load_model()
print(type(model).__name__, f"{models.count_parameters(model):,} parameters")
print(model.config.num_hidden_layers, "layers ×", model.config.hidden_size, "wide")
reward_model = models.load_model(kind="reward")
print(type(reward_model).__name__)

# %% [markdown]
# Ask the base model in the style it was trained on, then in an instruction format:

# %%
print(models.generate(model, tokenizer, ["the largest of 3 9 4 is", "the list 5 2 7 sorted is"]))
print(models.generate(model, tokenizer, [templates.alpaca_prompt("What is the largest number?", "3 9 4")]))


# %% [markdown]
# It knows something about the operations but not how to *answer an instruction*. Teaching that format is
# exactly what supervised fine-tuning (notebook 01) does. To measure it we need a scorer.
#
# ## Exercise · exact match (1 point)
#
# Implement `exact_match(predictions, references)`: the **fraction** of predictions equal to their
# reference, after normalising whitespace (generated text often starts with a space or ends with a newline;
# `"4  1"` and `"4 1"` are the same answer). Return a float in $[0, 1]$:
#
# $$\text{EM} = \frac{1}{n}\sum_{i=1}^{n} \mathbb{1}\left[\operatorname{norm}(\hat y_i) = \operatorname{norm}(y_i)\right]$$

# %% solution="exact_match"
def exact_match(predictions, references):
    """Share of predictions equal to their reference after whitespace normalisation."""
    ### BEGIN SOLUTION
    def norm(text):
        return " ".join(text.split())

    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    return sum(norm(p) == norm(r) for p, r in zip(predictions, references)) / len(references)
    ### END SOLUTION


# %% tests="test_exact_match" points=1
from llmcourse.checks import welcome as checks

checks.check_exact_match(exact_match)
### BEGIN HIDDEN TESTS
checks.check_exact_match(exact_match, hidden=True)
### END HIDDEN TESTS

# %% [markdown]
# Now use **your** scorer on the base model: 50 held-out problems in the Alpaca format. Expect (almost)
# zero — this is the number SFT will raise in notebook 01.

# %%
_, held_out = tasks.split_problems(0, 50, seed=7)
prompts = [templates.alpaca_prompt(p.instruction, p.input) for p in held_out]
outputs = models.generate(model, tokenizer, prompts, max_new_tokens=12)
print("base model, instruction prompts — exact match:", exact_match(outputs, [p.answer for p in held_out]))
for p, o in list(zip(held_out, outputs))[:3]:
    print(f"{p.instruction} {p.input!r} → {o!r} (expected {p.answer!r})")

# %% [markdown]
# Next: **00b · data curation** — from a raw web crawl to clean training text; then **01 · SFT data** — formats,
# templates, masking, and fine-tuning this model until it answers.
