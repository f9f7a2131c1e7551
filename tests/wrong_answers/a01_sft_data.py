"""Wrong answers for ``01_sft_data`` (see ``tests/wrong_answers/__init__.py``): the classic mistakes
of issue 3, each written as a student would write it. Later notebook cells train with the student's
functions, so a wrong answer there may make those (ungraded) cells fail or train badly; no other test
cell uses them."""

from . import WrongAnswer

A = "01_sft_data"

WRONG_ANSWERS = [
    WrongAnswer(A, "format_alpaca", "test_format_alpaca", "a blank input ('  ') treated as an input", '''
def format_alpaca(record):
    if record.get("input"):
        prompt = templates.ALPACA_WITH_INPUT.format(instruction=record["instruction"], input=record["input"])
    else:
        prompt = templates.ALPACA_NO_INPUT.format(instruction=record["instruction"])
    return prompt, record["output"]
'''),
    WrongAnswer(A, "format_alpaca", "test_format_alpaca", "the with-input preamble used for a record without input", '''
def format_alpaca(record):
    prompt = templates.ALPACA_WITH_INPUT.format(instruction=record["instruction"], input=record.get("input", ""))
    return prompt, record["output"]
'''),
    WrongAnswer(A, "build_example", "test_build_example", "masking the response instead of the prompt", '''
def build_example(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head = [bos_token_id] + list(prompt_ids)
    target = list(response_ids) + [eos_token_id]
    return {"input_ids": head + target, "labels": head + [-100] * len(target)}
'''),
    WrongAnswer(A, "build_example", "test_build_example", "forgetting EOS", '''
def build_example(prompt_ids, response_ids, bos_token_id, eos_token_id):
    head = [bos_token_id] + list(prompt_ids)
    return {"input_ids": head + list(response_ids), "labels": [-100] * len(head) + list(response_ids)}
'''),
    WrongAnswer(A, "pad_collate", "test_pad_collate", "padding labels with the pad id instead of -100", '''
def pad_collate(batch, pad_token_id):
    width = max(len(x["input_ids"]) for x in batch)
    input_ids, labels, mask = [], [], []
    for x in batch:
        k = width - len(x["input_ids"])
        input_ids.append(list(x["input_ids"]) + [pad_token_id] * k)
        labels.append(list(x["labels"]) + [pad_token_id] * k)
        mask.append([1] * len(x["input_ids"]) + [0] * k)
    return {"input_ids": torch.tensor(input_ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}
'''),
    WrongAnswer(A, "sft_loss", "test_sft_loss", "off-by-one shift (logits and labels not shifted)", '''
def sft_loss(logits, labels):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=-100)
'''),
    WrongAnswer(A, "sft_loss", "test_sft_loss", "averaging over padded positions", '''
def sft_loss(logits, labels):
    shifted_logits, shifted_labels = logits[:, :-1, :], labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(shifted_logits.reshape(-1, shifted_logits.shape[-1]),
                                                  shifted_labels.reshape(-1), ignore_index=-100, reduction="none")
    return per_token.mean()
'''),
]
