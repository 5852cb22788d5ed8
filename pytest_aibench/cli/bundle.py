"""``aibench bundle`` / ``verify`` / ``rerun``: results that others can check and reproduce.

A bundle is a tar.gz holding the run JSON, the manifests it ran, every artifact's and dataset's
hash, the environment, any LoadGen logs, and ``SHA256SUMS`` over all of it. ``verify`` checks the
checksums and that the artifacts here are the ones measured; ``rerun`` runs the suites again with the
recorded seed and profile and compares: accuracy exactly, latency within a stated tolerance.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from pytest_aibench import data
from pytest_aibench.cli.runs import load_run as _load
from pytest_aibench.core.model import DatasetSpec
from pytest_aibench.files import sha256_file
from pytest_aibench.judge.compare import isa_note, match
from pytest_aibench.manifest.yamlsafe import MAX_BYTES as MAX_MANIFEST_BYTES
from pytest_aibench.manifest.yamlsafe import YamlError, loads
from pytest_aibench.report import runjson
from pytest_aibench.report.ranking import CLASSIFICATION, headline, task_of
from pytest_aibench.runtimes import RUNNERS, missing
from pytest_aibench.zoo.cards import CardError, find_card


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes, sums: dict[str, str]) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))
    sums[name] = _sha(data)


def hashes_of(doc: dict[str, Any]) -> dict[str, Any]:
    arts, data = {}, {}
    for it in doc.get("items", []):
        a = it.get("artifact") or {}
        if a.get("sha256"):
            arts[it["id"]] = {"path": a.get("path"), "zoo": a.get("zoo"), "sha256": a["sha256"]}
        d = it.get("dataset") or {}
        if d.get("sha256"):
            data[it["id"]] = {"name": d.get("name"), "sha256": d["sha256"], "split_seed": d.get("split_seed")}
    return {
        "manifests": {m["path"]: m["sha256"] for m in doc.get("manifests", [])},
        "artifacts": arts,
        "datasets": data,
    }


def manifest_member(path: str) -> str:
    """A manifest's name inside a bundle (an absolute path loses its leading slash)."""
    return "manifests/" + Path(path).as_posix().lstrip("/")


def _manifest_source(m: dict[str, Any], root: str, doc: dict[str, Any]) -> Path | None:
    """The manifest file on disk: under ``--root``, else under the run's own rootdir (a run started
    from another folder records its manifests relative to that)."""
    for base in (Path(root), Path(doc["rootdir"]) if doc.get("rootdir") else None):
        if base is not None and (base / m["path"]).is_file():
            return base / m["path"]
    return None


def cmd_bundle(args: argparse.Namespace) -> int:

    doc, _ = _load(args.run)
    out = Path(args.output or f"{doc.get('run_id', 'run')}.aibench.tar.gz")
    sums: dict[str, str] = {}
    notes = []
    with tarfile.open(out, "w:gz") as tar:
        _add(tar, "run.json", json.dumps(doc, indent=1).encode(), sums)
        _add(tar, "hashes.json", json.dumps(hashes_of(doc), indent=1, sort_keys=True).encode(), sums)
        _add(tar, "environment.json", json.dumps(doc.get("machine", {}), indent=1, sort_keys=True).encode(), sums)
        for m in doc.get("manifests", []):
            path = _manifest_source(m, args.root, doc)
            if path is None:
                where = " or ".join(dict.fromkeys([str(args.root), str(doc.get("rootdir") or args.root)]))
                notes.append(f"manifest {m['path']} not found under {where}: not bundled (give --root)")
                continue
            raw = path.read_bytes()
            if _sha(raw) != m["sha256"]:
                notes.append(f"manifest {m['path']} changed since the run (sha256 differs): not bundled")
                continue
            _add(tar, manifest_member(m["path"]), raw, sums)
        for it in doc.get("items", []):
            logs = Path(it.get("info", {}).get("loadgen", {}).get("logs", "") or "/nonexistent")
            for f in sorted(logs.rglob("*")) if logs.is_dir() else []:
                if f.is_file() and f.name != "mlperf_log_trace.json":
                    _add(tar, f"loadgen/{it['id'].replace('/', '_')}/{f.relative_to(logs)}", f.read_bytes(), sums)
        _add(tar, "SHA256SUMS", "".join(f"{v}  {k}\n" for k, v in sorted(sums.items())).encode(), {})
    for n in notes:
        print(f"aibench bundle: {n}", file=sys.stderr)
    print(f"wrote {out} ({len(sums)} files, SHA256SUMS included)")
    return 0


class BundleError(Exception):
    """A bundle that cannot be read safely; the message names the bundle and the member."""


#: a bundle holds data only: these members and nothing else (no code, no pytest configuration)
TOP_MEMBERS = frozenset({"run.json", "hashes.json", "environment.json", "SHA256SUMS"})
MANIFEST_SUFFIXES = (".yaml", ".yml")
ARTIFACT_SUFFIXES = (".onnx", ".pt", ".pt2", ".tflite", ".npz")
LOADGEN_FILE = re.compile(r"mlperf_log_[a-z_]+\.(txt|json)")
#: limits on what a bundle may unpack to (a gzip bomb of a few hundred KB could otherwise take GBs)
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 512 * 2**20
MAX_TOTAL_BYTES = 2 * 2**30
#: tighter limits by kind: a manifest is read whole (the loader takes 4 MiB at most), a record is parsed whole
KIND_LIMITS = {"manifest": MAX_MANIFEST_BYTES, "record": 256 * 2**20}
CHUNK = 2**20


def member_kind(name: str) -> str | None:
    """Why ``name`` may be in a bundle (``None``: it may not)."""
    parts = Path(name).parts
    if name in TOP_MEMBERS:
        return "record"
    if len(parts) >= 2 and parts[0] == "manifests" and name.endswith(MANIFEST_SUFFIXES):
        return "manifest"
    if len(parts) == 2 and parts[0] == "artifacts" and name.endswith(ARTIFACT_SUFFIXES):
        return "artifact"
    if len(parts) >= 3 and parts[0] == "loadgen" and LOADGEN_FILE.fullmatch(parts[-1]):
        return "loadgen log"
    return None


def _extract(bundle: Path, into: Path) -> dict[str, Path]:
    """Stream the whitelisted members of ``bundle`` to ``into``: name -> file. Anything else, an unsafe
    name, a link, or a member over the size limits is refused before its bytes are read."""
    files: dict[str, Path] = {}
    total = 0
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            for count, member in enumerate(tar, 1):
                name = member.name
                if count > MAX_MEMBERS:
                    raise BundleError(f"{bundle}: more than {MAX_MEMBERS} members; not a bundle aibench wrote")
                if not member.isfile() or name.startswith("/") or ".." in Path(name).parts:
                    raise BundleError(
                        f"{bundle}: refusing unsafe member {name!r} (links, folders and paths leaving "
                        "the bundle are never extracted)"
                    )
                kind = member_kind(name)
                if kind is None:
                    raise BundleError(
                        f"{bundle}: refusing member {name!r}: a bundle holds only run.json, hashes.json, "
                        "environment.json, SHA256SUMS, manifests/*.yaml, artifacts/*.onnx|pt|pt2|tflite|npz "
                        "and loadgen/*/mlperf_log_*; never code or pytest configuration"
                    )
                limit = KIND_LIMITS.get(kind, MAX_MEMBER_BYTES)
                if member.size > limit or total + member.size > MAX_TOTAL_BYTES:
                    raise BundleError(
                        f"{bundle}: member {name!r} ({member.size:,} bytes) is over the limits "
                        f"({limit:,} bytes for a {kind}, {MAX_TOTAL_BYTES:,} in all); refused before "
                        "any of it is read"
                    )
                total += member.size
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                with target.open("wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                files[name] = target
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BundleError(
            f"{bundle}: not a readable bundle (a gzip-compressed tar written by 'aibench bundle'): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    except FileNotFoundError:
        raise BundleError(f"{bundle}: no such file") from None
    except IsADirectoryError:
        raise BundleError(f"{bundle}: a folder, not a bundle file") from None
    return files


def open_bundle(bundle: Path, into: Path) -> tuple[list[str], dict[str, Path]]:
    """Extract ``bundle`` into ``into``; the integrity problems (checksums, unlisted members, manifests
    the run did not use) and the files."""

    files = _extract(bundle, into)
    problems = []
    sums = {}
    listing = files["SHA256SUMS"].read_text(errors="replace") if "SHA256SUMS" in files else ""
    for line in listing.splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    if not sums:
        problems.append("no SHA256SUMS in the bundle")
    for name, digest in sums.items():
        if name not in files:
            problems.append(f"{name}: listed in SHA256SUMS but missing")
        elif sha256_file(files[name]) != digest:
            problems.append(f"{name}: sha256 differs from SHA256SUMS (corrupted or edited)")
    for name in files:
        if name != "SHA256SUMS" and name not in sums:
            problems.append(f"{name}: not listed in SHA256SUMS")
    ran = set()
    if "run.json" in files:
        try:
            ran = {manifest_member(m["path"]) for m in json.loads(files["run.json"].read_bytes()).get("manifests", [])}
        except (ValueError, TypeError, KeyError, AttributeError):
            problems.append("run.json: not a run JSON aibench wrote")
    for name in files:
        if member_kind(name) == "manifest" and name not in ran:
            problems.append(f"{name}: a manifest the bundled run did not use")
    return problems, files


def verify_bundle(bundle: Path, into: Path) -> tuple[list[str], list[str], dict[str, Path]]:
    """Problems (integrity or mismatched artifacts) and notes (artifacts not present here)."""

    problems, files = open_bundle(bundle, into)
    notes: list[str] = []
    try:
        hashes = json.loads(files["hashes.json"].read_bytes() or b"{}") if "hashes.json" in files else {}
    except ValueError:
        problems.append("hashes.json: not JSON")
        hashes = {}
    for item, a in hashes.get("artifacts", {}).items():
        local = None
        if a.get("zoo"):
            try:
                card = find_card(a["zoo"])
                local = next(
                    (card.folder / e["file"] for e in card.artifacts.values() if e.get("sha256") == a["sha256"]), None
                ) or (card.folder / Path(a.get("path", "")).name)
            except CardError:
                local = None
        elif a.get("path"):
            local = Path(a["path"])
        if local is None or not Path(local).is_file():
            notes.append(f"{item}: artifact not present here ({a.get('path')})")
        elif sha256_file(Path(local)) != a["sha256"]:
            problems.append(
                f"{item}: artifact {local} here has sha256 {sha256_file(Path(local))[:16]}..., the run used "
                f"{a['sha256'][:16]}..."
            )
    _check_dataset_files(files, problems, notes)
    return problems, notes, files


def _check_dataset_files(files: dict[str, Path], problems: list[str], notes: list[str]) -> None:
    """Each bundled manifest's dataset files (``path:`` with ``sha256:``) against the copies here, found
    beside the manifest at its recorded place (relative to this folder)."""
    for name, member in files.items():
        if member_kind(name) != "manifest":
            continue
        try:
            data, _ = loads(member.read_bytes())
        except YamlError:
            problems.append(f"{name}: not a manifest aibench can read")
            continue
        folder = Path(name.removeprefix("manifests/")).parent
        datasets = data.get("datasets") if isinstance(data, dict) else None
        for ds, spec in (datasets or {}).items() if isinstance(datasets, dict) else ():
            if isinstance(spec, dict) and isinstance(spec.get("path"), str) and (folder / spec["path"]).is_dir():
                _check_folder(ds, spec, folder / spec["path"], _recorded_hashes(files, ds), problems, notes)
                continue
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec.get("sha256"):
                continue
            local = folder / spec["path"]
            if not local.is_file():
                notes.append(f"dataset {ds!r}: file {local} not present here")
            elif sha256_file(local) != spec["sha256"]:
                problems.append(
                    f"dataset {ds!r}: file {local} here has sha256 {sha256_file(local)[:16]}..., the "
                    f"manifest records {str(spec['sha256'])[:16]}..."
                )


def _recorded_hashes(files: dict[str, Path], dataset: str) -> set[str]:
    """The content hashes the bundled run recorded for ``dataset``'s items."""
    try:
        items = json.loads(files["run.json"].read_bytes()).get("items", []) if "run.json" in files else []
    except (ValueError, AttributeError):
        return set()
    return {
        str(i["dataset"]["sha256"])
        for i in items
        if isinstance(i, dict)
        and isinstance(i.get("dataset"), dict)
        and i["dataset"].get("name") == dataset
        and i["dataset"].get("sha256")
    }


def _check_folder(
    name: str, spec: dict[str, Any], local: Path, recorded: set[str], problems: list[str], notes: list[str]
) -> None:
    """An image folder here against the content hash the run recorded (names and bytes of every file used)."""
    if not recorded:
        notes.append(f"dataset {name!r}: folder {local} is here, but the run recorded no content hash for it")
        return
    try:
        got = data.materialize(
            DatasetSpec(
                name,
                str(spec.get("source")),
                local,
                None,
                float(spec.get("eval_fraction", 0.25)),
                int(spec.get("split_seed", 0)),
                dict(spec.get("params") or {}),
            )
        ).content_hash
    except (data.DatasetError, LookupError, TypeError, ValueError) as exc:
        problems.append(f"dataset {name!r}: folder {local} cannot be read as the run read it: {exc}")
        return
    if got not in recorded:
        problems.append(
            f"dataset {name!r}: folder {local} here hashes to {got[:16]}..., the run recorded "
            f"{', '.join(sorted(h[:16] + '...' for h in recorded))} (files added, removed or changed)"
        )


def cmd_verify(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            problems, notes, files = verify_bundle(Path(args.bundle), Path(tmp))
        except BundleError as exc:
            raise SystemExit(f"aibench verify: {exc}") from None
    for n in notes:
        print(f"note: {n}")
    for p in problems:
        print(f"PROBLEM: {p}")
    verdict = "FAILED" if problems else "OK"
    print(f"{args.bundle}: {verdict}: {len(files)} files, {len(problems)} problems, {len(notes)} notes")
    return 1 if problems else 0


def cmd_rerun(args: argparse.Namespace) -> int:
    """Run the bundle's suites again here (same seed and profile) and compare with the bundled run."""

    with tempfile.TemporaryDirectory() as tmp:
        try:
            problems, _, files = verify_bundle(Path(args.bundle), Path(tmp))
        except BundleError as exc:
            raise SystemExit(f"aibench rerun: {exc}") from None
        if problems:
            print("the bundle does not verify; not rerunning:\n  " + "\n  ".join(problems))
            return 1
        doc, before = runjson.read(Path(tmp) / "run.json")
        lacking = runners_missing(before)
        if lacking:
            print(
                "aibench rerun: this machine cannot run the bundle's items; nothing rerun:\n  " + "\n  ".join(lacking)
            )
            return 1
        manifests, from_bundle = [], False
        for m in doc.get("manifests", []):
            original = Path(args.root) / m["path"]  # own model files sit beside the original manifest
            if original.is_file() and _sha(original.read_bytes()) == m["sha256"]:
                manifests.append(str(original))
            elif manifest_member(m["path"]) in files:
                manifests.append(str(files[manifest_member(m["path"])]))
                from_bundle = True
        if not manifests:
            print("no manifest of the bundled run is available here")
            return 1
        out = Path(tmp) / "rerun.json"
        listed = Path(tmp) / "items.txt"  # only what the bundle holds: a bundle of 3 items re-measures 3
        listed.write_text("".join(f"{r.id}\n" for r in before), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--aibench-seed",
            str(doc.get("seed", 0)),
            "--aibench-items",
            str(listed),
            "--aibench-json",
            str(out),
            "--aibench-out",
            str(Path(tmp) / "out"),
            *(("--aibench-profile", doc["profile"]) if doc.get("profile") else ()),
        ]
        for path in manifests:
            cmd += ["--aibench", path]
        if from_bundle:  # a bundle's own manifest: whatever it trusts, it may name no code
            cmd += ["--aibench-no-code"]
        # the bundle is data only (its members are whitelisted, never code): pytest runs from --root with
        # that as its rootdir, so the only conftest.py files it may load are the project's own
        cmd += ["--rootdir", str(Path(args.root).resolve())]
        print(
            f"rerun: pytest from {Path(args.root).resolve()} (rootdir); no code from the bundle is imported: "
            "it holds only records, manifests and model files"
        )
        subprocess.run(cmd, cwd=args.root, check=False)
        if not out.is_file():
            print("the rerun wrote no results")
            return 1
        after_doc, after = runjson.read(out)
    bad = _rerun_differences(doc, before, after_doc, after, args.tolerance)
    return 1 if bad else 0


def runners_missing(results: Any) -> list[str]:
    """The runners the bundled items ran on that this machine lacks (a vendor's runner package not installed,
    or a runtime absent), each with the package and version the bundle recorded and what to install."""
    out, seen = [], set()
    for r in results:
        name = str(r.runner.get("name") or "")
        if not name or name in seen:
            continue
        seen.add(name)
        package, version = r.runner.get("package"), r.runner.get("package_version")
        pin = f"{package}=={version}" if package and version else package
        if name not in RUNNERS:
            out.append(
                f"runner {name!r} (package {pin or 'not recorded'}) is not registered here: install the package "
                "that provides it (its pytest_aibench.runners entry point), e.g. pip install "
                f"{pin or '<its package>'}, then rerun"
            )
            continue
        why = missing(RUNNERS.get(name))
        if why:
            out.append(f"runner {name!r}: {why}")
    return out


def _rerun_differences(
    doc: dict[str, Any], before: Any, after_doc: dict[str, Any], after: Any, tolerance: float
) -> list[str]:
    """Print the rerun's comparison with the bundled run; the differences beyond its tolerances."""
    c = match(before, after, doc.get("machine"), after_doc.get("machine"))
    bad = []
    for b, a in c.matched:
        quality = headline(task_of(b) or CLASSIFICATION)  # top-1, or the task's own (mAP, mIoU, ...)
        acc_b, acc_a = b.metrics.get(quality), a.metrics.get(quality)
        if acc_b != acc_a:
            isa = isa_note(b, a)
            bad.append(
                f"{a.id}: {quality} {acc_a} here, {acc_b} in the bundle (same seed: must be equal)"
                + (f"; {isa}" if isa else "")
            )
        lat_b, lat_a = b.metrics.get("latency.p50_ms"), a.metrics.get("latency.p50_ms")
        if isinstance(lat_b, (int, float)) and isinstance(lat_a, (int, float)) and lat_b > 0:
            ratio = lat_a / lat_b
            line = f"{a.id}: p50 {lat_a:.4g} ms here, {lat_b:.4g} ms in the bundle (x{ratio:.2f})"
            print(line)
            if not 1 / (1 + tolerance) <= ratio <= 1 + tolerance:
                bad.append(line + f": outside the ±{tolerance:.0%} latency tolerance")
    for item in c.missing:
        bad.append(f"{item.id}: in the bundle but not measured here")
    for note in c.machine_notes:
        print(f"machine differs: {note}")
    if c.new:  # --aibench-items keeps the rerun to the bundle's items; anything else is a defect to show
        print(f"{len(c.new)} items measured here that the bundle does not hold: " + ", ".join(r.id for r in c.new))
    print(
        f"{len(c.matched)} items rerun; accuracy (or each task's headline) must match exactly, latency within "
        f"±{tolerance:.0%}"
    )
    for line in bad:
        print(f"DIFFERS: {line}")
    return bad


def add_commands(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    p = sub.add_parser("bundle", help="pack a run with its manifests, hashes, environment and LoadGen logs")
    p.add_argument("run")
    p.add_argument("-o", "--output", help="archive path (default RUN_ID.aibench.tar.gz)")
    p.add_argument("--root", default=".", help="where the run's manifest paths are relative to (default: here)")
    p.set_defaults(fn=cmd_bundle)
    p = sub.add_parser("verify", help="check a bundle's checksums and that its artifacts match the ones here")
    p.add_argument("bundle")
    p.set_defaults(fn=cmd_verify)
    p = sub.add_parser("rerun", help="run a bundle's suites again here and compare within tolerances")
    p.add_argument("bundle")
    p.add_argument("--root", default=".", help="where to run (the project holding the suites)")
    p.add_argument("--tolerance", type=float, default=0.5, help="allowed latency ratio change (default 0.5 = ±50%%)")
    p.set_defaults(fn=cmd_rerun)
