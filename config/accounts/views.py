"""Two-factor pages: set up an authenticator app, and the code step after the password."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.accounts import services
from config.accounts.forms import TokenForm


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app (QR code, then a code to confirm), or see and remove the one in use."""
    enrolled = user_has_device(request.user, confirmed=True)
    required = services.two_factor_required(request.user)
    if enrolled:
        if request.method == "POST" and request.POST.get("action") == "remove":
            if required:
                messages.error(request, "Two-factor authentication is required for your role; it stays on.")
            else:
                services.remove_two_factor(user=request.user, by=request.user)
                messages.success(request, "Two-factor authentication is off.")
            return redirect("two_factor")
        return render(request, "registration/two_factor.html", {"enrolled": True, "required": required})
    device = services.pending_device(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.confirm_device(device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            messages.success(
                request, "Two-factor authentication is on. You will be asked for a code at sign-in."
            )
            return redirect(_next(request))
        form.add_error("token", "That code is not right (or has expired); try the one the app shows now.")
    context = {
        "enrolled": False,
        "required": required,
        "form": form,
        "qr": services.qr_code(device),
        "secret": _base32(device),
        "next": _next(request),
    }
    return render(request, "registration/two_factor.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the person's authenticator app."""
    if request.user.is_verified() or not user_has_device(request.user, confirmed=True):
        return redirect(_next(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for device in TOTPDevice.objects.devices_for_user(request.user, confirmed=True):
            # django-otp throttles each device: wrong codes make the next try wait longer.
            if device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                return redirect(_next(request))
        form.add_error("token", "That code is not right; wait for the next one and try again.")
    return render(request, "registration/verify.html", {"form": form, "next": _next(request)})


def _base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps accept it typed in, in groups of four."""
    from base64 import b32encode

    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
