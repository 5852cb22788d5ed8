"""Runners: one small protocol per runtime (prepare once, infer on a batch), registered by name.

A runner object is cheap to create and imports nothing; its runtime is imported in ``prepare``.
Register your own through the ``pytest_aibench.runners`` entry-point group,
``pytest_aibench.registry.RUNNERS.register(name, obj)``, or the ``pytest_aibench_make_runner`` hook.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pytest_aibench.core import device as _device
from pytest_aibench.core.device import ACCELERATORS, device_problem  # noqa: F401 - re-exported
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.registry import Registry
from pytest_aibench.versions import version_of  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import InputSpec, Settings
    from pytest_aibench.sim.node import Node


class RunnerSession(Protocol):
    """A prepared model. ``options`` records how the runtime was configured (threads, providers,
    version...); it goes into each result's ``runner``. Sessions written for 0.1 name it ``settings``,
    which is still read."""

    options: dict[str, Any]

    def adapt(self, x: np.ndarray) -> np.ndarray:
        """Dataset samples (float32, the dataset's layout) -> this model's input; done before timing."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Scores (N, classes) for a batch already adapted."""

    def close(self) -> None: ...


@runtime_checkable
class HasModule(Protocol):
    """A session with a torch module behind it (the model split reads its layers)."""

    @property
    def module(self) -> Any: ...


@runtime_checkable
class ServesModule(Protocol):
    """A session that can serve other weights of the same architecture (serve_trained)."""

    def replace_module(self, module: Any) -> None: ...


@runtime_checkable
class HasTimedCall(Protocol):
    """A session whose ``infer`` converts the runtime's outputs after the call (an int8 output dequantized
    to float scores): ``timed_call`` is the runtime's call alone, what latency times, as the input's
    quantization is done before timing. Its output is for timing only, not for scoring."""

    def timed_call(self, batch: np.ndarray) -> Any: ...


@runtime_checkable
class BindsTimedCall(Protocol):
    """A session that can hand the latency loop a call bound to one input shape: the runtime's own calls
    held in locals, so a 5 µs model is timed with none of the session's per-call lookups (3 % of it)."""

    def timed_for(self, example: np.ndarray) -> Any: ...


def timed(session: Any, example: np.ndarray | None = None) -> Any:
    """What the latency loop calls on inputs shaped like ``example``: a bound call where the session makes
    one, else its ``timed_call`` where it has one, else ``infer``."""
    if example is not None and isinstance(session, BindsTimedCall):
        return session.timed_for(example)
    return session.timed_call if isinstance(session, HasTimedCall) else session.infer


@runtime_checkable
class Renews(Protocol):
    """A session that makes a fresh instance of its prepared model without reading or parsing the artifact
    again (independent latency rounds re-instantiate, they do not re-load: torch.export.load of an int8
    program takes a second, a copy of the loaded module milliseconds)."""

    def renew(self) -> RunnerSession: ...


@runtime_checkable
class RunsKernel(Protocol):
    """A session that runs one operation on fixed shapes (the kernel paradigm)."""

    kernel: Any


@dataclass(frozen=True)
class RuntimeOption:
    """One key a runner reads from the manifest's ``runtime_options: {<runner>: {<key>: value}}``: declared
    by the runner, so the manifest checker validates it (file, line, what is expected) without importing
    the runtime, and the README's table lists it."""

    expected: str  # what a valid value looks like, as an error message says it
    check: Callable[[Any], str | None]  # None when ``value`` is valid, else what is wrong with it
    description: str = ""


def options_of(runner: Any) -> Mapping[str, RuntimeOption]:
    """The runtime options ``runner`` declares (``options``; none for a runner that declares none)."""
    declared = getattr(runner, "options", None)
    return declared if isinstance(declared, Mapping) else {}


def runtime_options(settings: Settings, runner: str) -> dict[str, Any]:
    """The manifest's ``runtime_options`` for ``runner`` (already validated against its declaration)."""
    every = settings.runtime_options or {}
    own = every.get(runner) if isinstance(every, Mapping) else None
    return dict(own) if isinstance(own, Mapping) else {}


def one_of(*values: str) -> Callable[[Any], str | None]:
    """A check for an option that takes one of ``values``."""

    def check(value: Any) -> str | None:
        return None if value in values else f"got {value!r}"

    return check


class Runner(Protocol):
    """A runtime, declared once: what the rest of the house reads about it is here. ``package`` is the
    distribution whose version runs record (and the partner process and machine comparisons read);
    ``formats`` are the artifact formats it reads: a zoo model's artifacts are found by format, so a new
    runner that reads ONNX runs every shipped ONNX variant. ``options`` (optional) declares the keys it
    reads from ``runtime_options``."""

    name: str
    module: str  # importable name probed (without importing) to tell if the runtime is there
    package: str  # the distribution to record the version of (pip's name)
    install_hint: str
    formats: tuple[str, ...]

    def derives(self, quantization: str, fmt: str) -> bool:
        """Whether prepare() can make ``quantization`` from an fp32 artifact of ``fmt``."""

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> RunnerSession: ...


def accelerator(device: str | None) -> tuple[str, int]:
    """``device:`` as (kind, index) (:func:`pytest_aibench.core.device.accelerator`); a malformed one is
    this item's error (the manifest check reports it at its line first)."""
    try:
        return _device.accelerator(device)
    except ValueError as exc:
        raise ArtifactError(str(exc)) from None


def no_device(runtime: str, device: str | None, why: str) -> NotAvailable:
    """The item asked for a device this runtime or this machine lacks: a skip that says which and why."""
    return NotAvailable(f"device {device!r} on {runtime}: {why}")


def missing(runner: Runner) -> str | None:
    """Why ``runner``'s runtime cannot be used here (with an install hint), or None."""
    try:
        found = importlib.util.find_spec(runner.module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"{runner.name} is not installed ({runner.module}): {runner.install_hint}"


def adapt_input(x: np.ndarray, dataset_layout: str, spec: InputSpec | None, dtype: Any = np.float32) -> np.ndarray:
    """Convert dataset samples to a model's layout, scaling and dtype (outside any timed region)."""
    out = x if isinstance(x, np.ndarray) else np.asarray(x)  # a lazy dataset (decoded image files) decodes here
    layout = spec.layout if spec is not None else dataset_layout
    if dataset_layout == "NCHW" and layout == "NHWC" and out.ndim == 4:
        out = out.transpose(0, 2, 3, 1)
    elif dataset_layout == "NHWC" and layout == "NCHW" and out.ndim == 4:
        out = out.transpose(0, 3, 1, 2)
    if spec is not None:
        if spec.scale is not None:
            out = out * spec.scale
        if spec.mean is not None:
            out = out - np.asarray(spec.mean, dtype=np.float32).reshape(_channel_shape(out, layout))
        if spec.std is not None:
            out = out / np.asarray(spec.std, dtype=np.float32).reshape(_channel_shape(out, layout))
    # A private, writable, contiguous copy: datasets are shared read-only between items.
    return np.array(out, dtype=dtype, order="C", copy=True)


def _channel_shape(x: np.ndarray, layout: str) -> tuple[int, ...]:
    if x.ndim != 4:
        return (-1,)
    return (1, -1, 1, 1) if layout == "NCHW" else (1, 1, 1, -1)


def check_shape(x: np.ndarray, expected: tuple[int | None, ...] | list, where: str) -> None:
    """Raise ArtifactError when adapted samples cannot feed an input of shape ``expected``."""

    exp = list(expected)
    got = list(x.shape)
    ok = len(exp) == len(got) and all(
        e is None or not isinstance(e, int) or e == g for e, g in zip(exp[1:], got[1:], strict=True)
    )
    if not ok:
        shown = ["N" if not isinstance(e, int) else e for e in exp]
        raise ArtifactError(
            f"{where}: model input expects shape {shown}, the dataset gives {['N', *got[1:]]}; "
            "fix the model's input spec (shape/layout) or pick the matching dataset"
        )


def output_index(names: list[str], wanted: str | int | None, where: str) -> int:
    """The output holding the class scores: the manifest's ``output:`` (name or index), else the only one."""
    if wanted is None:
        if len(names) != 1:
            raise ArtifactError(
                f"{where}: the model has {len(names)} outputs ({', '.join(names)}); say which holds "
                "the class scores with 'output:' (a name or a 0-based index) in the manifest"
            )
        return 0
    if isinstance(wanted, int):
        if not 0 <= wanted < len(names):
            raise ArtifactError(
                f"{where}: 'output: {wanted}' but the model has {len(names)} outputs ({', '.join(names)})"
            )
        return wanted
    if wanted not in names:
        raise ArtifactError(
            f"{where}: 'output: {wanted}' is not an output of the model (its outputs: {', '.join(names)})"
        )
    return names.index(wanted)


def output_indices(names: list[str], wanted: Any, where: str) -> list[int] | None:
    """``output: [boxes, scores]``: several named outputs a task decodes together (their indices, in the
    manifest's order); None where one output is wanted."""
    if not isinstance(wanted, (list, tuple)):
        return None
    return [output_index(names, w, where) for w in wanted]


RUNNERS: Registry[Runner] = Registry(
    "runner",
    "pytest_aibench.runners",
    {
        "torch": "pytest_aibench.runtimes.torch_runner:TorchRunner",
        "onnxruntime": "pytest_aibench.runtimes.ort_runner:OrtRunner",
        "litert": "pytest_aibench.runtimes.litert_runner:LiteRTRunner",
        "openvino": "pytest_aibench.runtimes.openvino_runner:OpenVinoRunner",
        "llama_cpp": "pytest_aibench.runtimes.llamacpp_runner:LlamaCppRunner",
        "numpy": "pytest_aibench.runtimes.numpy_runner:NumpyRunner",
    },
)


def packages() -> dict[str, str]:
    """Runner name -> the distribution whose version a run records, for every registered runner."""
    out = {}
    for name in RUNNERS.names():
        try:
            package = getattr(RUNNERS.get(name), "package", None)
        except Exception:  # noqa: BLE001 - a broken third-party entry point records nothing, breaks nothing
            continue
        if package:
            out[name] = str(package)
    return out
