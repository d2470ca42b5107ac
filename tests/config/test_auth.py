from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PROTECTED = [
    "/",
    "/c/policies/",
    "/c/policies/conversations/1/",
    "/c/policies/documents/",
    "/c/policies/documents/1/",
    "/c/policies/documents/1/status",
    "/c/policies/documents/1/download",
    "/c/policies/documents/1/pages/1.png",
    "/c/policies/documents/1/delete",
    "/c/policies/conversations/1/delete",
]
PROTECTED_POSTS = [
    "/c/policies/ask",
    "/c/policies/conversations/1/ask",
    "/c/policies/conversations/1/rename",
    "/c/policies/conversations/1/delete",
    "/c/policies/messages/1/feedback",
    "/c/policies/documents/upload",
    "/c/policies/documents/1/retry",
    "/c/policies/documents/1/delete",
]


@pytest.mark.parametrize("url", PROTECTED)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("url", PROTECTED_POSTS)
def test_anonymous_posts_are_sent_to_sign_in(client, url):
    response = client.post(url, {"question": "hello"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_sign_in_page_has_labelled_fields_and_a_reset_link(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert reverse("password_reset") in html
    assert 'class="skip-link"' in html


def test_signing_in_leads_home_and_a_wrong_password_says_so(client, people):
    response = client.post(reverse("login"), {"username": "rita", "password": "wrong"})
    assert response.status_code == 200
    assert "don't match" in response.content.decode()
    response = client.post(reverse("login"), {"username": "rita", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:home")


def test_signing_in_returns_to_the_page_asked_for(client, people):
    response = client.post(
        reverse("login") + "?next=/c/policies/",
        {"username": "rita", "password": PASSWORD, "next": "/c/policies/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/c/policies/"


def test_sign_out_is_a_post_and_returns_to_sign_in(as_reader):
    assert as_reader.get(reverse("logout")).status_code == 405
    response = as_reader.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert as_reader.get("/").status_code == 302


def test_password_reset_sends_a_working_link(client, people):
    people.reader.email = "rita@example.com"
    people.reader.save()
    assert client.get(reverse("password_reset")).status_code == 200
    response = client.post(reverse("password_reset"), {"email": "rita@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert client.get(response["Location"]).status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Reset your Docent password"
    assert message.to == ["rita@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    assert "Choose a new password" in response.content.decode()
    response = client.post(
        response.redirect_chain[-1][0],
        {
            "new_password1": "a much better passphrase 42",
            "new_password2": "a much better passphrase 42",
        },
    )
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    assert Client().login(username="rita", password="a much better passphrase 42")


def test_password_reset_for_an_unknown_address_looks_the_same(client, people):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_a_broken_reset_link_says_what_to_do(client, people):
    response = client.get("/accounts/reset/MQ/bad-token/")
    assert response.status_code == 200
    assert "Send a new link" in response.content.decode()


def test_password_change_pages_use_the_site_templates(as_reader):
    response = as_reader.get(reverse("password_change"))
    assert response.status_code == 200
    assert "docent.css" in response.content.decode()
