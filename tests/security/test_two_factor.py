"""Two-factor authentication: setting up an app, the code step at sign-in, and the admin's requirement."""

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.accounts.models import SecurityPolicy
from config.audit.models import AuditEntry
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def require_two_factor(on: bool = True) -> None:
    policy = SecurityPolicy.current()
    policy.require_two_factor = on
    policy.save()


def test_setting_up_an_app_shows_a_qr_code_and_turns_on_with_a_right_code(rep):
    client = signed_in("riley")
    page = client.get("/accounts/two-factor/").content.decode()
    assert 'src="data:image/svg+xml' in page and 'data-testid="two-factor-secret"' in page
    device = TOTPDevice.objects.get(user=rep, confirmed=False)
    assert client.get("/accounts/two-factor/").status_code == 200
    assert TOTPDevice.objects.filter(user=rep).count() == 1  # a reload keeps the same QR code
    response = client.post("/accounts/two-factor/", {"token": code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    entry = AuditEntry.objects.order_by("-seq").first()
    assert (entry.action, entry.actor) == ("accounts.two_factor.enrol", rep)
    assert 'data-testid="two-factor-on"' in client.get("/accounts/two-factor/").content.decode()


def test_a_wrong_code_does_not_turn_it_on(rep):
    client = signed_in("riley")
    client.get("/accounts/two-factor/")
    response = client.post("/accounts/two-factor/", {"token": "000000"})
    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=rep, confirmed=True).exists()


def test_with_an_app_set_up_the_password_alone_does_not_open_pages(rep):
    device = enrolled(rep)
    client = signed_in("riley")
    response = client.get("/leads/queue/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/verify/")
    assert client.get("/leads/").status_code == 302
    response = client.post("/accounts/two-factor/verify/", {"token": code(device), "next": "/leads/queue/"})
    assert response.status_code == 302 and response["Location"] == "/leads/queue/"
    assert client.get("/leads/queue/").status_code == 200


def test_an_htmx_request_without_the_code_step_is_sent_to_it_as_a_whole_page(rep):
    enrolled(rep)
    client = signed_in("riley")
    response = client.get("/leads/queue/", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"] == "/accounts/two-factor/verify/"


def test_the_code_step_refuses_a_redirect_to_another_site(rep):
    device = enrolled(rep)
    client = signed_in("riley")
    response = client.post(
        "/accounts/two-factor/verify/", {"token": code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_repeated_wrong_codes_are_throttled(rep):
    device = enrolled(rep)
    client = signed_in("riley")
    client.post("/accounts/two-factor/verify/", {"token": "000000"})
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    response = client.post("/accounts/two-factor/verify/", {"token": code(device)})
    assert response.status_code == 200  # even the right code waits out the back-off (doubling per failure)
    assert client.get("/leads/").status_code == 302


@pytest.mark.parametrize(
    "who, must", [("marketer", True), ("manager", True), ("admin_user", True), ("rep", False)]
)
def test_the_admins_requirement_applies_to_marketing_sales_managers_and_staff(request, who, must):
    user = request.getfixturevalue(who)
    require_two_factor()
    client = signed_in(user.username)
    response = client.get("/leads/")
    if must:
        assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/?next=")
        assert "Your role requires two-factor" in client.get("/accounts/two-factor/").content.decode()
    else:
        assert response.status_code == 200


def test_without_the_requirement_nobody_is_asked(marketer, admin_user):
    require_two_factor(False)
    assert signed_in("maria").get("/leads/").status_code == 200
    assert signed_in("ada").get("/admin/").status_code == 200


def test_the_requirement_reaches_sessions_already_open(marketer):
    client = signed_in("maria")
    assert client.get("/leads/").status_code == 200
    require_two_factor()
    assert client.get("/leads/").status_code == 302


def test_someone_required_to_use_it_cannot_turn_it_off(marketer):
    device = enrolled(marketer)
    require_two_factor()
    client = signed_in("maria")
    client.post("/accounts/two-factor/verify/", {"token": code(device)})
    client.post("/accounts/two-factor/", {"action": "remove"})
    assert TOTPDevice.objects.filter(user=marketer, confirmed=True).exists()


def test_someone_who_chose_it_may_turn_it_off(rep):
    device = enrolled(rep)
    client = signed_in("riley")
    client.post("/accounts/two-factor/verify/", {"token": code(device)})
    client.post("/accounts/two-factor/", {"action": "remove"})
    assert not TOTPDevice.objects.filter(user=rep).exists()
    assert AuditEntry.objects.filter(action="accounts.two_factor.remove", actor=rep).exists()


def test_an_admin_resets_a_lost_phone_and_the_person_sets_it_up_again(marketer, admin_user):
    enrolled(marketer)
    require_two_factor()
    maria = signed_in("maria")
    admin = Client()
    admin.force_login(admin_user)
    TOTPDevice.objects.create(user=admin_user, name="admin phone", confirmed=True)
    session = admin.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=admin_user).persistent_id
    session.save()
    admin.post("/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [marketer.pk]})
    assert not TOTPDevice.objects.filter(user=marketer).exists()
    assert maria.get("/leads/").status_code == 302  # signed out
    again = signed_in("maria")
    assert again.get("/leads/")["Location"].startswith("/accounts/two-factor/?next=")  # set up again


def test_changing_the_policy_in_the_admin_is_audited(admin_user):
    admin = Client()
    admin.force_login(admin_user)
    SecurityPolicy.current()
    response = admin.post("/admin/accounts/securitypolicy/1/change/", {"require_two_factor": "on"})
    assert response.status_code == 302
    assert SecurityPolicy.objects.get().require_two_factor
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry.action == "accounts.securitypolicy.change"
    assert entry.details["after"] == {"require_two_factor": True}


def test_admins_never_see_another_persons_secret(rep, admin_user):
    device = enrolled(rep)
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert admin.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403  # the QR page
