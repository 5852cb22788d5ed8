"""The HTML report's charts laid out as a browser lays them out: tick labels never overlap, item labels
are never clipped (bounding boxes measured in headless Chromium, where the machine has it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from pytest_aibench.core.result import Result
from pytest_aibench.report.html import render, spaced, text_width

pytestmark = pytest.mark.slow  # a headless browser

MEASURE = """<script>
window.addEventListener("load", () => {
  const out = [];
  document.querySelectorAll("svg").forEach((svg, i) => {
    const box = svg.getBoundingClientRect();
    svg.querySelectorAll("text").forEach(t => {
      const b = t.getBoundingClientRect();
      out.push({svg: i, cls: t.getAttribute("class") || "", text: t.textContent, x0: b.left - box.left,
                x1: b.right - box.left, y0: b.top - box.top, y1: b.bottom - box.top, w: box.width, h: box.height});
    });
  });
  const pre = document.createElement("pre"); pre.id = "boxes"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _results() -> list[Result]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(24):  # latencies over four decades, labels up to ~90 characters
        lat = float(10 ** rng.uniform(-2, 2))
        name = f"model_{i}_" + "with_a_rather_long_descriptive_name" * (1 + i % 2)
        ns = [int(lat * 1e6 * f) for f in rng.lognormal(0, 0.2, 50)]
        out.append(
            Result(
                id=f"suite::{name}[onnxruntime-fp32-single-topology_{i}]",
                suite="suite",
                model=name,
                axes={
                    "framework": ["onnxruntime", "torch", "litert"][i % 3],
                    "quantization": ["fp32", "int8_dynamic", "fp16"][i % 3],
                },
                metrics={"latency.p50_ms": lat, "accuracy": float(rng.uniform(0.5, 1.0))},
                samples={"latency_ns": ns},
            )
        )
    return out


def test_spacing_drops_ticks_until_their_labels_clear_each_other() -> None:
    crowded = [(float(x), f"{x / 10:g} ms") for x in range(0, 300, 12)]
    kept = spaced(crowded, 10)
    assert kept[0] == crowded[0] and len(kept) < len(crowded)
    assert all(
        b[0] - a[0] >= (text_width(a[1], 10) + text_width(b[1], 10)) / 2 for a, b in zip(kept, kept[1:], strict=False)
    )
    assert spaced([(0.0, "1"), (100.0, "2")], 10) == [(0.0, "1"), (100.0, "2")]


def _browser() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (Debian: apt install chromium)")
def test_in_chromium_tick_labels_never_overlap_and_item_labels_are_never_clipped(tmp_path) -> None:
    page = render({"run_id": "layout"}, _results()).replace("</body>", MEASURE + "</body>")
    (tmp_path / "r.html").write_text(page, encoding="utf-8")
    got = subprocess.run(
        [
            _browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (tmp_path / "r.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="boxes">(.*?)</pre>', got.stdout, re.S)
    assert found, got.stderr[-2000:]
    boxes = json.loads(
        found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )
    ticks = [b for b in boxes if b["cls"] == "tick"]
    labels = [b for b in boxes if b["cls"] == "item-label"]
    assert len(labels) == 24 and len(ticks) >= 6
    for b in labels:  # inside its chart, whole
        assert b["x0"] >= 0 and b["x1"] <= b["w"] + 0.5, b["text"]
    rows = {}
    for b in ticks:
        rows.setdefault((b["svg"], round(b["y0"])), []).append(b)
    for row in rows.values():  # labels on one axis line never overlap
        row.sort(key=lambda b: b["x0"])
        for a, c in zip(row, row[1:], strict=False):
            assert a["x1"] <= c["x0"], (a["text"], c["text"])
        assert all(b["x0"] >= 0 and b["x1"] <= b["w"] + 0.5 for b in row)
