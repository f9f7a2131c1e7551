"""Wrong answers for ``08_grpo`` (see ``tests/wrong_answers/__init__.py``): the classic mistakes of
issue 20, each submitted as a student would write it. The notebook's labs and its GRPO run use the
student's functions too, in ungraded cells; ``grpo_loss`` calls the student's ``clipped_token_loss`` and
``reduce_token_loss``, so a wrong one of those also loses ``test_grpo_loss``."""

from . import WrongAnswer

A = "08_grpo"

_LOSS_TOO = ("test_grpo_loss",)

WRONG_ANSWERS = [
    WrongAnswer(A, "group_advantages", "test_group_advantages", "groups read with the wrong layout", '''
def group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4):
    groups = rewards.float().view(num_generations, -1)
    centred = groups - groups.mean(dim=0, keepdim=True)
    if scale_rewards == "group":
        centred = centred / (groups.std(dim=0, keepdim=True) + eps)
    return centred.flatten()
'''),
    WrongAnswer(A, "group_advantages", "test_group_advantages", "normalised over the whole batch", '''
def group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4):
    r = rewards.float()
    centred = r - r.mean()
    if scale_rewards == "group":
        centred = centred / (r.std() + eps)
    return centred
'''),
    WrongAnswer(A, "group_advantages", "test_group_advantages", "population std", '''
def group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4):
    groups = rewards.float().view(-1, num_generations)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale_rewards == "group":
        centred = centred / (groups.std(dim=1, unbiased=False, keepdim=True) + eps)
    return centred.flatten()
'''),
    WrongAnswer(A, "group_advantages", "test_group_advantages", "ε left out", '''
def group_advantages(rewards, num_generations, scale_rewards="group", eps=1e-4):
    groups = rewards.float().view(-1, num_generations)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale_rewards == "group":
        centred = centred / groups.std(dim=1, keepdim=True)
    return centred.flatten()
'''),
    WrongAnswer(A, "clipped_token_loss", "test_clipped_token_loss", "min/max swapped", '''
def clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    if epsilon_high is None:
        epsilon_high = epsilon_low
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(1)
    return -torch.maximum(ratio * adv, torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * adv)
''', also_loses=_LOSS_TOO),
    WrongAnswer(A, "clipped_token_loss", "test_clipped_token_loss", "epsilon_high ignored", '''
def clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(1)
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_low) * adv)
''', also_loses=_LOSS_TOO),
    WrongAnswer(A, "clipped_token_loss", "test_clipped_token_loss", "ratio computed from probabilities", '''
def clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low=0.2, epsilon_high=None):
    if epsilon_high is None:
        epsilon_high = epsilon_low
    ratio = torch.exp(logprobs) / torch.exp(old_logprobs)
    adv = advantages.unsqueeze(1)
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * adv)
''', also_loses=_LOSS_TOO),
    WrongAnswer(A, "reduce_token_loss", "test_reduce_token_loss", "num_sequences / num_tokens ignored", '''
def reduce_token_loss(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None,
                      num_tokens=None):
    m = mask.to(per_token_loss.dtype)
    B, T = per_token_loss.shape
    if loss_type == "grpo":
        return ((per_token_loss * m).sum(-1) / m.sum(-1).clamp(min=1)).mean()
    if loss_type == "dr_grpo":
        return (per_token_loss * m).sum() / (B * (max_completion_length or T))
    return (per_token_loss * m).sum() / m.sum()
''', also_loses=_LOSS_TOO),
    WrongAnswer(A, "reduce_token_loss", "test_reduce_token_loss", "computed token-level", '''
def reduce_token_loss(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None,
                      num_tokens=None):
    m = mask.to(per_token_loss.dtype)
    n_seq = per_token_loss.shape[0] if num_sequences is None else num_sequences
    n_tok = m.sum() if num_tokens is None else num_tokens
    if loss_type == "dr_grpo":
        return (per_token_loss * m).sum() / (n_seq * (max_completion_length or per_token_loss.shape[1]))
    return (per_token_loss * m).sum() / n_tok
''', also_loses=_LOSS_TOO),
    WrongAnswer(A, "reduce_token_loss", "test_reduce_token_loss", "dr_grpo divided by the number of real tokens", '''
def reduce_token_loss(per_token_loss, mask, loss_type="dapo", *, max_completion_length=None, num_sequences=None,
                      num_tokens=None):
    m = mask.to(per_token_loss.dtype)
    n_seq = per_token_loss.shape[0] if num_sequences is None else num_sequences
    n_tok = m.sum() if num_tokens is None else num_tokens
    if loss_type == "grpo":
        return ((per_token_loss * m).sum(-1) / m.sum(-1).clamp(min=1)).sum() / n_seq
    return (per_token_loss * m).sum() / n_tok
''', also_loses=_LOSS_TOO),
    WrongAnswer(A, "grpo_loss", "test_grpo_loss", "normalised by the micro-batch's own", '''
def grpo_loss(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2, epsilon_high=None,
              beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None, num_tokens=None):
    per_token = clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high)
    if beta:
        log_r = ref_logprobs - logprobs
        per_token = per_token + beta * (torch.exp(log_r) - log_r - 1)
    return reduce_token_loss(per_token, mask, loss_type, max_completion_length=max_completion_length)
'''),
    WrongAnswer(A, "grpo_loss", "test_grpo_loss", "KL estimated with k1", '''
def grpo_loss(logprobs, old_logprobs, advantages, mask, *, loss_type="dapo", epsilon_low=0.2, epsilon_high=None,
              beta=0.0, ref_logprobs=None, max_completion_length=None, num_sequences=None, num_tokens=None):
    per_token = clipped_token_loss(logprobs, old_logprobs, advantages, epsilon_low, epsilon_high)
    if beta:
        per_token = per_token + beta * (logprobs - ref_logprobs)
    return reduce_token_loss(per_token, mask, loss_type, max_completion_length=max_completion_length,
                             num_sequences=num_sequences, num_tokens=num_tokens)
'''),
]
