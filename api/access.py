"""What a token may reach, as the API answers it.

A corpus is visible to a token when its user may read the corpus and one of the token's scopes
names it (or is "*"). Anything outside that is a 404, exactly as if it did not exist. Inside it, a
request that needs a permission the token lacks, or a role the user lacks, is a 403 that says
which of the two is missing.
"""

from __future__ import annotations

from api.errors import ApiError, not_found
from api.models import ApiToken
from api.scopes import Permission, scope_permissions
from chat.models import Conversation
from documents.models import Corpus, Document


def corpus_for(token: ApiToken, slug: str, permission: Permission) -> Corpus:
    corpus = token.visible_corpora().filter(slug=slug).first()
    if corpus is None:
        raise not_found(f"There is no corpus “{slug}” that this token can use.")
    require(token, permission, corpus)
    return corpus


def document_for(token: ApiToken, document_id: int, permission: Permission) -> Document:
    document = (
        Document.objects.filter(corpus__in=token.visible_corpora())
        .select_related("corpus")
        .filter(pk=document_id)
        .first()
    )
    if document is None:
        raise not_found(f"There is no document {document_id} that this token can use.")
    require(token, permission, document.corpus)
    return document


def conversation_for(token: ApiToken, conversation_id: int) -> Conversation:
    """One of the token user's own conversations, in a corpus the token can see."""
    conversation = (
        Conversation.objects.for_user(token.user)
        .filter(corpus__in=token.visible_corpora())
        .select_related("corpus")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise not_found(f"You have no conversation {conversation_id} that this token can use.")
    require(token, Permission.QUERY, conversation.corpus)
    return conversation


def require(token: ApiToken, permission: Permission, corpus: Corpus) -> None:
    if token.allows(permission, corpus):
        return
    if permission.value not in scope_permissions(token.scope_list, corpus.slug):
        message = (
            f"This token lacks the “{permission.value}” permission for the corpus "
            f"“{corpus.slug}”. Create a token that has it under /api/tokens/."
        )
    else:
        message = (
            f"Your account needs the {permission.role.label.split(' (')[0].lower()} role in "
            f"“{corpus.name}” to {permission.value}; ask one of its managers."
        )
    raise ApiError(403, "forbidden", message)
