"""Collaborative learning across simulated edges and a cloud: federated_learning (FedAvg),
incremental_learning (hard examples, an evaluation gate) and lifelong_learning (a task sequence).

They train the case's zoo architecture from a seeded initialisation with torch (1 thread,
deterministic algorithms: the same seed gives the same accuracy everywhere). Simulated time and
energy come from FLOPs, node profiles and seeded links; client rounds run in simulated time with
simpy (stragglers against a deadline, dropouts)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from pytest_aibench.artifact import NotAvailable
from pytest_aibench.measure import Measurement
from pytest_aibench.paradigms import ParadigmContext
from pytest_aibench.paradigms.single import prediction_hash

SIMPY_HINT = "pip install 'pytest-aibench[sim]' (simpy)"


@contextmanager
def _deterministic(seed: int) -> Iterator[Any]:
    import torch  # noqa: PLC0415

    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)


def _fresh(ctx: ParadigmContext, seed: int) -> Any:
    import torch  # noqa: PLC0415

    from pytest_aibench.zoo import build_module  # noqa: PLC0415

    art = ctx.extra.get("artifact")
    if ctx.case.framework != "torch" or art is None or not art.family:
        raise NotAvailable(f"{ctx.case.paradigm} trains a zoo architecture with torch; framework "
                           f"{ctx.case.framework!r} with this model cannot")
    torch.manual_seed(seed)
    return build_module(art.family, art.config)


def _train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int, batch: int = 32) -> None:
    import torch  # noqa: PLC0415

    if len(y) == 0:
        return
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()


def _predict(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch  # noqa: PLC0415

    with torch.inference_mode():
        scores = model(torch.from_numpy(np.ascontiguousarray(x)))
        prob = torch.softmax(scores, -1)
    return prob.argmax(-1).numpy(), prob.max(-1).values.numpy()


def _nbytes(model: Any) -> int:
    return int(sum(p.numel() * p.element_size() for p in model.state_dict().values()))


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


class FederatedLearning:
    name = "federated_learning"

    def run(self, ctx: ParadigmContext) -> Measurement:
        try:
            import simpy  # noqa: PLC0415
        except ImportError:
            raise NotAvailable(f"federated_learning runs client rounds in simulated time with simpy: {SIMPY_HINT}") from None
        p, topo, data = ctx.param, ctx.topology, ctx.dataset
        clients, rounds = int(p("clients", topo.edges if topo.edges > 1 else 8)), int(p("rounds", 10))
        epochs, lr = int(p("local_epochs", 1)), float(p("lr", 0.05))
        alpha = None if p("partition", "iid") == "iid" else float(p("alpha", 0.5))
        target, deadline = float(p("target_accuracy", 0.9)), float(p("deadline_s", 1e9))
        dropout, straggle = float(p("dropout", 0.0)), float(p("straggler_sigma", 0.3))
        train_flops = 3 * (ctx.extra.get("mflops") or 1.0) * 1e6  # forward + backward ~ 3x forward
        x_eval, y_eval = data.eval_subset(ctx.settings.eval_samples)
        x_eval = ctx.session.adapt(x_eval)
        x_train = ctx.session.adapt(data.x_train)
        parts = partition(data.y_train, clients, alpha, ctx.seed)
        rng = np.random.default_rng([ctx.seed, 5])
        up, down = topo.channels(ctx.seed)
        from pytest_aibench.cluster.backend import InProcess  # noqa: PLC0415
        from pytest_aibench.paradigms.remote import client_update, fedavg  # noqa: PLC0415

        backend = ctx.extra.get("backend") or InProcess()
        art = ctx.extra.get("artifact")
        with _deterministic(ctx.seed):
            model = _fresh(ctx, ctx.seed)
            size = _nbytes(model)
            env = simpy.Environment()
            history, rounds_log, reached, moved = [], [], None, []
            edge_busy = 0.0
            for r in range(rounds):
                start, state = env.now, {k: v.detach().clone() for k, v in model.state_dict().items()}
                # 1. who is reachable and willing this round, and how slow each device is (seeded, in order)
                plan = {}
                for k in range(clients):
                    t_down = down.transfer(size, start)
                    if t_down is None or rng.random() < dropout:
                        plan[k] = None
                    else:
                        plan[k] = (t_down, float(rng.lognormal(0.0, straggle)))
                # 2. local training of the clients that take part: edge workers with a cluster, in parallel
                active = [k for k in range(clients) if plan[k] is not None]
                jobs = [(art.family, art.config, state, x_train[parts[k]], data.y_train[parts[k]], epochs, lr,
                         ctx.seed * 1000 + r * 97 + k) for k in active]
                updates = dict(zip(active, backend.map("edge", client_update, jobs)))
                if updates:
                    sample = next(iter(updates.values()))[0]
                    seconds = backend.move(np.concatenate([v.numpy().ravel() for v in sample.values()]), "edge", "cloud")
                    if seconds is not None:
                        moved.append(seconds)
                # 3. the round in simulated time: download, compute, upload, against the deadline
                finished: dict[int, float] = {}

                def client(k: int) -> Any:
                    nonlocal edge_busy
                    t_down, slow = plan[k]
                    yield env.timeout(t_down)
                    compute = epochs * len(parts[k]) * train_flops / (topo.edge.gflops * 1e9) * slow
                    edge_busy += compute
                    yield env.timeout(compute)
                    t_up = up.transfer(size, env.now)
                    if t_up is None:
                        return
                    yield env.timeout(t_up)
                    finished[k] = env.now

                procs = [env.process(client(k)) for k in active]
                if procs:
                    env.run(until=env.any_of([env.all_of(procs), env.timeout(deadline)]))
                done = [k for k in active if k in finished and finished[k] - start <= deadline]
                if done:  # 4. FedAvg in the cloud, weighted by each client's samples
                    model.load_state_dict(backend.run("cloud", fedavg, [updates[k] for k in done], state))
                acc = float((_predict(model, x_eval)[0] == y_eval).mean())
                history.append(acc)
                if reached is None and acc >= target:
                    reached = env.now
                rounds_log.append({"round": r + 1, "accuracy": acc, "clients": len(done),
                                   "stragglers": len(active) - len(done),
                                   "dropped": clients - len(active), "sim_time_s": env.now})
            preds = _predict(model, x_eval)[0]
        m = Measurement(predictions=preds, labels=y_eval, seed=ctx.seed)
        m.metrics.update({
            "fl.rounds": rounds, "fl.clients": clients, "fl.partition": "iid" if alpha is None else f"dirichlet({alpha:g})",
            "fl.final_accuracy": history[-1], "fl.best_accuracy": max(history),
            "sim.fl_time_s": env.now, "sim.time_to_target_s": reached if reached is not None else -1.0,
            "fl.rounds_to_target": next((i + 1 for i, a in enumerate(history) if a >= target), -1),
            "fl.target_accuracy": target, "bytes.up": up.bytes_sent, "bytes.down": down.bytes_sent,
            "fl.stragglers": sum(r["stragglers"] for r in rounds_log), "fl.dropouts": sum(r["dropped"] for r in rounds_log),
            "sim.edge_energy_j": topo.edge.max_w * edge_busy,
            **({"measured.update_transfer_ms": 1e3 * sum(moved) / len(moved)} if moved else {})})
        m.info.update({"accuracy_per_round": history, "rounds": rounds_log, "model_bytes": size,
                       "backend": backend.describe(),
                       "topology": topo.describe(), "prediction_hash": prediction_hash(preds)})
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
        with _deterministic(ctx.seed):
            model = _fresh(ctx, ctx.seed)
            _train(model, x_train[seen], data.y_train[seen], epochs, lr, ctx.seed)
            pool = list(seen)
            log, sent, arrived = [], 0, 0
            for r, batch in enumerate(arriving):
                preds, conf = _predict(model, x_train[batch])
                hard = batch[conf < threshold]
                arrived += len(batch)
                sent += len(hard)
                up.transfer(int(x_train[0].nbytes) * len(hard), float(r))
                pool += hard.tolist()
                candidate = copy.deepcopy(model)
                _train(candidate, x_train[pool], data.y_train[pool], epochs, lr, ctx.seed + r + 1)
                before = float((_predict(model, x_train[val])[0] == data.y_train[val]).mean())
                after = float((_predict(candidate, x_train[val])[0] == data.y_train[val]).mean())
                replaced = after >= before
                if replaced:
                    model = candidate
                acc = float((_predict(model, x_eval)[0] == y_eval).mean())
                log.append({"round": r + 1, "arrived": len(batch), "hard_examples": len(hard), "replaced": replaced,
                            "validation_before": before, "validation_after": after, "accuracy": acc})
            preds = _predict(model, x_eval)[0]
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
        with _deterministic(ctx.seed):
            model = _fresh(ctx, ctx.seed)
            baseline = [float((_predict(model, TASKS[t](x_eval))[0] == y_eval).mean()) for t in names]
            matrix = []
            for i, t in enumerate(names):
                _train(model, TASKS[t](x_train), data.y_train, epochs, lr, ctx.seed + i)
                matrix.append([float((_predict(model, TASKS[u](x_eval))[0] == y_eval).mean()) for u in names])
            preds = _predict(model, TASKS[names[-1]](x_eval))[0]
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
