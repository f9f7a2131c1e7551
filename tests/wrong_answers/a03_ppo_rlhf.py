"""Wrong answers for ``03_ppo_rlhf`` (see ``tests/wrong_answers/__init__.py``): the classic mistakes of
issue 5, each submitted as a student would write it. The notebook's PPO run plugs all four functions
into the trainer; a wrong answer there makes that (ungraded) cell train badly or stop with an error,
and no other test cell uses them."""

from . import WrongAnswer

A = "03_ppo_rlhf"

WRONG_ANSWERS = [
    WrongAnswer(A, "kl_penalized_rewards", "test_kl_penalized_rewards", "KL sign flipped", '''
def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.to(logprobs.dtype)
    rewards = -kl_coef * (ref_logprobs - logprobs) * m
    last = torch.where(mask.bool(), torch.arange(mask.shape[1]), -1).max(dim=1).values
    rewards[torch.arange(mask.shape[0]), last] += scores
    return rewards
'''),
    WrongAnswer(A, "kl_penalized_rewards", "test_kl_penalized_rewards", "score added to every token", '''
def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.to(logprobs.dtype)
    return (-kl_coef * (logprobs - ref_logprobs) + scores[:, None]) * m
'''),
    WrongAnswer(A, "kl_penalized_rewards", "test_kl_penalized_rewards", "score added to the first token", '''
def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    m = mask.to(logprobs.dtype)
    rewards = -kl_coef * (logprobs - ref_logprobs) * m
    rewards[:, 0] += scores
    return rewards
'''),
    WrongAnswer(A, "kl_penalized_rewards", "test_kl_penalized_rewards", "padding tokens not masked", '''
def kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef):
    rewards = -kl_coef * (logprobs - ref_logprobs)
    last = mask.sum(dim=1) - 1
    rewards[torch.arange(mask.shape[0]), last] += scores
    return rewards
'''),
    WrongAnswer(A, "gae_advantages", "test_gae_advantages", "GAE iterated forward", '''
def gae_advantages(rewards, values, mask, gamma, lam):
    m = mask.to(values.dtype)
    values, rewards = values * m, rewards * m
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    carry = torch.zeros(B)
    for t in range(T):
        next_value = values[:, t + 1] * m[:, t + 1] if t + 1 < T else torch.zeros(B)
        next_mask = m[:, t + 1] if t + 1 < T else torch.zeros(B)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        carry = delta + gamma * lam * next_mask * carry
        advantages[:, t] = carry
    advantages = advantages * m
    return advantages, (advantages + values) * m
'''),
    WrongAnswer(A, "gae_advantages", "test_gae_advantages", "bootstraps V from the padding", '''
def gae_advantages(rewards, values, mask, gamma, lam):
    m = mask.to(values.dtype)
    rewards = rewards * m
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    carry = torch.zeros(B)
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros(B)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        carry = delta + gamma * lam * carry
        advantages[:, t] = carry
    advantages = advantages * m
    return advantages, (advantages + values * m) * m
'''),
    WrongAnswer(A, "clipped_policy_loss", "test_clipped_policy_loss", "min/max swapped in the clipped objective", '''
def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs - old_logprobs)
    loss = torch.minimum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange))
    m = mask.to(logprobs.dtype)
    return (loss * m).sum() / m.sum()
'''),
    WrongAnswer(A, "clipped_policy_loss", "test_clipped_policy_loss", "ratio computed from probabilities", '''
def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs) / torch.exp(old_logprobs)
    loss = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange))
    m = mask.to(logprobs.dtype)
    return (loss * m).sum() / m.sum()
'''),
    WrongAnswer(A, "clipped_policy_loss", "test_clipped_policy_loss", "padding tokens not masked", '''
def clipped_policy_loss(logprobs, old_logprobs, advantages, mask, cliprange):
    ratio = torch.exp(logprobs - old_logprobs)
    return torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)).mean()
'''),
    WrongAnswer(A, "adaptive_kl_update", "test_adaptive_kl_update", "error not clipped", '''
def adaptive_kl_update(kl_coef, current_kl, target, n_steps, horizon):
    return kl_coef * (1 + (current_kl / target - 1) * n_steps / horizon)
'''),
    WrongAnswer(A, "adaptive_kl_update", "test_adaptive_kl_update", "error sign flipped", '''
def adaptive_kl_update(kl_coef, current_kl, target, n_steps, horizon):
    error = min(max(1 - current_kl / target, -0.2), 0.2)
    return kl_coef * (1 + error * n_steps / horizon)
'''),
]
