"""Part 2's tasks: their numbers equal the field's definitions computed independently on the same
predictions, their decoders recover what raw outputs say, and their procedural data carry exact truth
(pure logic: no pytest session)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.data import DatasetError, clinical, faces, interactions, language, materialize, speech
from pytest_aibench.tasks import TASKS, text, verification
from pytest_aibench.tasks import recommendation as rec
from pytest_aibench.tasks import speech as speech_task

pytest.importorskip("sklearn")


def _data(source: str, **params):
    return materialize(DatasetSpec(name=source, source=source, eval_fraction=0.5, params=params))


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney: the share of (positive, negative) pairs ordered right, ties half."""
    pos, neg = s[y == 1], s[y == 0]
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def test_phenotyping_macro_auroc_is_the_mean_of_each_labels_rank_statistic():
    d = _data("icu", outcome="phenotyping", samples=200, steps=24)
    y = d.targets.labels[d.y_eval]
    rng = np.random.default_rng(0)
    raw = y * 1.5 + rng.normal(0, 1, y.shape)  # an informative, imperfect model's logits
    task = TASKS.get("multilabel")
    out = task.score(task.decode(raw, d.y_eval, d, (0, 0)), d.y_eval, d)
    want = np.mean([_auroc(y[:, k], raw[:, k]) for k in range(y.shape[1])])
    assert 0.6 < out["multilabel.macro_auroc"] < 0.99
    assert out["multilabel.macro_auroc"] == pytest.approx(want, abs=1e-12)
    assert out["multilabel.micro_auroc"] == pytest.approx(_auroc(y.ravel(), raw.ravel()), abs=1e-12)


def test_verification_ten_folds_choose_thresholds_on_the_other_nine():
    same = np.array([1, 0] * 50, bool)
    sim = np.where(same, 0.8, 0.2) + np.linspace(-0.05, 0.05, 100)
    assert verification.ten_fold_accuracy(same, sim) == 1.0
    sim[:10] = np.where(same[:10], 0.1, 0.9)  # the first fold's pairs all the wrong way round
    assert verification.ten_fold_accuracy(same, sim) == pytest.approx(0.9)
    # TAR at FAR: the loosest threshold that accepts at most that share of impostors
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0], bool)
    assert verification.tar_at(y, s, 0.0) == pytest.approx(2 / 3)
    assert verification.tar_at(y, s, 0.34) == 1.0


def test_verification_decodes_cosines_of_the_two_halves():
    a = np.array([[1.0, 0, 2, 0], [1, 1, -1, -1]])
    got = TASKS.get("verification").decode(a, np.arange(2), None, (0, 0))
    assert got == pytest.approx([1.0, -1.0])


def test_recommendation_ranks_ties_pessimistically_and_matches_hit_rate_and_ndcg():
    scores = np.array([[0.9, 0.5, 0.1, 0.3], [0.2, 0.2, 0.2, 0.2], [0.1, 0.2, 0.3, 0.4]])
    positive = np.array([0, 2, 1])
    assert list(rec.ranks(scores, positive)) == [0, 3, 2]  # a constant model ranks the real item last

    class D:
        name = "d"

        class targets:
            labels = positive

            @staticmethod
            def need(*a):
                return positive

    out = TASKS.get("recommendation").score(list(scores), np.arange(3), D)
    assert out["recommendation.hr_10"] == 1.0  # four candidates: always in the top 10
    assert out["recommendation.hr_5"] == 1.0
    assert out["recommendation.ndcg_10"] == pytest.approx(np.mean([1.0, 1 / np.log2(5), 1 / np.log2(4)]))
    assert out["recommendation.mrr"] == pytest.approx(np.mean([1.0, 1 / 4, 1 / 3]))


def test_interactions_hold_out_a_seen_item_among_unseen_negatives():
    x, pos = interactions.generate(0, 40, users=10, items=150, per_user=5, negatives=99)
    assert x.shape == (40, 100, 2) and (x[:, :, 0] == x[:, :1, 0]).all()  # one user per list
    for i in range(40):
        items = x[i, :, 1].astype(int)
        assert len(set(items)) == 100  # the real item and 99 distinct others
    again, pos2 = interactions.generate(0, 40, users=10, items=150, per_user=5, negatives=99)
    assert np.array_equal(x, again) and np.array_equal(pos, pos2)
    # the held-out items are what the users prefer: their affinity beats the negatives' on average
    aff = interactions.preferences(0, 10, 150)
    users, held = x[np.arange(40), pos, 0].astype(int), x[np.arange(40), pos, 1].astype(int)
    assert aff[users, held].mean() > aff[x[:, :, 0].astype(int), x[:, :, 1].astype(int)].mean() + 0.5


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
    def frames(*symbols: int) -> np.ndarray:
        out = np.zeros((len(symbols), len(speech_task.ALPHABET) + 1))
        out[np.arange(len(symbols)), symbols] = 1.0
        return out

    go = speech_task.encode("go")
    assert speech_task.greedy(frames(0, go[0], go[0], 0, go[1], go[1], 0)) == "go"
    o = speech_task.encode("o")[0]
    assert speech_task.greedy(frames(o, 0, o)) == "oo"  # a blank separates a doubled letter


def test_speech_wer_and_cer_count_edits_over_the_corpus():
    jiwer = pytest.importorskip("jiwer")

    class D:
        name = "utt"
        meta = {"frontend_ms_per_clip": 0.5}

        class targets:
            texts = ("go left now", "stop")

            @staticmethod
            def need(*a):
                return D.targets.texts

    out = TASKS.get("speech_recognition").score(["go right now", "stop"], np.arange(2), D)
    assert out["speech.wer"] == pytest.approx(1 / 4)  # one substitution in four reference words
    assert out["speech.wer"] == jiwer.wer(list(D.targets.texts), ["go right now", "stop"])
    assert out["speech.sentence_accuracy"] == 0.5 and out["speech.frontend_ms_per_clip"] == 0.5


def test_squad_normalisation_f1_and_exact_match():
    assert text.normalize_answer("The  Red, Tea!") == "red tea"
    assert text.f1("red tea", "the red tea") == 1.0
    assert text.f1("red", "red tea") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert text.f1("blue", "red tea") == 0.0


def test_qa_spans_are_the_answers_and_the_decoder_finds_the_best_one():
    x, spans, answers = language.qa(0, 200)
    for row, (s, e), a in zip(x, spans, answers, strict=True):
        assert " ".join(language.words_of(row[s : e + 1])) == a
    logits = np.full((language.CONTEXT_LEN, 2), -5.0)
    s, e = spans[0]
    logits[s, 0] = logits[e, 1] = 5.0
    logits[0, 0] = 9.0  # inside the question: never an answer
    assert text.best_span(logits, x[0]) == (s, e + 1)


def test_translation_references_follow_the_target_grammar_and_bleu_is_sacrebleus():
    sacrebleu = pytest.importorskip("sacrebleu")
    src, ref = language.sentence(0, 3)
    tgt = ref.split()
    verb = [w for w in src if w in language.VERBS][0]
    assert len(tgt) == len(src) and tgt[-1] in (language.LEXICON[verb], language.SYNONYMS[verb])
    d = _data("translation", samples=40)
    refs = [d.targets.texts[int(i)] for i in d.y_eval]
    hyps = refs[:-3] + ["x y z"] * 3
    out = TASKS.get("translation").score(hyps, d.y_eval, d)
    assert out["translation.bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert out["translation.exact"] == pytest.approx(17 / 20)
    # decoding drops padding: logits whose argmax spells the reference then pads
    ids = language.encode(refs[0].split(), 10)
    raw = np.eye(len(language.VOCAB))[ids.astype(int)][None]
    assert TASKS.get("translation").decode(raw, d.y_eval[:1], d, (0, 0)) == [refs[0]]


def test_generators_are_pure_functions_of_seed_and_index():
    assert np.array_equal(faces.render_pair(0, 5, 32, 50)[0], faces.render_pair(0, 5, 32, 50)[0])
    assert np.array_equal(speech.keyword(1, 7, 10)[0], speech.keyword(1, 7, 10)[0])
    a, b = clinical.phenotypes(0, 3, 48, 0.3), clinical.phenotypes(0, 3, 48, 0.3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    x, same = faces.generate(0, 20, 32, 50)
    assert same.mean() == 0.5 and x.shape == (20, 6, 32, 32)


def test_phenotype_signatures_move_their_channels():
    # shock lowers blood pressure: stays with it have lower mean systolic z-scores than those without
    x, _, labels = clinical.generate("phenotyping", 0, 400, 48, 0.3)
    shock = labels[:, clinical.PHENOTYPES.index("shock")] == 1
    assert x[shock, :, 2].mean() < x[~shock, :, 2].mean() - 0.5


def test_speech_sources_give_log_mel_frames_and_time_the_front_end():
    d = _data("keywords", samples=20, speakers=4)
    assert d.x_eval.shape[1:] == (98, 40) and d.task == "keyword_spotting"
    assert d.meta["frontend_ms_per_clip"] > 0
    u = _data("speech", samples=10, speakers=3, seconds=2.0)
    assert u.x_eval.shape[2] == 40 and all(set(t) <= set(speech_task.ALPHABET) for t in u.targets.texts)


@pytest.mark.parametrize(
    "source, params, words",
    [
        ("icu", {"outcome": "dying"}, ["outcome must be one of mortality, decompensation, phenotyping"]),
        ("face_pairs", {"identities": 1}, ["identities must be at least 2"]),
        ("interactions", {"items": 50}, ["need items >= negatives + per_user + 1"]),
        ("clips", {"frames": 1}, ["frames must be within 2..64"]),
        ("speech", {"seconds": 0.5}, ["seconds within 1.5..20"]),
        ("qa", {"sample": 5}, ["unknown params sample", "known: samples, length, seed"]),
    ],
)
def test_bad_parameters_are_one_clear_error_naming_the_dataset(source, params, words):
    with pytest.raises(DatasetError) as exc:
        materialize(DatasetSpec(name="mine", source=source, params=params))
    assert "'mine'" in str(exc.value)
    for w in words:
        assert w in str(exc.value)


def test_loadgen_accuracy_log_payloads_become_each_samples_raw_outputs(tmp_path):
    from pytest_aibench.measure.mlperf_log import parse_outputs

    rows = np.arange(12, dtype="<f4").reshape(2, 3, 2)
    log = [
        {"seq_id": 0, "qsl_idx": 2, "data": rows[0].tobytes().hex()},
        {"qsl_idx": 0, "data": rows[1].tobytes().hex()},
    ]
    (tmp_path / "acc.json").write_text(__import__("json").dumps(log))
    out, answered = parse_outputs(tmp_path / "acc.json", 3, (3, 2))
    assert list(answered) == [True, False, True]
    assert np.array_equal(out[2], rows[0]) and np.array_equal(out[0], rows[1]) and not out[1].any()


def _write_wav(path, audio: np.ndarray, rate: int, width: int = 2) -> None:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        else:
            w.writeframes(((audio + 1) * 127).astype(np.uint8).tobytes())


def test_a_wav_folder_with_transcripts_reads_resampled_into_the_same_front_end(tmp_path):
    lines = []
    for i in range(4):
        audio, words = speech.utterance(0, i, 5, 2.0)
        up = np.interp(np.arange(len(audio) * 2) / 2, np.arange(len(audio)), audio)  # a 16 kHz recording
        _write_wav(tmp_path / f"u{i}.wav", up, 16000)
        lines.append(f"u{i} {words.upper()}")
    (tmp_path / "transcripts.txt").write_text("\n".join(lines) + "\n")
    d = materialize(
        DatasetSpec(name="mine", source="wavs", path=str(tmp_path), eval_fraction=0.5, params={"seconds": 2.0})
    )
    assert d.task == "speech_recognition" and d.x_eval.shape[1:] == speech.log_mel(np.zeros((1, 16000))).shape[1:]
    assert set(d.targets.texts) == {ln.split(" ", 1)[1].lower() for ln in lines}
    # resampled to 8 kHz, the recording's features are the procedural clip's own
    audio, _ = speech.utterance(0, int(d.y_eval[0]), 5, 2.0)
    assert np.abs(d.x_eval[0] - speech.log_mel(audio[None])[0]).mean() < 0.5


@pytest.mark.parametrize(
    "transcripts, files, words",
    [
        ("u0 go left\nu1 stop 42\n", ["u0", "u1"], ["transcripts.txt:2", "'u1'", "characters '24'"]),
        ("u0 go left\nu9 stop\n", ["u0"], ["'u9' has no file u9.wav"]),
        ("u0 go\n", ["u0:8bit"], ["u0.wav: 8-bit samples; expected 16-bit PCM"]),
    ],
)
def test_a_bad_wav_folder_is_one_error_naming_file_and_line(tmp_path, transcripts, files, words):
    for f in files:
        name, _, kind = f.partition(":")
        _write_wav(tmp_path / f"{name}.wav", np.zeros(800), 8000, 1 if kind == "8bit" else 2)
    (tmp_path / "transcripts.txt").write_text(transcripts)
    with pytest.raises(DatasetError) as exc:
        materialize(DatasetSpec(name="mine", source="wavs", path=str(tmp_path)))
    for w in words:
        assert w in str(exc.value)
