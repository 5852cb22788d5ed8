"""Federated paradigms in simulated time: federated_learning (FedAvg on IID or Dirichlet non-IID
partitions) and federated_class_incremental_learning (clients meet new classes task by task).

Client rounds run in simulated time with simpy: download the global model, train (FLOPs / the edge's
GFLOP/s, times a seeded straggler factor), upload, against the round's deadline. Link outages are
honoured: a transfer during one waits and retries every ``retry_s`` until the link is back or the
deadline passes (``on_outage: wait``, the default), or the client misses the round (``skip``). Only
updates that arrived are aggregated, and only the clients whose update arrives are trained, so time
always runs on through an outage and nothing learns from data that never moved."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import MISSING, ParadigmContext
from pytest_aibench.paradigms.remote import client_update
from pytest_aibench.paradigms.single import prediction_hash
from pytest_aibench.paradigms.stages import stage
from pytest_aibench.paradigms.torchtrain import architecture, deterministic, fresh, nbytes, predict

simpy = lazy("simpy")
SIMPY_HINT = "pip install 'pytest-aibench[sim]' (simpy)"
OUTAGE_POLICIES = ("wait", "skip")


#: what a federation records over its rounds (both federated paradigms)
FEDERATION = declare(
    ("bytes.up", "bytes sent edge to cloud", False),
    ("bytes.down", "bytes sent cloud to edge", False),
    ("fl.retries", "transfers retried because the link was out", False),
    ("fl.sim_time_s", "simulated seconds when the last round ends (outages included)", False, "s"),
    ("sim.edge_energy_j", "simulated edge energy, whole run", False, "J"),
    ("measured.update_transfer_ms", "wall time to move one client update (cluster runs)", None, "ms"),
    ("fl.clients", "clients in the federation", None),
    ("fl.missed", "client updates that did not arrive by the deadline", False),
    ("fl.dropouts", "client updates dropped (dropout)", None),
)
FEDERATION |= column(FEDERATION, {"fl.sim_time_s": ("FL sim s", "{:.2f}")})


def partition(y: np.ndarray, clients: int, alpha: float | None, seed: int) -> list[np.ndarray]:
    """Indices per client: IID (alpha None) or non-IID, each class spread by Dirichlet(alpha)."""
    rng = np.random.default_rng([seed, 3])
    if alpha is None:
        order = rng.permutation(len(y))
        return [np.sort(part) for part in np.array_split(order, clients)]
    parts: list[list[int]] = [[] for _ in range(clients)]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        cuts = (np.cumsum(rng.dirichlet([alpha] * clients)) * len(idx)).astype(int)[:-1]
        for k, chunk in enumerate(np.split(idx, cuts)):
            parts[k] += chunk.tolist()
    return [np.sort(np.array(p, dtype=int)) for p in parts]


def _probe_simpy(paradigm: str) -> None:
    try:
        simpy.Environment  # noqa: B018 - probe the optional dependency before training anything
    except ImportError:
        raise NotAvailable(f"{paradigm} runs client rounds in simulated time with simpy: {SIMPY_HINT}") from None


@dataclass(frozen=True)
class FederationParams:
    """What every federation reads (both federated paradigms)."""

    on_outage: str = "wait"  # wait (retry until the link is back) or skip (the round goes on without)
    retry_s: float = 0.5  # simulated seconds between retries during an outage
    deadline_s: float = 1e9  # simulated seconds a round waits for client updates
    local_epochs: int = 1
    lr: float = 0.05
    dropout: float = 0.0  # share of clients that drop out of a round
    straggler_sigma: float = 0.3  # log-normal spread of the clients' compute times
    aggregation: str = "fedavg"  # an aggregation stage (built-in name or module:callable)


#: a simulated duration past this (about 3 million years) is a typo, not an experiment
MAX_SIM_SECONDS = 1e14


def bounded(p: Any, key: str) -> float:
    """``params.<key>``, a positive, finite number of simulated seconds (else one clear error): a zero
    or negative retry interval would never let simulated time pass."""
    raw = p(key)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= MAX_SIM_SECONDS:
        raise ArtifactError(
            f"params.{key}: expected a number of simulated seconds above 0 and at most {MAX_SIM_SECONDS:g}, got {raw!r}"
        )
    return value


#: more clients or rounds than this simulate for hours: refused with the limit named
MAX_COUNT = 10_000


def count(p: Any, key: str, default: Any = MISSING) -> int:
    """``params.<key>``, a whole number from 1 to :data:`MAX_COUNT` (else one clear error)."""
    raw = p(key, default)
    if not (
        isinstance(raw, (int, float))
        and not isinstance(raw, bool)
        and math.isfinite(raw)
        and raw == int(raw)
        and 1 <= raw <= MAX_COUNT
    ):
        raise ArtifactError(f"params.{key}: expected a whole number from 1 to {MAX_COUNT}, got {raw!r}")
    return int(raw)


@dataclass
class Federation:
    """One federated run's clock, links and tallies; ``round`` is one FedAvg round in simulated time."""

    ctx: ParadigmContext
    clients: int
    epochs: int
    lr: float
    deadline: float
    dropout: float
    straggle: float
    retry_s: float
    on_outage: str
    train_flops: float
    rng: np.random.Generator
    up: Any
    down: Any
    env: Any
    aggregate: Any
    edge_gflops: float = 1.0
    size: int = 0
    edge_busy: float = 0.0
    retries: int = 0
    moved: list[float] = field(default_factory=list)

    @classmethod
    def from_params(cls, ctx: ParadigmContext, clients: int) -> Federation:
        p, topo = ctx.param, ctx.topology
        if topo.edge.gflops is None:
            raise NotAvailable(f"{ctx.case.paradigm} simulates the clients' compute: the edge node needs gflops")
        policy = str(p("on_outage"))
        if policy not in OUTAGE_POLICIES:
            raise ArtifactError(f"params.on_outage {policy!r}: expected one of {', '.join(OUTAGE_POLICIES)}")
        retry_s, deadline_s = bounded(p, "retry_s"), bounded(p, "deadline_s")
        up, down = topo.channels(ctx.seed)
        fed = cls(
            ctx,
            clients,
            int(p("local_epochs")),
            float(p("lr")),
            deadline_s,
            float(p("dropout")),
            float(p("straggler_sigma")),
            retry_s,
            policy,
            3 * (ctx.facts.mflops or 1.0) * 1e6,  # forward + backward ~ 3x forward
            np.random.default_rng([ctx.seed, 5]),
            up,
            down,
            simpy.Environment(),
            stage("aggregation", ctx.params, ctx.case.suite)[1],
        )
        fed.edge_gflops = topo.edge.gflops
        return fed

    def _send(self, channel: Any) -> Generator[Any, Any, bool]:
        """Move the model over ``channel`` from now; through an outage, wait and retry or give up. The
        retries that fall inside an outage all fail, so they are counted, not simulated one by one: an
        outage of any length costs one step (the round's deadline interrupts a wait past it)."""
        while True:
            now = self.env.now
            seconds = channel.transfer(self.size, now)
            if seconds is not None:
                yield self.env.timeout(seconds)
                return True
            if self.on_outage == "skip":
                return False
            waits = max(1, math.ceil((channel.up_at(now) - now) / self.retry_s))
            self.retries += waits
            yield self.env.timeout(waits * self.retry_s)

    def client(self, k: int, samples: int, slow: float, finished: dict[int, float]) -> Generator[Any, Any, None]:
        """A simpy process: download, compute, upload; interrupted when the round's deadline passes."""
        try:
            if not (yield from self._send(self.down)):
                return
            compute = self.epochs * samples * self.train_flops / (self.edge_gflops * 1e9) * slow
            self.edge_busy += compute
            yield self.env.timeout(compute)
            if (yield from self._send(self.up)):
                finished[k] = self.env.now
        except simpy.Interrupt:
            return

    def round(self, sizes: list[int]) -> tuple[list[int], int]:
        """One round from now: (the clients whose update arrived in time, the clients that dropped out).
        Dropouts and straggler factors are drawn first, in client order, so they do not depend on links."""
        start, finished = self.env.now, dict[int, float]()
        draws = [
            (self.rng.random() < self.dropout, float(self.rng.lognormal(0.0, self.straggle)))
            for _ in range(self.clients)
        ]
        willing = [k for k in range(self.clients) if not draws[k][0] and sizes[k] > 0]
        procs = [self.env.process(self.client(k, sizes[k], draws[k][1], finished)) for k in willing]
        if procs:
            self.env.run(until=self.env.any_of([self.env.all_of(procs), self.env.timeout(self.deadline)]))
        for proc in procs:
            if proc.is_alive:
                proc.interrupt("deadline")
        if not finished:  # nothing arrived: the server waits before it tries the next round
            self.env.run(until=max(self.env.now, start) + self.retry_s)
        return [k for k in willing if k in finished], self.clients - len(willing)

    def train(
        self, done: list[int], state: dict[str, Any], xs: list[np.ndarray], ys: list[np.ndarray], seed: int
    ) -> dict[int, Any]:
        """Local training of the clients whose update arrives (on edge workers with a cluster)."""
        family, config = architecture(self.ctx)
        jobs = [(family, config, state, xs[k], ys[k], self.epochs, self.lr, seed * 1000 + k) for k in done]
        updates = dict(zip(done, self.ctx.backend.map("edge", client_update, jobs), strict=True))
        if updates:
            sample = next(iter(updates.values()))[0]
            seconds = self.ctx.backend.move(
                np.concatenate([v.numpy().ravel() for v in sample.values()]), "edge", "cloud"
            )
            if seconds is not None:
                self.moved.append(seconds)
        return updates

    def step(self, model: Any, xs: list[np.ndarray], ys: list[np.ndarray], seed: int) -> tuple[list[int], int]:
        """A whole round: simulate who gets through, train them, aggregate what arrived."""
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        done, dropped = self.round([len(y) for y in ys])
        if done:
            updates = self.train(done, state, xs, ys, seed)
            model.load_state_dict(self.ctx.backend.run("cloud", self.aggregate, [updates[k] for k in done], state))
        return done, dropped

    def tallies(self) -> dict[str, Any]:
        return {
            "fl.sim_time_s": self.env.now,
            "fl.retries": self.retries,
            "bytes.up": self.up.bytes_sent,
            "bytes.down": self.down.bytes_sent,
            "sim.edge_energy_j": (self.ctx.topology.edge.max_w or 0.0) * self.edge_busy,
            **({"measured.update_transfer_ms": 1e3 * sum(self.moved) / len(self.moved)} if self.moved else {}),
        }


class FederatedLearning:
    name = "federated_learning"

    @dataclass(frozen=True)
    class Params(FederationParams):
        clients: int | None = None  # None: the topology's edges (8 where it has one)
        rounds: int = 10
        partition: str = "iid"  # iid or dirichlet
        alpha: float = 0.5  # the Dirichlet concentration (dirichlet partition)
        target_accuracy: float = 0.9  # for time and rounds to target

    provides = {
        **FEDERATION,
        **declare(
            ("fl.final_accuracy", "accuracy after the last round", True, "1"),
            ("fl.best_accuracy", "best accuracy of any round", True, "1"),
            ("fl.rounds", "rounds run", None),
            ("fl.partition", "how the training data is split over clients (iid or dirichlet(alpha))", None),
            ("fl.target_accuracy", "the target accuracy of time-to-target", None, "1"),
            ("sim.time_to_target_s", "simulated time to the target accuracy (-1: not reached)", False, "s"),
            ("fl.rounds_to_target", "rounds to the target accuracy (-1: not reached)", False),
        ),
    }
    provides |= column(provides, {"fl.final_accuracy": ("FL acc", "{:.4f}")})
    learns = True  # seeds: N runs it over N seeds (run.seeds)

    def run(self, ctx: ParadigmContext) -> Measurement:
        _probe_simpy(self.name)
        p, topo, data = ctx.param, ctx.topology, ctx.dataset
        clients, rounds = count(p, "clients", topo.edges if topo.edges > 1 else 8), count(p, "rounds")
        alpha = None if p("partition") == "iid" else float(p("alpha"))
        target = float(p("target_accuracy"))
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval, x_train = ctx.session.adapt(x_eval), ctx.session.adapt(data.x_train)
        parts = partition(data.y_train, clients, alpha, ctx.seed)
        xs, ys = [x_train[i] for i in parts], [data.y_train[i] for i in parts]
        fed = Federation.from_params(ctx, clients)
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            fed.size = nbytes(model)
            history, log, reached = [], [], None
            for r in range(rounds):
                done, dropped = fed.step(model, xs, ys, ctx.seed + r * 97)
                acc = float((predict(model, x_eval)[0] == y_eval).mean())
                history.append(acc)
                if reached is None and acc >= target:
                    reached = fed.env.now
                log.append(
                    {
                        "round": r + 1,
                        "accuracy": acc,
                        "clients": len(done),
                        "dropped": dropped,
                        "missed": clients - dropped - len(done),
                        "sim_time_s": fed.env.now,
                    }
                )
            preds = predict(model, x_eval)[0]
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update(
            {
                "fl.rounds": len(history),
                "fl.clients": clients,
                "fl.partition": "iid" if alpha is None else f"dirichlet({alpha:g})",
                "fl.final_accuracy": history[-1],
                "fl.best_accuracy": max(history),
                "sim.time_to_target_s": reached if reached is not None else -1.0,
                "fl.rounds_to_target": next((i + 1 for i, a in enumerate(history) if a >= target), -1),
                "fl.target_accuracy": target,
                "fl.missed": sum(r["missed"] for r in log),
                "fl.dropouts": sum(r["dropped"] for r in log),
                **fed.tallies(),
            }
        )
        m.info.update(
            {
                "accuracy_per_round": history,
                "rounds": log,
                "model_bytes": fed.size,
                "on_outage": fed.on_outage,
                "backend": ctx.backend.describe(),
                "topology": topo.describe(),
                "prediction_hash": prediction_hash(preds),
            }
        )
        return m


class FederatedClassIncrementalLearning:
    """Ianvs's federated class-incremental learning: the classes arrive in tasks (``tasks`` groups of
    classes); each task is ``rounds_per_task`` FedAvg rounds over the clients' data of the classes seen
    so far in that task only (no replay), and after each task the global model is evaluated on every
    class seen so far. Reports accuracy per task, the average incremental accuracy and forgetting."""

    name = "federated_class_incremental_learning"

    @dataclass(frozen=True)
    class Params(FederationParams):
        tasks: int = 2  # class-incremental tasks (the classes split evenly)
        clients: int = 4
        rounds_per_task: int = 3
        alpha: float = 0.5  # the Dirichlet concentration of each task's split over clients

    provides = {
        **FEDERATION,
        **declare(
            (
                "fcil.average_incremental_accuracy",
                "mean over tasks of the accuracy on the classes seen so far",
                True,
                "1",
            ),
            ("fcil.final_average_accuracy", "mean accuracy over every task's classes at the end", True, "1"),
            ("fcil.forgetting", "mean drop from each task's best accuracy", False, "1"),
            ("fcil.tasks", "class-incremental tasks", None),
        ),
    }
    provides |= column(
        provides,
        {"fcil.average_incremental_accuracy": ("FCIL avg acc", "{:.4f}"), "fcil.forgetting": ("FCIL forget", "{:.4f}")},
    )
    learns = True  # seeds: N runs it over N seeds (run.seeds)

    def run(self, ctx: ParadigmContext) -> Measurement:
        _probe_simpy(self.name)
        p, data = ctx.param, ctx.dataset
        classes = np.unique(data.y_train)
        groups = [np.asarray(g) for g in np.array_split(classes, int(p("tasks")))]
        clients, per_task = count(p, "clients"), count(p, "rounds_per_task")
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval, x_train = ctx.session.adapt(x_eval), ctx.session.adapt(data.x_train)
        fed = Federation.from_params(ctx, clients)
        matrix: list[list[float]] = []  # after task i (row): accuracy on task j's classes (column, j <= i)
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            fed.size = nbytes(model)
            for t, group in enumerate(groups):
                idx = np.flatnonzero(np.isin(data.y_train, group))
                parts = partition(data.y_train[idx], clients, float(p("alpha")), ctx.seed + t)
                xs, ys = [x_train[idx[i]] for i in parts], [data.y_train[idx[i]] for i in parts]
                for r in range(per_task):
                    fed.step(model, xs, ys, ctx.seed + 1000 * t + r)
                preds = predict(model, x_eval)[0]
                matrix.append(
                    [float((preds[np.isin(y_eval, g)] == y_eval[np.isin(y_eval, g)]).mean()) for g in groups[: t + 1]]
                )
            seen = np.isin(y_eval, np.concatenate(groups))
            preds = predict(model, x_eval[seen])[0]
        n = len(groups)
        forgetting = [max(matrix[i][j] for i in range(j, n - 1)) - matrix[-1][j] for j in range(n - 1)]
        m = Measurement(predictions=preds, labels=y_eval[seen], seed=ctx.seed)
        m.metrics.update(
            {
                "fcil.tasks": n,
                "fcil.average_incremental_accuracy": float(np.mean([np.mean(row) for row in matrix])),
                "fcil.final_average_accuracy": float(np.mean(matrix[-1])),
                "fcil.forgetting": float(np.mean(forgetting)) if forgetting else 0.0,
                **fed.tallies(),
            }
        )
        m.info.update(
            {
                "class_groups": [g.tolist() for g in groups],
                "accuracy_matrix": matrix,
                "matrix_rows": "after task i (row), accuracy on the classes of task j <= i (column)",
                "prediction_hash": prediction_hash(preds),
            }
        )
        return m
