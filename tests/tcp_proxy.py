"""A TCP forwarder in front of the test server, to play a network that is late or breaks."""

from __future__ import annotations

import socket
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``; listens only after ``delay`` seconds;
    ``cut()`` breaks every connection open at that moment (new ones are still accepted)."""

    def __init__(self, target: tuple, delay: float = 0.0) -> None:
        self.target = target
        self.port = free_port()
        self.delay = delay
        self.accepted = 0
        self._open: list = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        if self._stopped.wait(self.delay):
            return
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.accepted += 1
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> int:
        with self._lock:
            victims, self._open = self._open, []
        for s in victims:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        return len(victims) // 2

    def close(self) -> None:
        self._stopped.set()
        time.sleep(0.3)
        if self._listener is not None:
            self._listener.close()
        self.cut()
