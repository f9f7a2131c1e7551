"""llmcourse: the data and objectives of LLM post-training, as a graded course.

Layers (nothing imports upward):
  math      -- losses, KL, GAE, scaling-law formulas (``sft``, ``reward``, ``ppo``, ``scaling``)
  data      -- records, templates, collators, the task world (``tasks``), the embedded model (``models``)
  trainers  -- SFT, reward model, PPO (``training`` holds the shared Accelerate plumbing)
  tooling   -- ``checks`` (graders for notebook test cells), ``course`` (nbgrader), ``cli``
"""

__version__ = "0.1.0"
