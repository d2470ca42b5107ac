"""Provider failures as IndexingError, in the backends' words (documents.providers decides
what each failure is and whether retrying helps)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import openai

from documents.backends.base import IndexingError
from documents.providers import ProviderFailure, ProviderNotConfigured, classify

logger = logging.getLogger(__name__)


class RemoteStoreMissing(IndexingError):
    """The corpus's vector store no longer exists at the provider (deleted by someone, or
    expired under an expiry policy). Not retried as it is: the store must be recreated
    (documents/services/remote.py)."""

    def __init__(self, store_id: str) -> None:
        super().__init__(
            f"The corpus's OpenAI vector store {store_id} no longer exists (it was deleted, or "
            "expired under its expiry policy). An administrator can recreate it from the "
            'stored originals: in the admin, select the corpus and run "Recreate missing '
            'OpenAI vector stores".',
            retryable=False,
        )
        self.store_id = store_id


def indexing_error(failure: ProviderFailure, *, service: str, refused: str = "") -> IndexingError:
    """`service` names the server ("OpenAI", "The embeddings server"); `refused` opens the
    sentence for a request refused as it is (default: "<service> refused the request")."""
    message = failure.message
    match failure.kind:
        case "timeout":
            sentence = f"{service} did not answer in time; will retry."
        case "unreachable":
            sentence = f"{service} could not be reached; will retry."
        case "rate_limited":
            sentence = f"{service} is rate-limiting requests; will retry."
        case "server_error":
            status = f" ({failure.status})" if failure.status else ""
            sentence = f"{service} is temporarily unavailable{status}; will retry."
        case "quota":
            sentence = (
                f"{service} refused the request because the account's quota is used up: {message}"
            )
        case "auth":
            sentence = f"{service} rejected the API key: {message}"
        case "not_found":
            sentence = f"{service} could not find it: {message}"
        case "refused":
            sentence = f"{refused or f'{service} refused the request'}: {message}"
        case _:
            sentence = f"Unexpected answer from {service}: {message}"
            if failure.retryable:
                sentence += "; will retry."
    return IndexingError(sentence, retryable=failure.retryable)


@contextlib.contextmanager
def provider_errors(*, service: str = "OpenAI", refused: str = "") -> Iterator[None]:
    """Raise what goes wrong with the provider inside as IndexingError, a missing API key
    included."""
    try:
        yield
    except ProviderNotConfigured as error:
        raise IndexingError(str(error), retryable=False) from error
    except openai.OpenAIError as error:
        failure = classify(error)
        logger.info(
            "%s error %s (request %s): %s, retryable=%s",
            service,
            failure.status or type(error).__name__,
            getattr(error, "request_id", None) or "-",
            failure.kind,
            failure.retryable,
        )
        raise indexing_error(failure, service=service, refused=refused) from error
