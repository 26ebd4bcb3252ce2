"""``patchbay serve`` as a real child process, for tests and benchmarks that need one (a
SIGKILL, several workers, the CLI's start-up path)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

TOKEN_LINE = re.compile(r"^pbm_[A-Za-z0-9_-]{20,}$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def patchbay_command() -> list[str]:
    script = Path(sys.executable).parent / "patchbay"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from patchbay.cli.main import main; main()"]


class ServerProcess:
    """``patchbay --data-dir DIR serve --port P *extra`` with only the ``PATCHBAY_*``
    variables given in ``env`` (the caller's are dropped), its output collected line by
    line. :meth:`start` may be called again after :meth:`kill` or :meth:`stop` (same port,
    same data)."""

    def __init__(
        self, data_dir: Path, *extra: str, env: dict[str, str] | None = None, port: int = 0
    ) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith("PATCHBAY_") or k.startswith("PATCHBAY_TEST")
            },
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *patchbay_command(),
                "--data-dir",
                str(self.data_dir),
                "serve",
                "--port",
                str(self.port),
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            start_new_session=True,  # a kill reaches every worker process
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_healthy(self, timeout: float = 30.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("patchbay serve exited:\n" + "\n".join(self.lines))
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("patchbay serve did not answer:\n" + "\n".join(self.lines))

    def tokens(self) -> list[str]:
        return [line.strip() for line in self.lines if TOKEN_LINE.match(line.strip())]

    def kill(self) -> None:
        """SIGKILL the server and its workers: no shutdown code runs."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)

    def stop(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
