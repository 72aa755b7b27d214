"""The upload bucket: presigned uploads in, ranged streaming reads out."""

from .bucket import Bucket, ObjectInfo

__all__ = ["Bucket", "ObjectInfo"]
