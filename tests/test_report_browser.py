"""report.html in a real browser: headless Chromium, driven by Selenium through Debian's
chromedriver (nothing is downloaded), on a small class graded by the real batch.

A TA's path through the report: sort the student x test matrix by a header click, click a
student's id in it (a real click, not a script), land on that student's drill-down page and
read a hidden test's message there, one that the student's own feedback.md never shows. The
screenshot of that page is saved and its path printed (`pytest -rP` shows it)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import batch

ROOT = Path(__file__).resolve().parent.parent
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--window-size=1300,1000")
# what the runner says for a hidden test whose function raised NotImplementedError
HIDDEN_MESSAGE = "A function this test calls is not implemented."

pytestmark = pytest.mark.chromium


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with a fresh profile, or a skip that says what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -r requirements/dev.txt)")
    from selenium.webdriver.chrome.service import Service
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not on PATH (CI installs it: apt-get install chromium)")
    if not CHROMEDRIVER.is_file():
        pytest.skip(f"{CHROMEDRIVER} is missing (CI installs it: apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = exe
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def graded_class(tmp_path) -> Path:
    """Two softmax students graded by the real batch: the reference and the untouched stub."""
    classdir = tmp_path / "class"
    for sub_id, source in (("ada", ROOT / "reference"), ("bo", ROOT / "assignments")):
        (classdir / sub_id).mkdir(parents=True)
        shutil.copy(source / "softmax" / "softmax.py", classdir / sub_id / "softmax.py")
    out = tmp_path / "out"
    df = batch.grade_batch("softmax", [classdir], out, jobs=2, progress=False).set_index("id")
    assert df.loc["ada", "total"] == 100.0 and df.loc["bo", "total"] == 0.0
    return out


def _ids(driver) -> list[str]:
    from selenium.webdriver.common.by import By
    return [row.find_element(By.CSS_SELECTOR, "td").text
            for row in driver.find_elements(By.CSS_SELECTOR, "table.matrix tbody tr")]


def test_click_from_the_matrix_to_a_hidden_tests_message(browser, graded_class, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get((graded_class / "report.html").as_uri())
    assert _ids(browser) == ["ada", "bo"]

    # the sort script runs (the page's CSP admits it by hash): total, ascending, puts bo first
    total = browser.find_element(By.XPATH, "//table[contains(@class,'matrix')]//th[.='total']")
    total.click()
    assert total.get_attribute("aria-sort") == "ascending" and _ids(browser) == ["bo", "ada"]
    total.click()
    assert _ids(browser) == ["ada", "bo"]

    link = browser.find_element(By.CSS_SELECTOR, "table.matrix tbody a[href='bo/index.html']")
    link.click()
    WebDriverWait(browser, 30).until(ec.url_contains("/bo/index.html"))
    hidden = browser.find_elements(By.XPATH, "//tr[td[3]//span[.='hidden']]")
    assert hidden, "no hidden test on the drill-down page"
    messages = [row.find_element(By.CSS_SELECTOR, "pre").text for row in hidden]
    assert HIDDEN_MESSAGE in messages
    assert HIDDEN_MESSAGE not in (graded_class / "bo" / "feedback.md").read_text()

    shot = tmp_path / "drill-down.png"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1300, min(int(height) + 100, 6000))
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot of bo's drill-down page: {shot}")
