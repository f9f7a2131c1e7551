r"""Stage 1 — supervised fine-tuning (SFT): instruction data, label masks, batching, loss, trainer.

Leaf-first, one seam per module:

* :mod:`llmcourse.sft.loss` — pure math: the masked, shifted causal-LM cross-entropy
  $\mathcal{L} = -\frac{1}{\sum m}\sum_{b,t} m_{b,t}\log p_\theta(y_{b,t+1}\mid y_{b,\le t})$, its
  per-sequence-sum variant, and gradient-accumulation normalisation;
* :mod:`llmcourse.sft.data` — record formats (Alpaca, Dolly, OpenOrca, prompt–completion, chat
  ``messages``, ShareGPT ``conversations``) → :class:`Example`, and templates → ``(prompt, response)``;
* :mod:`llmcourse.sft.encode` — tokenisation with masks (prompt and response tokenised separately,
  EOS appended as a target) and the truncation policy;
* :mod:`llmcourse.sft.batching` — :class:`SFTDataset`, the padding collator, packing;
* :mod:`llmcourse.sft.trainer` — :func:`train_sft` on Accelerate and held-out exact match.
"""

from llmcourse.sft.loss import (IGNORE_INDEX, shift_logits_and_labels, sft_loss, target_mask, token_nll,
                                window_normalised_loss)
from llmcourse.sft.data import (FORMATS, TEMPLATES, Example, detect_format, examples_from_records,
                                format_alpaca, load_examples, parse_record, render, render_segments)
from llmcourse.sft.encode import TokenizeStats, build_example, tokenize_segments, truncate_example
from llmcourse.sft.batching import (LengthGroupedBatchSampler, SFTDataset, as_examples, block_diagonal_mask,
                                    pack_examples, packed_collate, pad_collate, padding_efficiency)
from llmcourse.sft.trainer import SFTConfig, evaluate_exact_match, evaluate_loss, train_sft

__all__ = [
    "IGNORE_INDEX", "shift_logits_and_labels", "sft_loss", "target_mask", "token_nll", "window_normalised_loss",
    "FORMATS", "TEMPLATES", "Example", "detect_format", "examples_from_records", "format_alpaca",
    "load_examples", "parse_record", "render", "render_segments",
    "TokenizeStats", "build_example", "tokenize_segments", "truncate_example",
    "LengthGroupedBatchSampler", "SFTDataset", "as_examples", "block_diagonal_mask", "pack_examples",
    "packed_collate", "pad_collate", "padding_efficiency",
    "SFTConfig", "evaluate_exact_match", "evaluate_loss", "train_sft",
]
