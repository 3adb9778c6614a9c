"""Where stored files live: the local disk (MEDIA_ROOT) by default, an S3-compatible object store
when ``STORAGE_URL`` (or ``AWS_STORAGE_BUCKET_NAME``) is set. See docs/scaling.md#object-storage.

Files never leave by a public or presigned URL: downloads stream through the app after its
permission check, so the store's bucket stays private.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _

S3_BACKEND = "storages.backends.s3.S3Storage"
# Query parameters of STORAGE_URL and the S3Storage option each sets.
URL_OPTIONS = {
    "endpoint_url": "endpoint_url",
    "region": "region_name",
    "region_name": "region_name",
    "addressing_style": "addressing_style",
    "signature_version": "signature_version",
}


def s3_options(
    url: str = "", *, bucket: str = "", endpoint_url: str = "", region: str = "", location: str = ""
) -> dict[str, Any]:
    """S3Storage options from ``s3://bucket/prefix?endpoint_url=…&region=…`` or the AWS_* values."""
    options: dict[str, Any] = {}
    if url:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise ImproperlyConfigured(
                f"STORAGE_URL must look like s3://bucket/optional/prefix?endpoint_url=…, not {url!r}"
            )
        options["bucket_name"] = parts.netloc
        options["location"] = unquote(parts.path).strip("/")
        for key, values in parse_qs(parts.query).items():
            if key not in URL_OPTIONS:
                raise ImproperlyConfigured(
                    f"STORAGE_URL: unknown parameter {key!r}; known: {', '.join(sorted(URL_OPTIONS))}"
                )
            options[URL_OPTIONS[key]] = values[-1]
    elif bucket:
        options["bucket_name"] = bucket
        options["location"] = location.strip("/")
        if endpoint_url:
            options["endpoint_url"] = endpoint_url
        if region:
            options["region_name"] = region
    else:
        return {}
    options.update(
        # Private objects, names never overwritten (a second "report.pdf" gets a suffix), and
        # reads through the app only.
        default_acl=None,
        file_overwrite=False,
        querystring_auth=True,
        querystring_expire=60,
    )
    return options


def s3_client_config(*, connect_timeout: float, read_timeout: float, attempts: int) -> Any:
    """A store that is down answers fast: short timeouts, few retries."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
    )


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a store that is down or refusing raises: OSError (disk), botocore's errors (S3)."""
    return (OSError, BotoCoreError, ClientError)


class StorageUnavailable(ValidationError):
    """The file store did not take the file: nothing was saved (callers run in a transaction)."""

    def __init__(self, field: str = "attachments") -> None:
        super().__init__(
            {field: [_("The file store is unavailable; the file was not saved. Try again later.")]}
        )


class StoreDown(Exception):
    """The file store did not answer a read (the file may well be there)."""


def open_stored(file: Any, *, label: str) -> Any:
    """Open a stored file for reading. A file missing from the store is a 404 (logged: its row
    says it should be there); a store that does not answer raises StoreDown (a 503)."""
    logger = logging.getLogger(__name__)
    if not file:
        raise Http404
    try:
        return file.open("rb")
    except FileNotFoundError as missing:
        logger.warning("%s: stored file %s is missing from the store", label, file.name)
        raise Http404 from missing
    except storage_errors() as error:
        logger.error("%s: the file store did not answer for %s: %s", label, file.name, error)
        raise StoreDown(str(error)) from error
