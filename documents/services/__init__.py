"""Every write and workflow on corpora and documents, one module per sub-domain.

Keyword-only functions named <entity>_<action>. Views, admin actions, API handlers, commands
and tasks call these and nothing else writes. The names below are the public surface;
reads are QuerySet methods (documents/models) and documents/selectors.py.
"""

from documents.retrieval import corpus_search
from documents.services.adoption import (
    ADOPTED_BACKEND,
    NO_ORIGINAL_WARNING,
    AdoptionResult,
    corpus_adopt_vector_store,
)
from documents.services.corpora import (
    corpus_create,
    corpus_delete,
    corpus_refresh_remote_usage,
    corpus_validate_settings,
)
from documents.services.ingestion import (
    RetryableIngestError,
    document_delete,
    document_ingest,
    document_mark_failed,
    document_reingest,
    document_retry,
    documents_requeue_stale,
)
from documents.services.uploads import (
    UploadOutcome,
    UploadRefused,
    document_check_upload,
    document_upload,
    document_upload_path,
)

__all__ = [
    "ADOPTED_BACKEND",
    "NO_ORIGINAL_WARNING",
    "AdoptionResult",
    "RetryableIngestError",
    "UploadOutcome",
    "UploadRefused",
    "corpus_adopt_vector_store",
    "corpus_create",
    "corpus_delete",
    "corpus_refresh_remote_usage",
    "corpus_search",
    "corpus_validate_settings",
    "document_check_upload",
    "document_delete",
    "document_ingest",
    "document_mark_failed",
    "document_reingest",
    "document_retry",
    "document_upload",
    "document_upload_path",
    "documents_requeue_stale",
]
