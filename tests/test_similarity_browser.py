"""similarity.html in a real browser (headless Chromium through Debian's chromedriver, the
fixture of tests/test_report_browser.py): the page renders the top pair in the ranked table,
its side-by-side view with highlighted lines, and the not-a-verdict note; a student's hostile
comment shows as text. The screenshot is saved under tmp_path (and, when
GRADEKIT_SCREENSHOT_DIR is set, copied there: docs/staff/similarity.png was made that way)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_report_browser import browser  # noqa: F401  (the fixture)
from test_similarity import HOSTILE, small_class

from grader.similarity import command

pytestmark = pytest.mark.chromium


def test_the_report_shows_the_top_pair_side_by_side(browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    cls, _ = small_class(tmp_path)
    c, html, _ = command.run("softmax", [cls], tmp_path / "out")
    top = c.pairs[0]
    assert {top.a, top.b} == {"ada", "b_bo"} and top.flagged
    browser.set_window_size(1100, 900)
    browser.get(html.as_uri())
    first = browser.find_element(By.CSS_SELECTOR, "#pairs tbody tr")
    cells = [td.text for td in first.find_elements(By.CSS_SELECTOR, "td")]
    assert cells[:3] == ["1", top.a, top.b] and "flagged" in cells[5]
    heading = browser.find_element(By.ID, "pair-1")
    assert top.a in heading.text and top.b in heading.text
    assert browser.find_elements(By.CSS_SELECTOR, "pre.code span.hit")
    assert "Not a verdict" in browser.find_element(By.ID, "verdict-note").text
    assert HOSTILE in browser.find_element(By.TAG_NAME, "body").text   # shown, not run
    assert not browser.find_elements(By.CSS_SELECTOR, "pre.code script")

    assert [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#pairs tbody td:nth-child(7)")
            if td.text] == ["1"]                      # only the flagged pair is in a cluster

    shot = tmp_path / "similarity.png"
    browser.set_window_size(1100, 1700)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("GRADEKIT_SCREENSHOT_DIR"):
        from PIL import Image                          # a small PNG for the docs
        Image.open(shot).convert("RGB").quantize(colors=48).save(
            Path(os.environ["GRADEKIT_SCREENSHOT_DIR"]) / "similarity.png", optimize=True)
    print(f"screenshot of the similarity report: {shot}")
