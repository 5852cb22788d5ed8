"""``aibench bundle`` / ``verify`` / ``rerun``: results that others can check and reproduce.

A bundle is a tar.gz holding the run JSON, the manifests it ran, every artifact's and dataset's
hash, the environment, any LoadGen logs, and ``SHA256SUMS`` over all of it. ``verify`` checks the
checksums and that the artifacts here are the ones measured; ``rerun`` runs the suites again with the
recorded seed and profile and compares: accuracy exactly, latency within a stated tolerance.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from pytest_aibench.cli.runs import load_run as _load
from pytest_aibench.files import sha256_file
from pytest_aibench.judge.compare import isa_note, match
from pytest_aibench.report import runjson
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
    return {"manifests": {m["path"]: m["sha256"] for m in doc.get("manifests", [])}, "artifacts": arts, "datasets": data}


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
            path = Path(args.root) / m["path"]
            if not path.is_file():
                notes.append(f"manifest {m['path']} not found under {args.root}: not bundled")
                continue
            raw = path.read_bytes()
            if _sha(raw) != m["sha256"]:
                notes.append(f"manifest {m['path']} changed since the run (sha256 differs): not bundled")
                continue
            _add(tar, f"manifests/{m['path']}", raw, sums)
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


def _extract(bundle: Path, into: Path) -> dict[str, bytes]:
    files = {}
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or name.startswith("/") or ".." in Path(name).parts:
                raise BundleError(f"{bundle}: refusing unsafe member {name!r}")
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            files[name] = data
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return files


def open_bundle(bundle: Path, into: Path) -> tuple[list[str], dict[str, bytes]]:
    """Extract ``bundle`` into ``into``; the integrity problems (checksums, unlisted members) and the files."""

    files = _extract(bundle, into)
    problems = []
    sums = {}
    for line in files.get("SHA256SUMS", b"").decode().splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    if not sums:
        problems.append("no SHA256SUMS in the bundle")
    for name, digest in sums.items():
        if name not in files:
            problems.append(f"{name}: listed in SHA256SUMS but missing")
        elif _sha(files[name]) != digest:
            problems.append(f"{name}: sha256 differs from SHA256SUMS (corrupted or edited)")
    for name in files:
        if name != "SHA256SUMS" and name not in sums:
            problems.append(f"{name}: not listed in SHA256SUMS")
    return problems, files


def verify_bundle(bundle: Path, into: Path) -> tuple[list[str], list[str], dict[str, bytes]]:
    """Problems (integrity or mismatched artifacts) and notes (artifacts not present here)."""

    problems, files = open_bundle(bundle, into)
    notes: list[str] = []
    hashes = json.loads(files.get("hashes.json", b"{}") or b"{}")
    for item, a in hashes.get("artifacts", {}).items():
        local = None
        if a.get("zoo"):
            try:
                card = find_card(a["zoo"])
                local = next((card.folder / e["file"] for e in card.artifacts.values() if e.get("sha256") == a["sha256"]),
                             None) or (card.folder / Path(a.get("path", "")).name)
            except CardError:
                local = None
        elif a.get("path"):
            local = Path(a["path"])
        if local is None or not Path(local).is_file():
            notes.append(f"{item}: artifact not present here ({a.get('path')})")
        elif sha256_file(Path(local)) != a["sha256"]:
            problems.append(f"{item}: artifact {local} here has sha256 {sha256_file(Path(local))[:16]}..., the run used "
                            f"{a['sha256'][:16]}...")
    return problems, notes, files


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
        manifests = []
        for m in doc.get("manifests", []):
            original = Path(args.root) / m["path"]  # own model files sit beside the original manifest
            if original.is_file() and _sha(original.read_bytes()) == m["sha256"]:
                manifests.append(str(original))
            elif f"manifests/{m['path']}" in files:
                manifests.append(str(Path(tmp) / "manifests" / m["path"]))
        if not manifests:
            print("no manifest of the bundled run is available here")
            return 1
        out = Path(tmp) / "rerun.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--aibench-seed", str(doc.get("seed", 0)),
               "--aibench-json", str(out), "--aibench-out", str(Path(tmp) / "out"),
               *(("--aibench-profile", doc["profile"]) if doc.get("profile") else ())]
        for path in manifests:
            cmd += ["--aibench", path]
        subprocess.run(cmd, cwd=args.root, check=False)
        if not out.is_file():
            print("the rerun wrote no results")
            return 1
        after_doc, after = runjson.read(out)
    c = match(before, after, doc.get("machine"), after_doc.get("machine"))
    bad = []
    for b, a in c.matched:
        acc_b, acc_a = b.metrics.get("accuracy"), a.metrics.get("accuracy")
        if acc_b != acc_a:
            isa = isa_note(b, a)
            bad.append(f"{a.id}: accuracy {acc_a} here, {acc_b} in the bundle (same seed: must be equal)"
                       + (f"; {isa}" if isa else ""))
        lat_b, lat_a = b.metrics.get("latency.p50_ms"), a.metrics.get("latency.p50_ms")
        if isinstance(lat_b, (int, float)) and isinstance(lat_a, (int, float)) and lat_b > 0:
            ratio = lat_a / lat_b
            line = f"{a.id}: p50 {lat_a:.4g} ms here, {lat_b:.4g} ms in the bundle (x{ratio:.2f})"
            print(line)
            if not 1 / (1 + args.tolerance) <= ratio <= 1 + args.tolerance:
                bad.append(line + f": outside the ±{args.tolerance:.0%} latency tolerance")
    for item in c.missing:
        bad.append(f"{item.id}: in the bundle but not measured here")
    for note in c.machine_notes:
        print(f"machine differs: {note}")
    print(f"{len(c.matched)} items rerun; accuracy must match exactly, latency within ±{args.tolerance:.0%}")
    for line in bad:
        print(f"DIFFERS: {line}")
    return 1 if bad else 0


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
