"""Metric groups the paradigms measure themselves (repeats, seeds, collaborative and learning figures,
kernels, training): declared here, with their meaning and direction, so gates, rules and reports know them;
their ``compute`` adds nothing (the paradigm puts the numbers in ``Measurement.metrics``)."""

from __future__ import annotations

from typing import Any

from pytest_aibench.judge.metrics import MetricInfo
from pytest_aibench.measure import Measurement


class Repro:
    """Whether repeated measurements (--aibench-repeat) predicted bit-identically."""

    name = "repro"
    provides = {
        "repro.repeats": MetricInfo("measurements of the item", None),
        "repro.identical": MetricInfo("every repeat's predictions hashed identically", True),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # measured by the item itself (it repeats the paradigm); see item.run_case


class Seeds:
    """``seeds: N`` over a learning paradigm (run.seeds): how many seeds, and the headline metrics' spread."""

    name = "seeds"
    provides = {
        "seeds.n": MetricInfo("seeds the learning paradigm ran over (metrics are their means)", None),
        **{
            f"seeds.{k.replace('.', '_')}_{part}": MetricInfo(f"{k} over seeds: {text}", None)
            for k in (
                "accuracy",
                "fl.final_accuracy",
                "ll.average_accuracy",
                "il.final_accuracy",
                "aiperf.best_accuracy",
                "trial.accuracy",
                "stl.accuracy",
            )
            for part, text in (
                ("sd", "standard deviation"),
                ("ci_low", "95 % interval of the mean, low"),
                ("ci_high", "95 % interval of the mean, high"),
            )
        },
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # the item combines its seeds' metrics (run.measure._over_seeds)


class Collaborative:
    """Metrics the edge-cloud paradigms measure themselves (declared here so gates and rules validate)."""

    name = "collaborative"
    provides = {
        name: MetricInfo(text, better)
        for name, text, better in (
            ("sim.latency.p50_ms", "simulated end-to-end latency, median", False),
            ("sim.latency.p90_ms", "simulated end-to-end latency, 90th percentile", False),
            ("sim.latency.p99_ms", "simulated end-to-end latency, 99th percentile", False),
            ("sim.latency.mean_ms", "simulated end-to-end latency, mean", False),
            ("sim.availability", "share of requests answered (cloud_only during outages)", True),
            ("sim.edge_energy_j_per_inference", "simulated edge energy per inference", False),
            ("sim.cloud_energy_j_per_inference", "simulated cloud energy per inference", False),
            ("sim.edge_energy_j", "simulated edge energy, whole run", False),
            ("sim.fps", "simulated frames per second on the edge device", True),
            ("sim.fps_per_w", "simulated frames per second per watt (busy power)", True),
            ("sim.fps_per_price", "simulated frames per second per unit price per hour", True),
            ("offload_ratio", "share of inputs answered by the cloud", None),
            ("hard_ratio", "share of inputs the mining rule called hard", None),
            ("outage_fallbacks", "hard inputs answered by the edge because the link was out", None),
            ("bytes.up", "bytes sent edge to cloud", False),
            ("bytes.down", "bytes sent cloud to edge", False),
            ("accuracy_edge_only", "the edge model alone", True),
            ("accuracy_cloud_only", "the cloud model alone", True),
            ("sim.dp_makespan_ms", "data parallel over the edges: time for the workload", False),
            ("sim.dp_throughput_ips", "data parallel over the edges: inferences per second", True),
            ("sim.dp_speedup", "data parallel over the edges: speedup over one edge", True),
            ("sim.split_latency_ms", "model split: simulated latency per input", False),
            (
                "sim.error_pct",
                "the device model's own error on the calibrated host: roofline-simulated / measured latency "
                "- 1, in % (both the 5th percentile: the host's speed when a neighbour leaves it alone)",
                None,
            ),
            (
                "sim.flops_only_error_pct",
                "the same error for FLOPs / calibrated GEMM peak (the model before the roofline), in %",
                None,
            ),
            (
                "sim.host_slowdown",
                "how much slower the probe ran beside the item than at calibration (the load the "
                "error was measured under)",
                None,
            ),
            ("sim.host_gflops", "the calibrated host's peak: ONNX Runtime's 512x512 float32 GEMM, GFLOP/s", None),
            (
                "measured.host_p5_ms",
                "the item's batch-1 latency on the host, 5th percentile of calls interleaved with "
                "the probe (what sim.error_pct compares with)",
                None,
            ),
            ("fl.final_accuracy", "federated: accuracy after the last round", True),
            ("fl.best_accuracy", "federated: best accuracy of any round", True),
            ("fl.sim_time_s", "federated: simulated seconds when the last round ends (outages included)", False),
            ("fl.retries", "federated: transfers retried because the link was out", False),
            ("fl.missed", "federated: client updates that did not arrive by the deadline", False),
            (
                "fcil.average_incremental_accuracy",
                "federated class-incremental: mean over tasks of the accuracy on the classes seen so far",
                True,
            ),
            (
                "fcil.final_average_accuracy",
                "federated class-incremental: mean accuracy over every task's classes at the end",
                True,
            ),
            ("fcil.forgetting", "federated class-incremental: mean drop from each task's best accuracy", False),
            ("stl.train_samples", "single-task learning: samples trained on", None),
            ("sim.gather_s", "single-task learning: simulated seconds to gather the training data", False),
            ("il.undelivered", "incremental: hard examples still waiting at the edge (the link was out)", False),
            ("il.trained_on", "incremental: samples in the cloud's training pool", None),
            (
                "ll.forgetting",
                "lifelong: mean drop from each task's best accuracy (Chaudhry et al.; absent where 0 by construction)",
                False,
            ),
            (
                "ll.gem_bwt",
                "lifelong: GEM's backward transfer, final minus just-learned accuracy (absent where 0 by construction)",
                True,
            ),
            ("ll.task_detection_accuracy", "lifelong: evaluation tasks routed to their own knowledge-base entry", True),
            ("ll.known_tasks", "lifelong: entries in the knowledge base", None),
            ("ll.unseen_at_training", "lifelong: tasks the detector found unseen when they arrived", None),
            ("sim.time_to_target_s", "federated: simulated time to the target accuracy (-1: not reached)", False),
            ("fl.rounds_to_target", "federated: rounds to the target accuracy (-1: not reached)", False),
            ("il.samples_transfer_ratio", "incremental: hard examples sent / samples arrived", False),
            ("il.final_accuracy", "incremental: accuracy after the last round", True),
            (
                "ll.bwt",
                "lifelong: Ianvs's BWT, the mean change of every task's accuracy from one learning round to the "
                "next (its testcasecontroller metrics)",
                True,
            ),
            (
                "ll.fwt",
                "lifelong: Ianvs's FWT, mean accuracy on each task before learning it minus the untrained model's",
                True,
            ),
            ("ll.average_accuracy", "lifelong: mean accuracy over tasks after the last (the headline accuracy)", True),
            ("ll.tasks", "lifelong: tasks in the sequence", None),
        )
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # the paradigms measure these themselves (Measurement.metrics)


class KernelRate:
    """What a DeepBench-style kernel achieves: GFLOP/s, and its share of the best GEMM rate measured here."""

    name = "kernel"
    provides = {
        "kernel.gflops": MetricInfo("achieved GFLOP/s at the median latency", True),
        "kernel.flops": MetricInfo("floating-point operations per call (from the shapes)", None),
        "kernel.peak_gflops": MetricInfo("best fp32 GEMM rate measured on this machine in this run", None),
        "kernel.fraction_of_peak": MetricInfo("kernel.gflops / kernel.peak_gflops", True),
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}  # the kernel paradigm measures these itself


class Training:
    """What the training paradigms measure (trial: AutoML points; train: time to quality)."""

    name = "training"
    provides = {
        name: MetricInfo(text, better)
        for name, text, better in (
            ("trial.accuracy", "the trial's accuracy on the evaluation split", True),
            ("trial.params", "the trial architecture's parameters", None),
            ("trial.mflops", "the trial architecture's MFLOPs per sample", None),
            ("trial.train_flops", "operations spent training the trial (3 x forward FLOPs x samples x epochs)", None),
            ("trial.wall_s", "the trial's wall time", False),
            ("trial.precision_bits", "numeric precision of the trial (AIPerf: not below 16)", None),
            ("train.time_to_quality_s", "mean wall seconds to reach the target accuracy", False),
            ("train.time_to_quality_stdev_s", "spread of time to quality over seeds", False),
            ("train.time_to_quality_cv", "coefficient of variation of time to quality over seeds", False),
            ("train.epochs_to_quality", "mean epochs to reach the target", False),
            ("train.epochs_stdev", "spread of epochs to quality over seeds", False),
            ("train.reached", "share of seeds that reached the target", True),
            ("train.throughput_sps", "training samples per second", True),
            ("train.target_accuracy", "the target", None),
            ("train.seeds", "seeds trained", None),
            ("aiperf.score", "AIPerf's regulated score: FLOPS x |ln(1 - best accuracy)|", True),
            ("aiperf.flops", "AIPerf: operations of every trial / the search's seconds", True),
            ("aiperf.best_accuracy", "AIPerf: the best trial's accuracy", True),
            ("aiperf.trials", "AIPerf: trials run", None),
            ("aiperf.seconds", "AIPerf: the search's seconds", None),
            ("aiperf.total_flops", "AIPerf: operations of every trial (training and evaluation)", None),
            (
                "aiperf.valid",
                "AIPerf: every validity rule met, a mutation made and no trial started after the budget "
                "(the rules judged by are in info.rules)",
                True,
            ),
            ("aiperf.budget_s", "AIPerf: the search's time budget (search_budget_s)", None),
            ("aiperf.over_budget_s", "AIPerf: seconds the search ran past its budget (at most its last trial)", False),
            ("aiperf.random_trials", "AIPerf: trials sampled at random (generation 0)", None),
            ("aiperf.mutated_trials", "AIPerf: trials that mutated the best so far", None),
        )
    }

    def compute(self, m: Measurement) -> dict[str, Any]:
        return {}
