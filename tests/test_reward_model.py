"""The reward model glue and trainer: where the score is read, building/saving/calibrating, training."""

import math

import pytest
import torch

from llmcourse import models, reward, tasks


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer()


def _tiny_rm(tok, seed=0, **overrides):
    from transformers import AutoModelForSequenceClassification

    cfg = models.tiny_config(tok, hidden_size=32, num_layers=2, num_heads=2, num_labels=1, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_config(cfg)
    reward.init_score_head(model, seed)
    return model.eval()


@pytest.fixture(scope="module")
def rm(tok):
    return _tiny_rm(tok)


SEQS_TEXT = [("Reverse the list.\n3 1 4", "4 1 3"), ("Add the two numbers.\n2 5", "7"),
             ("What is the largest number?\n1 9 2 8 3", "9 9 9")]


def _seqs(tok):
    return [reward.encode_response(tok, p, r) for p, r in SEQS_TEXT]


def _one_by_one(model, seqs):
    with torch.no_grad():
        return torch.stack([reward.reward_scores(model, torch.tensor([s]), torch.ones(1, len(s), dtype=torch.long))[0]
                            for s in seqs])


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("extra", [0, 3, 11])
def test_score_does_not_depend_on_padding_side_or_length(tok, rm, side, extra):
    # property: batching with any padding gives each sequence its unpadded score
    seqs = _seqs(tok)
    ids, mask = reward.pad_sequences(seqs, tok.pad_token_id, side)
    pad = torch.full((len(seqs), extra), tok.pad_token_id)
    zeros = torch.zeros((len(seqs), extra), dtype=torch.long)
    ids = torch.cat([ids, pad], 1) if side == "right" else torch.cat([pad, ids], 1)
    mask = torch.cat([mask, zeros], 1) if side == "right" else torch.cat([zeros, mask], 1)
    with torch.no_grad():
        got = reward.reward_scores(rm, ids, mask)
    torch.testing.assert_close(got, _one_by_one(rm, seqs), atol=1e-5, rtol=1e-5)


def test_hf_pooling_agrees_when_pad_differs_from_eos(tok, rm):
    ids, mask = reward.pad_sequences(_seqs(tok), tok.pad_token_id, "right")
    with torch.no_grad():
        torch.testing.assert_close(reward.reward_scores(rm, ids, mask), rm(input_ids=ids, attention_mask=mask).logits[:, 0],
                                   atol=1e-5, rtol=1e-5)


def test_hf_pooling_misses_the_eos_when_pad_equals_eos_but_ours_does_not(tok):
    # transformers pools at the rightmost token != pad_token_id: with PAD = EOS it skips the EOS itself
    model = _tiny_rm(tok, pad_token_id=tok.eos_token_id)
    seqs = _seqs(tok)
    ids, mask = reward.pad_sequences(seqs, tok.eos_token_id, "right")
    with torch.no_grad():
        ours = reward.reward_scores(model, ids, mask)
        hf = model(input_ids=ids, attention_mask=mask).logits[:, 0]
    torch.testing.assert_close(ours, _one_by_one(model, seqs), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(hf, ours, atol=1e-4)


def test_shared_prompt_scores_and_gradients_equal_full_sequences(tok, rm):
    # property: encoding the prompt once and reusing its keys/values changes nothing but the cost
    pairs = [{"prompt": p, "chosen": r, "rejected": r + " 5"} for p, r in SEQS_TEXT]
    ds = reward.PreferenceDataset(pairs, tok, 256)
    full = reward.PreferenceCollator(tok.pad_token_id)(ds.examples)
    shared = reward.PreferenceCollator(tok.pad_token_id, share_prompt=True)(ds.examples)
    assert shared["prompt_ids"].shape[0] == 3 and shared["input_ids"].shape[0] == 6
    a = reward.reward_scores(rm, full["input_ids"], full["attention_mask"])
    b = reward.reward_scores_shared_prompt(rm, shared["prompt_ids"], shared["prompt_mask"], shared["input_ids"],
                                           shared["attention_mask"])
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    w = rm.model.layers[0].self_attn.q_proj.weight
    ga, = torch.autograd.grad((a[:3] - a[3:]).sum(), w)
    gb, = torch.autograd.grad((b[:3] - b[3:]).sum(), w)
    torch.testing.assert_close(gb, ga, atol=1e-5, rtol=1e-4)


def _tiny_gpt2_rm(tok):
    from transformers import AutoModelForSequenceClassification, GPT2Config

    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=64, num_labels=1,
                     pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return AutoModelForSequenceClassification.from_config(cfg).eval()


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_shared_prompt_stays_on_with_the_installed_transformers(tok, rm, family):
    # transformers 5.25 renamed the backbone's `past_key_values` argument to `cache`: the speed-up was
    # silently off. This fails if a future rename turns it off again, or if it warns (stderr zeroes a cell).
    import warnings

    model = rm if family == "llama" else _tiny_gpt2_rm(tok)
    assert reward.supports_shared_prompt(model), f"shared-prompt scoring is off for {type(model.base_model).__name__}"
    pairs = [{"prompt": p, "chosen": r, "rejected": r + " 5"} for p, r in SEQS_TEXT]
    ds = reward.PreferenceDataset(pairs, tok, 64)
    shared = reward.PreferenceCollator(tok.pad_token_id, share_prompt=True)(ds.examples)
    full = reward.PreferenceCollator(tok.pad_token_id)(ds.examples)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = reward.reward_scores_shared_prompt(model, shared["prompt_ids"], shared["prompt_mask"], shared["input_ids"],
                                               shared["attention_mask"])
    torch.testing.assert_close(b, reward.reward_scores(model, full["input_ids"], full["attention_mask"]),
                               atol=1e-5, rtol=1e-5)


def test_trainer_takes_the_shared_prompt_path(tok, monkeypatch):
    from llmcourse.reward import model as reward_model

    calls = []
    real = reward_model.reward_scores_shared_prompt
    monkeypatch.setattr(reward_model, "reward_scores_shared_prompt", lambda *a, **k: calls.append(1) or real(*a, **k))
    reward.train_reward_model(_tiny_rm(tok), tok, _pairs(8, 0), reward.RewardConfig(max_steps=2, logging_steps=1,
                              per_device_train_batch_size=4), progress=False)
    assert len(calls) >= 2, "train_reward_model scored whole sequences: share_prompt=True had no effect"


def test_trainer_gives_the_same_losses_with_and_without_prompt_sharing(tok):
    losses = []
    for share in (True, False):
        cfg = reward.RewardConfig(max_steps=3, logging_steps=1, per_device_train_batch_size=4, share_prompt=share)
        hist = reward.train_reward_model(_tiny_rm(tok), tok, _pairs(12, 0), cfg, progress=False)
        losses.append(torch.tensor([h["loss"] for h in hist]))
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=1e-5)


def test_reward_model_needs_one_output(tok):
    from transformers import AutoModelForSequenceClassification

    two = AutoModelForSequenceClassification.from_config(models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2,
                                                                            num_labels=2))
    with pytest.raises(ValueError, match="num_labels=1"):
        reward.reward_scores(two, torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))


def test_from_causal_lm_copies_backbone_and_seeds_head(tok):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    causal = AutoModelForCausalLM.from_config(models.tiny_config(tok, hidden_size=32, num_layers=1, num_heads=2))
    a, b = reward.reward_model_from_causal_lm(causal, seed=5), reward.reward_model_from_causal_lm(causal, seed=5)
    torch.testing.assert_close(a.model.embed_tokens.weight, causal.model.embed_tokens.weight)
    torch.testing.assert_close(a.score.weight, b.score.weight)  # same seed → same head
    assert not a.training


def test_score_texts_checks_lengths(tok, rm):
    with pytest.raises(ValueError, match="2 prompts for 1 responses"):
        reward.score_texts(rm, tok, ["a", "b"], ["x"])
    with pytest.raises(TypeError, match="lists of strings"):
        reward.score_texts(rm, tok, "a", "x")


def test_calibration_folds_into_head_and_survives_save_load(tok, tmp_path):
    model = _tiny_rm(tok, seed=3)
    prompts = [p for p, _ in SEQS_TEXT] * 2
    responses = ["1", "2 3", "4 5 6", "7", "8 9", "0"]
    gain, bias = reward.calibrate_reward_model(model, tok, prompts, responses)
    after = reward.score_texts(model, tok, prompts, responses)
    assert abs(float(after.mean())) < 1e-5 and float(after.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    reward.save_reward_model(model, tok, tmp_path / "rm")
    loaded = reward.load_reward_model(tmp_path / "rm")
    torch.testing.assert_close(reward.score_texts(loaded, tok, prompts, responses), after, atol=1e-5, rtol=1e-5)


def test_calibration_refuses_negative_gain(tok, rm):
    with pytest.raises(ValueError, match="gain must be positive"):
        reward.apply_calibration(rm, -1.0, 0.0)


def test_load_reward_model_from_base_is_reproducible():
    a, b = reward.load_reward_model(seed=7), reward.load_reward_model(seed=7)
    torch.testing.assert_close(a.score.weight, b.score.weight)
    assert a.config.num_labels == 1 and not a.training


# --------------------------------------------------------------------------- trainer


def _pairs(n, seed):
    return tasks.preference_pairs(n, seed)


def test_trainer_smoke_history_and_metrics(tok):
    model = _tiny_rm(tok)
    cfg = reward.RewardConfig(max_steps=4, logging_steps=2, per_device_train_batch_size=4, eval_at_start=True)
    hist = reward.train_reward_model(model, tok, _pairs(16, 0), cfg, eval_pairs=_pairs(8, 1), progress=False)
    train_rows = [h for h in hist if "loss" in h]
    eval_rows = [h for h in hist if "eval_accuracy" in h]
    assert [h["step"] for h in train_rows] == [2, 4] and [h["step"] for h in eval_rows] == [0, 4]
    assert train_rows[0]["filtered_pairs"] == 0
    assert all(math.isfinite(h["loss"]) and 0 <= h["accuracy"] <= 1 for h in train_rows)
    assert eval_rows[-1]["eval_pairs"] == 8


def test_trainer_changes_scores_in_the_right_direction(tok):
    # one repeated pair: after a few steps r_c − r_r must have grown
    model = _tiny_rm(tok)
    pair = [{"prompt": "Q", "chosen": "1 2 3", "rejected": "3 2 1"}] * 8
    before = reward.score_pairs(model, tok, pair[:1])
    reward.train_reward_model(model, tok, pair, reward.RewardConfig(max_steps=5, learning_rate=1e-2,
                                                                    per_device_train_batch_size=8), progress=False)
    after = reward.score_pairs(model, tok, pair[:1])
    assert float(after[0] - after[1]) > float(before[0] - before[1]) + 0.1


def test_trainer_uses_a_custom_loss(tok):
    calls = []

    def my_loss(chosen, rejected):
        calls.append(chosen.shape)
        return torch.nn.functional.softplus(rejected - chosen).mean()

    reward.train_reward_model(_tiny_rm(tok), tok, _pairs(8, 0), reward.RewardConfig(max_steps=2, per_device_train_batch_size=4),
                              loss_fn=my_loss, progress=False)
    assert calls == [torch.Size([4]), torch.Size([4])]


def test_trainer_passes_margins_to_the_loss(tok):
    seen = []

    def my_loss(chosen, rejected, margin):
        seen.append(margin.tolist())
        return reward.bradley_terry_loss(chosen, rejected, margin)

    pairs = [{"prompt": "Q", "chosen": "1", "rejected": "2", "margin": 2.0}] * 2
    reward.train_reward_model(_tiny_rm(tok), tok, pairs, reward.RewardConfig(max_steps=1, per_device_train_batch_size=2),
                              loss_fn=my_loss, progress=False)
    assert seen == [[2.0, 2.0]]


def test_trainer_refuses_a_numpy_loss_with_a_clear_error(tok):
    def numpy_loss(chosen, rejected):
        return float(reward.bradley_terry_loss_numpy(chosen.detach().numpy(), rejected.detach().numpy()))

    with pytest.raises(TypeError, match="NumPy loss cannot train"):
        reward.train_reward_model(_tiny_rm(tok), tok, _pairs(4, 0), reward.RewardConfig(max_steps=1),
                                  loss_fn=numpy_loss, progress=False)


def test_trainer_reports_filtered_pairs(tok):
    pairs = _pairs(6, 0) + [{"prompt": "Q " * 200, "chosen": "1", "rejected": "2"}]
    hist = reward.train_reward_model(_tiny_rm(tok), tok, pairs, reward.RewardConfig(max_steps=1, max_length=128,
                                                                                    per_device_train_batch_size=6),
                                     progress=False)
    assert hist[0]["filtered_pairs"] == 1


def test_trainer_groups_ranking_pairs_in_one_batch(tok):
    sizes = []

    def my_loss(chosen, rejected):
        sizes.append(chosen.shape[0])
        return reward.bradley_terry_loss(chosen, rejected)

    rankings = [{"prompt": f"P{i}", "responses": ["a", "b", "c", "d"]} for i in range(3)]  # 6 pairs each
    pairs = reward.rankings_to_pairs(rankings)
    reward.train_reward_model(_tiny_rm(tok), tok, pairs, reward.RewardConfig(num_train_epochs=1, per_device_train_batch_size=1),
                              loss_fn=my_loss, progress=False)
    assert sizes == [6, 6, 6]


@pytest.mark.parametrize("bad", [dict(learning_rate=0), dict(max_steps=0), dict(per_device_train_batch_size=0),
                                 dict(max_grad_norm=-1.0), dict(mixed_precision="fp8")])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        reward.RewardConfig(**bad)


def test_trainer_saves_and_reloads(tok, tmp_path):
    model = _tiny_rm(tok)
    out = tmp_path / "rm"
    reward.train_reward_model(model, tok, _pairs(4, 0), reward.RewardConfig(max_steps=1, output_dir=str(out)), progress=False)
    loaded = reward.load_reward_model(out)
    torch.testing.assert_close(reward.score_texts(loaded, tok, ["Q"], ["1"]), reward.score_texts(model, tok, ["Q"], ["1"]))


def test_filler_preference_scores_in_the_template_it_is_given(tok, monkeypatch):
    from llmcourse.reward import trainer

    seen = []

    def fake_scores(model, tokenizer, prompts, responses, **kw):
        seen.append((prompts[0], responses[0]))
        return torch.tensor([float(len(r)) for r in responses])  # longer scores higher: filler always wins

    monkeypatch.setattr(trainer, "score_texts", fake_scores)
    assert reward.filler_preference(None, tok, 10, template="simple") == 1.0
    (p_plain, r_plain), (p_pad, r_pad) = seen
    assert p_plain == p_pad and p_plain.startswith("Instruction: ") and p_plain.endswith("Output:")
    assert r_plain.startswith(" ") and r_pad == r_plain + tasks.FILLER * 3
    seen.clear()
    reward.filler_preference(None, tok, 10)  # default: Alpaca, as the notebooks' reward models
    assert seen[0][0].startswith("Below is an instruction") and not seen[0][1].startswith(" ")


@pytest.mark.slow
def test_task_reward_model_recipe_learns_the_task_world(tmp_path, monkeypatch):
    # the short version of bench/bench_reward.py --quality (440 steps → 96.7 %): 100 steps reach ≈ 88 %
    base = models.base_model_path()
    monkeypatch.setattr(models, "base_model_path", lambda progress=True: base)
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))  # the trained reward model goes here
    cfg = reward.RewardConfig(max_steps=100, warmup_steps=10, eval_steps=100, logging_steps=50)
    run = reward.train_task_reward_model(config=cfg, progress=False, cache=True)
    assert run.metrics["template"] == "simple" and run.metrics["steps"] == 100
    assert run.metrics["accuracy"] >= 0.75, run.metrics
    assert 0.0 <= run.metrics["filler_preference"] <= 1.0
    again = reward.train_task_reward_model(config=cfg, progress=False, cache=True)  # from the cache, not retrained
    assert again.metrics == run.metrics and list(tmp_path.glob("reward-clean-*"))
