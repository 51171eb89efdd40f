"""Two-factor in a real browser: the required enrolment with its QR code, then the code step at sign-in."""

import time
from base64 import b32decode

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from config.accounts.models import SecurityPolicy
from tests.browser.conftest import BROWSER, browser_type_launch_args  # noqa: F401  (Chromium's launch args)
from tests.factories import PASSWORD

pytestmark = BROWSER


def code_for(secret: str, *, steps_ahead: int = 0) -> str:
    key = b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def password_step(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_marketer_required_to_use_two_factor_enrols_and_then_signs_in_with_a_code(
    page, live_server, marketer
):
    policy = SecurityPolicy.current()
    policy.require_two_factor = True
    policy.save()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    password_step(page, live_server.url, "maria")
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/?next=%2F")
    expect(page.get_by_text("Your role requires two-factor authentication")).to_be_visible()
    qr = page.get_by_test_id("two-factor-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0  # the data: image loads under the CSP
    secret = page.get_by_test_id("two-factor-secret").inner_text()
    page.get_by_label("Six-digit code from your authenticator app").fill(code_for(secret))
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_test_id("home-marketer")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    password_step(page, live_server.url, "maria")
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/verify/?next=%2F")
    page.get_by_label("Six-digit code from your authenticator app").fill(code_for(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_test_id("home-marketer")).to_be_visible()
    assert violations == []
