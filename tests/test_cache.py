"""The model cache (llmcourse.cache.build_cached): keyed by recipe, built aside and renamed, one
builder at a time across processes."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from llmcourse import cache, models, recipes


@pytest.fixture()
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    return tmp_path


def _writer(calls: list):
    def build(folder):
        calls.append(folder)
        (folder / "weights.txt").write_text("w")
        return {"answer": 42}
    return build


def test_an_entry_is_built_once_and_then_read(cache_root):
    calls = []
    first = cache.build_cached("thing", {"steps": 3}, _writer(calls))
    again = cache.build_cached("thing", {"steps": 3}, _writer(calls))
    assert first == again == cache_root / f"thing-{cache.recipe_key({'steps': 3})}"
    assert len(calls) == 1 and (first / "weights.txt").read_text() == "w"
    facts = json.loads((first / "llmcourse_build.json").read_text())
    assert facts["recipe"] == {"steps": 3} and facts["answer"] == 42 and facts["seconds"] >= 0
    assert [p.name for p in cache_root.iterdir() if p.name.startswith(".building")] == []


def test_another_recipe_is_another_entry(cache_root):
    a = cache.build_cached("thing", {"steps": 3}, _writer([]))
    b = cache.build_cached("thing", {"steps": 4}, _writer([]))
    assert a != b and a.is_dir() and b.is_dir()


def test_the_key_ignores_key_order_and_holds_paths(tmp_path):
    assert cache.recipe_key({"a": 1, "b": 2}) == cache.recipe_key({"b": 2, "a": 1})
    assert cache.recipe_key({"p": tmp_path}) == cache.recipe_key({"p": str(tmp_path)})


def test_a_failed_build_leaves_nothing_behind(cache_root):
    def broken(folder):
        (folder / "half.bin").write_text("x")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.build_cached("thing", {"steps": 3}, broken)
    assert not cache.entry_path("thing", {"steps": 3}).exists()
    assert [p for p in cache_root.iterdir() if not p.name.endswith(".lock")] == []


def test_leftovers_of_a_killed_build_and_unfinished_entries_are_replaced(cache_root):
    final = cache.entry_path("thing", {"steps": 3})
    (cache_root / f".building-{final.name}-dead").mkdir()  # a build killed mid-way
    final.mkdir()  # a folder without its marker is not an entry
    (final / "junk").write_text("?")
    path = cache.build_cached("thing", {"steps": 3}, _writer([]))
    assert sorted(p.name for p in path.iterdir()) == ["llmcourse_build.json", "weights.txt"]
    assert not (cache_root / f".building-{final.name}-dead").exists()


_BUILDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from llmcourse import cache

    def build(folder):
        with open(sys.argv[1], "a") as log:  # one line per build that ran
            log.write("built\\n")
        time.sleep(1.5)  # long enough for the other process to arrive while this one builds
        (folder / "weights.txt").write_text("w")
        return {}

    print(cache.build_cached("shared", {"steps": 1}, build))
""")


def test_two_processes_never_build_the_same_entry_at_once(cache_root, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "builds.txt"
    env = {**os.environ, "LLMCOURSE_CACHE": str(cache_root)}
    procs = [subprocess.Popen([sys.executable, "-c", _BUILDER, str(log)], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1] == str(cache.entry_path("shared", {"steps": 1}))
    assert log.read_text().count("built") == 1  # the second process waited, then used the first one's entry


def test_models_built_on_the_base_are_keyed_by_its_recipe(monkeypatch):
    """A new base recipe must not reuse reward models or lab policies trained from the old base."""
    before = (models.base_model_id(), cache.recipe_key(recipes.on_base({"steps": 1})))
    monkeypatch.setitem(recipes.BASE_RECIPE, "steps", recipes.BASE_RECIPE["steps"] + 1)
    after = (models.base_model_id(), cache.recipe_key(recipes.on_base({"steps": 1})))
    assert all(a != b for a, b in zip(before, after))


def test_every_cached_model_is_keyed_on_the_base(monkeypatch, cache_root):
    """The base model, the task reward model and the lab models all go through build_cached, and all
    but the base carry the base model's identity in their key."""
    from llmcourse import reward
    from llmcourse.ppo import lab

    seen = {}

    class Stop(Exception):
        pass

    def record(name, recipe, build, **kwargs):
        seen[name] = recipe
        raise Stop  # before anything is built

    for module in (models, reward.trainer, lab):
        monkeypatch.setattr(module, "build_cached", record)
    for call in (models.base_model_path, lambda: reward.train_task_reward_model(cache=True), lab.sft_model_path,
                 lambda: lab.reward_model_path(None), lambda: lab.reward_model_path("length")):
        with pytest.raises(Stop):
            call()
    assert sorted(seen) == ["base-v2", "ppo-lab-rm-clean", "ppo-lab-rm-length", "ppo-lab-sft", "reward-clean"]
    assert seen["base-v2"] == recipes.base_key_recipe()
    assert all(r["base"] == models.base_model_id() for name, r in seen.items() if name != "base-v2")
