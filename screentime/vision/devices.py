"""Resolving the `device` option (auto, cpu, cuda, cuda:N) against what this machine has."""

from __future__ import annotations

from screentime.contracts.errors import InvalidOption


def resolve_device(requested: str) -> str:
    """Return `cpu` or `cuda:N`; raise InvalidOption when CUDA is asked for but absent."""
    import torch

    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda:0" if available else "cpu"
    if requested.startswith("cuda"):
        if not available:
            raise InvalidOption(f"device {requested!r} requested but CUDA is not available on this machine")
        index = int(requested.split(":", 1)[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise InvalidOption(
                f"device {requested!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return f"cuda:{index}"
    raise InvalidOption(f"unknown device {requested!r}: use auto, cpu, cuda or cuda:N")


def gpu_memory_budget(device: str) -> int | None:
    """Half the CUDA device's free memory, for the detector's batch; None on the CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return free // 2
