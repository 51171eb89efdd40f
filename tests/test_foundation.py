"""The project as a newcomer meets it: settings that fail readably, sign-in, home pages, errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from leads.models import Activity, Lead
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent

# Some tests reach their people through request.getfixturevalue, which pytest-django cannot see
# when it orders tests; the marker keeps them with the database tests.
pytestmark = pytest.mark.django_db


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"DEBUG": "0", "ALLOWED_HOSTS": "x.example"}, "SECRET_KEY must be set when DEBUG is off"),
        ({"DEBUG": "0", "SECRET_KEY": "k" * 50}, "ALLOWED_HOSTS must be set when DEBUG is off"),
        (
            {"DATABASE_URL": "mysql://root@localhost/x"},
            "DATABASE_URL must start with sqlite:/// or postgres://",
        ),
        ({"DEBUG": "maybe"}, "DEBUG must be one of 1/0"),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"},
            "Leadmatrix cannot reach its database (PostgreSQL postgres@127.0.0.1:1/nowhere)",
        ),
    ],
)
def test_it_refuses_to_start_with_one_clear_sentence(env, sentence):
    result = manage("migrate", "--check", **env)
    assert result.returncode != 0
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="a-production-secret-that-is-long-and-random-enough-1234567890",
        ALLOWED_HOSTS="leads.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("a-production-secret-from-a-file-long-and-random-enough-0987654321\n")
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY_FILE=str(secret),
        ALLOWED_HOSTS="leads.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("who", "sees", "does_not_see"),
    [
        ("marketer", "home-marketer", ["home-manager", "home-rep", "home-admin"]),
        ("manager", "home-manager", ["home-marketer", "home-rep", "home-admin"]),
        ("rep", "home-rep", ["home-marketer", "home-manager", "home-admin"]),
        ("admin_user", "home-admin", ["home-marketer", "home-manager", "home-rep"]),
        ("outsider", "home-norole", ["home-marketer", "home-manager", "home-rep", "home-admin"]),
    ],
)
def test_each_role_signs_in_and_sees_its_own_home(client, request, who, sees, does_not_see):
    user = request.getfixturevalue(who)
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-testid="{sees}"' in html
    for other in does_not_see:
        assert f'data-testid="{other}"' not in html


def test_a_wrong_password_is_refused_with_a_message(client, rep):
    response = client.post("/accounts/login/", {"username": rep.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/matrix/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/matrix/")


def test_a_person_without_a_role_gets_the_403_page(client, outsider):
    client.force_login(outsider)
    response = client.get("/matrix/")
    assert response.status_code == 403
    assert "You don't have access to this page" in response.content.decode()


def test_unknown_pages_get_the_404_page(client, rep):
    client.force_login(rep)
    response = client.get("/leads/999999/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_pages_carry_a_nonce_based_content_security_policy(client, rep):
    client.force_login(rep)
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    html = response.content.decode()
    assert html.count("<script") == html.count(f'nonce="{nonce}"')
    assert response["X-Frame-Options"] == "DENY"


def test_sign_out_ends_the_session(client, rep):
    client.force_login(rep)
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


@override_settings(DEBUG=True)
def test_seed_demo_builds_people_and_scored_leads_and_is_safe_to_rerun(db, capsys):
    call_command("seed_demo", leads=60)
    leads, activities = Lead.objects.count(), Activity.objects.count()
    assert leads == 60
    assert activities > 60 * 3
    assert not Lead.objects.filter(scored_version__isnull=True).exists()
    out = capsys.readouterr().out
    for username in ("maria", "sam", "riley", "robin", "admin"):
        assert username in out
    assert "Sign in at http://127.0.0.1:8000/ " in out
    call_command("seed_demo", leads=60, url="http://0.0.0.0:9000/")
    assert "Sign in at http://0.0.0.0:9000/ " in capsys.readouterr().out
    assert (Lead.objects.count(), Activity.objects.count()) == (leads, activities)


def test_seed_demo_refuses_to_run_in_production(db):
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="refuses to run with DEBUG off"):
        call_command("seed_demo", leads=1)
