"""A procedural language for generation: prompts whose exact answer is known, in three kinds whose
difficulty differs (so a small edge decoder and a larger cloud decoder really differ in quality):

- ``copy``: ``>word=`` -> ``word``;
- ``reverse``: ``<word=`` -> the word backwards;
- ``add``: ``a+b=`` -> the sum (``digits`` per operand): carries make it the hard kind.

Text is characters; ids are the vocabulary's (0 pad, 1 begin, 2 end). A prompt of ``context`` tokens is
the problem after solved examples of the same language (few-shot history), so the prefill grows with
the context while the answer stays exact. Seeded: the same seed gives the same prompts anywhere."""

from __future__ import annotations

import string

import numpy as np

PAD, BOS, EOS = 0, 1, 2
VOCAB: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", *string.digits, *string.ascii_lowercase, "+", "=", "<", ">", " ")
INDEX = {ch: i for i, ch in enumerate(VOCAB)}
KINDS = ("copy", "reverse", "add")


def encode(text: str) -> list[int]:
    """Ids of ``text`` (characters of the vocabulary; anything else is an error naming it)."""
    try:
        return [INDEX[ch] for ch in text]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the prompt language's vocabulary") from None


def decode(ids: list[int] | np.ndarray) -> str:
    """Text of ``ids`` up to the first end id (pads and begin dropped)."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i > EOS and i < len(VOCAB):
            out.append(VOCAB[i])
    return "".join(out)


def problem(rng: np.random.Generator, kind: str, digits: int) -> tuple[str, str]:
    if kind == "add":
        a, b = (int(rng.integers(0, 10**digits)) for _ in range(2))
        return f"{a}+{b}=", str(a + b)
    word = "".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(3, 7))))
    return (f">{word}=", word) if kind == "copy" else (f"<{word}=", word[::-1])


def generate(
    seed: int, samples: int, kinds: tuple[str, ...] = KINDS, digits: int = 2, context: int = 0
) -> tuple[np.ndarray, list[str], list[str]]:
    """``samples`` prompts as ids (N, length) padded with 0 at the end, their texts and answers. With
    ``context`` > 0 every prompt is exactly ``context`` ids: solved examples, then the problem."""
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds {list(kinds)}: each must be one of {', '.join(KINDS)}")
    if not 1 <= digits <= 6:
        raise ValueError(f"digits must be within 1..6, got {digits}")
    rng = np.random.default_rng(seed)
    texts, answers = [], []
    for _ in range(samples):
        prompt, answer = problem(rng, kinds[int(rng.integers(len(kinds)))], digits)
        if context:
            history = ""
            while True:
                shot_p, shot_a = problem(rng, kinds[int(rng.integers(len(kinds)))], digits)
                shot = f"{shot_p}{shot_a} "
                if 1 + len(history) + len(shot) + len(prompt) > context:
                    break
                history += shot
            prompt = " " * (context - 1 - len(history) - len(prompt)) + history + prompt
            if len(prompt) + 1 != context:
                raise ValueError(f"context {context} is shorter than one problem ({len(prompt) + 1} ids)")
        texts.append(prompt)
        answers.append(answer)
    width = max(len(t) for t in texts) + 1
    x = np.zeros((samples, width), dtype=np.int64)
    for i, t in enumerate(texts):
        ids = [BOS, *encode(t)]
        x[i, : len(ids)] = ids
    return x, texts, answers


def sequences(x: np.ndarray, answers: list[str], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing rows for training and perplexity: prompt + answer + end, padded to ``width``, and a
    mask of the positions whose next id is the answer's (the loss and perplexity count only those)."""
    rows = np.zeros((len(x), width), dtype=np.int64)
    mask = np.zeros((len(x), width), dtype=bool)
    for i, (p, a) in enumerate(zip(x, answers, strict=True)):
        prompt = [int(t) for t in p if t != PAD]
        full = prompt + encode(a) + [EOS]
        if len(full) > width:
            raise ValueError(f"a prompt and its answer take {len(full)} ids, more than {width}")
        rows[i, : len(full)] = full
        mask[i, len(prompt) - 1 : len(full) - 1] = True
    return rows, mask
