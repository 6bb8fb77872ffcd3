"""What this CPU offers, read once per process (py-cpuinfo): its flags, and whether it computes bf16 natively."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    import cpuinfo

    return cpuinfo.get_cpu_info()


def cpu_flags() -> set[str]:
    return set(cpu_info().get("flags", []))


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16); elsewhere bf16 is emulated, slowly."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
