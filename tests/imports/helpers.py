"""Building import jobs from bytes, as an upload would, and running them."""

from django.core.files.uploadedfile import SimpleUploadedFile

from leads.imports.run import create_import, run_import, start_import


def upload(
    data: bytes | str, *, kind: str = "leads", by=None, name: str = "file.csv", mapping: dict | None = None
):
    """A job for this file content, with the suggested mapping (or the given one), not yet run."""
    content = data.encode() if isinstance(data, str) else data
    job = create_import(upload=SimpleUploadedFile(name, content), kind=kind, by=by)
    if mapping is not None:
        job.mapping = {**job.mapping, **mapping}
        job.save(update_fields=["mapping"])
    return job


def import_file(data: bytes | str, *, kind: str = "leads", by=None, mapping: dict | None = None):
    """Upload, start and run an import (the task runs inline in tests); the finished job."""
    job = upload(data, kind=kind, by=by, mapping=mapping)
    start_import(job=job, enqueue=False)
    return run_import(job.pk)
