r"""The RL layer PPO and GRPO share (one implementation, used by both):

* :mod:`llmcourse.rl.functional` — masked reductions, EOS truncation and the response mask,
  temperature-scaled log-probs, entropy, per-token KL estimators;
* :mod:`llmcourse.rl.rollout` — prompts → left-padded ids → sampled responses (seeded) → the logits
  and log-probs of the tokens taken, with position ids that follow the attention mask.

It sits below the stages: :mod:`llmcourse.ppo` and :mod:`llmcourse.grpo` import it, never the reverse.
"""
