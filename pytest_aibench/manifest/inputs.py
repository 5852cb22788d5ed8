"""A model's ``input:`` (shape, layout, dtype, scaling) and ``preprocess:`` (decoding image files: resize,
crop, mean and std), checked with the file, line and key of each problem."""

from __future__ import annotations

from typing import Any

from pytest_aibench.core.model import InputSpec
from pytest_aibench.data.images import Preprocess
from pytest_aibench.manifest.checker import Checker, _show

#: a std smaller than this is degenerate; a crop or resize larger than this is a typo
MIN_STD = 1e-6
MAX_SIDE = 8192


def _input(spec: Any) -> InputSpec | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list):
        return None
    return InputSpec(
        shape=tuple(spec["shape"]),
        name=spec.get("name"),
        layout=spec.get("layout", "NCHW"),
        dtype=spec.get("dtype"),
        scale=spec.get("scale"),
        mean=spec.get("mean"),
        std=spec.get("std"),
    )


def _preprocess(c: Checker, kp: tuple, spec: Any, inp: Any) -> Any:
    """The model's ``preprocess:`` (image files to its input), checked beyond the schema's types."""
    if not isinstance(spec, dict):
        return None
    out: dict[str, Any] = {k: v for k, v in spec.items() if k in Preprocess.__dataclass_fields__}
    crop = spec.get("crop")
    if isinstance(crop, int) and not isinstance(crop, bool):
        out["crop"] = (crop, crop)
    elif isinstance(crop, list) and len(crop) == 2 and all(isinstance(v, int) for v in crop):
        out["crop"] = tuple(crop)
    else:
        out.pop("crop", None)
    for key in ("mean", "std"):
        v = spec.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = (float(v),) * 3
        elif isinstance(v, list) and len(v) in (1, 3) and all(isinstance(x, (int, float)) for x in v):
            out[key] = tuple(float(x) for x in v) * (3 if len(v) == 1 else 1)
        elif v is not None:
            c.bad(kp + (key,), f"expected a number or 3 numbers (one per channel), got {_show(v)}")
            out.pop(key, None)
        if isinstance(inp, dict) and key in out and key in inp:
            c.bad(
                kp + (key,),
                f"{key} is given both here and in the model's input: ({_show(inp[key])}); it would "
                "apply twice: keep it in preprocess only",
            )
    if out.get("std") and any(not abs(v) >= MIN_STD for v in out["std"]):
        c.bad(
            kp + ("std",),
            f"std must be at least {MIN_STD:g} in size (0 divides by zero; a tinier one only blows the "
            f"input up), got {_show(list(out['std']))}",
        )
    if isinstance(inp, dict) and "scale" in inp and "scale" in spec:
        c.bad(
            kp + ("scale",),
            f"scale is given both here and in the model's input: ({_show(inp['scale'])}); both would "
            "apply: keep it in preprocess only",
        )
    for key in ("resize", "crop"):
        sides = out.get(key) if key == "crop" else (out.get(key),)
        if sides and any(isinstance(v, int) and v > MAX_SIDE for v in sides):
            c.bad(kp + (key,), f"{key} above {MAX_SIDE} pixels: expected a side the model takes (e.g. 224)")
    dtype = out.get("dtype", "float32")
    if "input_scale" in out and dtype not in ("uint8", "int8"):
        c.bad(kp + ("input_scale",), f"input_scale quantizes the input: give dtype: int8 or uint8 (dtype is {dtype})")
    if dtype in ("uint8", "int8") and "input_scale" not in out:
        if dtype == "int8" or any(k in spec for k in ("mean", "std")) or spec.get("scale", 1) != 1:
            c.bad(
                kp + ("dtype",),
                f"dtype {dtype} without input_scale: the values would be cast to {dtype} as they "
                "are (a 1/255 scale truncates every pixel to 0 or 1); give input_scale and input_zero_point (the "
                "model's input quantization), or for raw 0..255 pixels dtype: uint8 with no scale, mean or std",
            )
        else:
            out["scale"] = 1.0  # uint8 with nothing else: the raw pixels, not 1/255 of them
    try:
        return Preprocess(**out)
    except TypeError as exc:
        c.bad(kp, f"unusable preprocess: {exc}")
        return None
