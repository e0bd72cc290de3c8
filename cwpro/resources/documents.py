"""``client.documents``: files attached to a work order's resources (photos, documents...)."""

from __future__ import annotations

import io
import mimetypes
import os
import re
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, TypeAlias, Union

from typing_extensions import Unpack

from .. import _wire
from .._config import Timeout
from .._errors import InvalidArgumentError
from .._http.options import CallOptions
from .._lazy import lazy_module
from .._query import ListQuery
from ..models import Document
from ..pagination import AsyncCursorPaginator
from ._base import Endpoint, RawView, Resource, raw_method

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp", globals())

__all__ = ["Documents", "DocumentsWithRawResponse", "FileSource"]

#: What ``upload`` accepts: a path, bytes, or an open binary file.
FileSource: TypeAlias = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

DEFAULT_RESOURCE = "work_order_extra_photos"
_RESOURCE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


def _check_resource_name(resource_name: str) -> None:
    if not isinstance(resource_name, str) or not _RESOURCE_NAME.match(resource_name):
        raise InvalidArgumentError(
            f"resource_name must be lowercase letters, digits and '_' (e.g. {DEFAULT_RESOURCE!r}),"
            f" got {resource_name!r}"
        )


#: Uploads get time in proportion to their size: a fixed total would fail big files on slow
#: links. Assumed worst sustained rate (256 KiB/s) plus a fixed allowance.
_UPLOAD_RATE_FLOOR = 256 * 1024
_UPLOAD_BASE_SECONDS = 60.0


def _upload_timeout(size: int | None) -> Timeout | None:
    if size is None:
        return Timeout(total=None, connect=10.0, read=120.0)
    return Timeout(total=_UPLOAD_BASE_SECONDS + size / _UPLOAD_RATE_FLOOR, connect=10.0, read=120.0)


class _UploadBody:
    """Builds a fresh multipart body per attempt; files are streamed, never read whole."""

    def __init__(self, source: FileSource, filename: str | None, content_type: str | None) -> None:
        self._source = source
        self._opened: list[IO[bytes]] = []
        self._start: int | None = None
        self._attempts = 0
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such file to upload: {path!r}")
            self.filename = filename or os.path.basename(path)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.filename = filename or "upload.bin"
        elif hasattr(source, "read"):
            name = getattr(source, "name", None)
            self.filename = filename or (
                os.path.basename(name) if isinstance(name, str) else "upload.bin"
            )
            if isinstance(source, io.TextIOBase):
                raise TypeError("open the file in binary mode ('rb') to upload it")
            try:
                self._start = source.tell() if source.seekable() else None
            except (OSError, ValueError):
                self._start = None
        else:
            raise TypeError(
                f"cannot upload a {type(source).__name__}: give a path, bytes or a binary file"
            )
        self.content_type = (
            content_type or mimetypes.guess_type(self.filename)[0] or "application/octet-stream"
        )
        self.size = self._size()

    def _size(self) -> int | None:
        """Bytes to send, when they can be known without reading them."""
        source = self._source
        if isinstance(source, (str, os.PathLike)):
            return os.path.getsize(os.fspath(source))
        if isinstance(source, (bytes, bytearray, memoryview)):
            return len(source)
        if self._start is not None:
            try:
                return os.fstat(source.fileno()).st_size - self._start
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                return None
        return None

    def __call__(self) -> aiohttp.FormData:
        self._attempts += 1
        source = self._source
        payload: Any
        if isinstance(source, (str, os.PathLike)):
            payload = open(os.fspath(source), "rb")  # noqa: SIM115 - closed by close()
            self._opened.append(payload)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            payload = io.BytesIO(source)  # aiohttp warns about (and blocks on) large raw bytes
        else:
            if self._attempts > 1:
                if self._start is None:
                    raise InvalidArgumentError(
                        "cannot retry an upload from a stream that cannot seek"
                    )
                source.seek(self._start)
            payload = source
        form = aiohttp.FormData(quote_fields=False)
        form.add_field(
            _wire.UPLOAD_FIELD, payload, filename=self.filename, content_type=self.content_type
        )
        return form

    def close(self) -> None:
        for handle in self._opened:
            handle.close()
        self._opened.clear()


class Documents(Resource):
    """Documents of a work order resource: upload (streamed multipart) and list."""

    UPLOAD = Endpoint("POST", _wire.DOCUMENTS, Document, safe_to_repeat=False)
    LIST = Endpoint("GET", _wire.DOCUMENTS, Document, safe_to_repeat=True, pagination="cursor")

    @property
    def with_raw_response(self) -> DocumentsWithRawResponse:
        """The same calls, each returning the :class:`cwpro.APIResponse`."""
        return DocumentsWithRawResponse(self)

    async def upload(
        self,
        work_order_id: str,
        file: FileSource,
        *,
        resource_name: str = DEFAULT_RESOURCE,
        filename: str | None = None,
        content_type: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Document:
        """Upload a file to a work order resource as ``multipart/form-data`` (field ``file``).

        ``file`` is a path, bytes, or a binary file object; files are streamed in chunks, so a
        large file is never held in memory. ``content_type`` defaults to a guess from the file
        name. Returns the stored :class:`cwpro.models.Document`. Uploads get a time limit in
        proportion to their size (60 s + 1 s per 256 KiB) instead of the client's default;
        ``timeout=`` (here or in ``with_options``) overrides it. An upload is never re-sent
        once the server may have stored it (a 5xx or a broken connection raises).
        """
        _check_resource_name(resource_name)
        body = _UploadBody(file, filename, content_type)
        factory: Callable[[], Any] = body
        try:
            result: Document = await self._call(
                self.UPLOAD,
                path={"id": work_order_id, "resource_name": resource_name},
                body_factory=factory,
                default_timeout=_upload_timeout(body.size),
                options=options,
            )
        finally:
            body.close()
        return result

    def list(
        self,
        work_order_id: str,
        resource_name: str = DEFAULT_RESOURCE,
        **query: Unpack[ListQuery],
    ) -> AsyncCursorPaginator[Document]:
        """Stream the documents stored under a work order resource (a cursor list)."""
        _check_resource_name(resource_name)
        paginator: AsyncCursorPaginator[Document] = self._list(
            self.LIST, query, path={"id": work_order_id, "resource_name": resource_name}
        )
        return paginator


class DocumentsWithRawResponse(RawView[Documents]):
    """``client.documents.with_raw_response``: each call returns its ``APIResponse``."""

    upload = raw_method(Documents.upload)
