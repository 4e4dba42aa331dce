"""A real S3-compatible server on 127.0.0.1 for the tests and benchmarks: moto in server mode (`moto[server]`,
a dev dependency), in its own process, so the bot talks to it over HTTP like to AWS S3 or MinIO. Each test
gets a bucket of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

# moto accepts any credentials; obstore needs some (or it would ask an EC2 metadata endpoint for them).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sora-test-key", "AWS_SECRET_ACCESS_KEY": "sora-test-secret-7d1e"}
REGION = "us-east-1"


class S3Server:
    """`python -m moto.server` on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **CREDENTIALS},
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system), from /proc (Linux)."""
        if self._proc is None:
            return 0.0
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def new_bucket(self) -> str:
        """A new, empty bucket: its name."""
        name = f"sora-{uuid.uuid4().hex[:16]}"
        httpx.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()
        return name

    def settings(self, bucket: str, prefix: str = "clips") -> dict[str, str]:
        """The bot's settings (lower-case names, as Settings takes them) for a bucket of this server."""
        return {
            "storage_url": f"s3://{bucket}/{prefix}",
            "s3_endpoint_url": self.endpoint,
            "s3_region": REGION,
            "storage_retry_seconds": "5",
        }

    def objects(self, bucket: str) -> dict[str, int]:
        """Every object in the bucket: key -> size (listed over HTTP, as any client would)."""
        import xml.etree.ElementTree as ET

        found: dict[str, int] = {}
        token = ""
        while True:
            params = {"list-type": "2"} | ({"continuation-token": token} if token else {})
            answer = httpx.get(f"{self.endpoint}/{bucket}", params=params, timeout=10)
            answer.raise_for_status()
            root = ET.fromstring(answer.content)
            ns = {"s3": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
            prefix = "s3:" if ns else ""
            for item in root.iter(f"{{{ns['s3']}}}Contents" if ns else "Contents"):
                key = item.findtext(f"{prefix}Key", namespaces=ns) or ""
                found[key] = int(item.findtext(f"{prefix}Size", namespaces=ns) or 0)
            token = root.findtext(f"{prefix}NextContinuationToken", namespaces=ns) or ""
            if not token:
                return found
