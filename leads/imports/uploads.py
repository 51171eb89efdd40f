"""An upload handler that stops storing a file once it passes the import size limit."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class SizeLimitHandler(FileUploadHandler):
    """Skips the rest of a file larger than `limit` bytes and marks the request, so the form can say so.

    Without it Django writes the whole body to a temporary file before the form can look at its
    size; with it, an oversized file costs reading the body, never disk space.
    """

    def __init__(self, request, *, limit: int):
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.request.upload_too_large = True
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file
