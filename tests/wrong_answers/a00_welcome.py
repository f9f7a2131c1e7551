"""Wrong answers for ``00_welcome`` (see ``tests/wrong_answers/__init__.py``)."""

from . import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer("00_welcome", "exact_match", "test_exact_match", "substring match instead of exact match", '''
def exact_match(predictions, references):
    return sum(" ".join(r.split()) in " ".join(p.split()) for p, r in zip(predictions, references)) / len(references)
'''),
]
