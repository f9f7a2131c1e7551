"""Wrong answers for ``06_interview_prep`` (see ``tests/wrong_answers/__init__.py``)."""

from . import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer("06_interview_prep", "t2a", "test_t2a", "counts ordered pairs", "answer_t2a = 12"),
    # the guide's own answer to coding question 2: -log(sigmoid(x)) overflows for large negative margins
    WrongAnswer("06_interview_prep", "bradley_terry_numpy", "test_bradley_terry_numpy", "overflow", '''
import numpy as np

def sigmoid(x):
    return 1 / (1 + np.exp(-x))

def bradley_terry_loss_numpy(chosen, rejected, reduction="mean"):
    losses = -np.log(sigmoid(chosen - rejected))
    return losses.mean() if reduction == "mean" else losses.sum()
'''),
]
