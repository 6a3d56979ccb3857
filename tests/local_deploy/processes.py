"""The processes of `make deploy-local` (tests/local_deploy/harness.py): the moto server it starts and stops by its PID,
the environment that points the CDK CLI and boto3 at it with fake credentials, and a CLI step with its log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port the OS reports free on the loopback interface (never a fixed one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """The moto server this run starts, and stops by its PID."""

    def __init__(self, *, port: int, account: str, log_path: Path) -> None:
        self.port = port
        self.account = account
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout_seconds: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["MOTO_ACCOUNT_ID"] = self.account
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.local_deploy.moto_server", "--port", str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl+C reaches this script, which stops the server itself
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"moto did not answer on {self.endpoint_url} within {timeout_seconds:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def aws_environment(endpoint_url: str, region: str, cdk_home: Path | None = None) -> dict[str, str]:
    """The caller's environment minus every AWS setting, plus fake credentials and the local endpoint.

    ``cdk_home``: the CLI's cache directory (``CDK_HOME``). The CLI caches the account of each access key
    (``~/.cdk/cache/accounts_partitions.json``): with the shared home, a run for one account would make the next
    run's fake key look like it belongs to the previous account. Default: the caller's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": endpoint_url,
            # No profile, no config file, no instance metadata: nothing can reach a real account.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DISABLE_VERSION_CHECK": "true",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            **({"CDK_HOME": str(cdk_home)} if cdk_home is not None else {}),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "NODE_NO_WARNINGS": "1",
        }
    )
    return env


def run(command: Sequence[str], *, cwd: Path, env: dict[str, str], log_path: Path, timeout_seconds: float) -> None:
    """Run a CLI step, its output to ``log_path``; on timeout stop its process group (it was started here)."""
    print(f"$ {' '.join(command)}", flush=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=timeout_seconds)
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(f"{command[1]} failed ({process.returncode}):\n" + "\n".join(tail))
