"""The stage server: imports torch and every stage once, then forks one child per stage run.

Started by :mod:`synthaug.core.launch` as ``python -m synthaug.core.server SOCKET``; see
there for why. The server itself never computes (no tensor operation runs before a
fork, so no thread pool or device is inherited half-initialised); each child sets up the
requesting script's directory, environment, arguments and streams, runs ``run_stage``
and exits with its code. A child dies with its script (the server kills it when the
script's connection closes) and with the server (``PR_SET_PDEATHSIG``). The server exits
after ``SYNTHAUG_SERVER_IDLE`` seconds (default 60) with nothing to run.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import pkgutil
import select
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from .launch import recv_exactly

PR_SET_PDEATHSIG = 1


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The JSON request and the three standard-stream descriptors of one script.

    A script that dies before its request is complete (even before its first byte) raises
    ConnectionError, and the descriptors received with it are closed.
    """
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
    try:
        if len(msg) < 4:
            msg += recv_exactly(conn, 4 - len(msg))
        if len(msg) < 4:
            raise ConnectionError("the script closed before sending its request")
        size = struct.unpack("!I", msg[:4])[0]
        data = msg[4:] + recv_exactly(conn, size - len(msg) + 4)
        if len(data) < size:
            raise ConnectionError("request cut short")
        return json.loads(data), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _child(request: dict, fds: list[int], listener: socket.socket, conn: socket.socket) -> None:
    """In the forked child: become the stage script, run the stage, exit with its code."""
    code = 1
    try:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        listener.close()
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["argv0"], *request["args"]]
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        from .runtime import run_stage

        module = importlib.import_module(f"synthaug.pipeline.{request['stage']}")
        run_stage(module.run, request["args"], request["nargs"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report like an uncaught exception in a script
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _start(conn: socket.socket, listener: socket.socket) -> int | None:
    """Read one request and fork its child (from the main thread); the child's pid."""
    try:
        request, fds = _recv_request(conn)
    except (OSError, ValueError, ConnectionError):
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:
        _child(request, fds, listener, conn)
    for fd in fds:
        os.close(fd)
    return pid


def _watch(conn: socket.socket, pid: int, active: set[int]) -> None:
    """Acknowledge, wait for the child, send its exit code; kill it if the script is gone."""
    with conn:
        try:
            conn.sendall(b"A")  # accepted: from now on the stage runs here, not in the script
            pidfd = os.pidfd_open(pid)
            while True:
                ready, _, _ = select.select([conn, pidfd], [], [])
                if pidfd in ready:
                    break
                if conn in ready and not conn.recv(1, socket.MSG_PEEK):
                    os.kill(pid, signal.SIGKILL)  # the script died: its stage must not go on
                    break
            os.close(pidfd)
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        finally:
            _, status = os.waitpid(pid, 0)
            active.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            conn.sendall(struct.pack("!i", code if code >= 0 else 128 - code))


def preload() -> None:
    """Import torch and every stage module (no computation)."""
    import torch  # noqa: F401

    from .. import pipeline

    for info in pkgutil.iter_modules(pipeline.__path__):
        importlib.import_module(f"synthaug.pipeline.{info.name}")
    from . import runtime  # noqa: F401


def serve(path: Path, idle: float) -> None:
    """Listen on ``path`` until ``idle`` seconds pass with no stage running."""
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    listener.bind(str(tmp))
    listener.listen(64)
    os.replace(tmp, path)  # scripts connect only once the server is ready
    active: set[int] = set()
    last = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([listener], [], [], 0.5)
            if ready:
                conn, _ = listener.accept()
                pid = _start(conn, listener)
                if pid is not None:
                    active.add(pid)
                    threading.Thread(target=_watch, args=(conn, pid, active), daemon=True).start()
                last = time.monotonic()
            elif active:
                last = time.monotonic()
            elif time.monotonic() - last > idle:
                break
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # no new script finds this server; one already connecting gets no
        listener.close()  # acknowledgement and runs its stage in-process


def main() -> None:
    """``python -m synthaug.core.server SOCKET``."""
    serve(Path(sys.argv[1]), float(os.environ.get("SYNTHAUG_SERVER_IDLE", "60")))


if __name__ == "__main__":
    main()
