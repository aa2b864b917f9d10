"""The console in a real browser: Debian's headless Chromium driven by Selenium, walking
"My security credentials" (/console/security) as a person would — sign in, enrol a device by
reading the secret key off the page and typing real TOTP codes, sign out, sign in with a code,
resync, remove, change the password, create an access key and use it with boto3 — under AWS's
documented self-management policy, iamd's self-service policy, and no policy at all.

Every console action is the user's own IAM operation, authorized by the user's policies exactly
as through the API; the pages show a refusal in words. Each test ends by checking that the
browser's console logged no error (a CSP violation, a failed asset, a script error).

Needs /usr/bin/chromium and /usr/bin/chromedriver (`apt-get install chromium chromium-driver`;
.ci/run installs them); skipped with that reason when they are missing."""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from pathlib import Path

import boto3
import pytest

import iamd_support as S

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="headless browser tests need /usr/bin/chromium and /usr/bin/chromedriver "
    "(apt-get install chromium chromium-driver)",
)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

PASSWORD = "Console-Horse-9!xy"
FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "policy" / "tests" / "fixtures"
# AWS's "Allows MFA-authenticated IAM users to manage their own credentials on the Security
# credentials page", verbatim (docs: aws-iam-policies.md §8.1): without MFA in the session,
# everything but enrolling a device is denied.
AWS_MANAGE_OWN_CREDENTIALS = (FIXTURES / "mfa_self_manage_credentials.json").read_text()
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,1600",
]


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One headless Chromium for the module, with a fresh profile."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The browser on iamd: navigation, forms by element id, and what the page says."""

    def __init__(self, driver, endpoint: str, shots: Path):
        self.d = driver
        self.endpoint = endpoint
        self.shots = shots

    def open(self, path: str) -> None:
        self.d.get(self.endpoint + path)

    @property
    def path(self) -> str:
        return self.d.current_url[len(self.endpoint):]

    def find(self, css: str):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list:
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def type(self, css: str, value: str, within=None) -> None:
        field = (within or self.d).find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(value)

    def submit(self, form_css: str) -> None:
        """Clicks the form's submit button and waits for the next page."""
        self.click(self.find(f"{form_css} button[type=submit]"))

    def click(self, button) -> None:
        """Clicks a submit button and waits until the next page replaced this one."""
        old = self.find("html")
        button.click()
        for _ in range(200):
            try:
                old.is_displayed()
            except Exception:  # stale: the next page is loaded
                break
            time.sleep(0.05)

    def shot(self, name: str) -> None:
        self.d.save_screenshot(str(self.shots / f"{name}.png"))

    def console_errors(self) -> list[str]:
        """SEVERE console entries, except Chromium's note on a page answered with a 4xx status
        (a refused form is shown with its operation's status, as intended)."""
        refused_page = re.compile(
            re.escape(self.endpoint) + r"/(signin|console)(?!/assets)\S* - Failed to load resource: "
            r"the server responded with a status of 4\d\d"
        )
        return [e["message"] for e in self.d.get_log("browser")
                if e["level"] == "SEVERE" and not refused_page.match(e["message"])]

    # --- flows ----------------------------------------------------------------------------

    def sign_in(self, user: str, password: str = PASSWORD) -> None:
        self.open("/signin")
        self.type("#account_id", S.ACCOUNT_ID)
        self.type("#user_name", user)
        self.type("#password", password)
        self.submit("form[action='/signin']")

    def enter_code(self, code: str) -> None:
        assert self.path == "/signin/mfa", self.path
        self.type("#code", code)
        self.submit("form[action='/signin/mfa']")

    def sign_out(self) -> None:
        self.open("/console/security")
        self.submit("#signout")
        assert self.path == "/signin", self.path

    def enrol(self, name: str, pair_of=lambda totp: totp.current_pair()) -> tuple[str, S.Totp, S.Pair]:
        """Assigns a device from the security page: reads the secret off the page (behind the
        "show secret key" toggle) and types two codes; returns serial, TOTP and the pair typed."""
        self.open("/console/security")
        self.type("#mfa-name", name)
        self.submit("#mfa-create")
        assert self.path == "/console/security/mfa", self.path
        qr = self.find("#qr").get_attribute("src")
        assert qr.startswith("data:image/png;base64,")
        png = base64.b64decode(qr.split(",", 1)[1])
        assert png.startswith(b"\x89PNG"), "the QR code is a PNG"
        secret = self.find("#secret")
        assert not secret.is_displayed(), "the secret key is shown only on request"
        self.find("#secret-toggle summary").click()
        assert secret.is_displayed()
        totp = S.Totp(secret.text.strip())
        self.shot("enrol")
        if shutil.which("zbarimg"):
            uri = S.zbar_decode(png)
            assert uri and totp.seed in uri, uri
        serial = self.text("#serial")
        pair = pair_of(totp)
        self.type("#code1", pair.code1)
        self.type("#code2", pair.code2)
        self.submit("#enable-form")
        return serial, totp, pair

    def device_row(self, serial: str):
        rows = self.all(f"#devices tr[data-serial='{serial}']")
        return rows[0] if rows else None

    def key_row(self, key_id: str):
        rows = self.all(f"#keys tr[data-key-id='{key_id}']")
        return rows[0] if rows else None


@pytest.fixture
def page(chromium, endpoint, request, tmp_path_factory):
    """The module's browser with no cookies; screenshots go to the test's output folder, and the
    test fails if the browser logged an error."""
    chromium.get(endpoint + "/health")
    chromium.delete_all_cookies()
    chromium.get_log("browser")  # drop what earlier tests left
    shots = tmp_path_factory.mktemp("screens-" + request.node.name[:40])
    p = Page(chromium, endpoint, shots)
    yield p
    errors = p.console_errors()
    assert not errors, f"browser console errors: {errors}"


@pytest.fixture
def console_user(iam):
    """console_user(policy=None) -> user name, with a password and the given inline policy."""

    def make(policy: str | None = None, prefix: str = "web") -> str:
        name = S.unique(prefix)
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password=PASSWORD)
        if policy:
            iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=policy)
        return name

    return make


def serials_of(iam, user: str) -> list[str]:
    return [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]]


# --- MFA ---------------------------------------------------------------------------------------


def test_enrol_from_the_page_then_sign_in_with_a_code(page, console_user, iam):
    user = console_user(AWS_MANAGE_OWN_CREDENTIALS)
    page.sign_in(user)
    assert page.path == "/console", "no device yet: the password alone signs in"
    page.find("#security-link").click()
    assert page.path == "/console/security"
    assert page.text("#user") == user
    assert page.text("#mfa") == "no"
    # AWS's policy without MFA: listing devices is allowed, access keys are not.
    assert page.all("#no-devices")
    refused = page.text("#keys-refused")
    assert "not authorized to perform: iam:ListAccessKeys" in refused, refused
    assert "explicit deny" in refused
    page.shot("security-without-mfa")

    serial, totp, pair = page.enrol(user)
    assert page.path == "/console/security/mfa/enable"
    assert "is assigned to you and enabled" in page.text("#mfa-notice")
    assert not page.all("#mfa-warning"), "fresh codes are in sync"
    row = page.device_row(serial)
    assert row is not None, "the new device is listed"
    enabled = iam.list_mfa_devices(UserName=user)["MFADevices"][0]["EnableDate"]
    assert row.find_element(By.CSS_SELECTOR, "time").get_attribute("datetime") == enabled.strftime("%Y-%m-%dT%H:%M:%SZ")
    page.shot("security-device-enrolled")

    page.sign_out()
    page.sign_in(user)
    assert page.path == "/signin/mfa", "with a device, the code is asked for"
    page.enter_code(totp.code_at_step(pair.step + 1))
    assert page.path == "/console"
    assert page.text("#mfa").startswith("yes")
    # Signed in with MFA, AWS's policy allows the rest.
    page.open("/console/security")
    assert page.all("#no-keys"), "access keys are listed once MFA is present"
    assert not page.all("#keys-refused")


def test_old_codes_warn_out_of_sync_then_resync_and_remove(page, console_user, iam):
    user = console_user(S.SELF_SERVICE_POLICY)
    page.sign_in(user)
    ten_minutes_ago = time.time() - 600
    serial, totp, _ = page.enrol(user, pair_of=lambda totp: totp.pair_at(ten_minutes_ago))
    warning = page.text("#mfa-warning")
    assert "about 10 minutes old" in warning and "out of sync" in warning, warning
    page.shot("security-out-of-sync")

    row = page.device_row(serial)
    pair = totp.current_pair()
    page.type("input[name=code1]", pair.code1, within=row)
    page.type("input[name=code2]", pair.code2, within=row)
    page.click(row.find_element(By.CSS_SELECTOR, "form.resync button"))
    notice = page.device_row(serial).find_element(By.CSS_SELECTOR, ".device-notice").text
    assert notice == "The device is in sync again."

    page.click(page.device_row(serial).find_element(By.CSS_SELECTOR, "form.remove button"))
    assert "was deactivated and deleted" in page.text("#mfa-notice")
    assert page.all("#no-devices")
    assert serials_of(iam, user) == []
    assert S.find_virtual(iam, serial) is None
    page.open("/console")
    assert page.path == "/console", "the browser that removed the device stays signed in"


def test_after_an_mfa_sign_in_list_resync_and_remove(page, console_user, iam, make_device):
    user = console_user(S.SELF_SERVICE_POLICY)
    device = make_device(name=user)
    pair = device.totp.current_pair(margin=10)
    iam.enable_mfa_device(UserName=user, SerialNumber=device.serial,
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    page.sign_in(user)
    page.enter_code(device.totp.code_at_step(pair.step + 1))
    page.open("/console/security")
    assert page.text("#mfa").startswith("yes")
    row = page.device_row(device.serial)
    assert row is not None
    assert row.find_element(By.CSS_SELECTOR, "time").text.endswith("Z")

    # Wrong codes: the operation's message, next to the device.
    wrong = device.totp.invalid_code()
    page.type("input[name=code1]", wrong, within=row)
    page.type("input[name=code2]", wrong, within=row)
    page.click(row.find_element(By.CSS_SELECTOR, "form.resync button"))
    error = page.device_row(device.serial).find_element(By.CSS_SELECTOR, ".device-error").text
    assert error == "Authentication code for device is not valid.", error

    # The next two codes after the one the sign-in used.
    row = page.device_row(device.serial)
    page.type("input[name=code1]", device.totp.code_at_step(pair.step + 2), within=row)
    page.type("input[name=code2]", device.totp.code_at_step(pair.step + 3), within=row)
    page.click(row.find_element(By.CSS_SELECTOR, "form.resync button"))
    assert page.device_row(device.serial).find_element(By.CSS_SELECTOR, ".device-notice").text == \
        "The device is in sync again."

    page.click(page.device_row(device.serial).find_element(By.CSS_SELECTOR, "form.remove button"))
    assert "was deactivated and deleted" in page.text("#mfa-notice")
    assert serials_of(iam, user) == []
    page.shot("security-device-removed")


def test_without_mfa_in_the_session_aws_policy_refuses_removal(page, console_user, iam):
    user = console_user(AWS_MANAGE_OWN_CREDENTIALS)
    page.sign_in(user)
    serial, _, _ = page.enrol(user)
    assert page.device_row(serial) is not None
    page.click(page.device_row(serial).find_element(By.CSS_SELECTOR, "form.remove button"))
    error = page.device_row(serial).find_element(By.CSS_SELECTOR, ".device-error").text
    assert error.startswith("Your permissions do not allow this. User: arn:aws:iam::"), error
    assert "is not authorized to perform: iam:DeactivateMFADevice" in error
    assert "with an explicit deny in an identity-based policy" in error
    assert serials_of(iam, user) == [serial], "nothing was removed"
    page.shot("security-removal-refused")


# --- Password ----------------------------------------------------------------------------------


def test_change_password(page, console_user):
    user = console_user(S.SELF_SERVICE_POLICY)
    page.sign_in(user)
    page.open("/console/security")
    assert page.all("#password-rules li"), "the account password policy is shown"

    page.type("#old_password", "Not-The-Password-1!")
    page.type("#new_password", "Brand-New-Horse-7!")
    page.type("#confirm_password", "Brand-New-Horse-7!")
    page.submit("#password-form")
    assert page.text("#password-error") == "The old password is incorrect."

    page.type("#old_password", PASSWORD)
    page.type("#new_password", "Brand-New-Horse-7!")
    page.type("#confirm_password", "Brand-New-Horse-8!")
    page.submit("#password-form")
    assert page.text("#password-error") == "The new password and its confirmation do not match."

    page.type("#old_password", PASSWORD)
    page.type("#new_password", "short")
    page.type("#confirm_password", "short")
    page.submit("#password-form")
    assert page.text("#password-error") == "Password does not conform to the account password policy."

    page.type("#old_password", PASSWORD)
    page.type("#new_password", "Brand-New-Horse-7!")
    page.type("#confirm_password", "Brand-New-Horse-7!")
    page.submit("#password-form")
    assert "Your password was changed" in page.text("#password-notice")
    page.open("/console")
    assert page.path == "/console", "this browser stays signed in"

    page.sign_out()
    page.sign_in(user, PASSWORD)
    assert page.path == "/signin" and "incorrect" in page.text("#error")
    page.sign_in(user, "Brand-New-Horse-7!")
    assert page.path == "/console"


# --- Access keys -------------------------------------------------------------------------------


def test_access_key_secret_shown_once_and_it_works(page, console_user, endpoint):
    user = console_user(S.SELF_SERVICE_POLICY)
    page.sign_in(user)
    page.open("/console/security")
    assert page.all("#no-keys")
    page.submit("#key-create")
    key_id = page.text("#new-key-id")
    secret = page.text("#new-key-secret")
    assert key_id.startswith("AKIA") and len(secret) == 40
    copy = page.find("#copy-secret")
    assert copy.is_displayed(), "the copy button appears with JavaScript"
    copy.click()
    time.sleep(0.2)
    assert copy.text in ("Copied", "Selected: press Ctrl+C to copy")
    page.shot("security-new-key")

    iam_user = S.make_client("iam", endpoint, S.Creds(key_id, secret))
    assert iam_user.get_user()["User"]["UserName"] == user

    page.open("/console/security")
    assert secret not in page.d.page_source, "the secret is shown only once"
    row = page.key_row(key_id)
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "Active"
    page.click(row.find_element(By.CSS_SELECTOR, "button.deactivate"))
    row = page.key_row(key_id)
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "Inactive"
    with pytest.raises(Exception) as refused:
        iam_user.get_user()
    assert S.error_code(refused.value) == "InvalidClientTokenId"

    page.click(row.find_element(By.CSS_SELECTOR, "button.activate"))
    assert page.key_row(key_id).find_element(By.CSS_SELECTOR, ".status").text == "Active"
    assert iam_user.get_user()["User"]["UserName"] == user

    page.click(page.key_row(key_id).find_element(By.CSS_SELECTOR, "button.delete"))
    assert f"The access key {key_id} was deleted." == page.text("#keys-notice")
    assert page.all("#no-keys")


# --- No policy ---------------------------------------------------------------------------------


def test_a_user_without_policy_can_only_see_who_it_is(page, console_user, iam):
    user = console_user(None)
    page.sign_in(user)
    page.open("/console/security")
    assert page.text("#user") == user
    arn = page.text("#arn")
    for css, action in (("#devices-refused", "ListMFADevices"), ("#keys-refused", "ListAccessKeys"),
                        ("#password-rules-refused", "GetAccountPasswordPolicy")):
        text = page.text(css)
        assert f"User: {arn} is not authorized to perform: iam:{action}" in text, text
        assert "because no identity-based policy allows" in text

    page.type("#mfa-name", user)
    page.submit("#mfa-create")
    error = page.text("#mfa-error")
    assert "not authorized to perform: iam:CreateVirtualMFADevice" in error, error
    assert S.find_virtual(iam, S.mfa_arn(user)) is None

    page.submit("#key-create")
    error = page.text("#keys-error")
    assert "not authorized to perform: iam:CreateAccessKey" in error, error
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []
    page.shot("security-no-policy")
