"""A vendor's runtime as its own package (``examples/npu-runner``): installed beside pytest-aibench, its
entry point makes ``frameworks: [simnpu]`` work with nothing changed here; its declared option is checked
by the manifest check; results and bundles record its package and version; and ``aibench rerun`` on a
machine without it says which package to install instead of failing obscurely.

"Installed" is what pip leaves: the module on the path and a ``.dist-info`` whose metadata and entry
points come from the example's own ``pyproject.toml`` (read here, so a wrong declaration there fails)."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest
import tomllib

from pytest_aibench.cli import main as aibench

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "npu-runner"

SUITE = """\
suite: vendor
version: "1.0"
datasets:
  digits: {source: digits}
models:
  tinycnn: {zoo: tinycnn-digits}
frameworks: [simnpu]
quantizations: [fp32, int8]
settings:
  eval_samples: 128
  latency_samples: 5
  warmup: 1
  device: npu
  runtime_options:
    simnpu: {cores: CORES}
"""


def install(site: Path) -> str:
    """The example package as pip installs it, into ``site``: its version."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for g, eps in groups.items())
    )
    (site / "aibench_npu_example.py").write_text((EXAMPLE / "aibench_npu_example.py").read_text())
    return version


@pytest.mark.slow
def test_a_vendor_runner_package_runs_records_itself_and_a_machine_without_it_is_told_what_to_install(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    root = Path(pytester.path)
    version = install(root / "site")
    monkeypatch.setenv("PYTHONPATH", str(root / "site"))
    (root / "suite.yaml").write_text(SUITE.replace("CORES", "9"))
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml", "-p", "no:cacheprovider")
    assert r.ret == 4  # its declared option is validated like a built-in runner's
    r.stderr.fnmatch_lines(["*suite.yaml:15: settings.runtime_options.simnpu.cores: simnpu option 'cores': "
                            "expected an integer from 1 to 4; got 9"])  # fmt: skip
    (root / "suite.yaml").write_text(SUITE.replace("CORES", "1"))
    r = pytester.runpytest_subprocess("--aibench", "suite.yaml", "-p", "no:cacheprovider", "--aibench-json", "r.json")
    r.assert_outcomes(passed=2)
    doc = json.loads((root / "r.json").read_text())
    for item in doc["items"]:
        runner = item["runner"]
        assert (runner["name"], runner["package"], runner["package_version"]) == (
            "simnpu",
            "aibench-npu-example",
            version,
        )
        assert runner["device"] == "npu:0" and runner["cores"] == 1
        assert item["metrics"]["accuracy"] >= 0.9
    assert doc["machine"]["versions"]["aibench-npu-example"] == version

    assert aibench(["bundle", str(root / "r.json"), "-o", str(root / "b.tar.gz"), "--root", str(root)]) == 0
    with tarfile.open(root / "b.tar.gz") as tar:
        bundled = json.loads(tar.extractfile("run.json").read())  # type: ignore[union-attr]
    assert bundled["machine"]["versions"]["aibench-npu-example"] == version

    # this process is a machine without the package: its registry has no simnpu
    assert "aibench_npu_example" not in sys.modules
    capsys.readouterr()
    assert aibench(["rerun", str(root / "b.tar.gz"), "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "this machine cannot run the bundle's items; nothing rerun" in out
    assert f"runner 'simnpu' (package aibench-npu-example=={version}) is not registered here" in out
    assert f"pip install aibench-npu-example=={version}" in out and "Traceback" not in out
