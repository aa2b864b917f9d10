"""The console's required MFA enrolment and administration pages in a real browser (Debian's
headless Chromium driven by Selenium, as in test_console_browser.py): a user forced to enrol
reaches no other page, enrols with real TOTP codes read off the page and ends up signed in with
MFA; an administrator deactivates another user's lost device and that user must enrol again; a
user without permissions is refused the admin pages in words; the credential report downloads as
CSV; and what users chose (a path full of markup) renders as text, never as markup.

The enrolment tests run on servers of their own started with IAMD_REQUIRE_MFA_ENROLMENT=true (its
own database on PostgreSQL), so the session server's account is never switched."""

from __future__ import annotations

import csv
import io
import time

import pytest

import iamd_support as S
from test_console_browser import CHROMIUM, CHROMEDRIVER, CHROMIUM_FLAGS, PASSWORD, Page, pytestmark  # noqa: F401

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

# Reads everything, writes nothing (the credential report is generated on reading it).
READ_ONLY = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["iam:List*","iam:Get*","iam:GenerateCredentialReport"],"Resource":"*"}]}"""
FULL = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"""
HOSTILE_PATH = "/\"'><img/src=x/onerror=alert(1)>/<script>alert(2)</script>/"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the module, saving downloads to a folder of its own."""
    profile = tmp_path_factory.mktemp("chromium-admin-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture
def on(browser, request, tmp_path_factory):
    """on(endpoint) -> a Page for that server, cookies cleared; the test fails if the browser
    logged an error on any of them."""
    pages: list[Page] = []
    shots = tmp_path_factory.mktemp("screens-" + request.node.name[:40])

    def make(endpoint: str) -> Page:
        browser.get(endpoint + "/health")
        browser.delete_all_cookies()
        browser.get_log("browser")
        p = Page(browser, endpoint, shots)
        pages.append(p)
        return p

    yield make
    for p in pages[-1:]:
        errors = p.console_errors()
        assert not errors, f"browser console errors: {errors}"


@pytest.fixture
def requiring_server(server_factory):
    """A server whose every account requires MFA enrolment, and a root IAM client for it."""
    srv = server_factory("enrol", extra_env={"IAMD_REQUIRE_MFA_ENROLMENT": "true"})
    return srv, S.make_client("iam", srv.endpoint, S.ROOT)


def console_user(iam, policy: str | None = None, prefix: str = "adm", path: str | None = None) -> str:
    name = S.unique(prefix)
    iam.create_user(UserName=name, **({"Path": path} if path else {}))
    iam.create_login_profile(UserName=name, Password=PASSWORD)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=policy)
    return name


def device_for(iam, user: str) -> tuple[str, S.Totp, S.Pair]:
    """A device named for the user, enabled through the API."""
    d = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"]
    totp = S.Totp(d["Base32StringSeed"])
    pair = totp.current_pair()
    iam.enable_mfa_device(UserName=user, SerialNumber=d["SerialNumber"],
                          AuthenticationCode1=pair.code1, AuthenticationCode2=pair.code2)
    return d["SerialNumber"], totp, pair


def enrol_on_page(page: Page) -> tuple[S.Totp, S.Pair]:
    """On the required-enrolment page: names the device (the default), reads the secret key off
    the page and types two consecutive codes."""
    assert page.path.startswith("/signin/enrol"), page.path
    assert "requires multi-factor authentication" in page.text("#required")
    page.submit("#mfa-create")
    assert page.find("#qr").get_attribute("src").startswith("data:image/png;base64,")
    page.find("#secret-toggle summary").click()
    totp = S.Totp(page.text("#secret").strip())
    page.shot("required-enrolment")
    pair = totp.current_pair()
    page.type("#code1", pair.code1)
    page.type("#code2", pair.code2)
    page.submit("#enable-form")
    return totp, pair


def test_required_enrolment_end_to_end(on, requiring_server):
    srv, iam = requiring_server
    user = console_user(iam)
    page = on(srv.endpoint)
    page.sign_in(user)
    assert page.path == "/signin/enrol", "a correct password leads straight to enrolment"
    for path in ["/console", "/console/security", "/console/admin/users", "/console/admin/report", "/signin/mfa"]:
        page.open(path)
        assert page.path == "/signin/enrol", f"{path} is not reachable before enrolment"
    # The code inputs are for a phone keyboard, with labels.
    page.submit("#mfa-create")
    for field in ("#code1", "#code2"):
        element = page.find(field)
        assert element.get_attribute("autocomplete") == "one-time-code"
        assert element.get_attribute("inputmode") == "numeric"
        assert page.find(f"label[for='{field[1:]}']").text
    # Start over (the grant allows deleting the unfinished device), then enrol for real.
    page.submit("#cancel-form")
    assert "was deleted" in page.text("#enrol-notice")
    totp, pair = enrol_on_page(page)
    assert "is assigned to you and enabled" in page.text("#enrolled")
    assert not page.all("#mfa-warning")
    page.shot("enrolled")
    page.click(page.find("#continue"))
    assert page.path == "/console"
    assert page.text("#mfa").startswith("yes"), "the enrolment counts as an MFA sign-in"
    assert [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]] == \
        [f"arn:aws:iam::{S.ACCOUNT_ID}:mfa/{user}"]

    page.sign_out()
    page.sign_in(user)
    assert page.path == "/signin/mfa"
    page.enter_code(totp.code_at_step(pair.step + 1))
    assert page.path == "/console"


def test_admin_deactivates_a_lost_device_and_the_user_enrols_again(on, requiring_server):
    srv, iam = requiring_server
    admin = console_user(iam, FULL, prefix="boss")
    _, admin_totp, admin_pair = device_for(iam, admin)
    user = console_user(iam, prefix="lost")
    serial, _, _ = device_for(iam, user)

    page = on(srv.endpoint)
    page.sign_in(admin)
    page.enter_code(admin_totp.code_at_step(admin_pair.step + 1))
    page.open("/console")
    page.click(page.find("#admin-link"))
    assert page.path == "/console/admin/users"
    row = page.find(f"#users tr[data-user='{user}']")
    assert row.find_element(By.CSS_SELECTOR, "td.mfa").text == "1 device"
    page.shot("admin-users")
    page.click(row.find_element(By.CSS_SELECTOR, "a"))
    assert page.path == f"/console/admin/users/{user}"
    assert page.text("#user-name") == user
    page.shot("admin-user")
    page.click(page.find(f"#devices tr[data-serial='{serial}'] form.deactivate button"))
    assert "was deactivated" in page.text("#devices-notice")
    assert page.all("#no-devices")
    assert iam.list_mfa_devices(UserName=user)["MFADevices"] == []
    page.sign_out()

    # The user's next sign-in must enrol again; the deactivated device still holds the name.
    page.sign_in(user)
    assert page.path == "/signin/enrol"
    page.submit("#mfa-create")
    assert page.text("#mfa-error") == "MFA device already exists."
    page.submit("#leftover-form")
    assert "was deleted" in page.text("#enrol-notice")
    enrol_on_page(page)
    assert "is assigned to you and enabled" in page.text("#enrolled")
    assert len(iam.list_mfa_devices(UserName=user)["MFADevices"]) == 1


def test_a_user_without_permissions_is_refused_the_admin_pages(on, endpoint, iam):
    user = console_user(iam)
    page = on(endpoint)
    page.sign_in(user)
    page.open("/console/admin/users")
    refused = page.text("#users-refused")
    assert "Your permissions do not allow this." in refused and "iam:ListUsers" in refused, refused
    page.open("/console/admin/settings")
    assert "iam:GetAccountPasswordPolicy" in page.text("#settings-refused")
    page.open("/console/admin/report")
    assert "iam:GenerateCredentialReport" in page.text("#error")
    page.shot("admin-refused")


def test_the_credential_report_downloads_as_csv(on, endpoint, iam, browser):
    admin = console_user(iam, READ_ONLY)
    page = on(endpoint)
    page.sign_in(admin)
    page.open("/console/admin/users")
    target = browser.downloads / "credential-report.csv"
    target.unlink(missing_ok=True)
    page.find("#report-link").click()
    for _ in range(200):
        if target.exists() and target.stat().st_size > 0:
            break
        time.sleep(0.05)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert "mfa_active" in rows[0] and "password_last_used" in rows[0] and "access_key_1_last_used_date" in rows[0]
    assert rows[0]["user"] == "<root_account>"
    mine = [r for r in rows if r["user"] == admin]
    assert mine and mine[0]["password_enabled"] == "true" and mine[0]["mfa_active"] == "false"


def test_what_users_chose_renders_as_text(on, endpoint, iam, browser):
    victim = console_user(iam, prefix="xss", path=HOSTILE_PATH)
    admin = console_user(iam, READ_ONLY)
    page = on(endpoint)
    page.sign_in(admin)
    for path in ["/console/admin/users", f"/console/admin/users/{victim}"]:
        page.open(path)
        time.sleep(0.2)
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text
        assert page.all("img[src='x']") == [] and page.all("main script") == [], "no injected element"
    assert page.text("#path") == HOSTILE_PATH
    assert page.text("#arn") == f"arn:aws:iam::{S.ACCOUNT_ID}:user{HOSTILE_PATH}{victim}"
    page.shot("admin-hostile-path")
    page.open("/console/admin/users")
    assert page.find(f"#users tr[data-user='{victim}'] .path").text == HOSTILE_PATH
