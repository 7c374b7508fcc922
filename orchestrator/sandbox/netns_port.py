#!/usr/bin/env python3
"""A TCP port of the host's loopback that leads into a network namespace (standard library only).

The sandbox binds a listening socket on 127.0.0.1 in the host namespace, then starts this program with
``ip netns exec NAMESPACE python3 netns_port.py FD PORT``, handing it that socket: a socket keeps the
namespace it was created in, so connections are accepted on the host's loopback while the program's own
connections go to ``127.0.0.1:PORT`` *inside* the namespace (where the appliance's sshd listens). No
address is added to the host namespace and nothing is routed anywhere.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _serve(client: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main(argv: list[str]) -> int:
    listener = socket.socket(fileno=int(argv[0]))
    port = int(argv[1])
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve, args=(client, port), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
