"""A procedural language for the text tasks: translation and extractive question answering.

Source sentences follow an English-like grammar (``the big dog sees a red ball quickly``: determiner,
optional adjective, noun, verb, determiner, optional adjective, noun, optional adverb). The target
language has its own words (a fixed lexicon; nouns and verbs also have a synonym that references use
at random, as human references vary) and its own order: adverb first, subject, object, verb last
(SOV), adjectives after their nouns; so a translator must learn
both the lexicon and the reordering, and sacreBLEU judges it as it would any MT system.

QA contexts are short stories of facts about people (``ana likes red tea . bo lives in paris .``)
and a question about one of them; the answer is a span of the context (SQuAD's format), exact.
Tokens are ids into :data:`VOCAB` (0 is padding); a pure function of (seed, index).
"""

from __future__ import annotations

import numpy as np

DETS = ("the", "a", "this", "every")
ADJS = ("big", "small", "red", "blue", "old", "new", "happy", "quiet")
NOUNS = ("dog", "cat", "bird", "child", "farmer", "ball", "house", "tree", "river", "car", "book", "teacher")
VERBS = ("sees", "likes", "finds", "takes", "paints", "follows", "builds", "reads")
ADVS = ("quickly", "slowly", "today", "again")
NAMES = ("ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu")
COLOURS = ("red", "blue", "green", "black", "white", "yellow")
THINGS = ("tea", "cars", "books", "music", "cats", "hats")
CITIES = ("paris", "lima", "oslo", "cairo", "quito", "delhi", "rome", "tokyo")
JOBS = ("doctor", "baker", "pilot", "farmer", "teacher", "singer")
FUNCTION = (
    "likes",
    "like",
    "lives",
    "live",
    "in",
    "works",
    "as",
    "a",
    "what",
    "does",
    "where",
    "who",
    "is",
    "the",
    ".",
    "?",
    "[sep]",
)
_SOURCE = DETS + ADJS + NOUNS + VERBS + ADVS
_SYLLABLES = tuple(
    a + b
    for a in ("ka", "lo", "mi", "ne", "po", "ru", "si", "tu")
    for b in ("n", "ra", "to", "vi", "x", "ma", "pe", "lu")
)
LEXICON = dict(zip(_SOURCE, _SYLLABLES, strict=False))
#: nouns and verbs have a synonym the references use 30 % of the time (free variation, as human
#: references have): a translator cannot know which, so even a perfect one scores below BLEU 100
SYNONYMS = dict(zip(NOUNS + VERBS, _SYLLABLES[len(_SOURCE) :], strict=False))
_TARGET_WORDS = tuple(LEXICON.values()) + tuple(SYNONYMS.values())
VOCAB = ("<pad>",) + tuple(dict.fromkeys(_SOURCE + _TARGET_WORDS + NAMES + COLOURS + THINGS + CITIES + JOBS + FUNCTION))
INDEX = {w: i for i, w in enumerate(VOCAB)}
SENTENCE_LEN, CONTEXT_LEN = 10, 48


def encode(words: list[str], length: int) -> np.ndarray:
    out = np.zeros(length, np.float32)
    out[: len(words)] = [INDEX[w] for w in words[:length]]
    return out


def words_of(ids: np.ndarray) -> list[str]:
    return [VOCAB[int(i)] for i in ids if int(i) > 0]


def sentence(seed: int, index: int) -> tuple[list[str], str]:
    """A source sentence (its words) and its reference translation (a string)."""
    r = np.random.default_rng([seed, index, 61])

    def word(w: str) -> str:
        return SYNONYMS[w] if w in SYNONYMS and r.random() < 0.3 else LEXICON[w]

    def phrase() -> tuple[list[str], list[str]]:
        det, noun = DETS[r.integers(len(DETS))], NOUNS[r.integers(len(NOUNS))]
        adj = [ADJS[r.integers(len(ADJS))]] if r.random() < 0.5 else []
        return [det, *adj, noun], [word(det), word(noun), *(word(a) for a in adj)]

    (s_src, s_tgt), (o_src, o_tgt) = phrase(), phrase()
    verb = VERBS[r.integers(len(VERBS))]
    adv = [ADVS[r.integers(len(ADVS))]] if r.random() < 0.4 else []
    src = [*s_src, verb, *o_src, *adv]
    tgt = [*(word(a) for a in adv), *s_tgt, *o_tgt, word(verb)]
    return src, " ".join(tgt)


def story(seed: int, index: int) -> tuple[list[str], list[str], str]:
    """Question words, context words and the answer (a span of the context)."""
    r = np.random.default_rng([seed, index, 62])
    people = [NAMES[i] for i in r.permutation(len(NAMES))[: r.integers(2, 4)]]
    facts: list[tuple[str, str, list[str]]] = []
    for p in people:
        for kind in r.permutation(3)[: r.integers(1, 3)]:  # at most 6 facts: the story fits
            if kind == 0:
                facts.append((p, "like", [COLOURS[r.integers(len(COLOURS))], THINGS[r.integers(len(THINGS))]]))
            elif kind == 1:
                facts.append((p, "live", [CITIES[r.integers(len(CITIES))]]))
            else:
                facts.append((p, "work", [JOBS[r.integers(len(JOBS))]]))
    order = r.permutation(len(facts))
    context: list[str] = []
    for i in order:
        p, kind, obj = facts[i]
        context += (
            {"like": [p, "likes"], "live": [p, "lives", "in"], "work": [p, "works", "as", "a"]}[kind] + obj + ["."]
        )
    p, kind, answer = facts[int(r.integers(len(facts)))]
    question = {"like": ["what", "does", p, "like", "?"], "live": ["where", "does", p, "live", "?"],
                "work": ["who", "is", p, "?"]}[kind]  # fmt: skip
    return question, context, " ".join(answer)


def translations(seed: int, count: int) -> tuple[np.ndarray, list[str]]:
    pairs = [sentence(seed, i) for i in range(count)]
    return np.stack([encode(s, SENTENCE_LEN) for s, _ in pairs]), [t for _, t in pairs]


def qa(seed: int, count: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """x (count, CONTEXT_LEN) question + [sep] + context ids, the answer spans' (start, end) token
    positions in x (inclusive), and the answers' text."""
    x = np.zeros((count, CONTEXT_LEN), np.float32)
    spans = np.zeros((count, 2), np.int64)
    answers = []
    for i in range(count):
        q, c, a = story(seed, i)
        words = [*q, "[sep]", *c]
        x[i] = encode(words, CONTEXT_LEN)
        target = a.split()
        offset = len(q) + 1
        # the answer's occurrence that follows the asked person's fact (names are unique per story)
        starts = [k for k in range(len(c)) if c[k : k + len(target)] == target and q[2] in c[max(0, k - 4) : k]]
        start = offset + starts[0]
        spans[i] = (start, start + len(target) - 1)
        answers.append(a)
    return x, spans, answers


#: the words that carry an opinion, and how much (text classification's hidden truth); every other word is neutral
POLARITY = {"happy": 2, "new": 1, "big": 1, "old": -1, "small": -1, "quiet": -2,
            "quickly": 1, "slowly": -1, "likes": 1, "builds": 1, "follows": -1, "takes": -1}  # fmt: skip
SENTIMENTS = ("negative", "neutral", "positive")


def reviews(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Sentences of the source language, x (count, SENTENCE_LEN) ids, and each one's sentiment (SST's
    three classes): the sign of its words' summed polarity. Word order does not matter, but every word
    does: a bag of words can score it, a keyword cannot."""
    x = np.zeros((count, SENTENCE_LEN), np.float32)
    y = np.zeros(count, np.int64)
    for i in range(count):
        src, _ = sentence(seed + 7919, i)  # a stream of its own, not translation's sentences
        x[i] = encode(src, SENTENCE_LEN)
        y[i] = int(np.sign(sum(POLARITY.get(w, 0) for w in src))) + 1
    return x, y
