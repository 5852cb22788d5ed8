"""Text and interactions from disk in the formats people have: JSON Lines for translation, QA and text
classification, MovieLens's ratings CSV for recommendation by NCF's protocol; the procedural reviews
for text classification. Each bad file is one error naming file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, language, materialize
from pytest_aibench.data.text_files import words


def _load(source: str, path: Path, **params):
    return materialize(DatasetSpec(name="d", source=source, path=path, eval_fraction=0.5, params=params))


def _jsonl(tmp_path: Path, rows: list, name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_qa_lines_become_the_ids_and_spans_the_procedural_source_gives(tmp_path):
    rows = []
    for i in range(6):
        q, c, a = language.story(0, i)
        rows.append({"question": " ".join(q), "context": " ".join(c), "answer": a})
    d = _load("jsonl", _jsonl(tmp_path, rows), task="question_answering")
    want, spans, _ = language.qa(0, 6)
    x = np.concatenate([d.x_train, d.x_eval])
    order = np.concatenate([d.y_train, d.y_eval])  # sample ids: the split permutes them
    got_spans = d.targets.labels[order]
    for k, i in enumerate(order):
        q, c, a = language.story(0, int(i))
        # the first occurrence of the answer in the context: the procedural truth's span when it is unique
        if " ".join(c).count(a) == 1:
            assert np.array_equal(x[k], want[i]) and tuple(got_spans[k]) == tuple(spans[i])
    assert d.task == "question_answering" and d.targets.texts[0] == rows[0]["answer"]


def test_translation_and_classification_lines_with_a_vocabulary_file_and_unknown_words(tmp_path):
    (tmp_path / "vocab.txt").write_text("<pad>\n[unk]\nthe\ncat\nsits\n.\n")
    rows = [{"source": "The cat sits.", "reference": "le chat"}, {"source": "The dog sits", "reference": "le chien"}]
    d = _load("jsonl", _jsonl(tmp_path, rows), task="translation", vocab="vocab.txt", length=6)
    x = np.concatenate([d.x_train, d.x_eval])[np.argsort(np.concatenate([d.y_train, d.y_eval]))]
    assert x.tolist() == [[2, 3, 4, 5, 0, 0], [2, 1, 4, 0, 0, 0]]  # 'dog' is [unk]
    assert d.targets.texts == ("le chat", "le chien") and d.task == "translation"
    rows = [{"text": "big happy dog", "label": "positive"}, {"text": "small quiet cat", "label": "negative"}] * 3
    d = _load("jsonl", _jsonl(tmp_path, rows, "c.jsonl"), task="text_classification")
    assert d.num_classes == 2 and d.meta["classes"] == ["negative", "positive"] and d.x_eval.shape[1] == 10
    assert d.task is None and d.meta["text_task"] == "text_classification"  # judged as classification (top-1)


@pytest.mark.parametrize(
    "rows, params, message",
    [
        (['{"source": "the cat"', '{"source": "a", "reference": "b"}'], {}, r"t\.jsonl:1: not JSON"),
        ([{"source": "the cat"}, {"source": "a", "reference": "b"}], {}, r"t\.jsonl:1: key 'reference' is missing"),
        ([{"source": "the zebra", "reference": "x"}] * 2, {}, r"t\.jsonl:1: key 'source': word 'zebra' is not in"),
        ([{"question": "who ?", "context": "ana works as a pilot", "answer": "a baker"}] * 2,
         {"task": "question_answering"}, r"t\.jsonl:1: key 'answer' 'a baker' is not a span of the context"),
        ([{"text": "the cat", "label": "x"}] * 2, {"task": "sentiment"}, r"params\.task 'sentiment' is not one"),
        ([{"source": "the cat sees the dog", "reference": "x"}] * 2, {"length": 3}, r"has 5 words, past .* 3"),
    ],
)  # fmt: skip
def test_a_bad_jsonl_file_is_one_error_naming_the_line_and_key(tmp_path, rows, params, message):
    with pytest.raises(DatasetError, match=message):
        _load("jsonl", _jsonl(tmp_path, rows), **params)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=40))
def test_words_are_lowercase_tokens_that_rejoin_to_the_text_without_spaces(text):
    ws = words(text)
    assert all(w == w.lower() and w.strip() == w and w for w in ws)
    assert "".join(ws) == "".join(text.lower().split()) or any(not c.isprintable() for c in text)


def _ratings(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n")
    return path


def test_ratings_csv_holds_out_each_users_latest_item_among_unseen_negatives(tmp_path):
    rng = np.random.default_rng(0)
    lines, latest = [], {}
    for u in (1, 2, 10):  # numeric ids renumber in numeric order: 1, 2, 10 -> 0, 1, 2
        items = rng.choice(np.arange(100, 130), 6, replace=False)
        for t, m in enumerate(items):
            lines.append(f"{u},{m},4.0,{1000 + t}")
        latest[u] = int(items[-1])
    rng.shuffle(lines)
    d = _load("ratings_csv", _ratings(tmp_path, lines), negatives=5, seed=3)
    x = np.concatenate([d.x_train, d.x_eval])
    ids = np.concatenate([d.y_train, d.y_eval])
    items = sorted({int(line.split(",")[1]) for line in lines})
    seen = {}
    for line in lines:
        u, m = line.split(",")[:2]
        seen.setdefault(int(u), set()).add(int(m))
    for row, i in zip(x, ids, strict=True):
        user = (1, 2, 10)[int(row[0, 0])]
        pos = int(d.targets.labels[i])
        assert items[int(row[pos, 1])] == latest[user]  # the truth is the held-out latest interaction
        negatives = {items[int(m)] for k, m in enumerate(row[:, 1]) if k != pos}
        assert len(negatives) == 5 and not negatives & seen[user]  # never an item the user touched
    assert d.task == "recommendation"
    again = _load("ratings_csv", _ratings(tmp_path, lines), negatives=5, seed=3)
    assert np.array_equal(again.x_eval, d.x_eval)


@pytest.mark.parametrize(
    "lines, params, message",
    [
        (["1,5,4.0,abc", "2,6,3.0,1"], {}, r"ratings\.csv:2: column 'timestamp' is 'abc'"),
        (["1,5,4.0,1"], {"negatives": 0}, r"0 users with at least 2 interactions"),
        (["1,5,4.0,1", "1,6,4.0,2", "2,5,1,1", "2,6,1,2"], {}, r"2 items cannot give 99 negatives"),
    ],
)
def test_a_bad_ratings_file_is_one_error_naming_the_line_or_what_to_lower(tmp_path, lines, params, message):
    with pytest.raises(DatasetError, match=message):
        _load("ratings_csv", _ratings(tmp_path, lines), **params)
    (tmp_path / "bad.csv").write_text("user,item\n1,2\n")
    with pytest.raises(DatasetError, match=r"bad\.csv:1: header .* lacks userId, movieId, timestamp"):
        _load("ratings_csv", tmp_path / "bad.csv")


def test_reviews_are_labelled_by_their_words_summed_polarity():
    x, y = language.reviews(0, 300)
    for ids, label in zip(x, y, strict=True):
        total = sum(language.POLARITY.get(w, 0) for w in language.words_of(ids))
        assert label == int(np.sign(total)) + 1
    assert set(np.bincount(y, minlength=3) > 50) == {True}  # all three classes, none rare


def test_a_jsonl_text_classification_file_runs_as_an_item_judged_by_top1(pytester: pytest.Pytester) -> None:
    pytest.importorskip("onnxruntime")
    x, y = language.reviews(0, 400)
    rows = [
        {"text": " ".join(language.words_of(ids)), "label": language.SENTIMENTS[k]} for ids, k in zip(x, y, strict=True)
    ]
    _jsonl(Path(pytester.path), rows, "reviews.jsonl")
    (Path(pytester.path) / "suite.yaml").write_text(
        "suite: text\nversion: '1.0'\n"
        "datasets:\n  reviews: {source: jsonl, path: reviews.jsonl, params: {task: text_classification}}\n"
        "models:\n  sentiment: {zoo: encoder-reviews, dataset: reviews}\n"
        "frameworks: [onnxruntime]\nquantizations: [fp32]\nparadigms: [single]\n"
        "gates: {accuracy: '>= 0.9'}\nsettings: {latency_samples: 3, warmup: 1}\n"
    )
    r = pytester.runpytest("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "run.json")
    r.assert_outcomes(passed=1)
    (item,) = json.loads((Path(pytester.path) / "run.json").read_text())["items"]
    assert item["metrics"]["accuracy"] >= 0.9  # the shipped model reads the file's words as its own ids
