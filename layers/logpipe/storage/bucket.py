"""Presigned uploads and streaming reads of the upload bucket (S3, or moto's server)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import client
from ..config import Settings
from ..errors import PermanentError, RetryableError, ServiceUnavailableError


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str | None


class ObjectReplacedError(PermanentError):
    """The object under a key is no longer the one a file was planned from: its ETag changed."""

    def __init__(self, key: str, planned: str) -> None:
        super().__init__(f"object {key!r} is no longer the one planned (ETag {planned}): it was replaced")
        self.key, self.planned = key, planned


class UploadGoneError(PermanentError):
    """The multipart upload is no more: completed, aborted or expired."""


class PartsRejectedError(PermanentError):
    """S3 refused the parts named to complete an upload (an ETag that is not the part's, say)."""


# What S3 answers CompleteMultipartUpload when the parts named are wrong.
_BAD_PARTS = ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML", "InvalidArgument")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


class Bucket:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.bucket
        self.s3 = client("s3", settings)

    # -- uploads -------------------------------------------------------------------------
    def presign_post(self, key: str, size: int, content_type: str | None) -> dict[str, Any]:
        """A presigned POST that S3 refuses when the body is larger than ``size`` bytes."""
        fields = {"Content-Type": content_type} if content_type else {}
        conditions: list[Any] = [["content-length-range", 0, size]]
        if content_type:
            conditions.append({"Content-Type": content_type})
        post = self.s3.generate_presigned_post(
            self.name, key, Fields=fields, Conditions=conditions, ExpiresIn=self.settings.presign_expiry_s
        )
        return {"method": "POST", "url": post["url"], "fields": post["fields"]}

    def start_multipart(self, key: str, size: int, content_type: str | None) -> tuple[str, dict[str, Any]]:
        """Create a multipart upload and presign a PUT URL for each part."""
        extra = {"ContentType": content_type} if content_type else {}
        upload_id = self.s3.create_multipart_upload(Bucket=self.name, Key=key, **extra)["UploadId"]
        part = self.settings.multipart_part_bytes
        count = max(1, math.ceil(size / part))
        if count > 10_000:  # S3's limit on parts: grow the part size instead
            part = math.ceil(size / 10_000)
            count = math.ceil(size / part)
        parts = [
            {
                "part_number": n,
                "url": self.s3.generate_presigned_url(
                    "upload_part",
                    Params={"Bucket": self.name, "Key": key, "UploadId": upload_id, "PartNumber": n},
                    ExpiresIn=self.settings.presign_expiry_s,
                ),
            }
            for n in range(1, count + 1)
        ]
        return upload_id, {"method": "PUT", "part_size": part, "parts": parts, "upload_id": upload_id}

    def complete_multipart(self, key: str, upload_id: str, etags: dict[int, str] | None = None) -> None:
        """Finish a multipart upload; ETags the client sent win, the rest are listed from S3."""
        try:
            listed = self.s3.list_parts(Bucket=self.name, Key=key, UploadId=upload_id).get("Parts", [])
        except ClientError as exc:
            if _missing(exc):
                raise UploadGoneError(f"no multipart upload {upload_id} for {key}") from exc
            raise
        parts = {p["PartNumber"]: p["ETag"] for p in listed}
        parts.update(etags or {})
        if not parts:
            raise PermanentError("no part has been uploaded yet")
        try:
            self.s3.complete_multipart_upload(
                Bucket=self.name,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in sorted(parts.items())]},
            )
        except ClientError as exc:
            if _code(exc) in _BAD_PARTS:
                raise PartsRejectedError(f"S3 refused the parts: {exc}") from exc
            if _missing(exc):
                raise UploadGoneError(f"no multipart upload {upload_id} for {key}") from exc
            raise

    def exists(self, key: str) -> bool:
        """Whether ``key`` is in the bucket."""
        try:
            self.head(key)
        except PermanentError:
            return False
        return True

    # -- reads ---------------------------------------------------------------------------
    def head(self, key: str) -> ObjectInfo:
        try:
            h = self.s3.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise PermanentError(f"object {key!r} is not in bucket {self.name}") from exc
            raise RetryableError(f"bucket: {exc}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"bucket: {exc}") from exc
        return ObjectInfo(key, h["ContentLength"], h.get("ETag", "").strip('"'), h.get("ContentType"))

    def read_start(self, key: str, n: int) -> tuple[ObjectInfo, bytes]:
        """What ``head`` says of the object, and its first ``n`` bytes (all of them when it is
        shorter), in one request: the bytes are those of the object described."""
        try:
            got = self.s3.get_object(Bucket=self.name, Key=key, Range=f"bytes=0-{n - 1}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("InvalidRange", "416"):
                return self.head(key), b""  # an empty object has no first byte to ask for
            if _missing(exc):
                raise PermanentError(f"object {key!r} is not in bucket {self.name}") from exc
            raise RetryableError(f"bucket: {exc}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"bucket: {exc}") from exc
        body = got["Body"]
        try:
            data = body.read()
        except BotoCoreError as exc:
            raise RetryableError(f"bucket read: {exc}") from exc
        finally:
            body.close()
        whole = got.get("ContentRange", "").rpartition("/")[2]
        size = int(whole) if whole.isdigit() else int(got["ContentLength"])
        return ObjectInfo(key, size, got.get("ETag", "").strip('"'), got.get("ContentType")), data

    def open(self, key: str, start: int = 0, end: int | None = None, etag: str | None = None) -> Callable[[int], bytes]:
        """A ``read(n)`` over bytes ``[start, end)`` of the object, streamed, never all in memory.

        ``etag``: the object must still be the one with that ETag (``If-Match``), else
        ObjectReplacedError: reads of a file never mix two objects written under its key.
        """
        if end is not None and end <= start:
            return lambda n: b""
        rng = f"bytes={start}-" + ("" if end is None else str(end - 1))
        pinned = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            body = self.s3.get_object(Bucket=self.name, Key=key, Range=rng, **pinned)["Body"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if etag and code in ("PreconditionFailed", "412"):
                raise ObjectReplacedError(key, etag) from exc
            if _missing(exc):
                raise PermanentError(f"object {key!r} is not in bucket {self.name}") from exc
            raise RetryableError(f"bucket: {exc}") from exc
        except BotoCoreError as exc:
            raise RetryableError(f"bucket: {exc}") from exc

        def read(n: int) -> bytes:
            try:
                return body.read(n)  # type: ignore[no-any-return]
            except BotoCoreError as exc:
                raise RetryableError(f"bucket read: {exc}") from exc

        return read

    def list_after(self, start_after: str, max_keys: int = 1000) -> tuple[list[tuple[str, datetime]], bool]:
        """Up to ``max_keys`` objects whose keys come after ``start_after``, in key order, with
        when each was last written; and whether more follow."""
        try:
            page = self.s3.list_objects_v2(Bucket=self.name, StartAfter=start_after, MaxKeys=max_keys)
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"bucket: {exc}") from exc
        found = [(o["Key"], o["LastModified"]) for o in page.get("Contents", [])]
        return found, bool(page.get("IsTruncated"))

    def ping(self) -> None:
        try:
            self.s3.head_bucket(Bucket=self.name)
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailableError("bucket", f"{self.name}: {exc}") from exc
