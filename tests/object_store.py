"""A real S3-compatible server for the tests: moto's server mode, on 127.0.0.1, one per session."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import requests

# moto accepts any credentials; these name no real account.
ACCESS_KEY = "testing-access"
SECRET = "testing-not-a-secret"  # noqa: S105
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ObjectStore:
    process: subprocess.Popen
    endpoint_url: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET,
            region_name=REGION,
        )

    def storages(self, bucket: str, location: str, *, endpoint_url: str | None = None) -> dict:
        """A STORAGES setting whose default storage is this server's ``bucket``."""
        from django.conf import settings

        from itsm.storage import S3_BACKEND, s3_client_config, s3_options

        options = s3_options(
            bucket=bucket, endpoint_url=endpoint_url or self.endpoint_url, region=REGION, location=location
        )
        options.update(
            access_key=ACCESS_KEY,
            secret_key=SECRET,
            client_config=s3_client_config(connect_timeout=1, read_timeout=5, attempts=1),
        )
        return {**settings.STORAGES, "default": {"BACKEND": S3_BACKEND, "OPTIONS": options}}

    def keys(self, bucket: str, prefix: str) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in answer.get("Contents", [])]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_object_store() -> ObjectStore:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{endpoint_url}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.2)
    return ObjectStore(process, endpoint_url)
