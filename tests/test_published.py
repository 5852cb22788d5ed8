"""The six AIoTBench networks at published size: counted parameters and MACs, seeded weights, built on
first use into the cache and checked against the committed lock, no accuracy for untrained weights."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from pytest_aibench.builder import cache  # noqa: E402
from pytest_aibench.gen.published import PUBLISHED_GEN  # noqa: E402
from pytest_aibench.judge.metrics import Accuracy, Vips, Vops  # noqa: E402
from pytest_aibench.measure import Measurement  # noqa: E402
from pytest_aibench.zoo import build_module, count_flops  # noqa: E402
from pytest_aibench.zoo.cards import CardError  # noqa: E402
from pytest_aibench.zoo.published import FAMILIES, PUBLISHED, seeded  # noqa: E402
from pytest_aibench.zoo.published_seq import PUBLISHED_SEQ  # noqa: E402
from pytest_aibench.zoo.published_vision import PUBLISHED_VISION  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_and_macs_counted_match_the_published_figures_within_5_percent(name):
    side, params, macs, _ = PUBLISHED[name]
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = FAMILIES[name]().eval()
    counted = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.empty(1, 3, side, side, device="meta"))
    assert out.shape == (1, 1000)
    assert abs(counted / params - 1) < 0.05, f"{name}: {counted} parameters, published {params:.0f}"
    assert abs(counter.get_total_flops() / 2 / macs - 1) < 0.05, f"{name}: {counter.get_total_flops() / 2:.3g} MACs"


@pytest.mark.parametrize("name", sorted(PUBLISHED_VISION))
def test_vision_networks_count_their_published_parameters_and_macs(name):
    (c, h, w), params, macs, task, _ = PUBLISHED_VISION[name]
    with torch.device("meta"):
        model = build_module(name, {}).eval()
    counted = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.empty(1, c, h, w, device="meta"))
    assert abs(counted / params - 1) < 0.05, f"{name}: {counted} parameters, published {params:.0f}"
    if macs is not None:
        assert abs(counter.get_total_flops() / 2 / macs - 1) < 0.05, f"{name}: {counter.get_total_flops() / 2:.4g} MACs"
    expected = {
        None: (1, 1000),
        "detection": None,  # (1, boxes, 4 + classes) or (1, boxes, 85): raw, before NMS
        "segmentation": (1, 21, h, w),
        "pose": (1, 57, h // 8, w // 8),  # 38 part-affinity fields and 19 heatmaps at stride 8
        "super_resolution": (1, c, 2 * h, 2 * w),
    }[task]
    assert expected is None or tuple(out.shape) == expected


def test_the_lock_describes_every_published_model_as_the_table_does():
    lock = cache.lock()["models"]
    assert sorted(lock) == sorted([*PUBLISHED, *PUBLISHED_VISION, *PUBLISHED_SEQ, *PUBLISHED_GEN])
    for name, entry in lock.items():
        if name in PUBLISHED_SEQ or name in PUBLISHED_GEN:  # tests/test_published_seq.py, test_gen_decoding.py
            continue
        if name in PUBLISHED_VISION:
            (c, h, w), params, macs, task, _ = PUBLISHED_VISION[name]
            assert (cache.input_of(entry), entry["params"], entry["macs"], entry.get("task")) == (
                (c, h, w),
                params,
                macs,
                task,
            )
            continue
        side, params, macs, _ = PUBLISHED[name]
        assert (entry["side"], entry["params"], entry["macs"]) == (side, params, macs)
        assert entry["calibration"]["source"] == "shapes" and entry["calibration"]["params"]["size"] == side
        assert set(entry["sha256"]) == set(entry["pin"]) and all(len(d) == 64 for d in entry["sha256"].values())


def test_seeded_weights_are_reproducible_differ_by_seed_and_stay_finite_in_fp16():
    a, b, c = (seeded(FAMILIES["mobilenetv2_1_0"](), s) for s in (0, 0, 1))
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.state_dict()["0.0.weight"], c.state_dict()["0.0.weight"])
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 1, (2, 3, 224, 224)).astype(np.float32))
    with torch.no_grad():
        y = a(x)
    assert torch.isfinite(y).all() and 0.01 < float(y.abs().max()) < 1e3  # fp16 holds up to 65504


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """SqueezeNet (the smallest) built once for these tests, as first use builds it."""
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("cache") / "models"
    return root, cache.build(
        "squeezenet1_0", root, cache.Progress(quiet=True), ("torch/fp32", "onnxruntime/fp32", "onnxruntime/fp16")
    )


def test_a_build_reproduces_the_locked_sha256s_and_writes_an_untrained_card(built):
    root, card = built
    pinned = cache.lock()["models"]["squeezenet1_0"]["sha256"]
    for key in ("torch/fp32", "onnxruntime/fp32", "onnxruntime/fp16"):
        assert card["artifacts"][key]["sha256"] == pinned[key], key
        assert (root / "squeezenet1_0" / card["artifacts"][key]["file"]).is_file()
    assert card["trained"] is False and card["params"] == pytest.approx(1.248e6, rel=0.05)
    model = seeded(FAMILIES["squeezenet1_0"](), 0)
    assert card["flops"] == {"224": count_flops(model, (1, 3, 224, 224))}
    assert (
        json.loads((root / "squeezenet1_0" / "card.json").read_text())["artifacts"].keys() == card["artifacts"].keys()
    )


def test_ensure_reuses_the_cache_and_a_build_differing_from_the_lock_is_refused(built, monkeypatch):
    root, _ = built
    card = root / "squeezenet1_0" / "card.json"
    before = card.stat().st_mtime_ns
    assert cache.ensure("squeezenet1_0", root=root) == root / "squeezenet1_0"
    assert card.stat().st_mtime_ns == before  # nothing rebuilt
    forged = json.loads(json.dumps(cache.lock()))
    forged["models"]["squeezenet1_0"]["sha256"]["onnxruntime/fp32"] = "0" * 64
    monkeypatch.setattr(cache, "lock", lambda: forged)
    with pytest.raises(CardError, match=r"onnxruntime/fp32 built with sha256 .* pins 0000"):
        cache.build("squeezenet1_0", root.parent / "other", cache.Progress(quiet=True), ("onnxruntime/fp32",))
    assert not (root.parent / "other" / "squeezenet1_0").exists()  # a refused build leaves no card behind


def test_untrained_measurements_have_no_accuracy_or_vips_but_effective_gflops():
    m = Measurement(
        predictions=np.zeros(4, int),
        labels=np.zeros(4, int),
        latency_ns=[2_000_000] * 3,
        mflops=8000.0,
        accuracy_na="not applicable: seeded untrained weights",
    )
    assert Accuracy().compute(m) == {} and Vips().compute(m) == {}
    assert Vops().compute(m) == {"mflops": 8000.0, "gflops_effective": pytest.approx(4000.0)}
    m.accuracy_na = None
    assert Vops().compute(m)["vops"] == pytest.approx(1.0 * 500 * 8000.0)


@pytest.mark.slow
def test_a_suite_of_a_published_model_builds_it_on_first_use_and_reports_no_accuracy(pytester, tmp_path):
    pytest.importorskip("onnxruntime")
    pytester.makefile(
        ".yaml",
        suite=textwrap.dedent("""
        suite: big
        version: "1"
        datasets:
          img: {source: shapes, eval_fraction: 0.5, params: {samples: 8, size: 224, num_classes: 1000}}
        models:
          squeezenet: {zoo: squeezenet1_0}
        frameworks: [onnxruntime]
        quantizations: [fp32, int8]
        metrics: [latency, vops]
        settings: {latency_samples: 3, warmup: 1, batch_size: 4}
        """),
    )
    env = {"AIBENCH_CACHE": str(tmp_path / "cache"), "AIBENCH_FIXTURES": str(ROOT / "fixtures")}
    for k, v in env.items():
        pytester._monkeypatch.setenv(k, v)
    result = pytester.runpytest_subprocess(
        "--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "r.json"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*building published model squeezenet1_0*",
            "*built squeezenet1_0 in * s*",
            "*inputs (accuracy not applicable)*",
        ]
    )
    items = json.loads((pytester.path / "r.json").read_text())["items"]
    for it in items:
        assert "accuracy" not in it["metrics"] and "vips" not in it["metrics"]
        assert it["metrics"]["gflops_effective"] > 0 and 1500 < it["metrics"]["mflops"] < 1800
        assert it["info"]["accuracy"].startswith("not applicable: seeded untrained weights")
    assert os.path.isfile(tmp_path / "cache" / "models" / "squeezenet1_0" / "card.json")


@pytest.mark.slow
def test_the_build_progress_redraws_a_bar_on_a_terminal_and_keeps_milestones_in_logs(tmp_path):
    import io

    from pytest_aibench.progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, log = Tty(), io.StringIO()
    for stream in (tty, log):
        cache.build("squeezenet1_0", tmp_path / str(id(stream)), Progress(stream), ("onnxruntime/fp32",))
    assert "\r\x1b[K" in tty.getvalue() and "[########################] 2/2 done" in tty.getvalue()
    assert "\r" not in log.getvalue() and log.getvalue().splitlines()[-1].startswith("built squeezenet1_0 in ")


@pytest.mark.slow
def test_two_processes_needing_the_same_model_build_it_once(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    code = (
        "import sys; from pathlib import Path; from pytest_aibench.builder import cache; "
        "print(cache.ensure('squeezenet1_0', cache.Progress(sys.stdout), Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sum("building published model squeezenet1_0" in o for o in outs) == 1  # the other waited on the lock
    assert all(o.strip().endswith(str(tmp_path / "squeezenet1_0")) for o in outs)
    assert json.loads((tmp_path / "squeezenet1_0" / "card.json").read_text())["name"] == "squeezenet1_0"
    assert not list(tmp_path.glob(".squeezenet1_0.build-*"))  # no half-built folder left behind
