"""A fake S3-style object store with pre-signed URLs, served by the sandbox under ``/_objects/``.

It behaves like the storage behind Segmind's pre-signed uploads (CONTRACTS.md, "Notes for a
client"): a ``PUT`` takes the raw body, needs a ``Content-Length`` (411 when chunked), a valid
unexpired signature (403), and ``x-amz-acl: public-read`` exactly when the URL was signed for
public access (403 either way otherwise); bodies of ``max_upload_bytes`` or more are refused
with S3's ``EntityTooLarge``. Stored objects are served on ``GET`` and ``HEAD`` with a
``Content-Length``: public ones to anyone, private ones only through a signed download URL.

Signatures are an HMAC-SHA256, under a secret kept in the database (so URLs survive a restart),
over the method, the object path, the expiry instant and the access ("public-read"/"private").
Expiry is measured on ``SimClock.wall_now`` (real time plus explicit advances). Errors are S3's
XML ``<Error><Code>…</Code><Message>…</Message></Error>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.clock import SimClock
from reconcile_sandbox.store import Store

MOUNT = "/_objects"
DEFAULT_MAX_UPLOAD_BYTES = 100_000_000
"""Segmind's "under 100 MB", read as decimal megabytes (the stricter reading)."""
_CREDENTIAL_ID = "SANDBOXACCESSKEY"
_V4_ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    owner: str
    public: bool
    content_type: str | None
    size: int


class ObjectStore:
    """Objects in the ``sandbox_objects`` table, at ``{origin}/_objects/{bucket}/{key}``."""

    def __init__(
        self, store: Store, clock: SimClock, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    ) -> None:
        self._store = store
        self._clock = clock
        self.max_upload_bytes = max_upload_bytes
        self._bucket_owners: dict[str, str] = {}
        secret = store.get_meta("object_signing_secret")
        if secret is None:
            secret = secrets.token_hex(32)
            store.set_meta("object_signing_secret", secret)
        self._secret = secret.encode()

    def claim_bucket(self, bucket: str, owner: str) -> None:
        """Objects uploaded into ``bucket`` belong to ``owner`` (whose reset removes them)."""
        self._bucket_owners[bucket] = owner

    # URLs ---------------------------------------------------------------------------------

    @staticmethod
    def url(origin: str, bucket: str, key: str) -> str:
        """The unsigned URL of an object (Segmind's ``s3_url``)."""
        return f"{origin.rstrip('/')}{_object_path(bucket, key)}"

    def presign_put(
        self, origin: str, bucket: str, key: str, *, public: bool, expires_in: int = 3600
    ) -> str:
        """A SigV4-style pre-signed PUT URL; ``public`` requires ``x-amz-acl: public-read``."""
        issued = self._clock.wall_now()
        expires_at = int(issued) + expires_in
        path = _object_path(bucket, key)
        query = {
            "X-Amz-Algorithm": _V4_ALGORITHM,
            "X-Amz-Credential": f"{_CREDENTIAL_ID}/{_day(issued)}/us-east-1/s3/aws4_request",
            "X-Amz-Date": _amz_date(issued),
            "X-Amz-Expires": str(expires_in),
            "X-Amz-SignedHeaders": "host;x-amz-acl" if public else "host",
            "X-Amz-Signature": self._sign("PUT", path, expires_at, public),
        }
        return f"{origin.rstrip('/')}{path}?{urlencode(query)}"

    def presign_get(self, origin: str, bucket: str, key: str, *, expires_in: int = 3600) -> str:
        """A SigV2-style pre-signed GET URL (``AWSAccessKeyId``, ``Signature``, ``Expires``)."""
        expires_at = int(self._clock.wall_now()) + expires_in
        path = _object_path(bucket, key)
        query = {
            "AWSAccessKeyId": _CREDENTIAL_ID,
            "Signature": self._sign("GET", path, expires_at, False),
            "Expires": str(expires_at),
        }
        return f"{origin.rstrip('/')}{path}?{urlencode(query)}"

    @staticmethod
    def locate(url: str) -> tuple[str, str] | None:
        """``(bucket, key)`` when ``url`` points into this store (on any host), else ``None``."""
        path = urlsplit(url).path
        if not path.startswith(MOUNT + "/"):
            return None
        bucket, _, key = path[len(MOUNT) + 1 :].partition("/")
        if not bucket or not key:
            return None
        return unquote(bucket), unquote(key)

    # Objects ------------------------------------------------------------------------------

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        owner: str,
        public: bool,
        content_type: str | None = None,
    ) -> None:
        """Store (or overwrite) an object directly, e.g. a job's trained weights."""
        self._store.execute(
            "INSERT OR REPLACE INTO sandbox_objects "
            "(bucket, key, owner, public, content_type, body, size, created_wall) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bucket,
                key,
                owner,
                int(public),
                content_type,
                body,
                len(body),
                self._clock.wall_now(),
            ),
        )

    def put_many(
        self, objects: Sequence[tuple[str, str, bytes, bool, str | None]], *, owner: str
    ) -> None:
        """Bulk ``put`` of ``(bucket, key, body, public, content_type)`` (for seeding)."""
        now = self._clock.wall_now()
        self._store.executemany(
            "INSERT OR REPLACE INTO sandbox_objects "
            "(bucket, key, owner, public, content_type, body, size, created_wall) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(b, k, owner, int(p), ct, body, len(body), now) for b, k, body, p, ct in objects],
        )

    def head(self, bucket: str, key: str) -> StoredObject | None:
        row = self._store.query_one(
            "SELECT bucket, key, owner, public, content_type, size FROM sandbox_objects "
            "WHERE bucket = ? AND key = ?",
            (bucket, key),
        )
        return None if row is None else _stored(row)

    def read(self, bucket: str, key: str) -> bytes | None:
        row = self._store.query_one(
            "SELECT body FROM sandbox_objects WHERE bucket = ? AND key = ?", (bucket, key)
        )
        return None if row is None else bytes(row["body"])

    def delete_owned_by(self, owner: str | None) -> None:
        """Remove every object of ``owner`` (every object when ``None``): part of a reset."""
        if owner is None:
            self._store.execute("DELETE FROM sandbox_objects")
        else:
            self._store.execute("DELETE FROM sandbox_objects WHERE owner = ?", (owner,))

    # HTTP ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                MOUNT + "/{bucket}/{key:path}",
                self._handle,
                methods=["GET", "HEAD", "PUT"],
            )
        ]

    async def _handle(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        key = request.path_params["key"]
        if request.method == "PUT":
            return await self._handle_put(request, bucket, key)
        return self._handle_get(request, bucket, key)

    async def _handle_put(self, request: Request, bucket: str, key: str) -> Response:
        query = request.query_params
        path = _object_path(bucket, key)
        if "X-Amz-Signature" not in query:
            await _drain(request)
            return s3_error(403, "AccessDenied", "Access Denied")
        public = "x-amz-acl" in query.get("X-Amz-SignedHeaders", "").split(";")
        expires_at = _v4_expiry(query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", ""))
        if expires_at is None or not hmac.compare_digest(
            query["X-Amz-Signature"], self._sign("PUT", path, expires_at, public)
        ):
            await _drain(request)
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if self._clock.wall_now() > expires_at:
            await _drain(request)
            return s3_error(403, "AccessDenied", "Request has expired")
        acl = request.headers.get("x-amz-acl")
        if public and acl != "public-read":
            await _drain(request)
            return s3_error(
                403,
                "AccessDenied",
                "There were headers present in the request which were not signed: "
                "this URL was signed for public access and needs 'x-amz-acl: public-read'",
            )
        if not public and acl is not None:
            await _drain(request)
            return s3_error(
                403,
                "AccessDenied",
                "There were headers present in the request which were not signed: x-amz-acl",
            )
        length_header = request.headers.get("content-length")
        if length_header is None or "chunked" in request.headers.get("transfer-encoding", ""):
            await _drain(request)
            return s3_error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            )
        if not length_header.isdigit():
            await _drain(request)
            return s3_error(400, "InvalidArgument", "Content-Length must be a whole number.")
        if int(length_header) >= self.max_upload_bytes:
            await _drain(request)
            return s3_error(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size "
                f"(it must be under {self.max_upload_bytes} bytes).",
            )
        body = await request.body()
        self.put(
            bucket,
            key,
            body,
            owner=self._bucket_owners.get(bucket, "sandbox"),
            public=public,
            content_type=request.headers.get("content-type"),
        )
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    def _handle_get(self, request: Request, bucket: str, key: str) -> Response:
        stored = self.head(bucket, key)
        if stored is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if not stored.public and not self._valid_download(request, bucket, key):
            return s3_error(403, "AccessDenied", "Access Denied")
        headers = {
            "Content-Length": str(stored.size),
            "Content-Type": stored.content_type or "application/octet-stream",
        }
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        body = self.read(bucket, key) or b""
        return Response(body, status_code=200, headers=headers)

    def _valid_download(self, request: Request, bucket: str, key: str) -> bool:
        query = request.query_params
        path = _object_path(bucket, key)
        expires = query.get("Expires", "")
        signature = query.get("Signature")
        if signature is None or not expires.isdigit():
            return False
        expires_at = int(expires)
        return (
            hmac.compare_digest(signature, self._sign("GET", path, expires_at, False))
            and self._clock.wall_now() <= expires_at
        )

    def _sign(self, method: str, path: str, expires_at: int, public: bool) -> str:
        access = "public-read" if public else "private"
        message = f"{method}\n{path}\n{expires_at}\n{access}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def s3_error(status: int, code: str, message: str) -> Response:
    """S3's XML error body."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{_xml_escape(message)}</Message>"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


_URL_SAFE = re.compile(r"[A-Za-z0-9._~/-]*")


def _object_path(bucket: str, key: str) -> str:
    # Most keys need no escaping; skipping quote() halves the cost of listing 10,000 jobs.
    if _URL_SAFE.fullmatch(bucket) and "/" not in bucket and _URL_SAFE.fullmatch(key):
        return f"{MOUNT}/{bucket}/{key}"
    return f"{MOUNT}/{quote(bucket, safe='')}/{quote(key, safe='/')}"


def _stored(row: sqlite3.Row) -> StoredObject:
    return StoredObject(
        bucket=row["bucket"],
        key=row["key"],
        owner=row["owner"],
        public=bool(row["public"]),
        content_type=row["content_type"],
        size=int(row["size"]),
    )


def _amz_date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(_AMZ_DATE)


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y%m%d")


def _v4_expiry(amz_date: str, expires: str) -> int | None:
    try:
        issued = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        return None
    if not expires.isdigit():
        return None
    return int(issued.timestamp()) + int(expires)


async def _drain(request: Request) -> None:
    """Read and drop the body, so the client finishes sending and can read our answer."""
    async for _ in request.stream():
        pass


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
