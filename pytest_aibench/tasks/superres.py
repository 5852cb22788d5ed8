"""``super_resolution``: an image upscaled, judged by PSNR and SSIM on the luma (Y) channel.

The field's convention (SRCNN, ESPCN, EDSR and their benchmark tables): RGB to ITU-R BT.601 Y in
[16, 235], a border of ``scale`` pixels cropped, PSNR with a 255 range and SSIM with Wang et al.'s
Gaussian window (sigma 1.5, population covariances), both by scikit-image's reference functions.
``superres.psnr_gain_db`` is the model's PSNR over bicubic upsampling of the same input: a model that
learned nothing scores about 0."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_aibench._lazy import lazy
from pytest_aibench.core.metric import column, declare
from pytest_aibench.errors import NotAvailable
from pytest_aibench.tasks import shape_error

if TYPE_CHECKING:
    import torch
else:
    torch = lazy("torch")

INSTALL_HINT = "pip install 'pytest-aibench[vision]' (scikit-image: PSNR and SSIM)"


def _skimage() -> tuple[Any, Any, Any]:
    try:
        return (
            importlib.import_module("skimage.metrics"),
            importlib.import_module("skimage.color"),
            importlib.import_module("skimage.transform"),
        )
    except ImportError as exc:
        raise NotAvailable(f"super-resolution quality needs scikit-image ({exc}); {INSTALL_HINT}") from None


def luma(image_chw: np.ndarray) -> np.ndarray:
    """BT.601 Y in [16, 235] of an RGB image in [0, 1] (scikit-image's rgb2ycbcr); a one-channel image is
    luma already (in [0, 1])."""
    if image_chw.shape[0] == 1:
        return 16.0 + 219.0 * np.clip(image_chw[0].astype(np.float64), 0, 1)
    _, color, _ = _skimage()
    return color.rgb2ycbcr(np.clip(np.transpose(image_chw, (1, 2, 0)), 0, 1).astype(np.float64))[..., 0]


def psnr_ssim(pred_chw: np.ndarray, truth_chw: np.ndarray, border: int) -> tuple[float, float]:
    metrics, _, _ = _skimage()
    yp, yt = luma(pred_chw), luma(truth_chw)
    if border:
        yp, yt = yp[border:-border, border:-border], yt[border:-border, border:-border]
    psnr = metrics.peak_signal_noise_ratio(yt, yp, data_range=255)
    ssim = metrics.structural_similarity(
        yt, yp, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    return float(min(psnr, 100.0)), float(ssim)


class SuperResolution:
    name = "super_resolution"
    headline = "superres.psnr_db"
    needs = "hr"
    provides = declare(
        ("superres.psnr_db", "PSNR on Y (BT.601), border cropped, mean over images (scikit-image)", True, "dB"),
        ("superres.ssim", "SSIM on Y, Gaussian window (scikit-image), mean over images", True, "1"),
        ("superres.psnr_gain_db", "PSNR over bicubic upsampling of the same inputs", True, "dB"),
        ("superres.images", "images evaluated", None),
    )
    provides |= column(
        provides, {"superres.psnr_db": ("PSNR dB", "{:.2f}", 1.0, 1), "superres.ssim": ("SSIM", "{:.4f}")}
    )

    def check(self, raw: np.ndarray, dataset: Any, where: str) -> None:
        hr = dataset.targets.hr if dataset.targets is not None else None
        if np.ndim(raw) != 4 or (hr is not None and tuple(np.shape(raw)[1:]) != tuple(hr.shape[1:])):
            raise shape_error(
                where,
                self.name,
                raw,
                f"[N, {', '.join(map(str, hr.shape[1:])) if hr is not None else 'C, H, W'}] upscaled images",
                "the model's scale must be the dataset's (params.scale)",
            )

    def decode(self, raw: np.ndarray, ids: np.ndarray, dataset: Any, input_hw: tuple[int, int]) -> list[np.ndarray]:
        return list(np.clip(np.asarray(raw, dtype=np.float32), 0.0, 1.0))

    def score(self, predictions: list[np.ndarray], ids: np.ndarray, dataset: Any) -> dict[str, Any]:
        truth = dataset.targets
        hr = truth.need("hr", self.name, dataset.name)
        _, _, transform = _skimage()
        border = int(truth.scale)
        got = [psnr_ssim(p, hr[int(i)], border) for p, i in zip(predictions, ids, strict=True)]
        out: dict[str, Any] = {
            "superres.psnr_db": float(np.mean([g[0] for g in got])),
            "superres.ssim": float(np.mean([g[1] for g in got])),
            "superres.images": len(ids),
        }
        ev = np.asarray(dataset.y_eval)
        if len(ids) <= len(ev) and np.array_equal(ev[: len(ids)], ids):  # the inputs are the eval split's first
            base = []
            for n, i in enumerate(ids):
                lr = np.transpose(np.asarray(dataset.x_eval[n]), (1, 2, 0))
                up = transform.resize(lr, hr.shape[2:], order=3, mode="edge", anti_aliasing=False)
                base.append(psnr_ssim(np.transpose(up, (2, 0, 1)), hr[int(i)], border)[0])
            out["superres.psnr_gain_db"] = out["superres.psnr_db"] - float(np.mean(base))
        return out

    def empty(self, prediction: np.ndarray) -> np.ndarray:
        return np.zeros_like(prediction)

    def canonical(self, prediction: np.ndarray) -> bytes:
        return np.round(np.asarray(prediction) * 4096).astype(np.int32).tobytes()

    def confidence(self, prediction: np.ndarray) -> float:
        return 1.0

    def train_targets(self, dataset: Any, config: dict[str, Any]) -> np.ndarray:
        return np.asarray(dataset.targets.hr)[np.asarray(dataset.y_train)]

    def loss(self, out: Any, target: Any) -> Any:
        return torch.nn.functional.l1_loss(out, target)
