"""Signal receivers that turn auth events and model changes into audit events.

Kept apart from the domain code on purpose: the apps being audited know nothing of the log,
except the token service, whose first use and revocation are single UPDATE queries that send
no signal (it calls audit.services directly).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from audit.context import current_request, request_actor
from audit.models import Action
from audit.services import audit_record

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Fields whose change is an event, per model (compared with the row before the save).
CORPUS_WATCHED = ("index_backend", "embedding_model", "chat_strategy")
USER_WATCHED = ("is_active", "is_staff", "is_superuser")
_PREVIOUS = "_audit_previous"


def connect() -> None:
    from api.models import ApiToken
    from chat.models import Conversation
    from documents.models import Corpus, CorpusMembership, CorpusReindex, Document

    user_model = get_user_model()
    uid = "audit"
    user_logged_in.connect(_signed_in, dispatch_uid=f"{uid}-signin")
    user_login_failed.connect(_signin_failed, dispatch_uid=f"{uid}-signin-failed")
    user_logged_out.connect(_signed_out, dispatch_uid=f"{uid}-signout")
    _connect_axes()

    pre_save.connect(
        _remember(USER_WATCHED), sender=user_model, dispatch_uid=f"{uid}-user-pre", weak=False
    )
    post_save.connect(_user_saved, sender=user_model, dispatch_uid=f"{uid}-user")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid=f"{uid}-user-del")
    m2m_changed.connect(
        _user_groups_changed, sender=user_model.groups.through, dispatch_uid=f"{uid}-groups"
    )

    post_save.connect(_token_saved, sender=ApiToken, dispatch_uid=f"{uid}-token")

    pre_save.connect(
        _remember(("role",)), sender=CorpusMembership, dispatch_uid=f"{uid}-m-pre", weak=False
    )
    post_save.connect(_membership_saved, sender=CorpusMembership, dispatch_uid=f"{uid}-m")
    post_delete.connect(_membership_deleted, sender=CorpusMembership, dispatch_uid=f"{uid}-m-del")

    pre_save.connect(
        _remember(CORPUS_WATCHED), sender=Corpus, dispatch_uid=f"{uid}-c-pre", weak=False
    )
    post_save.connect(_corpus_saved, sender=Corpus, dispatch_uid=f"{uid}-c")
    post_delete.connect(_corpus_deleted, sender=Corpus, dispatch_uid=f"{uid}-c-del")
    post_save.connect(_reindex_saved, sender=CorpusReindex, dispatch_uid=f"{uid}-reindex")

    post_save.connect(_document_saved, sender=Document, dispatch_uid=f"{uid}-d")
    post_delete.connect(_document_deleted, sender=Document, dispatch_uid=f"{uid}-d-del")

    post_delete.connect(_conversation_deleted, sender=Conversation, dispatch_uid=f"{uid}-conv")


def _connect_axes() -> None:
    from django.apps import apps

    # Importing axes.signals loads its models, which needs the app installed.
    if not apps.is_installed("axes"):
        logger.debug("django-axes is not in INSTALLED_APPS: lockouts are not audited")
        return
    from axes.signals import user_locked_out

    user_locked_out.connect(_locked_out, dispatch_uid="audit-lockout")


# --- sign-in -------------------------------------------------------------------------------------


def _method(backend: str) -> str:
    if backend.endswith("OIDCBackend") or "oidc" in backend.lower():
        return "sso"
    return "password"


def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    backend = getattr(user, "backend", "") or ""
    details: dict[str, Any] = {"method": _method(backend)}
    sso = getattr(request, "audit_sso_claims", None)
    if sso:
        details["sso"] = sso
    audit_record(action=Action.SIGNIN, target=user, actor=user, details=details, request=request)


def _signin_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already replaced the password in `credentials`; keep only the name typed.
    username = str(credentials.get("username") or "")
    method = "password" if "username" in credentials else "sso"
    details: dict[str, Any] = {"method": method}
    reason = getattr(request, "audit_sso_failure", None)
    if reason:
        details["reason"] = reason
    audit_record(
        action=Action.SIGNIN_FAILED,
        target_type="user" if username else "",
        target_label=username,
        actor_label=username,
        details=details,
        request=request,
    )


def _locked_out(
    sender: Any, request: HttpRequest | None, username: str | None = None, **kwargs: Any
) -> None:
    audit_record(
        action=Action.LOCKOUT,
        target_type="user" if username else "",
        target_label=username or "",
        actor_label=username or "",
        details={"ip_address": kwargs.get("ip_address")},
        request=request,
    )


def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    audit_record(action=Action.SIGNOUT, target=user, actor=user, request=request)


# --- changes compared with the stored row --------------------------------------------------------


def _remember(fields: tuple[str, ...]) -> Any:
    def receiver(sender: type[Model], instance: Model, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if instance.pk is None or kwargs.get("raw"):
            return
        if update_fields is not None and not set(update_fields) & set(fields):
            return
        previous = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
        setattr(instance, _PREVIOUS, previous)

    return receiver


def _changes(instance: Model, fields: tuple[str, ...]) -> dict[str, list[Any]]:
    previous = instance.__dict__.pop(_PREVIOUS, None)
    if not previous:
        return {}
    return {
        name: [previous[name], getattr(instance, name)]
        for name in fields
        if previous[name] != getattr(instance, name)
    }


# --- accounts ------------------------------------------------------------------------------------


def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    if created:
        flags = {name: getattr(instance, name) for name in USER_WATCHED}
        audit_record(action=Action.USER_CREATED, target=instance, details=flags)
        return
    changes = _changes(instance, USER_WATCHED)
    if changes:
        audit_record(action=Action.USER_ROLES_CHANGED, target=instance, details=changes)


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    audit_record(
        action=Action.USER_DELETED,
        target=instance,
        details={"email": instance.email, "is_superuser": instance.is_superuser},
    )


def _user_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from django.contrib.auth.models import Group

    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    if reverse:  # group.user_set.add(...): one event per user
        users = get_user_model()._default_manager.filter(pk__in=pk_set or ())
        for user in users:
            audit_record(
                action=Action.USER_GROUPS_CHANGED,
                target=user,
                details={verb: [instance.name]},
            )
        return
    names = sorted(Group.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True))
    audit_record(action=Action.USER_GROUPS_CHANGED, target=instance, details={verb: names or "all"})


# --- API tokens ----------------------------------------------------------------------------------


def _token_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):
        return
    audit_record(
        action=Action.TOKEN_CREATED,
        target=instance,
        details={
            "owner": instance.user.get_username(),
            "scopes": instance.scopes,
            "expires_at": instance.expires_at,
        },
    )


# --- corpora and their members -------------------------------------------------------------------


def _membership_who(membership: Any) -> dict[str, Any]:
    if membership.user_id:
        return {"user": membership.user.get_username()}
    return {"group": membership.group.name if membership.group_id else None}


def _membership_label(membership: Any) -> str:
    who = _membership_who(membership)
    return f"{membership.corpus} / {who.get('user') or who.get('group')}"


def _membership_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    common = {
        "target_type": "membership",
        "target_id": instance.pk,
        "target_label": _membership_label(instance),
        "corpus_id": instance.corpus_id,
    }
    if created:
        details = {**_membership_who(instance), "role": instance.role}
        audit_record(action=Action.MEMBERSHIP_CREATED, details=details, **common)
        return
    changes = _changes(instance, ("role",))
    if changes:
        details = {**_membership_who(instance), "role": changes["role"]}
        audit_record(action=Action.MEMBERSHIP_ROLE_CHANGED, details=details, **common)


def _membership_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    try:
        label = _membership_label(instance)
        who = _membership_who(instance)
    except Exception:  # the corpus, user or group is being deleted along with it
        label, who = f"membership {instance.pk}", {}
    audit_record(
        action=Action.MEMBERSHIP_DELETED,
        target_type="membership",
        target_id=instance.pk,
        target_label=label,
        corpus_id=instance.corpus_id,
        details={**who, "role": instance.role},
    )


def _corpus_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    if created:
        audit_record(
            action=Action.CORPUS_CREATED,
            target=instance,
            corpus_id=instance.pk,
            details={name: getattr(instance, name) for name in ("slug", *CORPUS_WATCHED)},
        )
        return
    changes = _changes(instance, CORPUS_WATCHED)
    if changes:
        audit_record(
            action=Action.CORPUS_SETTINGS_CHANGED,
            target=instance,
            corpus_id=instance.pk,
            details=changes,
        )


def _corpus_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    audit_record(
        action=Action.CORPUS_DELETED,
        target=instance,
        corpus_id=instance.pk,
        details={"slug": instance.slug, "index_backend": instance.index_backend},
    )


def _reindex_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):
        return
    audit_record(
        action=Action.CORPUS_REINDEX_REQUESTED,
        target_type="corpus",
        target_id=instance.corpus_id,
        target_label=str(instance.corpus),
        corpus_id=instance.corpus_id,
        details={
            "embedding_model": instance.embedding_model,
            "chunk_size_tokens": instance.chunk_size_tokens,
            "chunk_overlap_tokens": instance.chunk_overlap_tokens,
        },
    )


def _document_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):
        return
    audit_record(
        action=Action.DOCUMENT_CREATED,
        target=instance,
        corpus_id=instance.corpus_id,
        details={"filename": instance.filename, "sha256": instance.sha256},
    )


def _document_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    audit_record(
        action=Action.DOCUMENT_DELETED,
        target=instance,
        corpus_id=instance.corpus_id,
        details={"filename": instance.filename, "sha256": instance.sha256},
    )


# --- conversations -------------------------------------------------------------------------------


def _conversation_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A superuser deleting someone else's conversation (the admin is the only place that can);
    people deleting their own are not audited."""
    request = current_request()
    actor = request_actor(request) if request is not None else None
    if actor is None or not actor.is_superuser or actor.pk == instance.user_id:
        return
    audit_record(
        action=Action.CONVERSATION_DELETED,
        target=instance,
        corpus_id=instance.corpus_id,
        details={"owner_id": instance.user_id, "title": instance.title},
    )
