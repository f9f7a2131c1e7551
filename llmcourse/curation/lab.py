"""The contamination lab: SFT on data that quotes held-out problems inflates held-out exact match, and
decontaminating the training set (:func:`llmcourse.curation.decontaminate`) restores an honest figure.

The training set is what a careless scrape gives: ``n_train`` task-world records plus every held-out
problem copied ``copies`` times (a benchmark leaked onto many pages). Both runs start from the embedded
base model, with the package's SFT trainer and one recipe (``recipes.CONTAMINATION_LAB``); only the
training data differs. Figures: ``bench/bench_contamination.py`` and bench/README.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

from llmcourse import recipes, tasks
from llmcourse.curation.crawl import problem_text, record_text
from llmcourse.curation.decontam import decontaminate

__all__ = ["contaminated_training_set", "run_contamination_lab"]


def contaminated_training_set(n_train: int, n_eval: int, copies: int, seed: int = 0
                              ) -> tuple[list[dict[str, str]], list[dict[str, str]], list[tasks.Problem]]:
    """``(train_records, eval_records, eval_problems)``: ``n_train`` clean records plus ``copies`` copies of
    each of the ``n_eval`` held-out problems, shuffled by the trainer; held-out problems never occur among
    the clean ones (:func:`tasks.split_problems`)."""
    train, held_out = tasks.split_problems(n_train, n_eval, seed=seed)
    records = [tasks.to_record(p) for p in train] + [tasks.to_record(p) for p in held_out] * copies
    return records, [tasks.to_record(p) for p in held_out], held_out


def run_contamination_lab(seeds: Sequence[int] = (0, 1, 2), *, n_train: int | None = None, n_eval: int | None = None,
                          copies: int | None = None, max_steps: int | None = None, verbose: bool = True,
                          **config_overrides) -> list[dict]:
    """For each seed: SFT on the contaminated set and on its decontaminated version, held-out exact match
    of both. Returns rows ``{"seed", "data", "n_records", "removed", "exact_match", "seconds"}``.

    Defaults come from ``recipes.CONTAMINATION_LAB``; the data split uses ``data_seed`` (fixed), the
    trainer each ``seed``."""
    from llmcourse import models, sft  # torch: only when the lab trains

    recipe = dict(recipes.CONTAMINATION_LAB)
    for key, value in dict(n_train=n_train, n_eval=n_eval, copies=copies, max_steps=max_steps).items():
        if value is not None:
            recipe[key] = value
    records, eval_records, held_out = contaminated_training_set(recipe["n_train"], recipe["n_eval"], recipe["copies"],
                                                                seed=recipe["data_seed"])
    kept, removed = decontaminate([record_text(r) for r in records], [problem_text(p) for p in held_out])
    datasets = {"contaminated": records, "decontaminated": [records[i] for i in kept]}
    tokenizer = models.load_tokenizer()
    rows = []
    for seed in seeds:
        for name, data in datasets.items():
            t0 = time.perf_counter()
            model = models.load_model()
            cfg = sft.SFTConfig(template=recipe["template"], max_steps=recipe["max_steps"], seed=seed,
                                per_device_train_batch_size=recipe["batch_size"], learning_rate=recipe["learning_rate"],
                                eval_exact_match=False, logging_steps=max(1, recipe["max_steps"]),
                                **config_overrides)
            sft.train_sft(model, tokenizer, data, cfg)
            em = sft.evaluate_exact_match(model, tokenizer, eval_records, template=recipe["template"],
                                          max_new_tokens=recipe["max_new_tokens"])["exact_match"]
            row = dict(seed=seed, data=name, n_records=len(data), removed=len(removed) if name == "decontaminated" else 0,
                       exact_match=em, seconds=time.perf_counter() - t0)
            rows.append(row)
            if verbose:
                print(f"seed {seed}  {name:<15} {len(data):5d} records  held-out exact match {em:.3f}  "
                      f"({row['seconds']:.0f} s)", flush=True)
    return rows


LAB_SEEDS = (0, 1, 2)


def lab_folder(progress: bool = True) -> Path:
    """The cache entry holding the lab's rows for seeds 0, 1, 2 at ``recipes.CONTAMINATION_LAB``, computed
    once per machine (``cache.build_cached``; ``course grade`` builds it before grading, since graded
    kernels see the cache read-only)."""
    from llmcourse import cache

    def build(folder: Path) -> dict:
        rows = run_contamination_lab(LAB_SEEDS, verbose=progress)
        (folder / "results.json").write_text(json.dumps(rows, indent=2))
        return {"rows": len(rows)}

    return cache.build_cached("contamination-lab", recipes.on_base({**recipes.CONTAMINATION_LAB, "seeds": list(LAB_SEEDS)}),
                              build)


def lab_results(progress: bool = True) -> list[dict]:
    """The lab's rows (see :func:`run_contamination_lab`), from the cache entry of :func:`lab_folder`."""
    return json.loads((lab_folder(progress) / "results.json").read_text())


def notebook_models(progress: bool = True) -> list[Path]:
    """What the curation notebook reads from the cache: the lab's results (a folder, like a model's)."""
    return [lab_folder(progress)]
