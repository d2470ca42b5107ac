"""/v1/models: the corpora a token may query, presented as OpenAI models."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from ninja import Router

from api.auth import request_token
from api.errors import ApiError
from api.models import ApiToken
from api.rest.schemas import SLUG_PATTERN
from api.scopes import Permission
from documents.models import Corpus

router = Router()


def _model(corpus: Corpus) -> dict[str, Any]:
    return {
        "id": corpus.slug,
        "object": "model",
        "created": int(corpus.created_at.timestamp()),
        "owned_by": "docent",
    }


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        "model_not_found",
        f"The model `{model}` does not exist or you do not have access to it.",
        field="model",
    )


def corpus_for_model(token: ApiToken, model: str) -> Corpus:
    corpus = token.corpora(Permission.QUERY).filter(slug=model).first() if model else None
    if corpus is None:
        raise model_not_found(model)
    return corpus


@router.get("/models")
def model_list(request: HttpRequest) -> dict[str, Any]:
    """The corpora this token may query, as models."""
    corpora = request_token(request).corpora(Permission.QUERY).order_by("slug")
    return {"object": "list", "data": [_model(corpus) for corpus in corpora]}


@router.get("/models/{model}")
def model_detail(request: HttpRequest, model: str) -> dict[str, Any]:
    if not re.fullmatch(SLUG_PATTERN, model):
        raise model_not_found(model)
    return _model(corpus_for_model(request_token(request), model))
