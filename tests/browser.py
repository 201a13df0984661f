"""A real headless Chromium for the console's tests: Debian's `chromium`, driven through
Debian's `chromedriver` by Selenium (scripts/test installs both when they are missing).

`Console` is what a test does as a person would: open a page, type into the field with a
given label, press a button, and wait — on a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE_WIDTH = 375

T = TypeVar("T")


def start_chromium(downloads: Path) -> WebDriver:
    """One headless Chromium; files it downloads go to `downloads`."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: scripts/test installs them "
            "(apt-get install chromium chromium-driver)"
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-GB",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return driver


@dataclass
class Console:
    driver: WebDriver
    base_url: str

    # -- moving around

    def open(self, path: str = "/ui") -> None:
        self.driver.get(self.base_url + path)

    def reset(self) -> None:
        """A fresh start: a desktop-sized window, no key, no page."""
        self.desktop()
        self.open("/ui/static/favicon.svg")  # the origin, without running the console
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get_log("browser")  # type: ignore[no-untyped-call]  # forget earlier logs

    def desktop(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def phone(self) -> None:
        """A 375 px wide screen, as a phone's."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE_WIDTH, "height": 812, "deviceScaleFactor": 2, "mobile": True},
        )

    def sign_in(self, key: str) -> None:
        self.open("/ui")
        self.type("API key", key)
        self.click("Use this key")
        self.wait_for_heading("Test a provider")

    # -- waiting

    def wait(
        self,
        condition: Callable[[], T | None],
        timeout: float = 20,
        what: str = "it",
        poll: float = 0.05,
    ) -> T:
        """`condition`'s first truthy value, asked every `poll` seconds; fails after
        `timeout` seconds with `what`."""

        def attempt(_: WebDriver) -> T | None:
            try:
                return condition()
            except (NoSuchElementException, StaleElementReferenceException):
                return None  # the page is being redrawn: ask again

        result = WebDriverWait(self.driver, timeout, poll_frequency=poll).until(
            attempt, message=f"timed out after {timeout}s waiting for {what}"
        )
        return cast(T, result)

    def wait_for_heading(self, text: str) -> None:
        self.wait(lambda: self.heading() == text, what=f"the heading {text!r}")

    def wait_for_text(self, text: str, timeout: float = 20) -> None:
        self.wait(lambda: text in self.text(), timeout, f"the text {text!r}")

    # -- reading

    def heading(self) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, "main h1").text)

    def text(self, css: str = "main") -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def control(self, label: str) -> WebElement:
        """The visible form control labelled `label` (a required field's " *" aside),
        waiting for it to appear."""

        def find() -> WebElement | None:
            for element in self.driver.find_elements(
                By.XPATH, f"//label[normalize-space(text()[1])={_xpath(label)}]"
            ):
                if element.is_displayed():
                    target = element.get_attribute("for")
                    found: WebElement = self.driver.find_element(By.ID, target)
                    return found
            return None

        return self.wait(find, what=f"a control labelled {label!r}")

    def field_error(self, label: str) -> str:
        """The error shown beside the control labelled `label` ("" when none)."""
        wrapper = self.control(label).find_element(By.XPATH, "ancestor::*[@data-field][1]")
        error = wrapper.find_element(By.CSS_SELECTOR, ".field-error")
        return str(error.text) if error.is_displayed() else ""

    def rows(self, css: str) -> list[list[str]]:
        """The cells' text of each body row of the table inside `css`."""
        return [
            [str(cell.text) for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in self.driver.find_elements(By.CSS_SELECTOR, f"{css} tbody tr")
        ]

    def unlabelled_controls(self) -> list[str]:
        """Form controls on the page that a screen reader could not name."""
        found: list[str] = self.js(
            "return [...document.querySelectorAll('input, select, textarea, button')]"
            ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
            " && !(e.tagName === 'BUTTON' && e.textContent.trim()))"
            ".map(e => e.outerHTML)"
        )
        return found

    def overflows(self) -> bool:
        """Whether the page is wider than the screen (a phone would scroll sideways)."""
        return bool(self.js("return document.documentElement.scrollWidth > window.innerWidth + 1"))

    def policy_violations(self) -> list[str]:
        """Messages the browser logged about the Content-Security-Policy or Trusted Types."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")  # type: ignore[no-untyped-call]
            if "Content Security Policy" in entry["message"] or "Trusted Type" in entry["message"]
        ]

    # -- doing

    def type(self, label: str, text: str) -> None:
        control = self.control(label)
        control.clear()
        control.send_keys(text)

    def choose(self, label: str) -> None:
        """Tick the checkbox or radio button labelled `label`."""
        control = self.control(label)
        if not control.is_selected():
            control.click()

    def select(self, label: str, option: str) -> None:
        Select(self.control(label)).select_by_visible_text(option)

    def click(self, text: str) -> None:
        """Press the visible button or follow the visible link whose text is `text`."""

        def find() -> WebElement | None:
            named = f"[normalize-space()={_xpath(text)}]"
            candidates = self.driver.find_elements(By.XPATH, f"//button{named} | //a{named}")
            return next((element for element in candidates if element.is_displayed()), None)

        self.wait(find, what=f"a button or link {text!r}").click()

    # -- pictures

    def screenshot(self, path: Path, css: str | None = None) -> Path:
        """The whole page (beyond the window), or the element `css` selects, as a PNG."""
        options: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if css is not None:
            box = self.js(
                "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}",
                css,
            )
            options["clip"] = {**box, "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", options)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _xpath(text: str) -> str:
    """`text` as an XPath string literal."""
    if "'" not in text:
        return f"'{text}'"
    return "concat(" + ', "\'", '.join(json.dumps(part) for part in text.split("'")) + ")"
