"""`demo` with a model's own chat template (issue 22): ``template = "chat"`` renders SFT records, reward
pairs and PPO prompts with ``tokenizer.apply_chat_template``; ``"auto"`` picks it for a registered chat
model; a tokenizer without a chat template is refused before any model loads."""

from __future__ import annotations

import copy
import json
import math

import pytest

from llmcourse import cli, models, templates
from llmcourse.demo import DemoConfig, demo_settings, run_demo
from llmcourse.reward import task_preference_data
from llmcourse.sft.data import render

NAME = "smollm2-135m-instruct"


def test_a_chat_exchange_is_rendered_as_the_sft_stage_renders_a_chat_record(tokenizer):
    """templates.single_turn("chat") (reward pairs, PPO prompts) and sft.data.render (SFT) agree, so the
    reward model and PPO see the prompts the SFT model was trained on."""
    prompt, answer = templates.single_turn("chat", "Add the numbers.", "2 3", "5", tokenizer=tokenizer)
    record = {"messages": [{"role": "user", "content": "Add the numbers.\n\n2 3"}, {"role": "assistant", "content": "5"}]}
    assert (prompt, answer) == render(record, "chat", tokenizer)
    assert prompt.endswith("<|assistant|>\n") and not prompt.startswith(tokenizer.bos_token)
    assert templates.response("chat", "5") == "5"  # the EOS id ends the turn at tokenisation
    train, held = task_preference_data(8, 4, template="chat", tokenizer=tokenizer)
    assert all(p["prompt"].startswith("<|user|>\n") and not p["chosen"].startswith(" ") for p in train + held)


def test_chat_without_a_tokenizer_or_its_template_is_refused(tokenizer):
    with pytest.raises(ValueError, match="needs the tokenizer"):
        templates.single_turn("chat", "Hi")
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    with pytest.raises(ValueError, match="has no chat template; use template='alpaca' or 'simple'"):
        templates.single_turn("chat", "Hi", tokenizer=plain)
    with pytest.raises(ValueError, match="'alpaca', 'simple' or 'chat'"):
        templates.single_turn("chatml", "Hi")


def test_auto_template_is_chat_for_a_registered_chat_model_only(tmp_path):
    assert DemoConfig().template == "simple" and DemoConfig(model=NAME).template == "chat"
    assert DemoConfig(model=NAME, template="alpaca").template == "alpaca"
    with pytest.raises(ValueError, match="'simple', 'alpaca', 'chat' or 'auto'"):
        DemoConfig(template="chatml")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[sft]\nlearning_rate = 1e-5\n")
    demo, stages = demo_settings({"model": NAME}, str(cfg))  # the model reaches "auto" through a config file too
    assert demo.template == "chat" and stages["sft"].template == "chat"
    cfg.write_text('[demo]\ntemplate = "simple"\n')
    assert demo_settings({"model": NAME}, str(cfg))[0].template == "simple"


def test_demo_refuses_chat_when_the_tokenizer_has_none_before_the_model_loads(tmp_path, monkeypatch, tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    monkeypatch.setattr(models, "load_tokenizer", lambda *a, **k: plain)

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the template was checked")

    monkeypatch.setattr(models, "load_model", refuse)
    with pytest.raises(ValueError, match="has no chat template; set template = 'simple' or 'alpaca'"):
        run_demo(DemoConfig(template="chat", quick=True, output=str(tmp_path / "o")))
    assert not (tmp_path / "o").exists()


def _chats(n):
    words = ["apple", "river", "stone", "cloud", "green", "table", "light", "north", "piano", "sugar", "tiger", "water"]
    return [{"messages": [{"role": "user", "content": "Say a word."}, {"role": "assistant", "content": "Which one?"},
                          {"role": "user", "content": f"Repeat the word {w}."}, {"role": "assistant", "content": w}]}
            for w in words[:n]]


@pytest.mark.slow  # runs the quick demo twice
@pytest.mark.parametrize("kind", ["chat", "preference"])
def test_quick_demo_with_the_chat_template(tmp_path, monkeypatch, kind):
    """The embedded tokenizer's chat template: multi-turn chats train SFT (refused by 'simple'), and
    conversational preference pairs train the reward model, evaluated on the held-out ones, and PPO on
    their prompts (where that reward model learnt), rendered in the chat template."""
    from llmcourse import ppo

    seen = []
    real_train_ppo = ppo.train_ppo

    def spy(policy, tokenizer, reward_model, prompts, *a, **k):
        seen.extend(prompts)
        return real_train_ppo(policy, tokenizer, reward_model, prompts, *a, **k)

    monkeypatch.setattr(ppo, "train_ppo", spy)
    if kind == "chat":
        rows = _chats(12)
    else:
        rows = [{"prompt": [{"role": "user", "content": f"Repeat the number {i}."}],
                 "chosen": [{"role": "assistant", "content": str(i)}],
                 "rejected": [{"role": "assistant", "content": str(i + 1)}]} for i in range(12)]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[demo]\ntemplate = "chat"\n')
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--data", str(data), "--config", str(cfg), "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["template"] == "chat" and results["stages"]["sft"]["template"] == "chat"
    if kind == "chat":
        assert math.isfinite(results["sft_eval_loss_before"]) and results["sft_eval_loss"] != results["sft_eval_loss_before"]
        assert "Repeat the word" in (out / "samples.md").read_text()
    else:
        assert "(11 train / 1 held-out pairs)" in results["data"] and "PPO on their prompts" in results["data"]
        assert 0.0 <= results["reward_model_accuracy"] <= 1.0
        assert len(set(seen)) == 11 and all(p.startswith("<|user|>\nRepeat the number ") for p in seen)
    if kind == "chat":  # PPO on task-world prompts, in the chat template too
        assert seen and all(p.startswith("<|user|>\n") and p.endswith("<|assistant|>\n") for p in seen)
