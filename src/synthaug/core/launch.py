"""How a stage script runs its stage: in a process forked from a warm stage server, or in-process.

Importing torch and the library costs a stage process about a second, more than many
stages compute; a study starts 40 of them. So a stage script (``stages/<name>.py``,
whose imports are the standard library only) asks a *stage server* to run
``synthaug.pipeline.<name>.run``: a process that imported torch and every stage module
once and forks a child per stage, which takes milliseconds. The child gets the
script's working directory, environment, arguments and standard streams (passed over a
Unix socket), runs exactly what the script would run in-process (``run_stage``), and its
exit code becomes the script's. If the script dies (a killed ``dvc repro``), the server
kills the child at once, so nothing runs on behind DVC's back.

A server serves only scripts that would import the same code: its socket name is a hash
of the package's source files, the interpreter and the environment variables that change
what an import does (thread counts, CUDA devices, ``PYTHONPATH``...). Editing the code
therefore starts a new server, and the old one exits after ``SYNTHAUG_SERVER_IDLE``
seconds without work (default 60). ``SYNTHAUG_SERVER=0`` runs every stage in-process
(as a debugger needs); when a server cannot be started, the stage runs in-process too.
Linux only (fd passing, ``pidfd``); elsewhere stages always run in-process.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# environment variables that change what importing torch and the library does
IMPORT_ENV = re.compile(r"^(OMP_|MKL_|OPENBLAS_|KMP_|GOMP_|TORCH|PYTORCH|CUDA|NVIDIA|LD_|PYTHON)")
START_TIMEOUT = 60.0  # seconds to wait for a new server's socket


def package_dir() -> Path:
    """The folder of the installed (or PYTHONPATH) ``synthaug`` package, without importing it."""
    spec = importlib.util.find_spec("synthaug")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the synthaug package cannot be found")
    return Path(next(iter(spec.submodule_search_locations)))


def server_key() -> str:
    """Hash of everything a server's imports depend on: source files, interpreter, import env."""
    env = os.environ
    h = hashlib.sha256(sys.executable.encode())
    for k in sorted(k for k in env if IMPORT_ENV.match(k)):
        h.update(f"\0{k}={env[k]}".encode())
    root = package_dir()
    for f in sorted(root.rglob("*.py")):
        h.update(f"\0{f.relative_to(root)}\0".encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def socket_path(key: str) -> Path:
    """Where the server for ``key`` listens (a private folder per user)."""
    folder = Path(tempfile.gettempdir()) / f"synthaug-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{key}.sock"


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _start_server(path: Path) -> socket.socket | None:
    """Start a server for ``path`` (one at a time, under a lock file) and connect to it."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(path)  # another script may have started it meanwhile
        if sock is not None:
            return sock
        path.unlink(missing_ok=True)
        log = open(path.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the server
        subprocess.Popen([sys.executable, "-m", "synthaug.core.server", str(path)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=os.environ,
                         start_new_session=True, close_fds=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            sock = _connect(path)
            if sock is not None:
                return sock
            time.sleep(0.02)
    return None


def run_via_server(stage: str, args: list[str], nargs: int) -> int | None:
    """Run the stage in a child of the stage server; its exit code, or None if no server serves."""
    if not sys.platform.startswith("linux") or os.environ.get("SYNTHAUG_SERVER", "1") == "0":
        return None
    try:
        path = socket_path(server_key())
        sock = _connect(path) or _start_server(path)
    except OSError:
        return None
    if sock is None:
        return None
    with sock:
        request = json.dumps({"stage": stage, "args": args, "nargs": nargs, "cwd": os.getcwd(),
                              "argv0": sys.argv[0], "env": dict(os.environ)}).encode()
        try:
            socket.send_fds(sock, [struct.pack("!I", len(request)) + request],
                            [sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr.fileno()])
        except OSError:
            return None  # the server went away before it got the request: run in-process
        if recv_exactly(sock, 1) != b"A":
            return None  # the server closed without taking the stage: run it in-process
        reply = recv_exactly(sock, 4)
        if len(reply) < 4:
            print("error: the stage server stopped while running the stage", file=sys.stderr)
            return 1
    return struct.unpack("!i", reply)[0]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from ``sock``, or fewer if it closes first."""
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def main(nargs: int = 0) -> None:
    """Entry point of ``stages/<stage>.py``: run ``synthaug.pipeline.<stage>.run`` with the argv.

    The stage is the script's file name, as everywhere (dvc.yaml, params, metrics, deps).
    """
    stage, args = Path(sys.argv[0]).stem, sys.argv[1:]
    code = run_via_server(stage, args, nargs)
    if code is not None:
        sys.exit(code)
    from importlib import import_module

    from .runtime import run_stage

    run_stage(import_module(f"synthaug.pipeline.{stage}").run, args, nargs)
