"""The admin's usage page groups answers by the API token that asked for them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from api.models import ApiToken
from chat.usage import GROUPINGS, usage_report
from tests.api.conftest import api_client, token_for

# Answers run in a thread with its own connection: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_usage_can_be_grouped_by_api_token(people, policies):
    plaintext = token_for(people.reader)
    token = ApiToken.objects.get(user=people.reader)
    client = api_client(plaintext)
    for question in ("meal allowance abroad?", "receipts?"):
        response = client.post(
            "/api/corpora/policies/ask", {"question": question}, content_type="application/json"
        )
        assert response.status_code == 200, response.content

    assert GROUPINGS["api_token"].label == "API token"
    now = timezone.now()
    report = usage_report(start=now - dt.timedelta(days=1), end=now, group_by="api_token")
    rows = {row.name: row for row in report.rows}
    assert rows[token.prefix].answers == 2
