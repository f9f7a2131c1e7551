"""Wrong answers for ``04_augmentation`` (see ``tests/wrong_answers/__init__.py``)."""

from . import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer("04_augmentation", "synonym_replacement", "test_synonym_replacement", "replacing stop words", '''
def synonym_replacement(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
    new_words = list(words)
    if alpha == 0 or not words:
        return new_words
    n = max(1, math.floor(alpha * len(words)))
    candidates = list(dict.fromkeys(words))
    rng.shuffle(candidates)
    replaced = 0
    for word in candidates:
        if synonyms(word):
            choice = rng.choice(synonyms(word))
            new_words = [choice if w == word else w for w in new_words]
            replaced += 1
            if replaced == n:
                break
    return new_words
'''),
    WrongAnswer("04_augmentation", "random_insertion", "test_random_insertion", "mutating the caller's list", '''
def random_insertion(words, alpha, synonyms, rng, stop_words=STOP_WORDS):
    sources = [w for w in dict.fromkeys(words) if w not in stop_words and synonyms(w)]
    if not sources or alpha == 0:
        return words
    for _ in range(max(1, math.floor(alpha * len(words)))):
        words.insert(rng.randint(0, len(words)), rng.choice(synonyms(rng.choice(sources))))
    return words
'''),
    WrongAnswer("04_augmentation", "random_swap", "test_random_swap", "same RNG state reused so every augmentation is identical", '''
def random_swap(words, alpha, rng):
    rng = random.Random(42)
    new_words = list(words)
    if len(new_words) < 2:
        return new_words
    for _ in range(max(1, math.floor(alpha * len(words)))):
        i, j = rng.sample(range(len(new_words)), 2)
        new_words[i], new_words[j] = new_words[j], new_words[i]
    return new_words
'''),
    WrongAnswer("04_augmentation", "random_deletion", "test_random_deletion", "deleting with probability 1−p", '''
def random_deletion(words, p, rng):
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() < p]
    return kept if kept else [rng.choice(words)]
'''),
    WrongAnswer("04_augmentation", "random_deletion", "test_random_deletion", "returning an empty sentence", '''
def random_deletion(words, p, rng):
    return [w for w in words if rng.random() >= p]
'''),
    WrongAnswer("04_augmentation", "insert_punctuation", "test_insert_punctuation", "inserted no punctuation", '''
def insert_punctuation(words, rng, punctuation=PUNCTUATION):
    if not words:
        return []
    q = rng.randint(0, max(1, len(words) // 3))
    positions = set(rng.sample(range(len(words)), q))
    out = []
    for i, word in enumerate(words):
        if i in positions:
            out.append(rng.choice(list(punctuation)))
        out.append(word)
    return out
'''),
    WrongAnswer("04_augmentation", "rouge_l_filter", "test_rouge_l_filter",
                "compared only with the existing pool, not with the instructions kept so far", '''
def rouge_l_filter(candidates, existing, threshold=0.7):
    return [c for c in candidates if all(augment.rouge_l(c, e) <= threshold for e in existing)]
'''),
]
