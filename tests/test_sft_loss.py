"""The SFT loss: shift, masking, both reductions, accumulation normalisation (pure tensor math)."""

import math

import pytest
import torch

from llmcourse.sft import IGNORE_INDEX, sft_loss, token_nll, window_normalised_loss


def _uniform_logits(B, T, V):
    return torch.zeros(B, T, V)


def test_uniform_logits_give_log_vocab_per_token():
    # every next-token distribution is uniform over V=5 → each target costs log 5
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, 3]])
    loss = sft_loss(_uniform_logits(1, 4, 5), labels)
    torch.testing.assert_close(loss, torch.tensor(math.log(5)))


def test_logit_at_t_is_scored_against_label_at_t_plus_1():
    # position 0's logits put all mass on token 3; label[1] = 3 → that term is ≈ 0.
    # Without the shift it would be scored against label[0] (ignored) and label[1] vs logits[1] (uniform).
    logits = torch.zeros(1, 2, 4)
    logits[0, 0, 3] = 50.0
    labels = torch.tensor([[IGNORE_INDEX, 3]])
    assert sft_loss(logits, labels).item() < 1e-6


def test_ignored_positions_do_not_change_the_loss():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 5, 7, generator=g)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 4, 2, IGNORE_INDEX]])
    other = logits.clone()
    other[0, 3:, :] += torch.randn(2, 7, generator=g) * 10  # logits at 3 predict label 4 (ignored), 4 is last
    torch.testing.assert_close(sft_loss(logits, labels), sft_loss(other, labels))


def test_mean_is_per_target_token_not_per_position():
    # two rows: row 0 has 1 target, row 1 has 3; uniform V=4 → every target costs log 4,
    # so the per-token mean is log 4 whatever the padding (a mean over all 2×3 positions would be 4/6·log 4)
    labels = torch.tensor([[IGNORE_INDEX, 1, IGNORE_INDEX, IGNORE_INDEX],
                           [IGNORE_INDEX, 1, 2, 3]])
    torch.testing.assert_close(sft_loss(_uniform_logits(2, 4, 4), labels), torch.tensor(math.log(4)))


def test_sequence_reduction_is_the_seed_per_example_sum():
    labels = torch.tensor([[IGNORE_INDEX, 1, IGNORE_INDEX], [IGNORE_INDEX, 1, 2]])
    per_seq = sft_loss(_uniform_logits(2, 3, 4), labels, reduction="sequence")
    torch.testing.assert_close(per_seq, torch.tensor([math.log(4), 2 * math.log(4)]))  # 1 and 2 targets


def test_sum_reduction_equals_mean_times_target_count():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 6, 9, generator=g)
    labels = torch.randint(0, 9, (3, 6), generator=g)
    labels[:, :2] = IGNORE_INDEX
    n = (labels[:, 1:] != IGNORE_INDEX).sum()
    torch.testing.assert_close(sft_loss(logits, labels, reduction="sum"), sft_loss(logits, labels) * n)


def test_token_nll_matches_cross_entropy_by_hand():
    logits = torch.tensor([[[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[IGNORE_INDEX, 1]])
    expected = -torch.log_softmax(torch.tensor([1.0, 2.0, 0.5]), -1)[1]
    torch.testing.assert_close(token_nll(logits, labels), expected.view(1, 1))


def test_loss_is_computed_in_float32_for_bf16_logits():
    logits = torch.randn(1, 4, 6).to(torch.bfloat16)
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, 3]])
    assert sft_loss(logits, labels).dtype == torch.float32


def test_window_normalisation_equals_the_big_batch_mean():
    # micro-batch A has 1 target, B has 3; mean of micro-means over-weights A, the window mean does not
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 5, 6, generator=g)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 3],
                           [IGNORE_INDEX, 1, 2, 4, IGNORE_INDEX]])
    full = sft_loss(logits, labels)
    parts = [(sft_loss(logits[i:i + 1], labels[i:i + 1]), (labels[i, 1:] != IGNORE_INDEX).sum()) for i in range(2)]
    window = sum(window_normalised_loss(m, n, 4) for m, n in parts)
    torch.testing.assert_close(window, full)
    naive = (parts[0][0] + parts[1][0]) / 2
    assert not torch.allclose(naive, full)


def test_no_target_token_is_an_error_not_nan():
    labels = torch.full((2, 4), IGNORE_INDEX)
    with pytest.raises(ValueError, match="no target tokens"):
        sft_loss(torch.zeros(2, 4, 3), labels)


def test_already_shifted_labels_are_named_in_the_error():
    with pytest.raises(ValueError, match="already shifted"):
        sft_loss(torch.zeros(2, 5, 3), torch.zeros(2, 4, dtype=torch.long))


def test_unknown_reduction_is_rejected():
    with pytest.raises(ValueError, match="reduction"):
        sft_loss(torch.zeros(1, 3, 3), torch.tensor([[IGNORE_INDEX, 1, 2]]), reduction="avg")


def test_matches_transformers_labels_loss(tiny_model):
    # transformers' own `labels=` loss is the same shifted per-token mean
    ids = torch.tensor([[1, 40, 41, 42, 2], [1, 50, 51, 2, 0]])
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 41, 42, 2], [IGNORE_INDEX, IGNORE_INDEX, 51, 2, IGNORE_INDEX]])
    mask = (torch.arange(5) < torch.tensor([[5], [4]])).long()
    with torch.no_grad():
        out = tiny_model(input_ids=ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(sft_loss(out.logits, labels), out.loss)
