"""The clerk's pages, one router: the queue and the check page (`queue_pages`), a submission with
register and reject, and the printable certificate (`submission_pages`); search, corrections,
copies and the issuance log (`record_pages`)."""

from __future__ import annotations

from fastapi import APIRouter

from birthreg.registry import queue_pages, record_pages, submission_pages
from birthreg.registry.plain_report import report_view, signature_view

router = APIRouter()
router.include_router(queue_pages.router)
router.include_router(submission_pages.router)
router.include_router(record_pages.router)

__all__ = ["report_view", "router", "signature_view"]
