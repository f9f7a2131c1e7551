"""Train SFT, a reward model or DPO for a few steps; launched by tests/test_distributed.py.

    python tests/dist/train_stage.py sft OUT            # one process
    torchrun --nproc_per_node 2 tests/dist/train_stage.py sft OUT

The global batch is fixed (16); each process takes 16 / WORLD_SIZE rows per step. The main process
writes OUT/history.json and the model (through the trainer's own save); every call to a model's or
tokenizer's ``save_pretrained`` is logged to OUT/writes-rank<R>.txt so the test can see who wrote.
"""

import json
import sys
import types
from pathlib import Path

from llmcourse import models, tasks, templates, training

stage, out = sys.argv[1], Path(sys.argv[2])
info = training.world_info()
rank, world = info["rank"], info["world_size"]
GLOBAL_BATCH, STEPS = 16, 6
out.mkdir(parents=True, exist_ok=True)


def spy(obj):
    original = obj.save_pretrained

    def save_pretrained(self, *args, **kwargs):
        with open(out / f"writes-rank{rank}.txt", "a") as f:
            f.write(f"{type(self).__name__}\n")
        return original(*args, **kwargs)

    obj.save_pretrained = types.MethodType(save_pretrained, obj)


tokenizer = models.load_tokenizer()
spy(tokenizer)
if stage == "sft":
    from llmcourse.sft import SFTConfig, train_sft

    model = models.load_model()
    spy(model)
    config = SFTConfig(per_device_train_batch_size=GLOBAL_BATCH // world, max_steps=STEPS, warmup_steps=1,
                       logging_steps=1, progress=False, output_dir=str(out / "model"), seed=0)
    history = train_sft(model, tokenizer, tasks.instruction_records(256, seed=0), config)
elif stage == "reward":
    from llmcourse.reward import RewardConfig, load_reward_model, train_reward_model

    model = load_reward_model(seed=0)
    spy(model)
    pairs = tasks.preference_pairs(256, seed=0, template=lambda r: templates.alpaca_prompt(r["instruction"], r["input"]))
    config = RewardConfig(per_device_train_batch_size=GLOBAL_BATCH // world, max_steps=STEPS, logging_steps=1,
                          output_dir=str(out / "model"), seed=0)
    history = train_reward_model(model, tokenizer, pairs, config, progress=False)
elif stage == "dpo":
    from llmcourse.dpo import DPOConfig, train_dpo

    model = models.load_model()
    spy(model)
    pairs = tasks.preference_pairs(256, seed=0, template=lambda r: templates.simple_prompt(r["instruction"], r["input"]))
    config = DPOConfig(per_device_train_batch_size=GLOBAL_BATCH // world, max_steps=STEPS, logging_steps=1,
                       learning_rate=1e-3, output_dir=str(out / "model"), seed=0)
    history = train_dpo(model, tokenizer, pairs, config, progress=False)
else:
    raise SystemExit(f"unknown stage {stage!r}")
if rank == 0:
    (out / "history.json").write_text(json.dumps(history))
