"""Browser sign-in served by iamd itself (/signin, /signin/mfa, /console, /signout), driven over
plain HTTP with `requests` the way a browser would: cookies kept, redirects looked at one by one,
CSRF tokens read from the HTML. Users, passwords and devices are made with the root IAM client."""

from __future__ import annotations

import html
import re

import pytest
import requests

import iamd_support as S

PASSWORD = "Console-Horse-9!xy"
INCORRECT = "Your authentication information is incorrect. Please try again."
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')
ERROR_RE = re.compile(r'<p role="alert" id="error">([^<]*)</p>')


def csrf_of(resp: requests.Response) -> str:
    m = CSRF_RE.search(resp.text)
    assert m, f"no CSRF field in {resp.text!r}"
    return html.unescape(m.group(1))


def error_of(resp: requests.Response) -> str | None:
    m = ERROR_RE.search(resp.text)
    return html.unescape(m.group(1)) if m else None


def set_cookie_headers(resp: requests.Response, name: str) -> list[str]:
    """The raw Set-Cookie header values for cookie `name` (requests folds them, urllib3 does not)."""
    return [v for v in resp.raw.headers.getlist("Set-Cookie") if v.startswith(f"{name}=")]


def assert_flags(set_cookie: str) -> None:
    attributes = [a.strip() for a in set_cookie.split(";")]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in attributes, f"{flag} missing in {set_cookie!r}"


class Browser:
    """A requests.Session that never follows redirects, so each hop can be checked."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.endpoint + path, allow_redirects=False, timeout=60)

    def post(self, path: str, form: dict) -> requests.Response:
        return self.http.post(self.endpoint + path, data=form, allow_redirects=False, timeout=60)

    def sign_in(self, user: str, password: str = PASSWORD, account: str = S.ACCOUNT_ID) -> requests.Response:
        page = self.get("/signin")
        assert page.status_code == 200, page.text
        form = {"csrf": csrf_of(page), "account_id": account, "user_name": user, "password": password}
        return self.post("/signin", form)

    def submit_code(self, code: str, serial: str | None = None) -> requests.Response:
        page = self.get("/signin/mfa")
        assert page.status_code == 200, page.text
        form = {"csrf": csrf_of(page), "code": code}
        if serial:
            form["serial"] = serial
        return self.post("/signin/mfa", form)

    @property
    def session_id(self) -> str | None:
        return self.http.cookies.get("iamd_session")


@pytest.fixture
def browser(endpoint) -> Browser:
    return Browser(endpoint)


@pytest.fixture
def console_user(iam, make_user):
    """A user with a console password and no MFA device."""
    user = make_user("cu")
    iam.create_login_profile(UserName=user.name, Password=PASSWORD, PasswordResetRequired=False)
    return user


@pytest.fixture
def mfa_console_user(iam, user_with_device):
    """(user, device, code): a user with a password and an enabled device, plus the next code."""
    user, dev, pair = user_with_device("cm")
    iam.create_login_profile(UserName=user.name, Password=PASSWORD, PasswordResetRequired=False)
    # Enable accepted the pair ending at pair.step; sign-in takes one step of drift, so the next
    # step's code is valid right away.
    return user, dev, dev.totp.code_at_step(pair.step + 1)


def test_password_only_sign_in_without_mfa(iam, browser, console_user):
    page = browser.get("/signin")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Content-Type"].startswith("text/html")
    [csrf_cookie] = set_cookie_headers(page, "iamd_csrf")
    assert_flags(csrf_cookie)

    form = {"csrf": csrf_of(page), "account_id": S.ACCOUNT_ID, "user_name": console_user.name, "password": PASSWORD}
    r = browser.post("/signin", form)
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/console"
    [cookie] = set_cookie_headers(r, "iamd_session")
    assert_flags(cookie)
    assert "Secure" not in cookie  # plain HTTP

    console = browser.get("/console")
    assert console.status_code == 200
    assert console.headers["Cache-Control"] == "no-store"
    assert f'<dd id="user">{console_user.name}</dd>' in console.text
    assert console_user.arn in console.text
    assert '<dd id="mfa">no</dd>' in console.text

    used = iam.get_user(UserName=console_user.name)["User"].get("PasswordLastUsed")
    assert used is not None, "PasswordLastUsed is set by a console sign-in"
    S.assert_recent(used)


def test_mfa_user_needs_the_code(browser, mfa_console_user):
    user, dev, code = mfa_console_user
    r = browser.sign_in(user.name)
    assert r.status_code == 303
    assert r.headers["Location"] == "/signin/mfa"
    awaiting = browser.session_id
    assert awaiting

    # The password alone opens no console.
    console = browser.get("/console")
    assert console.status_code == 303
    assert console.headers["Location"] == "/signin/mfa"

    form = browser.get("/signin/mfa")
    assert dev.serial in form.text
    r = browser.submit_code(code)
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/console"
    [cookie] = set_cookie_headers(r, "iamd_session")
    assert_flags(cookie)
    assert browser.session_id != awaiting, "a new session id after MFA"

    console = browser.get("/console")
    assert console.status_code == 200
    assert f'<dd id="user">{user.name}</dd>' in console.text
    assert '<dd id="mfa">yes, at' in console.text

    stale = Browser(browser.endpoint)
    stale.http.cookies.set("iamd_session", awaiting)
    assert stale.get("/console").headers["Location"] == "/signin"


def test_wrong_code_gives_no_session_and_looks_like_a_wrong_password(browser, endpoint, mfa_console_user):
    user, dev, _code = mfa_console_user
    browser.sign_in(user.name)
    wrong = browser.submit_code(dev.totp.invalid_code())
    assert browser.get("/console").headers["Location"] == "/signin/mfa"

    others = [
        Browser(endpoint).sign_in(user.name, password="Wrong-Horse-9!xy"),
        Browser(endpoint).sign_in(S.unique("nobody")),
        Browser(endpoint).sign_in(user.name, account="000000000000"),
    ]
    for r in [wrong, *others]:
        assert r.status_code == 401
        assert error_of(r) == INCORRECT
        assert r.headers["Cache-Control"] == "no-store"
        assert not set_cookie_headers(r, "iamd_session")


def test_a_code_is_accepted_once(endpoint, mfa_console_user):
    user, _dev, code = mfa_console_user
    first = Browser(endpoint)
    first.sign_in(user.name)
    assert first.submit_code(code).headers["Location"] == "/console"

    second = Browser(endpoint)
    assert second.sign_in(user.name).headers["Location"] == "/signin/mfa"
    r = second.submit_code(code)
    assert r.status_code == 401
    assert error_of(r) == INCORRECT
    assert second.get("/console").headers["Location"] == "/signin/mfa"


def test_csrf_token_required(browser, endpoint, console_user):
    page = browser.get("/signin")
    csrf = csrf_of(page)
    creds = {"account_id": S.ACCOUNT_ID, "user_name": console_user.name, "password": PASSWORD}

    assert browser.post("/signin", creds).status_code == 403
    assert browser.post("/signin", {**creds, "csrf": "A" * 43}).status_code == 403
    # The field without the matching cookie (a cross-site form cannot read or set it).
    assert Browser(endpoint).post("/signin", {**creds, "csrf": csrf}).status_code == 403
    assert browser.session_id is None

    r = browser.post("/signin", {**creds, "csrf": csrf})
    assert r.headers["Location"] == "/console"
    console = browser.get("/console")
    assert browser.post("/signout", {}).status_code == 403
    assert browser.post("/signout", {"csrf": csrf}).status_code == 403, "the session has its own token"
    assert browser.get("/console").status_code == 200, "still signed in"

    r = browser.post("/signout", {"csrf": csrf_of(console)})
    assert r.status_code == 303
    assert r.headers["Location"] == "/signin"
    assert browser.session_id is None
    assert browser.get("/console").headers["Location"] == "/signin"


def test_escapes_what_the_user_typed(browser):
    r = browser.sign_in('"><script>alert(1)</script>', account="<b>1</b>")
    assert r.status_code == 401
    assert "<script>alert(1)" not in r.text and "<b>1</b>" not in r.text
