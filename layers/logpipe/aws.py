"""boto3 clients that honour ``AWS_ENDPOINT_URL`` (moto's server locally, AWS otherwise)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from .config import Settings


@lru_cache(maxsize=16)
def client(service: str, settings: Settings) -> Any:
    """One client per (service, settings) and process: clients are thread-safe and costly to make."""
    return boto3.client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url or None,
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            signature_version="s3v4" if service == "s3" else None,
            s3={"addressing_style": "path"} if service == "s3" else None,
        ),
    )
