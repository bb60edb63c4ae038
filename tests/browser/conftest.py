"""Browser fixtures: a real `hookd serve`, Debian's headless Chromium driven by Selenium.

Nothing downloads a browser: `scripts/ensure-chromium.sh` (run by `make test`)
installs Debian's chromium and chromium-driver, and Selenium is pointed at them.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "correct horse battery staple"

if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):  # pragma: no cover
    pytest.skip(
        "needs Debian's chromium and chromium-driver (make test installs them)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

_names = itertools.count(1)


def new_browser(width: int = 1280, height: int = 900) -> WebDriver:
    """Start headless Chromium from Debian's package."""
    os.environ["SE_AVOID_STATS"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    if width < 500:  # below the smallest window Chromium makes: emulate a phone's screen
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )
    return driver


class Console:
    """A browser on hookd's console, with the few moves every test makes."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def wait(self, timeout: float = 10.0) -> WebDriverWait[WebDriver]:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05)

    def find(self, css: str) -> WebElement:
        return self.wait().until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def button(self, text: str) -> WebElement:
        xpath = f"//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']"
        return self.wait().until(ec.element_to_be_clickable((By.XPATH, xpath)))

    def click(self, text: str, *, navigates: bool = True) -> None:
        """Click a button or link; by default wait until the next page replaced this one."""
        self.driver.execute_script("window.hookdOldPage = true")
        self.button(text).click()
        if navigates:
            self.wait().until(
                lambda d: d.execute_script(
                    "return !window.hookdOldPage && document.readyState === 'complete'"
                ),
                f"clicking {text!r} never led to another page",
            )

    def has_button(self, text: str) -> bool:
        xpath = f"//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']"
        return bool(self.driver.find_elements(By.XPATH, xpath))

    def see(self, text: str, timeout: float = 10.0) -> None:
        self.wait(timeout).until(
            lambda d: text in d.find_element(By.TAG_NAME, "body").text,
            f"the page never showed {text!r}",
        )

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def fill(self, label: str, value: str) -> None:
        """Type into the input its visible label names (so every input must have one)."""
        field_id = self.find_label(label).get_attribute("for")
        element = self.driver.find_element(By.ID, str(field_id))
        element.clear()
        element.send_keys(value)

    def find_label(self, label: str) -> WebElement:
        xpath = f"//label[normalize-space(text())='{label}' or normalize-space()='{label}']"
        return self.wait().until(ec.presence_of_element_located((By.XPATH, xpath)))

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.driver.delete_all_cookies()
        self.open("/console/login")
        self.fill("Email", email)
        self.fill("Password", password)
        self.click("Sign in")
        self.see("Signed in as")

    def cookies(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.driver.get_cookies()}


@pytest.fixture(scope="module")
def hookd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookdProcess]:
    workdir: Path = tmp_path_factory.mktemp("browser")
    process = HookdProcess(f"sqlite:///{workdir / 'hookd.db'}", workdir)
    with process:
        yield process


@pytest.fixture(scope="module")
def api(hookd: HookdProcess) -> Iterator[httpx.Client]:
    with hookd.client() as client:
        yield client


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    browser = new_browser()
    yield browser
    browser.quit()


@pytest.fixture
def console(driver: WebDriver, hookd: HookdProcess) -> Console:
    driver.delete_all_cookies()
    return Console(driver, hookd.url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def make_user(api: httpx.Client) -> Callable[..., tuple[str, str]]:
    """Create a user with a password; return its e-mail and id."""

    def make(name: str = "user", admin: bool = False) -> tuple[str, str]:
        email = f"{name}{next(_names)}@example.com"
        r = api.post(
            "/v1/users", json={"email": email, "name": name, "password": PASSWORD, "admin": admin}
        )
        assert r.status_code == 201, r.text
        return email, str(r.json()["id"])

    return make


@pytest.fixture
def make_app(api: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create an app of its own for a test, with event types in two groups."""

    def make() -> dict[str, Any]:
        uid = f"shop{next(_names)}"
        r = api.post("/v1/apps", json={"uid": uid, "name": f"Shop {uid[4:]}"})
        assert r.status_code == 201, r.text
        for name, group in (
            ("job.start", "Deployment events"),
            ("job.success", "Deployment events"),
            ("problem.update", "Problem events"),
        ):
            r = api.post(
                f"/v1/apps/{uid}/event-types",
                json={"name": name, "group": group, "description": f"When a {name} happens"},
            )
            assert r.status_code == 201, r.text
        app: dict[str, Any] = api.get(f"/v1/apps/{uid}").json()
        return app

    return make
