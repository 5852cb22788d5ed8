"""Building published-size zoo models into the cache on first use (:mod:`pytest_aibench.zoo.cache` reads them).

They are too large to commit (ResNet50's variants are ~250 MB) and nothing may be downloaded, so the
first item that needs one builds it here: seeded weights, then every variant whose converter is
installed, into ``$AIBENCH_CACHE/models/<name>/`` (default ``~/.cache/pytest-aibench``). A file lock
makes concurrent builders (xdist workers, two sessions) wait for one build. The committed lock file,
``fixtures/models/published.lock.json``, pins each variant's sha256 where the bytes follow from the
seed alone: a build that differs is refused, naming the tools it was built with and those the lock was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.files import cache_root, sha256_file, shipped
from pytest_aibench.progress import Progress
from pytest_aibench.versions import version_of
from pytest_aibench.zoo.cache import LOCK, cached_card, is_published, lock  # noqa: F401 - is_published: the fixtures ask here
from pytest_aibench.zoo.cards import CardError

if TYPE_CHECKING:
    import pytest_aibench.builder.export as export
    import pytest_aibench.builder.recipes as recipes
    from pytest_aibench import data, zoo
    from pytest_aibench.zoo import published
else:  # torch and the exporters load only when something is built
    data, zoo = lazy("pytest_aibench.data"), lazy("pytest_aibench.zoo")
    published = lazy("pytest_aibench.zoo.published")
    export, recipes = lazy("pytest_aibench.builder.export"), lazy("pytest_aibench.builder.recipes")

#: tools whose versions decide the artifacts' bytes
TOOLS = ("torch", "onnx", "onnxruntime", "numpy")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure(name: str, progress: Progress | None = None, root: Path | None = None, session: str | None = None) -> Path:
    """The folder of published model ``name``, built (once, under a file lock) if the cache lacks it.

    A build that fails is not tried again in the same ``session`` (a run id, shared by xdist workers):
    eight items needing one model would otherwise each spend the build's minutes failing the same way.
    The failure is kept beside the lock, so every process of the session errors at once, naming it."""
    root = root or cache_root()
    if cached_card(name, root) is None:
        with _file_lock(root / f".{name}.lock"):
            failed = _failed_before(root, name, session)
            if failed:
                raise CardError(
                    f"published model {name!r}: its build already failed in this session, not retried: {failed}"
                )
            for stale in root.glob(
                f".{name}.build-*"
            ):  # a build killed before it finished; none runs now (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            if cached_card(name, root) is None:  # another process may have built it while we waited
                try:
                    build(name, root, progress or Progress())
                except Exception as exc:
                    if session:
                        (root / f".{name}.failed.json").write_text(json.dumps({"session": session, "error": str(exc)}))
                    raise
            (root / f".{name}.failed.json").unlink(missing_ok=True)
    return root / name


def _failed_before(root: Path, name: str, session: str | None) -> str | None:
    """The error of this session's earlier failed build of ``name``, or None."""
    if not session:
        return None
    try:
        rec = json.loads((root / f".{name}.failed.json").read_text())
    except (OSError, ValueError):
        return None
    return str(rec.get("error")) if isinstance(rec, dict) and rec.get("session") == session else None


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = width * done // max(1, total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def build(name: str, root: Path, progress: Progress, variants: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Build ``name``'s variants into ``root/name`` (atomically: a temporary folder renamed at the end)."""

    entry = lock()["models"].get(name)
    if entry is None:
        raise CardError(f"{name!r} is not a published zoo model (known: {', '.join(lock()['models'])})")
    recipe = recipes.Recipe(
        name=name,
        family=name,
        config={},
        dataset=dict(entry.get("calibration") or {}),
        input_shape=(None, *input_of(entry)),
        calibration=int((entry.get("calibration") or {}).get("params", {}).get("samples", 0)),
        variants=tuple(variants or entry["variants"]),
    )
    tmp = root / f".{name}.build-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        return _build_into(name, entry, recipe, root, tmp, progress)
    finally:  # a failed build leaves nothing behind (a killed one is swept by the next ensure())
        shutil.rmtree(tmp, ignore_errors=True)


def _build_into(
    name: str, entry: dict[str, Any], recipe: Any, root: Path, tmp: Path, progress: Progress
) -> dict[str, Any]:
    t0 = time.perf_counter()
    steps = len(recipe.variants) + 1
    progress.note(f"building published model {name} ({entry['params'] / 1e6:.1f} M parameters) into {root / name}")
    progress.update(f"{name} {_bar(0, steps)} seeding weights")
    model = published.seeded(zoo.build_module(name, {}), int(entry["seed"]))
    x_calib = _calibration(recipe) if recipe.dataset else np.zeros((1, *recipe.input_shape[1:]), np.float32)
    arts: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization warns per pre-activation BatchNorm
    try:
        for i, key in enumerate(recipe.variants, 1):
            progress.update(f"{name} {_bar(i, steps)} exporting {key}")
            try:
                arts[key] = export.EXPORTERS[key](model, recipe, x_calib, tmp)
            except export.ExportSkipped as exc:
                skipped[key] = str(exc)
    finally:
        logging.getLogger().setLevel(quiet)
    for art in arts.values():
        art["sha256"] = sha256_file(tmp / art["file"])
        art["size_bytes"] = (tmp / art["file"]).stat().st_size
    _check_lock(name, entry, arts)
    card = _card(name, entry, model, recipe, arts, skipped, time.perf_counter() - t0)
    (tmp / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    if (root / name).exists():
        shutil.rmtree(root / name)
    os.replace(tmp, root / name)
    progress.update(f"{name} {_bar(steps, steps)} done")
    progress.note(
        f"built {name} in {card['build_s']:.0f} s: {', '.join(arts)}"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
    )
    return card


def input_of(entry: dict[str, Any]) -> tuple[int, ...]:
    """One sample's shape for a lock entry: ``input`` where it is not a square RGB image (any rank: a
    sequence of ids, frames of features, a clip), else (3, ``side``, ``side``)."""
    if entry.get("input"):
        return tuple(int(d) for d in entry["input"])
    side = int(entry["side"])
    return 3, side, side


def _calibration(recipe: Any) -> Any:
    """Calibration images from the procedural ``shapes`` source at the model's side (never downloaded)."""
    x, _, _ = data.DATASETS.get(recipe.dataset["source"]).load(recipes.dataset_spec(recipe))
    return x


def _tools() -> dict[str, str | None]:
    return {t: version_of(t) for t in TOOLS}


def _check_lock(name: str, entry: dict[str, Any], arts: dict[str, dict[str, Any]]) -> None:
    """Refuse a build whose pinned variants differ from the lock (the bytes follow from seed and tools)."""
    pinned = entry.get("sha256", {})
    bad = [k for k, a in arts.items() if pinned.get(k) and pinned[k] != a["sha256"]]
    if bad:
        raise CardError(
            f"published model {name!r}: {', '.join(bad)} built with sha256 "
            f"{', '.join(arts[k]['sha256'][:16] for k in bad)}…, but {shipped(LOCK)} pins "
            f"{', '.join(pinned[k][:16] for k in bad)}… (lock made with {lock().get('tools')}, built with {_tools()}). "
            "Install the pinned tools (pip install -e '.[all]'), or, if the change is intended, "
            "refresh the lock with `python -m pytest_aibench.zoo lock`"
        )


def _card(
    name: str,
    entry: dict[str, Any],
    model: Any,
    recipe: Any,
    arts: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    seconds: float,
) -> dict[str, Any]:
    shape = input_of(entry)
    pinned = entry.get("sha256", {})
    for key, art in arts.items():
        art["lock"] = "pinned" if key in pinned else entry.get("unpinned", {}).get(key, "not pinned")
    return {
        "name": name,
        "family": name,
        "config": {},
        "trained": False,
        "seed": entry["seed"],
        "weights": "seeded initialisation (pytest_aibench.zoo.published.seeded), never trained: accuracy is not "
        "applicable",
        "params": int(sum(p.numel() for p in model.parameters())),
        "flops": {str(shape[-1]): zoo.count_flops(model, (1, *shape))},
        **({"task": entry["task"]} if entry.get("task") else {}),
        **({"decoder": model.describe()} if callable(getattr(model, "describe", None)) else {}),
        "published": {k: entry[k] for k in ("params", "macs", "source")},
        "input": {
            "name": "input",
            "shape": [None, *shape],
            "layout": entry.get("layout", "NCHW"),
            "dtype": "float32",
            "resizable": False,
        },
        "dataset": {"calibration": entry.get("calibration")},
        "artifacts": arts,
        "skipped": skipped,
        "tools": _tools(),
        "build_s": round(seconds, 1),
    }


def write_lock(names: list[str], root: Path, path: Path, progress: Progress) -> dict[str, Any]:
    """Rebuild ``names`` from the lock's settings and write their pinned sha256s back (a maintainer's step)."""
    data = json.loads(path.read_text())
    for name in names:  # unpin first, so the rebuild is not checked against the digests it replaces
        data["models"][name]["sha256"] = {}
    path.write_text(json.dumps(data, indent=2) + "\n")
    lock.cache_clear()
    for name in names:
        entry = data["models"][name]
        card = build(name, root, progress)
        entry["sha256"] = {k: card["artifacts"][k]["sha256"] for k in entry.get("pin", []) if k in card["artifacts"]}
    data["tools"] = _tools()
    path.write_text(json.dumps(data, indent=2) + "\n")
    lock.cache_clear()
    return data
