"""The stage server's request reading: a script that dies mid-request never stops the server."""

from __future__ import annotations

import json
import os
import socket
import struct

import pytest

from synthaug.core.server import _recv_request


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def test_a_whole_request_and_its_descriptors_arrive() -> None:
    script, server = _pair()
    body = json.dumps({"stage": "evaluate", "args": []}).encode()
    r, w = os.pipe()
    socket.send_fds(script, [struct.pack("!I", len(body)) + body[:5]], [r, w, r])
    script.sendall(body[5:])
    request, fds = _recv_request(server)
    assert request == {"stage": "evaluate", "args": []} and len(fds) == 3
    for fd in (*fds, r, w):
        os.close(fd)


@pytest.mark.parametrize("sent", [b"", b"\x00\x00", struct.pack("!I", 50) + b'{"sta'])
def test_a_script_that_dies_mid_request_is_a_connection_error(sent: bytes) -> None:
    """Closed before the first byte, inside the length header, or inside the body: a
    ConnectionError, which the server treats as a dropped script (never a crash)."""
    script, server = _pair()
    if sent:
        script.sendall(sent)
    script.close()
    with pytest.raises(ConnectionError):
        _recv_request(server)
