from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    """E-mail, names and a `groups` claim (the provider's own groups), as Keycloak, Okta or
    Entra ID send them."""

    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "openid"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        profile = self._profiles().get(user.username, {})
        return {
            "email": user.email,
            "email_verified": profile.get("email_verified", True),
            "preferred_username": user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": sorted(user.groups.values_list("name", flat=True)),
        }

    @staticmethod
    def _profiles() -> dict[str, Any]:
        from django.conf import settings

        return {person["username"]: person for person in settings.CONFIG["people"]}
