"""Start, wait for and stop `sglang.launch_server --device hyperaccel` processes.

Shared by `deploy`, the benchmarks and the tests, so every one of them binds loopback by default,
waits for `/health` the same way and never leaves a server behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sglang_hyperaccel.names import DEVICE_TYPE


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path | None, lines: int) -> str:
    """The last `lines` lines of a process log ("" while there is none)."""
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_process_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM the process group `process` leads, SIGKILL it after `timeout` seconds, and SIGKILL
    any member that outlived the leader (a scheduler child, say)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not group_alive(process):
            return
        time.sleep(0.5)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_alive(process: subprocess.Popen) -> bool:
    """Whether any process of the group `process` leads is still there."""
    try:
        os.killpg(process.pid, 0)
        return True
    except ProcessLookupError:
        return False


class ServerStartError(RuntimeError):
    """The server exited or did not become healthy in time; carries its log tail."""


@dataclass
class ServerProcess:
    """One SGLang server on the hyperaccel device, started in its own process group."""

    model_path: str | Path
    port: int = 0
    host: str = "127.0.0.1"
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "sglang.launch_server", "--device", DEVICE_TYPE,
            "--model-path", str(self.model_path), "--host", self.host, "--port", str(self.port),
            *self.args,
        ]

    def start(self) -> "ServerProcess":
        if not self.port:
            self.port = free_port(self.host)
        if self.log_path is None:
            self.log_path = Path(f"/tmp/sglang-hyperaccel-{self.port}.log")
        environ = {**os.environ, **self.env}
        environ.setdefault("PYTHONUNBUFFERED", "1")
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=environ,
            start_new_session=True,  # its own process group: stop() reaps scheduler children too
        )
        log.close()
        return self

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout: float = 300.0) -> "ServerProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerStartError(
                    f"server on port {self.port} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.healthy():
                return self
            time.sleep(1.0)
        self.stop()
        raise ServerStartError(f"server on port {self.port} not healthy after {timeout:.0f}s:\n"
                               f"{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left."""
        if self.process is None or self.process.poll() is not None and not group_alive(self.process):
            return
        stop_process_group(self.process, timeout)

    def __enter__(self) -> "ServerProcess":
        self.start()
        try:
            return self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
