"""The seed guide's code defects, demonstrated (docs/errata.md lists each with its correction).

Each test reproduces the seed's behaviour in a minimal form and shows the course's fix next to it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- -log(sigmoid(x)) (coding question 2)


def seed_reward_model_loss(chosen, rejected):
    """The seed's loss, as written: -log(1 / (1 + exp(-(c - r)))), averaged."""
    with np.errstate(over="ignore", divide="ignore"):
        sigmoid = 1 / (1 + np.exp(-(chosen - rejected)))
        return np.mean(-np.log(sigmoid))


def test_seed_bt_loss_is_inf_for_a_large_negative_difference():
    # r_c − r_r = −1000: the true loss is log(1 + e^1000) = 1000 (to double precision); exp(1000) overflows
    got = seed_reward_model_loss(np.array([0.0]), np.array([1000.0]))
    assert got == np.inf
    assert np.logaddexp(0.0, 1000.0) == 1000.0


def test_seed_bt_loss_overflows_in_half_precision_already_at_minus_twelve():
    # float16's largest value is 65504 < e^12 ≈ 162755, so σ(−12) becomes 0 and the loss inf; the truth is ≈ 12.000006
    diff = np.float16(-12.0)
    assert seed_reward_model_loss(diff, np.float16(0.0)) == np.inf
    assert math.isclose(float(np.logaddexp(np.float32(0.0), -np.float32(diff))), 12.000006, rel_tol=1e-6)


def test_the_seeds_suggested_rewrite_is_just_as_unstable():
    # the seed's comment proposes -log(1 + exp(-x)), the same expression: exp(1000) still overflows
    with np.errstate(over="ignore"):
        assert np.log(1 + np.exp(1000.0)) == np.inf


def test_package_bt_loss_is_finite_and_exact_where_the_seeds_is_inf():
    from llmcourse.reward import bradley_terry_loss_numpy

    assert bradley_terry_loss_numpy(np.array([0.0]), np.array([1000.0])) == pytest.approx(1000.0)


def test_bt_loss_is_shift_invariant_so_scores_are_not_regression_targets():
    # only r_c − r_r enters the loss: adding 5 to every score changes nothing
    from llmcourse.reward import bradley_terry_loss_numpy

    c, r = np.array([2.5, 3.1, 1.8, 4.0]), np.array([1.0, 2.0, 0.5, 2.1])  # the seed's first example batch
    assert bradley_terry_loss_numpy(c + 5, r + 5) == pytest.approx(bradley_terry_loss_numpy(c, r), rel=1e-12)


# --------------------------------------------------------------------------- the JSON loader (coding question 1)


class SeedLoader:
    """The seed's SFTDataset.__init__ loading logic, verbatim in behaviour."""

    def __init__(self, json_path):
        try:
            with open(json_path, "r", encoding="utf-8") as f:
                self.data = json.load(f)
        except Exception as e:
            print(f"Error loading or parsing JSON file: {e}")
            self.data = []


BROKEN = '[\n  {"instruction": "Reverse the list.", "input": "3 1 4", "output": "4 1 3"},\n' \
         '  {"instruction": "Sort the list.", "input": "3 1 4", "output": "1 3 4",}\n]\n'  # trailing comma, line 3


def test_seed_loader_turns_a_syntax_error_into_an_empty_dataset(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text(BROKEN)
    with contextlib.redirect_stdout(io.StringIO()):
        ds = SeedLoader(path)
    assert ds.data == []  # training would "run" on nothing, or fail far away in the DataLoader


def test_read_records_raises_naming_file_and_line(tmp_path):
    from llmcourse.records import RecordError, read_records

    path = tmp_path / "sft.json"
    path.write_text(BROKEN)
    with pytest.raises(RecordError, match=rf"{path.name}:3:"):
        read_records(path)


# --------------------------------------------------------------------------- missing Dict import (coding question 3)

# The seed's EDA snippet imports only List, yet annotates `-> Dict[str, str]`: a minimal reproduction.
EDA_SNIPPET = '''
import random
from typing import List

def perform_eda(sentence: str, alpha_sr: float = 0.1, alpha_rd: float = 0.1) -> Dict[str, str]:
    return {"original": sentence}
'''


def test_seed_eda_snippet_raises_name_error_for_dict():
    ns: dict = {}
    with pytest.raises(NameError, match="'Dict' is not defined"):
        exec(compile(EDA_SNIPPET, "seed_eda.py", "exec", dont_inherit=True), ns)  # no __future__ from here
        ns["perform_eda"].__annotations__  # Python ≥ 3.14 evaluates annotations lazily, on first access


def test_eda_snippet_with_the_import_defines_perform_eda():
    ns: dict = {}
    exec(compile(EDA_SNIPPET.replace("from typing import List", "from typing import Dict, List"), "fixed.py", "exec"), ns)
    assert ns["perform_eda"]("a b") == {"original": "a b"}


# --------------------------------------------------------------------------- prompt vs full text (coding question 1)


def test_seed_prompt_tokens_are_not_a_prefix_of_the_full_text(tokenizer):
    # "Output: " ends in a space; byte-level BPE merges it with the answer's first digit (" 4") in the full text
    prompt = "Instruction: Reverse the list.\nInput: 3 1 4\nOutput: "
    answer = "4 1 3"
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
    assert full[: len(p)] != p
    # the seed masks len(p) tokens of the full text: the mask swallows the first answer token
    labels = list(full)
    labels[: len(p)] = [-100] * len(p)
    target_text = tokenizer.decode([t for t in labels if t != -100])
    assert target_text != answer and answer.endswith(target_text.strip())


def test_tokenising_prompt_and_response_separately_makes_the_seam_exact(tokenizer):
    # the course's way: tokenise the pieces and concatenate the ids; labels are exactly the response + EOS
    prompt, answer = "Instruction: Reverse the list.\nInput: 3 1 4\nOutput:", " 4 1 3"
    p = [tokenizer.bos_token_id] + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    labels = [-100] * len(p) + r
    assert tokenizer.decode([t for t in labels if t != -100], skip_special_tokens=True) == answer


# --------------------------------------------------------------------------- sequence KL = sum of per-token terms (theory Q3)


def _policy(rng, vocab, temp=1.0):
    """A first-order autoregressive 'LM': next-token probabilities given the previous token (row `vocab` = start)."""
    logits = rng.normal(size=(vocab + 1, vocab)) / temp
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def _seq_logprob(table, seq, vocab):
    prev, lp = vocab, 0.0
    for tok in seq:
        lp += math.log(table[prev, tok])
        prev = tok
    return lp


def test_sequence_kl_equals_expected_sum_of_per_token_log_ratios_under_the_policy():
    # KL(π‖π_ref) over whole sequences, by enumerating all 3^4 sequences, equals the chain-rule sum
    # Σ_t E_{y<t∼π} KL(π(·|y<t) ‖ π_ref(·|y<t)), and the Monte-Carlo mean of Σ_t log-ratio_t for y ∼ π
    rng = np.random.default_rng(0)
    vocab, length = 3, 4
    pi, ref = _policy(rng, vocab), _policy(rng, vocab)
    seqs = list(itertools.product(range(vocab), repeat=length))
    lp = np.array([_seq_logprob(pi, s, vocab) for s in seqs])
    lr = np.array([_seq_logprob(ref, s, vocab) for s in seqs])
    exact = float(np.sum(np.exp(lp) * (lp - lr)))
    # chain rule: distribution of the previous token at each step under π, times the per-step KL
    step_kl = np.sum(pi * (np.log(pi) - np.log(ref)), axis=1)  # KL of the next-token distributions, per previous token
    state = np.zeros(vocab + 1)
    state[vocab] = 1.0
    chain = 0.0
    for _ in range(length):
        chain += float(state @ step_kl)
        nxt = state @ pi
        state = np.concatenate([nxt, [0.0]])
    assert chain == pytest.approx(exact, rel=1e-10)
    # Monte Carlo with samples from π: the per-token log-ratios of the *sampled* tokens, summed
    idx = rng.choice(len(seqs), size=20_000, p=np.exp(lp))
    estimates = (lp - lr)[idx]
    assert abs(estimates.mean() - exact) < 4 * estimates.std() / math.sqrt(len(idx))
    # …but the same sum under the *reference's* samples estimates a different quantity (−KL(π_ref‖π))
    idx_ref = rng.choice(len(seqs), size=20_000, p=np.exp(lr))
    assert (lp - lr)[idx_ref].mean() < 0 < exact


# --------------------------------------------------------------------------- the hypothetical loss (coding question 4)


def seed_hypothetical_loss(params, tokens, p_scale=1e10, t_scale=2e11):
    """The seed's made-up law (its constants A=3, B=2.5, α=0.35, β=0.45, L∞=1.6)."""
    return 3.0 / (params / p_scale) ** 0.35 + 2.5 / (tokens / t_scale) ** 0.45 + 1.6


def test_seed_hypothetical_loss_is_far_from_the_published_fit():
    # at Chinchilla (70B, 1.4T) the published fit predicts ≈ 1.94 nats/token; the seed's curve says ≈ 4.16
    from llmcourse.scaling import chinchilla_loss

    published = float(chinchilla_loss(70e9, 1.4e12))
    assert published == pytest.approx(1.937, abs=1e-3)
    assert seed_hypothetical_loss(70e9, 1.4e12) > 2 * published


def test_chinchilla_beats_gopher_at_about_equal_compute_under_the_published_fit():
    # C = 6ND: Gopher 6·280e9·300e9 = 5.0e23, Chinchilla 6·70e9·1.4e12 = 5.9e23 (18% more); the fit
    # predicts a lower loss for Chinchilla (1.937 < 1.993) — an equal-compute comparison the seed's
    # fixed-data curves cannot show
    from llmcourse.scaling import chinchilla_loss, training_flops

    assert float(training_flops(70e9, 1.4e12)) / float(training_flops(280e9, 300e9)) == pytest.approx(1.1667, rel=1e-3)
    assert chinchilla_loss(70e9, 1.4e12) < chinchilla_loss(280e9, 300e9)


# --------------------------------------------------------------------------- the errata page


def test_errata_page_lists_every_required_erratum():
    text = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")
    for needle in ["-np.log(sigmoid", "self.data = []", "Dict", "prefix", "STFT", "heavier",
                   "per token", "hypothetical_loss", "Llama 3", "OpenOrca", "three"]:
        assert needle in text, f"docs/errata.md does not mention {needle!r}"
