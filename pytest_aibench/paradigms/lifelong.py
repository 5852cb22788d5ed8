"""Lifelong learning as KubeEdge Ianvs defines it: tasks arrive one after another; a task detector
(a pluggable stage, ``task_detection``) says which known task an input batch belongs to, or that it is
unseen; a knowledge base keeps one model per task with the task's input signature; an unseen task
gets a new entry, initialised from the nearest known task's model (forward transfer), and at
inference is answered by that nearest model and counted.

After each training task every task's evaluation data is answered through task detection and the
knowledge base, giving the accuracy matrix; from it: the average accuracy over tasks (the headline
``accuracy``: every task's evaluation samples count once, ``ll.average_accuracy``), and backward and
forward transfer as Ianvs defines them (its matrix's row 0 is the untrained model); GEM's backward
transfer and forgetting only where they are not 0 by construction."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aibench.core.metric import column, declare
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.single import prediction_hash
from pytest_aibench.paradigms.stages import stage
from pytest_aibench.paradigms.torchtrain import deterministic, fresh, predict, sgd

#: lifelong tasks: the same classes seen through a different lens each time (domain-incremental)
TASKS = {
    "original": lambda x: x,
    "rotated": lambda x: np.rot90(x, 1, axes=(2, 3)).copy(),
    "inverted": lambda x: (x.max() - x).astype(np.float32),
    "flipped": lambda x: x[:, :, :, ::-1].copy(),
}


def signature(x: np.ndarray) -> np.ndarray:
    """A batch's input signature: its mean input, flattened (what sets one task's inputs apart)."""
    return np.asarray(x, dtype=np.float64).mean(axis=0).ravel()


@dataclass
class Entry:
    model: Any
    signature: np.ndarray
    samples: int


@dataclass
class KnowledgeBase:
    """One model per known task, with its input signature."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def distances(self, x: np.ndarray) -> dict[str, float]:
        """Relative distance of the batch's signature to each known task's."""
        sig = signature(x)
        return {
            t: float(np.linalg.norm(sig - e.signature) / (np.linalg.norm(e.signature) + 1e-12))
            for t, e in self.entries.items()
        }

    def nearest(self, x: np.ndarray, threshold: float | None = None) -> str | None:
        """The nearest known task; None if there is none, or it is farther than ``threshold``."""
        d = self.distances(x)
        if not d:
            return None
        best = min(d, key=lambda t: (d[t], t))
        return best if threshold is None or d[best] <= threshold else None

    def learn(self, name: str, model: Any, x: np.ndarray) -> None:
        old = self.entries.get(name)
        if old is None:
            self.entries[name] = Entry(model, signature(x), len(x))
        else:  # the signature of everything this task has shown so far
            n = old.samples + len(x)
            self.entries[name] = Entry(model, (old.signature * old.samples + signature(x) * len(x)) / n, n)


def ianvs_transfer(rows: list[list[float]]) -> dict[str, float]:
    """Ianvs's BWT and FWT (``compute`` in its testcasecontroller metrics) of a (T+1) x T accuracy matrix
    whose row 0 is before any task: BWT = mean over i, j < T of M[i+1][j] - M[i][j]; FWT = mean over
    i < T of M[i][i] - M[0][i]. Absent for fewer than two rows, as Ianvs returns NaN."""
    t = len(rows) - 1
    if t < 1 or any(len(r) != t for r in rows):
        return {}
    bwt = sum(rows[i + 1][j] - rows[i][j] for i in range(t) for j in range(t)) / (t * t)
    fwt = sum(rows[i][i] - rows[0][i] for i in range(t)) / t
    return {"ll.bwt": float(bwt), "ll.fwt": float(fwt)}


class LifelongLearning:
    name = "lifelong_learning"

    @dataclass(frozen=True)
    class Params:
        tasks: tuple[str, ...] = tuple(TASKS)  # the task sequence (names of TASKS)
        epochs: int = 3
        lr: float = 0.05
        unseen_threshold: float = 0.25  # the detector's distance beyond which a task is unseen
        task_detection: str = "similarity"  # a task-detection stage (built-in name or module:callable)

    provides = declare(
        ("ll.average_accuracy", "mean accuracy over tasks after the last (the headline accuracy)", True, "1"),
        (
            "ll.bwt",
            "Ianvs's BWT, the mean change of every task's accuracy from one learning round to the next (its "
            "testcasecontroller metrics)",
            True,
        ),
        ("ll.fwt", "Ianvs's FWT, mean accuracy on each task before learning it minus the untrained model's", True),
        (
            "ll.forgetting",
            "mean drop from each task's best accuracy (Chaudhry et al.; absent where 0 by construction)",
            False,
            "1",
        ),
        (
            "ll.gem_bwt",
            "GEM's backward transfer, final minus just-learned accuracy (absent where 0 by construction)",
            True,
        ),
        ("ll.task_detection_accuracy", "evaluation tasks routed to their own knowledge-base entry", True, "1"),
        ("ll.known_tasks", "entries in the knowledge base", None),
        ("ll.unseen_at_training", "tasks the detector found unseen when they arrived", None),
        ("ll.tasks", "tasks in the sequence", None),
        ("ll.task_accuracy.*", "accuracy on one task (named in the metric) after the last", True, "1"),
    )
    provides |= column(
        provides,
        {
            "ll.average_accuracy": ("LL mean acc", "{:.4f}"),
            "ll.forgetting": ("LL forget", "{:.4f}"),
            "ll.bwt": ("BWT", "{:+.4f}"),
            "ll.fwt": ("FWT", "{:+.4f}"),
        },
    )
    learns = True  # seeds: N runs it over N seeds (run.seeds)

    def run(self, ctx: ParadigmContext) -> Measurement:
        p, data = ctx.param, ctx.dataset
        names = list(p("tasks"))
        epochs, lr, threshold = int(p("epochs")), float(p("lr")), float(p("unseen_threshold"))
        detector_name, detect = stage("task_detection", ctx.params, ctx.case.suite)
        x_train = ctx.session.adapt(data.x_train)
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        evals = {t: TASKS[t](x_eval) for t in names}
        kb, log = KnowledgeBase(), []
        with deterministic(ctx.seed):
            untrained = fresh(ctx, ctx.seed)
            baseline = [float((predict(untrained, evals[t])[0] == y_eval).mean()) for t in names]
            matrix = []
            for i, t in enumerate(names):
                xt = TASKS[t](x_train)
                known = detect(xt, kb, threshold)
                if known is None:  # unseen: a new entry, starting from the nearest task's model
                    near = kb.nearest(xt)
                    model = copy.deepcopy(kb.entries[near].model) if near else fresh(ctx, ctx.seed)
                    key = t
                else:
                    model, key = kb.entries[known].model, known
                sgd(model, xt, data.y_train, epochs, lr, ctx.seed + i)
                kb.learn(key, model, xt)
                row, routed = self._evaluate(kb, detect, evals, y_eval, threshold)
                matrix.append(row)
                log.append({"task": t, "detected_as": known or "unseen", "stored_as": key, "routing": routed})
            preds = np.concatenate(
                [predict(kb.entries[self._route(kb, detect, evals[t], threshold)[0]].model, evals[t])[0] for t in names]
            )
        return self._measurement(ctx, names, matrix, baseline, log, preds, np.tile(y_eval, len(names)), detector_name)

    @staticmethod
    def _route(kb: KnowledgeBase, detect: Any, x: np.ndarray, threshold: float) -> tuple[str, bool]:
        """The entry that answers ``x``, and whether the detector found it unseen (then the nearest answers)."""
        found = detect(x, kb, threshold)
        if found is not None and found in kb.entries:
            return found, False
        return str(kb.nearest(x)), True

    def _evaluate(
        self, kb: KnowledgeBase, detect: Any, evals: dict[str, np.ndarray], y: np.ndarray, threshold: float
    ) -> tuple[list[float], dict[str, str]]:
        row, routed = [], {}
        for t, x in evals.items():
            entry, unseen = self._route(kb, detect, x, threshold)
            routed[t] = f"unseen -> {entry}" if unseen else entry
            row.append(float((predict(kb.entries[entry].model, x)[0] == y).mean()))
        return row, routed

    @staticmethod
    def _measurement(
        ctx: ParadigmContext,
        names: list[str],
        matrix: list[list[float]],
        baseline: list[float],
        log: list[dict[str, Any]],
        preds: np.ndarray,
        labels: np.ndarray,
        detector: str,
    ) -> Measurement:
        n = len(names)
        final = matrix[-1]
        transfer = ianvs_transfer([baseline, *matrix])
        # GEM's backward transfer and forgetting compare a task's accuracy after later tasks with its own;
        # where every task kept its own untouched model and routing never moved, both are 0 by construction:
        # absent then, not a measured 0
        retrained = len({e["stored_as"] for e in log}) < n
        gem = {}
        if n > 1:
            drop = [max(matrix[i][j] for i in range(j, n - 1)) - final[j] for j in range(n - 1)]
            back = [final[j] - matrix[j][j] for j in range(n - 1)]
            if retrained or any(back) or any(drop):
                gem = {"ll.gem_bwt": float(np.mean(back)), "ll.forgetting": float(np.mean(drop))}
        last = log[-1]["routing"]
        m = Measurement(predictions=preds, labels=labels, seed=ctx.seed)
        m.metrics.update(
            {
                "ll.average_accuracy": float(np.mean(final)),
                **transfer,
                **gem,
                "ll.tasks": n,
                "ll.known_tasks": len({e["stored_as"] for e in log}),
                "ll.task_detection_accuracy": float(np.mean([last[t] == t for t in names])),
                "ll.unseen_at_training": sum(e["detected_as"] == "unseen" for e in log),
                **{f"ll.task_accuracy.{t}": final[j] for j, t in enumerate(names)},
            }
        )
        m.info.update(
            {
                "tasks": names,
                "accuracy_matrix": matrix,
                "random_init_accuracy": baseline,
                "matrix_rows": "after learning task i (row), accuracy on task j (column), through task detection",
                "transfer": "ll.bwt, ll.fwt as Ianvs computes them (core/testcasecontroller/metrics/metrics.py) "
                "on the matrix whose row 0 is the untrained model: BWT the mean change of every "
                "cell from one row to the next, FWT the mean of M[i][i] - M[0][i]; ll.gem_bwt and "
                "ll.forgetting (GEM, Chaudhry et al.) only where not 0 by construction",
                "task_detection": detector,
                "learning_log": log,
                "headline": "accuracy = ll.average_accuracy: the mean over tasks of the final row",
                "prediction_hash": prediction_hash(preds),
            }
        )
        return m
