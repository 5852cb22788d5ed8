"""PyTorch eager runner: zoo state dicts (loaded with ``weights_only=True``) or torch.export archives."""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import logging
import re
import typing
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench import usercode
from pytest_aibench._lazy import lazy
from pytest_aibench.errors import ArtifactError, NotAvailable
from pytest_aibench.gen import decoding, torch_decoder
from pytest_aibench.measure import spin
from pytest_aibench.runtimes import (
    RuntimeOption,
    accelerator,
    adapt_input,
    check_shape,
    kernels,
    no_device,
    one_of,
    output_index,
    runtime_options,
    version_of,
)
from pytest_aibench.zoo import build_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

if TYPE_CHECKING:
    from pytest_aibench.artifact import ModelArtifact
    from pytest_aibench.core.model import Settings
    from pytest_aibench.sim.node import Node

#: quantizations made from the fp32 state dict at prepare time
_DERIVED = ("bf16", "fp16", "int8_dynamic", "int8_weight")


def _from_factory(artifact: ModelArtifact) -> Any:
    """Call a manifest's ``factory: "module:function"`` (through :mod:`pytest_aibench.usercode`: the
    suite's own file, or a module the manifest trusts). Whatever the user's code raises, ``SystemExit``
    included, becomes this item's error; it never reaches pytest's machinery."""
    factory = str(artifact.factory)
    folder = artifact.code_root or artifact.path.parent
    try:
        return usercode.load(factory, folder, artifact.trusted_modules, "factory")()
    except (KeyboardInterrupt, usercode.UserCodeRefused):
        raise
    except BaseException as exc:  # noqa: BLE001 (user code: SystemExit and the like end this item only)
        raise RuntimeError(f"factory {factory!r} raised {type(exc).__name__}: {exc}") from None


def _register_quantized_decomposed(torch: Any) -> None:
    """pt2e int8 programs call ``quantized_decomposed`` ops, which one torch module registers on import.
    Registration lives in C++ and outlives the Python module, so import only when the ops are absent
    (a re-import after something dropped the module from sys.modules would fail to register twice)."""
    try:
        torch.ops.quantized_decomposed.quantize_per_tensor  # noqa: B018
        return
    except (AttributeError, RuntimeError):
        pass
    try:
        importlib.import_module("torch.ao.quantization.fx._decomposed")
    except ImportError:
        pass


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


@contextlib.contextmanager
def _memoised_parsing() -> Iterator[None]:
    """For the duration of a ``torch.export.load``: ``sympy.sympify`` of a string and
    ``typing.get_type_hints`` answer repeated questions from a memo.

    Why: torch 2.13's deserializer parses every symbolic size afresh (densenet's int8 program: 1,337
    parses of 26 distinct expressions, ~2 ms each in sympy's parser) and recomputes a dataclass's type
    hints for each of its 12,551 instances; together more than half of loading the program (2.6-2.9 s of
    densenet's, 1.1-1.7 s of resnet's, on a 2-vCPU Zen 3). Both are pure functions of what the memo keys
    on: the string and the objects its identifiers name in ``locals`` (the only names that parsing
    reads), or the class and namespaces asked about. Anything else passes straight through, and the
    originals are back when the load ends, whatever it raised.
    """
    sympy: Any = importlib.import_module("sympy")
    sympify, type_hints = sympy.sympify, typing.get_type_hints
    parsed: dict[Any, Any] = {}
    hints: dict[Any, tuple[Any, Any, dict[str, Any]]] = {}

    def memo_sympify(a: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(a, str) or args or set(kwargs) - {"locals"}:
            return sympify(a, *args, **kwargs)
        names = kwargs.get("locals") or {}
        key = (a, tuple((n, names.get(n)) for n in _IDENTIFIER.findall(a)))
        try:
            return parsed[key]
        except KeyError:
            out = parsed[key] = sympify(a, **kwargs)
            return out
        except TypeError:  # an unhashable local: no memo
            return sympify(a, **kwargs)

    def memo_hints(obj: Any, globalns: Any = None, localns: Any = None, include_extras: bool = False) -> Any:
        # namespaces by identity; the memo holds them, so no other object can take their ids meanwhile
        key = (obj, id(globalns), id(localns), include_extras)
        try:
            kept = hints.get(key)
        except TypeError:  # an unhashable obj: no memo
            return type_hints(obj, globalns, localns, include_extras)
        if kept is None:
            kept = hints[key] = (globalns, localns, type_hints(obj, globalns, localns, include_extras))
        return dict(kept[2])  # a copy: a caller mutating its answer cannot change the next one

    sympy.sympify, typing.get_type_hints = memo_sympify, memo_hints
    try:
        yield
    finally:
        sympy.sympify, typing.get_type_hints = sympify, type_hints


def load_exported(path: str) -> Any:
    """A ``.pt2`` archive's program (torch.export.load), with repeated parsing memoised."""
    _register_quantized_decomposed(torch)
    with _memoised_parsing():
        return torch.export.load(path)


def _int8_weight_only(module: Any) -> Any:
    """Weight-only int8 (per-channel int8 weights, float activations): what LLM serving on CPUs runs."""
    if importlib.util.find_spec("torchao") is None:
        raise NotAvailable("int8_weight needs torchao: pip install 'pytest-aibench[torch]' (torchao==0.18.0)")
    quiet = logging.getLogger("torchao").level
    logging.getLogger("torchao").setLevel(logging.ERROR)  # its optional CUDA kernels fail to load on a CPU
    try:
        tq = importlib.import_module("torchao.quantization")
    finally:
        logging.getLogger("torchao").setLevel(quiet)
    tq.quantize_(module, tq.Int8WeightOnlyConfig())
    return module


class TorchRunner:
    name = "torch"
    module = "torch"
    package = "torch"
    install_hint = "pip install 'pytest-aibench[torch]' (torch==2.13.0, the CPU build)"
    formats = ("pt", "pt2", "kernel")
    options = {
        "dtype": RuntimeOption(
            "one of float32, bfloat16, float16",
            one_of("float32", "bfloat16", "float16"),
            "Compute an fp32 model in this dtype (weights and inputs cast; scores read back as float32). "
            "Quantized variants keep their own.",
        ),
        "channels_last": RuntimeOption(
            "true or false",
            lambda v: None if isinstance(v, bool) else f"got {v!r}",
            "Convolution models in NHWC memory format (inputs converted inside the call, as a model fed NCHW "
            "data would be).",
        ),
    }

    def derives(self, quantization: str, fmt: str) -> bool:
        return fmt == "pt" and quantization in _DERIVED

    def prepare(self, artifact: ModelArtifact, node: Node, settings: Settings) -> TorchSession:
        threads = settings.threads or node.threads
        device = _device(settings.device, artifact.format == "kernel")  # before loading: a cheap, clear skip
        if artifact.format == "kernel":
            return kernels.prepare("torch", artifact.kernel, artifact.quantization, threads)  # type: ignore[return-value]
        opts = runtime_options(settings, self.name)
        if opts.get("dtype", "float32") != "float32" and artifact.quantization != "fp32":
            raise NotAvailable(
                f"torch dtype {opts['dtype']} applies to fp32 models; this item's quantization "
                f"{artifact.quantization} sets its own"
            )
        torch.set_num_threads(threads)
        module = load_module(artifact)
        if artifact.format != "pt2":  # an exported program is already in inference form (and refuses eval())
            module.eval()
        dtype = torch.float32
        if artifact.derived:
            if artifact.quantization == "bf16":
                module, dtype = module.to(torch.bfloat16), torch.bfloat16
            elif artifact.quantization == "fp16":
                module, dtype = module.to(torch.float16), torch.float16
            elif artifact.quantization == "int8_dynamic":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch.ao's deprecation notice, not the user's concern
                    module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
            elif artifact.quantization == "int8_weight":
                module = _int8_weight_only(module)
        if opts.get("dtype", "float32") != "float32":
            dtype = getattr(torch, opts["dtype"])
            module = module.to(dtype)
        layout = torch.channels_last if opts.get("channels_last") else None
        if layout is not None:
            module = module.to(memory_format=layout)
        options = {
            "threads": threads,
            "interop_threads": torch.get_num_interop_threads(),
            "mode": "eager",
            "inference_mode": True,
            "dtype": str(dtype).replace("torch.", ""),
            "onednn": bool(torch.backends.mkldnn.is_available()),
            # libgomp's pool waits as the session set it before torch loaded (measure.spin), for every item
            "omp_wait_policy": spin.openmp_policy(),
            "spin_wait": spin.openmp_policy() != "PASSIVE",
            "spin_why": spin.openmp_why(),
            "int8_kernels": "reference quantize/dequantize ops (eager)"
            if artifact.format == "pt2" and artifact.quantization == "int8"
            else None,
            "memory_format": "channels_last" if layout is not None else "contiguous",
            "version": version_of("torch"),
            "quantized_by": {
                "int8_dynamic": "torch.ao quantize_dynamic (Linear)",
                "int8_weight": "torchao Int8WeightOnlyConfig (Linear)",
            }.get(artifact.quantization)
            if artifact.derived
            else None,
        }
        if device is not None:
            module = module.to(device)
            options |= {"device": device, "device_name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}
        else:
            options["device"] = "cpu"
        return TorchSession(module, dtype, artifact, options, device, layout)


def _device(spec: str | None, kernel: bool) -> str | None:
    """The CUDA device an item asked for (``device: cuda:1``), checked here; None: the CPU."""
    kind, index = accelerator(spec)
    if kind == "cpu":
        return None
    if kind != "cuda" or kernel:
        raise no_device("torch", spec, "this runner drives the CPU and CUDA devices (kernels: the CPU)")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise no_device("torch", spec, f"torch {torch.__version__} ({build}) sees no CUDA device here")
    if index >= torch.cuda.device_count():
        raise no_device("torch", spec, f"this machine has {torch.cuda.device_count()} CUDA device(s)")
    return f"cuda:{index}"


def load_module(artifact: ModelArtifact) -> Any:
    """The artifact's module: a zoo state dict (tensors only), a factory's, TorchScript or torch.export."""
    try:
        if artifact.format == "pt":
            if artifact.family or artifact.factory:  # a state dict: tensors only, never pickled code
                if artifact.factory:  # the manifest's documented, explicit code import
                    module = _from_factory(artifact)
                else:
                    module = build_module(str(artifact.family), artifact.config)
                state = torch.load(artifact.path, map_location="cpu", weights_only=True)
                module.load_state_dict(state)
            else:  # a user's .pt: TorchScript, whose loader builds no arbitrary Python objects
                module = torch.jit.load(str(artifact.path), map_location="cpu")
        else:
            module = load_exported(str(artifact.path)).module()
    except ArtifactError:
        raise
    except FileNotFoundError:
        raise ArtifactError(f"model file {artifact.path} not found") from None
    except Exception as exc:  # corrupt, truncated or foreign file
        hint = (
            " (a .pt file must be a TorchScript archive from torch.jit.save; or export to .pt2 with torch.export.save)"
            if artifact.format == "pt" and not (artifact.family or artifact.factory)
            else ""
        )
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ArtifactError(f"cannot load {artifact.path} with torch: {type(exc).__name__}: {first}{hint}") from None
    return module


class TorchSession:
    def __init__(
        self,
        module: Any,
        dtype: Any,
        artifact: ModelArtifact,
        options: dict[str, Any],
        device: str | None = None,
        layout: Any = None,
    ):
        # the module itself, not the lazy proxy: each proxy attribute read costs ~3.7 µs, and infer reads several
        self._torch = importlib.import_module("torch")
        self._layout = layout  # torch.channels_last, or None: inputs as they come
        self._module = module
        self._dtype = dtype
        self._device = device  # None: the CPU; results are copied back (which waits for the GPU's work)
        self._artifact = artifact
        self.options = options

    @property
    def module(self) -> Any:
        """The torch module (for paradigms that split or train it)."""
        return self._module

    def timed_for(self, example: np.ndarray) -> Any:
        """The latency loop's call: the module on the input under inference_mode, bound once; the CPU path
        only (a GPU's call keeps :meth:`infer`, whose copy back waits for the device)."""
        if self._device is not None or self._dtype is not self._torch.float32 or self._layout is not None:
            return self.infer
        module, from_numpy, mode = self._module, self._torch.from_numpy, self._torch.inference_mode

        def call(x: np.ndarray) -> Any:
            with mode():
                return module(from_numpy(x))

        return call

    def renew(self) -> TorchSession:
        """A fresh instance for an independent round: a copy of the loaded module, not a re-load."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's pytree notice while copying an export
            module = copy.deepcopy(self._module)
        return TorchSession(module, self._dtype, self._artifact, dict(self.options), self._device, self._layout)

    def replace_module(self, module: Any) -> None:
        """Serve ``module`` from now on (weights trained in the same run), with this session's settings."""
        self._module = module.eval() if self._device is None else module.eval().to(self._device)

    def adapt(self, x: np.ndarray) -> np.ndarray:
        out = adapt_input(x, "NCHW", self._artifact.input)
        if self._artifact.input is not None:
            check_shape(out, self._artifact.input.shape, f"{self._artifact.model} (torch)")
        return out

    def infer(self, batch: np.ndarray) -> Any:
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(batch)
            if self._device is not None:
                t = t.to(self._device)
            if self._dtype is not torch.float32:
                t = t.to(self._dtype)
            if self._layout is not None and t.dim() == 4:
                t = t.contiguous(memory_format=self._layout)
            out = self._module(t)
            if isinstance(self._artifact.output, (list, tuple)):  # several named outputs, for a task
                return {str(k): self._pick(out, k).float().cpu().numpy() for k in self._artifact.output}
            if not isinstance(out, self._torch.Tensor):
                out = self._pick(out, self._artifact.output)
            return out.float().numpy() if self._device is None else out.float().cpu().numpy()

    def _pick(self, out: Any, wanted: Any) -> Any:
        """A module returning several outputs (a tuple, list or dict): the one ``wanted`` names."""
        where = f"{self._artifact.path.name} (torch)"
        if isinstance(out, dict):
            names = [str(k) for k in out]
            return list(out.values())[output_index(names, wanted, where)]
        if isinstance(out, (tuple, list)):
            return out[output_index([str(i) for i in range(len(out))], wanted, where)]
        raise ArtifactError(f"{where}: the module returned {type(out).__name__}, expected a tensor of class scores")

    def decoder(self) -> Any:
        """The module driven token by token with its KV cache (a zoo decoder: family gpt or llama)."""
        if not torch_decoder.is_decoder(self._module):
            where = f"{self._artifact.path.name} (torch)"
            return decoding.decoder_of(None, where)  # raises: no KV-cache interface
        return torch_decoder.TorchDecoder(self._module, self._dtype)

    def close(self) -> None:
        self._module = None
