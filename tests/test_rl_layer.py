"""The RL layer is one implementation: PPO re-exports the shared functions, it does not copy them."""

from llmcourse.ppo import functional as PF
from llmcourse.ppo import rollout as PR
from llmcourse.rl import functional as F
from llmcourse.rl import rollout as R


def test_ppo_uses_the_shared_rollout_functions():
    for name in R.__all__:
        assert getattr(PR, name) is getattr(R, name), name


def test_ppo_uses_the_shared_math():
    for name in F.__all__:
        assert getattr(PF, name) is getattr(F, name), name
