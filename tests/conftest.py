"""Shared fixtures, the test tiers, and the base model as a named step of the session.

Tiers: ``./run test`` runs everything. ``./run test --fast`` leaves out the tests marked
``@pytest.mark.slow`` (they train a model, execute a notebook or autograde with nbgrader) and fails any test
that still takes more than ``--max-test-seconds`` (10 s by default with ``--fast``; setup included),
so the fast tier stays fast: a test over the limit is to be made faster or marked slow.

The embedded base model is built once per machine (cached) and shared by all tests. Its build is a
step of its own, before the first test, with its own line in the output ("base model: cached" or
"base model: built in … s"), so no test's duration hides a one-minute build.
"""

import os
import time

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never touch the network: the hub libraries read these once, at import, so set them first
# (a hub name in a test must fail fast with our "needs a download" message, not wait on DNS).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

FAST_LIMIT_S = 10.0


def pytest_addoption(parser):
    group = parser.getgroup("llmcourse tiers")
    group.addoption("--fast", action="store_true",
                    help="the fast tier: leave out tests marked slow, and fail any test over --max-test-seconds "
                         f"(default {FAST_LIMIT_S:g} s with --fast)")
    group.addoption("--max-test-seconds", type=float, default=None, metavar="S",
                    help="fail any test whose setup + call takes longer than S seconds")


def _limit(config) -> float | None:
    limit = config.getoption("--max-test-seconds")
    return FAST_LIMIT_S if limit is None and config.getoption("--fast") else limit


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--fast"):
        return
    # a real_model test may download and convert a model on first use: never in the fast tier, slow marker or not
    def left_out(item) -> bool:
        return bool(item.get_closest_marker("slow") or item.get_closest_marker("real_model"))

    slow = [item for item in items if left_out(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not left_out(item)]


def pytest_collection_finish(session):
    """The base model, built (or found in the cache) as a step of its own before the first test."""
    if not session.items or session.config.getoption("collectonly"):
        return
    from llmcourse import cache, recipes

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    say = reporter.write_line if reporter is not None else print
    folder = cache.entry_path(f"base-{recipes.BASE_VERSION}", recipes.base_key_recipe())
    if cache.is_built(folder):
        say(f"base model: cached ({folder})")
        return
    from llmcourse import models

    say("base model: not in the cache yet, building it (about a minute on 2 CPU cores) ...")
    t0 = time.perf_counter()
    try:
        models.base_model_path(progress=False)
    except Exception as exc:  # noqa: BLE001 — the tests that need the model fail with it; the rest still run
        say(f"base model: the build failed after {time.perf_counter() - t0:.1f} s ({type(exc).__name__}: {exc})")
        return
    say(f"base model: built in {time.perf_counter() - t0:.1f} s ({folder})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    limit = _limit(item.config)
    if limit is None:
        return
    report = outcome.get_result()
    if report.when == "setup":
        item._llmcourse_setup_s = report.duration
    elif report.when == "call" and report.passed:
        took = getattr(item, "_llmcourse_setup_s", 0.0) + report.duration
        if took > limit:
            report.outcome = "failed"
            report.longrepr = (f"{item.nodeid} took {took:.1f} s (setup and call), over the fast tier's {limit:g} s "
                               "limit: make it faster, or mark it @pytest.mark.slow if it trains a model, executes "
                               "a notebook or autogrades with nbgrader")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of tiny-model tests (restored afterwards): thread start-up
    costs more than their maths, and on a busy 2-core machine every parallel region would wait for a
    descheduled thread (tens of ms per matmul)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tokenizer():
    from llmcourse import models

    return models.load_tokenizer()


@pytest.fixture(scope="session")
def base_model():
    from llmcourse import models

    return models.load_model()


@pytest.fixture()
def tiny_model(tokenizer):
    """A small randomly initialised causal LM on the embedded tokenizer (fast unit tests)."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmcourse import models

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(models.tiny_config(tokenizer, hidden_size=32, num_layers=1, num_heads=2)).eval()
