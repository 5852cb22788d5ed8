"""``--aibench-against REF``: where the reference side of each item comes from.

REF is a saved baseline name, a run JSON or a bundle (each item's artifact found by its recorded
sha256: in the bundle, at its recorded path, or in REF's folder), a folder holding a checkout (the
same manifest path there), or ``git:REV`` (the manifests and artifacts as of that revision, unpacked
with ``git archive`` into a temporary folder: the user's tree and index are never touched). The
reference side is the same case (suite, model, axes) with REF's model file; both sides are then
measured here, with the candidate's settings, on the candidate's data, except where each computes:
the reference side takes REF's ``device`` and ``runtime_options`` (its manifest's, or as its run
recorded them), so a change of device, provider, dtype or delegate is what the gate compares.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aibench.artifact import resolve
from pytest_aibench.cli.bundle import BundleError, open_bundle
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.files import sha256_file, verify
from pytest_aibench.judge.baseline import saved_path
from pytest_aibench.judge.catalogue import known_metric_names
from pytest_aibench.judge.compare import Rule, parse_rules
from pytest_aibench.manifest.loader import ManifestError, load
from pytest_aibench.report import runjson

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.case import Case
    from pytest_aibench.core.model import Settings

#: the settings saying where an item computes: the paired gate takes each side's own
PLATFORM = ("device", "runtime_options")

#: files searched for an artifact's sha256 in REF's folder: at most this many, this large
SEARCH_FILES = 2000
SEARCH_BYTES = 2 * 2**30


class ReferenceError(Exception):
    """``--aibench-against`` names nothing usable; the message says what was tried."""


@dataclass(frozen=True)
class Against:
    """What an item's plan carries to be measured paired: the reference side (or why there is none),
    the rules to judge, the partner interpreter, the budget."""

    ref: str  # REF as given
    kind: str  # saved | run | bundle | folder | git
    artifact: ModelArtifact | None  # the reference side's model; None: not compared
    source: str = ""  # where it was found (or why it was not)
    rules: tuple[Rule, ...] = ()
    python: str | None = None  # --aibench-against-python: the reference runs there
    max_pairs: int = 20000
    max_seconds: float = 20.0
    platform: dict[str, Any] | None = None  # REF's {device, runtime_options} for this case; None: unknown

    def reference_settings(self, settings: Settings) -> Settings:
        """The candidate's settings, computing where REF's side did (its device and runtime options)."""
        return replace(settings, **self.platform) if self.platform is not None else settings

    def platform_pair(self, settings: Settings) -> dict[str, Any]:
        """Both sides' device and runtime options as measured, and whether they differ."""
        mine = {k: getattr(settings, k) for k in PLATFORM}
        theirs = {k: getattr(self.reference_settings(settings), k) for k in PLATFORM}
        return {"reference": theirs, "candidate": mine, "differs": theirs != mine}

    def describe(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "kind": self.kind,
            "source": self.source,
            "python": self.python,
            "artifact": self.artifact.describe() if self.artifact is not None else None,
        }


@dataclass
class Reference:
    """An opened REF: finds the reference side of a case."""

    spec: str
    kind: str
    root: Path | None = None  # a tree (folder, git) with manifests and fixtures
    doc: dict[str, Any] = field(default_factory=dict)  # a run (saved, run JSON, bundle)
    folder: Path | None = None  # where to look for a run's artifacts
    members: Path | None = None  # an extracted bundle
    _loaded: dict[Path, Any] = field(default_factory=dict)
    _cases: dict[str, Case] = field(default_factory=dict)  # the reference tree's case for each item id

    def side(
        self, case: Case, candidate: ModelArtifact, manifest_rel: Path, runner: Any, runner_known: Any
    ) -> tuple[ModelArtifact | None, str]:
        """The reference artifact for ``case`` and where it came from, or None and why."""
        try:
            if self.root is not None:
                return self._from_tree(case, manifest_rel, runner, runner_known)
            return self._from_run(case, candidate)
        except (ArtifactError, NotAvailable) as exc:
            return None, f"{self.spec} has no usable reference for {case.id}: {exc}"

    def _from_tree(
        self, case: Case, manifest_rel: Path, runner: Any, runner_known: Any
    ) -> tuple[ModelArtifact | None, str]:
        assert self.root is not None
        path = self.root / manifest_rel
        if not path.is_file():
            return None, f"{self.spec} has no manifest {manifest_rel}"
        if path not in self._loaded:
            try:
                self._loaded[path] = load(path, runner_known, manifest_rel)
            except ManifestError as exc:
                self._loaded[path] = f"its manifest {manifest_rel} does not load: {exc.report().splitlines()[0]}"
        loaded = self._loaded[path]
        if isinstance(loaded, str):
            return None, f"{self.spec}: {loaded}"
        ref_case = next((c for c in loaded.cases if c.id == case.id), None)
        if ref_case is None:
            return None, f"{self.spec} has no case {case.id} (new in this tree)"
        self._cases[case.id] = ref_case
        spec = loaded.suite.models[case.model]
        artifact = resolve(spec, case.framework, case.quantization, runner, self.root / "fixtures")
        if artifact.format != "kernel":
            verify(artifact.path, artifact.sha256, f"reference model {case.model!r} artifact")
        return (
            artifact,
            f"{self.spec}: {artifact.path.relative_to(self.root) if artifact.path.is_relative_to(self.root) else artifact.path}",
        )

    def platform(self, case: Case, profile: str | None) -> dict[str, Any] | None:
        """REF's device and runtime options for ``case``: from its manifest (a tree) or as its run recorded
        them; None where REF does not say (the candidate's are used)."""
        if self.root is not None:
            ref_case = self._cases.get(case.id)
            if ref_case is None or ref_case.suite is None:
                return None
            chosen = profile if profile in ref_case.suite.profiles else ref_case.suite.default_profile
            s = ref_case.settings(chosen)
            return {k: getattr(s, k) for k in PLATFORM}
        item = next((i for i in self.doc.get("items", []) if i.get("id") == case.id), None)
        recorded = item.get("settings") if isinstance(item, dict) else None
        if not isinstance(recorded, dict):
            return None
        return {k: recorded.get(k) for k in PLATFORM}

    def _from_run(self, case: Case, candidate: ModelArtifact) -> tuple[ModelArtifact | None, str]:
        item = next((i for i in self.doc.get("items", []) if i.get("id") == case.id), None)
        if item is None:
            return None, f"{self.spec} has no item {case.id} (new since that run)"
        rec = item.get("artifact") or {}
        sha = rec.get("sha256")
        if not sha:
            return None, f"{self.spec} recorded no sha256 for {case.id}'s model"
        found = self._find(sha, rec.get("path"))
        if found is None:
            where = ", ".join(str(p) for p in (self.members, rec.get("path"), self.folder) if p)
            return None, f"{case.id}'s reference model (sha256 {sha[:12]}...) is not in {where}"
        return replace(candidate, path=found, sha256=sha), f"{self.spec}: {found} (sha256 {sha[:12]}...)"

    def _find(self, sha: str, recorded: str | None) -> Path | None:
        """The file with ``sha``: in the bundle, at the recorded path, or anywhere in REF's folder."""
        candidates: list[Path] = []
        if self.members is not None:
            candidates += sorted(p for p in self.members.rglob("*") if p.is_file())
        if recorded:
            candidates.append(Path(recorded))
        for p in candidates:
            if p.is_file() and sha256_file(p) == sha:
                return p
        if self.folder is None:
            return None
        seen = total = 0
        for p in _walk(self.folder):  # lazily: a large folder is never listed whole before the first hash
            if seen >= SEARCH_FILES or total >= SEARCH_BYTES:
                break
            seen += 1
            total += p.stat().st_size
            if sha256_file(p) == sha:
                return p
        return None

    def close(self) -> None:
        for folder in (self.members, self.root if self.kind == "git" else None):
            if folder is not None:
                shutil.rmtree(folder.parent if folder.name == "tree" else folder, ignore_errors=True)


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, folder by folder in name order, never inside ``.git``; no symlinks followed."""
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            p = Path(here) / name
            if p.is_file() and not p.is_symlink():
                yield p


def open_reference(spec: str, out: Path, cwd: Path) -> Reference:
    """Open REF (see the module docstring); :class:`ReferenceError` when it names nothing usable."""
    if not spec.strip():
        raise ReferenceError(
            "--aibench-against needs a REF (a saved baseline, a run JSON, a bundle, a folder or "
            "git:REV) and got an empty string: is the CI variable that should hold it unset?"
        )
    if spec.startswith("git:"):
        return _git(spec, cwd)
    path = Path(spec) if Path(spec).is_absolute() else cwd / spec
    if path.is_dir():
        return Reference(spec, "folder", root=path.resolve())
    if path.is_file() and (path.name.endswith((".tar.gz", ".tgz")) or tarfile.is_tarfile(path)):
        return _bundle(spec, path)
    if path.is_file():
        return _run(spec, "run", path)
    saved = saved_path(out, spec)
    if saved.is_file():
        return _run(spec, "saved", saved)
    raise ReferenceError(
        f"--aibench-against {spec!r}: not a saved baseline (none at {saved}), a run JSON, a bundle, "
        "a folder or git:REV (e.g. --aibench-against git:origin/main)"
    )


def _run(spec: str, kind: str, path: Path) -> Reference:
    try:
        doc, _ = runjson.read(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReferenceError(f"--aibench-against {spec!r}: cannot read {path} as a pytest-aibench run: {exc}") from None
    return Reference(spec, kind, doc=doc, folder=path.parent)


def _bundle(spec: str, path: Path) -> Reference:
    into = Path(tempfile.mkdtemp(prefix="aibench-against-"))
    try:
        problems, _files = open_bundle(path, into)  # its integrity; its artifacts are looked up by sha256
    except (OSError, tarfile.TarError, EOFError, BundleError) as exc:
        shutil.rmtree(into, ignore_errors=True)
        raise ReferenceError(f"--aibench-against {spec!r}: not a readable bundle: {exc}") from None
    if problems or not (into / "run.json").is_file():
        shutil.rmtree(into, ignore_errors=True)
        raise ReferenceError(f"--aibench-against {spec!r}: the bundle does not verify: {'; '.join(problems[:3])}")
    ref = _run(spec, "bundle", into / "run.json")
    ref.members, ref.folder = into, path.parent
    return ref


def _git(spec: str, cwd: Path) -> Reference:
    rev = spec[4:]

    def git(*args: str, **kw: Any) -> subprocess.CompletedProcess[Any]:
        try:
            return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120, **kw)
        except FileNotFoundError:
            raise ReferenceError(
                f"--aibench-against {spec}: git is not installed (no 'git' on PATH); use a "
                "folder holding the other checkout instead"
            ) from None
        except subprocess.TimeoutExpired:
            raise ReferenceError(f"--aibench-against {spec}: git {args[0]} took over 120 s") from None

    top = git("rev-parse", "--show-toplevel", text=True)
    if top.returncode != 0:
        raise ReferenceError(f"--aibench-against {spec}: {cwd} is not in a git repository")
    commit = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", text=True)
    if commit.returncode != 0 or not commit.stdout.strip():
        raise ReferenceError(f"--aibench-against {spec}: no such revision {rev!r} (try git:HEAD~1 or git:origin/main)")
    archive = git("archive", "--format=tar", commit.stdout.strip())
    if archive.returncode != 0:
        raise ReferenceError(f"--aibench-against {spec}: git archive failed: {archive.stderr.decode()[:200]}")
    into = Path(tempfile.mkdtemp(prefix="aibench-against-git-")) / "tree"
    try:
        into.mkdir()
        with tempfile.TemporaryFile() as f:
            f.write(archive.stdout)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                tar.extractall(into, filter="data")  # refuses absolute and escaping links, device files
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(into.parent, ignore_errors=True)
        raise ReferenceError(
            f"--aibench-against {spec}: cannot unpack that revision safely: {type(exc).__name__}: {exc}"
        ) from None
    return Reference(f"{spec} ({commit.stdout.strip()[:12]})", "git", root=into)


def problems(reference: Reference, manifests: list[tuple[str, Path]], rootdir: Path, cwd: Path) -> list[str]:
    """What makes REF compare nothing, said before anything is measured: a tree that holds none of
    this run's manifests, this very tree, a run of other suites. ``manifests``: (suite name, path)."""
    out = []
    if reference.root is not None:
        bases: list[Path | None] = [repo_top(rootdir)] if reference.kind == "git" else [cwd, rootdir]
        rels = [_relative(path, bases) for _, path in manifests]
        if rels and not any((reference.root / rel).is_file() for rel in rels):
            out.append(
                f"{reference.spec} holds none of this run's manifests ({', '.join(map(str, rels[:3]))}): is it a "
                "checkout of this project? No item can be compared"
            )
        here = {p.resolve() for p in (cwd, rootdir, repo_top(rootdir)) if p is not None}
        if reference.kind == "folder" and reference.root.resolve() in here:
            out.append(
                f"{reference.spec} is this tree itself: both sides would be the same files, so any verdict is "
                "noise; name another checkout or git:REV"
            )
    else:
        ran = {str(i.get("suite")) for i in reference.doc.get("items", []) if isinstance(i, dict)}
        mine = {name for name, _ in manifests}
        if mine and not ran & mine:
            out.append(
                f"{reference.spec} is a run of {', '.join(sorted(ran)) or 'no suite'}; this run measures "
                f"{', '.join(sorted(mine))}: no item can be compared"
            )
    return out


DEFAULT_RULES = "latency.p50:+10%,accuracy:-0"


def against_for(
    reference: Reference,
    case: Case,
    candidate: ModelArtifact,
    runner: Any,
    rootdir: Path,
    cwd: Path,
    runner_known: Any,
    cli_rules: list[Rule],
    python: str | None,
    max_pairs: int,
    max_seconds: float,
    profile: str | None = None,
) -> Against:
    """What an item needs to be measured against ``reference``: its reference side (or why there
    is none) and the rules to judge: the command line's over the manifest's, else latency.p50:+10%
    and any drop of accuracy."""
    suite = case.suite
    rules = {r.metric: r for r in (suite.regressions_for(case.model) if suite is not None else ())}
    rules.update({r.metric: r for r in cli_rules})
    if not rules:
        rules = {r.metric: r for r in parse_rules(DEFAULT_RULES, known_metric_names())}
    if suite is None or not suite.sha256:  # a hand-written test: no manifest to find at REF
        return Against(
            reference.spec,
            reference.kind,
            None,
            "hand-written tests have no manifest at REF",
            tuple(rules.values()),
            python,
            max_pairs,
            max_seconds,
        )
    rel = _relative(suite.path, [repo_top(rootdir)] if reference.kind == "git" else [cwd, rootdir])
    artifact, source = reference.side(case, candidate, rel, runner, runner_known)
    platform = reference.platform(case, profile) if artifact is not None else None
    return Against(
        reference.spec,
        reference.kind,
        artifact,
        source,
        tuple(rules.values()),
        python,
        max_pairs,
        max_seconds,
        platform,
    )


def _relative(path: Path, bases: list[Path | None]) -> Path:
    """A manifest's path as REF would hold it: relative to the first base it lies under (the folder
    pytest was started in, the rootdir; for git, the repository's top), else its name."""
    for base in bases:
        if base is not None:
            try:
                return path.resolve().relative_to(base.resolve())
            except ValueError:
                continue
    return Path(path.name)


def repo_top(path: Path) -> Path | None:
    """The git toplevel of ``path`` (manifest paths of a git:REV reference are relative to it)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None
