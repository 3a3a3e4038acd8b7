"""What every stage script shares: logging set-up and turning input errors into exit 2."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from .config import Params, load_params
from .errors import SynthaugError


def run_stage(main: Callable[..., Any], args: list[str], nargs: int = 0) -> None:
    """Validate params.yaml, then call ``main(params, *args)``; bad input exits 2 with its message."""
    logging.basicConfig(level=os.environ.get("SYNTHAUG_LOG", "INFO"),
                        format="%(levelname)s %(name)s: %(message)s")
    name = os.path.basename(sys.argv[0])
    try:
        if len(args) != nargs:
            raise SynthaugError(f"{name} takes {nargs} argument(s), got {args}")
        params: Params = load_params(os.environ.get("SYNTHAUG_PARAMS", "params.yaml"))
        main(params, *args)
    except SynthaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
