"""Is there a CUDA PyTorch and an NVIDIA GPU here? One-line refusals, and the facts recorded with a run.

torch is imported only here and only when a collection actually starts (never at CLI start-up, never in
tests): it is an optional dependency (`pip install sloplan[collect]`) and takes seconds to import.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

TORCH_MISSING = "PyTorch is not installed; accepted: pip install torch (a CUDA build)"


class CollectorUnavailable(RuntimeError):
    """This machine cannot collect (no torch, no CUDA build, no GPU); the message is one line."""


@dataclass(frozen=True)
class DeviceInfo:
    """What the tables were measured on; recorded in `collection_meta.yaml` and the `device` column."""
    gpu_name: str
    gpu_count: int
    compute_capability: str
    memory_bytes: int
    driver: str
    cuda: str
    torch_version: str
    nccl_version: str

    @property
    def supports_fp8(self) -> bool:
        """FP8 tensor cores (torch._scaled_mm): Ada (8.9), Hopper (9.0) and newer."""
        major, minor = (int(x) for x in self.compute_capability.split("."))
        return (major, minor) >= (8, 9)


def import_torch():
    """The torch module, or CollectorUnavailable naming what to install."""
    try:
        import torch
    except ImportError:
        raise CollectorUnavailable(TORCH_MISSING) from None
    return torch


def require_cuda(torch) -> None:
    """Refuse a ROCm or CPU-only build, or a machine where no NVIDIA GPU is visible."""
    version = getattr(torch, "__version__", "?")
    if getattr(torch.version, "hip", None):
        raise CollectorUnavailable(f"PyTorch {version} is a ROCm build; the collector profiles NVIDIA GPUs "
                                   "(accepted: a CUDA build of torch on an NVIDIA GPU)")
    if not getattr(torch.version, "cuda", None):
        raise CollectorUnavailable(f"PyTorch {version} has no CUDA support (a CPU-only build); "
                                   "accepted: pip install torch (a CUDA build)")
    if not torch.cuda.is_available() or torch.cuda.device_count() < 1:
        raise CollectorUnavailable("no NVIDIA GPU is visible to PyTorch (torch.cuda.is_available() is False); "
                                   "check the driver and CUDA_VISIBLE_DEVICES")


def nccl_version_string(raw) -> str:
    """torch.cuda.nccl.version() is a tuple (2, 21, 5) on recent torch and an int 22105 on old ones."""
    if isinstance(raw, tuple):
        return ".".join(str(int(x)) for x in raw[:3])
    code = int(raw)
    return f"{code // 10000}.{code % 10000 // 100}.{code % 100}" if code >= 10000 else \
        f"{code // 1000}.{code % 1000 // 100}.{code % 100}"


def driver_version() -> str:
    """From nvidia-smi (torch does not expose it); "unknown" when it cannot be asked."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_info(torch) -> DeviceInfo:
    """Facts about GPU 0 (the one GEMM and attention run on) and the software stack."""
    props = torch.cuda.get_device_properties(0)
    try:
        nccl = nccl_version_string(torch.cuda.nccl.version())
    except Exception:  # a build without NCCL: the NCCL table is simply not collected
        nccl = "unknown"
    return DeviceInfo(gpu_name=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                      compute_capability=f"{props.major}.{props.minor}", memory_bytes=int(props.total_memory),
                      driver=driver_version(), cuda=str(torch.version.cuda), torch_version=torch.__version__,
                      nccl_version=nccl)


def open_device():
    """(torch, DeviceInfo) for a collection, or CollectorUnavailable with a one-line reason."""
    torch = import_torch()
    require_cuda(torch)
    return torch, device_info(torch)
