"""Wrong answers for ``07_dpo`` (see ``tests/wrong_answers/__init__.py``): the classic DPO mistakes of
issue 19 — the prompt summed in, mean vs sum, padding counted, β misplaced, the reference ignored or not
frozen, the sign flipped, a naive log σ that overflows — each as a student would write it. Later cells train
with the student's functions, so a wrong answer may make those (ungraded) cells train badly; no other test
cell uses them."""

from . import WrongAnswer

A = "07_dpo"

_RIGHT_LOGPS_TAIL = '''
    total = (logp * mask).sum(-1)
    return total / mask.sum(-1) if average else total
'''

WRONG_ANSWERS = [
    WrongAnswer(A, "sequence_logprobs", "test_sequence_logprobs", "prompt and padding summed in", '''
def sequence_logprobs(logits, labels, average=False):
    targets = labels[:, 1:].clamp(min=0)
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return logp.mean(-1) if average else logp.sum(-1)
'''),
    WrongAnswer(A, "sequence_logprobs", "test_sequence_logprobs", "no shift", '''
def sequence_logprobs(logits, labels, average=False):
    mask = labels != -100
    logp = torch.log_softmax(logits, dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
''' + _RIGHT_LOGPS_TAIL),
    WrongAnswer(A, "sequence_logprobs", "test_sequence_logprobs", "padding counted in the average", '''
def sequence_logprobs(logits, labels, average=False):
    targets = labels[:, 1:]
    mask = targets != -100
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    total = (logp * mask).sum(-1)
    return total / targets.shape[1] if average else total
'''),
    WrongAnswer(A, "sequence_logprobs", "test_sequence_logprobs", "mean vs sum", '''
def sequence_logprobs(logits, labels, average=False):
    targets = labels[:, 1:]
    mask = targets != -100
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1) / mask.sum(-1)
'''),
    WrongAnswer(A, "sequence_logprobs", "test_sequence_logprobs", "log(softmax(x)) underflow", '''
def sequence_logprobs(logits, labels, average=False):
    targets = labels[:, 1:]
    mask = targets != -100
    probs = torch.softmax(logits[:, :-1], dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    logp = torch.log(torch.where(mask, probs, torch.ones_like(probs)))
''' + _RIGHT_LOGPS_TAIL),
    WrongAnswer(A, "dpo_loss", "test_dpo_loss", "sign flipped", '''
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    delta = (policy_rejected_logps - ref_rejected_logps) - (policy_chosen_logps - ref_chosen_logps)
    return -F.logsigmoid(beta * delta).mean()
'''),
    WrongAnswer(A, "dpo_loss", "test_dpo_loss", "β misplaced", '''
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -(beta * F.logsigmoid(delta)).mean()
'''),
    WrongAnswer(A, "dpo_loss", "test_dpo_loss", "reference ignored", '''
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    return -F.logsigmoid(beta * (policy_chosen_logps - policy_rejected_logps)).mean()
'''),
    WrongAnswer(A, "dpo_loss", "test_dpo_loss", "log(sigmoid(x)) overflow", '''
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -torch.log(torch.sigmoid(beta * delta)).mean()
'''),
    WrongAnswer(A, "dpo_loss", "test_dpo_loss", "mean vs sum", '''
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(beta * delta).sum()
'''),
    WrongAnswer(A, "implicit_rewards", "test_implicit_rewards", "β missing", '''
def implicit_rewards(policy_logps, ref_logps, beta=0.1):
    return (policy_logps - ref_logps).detach()


def reward_accuracy(chosen_rewards, rejected_rewards):
    return (chosen_rewards > rejected_rewards).float().mean()
'''),
    WrongAnswer(A, "implicit_rewards", "test_implicit_rewards", "not detached", '''
def implicit_rewards(policy_logps, ref_logps, beta=0.1):
    return beta * (policy_logps - ref_logps)


def reward_accuracy(chosen_rewards, rejected_rewards):
    return (chosen_rewards > rejected_rewards).float().mean()
'''),
    WrongAnswer(A, "implicit_rewards", "test_implicit_rewards", "a tie counted as right", '''
def implicit_rewards(policy_logps, ref_logps, beta=0.1):
    return (beta * (policy_logps - ref_logps)).detach()


def reward_accuracy(chosen_rewards, rejected_rewards):
    return (chosen_rewards >= rejected_rewards).float().mean()
'''),
    WrongAnswer(A, "make_reference", "test_make_reference", "reference not frozen — you returned the policy itself", '''
def make_reference(model):
    model.eval()
    return model
'''),
    WrongAnswer(A, "make_reference", "test_make_reference", "reference not frozen — its parameters still require gradients", '''
def make_reference(model):
    return copy.deepcopy(model).eval()
'''),
    WrongAnswer(A, "make_reference", "test_make_reference", "reference left in training mode", '''
def make_reference(model):
    ref = copy.deepcopy(model)
    for p in ref.parameters():
        p.requires_grad = False
    return ref
'''),
    WrongAnswer(A, "ipo_loss", "test_ipo_loss", "target 1/β instead of 1/(2β)", '''
def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return ((delta - 1 / beta) ** 2).mean()
'''),
    WrongAnswer(A, "ipo_loss", "test_ipo_loss", "β misplaced", '''
def ipo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    delta = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)
    return ((beta * delta - 0.5) ** 2).mean()
'''),
]
