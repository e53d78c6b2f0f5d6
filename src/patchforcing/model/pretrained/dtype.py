"""The ``torch_dtype`` argument of ``from_pretrained``, spelled as Hugging Face libraries take
it."""

from __future__ import annotations

import torch

__all__ = ["FLOAT_DTYPES", "parameter_dtype"]

FLOAT_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}


def parameter_dtype(
    torch_dtype: torch.dtype | str | None, state: dict[str, torch.Tensor]
) -> torch.dtype | None:
    """The floating-point type to load parameters in: ``None`` none (the model keeps the float32
    it is built in), ``"auto"`` that of the stored weights ``state``, else the given dtype or its
    name (``"bfloat16"``, ``"torch.float16"``)."""
    if torch_dtype is None:
        return None
    if torch_dtype == "auto":
        stored = [v.dtype for v in state.values() if v.is_floating_point()]
        return stored[0] if stored else torch.float32
    if isinstance(torch_dtype, str):
        key = torch_dtype.removeprefix("torch.")
        if key not in FLOAT_DTYPES:
            raise ValueError(
                f"torch_dtype must be 'auto' or one of {sorted(FLOAT_DTYPES)}, got {torch_dtype!r}"
            )
        return FLOAT_DTYPES[key]
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise ValueError(f"torch_dtype must be a floating-point torch.dtype, got {torch_dtype!r}")
    return torch_dtype
