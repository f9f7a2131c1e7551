"""Wrong answers for ``02_reward_model`` (see ``tests/wrong_answers/__init__.py``): the classic mistakes
of issue 4, each submitted as a student would write it. Later notebook cells train with the student's
functions, so a wrong answer there may make those (ungraded) cells fail or train badly; no other test
cell uses them."""

from . import WrongAnswer

A = "02_reward_model"

WRONG_ANSWERS = [
    WrongAnswer(A, "bt_numpy", "test_bt_numpy", "sign flipped (rejected − chosen)", '''
def bradley_terry_loss_numpy(chosen, rejected, reduction="mean"):
    per_pair = np.logaddexp(0.0, -(rejected - chosen))
    return per_pair.sum() if reduction == "sum" else per_pair.mean()
'''),
    WrongAnswer(A, "bt_numpy", "test_bt_numpy", "log(sigmoid(x)) overflow", '''
def bradley_terry_loss_numpy(chosen, rejected, reduction="mean"):
    sigmoid = 1 / (1 + np.exp(-(chosen - rejected)))
    per_pair = -np.log(sigmoid)
    return per_pair.sum() if reduction == "sum" else per_pair.mean()
'''),
    WrongAnswer(A, "bt_torch", "test_bt_torch", "mean vs sum confusion", '''
def bradley_terry_loss(chosen, rejected, margin=None, reduction="mean"):
    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin
    return F.softplus(-diff).mean()
'''),
    WrongAnswer(A, "bt_torch", "test_bt_torch", "log(sigmoid(x)) overflow", '''
def bradley_terry_loss(chosen, rejected, margin=None, reduction="mean"):
    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin
    per_pair = -torch.log(torch.sigmoid(diff))
    return per_pair.sum() if reduction == "sum" else per_pair.mean()
'''),
    WrongAnswer(A, "rank_pairs", "test_rank_pairs", "pairs built in the wrong order", '''
def ranking_to_pairs(responses, ranks=None):
    if len(set(responses)) != len(responses):
        raise ValueError("duplicate response")
    if ranks is None:
        ranks = list(range(1, len(responses) + 1))
    pairs = []
    for i in range(len(responses)):
        for j in range(i + 1, len(responses)):
            if ranks[i] < ranks[j]:
                pairs.append((responses[j], responses[i]))
            elif ranks[j] < ranks[i]:
                pairs.append((responses[i], responses[j]))
    return pairs
'''),
    WrongAnswer(A, "last_token", "test_last_token", "score read at the final position", '''
def scores_at_last_token(values, attention_mask):
    return values[:, -1]
'''),
]
