"""Signing in: brute-force lock-out, password rules, fresh sessions, time limits, ending sessions."""

import pytest
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.utils import timezone

from config.accounts.client_ip import client_ip
from config.accounts.middleware import AUTH_AT, SEEN_AT
from config.accounts.models import UserSession
from config.audit.models import AuditEntry
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def sign_in(client: Client, username: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_right_password_signs_in_and_starts_a_new_session(rep):
    client = Client()
    client.get(LOGIN)
    client.session.save()
    before = client.session.session_key
    response = sign_in(client, "riley")
    assert response.status_code == 302 and response["Location"] == "/"
    after = client.session.session_key
    assert after and after != before  # no session fixation: the key chosen before sign-in is dropped
    assert UserSession.objects.get(session_key=after).user == rep


def test_an_account_is_locked_after_five_wrong_passwords_even_from_other_addresses(rep):
    client = Client()
    for n in range(4):
        assert sign_in(client, "riley", "wrong-password", ip=f"10.0.0.{n}").status_code == 200
    assert sign_in(client, "riley", "wrong-password", ip="10.0.0.5").status_code == 429  # the fifth locks
    response = sign_in(client, "riley", ip="10.9.9.9")  # the right password, from a new address
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_is_locked_after_five_wrong_passwords_for_any_accounts(rep, rep2):
    client = Client()
    for name in ["a", "b", "c", "d", "e"]:
        sign_in(client, name, "wrong-password", ip="10.1.1.1")
    assert sign_in(client, "robin", ip="10.1.1.1").status_code == 429
    assert sign_in(Client(), "robin", ip="10.2.2.2").status_code == 302  # another address is not affected


def test_a_successful_sign_in_forgets_earlier_failures(rep):
    client = Client()
    for _ in range(4):
        sign_in(client, "riley", "wrong-password")
    assert sign_in(client, "riley").status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, "riley", "wrong-password")
    assert sign_in(client, "riley").status_code == 302


@pytest.mark.parametrize(
    "password, complaint",
    [("short-pw", "too short"), ("password1234", "too common"), ("12345678901234", "entirely numeric")],
)
def test_weak_passwords_are_refused(password, complaint):
    user = User(username="newperson", email="new@example.com")
    with pytest.raises(ValidationError) as refused:
        password_validation.validate_password(password, user)
    assert any(complaint in message for message in refused.value.messages)


def test_a_long_uncommon_password_is_accepted():
    assert password_validation.validate_password("lantern-orbit-quietly-47", User(username="x")) is None


def _age_session(client: Client, *, auth_ago: int, seen_ago: int) -> None:
    session = client.session
    now = int(timezone.now().timestamp())
    session[AUTH_AT], session[SEEN_AT] = now - auth_ago, now - seen_ago
    session.save()


@override_settings(SESSION_IDLE_SECONDS=600)
def test_an_idle_session_ends_and_asks_to_sign_in_again(rep):
    client = Client()
    client.force_login(rep)
    _age_session(client, auth_ago=700, seen_ago=601)
    response = client.get("/leads/queue/")
    assert response.status_code == 302 and response["Location"].startswith(f"{LOGIN}?next=")
    assert "_auth_user_id" not in client.session
    assert client.get("/leads/queue/").status_code == 302


@override_settings(SESSION_IDLE_SECONDS=600, SESSION_COOKIE_AGE=3600)
def test_a_busy_session_still_ends_at_its_maximum_length(rep):
    client = Client()
    client.force_login(rep)
    _age_session(client, auth_ago=3000, seen_ago=10)
    assert client.get("/leads/queue/").status_code == 200
    _age_session(client, auth_ago=3601, seen_ago=10)
    assert client.get("/leads/queue/").status_code == 302


@override_settings(SESSION_IDLE_SECONDS=600)
def test_activity_keeps_a_session_alive(rep):
    client = Client()
    client.force_login(rep)
    _age_session(client, auth_ago=900, seen_ago=590)
    assert client.get("/leads/queue/").status_code == 200
    assert int(timezone.now().timestamp()) - client.session[SEEN_AT] < 5  # the request counted as activity


@override_settings(SESSION_IDLE_SECONDS=600)
def test_a_page_polling_by_itself_does_not_keep_the_session_alive(rep):
    client = Client()
    client.force_login(rep)
    _age_session(client, auth_ago=900, seen_ago=590)
    since = timezone.now().isoformat()
    assert (
        client.get("/leads/queue/arrivals/", {"since": since}, headers={"HX-Request": "true"}).status_code
        == 200
    )
    assert int(timezone.now().timestamp()) - client.session[SEEN_AT] >= 590  # not counted as activity


def test_an_admin_signs_a_person_out_everywhere(rep, admin_user):
    laptop, phone = Client(), Client()
    sign_in(laptop, "riley")
    sign_in(phone, "riley", ip="10.0.0.2")
    assert laptop.get("/leads/queue/").status_code == 200
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(
        "/admin/auth/user/", {"action": "end_sessions", "_selected_action": [rep.pk]}, follow=True
    )
    assert "Ended 2 session(s) of 1 person(s)." in response.content.decode()
    assert laptop.get("/leads/queue/").status_code == 302
    assert phone.get("/leads/queue/").status_code == 302
    assert not UserSession.objects.filter(user=rep).exists()
    entry = AuditEntry.objects.order_by("-seq").first()
    assert (entry.action, entry.actor, entry.object_id) == ("accounts.end_sessions", admin_user, str(rep.pk))


def test_signing_out_forgets_the_session(rep):
    client = Client()
    sign_in(client, "riley")
    assert UserSession.objects.filter(user=rep).count() == 1
    client.post("/accounts/logout/")
    assert UserSession.objects.filter(user=rep).count() == 0


def test_people_are_deactivated_not_deleted_in_the_admin(rep, admin_user):
    admin = Client()
    admin.force_login(admin_user)
    assert admin.post(f"/admin/auth/user/{rep.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=rep.pk).exists()


@pytest.mark.parametrize(
    "proxies, forwarded, remote, expected",
    [
        (0, "1.1.1.1", "10.0.0.9", "10.0.0.9"),  # no proxy trusted: the header is ignored
        (1, "6.6.6.6, 1.1.1.1", "10.0.0.9", "1.1.1.1"),  # the client cannot push its own entry in front
        (2, "6.6.6.6, 1.1.1.1, 10.0.0.3", "10.0.0.9", "1.1.1.1"),
        (1, "", "10.0.0.9", "10.0.0.9"),
        (1, "not-an-address", "10.0.0.9", "10.0.0.9"),  # garbage never reaches the inet column
        (0, "", "", None),
    ],
)
def test_the_client_address_trusts_only_our_own_proxies(rf, settings, proxies, forwarded, remote, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert client_ip(request) == expected
