"""From a manifest's model and an item's axes to the one file a runner will load.

A zoo model's card lists a built artifact per ``framework/quantization``; a user's file is one
artifact. A runner may also derive a quantization from the fp32 artifact at prepare time (torch
casts to bf16, say). Anything else is "not available": the item is skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_aibench.core.model import InputSpec, ModelSpec
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.zoo.cards import Card, CardError, find_card

__all__ = ["ArtifactError", "ModelArtifact", "NotAvailable", "resolve"]


@dataclass(frozen=True)
class ModelArtifact:
    model: str
    framework: str
    quantization: str  # what the item measures
    stored_quantization: str  # the variant on disk (fp32 when the runner derives)
    format: str  # onnx | tflite | pt (state dict of a zoo family) | pt2 (torch.export)
    path: Path
    sha256: str | None
    input: InputSpec | None = None
    family: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    card: Card | None = None
    factory: str | None = None  # "module:function" building the torch module (manifest `factory:`)
    code_root: Path | None = None  # the suite's folder, where the factory's module must be (or be trusted)
    trusted_modules: tuple[str, ...] = ()
    kernel: Any = None  # kernels.Kernel for kernel "models" (format "kernel", no file)
    output: str | int | tuple[str | int, ...] | None = None  # manifest `output:`: the output(s) a task reads

    @property
    def derived(self) -> bool:
        return self.quantization != self.stored_quantization

    def describe(self) -> dict[str, Any]:
        if self.kernel is not None:
            return {
                "model": self.model,
                "format": "kernel",
                "op": self.kernel.op,
                "shape": self.kernel.dims,
                "flops": self.kernel.flops(),
            }
        out = {
            "model": self.model,
            "format": self.format,
            "path": str(self.path),
            "sha256": self.sha256,
            "stored_quantization": self.stored_quantization,
            "size_bytes": self.path.stat().st_size if self.path.exists() else None,
        }
        if self.card is not None:
            out["zoo"] = self.card.name
            out["family"] = self.family
        return out


def _input_from_card(card: Card) -> InputSpec | None:
    spec = card.input
    if not spec.get("shape"):
        return None
    shape = list(spec["shape"])
    if spec.get("resizable") and len(shape) == 4:  # global pooling: any height and width
        shape[2] = shape[3] = None
    return InputSpec(
        shape=tuple(shape), name=spec.get("name"), layout=spec.get("layout", "NCHW"), dtype=spec.get("dtype", "float32")
    )


def find_variant(
    built: dict[str, dict[str, Any]], framework: str, quantization: str, runner: Any
) -> tuple[str, str] | None:
    """(card key, stored quantization) of the artifact ``runner`` runs for ``quantization``: found by format,
    so any runner that reads ONNX runs the ONNX variants whichever runtime built them. The runner's own
    variant first, then another runtime's in a format it reads, then an fp32 one it derives the rest from."""
    formats = tuple(getattr(runner, "formats", ()))

    def readable(key: str) -> bool:
        return key in built and (not formats or built[key].get("format") in formats)

    own, others = f"{framework}/{quantization}", sorted(k for k in built if k.endswith(f"/{quantization}"))
    for key in (own, *others):
        if readable(key):
            return key, quantization
    for key in (f"{framework}/fp32", *sorted(k for k in built if k.endswith("/fp32"))):
        if readable(key) and runner.derives(quantization, built[key].get("format", "")):
            return key, "fp32"
    return None


def resolve(
    model: ModelSpec, framework: str, quantization: str, runner: Any, fixtures: Path | None = None
) -> ModelArtifact:
    """The artifact for this item, or :class:`NotAvailable` / :class:`ArtifactError`; zoo models from
    the shipped fixtures, or from ``fixtures`` (another tree's, for a reference checkout)."""
    if model.kernel is not None:
        if "kernel" not in getattr(runner, "formats", ()):
            raise NotAvailable(f"{framework} runs no kernels (kernels run on numpy, torch and onnxruntime)")
        return ModelArtifact(
            model.name, framework, quantization, quantization, "kernel", Path("."), None, kernel=model.kernel
        )
    if model.zoo:
        try:
            card = find_card(model.zoo, fixtures)
        except CardError as exc:
            raise ArtifactError(str(exc)) from None
        built = card.artifacts
        found = find_variant(built, framework, quantization, runner)
        if found is None:
            key = f"{framework}/{quantization}"
            why = card.data.get("skipped", {}).get(key)
            if why:
                raise NotAvailable(f"{framework} {quantization} of zoo model {card.name!r}: {why}")
            readable = ", ".join(getattr(runner, "formats", ())) or "none"
            have = sorted(f"{k} ({v.get('format')})" for k, v in built.items())
            raise NotAvailable(
                f"{framework} has no {quantization} variant of zoo model {card.name!r} in a format it reads "
                f"({readable}); built: {', '.join(have) or 'nothing'}"
            )
        key, stored = found
        entry = built[key]
        return ModelArtifact(
            model.name,
            framework,
            quantization,
            stored,
            entry["format"],
            card.folder / entry["file"],
            entry.get("sha256"),
            model.input or _input_from_card(card),
            card.family,
            card.config,
            card,
            output=model.output,
        )
    assert model.file is not None
    if model.factory and framework != "torch":
        raise NotAvailable(f"{framework} cannot run a torch factory model ({model.factory}); only torch can")
    fmt = model.file.suffix.lower().lstrip(".")  # a file's format is its suffix: onnx, tflite, pt2, ...
    if fmt not in runner.formats:
        raise NotAvailable(
            f"{framework} cannot run {model.file.suffix or 'extension-less'} files "
            f"(it runs: {', '.join('.' + f for f in runner.formats)})"
        )
    if quantization != "fp32" and not runner.derives(quantization, fmt):
        raise NotAvailable(
            f"{framework} cannot make a {quantization} variant of the file {model.file.name}; "
            "give a file already quantized as its own model"
        )
    return ModelArtifact(
        model.name,
        framework,
        quantization,
        "fp32",
        fmt,
        model.file,
        model.sha256,
        model.input,
        factory=model.factory,
        output=model.output,
        code_root=model.code_root,
        trusted_modules=model.trusted_modules,
    )
