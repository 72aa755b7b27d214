"""The upload bucket: presigned uploads in, ranged streaming reads out."""

from .bucket import Bucket, ObjectInfo, ObjectReplacedError

__all__ = ["Bucket", "ObjectInfo", "ObjectReplacedError"]
