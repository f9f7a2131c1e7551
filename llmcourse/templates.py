r"""Prompt templates: the text around an instruction that tells a model "answer here".

* ``ALPACA_WITH_INPUT`` / ``ALPACA_NO_INPUT`` — the two preambles of Stanford Alpaca (Taori et al.,
  2023), both ending in ``### Response:``;
* ``SIMPLE_WITH_INPUT`` / ``SIMPLE_NO_INPUT`` — the seed guide's ``Instruction:/Input:/Output:`` form
  (without the trailing space after ``Output:``, which makes the prompt/answer seam split a token —
  notebook 01 shows why);
* ``CHAT_TEMPLATE`` — the Jinja chat template of the embedded tokenizer, with ``{% generation %}``
  markers so ``apply_chat_template(..., return_assistant_tokens_mask=True)`` can mask everything but
  assistant turns.

The response text is *not* part of a template: a record renders to ``(prompt, response)`` and the two
are tokenised separately (see ``llmcourse.sft``).
"""

from __future__ import annotations

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
SIMPLE_WITH_INPUT = "Instruction: {instruction}\nInput: {input}\nOutput:"
SIMPLE_NO_INPUT = "Instruction: {instruction}\nOutput:"

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}<|system|>\n{{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}<|user|>\n{{ message['content'] }}\n"
    "{% elif message['role'] == 'assistant' %}<|assistant|>\n"
    "{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}\n"
    "{% else %}{{ raise_exception('unknown role: ' + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT_ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")


def alpaca_prompt(instruction: str, input: str = "") -> str:
    """The Alpaca prompt for one record: the with-input preamble when ``input`` is non-empty."""
    if input and input.strip():
        return ALPACA_WITH_INPUT.format(instruction=instruction, input=input)
    return ALPACA_NO_INPUT.format(instruction=instruction)


def simple_prompt(instruction: str, input: str = "") -> str:
    """The seed guide's ``Instruction:/Input:/Output:`` prompt."""
    if input and input.strip():
        return SIMPLE_WITH_INPUT.format(instruction=instruction, input=input)
    return SIMPLE_NO_INPUT.format(instruction=instruction)


def single_turn(template: str, instruction: str, input: str = "", output: str = "") -> tuple[str, str]:
    """One exchange as ``(prompt, response)`` in the ``"alpaca"`` or ``"simple"`` template.

    The response is what the model must produce after the prompt. The seed's simple template ends
    ``"Output:"`` with no trailing space, so the space belongs to the response, where a byte-level BPE
    merges it with the first word (``" 4"``, not ``" "`` + ``"4"``); the Alpaca prompt ends with a newline.
    """
    if template == "alpaca":
        return alpaca_prompt(instruction, input), output
    if template == "simple":
        return simple_prompt(instruction, input), " " + output
    raise ValueError(f"template must be 'alpaca' or 'simple', got {template!r}")


def response(template: str, output: str) -> str:
    """The text the model produces for ``output`` after a ``template`` prompt (the response half
    of :func:`single_turn`): a rejected answer or a sampled one must be joined to the prompt the
    same way as the chosen one."""
    return single_turn(template, "", "", output)[1]
