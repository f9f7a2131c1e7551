"""A streaming curation pipeline: documents flow through ordered steps, one at a time, and each step
counts what it removed or changed — the per-rule report a data card states.

Steps: PII redaction (a transform), the quality rules (``filters.RULES``), exact dedup (normalised hash),
decontamination against evaluation texts, then near-dup dedup. Near-dup detection needs every signature,
so :func:`curate` streams everything else and runs MinHash + LSH over the survivors at the end (as
datatrove does, in a separate stage)."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from llmcourse.curation import decontam, dedup, filters, pii

__all__ = ["CurationReport", "stream_filter", "curate"]


@dataclass
class CurationReport:
    n_in: int = 0
    removed: collections.Counter = field(default_factory=collections.Counter)  # step/rule name -> documents removed
    pii: collections.Counter = field(default_factory=collections.Counter)      # PII kind -> matches redacted
    kept_ids: list[int] = field(default_factory=list)

    @property
    def n_out(self) -> int:
        return len(self.kept_ids)

    def table(self) -> str:
        rows = [f"{'documents in':<28}{self.n_in:>8}"]
        rows += [f"{'removed by ' + k:<28}{v:>8}" for k, v in self.removed.items()]
        rows += [f"{'redacted ' + k:<28}{v:>8}" for k, v in sorted(self.pii.items())]
        rows.append(f"{'documents out':<28}{self.n_out:>8}")
        return "\n".join(rows)


def stream_filter(docs: Iterable[tuple[int, str]], report: CurationReport, *,
                  rules: dict[str, Callable[[str], bool]] | None = None,
                  eval_texts: Sequence[str] = (), ngram_n: int = decontam.DEFAULT_N,
                  redact: bool = True) -> Iterator[tuple[int, str]]:
    """Yield ``(id, text)`` of documents that pass every streaming step, in order; count the rest in
    ``report.removed`` under the first rule they fail (so the counts add up to the documents removed)."""
    rules = filters.RULES if rules is None else rules
    index = decontam.eval_ngram_index(eval_texts, ngram_n) if eval_texts else None
    seen: set[str] = set()
    for i, text in docs:
        report.n_in += 1
        if redact:
            text, found = pii.redact_pii(text)
            report.pii.update(found)
        failed = next((name for name, rule in rules.items() if not rule(text)), None)
        if failed is None:
            h = dedup.exact_hash(text)
            if h in seen:
                failed = "exact_dedup"
            seen.add(h)
        if failed is None and index is not None and decontam.is_contaminated(text, index):
            failed = "decontamination"
        if failed is not None:
            report.removed[failed] += 1
            continue
        yield i, text


def curate(texts: Sequence[str], *, eval_texts: Sequence[str] = (), near_dup_threshold: float | None = 0.7,
           rules: dict[str, Callable[[str], bool]] | None = None, **near_dup_kwargs) -> tuple[list[str], CurationReport]:
    """Run the whole pipeline on ``texts``; return the kept (redacted) texts and the report.
    ``near_dup_threshold=None`` skips near-dup dedup; ``near_dup_kwargs`` go to :func:`dedup.near_duplicates`."""
    report = CurationReport()
    for k in list(rules if rules is not None else filters.RULES) + ["exact_dedup", "decontamination", "near_dedup"]:
        report.removed[k] = 0
    survivors = list(stream_filter(enumerate(texts), report, rules=rules, eval_texts=eval_texts))
    drop: set[int] = set()
    if near_dup_threshold is not None and survivors:
        pairs = dedup.near_duplicates([t for _, t in survivors], threshold=near_dup_threshold, **near_dup_kwargs)
        drop = {j for _, j in pairs}  # keep the earlier page of each pair
        report.removed["near_dedup"] = len(drop)
    kept = [(i, t) for pos, (i, t) in enumerate(survivors) if pos not in drop]
    report.kept_ids = [i for i, _ in kept]
    return [t for _, t in kept], report
