"""The staff web UI for documents: the list with live status, upload, the viewer, downloads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from documents import selectors, services
from documents.backends.base import IndexingError
from documents.models import Corpus, Document, DocumentStage, DocumentStatus, Page, Role
from documents.parsing import supported_formats_text, upload_accept
from documents.upload_summary import UploadSummary, plural

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http.response import HttpResponseBase

    class AuthenticatedRequest(HttpRequest):
        user: User

else:
    AuthenticatedRequest = HttpRequest

DOCUMENTS_PER_PAGE = 100
# Above this many pages the viewer offers a number field instead of a list of every page.
PAGE_LIST_LIMIT = 500
# Stages that report how far they got (a batch of embeddings, a page of OCR).
MEASURED_STAGES = frozenset({DocumentStage.EMBEDDING, DocumentStage.OCR})


# What a failure is, for people who cannot act on it (readers): the reasons in `error` are
# written for the contributor who can replace the file. Keys are ParseErrorCode values.
FAILURE_SUMMARIES = {
    "unsupported_format": "This type of file cannot be read.",
    "encrypted": "The file is password-protected, so it could not be read.",
    "corrupt": "The file is damaged and could not be read.",
    "empty": "The file is empty.",
    "no_text": "No text could be found in the file.",
    "too_large": "The file is too large to process.",
    "ocr_unavailable": "The file can only be read by OCR, which is not available.",
    "": "The file could not be processed.",
}


@dataclass(frozen=True)
class Highlight:
    """A page's text cut around the highlighted passage."""

    before: str
    passage: str
    after: str
    continues_before: bool  # the passage starts on an earlier page
    continues_after: bool  # and goes on to a later one


@login_required
@require_GET
def document_list(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    corpus = _corpus(request, slug)
    query = request.GET.get("q", "").strip()
    documents = corpus.documents.all()
    if query:
        documents = documents.filter(filename__icontains=query)
    page = Paginator(documents, DOCUMENTS_PER_PAGE).get_page(request.GET.get("p"))
    positions = selectors.documents_queue_positions(
        document_ids=[d.pk for d in page.object_list if d.status == DocumentStatus.QUEUED]
    )
    return render(
        request,
        "documents/document_list.html",
        {
            "section": "documents",
            "corpus": corpus,
            "counts": Corpus.objects.filter(pk=corpus.pk).with_document_counts().get(),
            "page_obj": page,
            "documents": [
                document_state(document, queue_position=positions.get(document.pk))
                for document in page.object_list
            ],
            "query": query,
            "can_edit": _can_edit(request, corpus),
            "accept": upload_accept(),
            "formats": supported_formats_text(detailed=False),
            "max_upload_bytes": settings.DOCUMENT_MAX_UPLOAD_BYTES,
        },
    )


@login_required
@require_POST
def document_upload(request: AuthenticatedRequest, slug: str) -> HttpResponseBase:
    """One file per request from the page's script (JSON answer); several from the plain form."""
    corpus = _corpus(request, slug)
    _require_edit(request, corpus)
    uploads = request.FILES.getlist("file")
    if not _wants_json(request):
        if not uploads:
            messages.error(request, "Choose one or more files to upload.")
            return redirect("documents:list", slug=corpus.slug)
        summary = UploadSummary()
        for upload in uploads:
            try:
                outcome = services.document_upload(
                    corpus=corpus,
                    file=upload,
                    filename=upload.name or "upload",
                    uploaded_by=request.user,
                    content_type=_content_type(upload.content_type),
                )
            except ValidationError as error:
                summary.refused.append(_first_message(error))
                continue
            if outcome.duplicate:
                summary.duplicates.append(f"{upload.name} (as {outcome.document.filename})")
            else:
                summary.queued.append(outcome.document.filename)
        summary.tell(request)
        return redirect("documents:list", slug=corpus.slug)
    if len(uploads) != 1:
        return JsonResponse({"error": "Send one file per request."}, status=400)
    upload = uploads[0]
    try:
        outcome = services.document_upload(
            corpus=corpus,
            file=upload,
            filename=upload.name or "upload",
            uploaded_by=request.user,
            content_type=_content_type(upload.content_type),
        )
    except ValidationError as error:
        return JsonResponse({"error": _first_message(error), "filename": upload.name}, status=400)
    payload = _status_payload(request, corpus, outcome.document)
    payload["duplicate"] = outcome.duplicate
    if outcome.duplicate:
        payload["message"] = _duplicate_message(upload.name, outcome.document)
    return JsonResponse(payload, status=201 if outcome.created else 200)


@login_required
@require_GET
def document_status(request: AuthenticatedRequest, slug: str, document_id: int) -> JsonResponse:
    corpus = _corpus(request, slug)
    document = get_object_or_404(corpus.documents.all(), pk=document_id)
    return JsonResponse(_status_payload(request, corpus, document))


@login_required
@require_GET
def document_viewer(request: AuthenticatedRequest, slug: str, document_id: int) -> HttpResponse:
    corpus = _corpus(request, slug)
    document = get_object_or_404(corpus.documents.all(), pk=document_id)
    number = _int_param(request, "page") or 1
    start, end = _int_param(request, "start"), _int_param(request, "end")
    pages = list(document.pages.only("number", "label", "char_start").order_by("number"))
    page = document.pages.filter(number=number).first()
    missing_page = None
    if page is None and pages:
        missing_page = number
        page = document.pages.get(number=pages[0].number)
    numbers = [p.number for p in pages]
    position = numbers.index(page.number) if page else 0
    passage_params = {"start": start, "end": end} if start is not None and end is not None else {}
    return render(
        request,
        "documents/document_viewer.html",
        {
            "section": "documents",
            "corpus": corpus,
            "document": document_state(document),
            "page": page,
            "pages": pages if len(pages) <= PAGE_LIST_LIMIT else [],
            "page_count": len(pages),
            "missing_page": missing_page,
            "highlight": highlight(page, start, end) if page else None,
            "previous_url": _viewer_url(corpus, document, numbers[position - 1], passage_params)
            if page and position > 0
            else "",
            "next_url": _viewer_url(corpus, document, numbers[position + 1], passage_params)
            if page and position + 1 < len(numbers)
            else "",
            "passage_params": passage_params,
            "has_page_image": bool(page and document.file and document.is_pdf),
            "can_edit": _can_edit(request, corpus),
        },
    )


@login_required
@require_GET
def document_download(request: AuthenticatedRequest, slug: str, document_id: int) -> FileResponse:
    corpus = _corpus(request, slug)
    document = get_object_or_404(corpus.documents.all(), pk=document_id)
    if not document.file.name or not document.file.storage.exists(document.file.name):
        raise Http404("This document has no original to download.")
    return FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.filename,
        content_type=document.content_type or "application/octet-stream",
    )


@login_required
@require_GET
@cache_control(private=True, max_age=3600)
def document_page_image(
    request: AuthenticatedRequest, slug: str, document_id: int, number: int
) -> HttpResponse:
    corpus = _corpus(request, slug)
    document = get_object_or_404(corpus.documents.all(), pk=document_id)
    png = selectors.document_page_png(document=document, number=number)
    if png is None:
        raise Http404("This page has no image.")
    return HttpResponse(png, content_type="image/png")


@login_required
@require_POST
def document_retry(request: AuthenticatedRequest, slug: str, document_id: int) -> HttpResponseBase:
    corpus = _corpus(request, slug)
    document = get_object_or_404(corpus.documents.all(), pk=document_id)
    _require_edit(request, corpus)
    try:
        document = services.document_retry(document=document)
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse({"error": _first_message(error)}, status=400)
        messages.error(request, _first_message(error))
        return redirect("documents:list", slug=corpus.slug)
    if _wants_json(request):
        return JsonResponse(_status_payload(request, corpus, document))
    if document.status == DocumentStatus.PROCESSING:
        # A live worker holds it: the service left it alone.
        messages.info(
            request, f"{document.filename} is being processed right now; it was not queued again."
        )
    else:
        messages.success(request, f"{document.filename} is queued again.")
    return redirect("documents:list", slug=corpus.slug)


@login_required
@require_http_methods(["GET", "POST"])
def document_delete(request: AuthenticatedRequest, slug: str, document_id: int) -> HttpResponseBase:
    corpus = _corpus(request, slug)
    document = get_object_or_404(corpus.documents.all(), pk=document_id)
    _require_edit(request, corpus)
    if request.method == "GET":
        return render(
            request,
            "documents/document_confirm_delete.html",
            {"corpus": corpus, "document": document},
        )
    try:
        services.document_delete(document=document)
    except IndexingError as error:
        # The index could not be reached (an OpenAI outage): nothing was deleted.
        if _wants_json(request):
            return JsonResponse({"deleted": False, "error": str(error)}, status=503)
        messages.error(request, f"{document.filename} was not deleted: {error}")
        return redirect("documents:list", slug=corpus.slug)
    if _wants_json(request):
        return JsonResponse({"deleted": True, "message": f"Deleted {document.filename}."})
    messages.success(request, f"Deleted {document.filename}.")
    return redirect("documents:list", slug=corpus.slug)


# --- helpers ------------------------------------------------------------------------------------


def document_state(document: Document, *, queue_position: int | None = None) -> dict[str, Any]:
    """What a person needs to know about where a document is, in words (a queued document's
    place in its queue when `queue_position` is given)."""
    status = DocumentStatus(document.status)
    stage = DocumentStage(document.stage) if document.stage in DocumentStage.values else None
    percent = round(document.progress * 100)
    if status == DocumentStatus.QUEUED:
        summary = "Waiting for a worker"
        if queue_position:
            summary += ": next" if queue_position == 1 else f": {queue_position - 1} ahead"
        if document.error:
            summary = "Will try again shortly"
    elif status == DocumentStatus.PROCESSING:
        summary = stage.label if stage and stage != DocumentStage.NONE else "Processing"
        if stage in MEASURED_STAGES:  # from 0%, as soon as the stage begins
            summary += f" {percent}%"
    elif status == DocumentStatus.READY:
        summary = (
            f"Ready: {plural(document.page_count or 0, 'page')}, "
            f"{plural(document.chunk_count, 'passage')}"
        )
    else:
        summary = "Failed"
    return {
        "id": document.pk,
        "filename": document.filename,
        "size_bytes": document.size_bytes,
        "created_at": document.created_at,
        "status": status.value,
        "status_label": status.label,
        "stage": document.stage,
        "stage_label": stage.label if stage and stage != DocumentStage.NONE else "",
        "progress": percent,
        "summary": summary,
        "error": document.error,
        "warning": document.warning,
        "page_count": document.page_count,
        "chunk_count": document.chunk_count,
        "final": document.is_final,
        "has_file": bool(document.file),
        "retry_helps": document.retry_helps,
        "failure_summary": FAILURE_SUMMARIES.get(document.failure_code, FAILURE_SUMMARIES[""])
        if status == DocumentStatus.FAILED
        else "",
    }


def highlight(page: Page, start: int | None, end: int | None) -> Highlight | None:
    """The part of [start, end) (document coordinates) that lies on this page."""
    if start is None or end is None or end <= start:
        return None
    first, last = max(start, page.char_start), min(end, page.char_end)
    if first >= last:
        return None
    first, last = first - page.char_start, last - page.char_start
    return Highlight(
        before=page.text[:first],
        passage=page.text[first:last],
        after=page.text[last:],
        continues_before=start < page.char_start,
        continues_after=end > page.char_end,
    )


def _status_payload(
    request: AuthenticatedRequest, corpus: Corpus, document: Document
) -> dict[str, Any]:
    positions = (
        selectors.documents_queue_positions(document_ids=[document.pk])
        if document.status == DocumentStatus.QUEUED
        else {}
    )
    state = document_state(document, queue_position=positions.get(document.pk))
    payload = {k: v for k, v in state.items() if k != "created_at"}
    if state["failure_summary"] and not _can_edit(request, corpus):
        payload["error"] = state["failure_summary"]  # the reason's advice is for contributors
    payload["status_url"] = reverse(
        "documents:status", kwargs={"slug": corpus.slug, "document_id": document.pk}
    )
    payload["row_html"] = render_to_string(
        "documents/_document_row.html",
        {"corpus": corpus, "document": state, "can_edit": _can_edit(request, corpus)},
        request=request,
    )
    return payload


def _corpus(request: AuthenticatedRequest, slug: str) -> Corpus:
    return get_object_or_404(Corpus.objects.for_user(request.user), slug=slug)


def _can_edit(request: AuthenticatedRequest, corpus: Corpus) -> bool:
    cache: dict[int, bool] = request.__dict__.setdefault("_docent_can_edit", {})
    if corpus.pk not in cache:
        cache[corpus.pk] = (
            Corpus.objects.for_user(request.user, Role.CONTRIBUTOR).filter(pk=corpus.pk).exists()
        )
    return cache[corpus.pk]


def _require_edit(request: AuthenticatedRequest, corpus: Corpus) -> None:
    """Readers see the documents; uploading, retrying and deleting need a contributor."""
    if not _can_edit(request, corpus):
        raise PermissionDenied("Only contributors can change the documents of this corpus.")


def _viewer_url(
    corpus: Corpus, document: Document, number: int, passage: Mapping[str, int | None]
) -> str:
    url = reverse("documents:viewer", kwargs={"slug": corpus.slug, "document_id": document.pk})
    return f"{url}?{urlencode({'page': number, **passage})}"


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _content_type(value: str | None) -> str:
    # Browsers send application/octet-stream for types they do not know (.md): guess instead.
    return "" if not value or value == "application/octet-stream" else value


def _duplicate_message(name: str | None, document: Document) -> str:
    return f"{name} is already in this corpus as {document.filename}; it was not added again."


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _first_message(error: ValidationError) -> str:
    return next(iter(error.messages), "That did not work; check what you uploaded.")
