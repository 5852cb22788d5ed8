"""Training a zoo model so that any x86 CPU with AVX2 and FMA computes the same weights, bit for bit.

Deterministic algorithms and fixed threads are not enough across machines: oneDNN and NNPACK pick
convolution kernels (and their summation order) by CPU, ATen's vectorised kernels differ between
AVX2 and AVX-512 widths, MKL dispatches by CPU, and ``torch.sqrt`` (the unfused AdamW's) goes to
MKL's vector maths, whose result depends on the CPU even in MKL's reproducible mode (measured: 918
vs 959 of 5,000 square roots off by an ulp between an AVX-512 CPU and an emulated AVX2 one). So
training runs in a child process with:

- ``ATEN_CPU_CAPABILITY=avx2``: ATen's AVX2 kernels on every CPU that has them;
- ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility (its GEMMs);
- oneDNN and NNPACK off: convolutions as im2col + MKL GEMM;
- fused AdamW, whose square root is the IEEE instruction.

Checked by training on this CPU and on an emulated AVX2-only one (``zoo.isa_check``): the same
weights. The child is spawned, so the parent's torch (and its already chosen kernels) is untouched.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench import tasks
from pytest_aibench._lazy import lazy
from pytest_aibench.builder.recipes import datasets_for
from pytest_aibench.progress import Progress
from pytest_aibench.zoo import build_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

if TYPE_CHECKING:
    from pytest_aibench.builder.recipes import Recipe
    from pytest_aibench.data import Dataset

#: the environment that pins the child's kernels (read by torch and MKL when they load)
PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "OMP_WAIT_POLICY": "PASSIVE"}
# (OMP_WAIT_POLICY only stops idle OpenMP threads spinning: on a shared 2-core machine a spinning
# training child ran 5-10x slower; the weights do not depend on it)


def kernels_description(capability: str) -> str:
    return (
        f"ATen {capability} kernels (ATEN_CPU_CAPABILITY=avx2), MKL CBWR=COMPATIBLE GEMMs, oneDNN and "
        "NNPACK off, fused AdamW: the same weights on any x86 CPU with AVX2 and FMA"
    )


def train_loop(recipe: Recipe, data: list[Dataset], progress: Any = None) -> Any:
    """AdamW + one-cycle, seeded shuffles; batches alternate between the training resolutions. Run it
    in a process whose kernels are pinned (:func:`train`), or the weights depend on the CPU."""
    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(recipe.threads)
    model = build_module(recipe.family, recipe.config)
    steps_per_epoch = (len(data[0].y_train) + recipe.batch_size - 1) // recipe.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    xs = [torch.from_numpy(d.x_train) for d in data]
    task = tasks.task_of(recipe.task)
    y = torch.from_numpy(np.ascontiguousarray(task.train_targets(data[0], recipe.config)))
    gen = torch.Generator().manual_seed(recipe.seed)
    step = 0
    onednn = torch.backends.mkldnn.enabled  # (oneDNN's flags() context warns about TF32)
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]
    nnpack = torch.backends.nnpack.set_flags(False)[0]
    try:
        for epoch in range(recipe.epochs):
            model.train()
            order = torch.randperm(len(y), generator=gen)
            total = 0.0
            for i in range(0, len(y), recipe.batch_size):
                idx = order[i : i + recipe.batch_size]
                x = xs[step % len(xs)]
                opt.zero_grad()
                loss = task.loss(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                total += loss.detach().item() * len(idx)
                if progress is not None:
                    progress.update(
                        f"{recipe.name}: epoch {epoch + 1}/{recipe.epochs}, batch "
                        f"{i // recipe.batch_size + 1}/{steps_per_epoch}, loss {loss.detach().item():.4f}"
                    )
            if progress is not None and (epoch % 5 == 4 or epoch == recipe.epochs - 1):
                progress.note(f"{recipe.name}: epoch {epoch + 1}/{recipe.epochs} loss {total / len(y):.4f}")
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.backends.nnpack.set_flags(nnpack)
    model.eval()
    return model


def _child(recipe_path: str, path: str, quiet: bool) -> int:
    """``python -m pytest_aibench.builder.training RECIPE.pkl OUT.pt [--quiet]``: the pinned child."""

    recipe = pickle.loads(Path(recipe_path).read_bytes())  # written by train() just now, in our own folder
    progress = Progress(sys.stdout, quiet=quiet, prefix="[aibench build] ")
    model = train_loop(recipe, datasets_for(recipe), progress)
    torch.save({"state_dict": model.state_dict(), "capability": torch.backends.cpu.get_cpu_capability()}, path)
    return 0


def train(recipe: Recipe, workdir: Path, quiet: bool = False) -> tuple[Any, str]:
    """Train ``recipe`` in a fresh interpreter with pinned kernels (a subprocess: the caller's torch
    has chosen its kernels already); the trained module (eval mode) and how it was trained."""

    path = workdir / f".{recipe.name}.trained.pt"
    recipe_path = workdir / f".{recipe.name}.recipe.pkl"
    recipe_path.write_bytes(pickle.dumps(recipe))
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest_aibench.builder.training",
                str(recipe_path),
                str(path),
                *(["--quiet"] if quiet else []),
            ],
            env={**os.environ, **PORTABLE_ENV},
            check=False,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
    finally:
        recipe_path.unlink(missing_ok=True)
    if proc.returncode != 0 or not path.is_file():
        raise RuntimeError(f"training {recipe.name} failed in its child process (exit code {proc.returncode})")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    finally:
        path.unlink(missing_ok=True)
    model = build_module(recipe.family, recipe.config)
    model.load_state_dict(saved["state_dict"])
    return model.eval(), kernels_description(saved["capability"])


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2], "--quiet" in sys.argv[3:]))
