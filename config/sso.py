"""Single sign-on with OpenID Connect, on mozilla-django-oidc.

Configured by environment variables (settings.py, "Single sign-on"): a client id and secret
and the provider's issuer URL, from which the endpoints are read (OpenID Connect Discovery) on
first use, not when the settings load. What Docent adds to the library:

- the ID token's issuer and audience are checked (the library checks the signature, the expiry
  and the nonce only), and an address the provider says is unverified is refused;
- new accounts get a readable username (the provider's preferred_username or the e-mail
  address) and no usable password;
- the groups claim, when configured, sets the account's Docent groups at every sign-in, and so
  the corpora they are members of (documents.CorpusMembership.group);
- a failed sign-in says why on the sign-in page, and reaches the audit log;
- LOCAL_PASSWORDS=0 leaves single sign-on as the only way in, for the web UI and the admin.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest, HttpResponse, HttpResponseBase

logger = logging.getLogger(__name__)

# Settings the library reads that discovery can fill, and the discovery document's key for each.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


class SSOError(Exception):
    """Single sign-on cannot work now; the message is for the person signing in."""


def sso_enabled() -> bool:
    return bool(settings.SSO_ENABLED)


def local_passwords() -> bool:
    return bool(settings.LOCAL_PASSWORDS)


# --- discovery ------------------------------------------------------------------------------------

_discovery_lock = threading.Lock()
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}


def provider_metadata() -> dict[str, Any]:
    """The issuer's discovery document, fetched once and kept for OIDC_DISCOVERY_CACHE_SECONDS."""
    issuer = settings.OIDC_OP_ISSUER.rstrip("/")
    if not issuer:
        return {}
    with _discovery_lock:
        cached = _discovery.get(issuer)
        if cached and time.monotonic() - cached[0] < settings.OIDC_DISCOVERY_CACHE_SECONDS:
            return cached[1]
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(
                url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL
            )
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (requests.RequestException, ValueError) as exc:
            logger.warning("OIDC discovery at %s failed: %s", url, exc)
            raise SSOError(
                "The sign-in provider cannot be reached right now. Try again in a minute; "
                "if it keeps failing, tell your administrator."
            ) from exc
        # OpenID Connect Discovery 1.0, section 4.3: the issuer must be the one configured.
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            logger.error(
                "OIDC discovery at %s names issuer %r, not %r", url, document.get("issuer"), issuer
            )
            raise SSOError("The sign-in provider is misconfigured: tell your administrator.")
        _discovery[issuer] = (time.monotonic(), document)
        return document


def forget_provider_metadata() -> None:
    with _discovery_lock:
        _discovery.clear()


def oidc_setting(name: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting, with the provider's endpoints from discovery unless they
    are set explicitly."""
    if name in DISCOVERED and not getattr(settings, name, ""):
        value = provider_metadata().get(DISCOVERED[name])
        if value:
            return value
        if default:
            return default[0]
        raise SSOError("The sign-in provider is misconfigured: tell your administrator.")
    return import_from_settings(name, *default)


# --- the authentication backend ------------------------------------------------------------------


class DocentOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """mozilla-django-oidc's backend, configured lazily: Django builds a backend for every
    sign-in attempt and every request of a signed-in user, and neither may wait for the
    provider."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()
        self._configured = False

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def _configure(self) -> None:
        if not self._configured:
            super().__init__()
            self._configured = True

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or not sso_enabled() or "code" not in request.GET:
            return None
        try:
            self._configure()
            return super().authenticate(request, **kwargs)  # type: ignore[no-any-return]
        except (SuspiciousOperation, SSOError, requests.RequestException, ValueError) as exc:
            # Django then sends user_login_failed, which the audit log records with this reason.
            reason = _failure_reason(exc)
            logger.warning("OIDC sign-in failed: %s (%s)", reason, exc)
            request.audit_sso_failure = reason  # type: ignore[attr-defined]
            return None

    def verify_token(self, token: str, **kwargs: Any) -> Any:
        payload = super().verify_token(token, **kwargs)
        issuer = settings.OIDC_OP_ISSUER.rstrip("/")
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation("The ID token was issued by another provider.")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is meant for another application.")
        self.id_claims = payload
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: Any) -> User | None:
        try:
            user: User | None = super().get_or_create_user(access_token, id_token, payload)
        except SuspiciousOperation as exc:
            # The library logs and swallows this; keep the reason for the page and the log.
            reason = str(exc)
            if reason == "Multiple users returned":
                reason = "Several Docent accounts have this e-mail address: ask an administrator."
            self.request.audit_sso_failure = reason
            raise
        if user is None:
            self.request.audit_sso_failure = (
                "No Docent account has this e-mail address: ask an administrator for one."
            )
        return user

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not claims.get("email"):
            raise SuspiciousOperation("The provider sent no e-mail address.")
        if claims.get("email_verified") is False:
            raise SuspiciousOperation("The provider has not verified the e-mail address.")
        return True

    def create_user(self, claims: dict[str, Any]) -> User:
        user: User = self.UserModel.objects.create_user(
            username_for(claims, self.UserModel),
            email=claims["email"],
            first_name=str(claims.get("given_name", ""))[:150],
            last_name=str(claims.get("family_name", ""))[:150],
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        logger.info("user %s created by single sign-on", user.pk)
        return self.update_user(user, claims)

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        groups = groups_sync(user=user, claims=claims)
        self.request.audit_sso_claims = {
            "issuer": getattr(self, "id_claims", {}).get("iss", ""),
            "subject": getattr(self, "id_claims", {}).get("sub", ""),
            **({"groups": groups} if groups is not None else {}),
        }
        return user


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, SSOError | SuspiciousOperation):
        return str(exc)
    return "The sign-in provider did not answer as expected."


def username_for(claims: dict[str, Any], user_model: Any) -> str:
    """The claim named by OIDC_USERNAME_CLAIM, else the e-mail address, made unique."""
    base = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims["email"]).strip()[:140]
    username, n = base, 1
    while user_model.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base}-{n}"
    return username


def groups_sync(*, user: User, claims: dict[str, Any]) -> list[str] | None:
    """Set the user's Docent groups from the groups claim (OIDC_GROUPS_CLAIM): with
    OIDC_GROUP_MAP, each mapped provider group gives its Docent group (created if missing)
    and only mapped groups are changed; without it, provider groups named like an existing
    Docent group give that group, and every group is managed. None when mapping is off."""
    claim_name = settings.OIDC_GROUPS_CLAIM
    if not claim_name:
        return None
    raw = claims.get(claim_name) or []
    claimed = {str(value) for value in (raw if isinstance(raw, list) else [raw])}
    mapping: dict[str, str] = settings.OIDC_GROUP_MAP
    with transaction.atomic():
        if mapping:
            managed = set(mapping.values())
            wanted = {mapping[value] for value in claimed if value in mapping}
            for name in wanted:
                Group.objects.get_or_create(name=name)
            managed_groups = Group.objects.filter(name__in=managed)
        else:
            managed_groups = Group.objects.all()
            wanted = set(managed_groups.filter(name__in=claimed).values_list("name", flat=True))
        current = set(user.groups.filter(pk__in=managed_groups).values_list("name", flat=True))
        to_remove = current - wanted
        to_add = wanted - current
        if to_remove:
            user.groups.remove(*Group.objects.filter(name__in=to_remove))
        if to_add:
            user.groups.add(*Group.objects.filter(name__in=to_add))
    if to_add or to_remove:
        logger.info("user %s groups from SSO: +%s -%s", user.pk, sorted(to_add), sorted(to_remove))
    return sorted(wanted)


# --- views ----------------------------------------------------------------------------------------


class SSOStartView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """Redirects to the provider (PKCE, state and nonce from the library)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads the endpoints here; Docent reads them in get(), where a failure
        # can be shown to the person signing in.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except SSOError as exc:
            messages.error(request, str(exc))
            return redirect(settings.LOGIN_URL)
        return super().get(request)  # type: ignore[no-any-return]


class SSOCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """The provider's redirect back; a failure returns to the sign-in page with the reason."""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        if request.GET.get("error"):
            # The provider refused (the person cancelled, or is not assigned to the app).
            reason = request.GET.get("error_description") or request.GET["error"]
            self._failed(request, f"The provider refused: {reason[:200]}")
        try:
            return super().get(request)  # type: ignore[no-any-return]
        except SuspiciousOperation:
            # An unknown state: the link was used twice, or comes from another browser.
            self._failed(request, "The sign-in link was already used or is from another browser.")
            return self.login_failure()

    def _failed(self, request: HttpRequest, reason: str) -> None:
        from django.contrib.auth.signals import user_login_failed

        request.audit_sso_failure = reason  # type: ignore[attr-defined]
        user_login_failed.send(sender=__name__, credentials={}, request=request)

    def login_failure(self) -> HttpResponse:
        reason = getattr(self.request, "audit_sso_failure", "") or (
            "The sign-in did not complete (it took too long, or was started in another "
            "window). Try again."
        )
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            reason = "This account is deactivated: ask an administrator to reactivate it."
            self._failed(self.request, reason)
        messages.error(self.request, f"Single sign-on failed. {reason}")
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))


def sso_start_url(next_url: str = "") -> str:
    url = reverse("oidc_authentication_init")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class LoginView(auth_views.LoginView):
    """Django's sign-in page; with LOCAL_PASSWORDS=0 it offers single sign-on only and a
    password sent anyway is refused."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not local_passwords() and request.method == "POST":
            messages.error(request, "Passwords are not used here: sign in with single sign-on.")
            return redirect(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)


def passwords_only(view: Any) -> Any:
    """Password change and reset pages, which make no sense without local passwords."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not local_passwords():
            messages.info(request, "Passwords are managed by your sign-in provider.")
            return redirect(settings.LOGIN_URL)
        response: HttpResponseBase = view(request, *args, **kwargs)
        return response

    return wrapped


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether to offer single sign-on and the password form."""
    return {
        "sso": {
            "enabled": sso_enabled(),
            "label": settings.SSO_LABEL,
            "passwords": local_passwords(),
        }
    }
