"""Document routes: multipart upload (streamed to disk, SHA-256 computed on the fly) and list.

``DOC_0001`` = no part named ``file``. A resource name outside ``^[a-z0-9_]{1,64}$`` or an unknown
work order is a 404; a body that is not ``multipart/form-data`` is a 422.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

from aiohttp import BodyPartReader, hdrs, web

from cwpro.emulator.context import EmulatorContext, context_of
from cwpro.emulator.datasets import StoredDocument
from cwpro.emulator.wire import BusinessError, HttpError, format_datetime, found, ok

RESOURCE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
CHUNK_SIZE = 256 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _checked_target(request: web.Request) -> tuple[EmulatorContext, str, str]:
    ctx = context_of(request)
    work_order_id = request.match_info["id"]
    resource_name = request.match_info["resource_name"]
    if not RESOURCE_NAME.match(resource_name):
        raise HttpError(404, "Resource not found", "Resource names match ^[a-z0-9_]{1,64}$")
    found(ctx.state.workorders, work_order_id, "work order")
    return ctx, work_order_id, resource_name


async def _save_part(part: BodyPartReader, path: Path) -> tuple[int, str]:
    """Stream one part to ``path`` (disk writes off the event loop); returns (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    sink = await asyncio.to_thread(path.open, "wb")
    try:
        while True:
            chunk = await part.read_chunk(CHUNK_SIZE)
            if not chunk:
                break
            digest.update(chunk)
            await asyncio.to_thread(sink.write, chunk)
            size += len(chunk)
    except BaseException:
        sink.close()
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    sink.close()
    return size, digest.hexdigest()


async def upload_document(request: web.Request) -> web.Response:
    """``POST /workorders/{id}/resources/{resource_name}`` (multipart, part ``file``)."""
    ctx, work_order_id, resource_name = _checked_target(request)
    if request.content_type != "multipart/form-data":
        raise HttpError(
            422,
            "The request Content-Type must be multipart/form-data",
            f"Received Content-Type: {request.headers.get('Content-Type', '')!r}",
        )
    if ctx.upload_dir is None:
        raise HttpError(503, "The emulator is not accepting uploads")
    try:
        reader = await request.multipart()
        document: StoredDocument | None = None
        while True:
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file" and document is None:
                now = ctx.clock.now()
                document_id = ctx.state.documents.new_id(now)
                path = ctx.upload_dir / document_id
                size, sha256 = await _save_part(part, path)
                document = StoredDocument(
                    meta={
                        "_id": document_id,
                        "work_order_id": work_order_id,
                        "resource_name": resource_name,
                        "file_name": part.filename or "upload.bin",
                        "content_type": part.headers.get(hdrs.CONTENT_TYPE, DEFAULT_CONTENT_TYPE),
                        "size": size,
                        "sha256": sha256,
                        "url": f"{ctx.base_url()}/_emulator/documents/{document_id}",
                        "created_date": format_datetime(now),
                    },
                    path=path,
                )
            else:
                await part.release()
    except (ValueError, AssertionError, KeyError) as exc:
        raise HttpError(422, "The multipart body could not be parsed", str(exc)) from exc
    if document is None:
        raise BusinessError(
            "DOC_0001",
            "The file is required",
            "Send the document as a multipart/form-data part named 'file'",
        )
    ctx.state.documents.add(document)
    return ok(document.meta)


async def list_documents(request: web.Request) -> web.Response:
    """``GET /workorders/{id}/resources/{resource_name}``: cursor list of uploads."""
    ctx, work_order_id, resource_name = _checked_target(request)
    source = ctx.state.documents.listing(work_order_id, resource_name)
    return ctx.list_response(request, source, scope=f"documents:{work_order_id}:{resource_name}")


def document_routes() -> list[web.RouteDef]:
    """The document routes."""
    path = "/workorders/{id}/resources/{resource_name}"
    return [
        web.post(path, upload_document),
        web.get(path, list_documents, allow_head=False),
    ]
