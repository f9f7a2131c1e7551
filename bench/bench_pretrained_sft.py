"""SFT learning rates for a registered pretrained model (issue 22): held-out loss on short chat records.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_pretrained_sft.py [LR ...]     (default: 2e-5 1e-4)

Writes :data:`QA` (40 single-exchange chat records: short factual questions and answers) to a temporary
``chat.jsonl``, splits it as ``demo --quick --data chat.jsonl`` does (seed 0: 36 train / 4 held out), and for
each learning rate trains the demo's quick SFT stage (``stage_configs(DemoConfig(model=..., quick=True))``:
8 steps × 16, chat template) from SmolLM2-135M-Instruct; prints the held-out loss per target token before and
after, and the greedy answers to the held-out prompts. Figures: ``recipes.DEMO_PRETRAINED``'s docstring.
The same file is what the README's ``demo --data chat.jsonl`` timings used (``--write PATH`` writes it);
``--write-pairs PATH`` writes the preference file of the README's ``demo --data pairs.jsonl`` timing: the same
40 questions, each with its answer preferred to the answer of the next question (a fluent, wrong answer).
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

QA = [
    ('What is the capital of France?', 'The capital of France is Paris.'),
    ('What is the capital of Japan?', 'The capital of Japan is Tokyo.'),
    ('What is the capital of Italy?', 'The capital of Italy is Rome.'),
    ('What is the capital of Spain?', 'The capital of Spain is Madrid.'),
    ('What is the capital of Germany?', 'The capital of Germany is Berlin.'),
    ('What is the capital of Canada?', 'The capital of Canada is Ottawa.'),
    ('What is the capital of Egypt?', 'The capital of Egypt is Cairo.'),
    ('What is the capital of Kenya?', 'The capital of Kenya is Nairobi.'),
    ('What is the capital of Peru?', 'The capital of Peru is Lima.'),
    ('What is the capital of Norway?', 'The capital of Norway is Oslo.'),
    ('What is 2 + 3?', '2 + 3 = 5.'),
    ('What is 7 + 8?', '7 + 8 = 15.'),
    ('What is 9 - 4?', '9 - 4 = 5.'),
    ('What is 6 * 7?', '6 * 7 = 42.'),
    ('What is 12 + 30?', '12 + 30 = 42.'),
    ('What is 100 - 1?', '100 - 1 = 99.'),
    ('What colour is the sky on a clear day?', 'Blue.'),
    ('What colour is grass?', 'Green.'),
    ('What colour is snow?', 'White.'),
    ('What colour is a ripe banana?', 'Yellow.'),
    ("Translate 'hello' into French.", 'Bonjour.'),
    ("Translate 'thank you' into Spanish.", 'Gracias.'),
    ("Translate 'good night' into German.", 'Gute Nacht.'),
    ("Translate 'cat' into Italian.", 'Gatto.'),
    ('How many days are in a week?', 'Seven.'),
    ('How many legs does a spider have?', 'Eight.'),
    ('How many months are in a year?', 'Twelve.'),
    ('How many sides does a triangle have?', 'Three.'),
    ('Who wrote Romeo and Juliet?', 'William Shakespeare.'),
    ('Who painted the Mona Lisa?', 'Leonardo da Vinci.'),
    ('What is the largest planet in the solar system?', 'Jupiter.'),
    ('What is the chemical symbol for water?', 'H2O.'),
    ('What gas do plants take in?', 'Carbon dioxide.'),
    ('What is the boiling point of water at sea level in Celsius?', '100 degrees Celsius.'),
    ('What is the opposite of hot?', 'Cold.'),
    ('What is the opposite of up?', 'Down.'),
    ('Name a fruit that is red.', 'An apple.'),
    ('Name an animal that can fly.', 'A bird.'),
    ('What is the plural of mouse?', 'Mice.'),
    ('What is the past tense of run?', 'Ran.'),
]


def write(path: Path) -> Path:
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
                            + "\n" for q, a in QA))
    return path


def write_pairs(path: Path) -> Path:
    rows = [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": a}],
             "rejected": [{"role": "assistant", "content": QA[(i + 1) % len(QA)][1]}]} for i, (q, a) in enumerate(QA)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def main(argv: list[str]) -> None:
    if argv[:1] == ["--write"]:
        print(write(Path(argv[1])))
        return
    if argv[:1] == ["--write-pairs"]:
        print(write_pairs(Path(argv[1])))
        return
    from llmcourse import models
    from llmcourse.demo import DemoConfig, _split_user_data, stage_configs
    from llmcourse.sft import train_sft
    from llmcourse.sft.data import render

    rates = [float(x) for x in argv] or [2e-5, 1e-4]
    with tempfile.TemporaryDirectory() as tmp:
        demo = DemoConfig(model="smollm2-135m-instruct", quick=True, data=str(write(Path(tmp) / "chat.jsonl")))
        _, train, held = _split_user_data(demo.data, demo.seed, demo.template)
    tok = models.load_tokenizer(demo.model)
    base = models.load_model(demo.model)
    models.ensure_pad_token(tok, base)
    prompts = [render(e, demo.template, tok)[0] for e in held]
    for lr in rates:
        cfg = replace(stage_configs(demo)["sft"], learning_rate=lr, eval_at_start=True)
        model = copy.deepcopy(base)
        t0 = time.process_time()
        evals = [h["eval_loss"] for h in train_sft(model, tok, train, cfg, eval_data=held) if "eval_loss" in h]
        answers = models.generate(model, tok, prompts, max_new_tokens=12)
        print(f"lr {lr:g}: held-out loss {evals[0]:.3f} -> {evals[-1]:.3f} ({cfg.max_steps} steps x "
              f"{cfg.per_device_train_batch_size}, {time.process_time() - t0:.0f} s CPU); answers {answers}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
