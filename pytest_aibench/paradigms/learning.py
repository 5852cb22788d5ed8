"""Learning at the edge with a cloud behind it: single_task_learning (Ianvs's baseline: train once,
evaluate) and incremental_learning (hard examples go up the link, the cloud retrains, an evaluation
gate decides). Federated paradigms are in ``federated``, lifelong learning in ``lifelong``.

They train the case's zoo architecture from a seeded initialisation with torch (1 thread,
deterministic algorithms: the same seed gives the same accuracy everywhere)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from pytest_aibench.core.metric import declare
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.single import prediction_hash
from pytest_aibench.paradigms.stages import stage
from pytest_aibench.paradigms.torchtrain import deterministic, fresh, predict, sgd


class IncrementalLearning:
    """Data arrives in rounds at the edge; hard examples (low confidence) go to the cloud, which
    retrains a candidate; the candidate replaces the model only if it evaluates better."""

    name = "incremental_learning"

    @dataclass(frozen=True)
    class Params:
        rounds: int = 5
        threshold: float = 0.9  # the mining rule's confidence threshold
        epochs: int = 3
        lr: float = 0.05
        initial_fraction: float = 0.1  # share of the training split the first model learns from
        round_s: float = 1.0  # simulated seconds per round (the link's outages are on this clock)
        hard_example_mining: str = "confidence"  # a mining stage (built-in name or module:callable)

    provides = declare(
        ("bytes.up", "bytes sent edge to cloud", False),
        ("il.final_accuracy", "accuracy after the last round", True, "1"),
        ("il.rounds", "rounds run", None),
        ("il.replacements", "times the retrained model replaced the deployed one", None),
        ("il.samples_transfer_ratio", "hard examples sent / samples arrived", False, "1"),
        ("il.trained_on", "samples in the cloud's training pool", None),
        ("il.undelivered", "hard examples still waiting at the edge (the link was out)", False),
    )
    learns = True  # seeds: N runs it over N seeds (run.seeds)

    def run(self, ctx: ParadigmContext) -> Measurement:
        p, data, topo = ctx.param, ctx.dataset, ctx.topology
        rounds, threshold = int(p("rounds")), float(p("threshold"))
        epochs, lr, initial = int(p("epochs")), float(p("lr")), float(p("initial_fraction"))
        x_train = ctx.session.adapt(data.x_train)
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        order = np.random.default_rng([ctx.seed, 13]).permutation(len(data.y_train))
        n_val = max(10, len(order) // 10)
        val, rest = order[:n_val], order[n_val:]
        n0 = max(10, int(len(rest) * initial))
        seen, arriving = rest[:n0], np.array_split(rest[n0:], rounds)
        up, _ = topo.channels(ctx.seed)
        _, mine = stage("hard_example_mining", ctx.params, ctx.case.suite)
        interval = float(p("round_s"))  # simulated seconds between rounds (when uploads start)
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            sgd(model, x_train[seen], data.y_train[seen], epochs, lr, ctx.seed)
            pool, waiting = list(seen), np.array([], dtype=int)
            log, sent, arrived = [], 0, 0
            for r, batch in enumerate(arriving):
                preds, conf = predict(model, x_train[batch])
                hard = batch[np.asarray(mine(conf, threshold), dtype=bool)]
                arrived += len(batch)
                waiting = np.concatenate([waiting, hard])  # mined now or left over from an outage
                delivered = up.transfer(int(x_train[0].nbytes) * len(waiting), r * interval) is not None
                if delivered:  # the cloud trains only on what reached it; the rest waits for the link
                    sent += len(waiting)
                    pool += waiting.tolist()
                    waiting = np.array([], dtype=int)
                candidate = copy.deepcopy(model)
                sgd(candidate, x_train[pool], data.y_train[pool], epochs, lr, ctx.seed + r + 1)
                before = float((predict(model, x_train[val])[0] == data.y_train[val]).mean())
                after = float((predict(candidate, x_train[val])[0] == data.y_train[val]).mean())
                replaced = after >= before
                if replaced:
                    model = candidate
                acc = float((predict(model, x_eval)[0] == y_eval).mean())
                log.append(
                    {
                        "round": r + 1,
                        "arrived": len(batch),
                        "hard_examples": len(hard),
                        "delivered": delivered,
                        "waiting_at_edge": len(waiting),
                        "replaced": replaced,
                        "validation_before": before,
                        "validation_after": after,
                        "accuracy": acc,
                    }
                )
            preds = predict(model, x_eval)[0]
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update(
            {
                "il.rounds": rounds,
                "il.samples_transfer_ratio": sent / max(1, arrived),
                "il.undelivered": int(len(waiting)),
                "il.trained_on": len(pool),
                "il.replacements": sum(r["replaced"] for r in log),
                "bytes.up": up.bytes_sent,
                "il.final_accuracy": log[-1]["accuracy"] if log else float((preds == y_eval).mean()),
            }
        )
        m.info.update(
            {
                "rounds": log,
                "accuracy_per_round": [r["accuracy"] for r in log],
                "prediction_hash": prediction_hash(preds),
            }
        )
        return m


class SingleTaskLearning:
    """Ianvs's single-task learning, the baseline every collaborative paradigm is compared with: the
    case's architecture trained once on the whole training split (in the cloud, where the data is
    gathered), then evaluated; the bytes it took to gather the data are counted."""

    name = "single_task_learning"

    @dataclass(frozen=True)
    class Params:
        epochs: int = 3
        lr: float = 0.05

    provides = declare(
        ("stl.train_samples", "samples trained on", None),
        ("bytes.up", "bytes sent edge to cloud (the training data gathered)", False),
        ("stl.epochs", "epochs trained", None),
        ("sim.gather_s", "simulated seconds to gather the training data", False, "s"),
    )
    learns = True  # seeds: N runs it over N seeds (run.seeds)

    def run(self, ctx: ParadigmContext) -> Measurement:
        p, data = ctx.param, ctx.dataset
        epochs, lr = int(p("epochs")), float(p("lr"))
        x_train = ctx.session.adapt(data.x_train)
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        up, _ = ctx.topology.channels(ctx.seed)
        gathered = up.transfer_waiting(int(x_train.nbytes), 0.0)  # the training data goes up once
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            sgd(model, x_train, data.y_train, epochs, lr, ctx.seed)
            preds = predict(model, x_eval)[0]
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update(
            {
                "stl.train_samples": len(data.y_train),
                "stl.epochs": epochs,
                "bytes.up": up.bytes_sent,
                "sim.gather_s": gathered,
            }
        )
        m.info.update({"prediction_hash": prediction_hash(preds)})
        return m
