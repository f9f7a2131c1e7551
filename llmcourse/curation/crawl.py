"""A task-world "web crawl": pages about the five list tasks, mixed with what a real crawl holds.

=============  ==================================================================================
kind           what it is (and what should catch it)
=============  ==================================================================================
``clean``      prose about the tasks with worked examples — keep
``boilerplate`` navigation bars, cookie and JavaScript banners — C4/Gopher filters
``spam``       one sales phrase repeated — Gopher repetition filters
``lorem``      template placeholder text — C4's "lorem ipsum" rule
``code``       a snippet with curly brackets — C4's curly-bracket rule
``exact_dup``  a clean page again, case/punctuation/spacing changed — exact dedup (normalised hash)
``near_dup``   a clean page with a few words substituted — MinHash + LSH
``leak``       a clean page quoting a held-out evaluation problem (:func:`problem_text`) — decontamination
=============  ==================================================================================

Some clean pages also carry contact details (``Document.pii``) for the PII pass. The generator records the
ground truth: ``Crawl.near_dup_pairs`` / ``exact_dup_pairs`` as ``(original, copy)`` ids and the leaked
problems, so recall and precision of every stage can be measured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from llmcourse import tasks

__all__ = ["Document", "Crawl", "KINDS", "problem_text", "record_text", "web_crawl"]

KINDS = ("clean", "boilerplate", "spam", "lorem", "code", "exact_dup", "near_dup", "leak")


def problem_text(p: tasks.Problem) -> str:
    """How a problem is quoted on the web and in the evaluation index: ``"Reverse the list. 3 1 4 = 4 1 3"``."""
    return f"{p.instruction} {p.input} = {p.answer}"


def record_text(record: dict[str, str]) -> str:
    """An Alpaca record in the same shape, for decontaminating SFT data against :func:`problem_text`."""
    return f"{record['instruction']} {record['input']} = {record['output']}"


@dataclass
class Document:
    id: int
    text: str
    kind: str
    source: int | None = None  # the original's id for exact_dup / near_dup
    pii: bool = False


@dataclass
class Crawl:
    docs: list[Document]
    eval_problems: list[tasks.Problem]
    near_dup_pairs: set[tuple[int, int]] = field(default_factory=set)
    exact_dup_pairs: set[tuple[int, int]] = field(default_factory=set)
    leaked: dict[int, tasks.Problem] = field(default_factory=dict)  # doc id -> the quoted problem

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.docs]

    def duplicate_pairs(self) -> set[tuple[int, int]]:
        """Every pair ``(i, j)``, ``i < j``, of pages copied from one original (the original included):
        the ground truth for near-dup detection, since two copies of a page are duplicates of each other."""
        clusters: dict[int, list[int]] = {}
        for d in self.docs:
            if d.source is not None:
                clusters.setdefault(d.source, [d.source]).append(d.id)
        return {(x, y) for ids in clusters.values() for x in ids for y in ids if x < y}


_ADJ = ("small long short careful quick clear simple tricky patient curious early late gentle bright quiet busy "
        "happy tired eager honest modest lucky calm brave clever kind proud shy strict warm bold fair young old "
        "famous local").split()
_NOUN = ("teacher student tutor reader guide author beginner friend class learner book parent coach workbook lecturer "
         "engineer notebook programmer lesson website puzzle method trick rule pattern answer step example exercise "
         "picture chapter problem table chart card page sheet question idea").split()
_VERB = ("explains shows describes practises reviews repeats checks writes compares illustrates discusses summarises "
         "tests revisits records sketches outlines answers studies finds solves builds reads marks shares").split()
_PREP = "with before after during for on in at from under near beside".split()
_DET = "the a every our this that my their each one".split()


def _sentence(rng: random.Random) -> str:
    c = rng.choice
    s = f"{c(_DET)} {c(_ADJ)} {c(_NOUN)} {c(_VERB)} {c(_DET)} {c(_ADJ)} {c(_NOUN)} {c(_PREP)} {c(_DET)} {c(_NOUN)}."
    return s[0].upper() + s[1:]


_PLAIN = {
    "reverse": "When we reverse the list {i} we get {a}.",
    "sort": "Sorting the list {i} from small to large gives {a}.",
    "max": "The largest value in the list {i} is {a}.",
    "count": "There are {a} numbers in the list {i}.",
    "add": "Adding {i0} and {i1} gives {a}.",
}
_BOILERPLATE = ["Home | About | Contact | Blog | Login", "Accept all cookies", "Please enable JavaScript to view this site.",
                "Share on Facebook Twitter Email", "Copyright 2024 All rights reserved", "Menu", "Skip to content",
                "Subscribe to our newsletter", "Privacy Policy | Terms of Use", "Next page >>", "<< Previous page"]
_SPAM = ["buy cheap digits now", "best list deals online", "click here for free numbers", "win big prizes today"]
_NAMES = ["jane", "omar", "li", "ana", "sam", "kofi", "mira", "tom"]
_DOMAINS = ["example.com", "mail.example.org", "school.example.net"]


def _example(rng: random.Random) -> str:
    p = tasks.sample_problem(rng)
    if p.task == "add":
        return _PLAIN["add"].format(i0=p.items[0], i1=p.items[1], a=p.answer)
    return _PLAIN[p.task].format(i=p.input, a=p.answer)


def _clean_page(rng: random.Random, n_paragraphs: tuple[int, int] = (3, 5)) -> str:
    paras = [[_sentence(rng) for _ in range(rng.randint(2, 3))] for _ in range(rng.randint(*n_paragraphs))]
    para = rng.choice(paras)  # one worked example per page: digits stay under Gopher's 20 % non-alphabetic words
    para.insert(rng.randrange(len(para) + 1), _example(rng))
    return "\n".join(" ".join(p) for p in paras)


def _contact(rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    kind = rng.randrange(3)
    if kind == 0:
        return f"Write to {name}.{rng.randint(1, 99)}@{rng.choice(_DOMAINS)} with your questions."
    if kind == 1:
        return f"Call {name} on {rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)} for help."
    return f"The server of {name} is at {rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)} today."


def _exact_copy(text: str, rng: random.Random) -> str:
    t = text.upper() if rng.random() < 0.5 else text.lower()
    return "  ".join(t.split(" ")) if rng.random() < 0.5 else t.replace(".", "!")


def _near_copy(text: str, rng: random.Random, edit_rate: float) -> str:
    body = " \n ".join(text.split("\n")).split(" ")
    n_edits = max(1, round(edit_rate * len(body)))
    for i in rng.sample(range(len(body)), n_edits):
        if body[i] != "\n":
            body[i] = rng.choice(["quite", "really", "simply", "also", "often", "now", "then", "here"])
    return " ".join(body).replace(" \n ", "\n")


def web_crawl(n_docs: int, *, seed: int = 0, eval_problems: Sequence[tasks.Problem] | None = None,
              mix: dict[str, float] | None = None, near_dup_edit_rate: float = 0.02,
              pii_rate: float = 0.1) -> Crawl:
    """Generate ``n_docs`` pages (copies after all other pages), with the ground truth of every duplicate and leak.

    ``mix``: the share of each kind (default ``DEFAULT_MIX``); duplicates and leaks copy or quote earlier
    clean pages / ``eval_problems`` (default: 100 held-out problems of :func:`tasks.split_problems`).
    ``near_dup_edit_rate``: share of words substituted in a near-duplicate (2 % keeps 5-shingle Jaccard
    ≈ 0.75–0.9)."""
    rng = random.Random(seed)
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ValueError(f"web_crawl: unknown kind(s) {sorted(unknown)} in mix; expected {KINDS}")
    if eval_problems is None:
        eval_problems = tasks.split_problems(1000, 100, seed=seed)[1]
    eval_problems = list(eval_problems)
    kinds = rng.choices(list(mix), weights=list(mix.values()), k=n_docs)
    # the first page is always clean so that copies have something to copy
    kinds.sort(key=lambda k: k in ("exact_dup", "near_dup"))
    crawl = Crawl(docs=[], eval_problems=eval_problems)
    clean_ids: list[int] = []
    for i, kind in enumerate(kinds):
        pii = False
        source = None
        if kind == "clean":
            text = _clean_page(rng)
            if rng.random() < pii_rate:
                text += "\n" + _contact(rng)
                pii = True
            clean_ids.append(i)
        elif kind == "boilerplate":
            text = "\n".join(rng.sample(_BOILERPLATE, rng.randint(3, 6)))
        elif kind == "spam":
            phrase = rng.choice(_SPAM)
            text = "\n".join(f"{phrase} {phrase} {phrase}!" for _ in range(rng.randint(8, 20)))
        elif kind == "lorem":
            text = _clean_page(rng) + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
        elif kind == "code":
            text = _clean_page(rng) + "\nfunction reverse(xs) { return xs.slice().reverse(); }"
        elif kind == "leak":
            p = rng.choice(eval_problems)
            text = _clean_page(rng, (2, 3)) + f"\nPractice question from the test: {problem_text(p)}.\n" + _clean_page(rng, (1, 2))
            crawl.leaked[i] = p
        else:  # copies of an earlier clean page
            if not clean_ids:
                raise ValueError("web_crawl: the mix has copies but no clean pages to copy")
            source = rng.choice(clean_ids)
            original = crawl.docs[source].text
            if kind == "exact_dup":
                text = _exact_copy(original, rng)
                crawl.exact_dup_pairs.add((source, i))
            else:
                text = _near_copy(original, rng, near_dup_edit_rate)
                crawl.near_dup_pairs.add((source, i))
        crawl.docs.append(Document(i, text, kind, source, pii))
    return crawl


DEFAULT_MIX = {"clean": 0.62, "boilerplate": 0.06, "spam": 0.04, "lorem": 0.02, "code": 0.02, "exact_dup": 0.06,
               "near_dup": 0.12, "leak": 0.06}
