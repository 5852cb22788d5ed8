"""Collaborative learning across simulated edges and a cloud: federated_learning (FedAvg),
incremental_learning (hard examples, an evaluation gate) and lifelong_learning (a task sequence).

They train the case's zoo architecture from a seeded initialisation with torch (1 thread,
deterministic algorithms: the same seed gives the same accuracy everywhere). Simulated time and
energy come from FLOPs, node profiles and seeded links; client rounds run in simulated time with
simpy (stragglers against a deadline, dropouts)."""

from __future__ import annotations

import copy
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.errors import NotAvailable
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.remote import client_update, fedavg
from pytest_aibench.paradigms.single import prediction_hash
from pytest_aibench.paradigms.torchtrain import architecture, deterministic, fresh, nbytes, predict, sgd

simpy = lazy("simpy")
SIMPY_HINT = "pip install 'pytest-aibench[sim]' (simpy)"


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


@dataclass
class _Federation:
    """One federated run's fixed inputs and running tallies (so each step is a small method)."""

    ctx: ParadigmContext
    clients: int
    epochs: int
    lr: float
    deadline: float
    dropout: float
    straggle: float
    train_flops: float
    x_train: np.ndarray
    parts: list[np.ndarray]
    rng: np.random.Generator
    up: Any
    down: Any
    env: Any
    edge_gflops: float = 1.0
    size: int = 0
    edge_busy: float = 0.0
    moved: list[float] = field(default_factory=list)

    def reachable(self, start: float) -> dict[int, tuple[float, float] | None]:
        """Who gets the global model this round and is willing, and how slow each device is (seeded,
        in client order): client -> (download seconds, slowness) or None."""
        plan: dict[int, tuple[float, float] | None] = {}
        for k in range(self.clients):
            t_down = self.down.transfer(self.size, start)
            if t_down is None or self.rng.random() < self.dropout:
                plan[k] = None
            else:
                plan[k] = (t_down, float(self.rng.lognormal(0.0, self.straggle)))
        return plan

    def train(self, active: list[int], state: dict[str, Any], r: int) -> dict[int, Any]:
        """Local training of the active clients: on edge workers with a cluster, in parallel."""
        ctx, data = self.ctx, self.ctx.dataset
        family, config = architecture(ctx)
        jobs = [(family, config, state, self.x_train[self.parts[k]], data.y_train[self.parts[k]], self.epochs,
                 self.lr, ctx.seed * 1000 + r * 97 + k) for k in active]
        updates = dict(zip(active, ctx.backend.map("edge", client_update, jobs), strict=True))
        if updates:
            sample = next(iter(updates.values()))[0]
            seconds = ctx.backend.move(np.concatenate([v.numpy().ravel() for v in sample.values()]), "edge", "cloud")
            if seconds is not None:
                self.moved.append(seconds)
        return updates

    def client(self, k: int, t_down: float, slow: float, finished: dict[int, float]) -> Generator[Any, Any, None]:
        """A simpy process: download, compute, upload (a lost upload never finishes)."""
        yield self.env.timeout(t_down)
        compute = self.epochs * len(self.parts[k]) * self.train_flops / (self.edge_gflops * 1e9) * slow
        self.edge_busy += compute
        yield self.env.timeout(compute)
        t_up = self.up.transfer(self.size, self.env.now)
        if t_up is None:
            return
        yield self.env.timeout(t_up)
        finished[k] = self.env.now

    def simulate(self, plan: dict[int, tuple[float, float] | None], active: list[int], start: float) -> list[int]:
        """The round in simulated time against the deadline; the clients whose update arrived in time."""
        finished: dict[int, float] = {}
        procs = []
        for k in active:
            t_down, slow = plan[k]  # type: ignore[misc]
            procs.append(self.env.process(self.client(k, t_down, slow, finished)))
        if procs:
            self.env.run(until=self.env.any_of([self.env.all_of(procs), self.env.timeout(self.deadline)]))
        return [k for k in active if k in finished and finished[k] - start <= self.deadline]


class FederatedLearning:
    name = "federated_learning"

    def run(self, ctx: ParadigmContext) -> Measurement:
        try:
            simpy.Environment  # noqa: B018 - probe the optional dependency before training anything
        except ImportError:
            raise NotAvailable(f"federated_learning runs client rounds in simulated time with simpy: {SIMPY_HINT}") from None
        p, topo, data = ctx.param, ctx.topology, ctx.dataset
        clients, rounds = int(p("clients", topo.edges if topo.edges > 1 else 8)), int(p("rounds", 10))
        alpha = None if p("partition", "iid") == "iid" else float(p("alpha", 0.5))
        target = float(p("target_accuracy", 0.9))
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        up, down = topo.channels(ctx.seed)
        fed = _Federation(ctx, clients, int(p("local_epochs", 1)), float(p("lr", 0.05)), float(p("deadline_s", 1e9)),
                          float(p("dropout", 0.0)), float(p("straggler_sigma", 0.3)),
                          3 * (ctx.facts.mflops or 1.0) * 1e6,  # forward + backward ~ 3x forward
                          ctx.session.adapt(data.x_train), partition(data.y_train, clients, alpha, ctx.seed),
                          np.random.default_rng([ctx.seed, 5]), up, down, simpy.Environment())
        if topo.edge.gflops is None:
            raise NotAvailable("federated_learning simulates the clients' compute: the edge node needs gflops")
        fed.edge_gflops = topo.edge.gflops
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            fed.size = nbytes(model)
            history, rounds_log, reached = [], [], None
            for r in range(rounds):
                start, state = fed.env.now, {k: v.detach().clone() for k, v in model.state_dict().items()}
                plan = fed.reachable(start)
                active = [k for k in range(clients) if plan[k] is not None]
                updates = fed.train(active, state, r)
                done = fed.simulate(plan, active, start)
                if done:  # FedAvg in the cloud, weighted by each client's samples
                    model.load_state_dict(ctx.backend.run("cloud", fedavg, [updates[k] for k in done], state))
                acc = float((predict(model, x_eval)[0] == y_eval).mean())
                history.append(acc)
                if reached is None and acc >= target:
                    reached = fed.env.now
                rounds_log.append({"round": r + 1, "accuracy": acc, "clients": len(done),
                                   "stragglers": len(active) - len(done),
                                   "dropped": clients - len(active), "sim_time_s": fed.env.now})
            preds = predict(model, x_eval)[0]
        return _federated_measurement(ctx, fed, preds, y_eval, history, rounds_log, reached, alpha, target)


def _federated_measurement(ctx: ParadigmContext, fed: _Federation, preds: np.ndarray, y_eval: np.ndarray,
                           history: list[float], rounds_log: list[dict[str, Any]], reached: float | None,
                           alpha: float | None, target: float) -> Measurement:
    m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
    m.metrics.update({
        "fl.rounds": len(history), "fl.clients": fed.clients,
        "fl.partition": "iid" if alpha is None else f"dirichlet({alpha:g})",
        "fl.final_accuracy": history[-1], "fl.best_accuracy": max(history),
        "sim.fl_time_s": fed.env.now, "sim.time_to_target_s": reached if reached is not None else -1.0,
        "fl.rounds_to_target": next((i + 1 for i, a in enumerate(history) if a >= target), -1),
        "fl.target_accuracy": target, "bytes.up": fed.up.bytes_sent, "bytes.down": fed.down.bytes_sent,
        "fl.stragglers": sum(r["stragglers"] for r in rounds_log), "fl.dropouts": sum(r["dropped"] for r in rounds_log),
        "sim.edge_energy_j": (ctx.topology.edge.max_w or 0.0) * fed.edge_busy,
        **({"measured.update_transfer_ms": 1e3 * sum(fed.moved) / len(fed.moved)} if fed.moved else {})})
    m.info.update({"accuracy_per_round": history, "rounds": rounds_log, "model_bytes": fed.size,
                   "backend": ctx.backend.describe(), "topology": ctx.topology.describe(),
                   "prediction_hash": prediction_hash(preds)})
    return m


class IncrementalLearning:
    """Data arrives in rounds at the edge; hard examples (low confidence) go to the cloud, which
    retrains a candidate; the candidate replaces the model only if it evaluates better."""

    name = "incremental_learning"

    def run(self, ctx: ParadigmContext) -> Measurement:
        p, data, topo = ctx.param, ctx.dataset, ctx.topology
        rounds, threshold = int(p("rounds", 5)), float(p("threshold", 0.9))
        epochs, lr, initial = int(p("epochs", 3)), float(p("lr", 0.05)), float(p("initial_fraction", 0.1))
        x_train = ctx.session.adapt(data.x_train)
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        order = np.random.default_rng([ctx.seed, 13]).permutation(len(data.y_train))
        n_val = max(10, len(order) // 10)
        val, rest = order[:n_val], order[n_val:]
        n0 = max(10, int(len(rest) * initial))
        seen, arriving = rest[:n0], np.array_split(rest[n0:], rounds)
        up, _ = topo.channels(ctx.seed)
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            sgd(model, x_train[seen], data.y_train[seen], epochs, lr, ctx.seed)
            pool = list(seen)
            log, sent, arrived = [], 0, 0
            for r, batch in enumerate(arriving):
                preds, conf = predict(model, x_train[batch])
                hard = batch[conf < threshold]
                arrived += len(batch)
                sent += len(hard)
                up.transfer(int(x_train[0].nbytes) * len(hard), float(r))
                pool += hard.tolist()
                candidate = copy.deepcopy(model)
                sgd(candidate, x_train[pool], data.y_train[pool], epochs, lr, ctx.seed + r + 1)
                before = float((predict(model, x_train[val])[0] == data.y_train[val]).mean())
                after = float((predict(candidate, x_train[val])[0] == data.y_train[val]).mean())
                replaced = after >= before
                if replaced:
                    model = candidate
                acc = float((predict(model, x_eval)[0] == y_eval).mean())
                log.append({"round": r + 1, "arrived": len(batch), "hard_examples": len(hard), "replaced": replaced,
                            "validation_before": before, "validation_after": after, "accuracy": acc})
            preds = predict(model, x_eval)[0]
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update({"il.rounds": rounds, "il.samples_transfer_ratio": sent / max(1, arrived),
                          "il.replacements": sum(r["replaced"] for r in log), "bytes.up": up.bytes_sent,
                          "il.final_accuracy": log[-1]["accuracy"] if log else float((preds == y_eval).mean())})
        m.info.update({"rounds": log, "accuracy_per_round": [r["accuracy"] for r in log],
                       "prediction_hash": prediction_hash(preds)})
        return m


#: lifelong tasks: the same classes seen through a different lens each time (domain-incremental)
TASKS = {"original": lambda x: x, "rotated": lambda x: np.rot90(x, 1, axes=(2, 3)).copy(),
         "inverted": lambda x: (x.max() - x).astype(np.float32), "flipped": lambda x: x[:, :, :, ::-1].copy()}


class LifelongLearning:
    """A sequence of tasks learned one after another; the task x round accuracy matrix, backward
    transfer (BWT: how much later tasks cost earlier ones) and forward transfer (FWT)."""

    name = "lifelong_learning"

    def run(self, ctx: ParadigmContext) -> Measurement:
        p, data = ctx.param, ctx.dataset
        names = list(p("tasks", list(TASKS)))
        epochs, lr = int(p("epochs", 3)), float(p("lr", 0.05))
        x_train = ctx.session.adapt(data.x_train)
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        with deterministic(ctx.seed):
            model = fresh(ctx, ctx.seed)
            baseline = [float((predict(model, TASKS[t](x_eval))[0] == y_eval).mean()) for t in names]
            matrix = []
            for i, t in enumerate(names):
                sgd(model, TASKS[t](x_train), data.y_train, epochs, lr, ctx.seed + i)
                matrix.append([float((predict(model, TASKS[u](x_eval))[0] == y_eval).mean()) for u in names])
            preds = predict(model, TASKS[names[-1]](x_eval))[0]
        n = len(names)
        bwt = float(np.mean([matrix[-1][j] - matrix[j][j] for j in range(n - 1)])) if n > 1 else 0.0
        fwt = float(np.mean([matrix[j - 1][j] - baseline[j] for j in range(1, n)])) if n > 1 else 0.0
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update({"ll.bwt": bwt, "ll.fwt": fwt, "ll.tasks": n,
                          "ll.average_accuracy": float(np.mean(matrix[-1]))})
        m.info.update({"tasks": names, "accuracy_matrix": matrix, "random_init_accuracy": baseline,
                       "matrix_rows": "after learning task i (row), accuracy on task j (column)",
                       "prediction_hash": prediction_hash(preds)})
        return m
