r"""Prompt templates: the text around an instruction that tells a model "answer here".

* ``ALPACA_WITH_INPUT`` / ``ALPACA_NO_INPUT`` — the two preambles of Stanford Alpaca (Taori et al.,
  2023), both ending in ``### Response:``;
* ``SIMPLE_WITH_INPUT`` / ``SIMPLE_NO_INPUT`` — the seed guide's ``Instruction:/Input:/Output:`` form
  (without the trailing space after ``Output:``, which makes the prompt/answer seam split a token —
  notebook 01 shows why);
* ``CHAT_TEMPLATE`` — the Jinja chat template of the embedded tokenizer, with ``{% generation %}``
  markers so ``apply_chat_template(..., return_assistant_tokens_mask=True)`` can mask everything but
  assistant turns;
* ``"chat"`` — any tokenizer's own chat template (:func:`chat_text`): one exchange is a user turn (the
  input joined to the instruction by a blank line) and the generation prompt; the answer is the
  assistant's text, ended by the EOS id that tokenisation appends.

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


def chat_text(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """``messages`` rendered by ``tokenizer``'s own chat template, as text, without the template's
    leading BOS text (the package's tokenisation prepends the BOS id itself).

    A tokenizer without a chat template is refused with the fix in the message."""
    if tokenizer is None:
        raise ValueError("template='chat' needs the tokenizer (its chat template renders the messages)")
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat template; "
                         "use template='alpaca' or 'simple', or set tokenizer.chat_template")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    bos = getattr(tokenizer, "bos_token", None)
    return text[len(bos):] if bos and text.startswith(bos) else text


def single_turn(template: str, instruction: str, input: str = "", output: str = "",
                tokenizer=None) -> tuple[str, str]:
    """One exchange as ``(prompt, response)`` in the ``"alpaca"``, ``"simple"`` or ``"chat"`` template
    (``"chat"`` needs ``tokenizer``: its own chat template, :func:`chat_text`).

    The response is what the model must produce after the prompt. The seed's simple template ends
    ``"Output:"`` with no trailing space, so the space belongs to the response, where a byte-level BPE
    merges it with the first word (``" 4"``, not ``" "`` + ``"4"``); the Alpaca prompt ends with a newline,
    a chat prompt with the assistant's header.
    """
    if template == "alpaca":
        return alpaca_prompt(instruction, input), output
    if template == "simple":
        return simple_prompt(instruction, input), " " + output
    if template == "chat":
        user = instruction + ("\n\n" + input if input and input.strip() else "")
        return chat_text(tokenizer, [{"role": "user", "content": user}], add_generation_prompt=True), output
    raise ValueError(f"template must be 'alpaca', 'simple' or 'chat', got {template!r}")


def response(template: str, output: str) -> str:
    """The text the model produces for ``output`` after a ``template`` prompt (the response half
    of :func:`single_turn`): a rejected answer or a sampled one must be joined to the prompt the
    same way as the chosen one."""
    if template == "chat":
        return output  # the assistant's text; tokenisation appends EOS (the end of the turn)
    return single_turn(template, "", "", output)[1]
