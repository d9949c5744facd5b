"""One `sglang-hyperaccel deploy --replicas 2` run as users start it, shared by the deployment tests.

The CLI runs as a subprocess on a free loopback port (its replicas on ports it picks itself, read
from its "ready at" line); its stdout is read by a thread so every wait is bounded. Teardown SIGTERMs
it and then SIGKILLs whatever of its process tree is left.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from sglang_hyperaccel.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 420.0
# outlines, chosen while xgrammar's vocab mask rejected the hyperaccel device; both work now
# (sglang_hyperaccel/platform/grammar.py).
SERVER_ARGS = ("--dtype", "float32", "--grammar-backend", "outlines", "--enable-metrics")


@dataclass
class DeployRun:
    """The running CLI: its process, the router URL, the replica URLs, and its output so far."""

    process: subprocess.Popen
    url: str
    replica_urls: list[str]
    log_dir: Path
    lines: queue.Queue[str]
    output: list[str] = field(default_factory=list)

    def drain(self) -> list[str]:
        while True:
            try:
                self.output.append(self.lines.get_nowait())
            except queue.Empty:
                return self.output

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first new output line matching `pattern`, within `timeout` seconds."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if match := regex.search(line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in {timeout:.0f}s; output:\n"
                             + "".join(self.output))

    def replica_pid(self, url: str) -> int:
        """The pid (= process group) of the `sglang.launch_server` serving `url`."""
        port = url.rsplit(":", 1)[1]
        for child in psutil.Process(self.process.pid).children(recursive=False):
            cmd = child.cmdline()
            if "sglang.launch_server" in cmd and port in cmd:
                return child.pid
        raise AssertionError(f"no replica process for {url}")


def start_deploy(model: Path, args: tuple[str, ...] = ()) -> DeployRun:
    port = free_port()
    log_dir = Path(f"/tmp/sglang-hyperaccel-test-deploy-{port}")
    cmd = [sys.executable, "-m", "sglang_hyperaccel.cli", "deploy", "--replicas", "2", "--port", str(port),
           "--model-path", str(model), "--log-dir", str(log_dir),
           *args, *SERVER_ARGS]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    run = DeployRun(proc, f"http://127.0.0.1:{port}", [], log_dir, lines)
    try:
        ready = run.wait_for_line(r"ready at http://.*; workers ([^;]+);", STARTUP_TIMEOUT)
        run.replica_urls = ready.group(1).split()
    except BaseException:
        stop_deploy(run)
        raise
    return run


def stop_deploy(run: DeployRun, timeout: float = 90.0) -> None:
    """SIGTERM the CLI, wait, then SIGKILL every process (group) of its tree that is left."""
    try:
        tree = psutil.Process(run.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    if run.process.poll() is None:
        run.process.send_signal(signal.SIGTERM)
        try:
            run.process.wait(timeout)
        except subprocess.TimeoutExpired:
            run.process.kill()
    for proc in tree:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope="module")
def deploy_run(demo_model: Path) -> Iterator[DeployRun]:
    """2 replicas of the demo model behind the router (cache_aware), stopped at module end."""
    run = start_deploy(demo_model)
    try:
        yield run
    finally:
        stop_deploy(run)
