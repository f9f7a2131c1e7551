"""Shared fixtures. The embedded base model is built once per machine (cached) and shared by all tests."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never touch the network: the hub libraries read these once, at import, so set them first
# (a hub name in a test must fail fast with our "needs a download" message, not wait on DNS).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"


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
