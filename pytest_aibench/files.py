"""Shipped files and checksums: where fixtures live, and refusing any file whose digest is wrong."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


class ChecksumError(Exception):
    """A file's sha256 differs from the one recorded for it."""


def fixture_roots() -> list[Path]:
    """Folders searched for shipped fixtures: ``$AIBENCH_FIXTURES`` (os.pathsep-separated), then
    the project's ``fixtures/`` beside the package."""
    roots = [Path(p) for p in os.environ.get("AIBENCH_FIXTURES", "").split(os.pathsep) if p]
    roots.append(PACKAGE_ROOT.parent / "fixtures")
    return [r for r in roots if r.is_dir()]


def shipped(relpath: str) -> Path:
    """The first ``fixtures/<relpath>`` found, or FileNotFoundError naming where we looked."""
    for root in fixture_roots():
        candidate = root / relpath
        if candidate.exists():
            return candidate
    looked = ", ".join(str(r) for r in fixture_roots()) or f"{PACKAGE_ROOT.parent / 'fixtures'} (missing)"
    raise FileNotFoundError(
        f"shipped fixture {relpath!r} not found (looked in {looked}); "
        "set AIBENCH_FIXTURES to the project's fixtures/ folder"
    )


def sha256_file(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime) so a suite hashes each artifact once."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=512)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, expected: str | None, what: str = "file") -> str:
    """Return the file's sha256; raise :class:`ChecksumError` when ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected and actual != expected.lower():
        raise ChecksumError(
            f"{what} {path} has sha256 {actual}, expected {expected}: the file changed or is "
            "corrupt; rebuild it or update the recorded digest if the change is intended"
        )
    return actual


def recorded_sums(folder: Path) -> dict[str, str]:
    """``SHA256SUMS`` of a folder (``sha256sum`` format) as name -> digest."""
    sums = folder / "SHA256SUMS"
    out: dict[str, str] = {}
    if sums.exists():
        for line in sums.read_text().splitlines():
            if line.strip():
                digest, _, name = line.partition("  ")
                out[name.strip().lstrip("*")] = digest.strip()
    return out


def cache_root() -> Path:
    """Where built models are cached: ``$AIBENCH_CACHE/models``, else ``$XDG_CACHE_HOME/pytest-aibench/models`` (``~/.cache``)."""
    env = os.environ.get("AIBENCH_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = (
        Path(env).expanduser()
        if env
        else (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "pytest-aibench"
    )
    return base / "models"
