"""Drill support: a real `cloudbay serve` subprocess, and a TCP proxy between it and PostgreSQL that can hold.

The proxy simulates an unreachable database without touching the PostgreSQL server others use: ``hold()``
stops moving bytes in both directions (every query of the served process hangs, as behind a dead network),
``release()`` moves them again (the partition heals, connections carry on).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.support import free_socket


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = free_socket()
        self.listener.listen(64)
        self.port: int = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self._closed = True
        self.flowing.set()
        for s in [self.listener, *self._sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            if self._closed:  # closed while this one was being connected: close() did not see it
                for s in (client, upstream):
                    s.close()
                return
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self.flowing.wait()
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()  # bytes read while held stay here until released
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):  # shut down (wakes the other pump's recv), then closed by this pump
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for s in (source, sink):
                s.close()


class Served:
    """`cloudbay serve` as an operator starts it, on a free port; stopped by its own PID only."""

    def __init__(
        self, env: dict[str, str], log_path: Path, port: int | None = None, options: tuple[str, ...] = ()
    ) -> None:
        self.env, self.options = env, options
        self.log_path = log_path
        if port is None:
            sock = free_socket()
            port = sock.getsockname()[1]
            sock.close()
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Served:
        command = [sys.executable, "-m", "adapters.cli.main", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            command += [*self.options, "--log-level", "info"]
            self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL, by PID: no chance to record anything. Its projector child notices and exits."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def base_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CLOUDBAY_DATABASE_URL": url, "CLOUDBAY_DATA_DIR": str(data_dir), **extra}
