"""Sign-in services: who must use two-factor, enrolling a device, and ending someone's sessions."""

from __future__ import annotations

from importlib import import_module

import segno
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.accounts.models import SecurityPolicy, UserSession
from config.audit import chain as audit
from config.roles import MARKETING, SALES_MANAGER, has_role

TWO_FACTOR_ROLES = (MARKETING, SALES_MANAGER)


def two_factor_required(user: User) -> bool:
    """True when the admin's policy makes this person use two-factor authentication."""
    if not SecurityPolicy.current().require_two_factor:
        return False
    return user.is_staff or has_role(user, *TWO_FACTOR_ROLES)


def two_factor_step(user: User) -> str | None:
    """What a signed-in but unverified person must do first: "verify", "enrol", or nothing."""
    if user_has_device(user, confirmed=True):
        return "verify"
    if two_factor_required(user):
        return "enrol"
    return None


def pending_device(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator being set up (the same one on every reload, so the QR code stays)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def qr_code(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an SVG data URI (the CSP allows data: images, not inline SVG styles)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def confirm_device(*, device: TOTPDevice, token: str) -> bool:
    """Confirm a pending device with a code from the app; False when the code is wrong."""
    if not device.verify_token(token.strip().replace(" ", "")):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # Only one authenticator per person: an earlier one stops working when a new one is confirmed.
        TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
        audit.record(actor=device.user, action="accounts.two_factor.enrol", obj=device.user,
                     after={"device": device.name})  # fmt: skip
    return True


def remove_two_factor(*, user: User, by: User) -> int:
    """Remove a person's authenticators (they lost the phone, or chose to stop); returns how many."""
    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        audit.record(actor=by, action="accounts.two_factor.remove", obj=user, after={"removed": removed})
    return removed


def end_sessions(*, user: User, by: User | None) -> int:
    """Sign a person out everywhere: delete every session they hold; returns how many."""
    engine = import_module(settings.SESSION_ENGINE)
    with transaction.atomic():
        keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
        for key in keys:
            engine.SessionStore(session_key=key).delete()
        UserSession.objects.filter(user=user).delete()
        audit.record(actor=by, action="accounts.end_sessions", obj=user, after={"sessions": len(keys)})
    return len(keys)
