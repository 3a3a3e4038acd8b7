"""What every stage shares at run time: the entry point, seeding, the device, timings.

``run_stage`` is the one entry point of every stage script: it sets up logging,
validates the whole ``params.yaml`` and turns bad input into ``error: ...`` and exit 2.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import paths
from .errors import ConfigError, SynthaugError
from .io import write_json
from .params import Params, load_params


def run_stage(main: Callable[..., Any], args: list[str], nargs: int = 0) -> None:
    """Validate params.yaml, then call ``main(params, *args)``; bad input exits 2 with its message.

    Appends one line to ``logs/stages.jsonl`` per completed stage: seconds from the process
    start to the call (interpreter and imports) and seconds in the call (the stage's work),
    which `benchmarks/bench.py --repro` sums to find the time spent outside stage work.
    """
    logging.basicConfig(level=os.environ.get("SYNTHAUG_LOG", "INFO"),
                        format="%(levelname)s %(name)s: %(message)s")
    name = os.path.basename(sys.argv[0])
    startup = process_age()
    t0 = time.perf_counter()
    try:
        if len(args) != nargs:
            raise SynthaugError(f"{name} takes {nargs} argument(s), got {args}")
        params: Params = load_params(os.environ.get("SYNTHAUG_PARAMS", "params.yaml"))
        main(params, *args)
    except SynthaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    paths.LOGS.mkdir(parents=True, exist_ok=True)
    with open(paths.LOGS / "stages.jsonl", "a") as fh:
        fh.write(json.dumps({"stage": name.removesuffix(".py"), "args": args, "startup": startup,
                             "work": time.perf_counter() - t0}) + "\n")


def process_age() -> float | None:
    """Seconds since this process started (Linux; None elsewhere)."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); cuDNN is set to deterministic kernels.

    CPU kernels are deterministic for a fixed thread count; on a GPU some kernels
    (e.g. atomic-add reductions) may still differ between runs.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - libraries may use the global RNG
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> Any:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("params key 'base.device' = 'cuda' but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def write_timing(stage: str, *parts: str, **seconds: float) -> None:
    """Wall-clock figures go to ``logs/`` (git-ignored), never into metrics files.

    Metrics must be identical between two runs with the same params and seed;
    timings never are.
    """
    write_json(paths.timing(stage, *parts), seconds)


def native_bf16(device: Any) -> bool:
    """Whether ``device`` computes bf16 natively: CUDA with bf16, or a CPU with AVX512-BF16/AMX."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(name: str, device: Any) -> str:
    """``auto`` -> ``bf16`` where ``device`` has native bf16 arithmetic, else ``fp32``."""
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if name not in ("fp32", "bf16"):
        raise ConfigError(f"params key 'base.precision' = {name!r} is not allowed: auto, fp32 or bf16")
    return name
