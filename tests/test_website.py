"""Browser checks of the built course website.

The book is built once per session (by the ``build`` fixture of conftest.py, with the same
command as ``make book``; test_leaks.py scans the same build), served from
``_build/html`` on 127.0.0.1 and opened in the system's Chromium through Playwright. The checks:
the math is typeset by the local MathJax, the figures load, every chapter's scrubbable figure
changes when its slider moves, search works, the exercise page renders, and no page loads
anything from another host (the site must work offline).

Chromium comes from the system package manager (``apt-get install chromium``): Playwright's own
browser download is not used.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import BUILD_COMMAND, Build

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"

#: Every numbered chapter (book/NN-slug.md) and every released exercise notebook.
CHAPTERS = sorted(path.stem for path in (ROOT / "book").glob("[0-9][0-9]-*.md"))
EXERCISE_NOTEBOOKS = sorted((ROOT / "exercises").glob("[0-9][0-9]-*/*.ipynb"))

LOCAL_HOST = "127.0.0.1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
#: The chapter has many equations: fewer typeset ones than this means MathJax did not run on them.
MIN_MATH = 5
#: Text that must not remain visible once MathJax has typeset the page.
RAW_TEX = ("$$", "\\begin", "\\(", "\\[")

# --------------------------------------------------------------------------------------------
# Build and serve
# --------------------------------------------------------------------------------------------


def test_book_builds(build: Build) -> None:
    assert build.returncode == 0, (
        f"`jupyter-book {' '.join(BUILD_COMMAND)}` exited with {build.returncode}; "
        f"end of its log:\n{build.tail()}"
    )


@pytest.fixture(scope="module")
def site(build: Build) -> Path:
    """The built site (the browser checks still run on it when only a warning failed the build)."""
    chapters = [f"book/{chapter}.html" for chapter in CHAPTERS]
    exercises = [f"exercises/{nb.parent.name}/{nb.stem}.html" for nb in EXERCISE_NOTEBOOKS]
    for page in ["index.html", "search.html", *chapters, *exercises]:
        if not (HTML / page).is_file():
            pytest.fail(
                f"{page} was not built (build exit code {build.returncode}):\n{build.tail()}"
            )
    return HTML


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """Serve the built site on 127.0.0.1, on a port the OS chooses."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Chromium was not found on PATH; the browser checks need it. "
            "Install it with `apt-get install chromium` (see README.md)."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


def is_local(url: str) -> bool:
    """Whether loading ``url`` stays on this machine (127.0.0.1, or a data:/blob: URL)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob"):
        return True
    return parts.scheme in ("http", "https") and parts.hostname == LOCAL_HOST


@dataclass
class Session:
    """A fresh page and everything it requested."""

    page: Page
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def external(self) -> list[str]:
        return sorted({url for url in self.requests if not is_local(url)})

    def report(self) -> str:
        return (
            f"failed requests: {self.failures or 'none'}\n"
            f"requests to other hosts: {self.external() or 'none'}"
        )

    def assert_network_clean(self) -> None:
        """No request failed and no request went to another host."""
        assert not self.failures and not self.external(), (
            f"the page's network traffic is not clean ({self.page.url}):\n{self.report()}"
        )

    def wait_for(self, expression: str, what: str, arg: object = None) -> object:
        """Wait until ``expression`` returns a truthy value and return that value."""
        try:
            handle = self.page.wait_for_function(expression, arg=arg, timeout=TIMEOUT_MS)
        except PlaywrightTimeoutError:
            handle = None  # fail outside the except block: no Playwright traceback in the report
        if handle is None:
            pytest.fail(
                f"timed out after {TIMEOUT_MS / 1000:.0f} s waiting for {what}\n{self.report()}"
            )
        return handle.json_value()

    def settle(self) -> None:
        """Wait until the fonts are loaded and the network has been idle for a moment."""
        self.wait_for("() => document.fonts.status === 'loaded'", "the web fonts")
        try:
            self.page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
            idle = True
        except PlaywrightTimeoutError:
            idle = False
        if not idle:
            pytest.fail(f"the network never became idle\n{self.report()}")


@pytest.fixture
def session(browser: Browser) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    # Never wait on the outside world: requests to other hosts are recorded, then aborted.
    context.route(lambda url: not is_local(url), lambda route: route.abort())
    page = context.new_page()
    session = Session(page)
    page.on("request", lambda request: session.requests.append(request.url))
    page.on(
        "requestfailed",
        lambda request: session.failures.append(f"{request.url} ({request.failure})"),
    )
    page.on(
        "response",
        lambda response: (
            session.failures.append(f"{response.url} (HTTP {response.status})")
            if response.status >= 400
            else None
        ),
    )
    try:
        yield session
    finally:
        context.close()


def open_page(session: Session, url: str) -> None:
    response = session.page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    assert response is not None and response.ok, f"GET {url} -> {response and response.status}"


# --------------------------------------------------------------------------------------------
# Chapter page
# --------------------------------------------------------------------------------------------

#: Resolves to "ok" once MathJax 3 has finished its startup and first typesetting of the page.
MATHJAX_DONE = """() => {
  const startup = window.MathJax && window.MathJax.startup;
  if (!startup || !startup.promise) return false;
  if (!window.__mathjaxState) {
    window.__mathjaxState = "pending";
    startup.promise.then(
      () => { window.__mathjaxState = "ok"; },
      (error) => { window.__mathjaxState = "error: " + error; },
    );
  }
  return window.__mathjaxState !== "pending" && window.__mathjaxState;
}"""

#: Makes lazy images load, then resolves once every image of the article has finished loading.
IMAGES_DONE = """(article) => {
  const images = [...article.querySelectorAll("img")];
  images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
  return images.every((img) => img.complete);
}"""

IMAGES = """(article) => [...article.querySelectorAll("img")].map((img) => ({
  src: img.getAttribute("src"),
  loaded: img.complete && img.naturalWidth > 0,
}))"""

#: The visible text of the article outside code and typeset math.
VISIBLE_PROSE = """(article) => {
  const skip = "pre, code, script, style, mjx-container, .highlight";
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || !parent.checkVisibility()) continue;
    parts.push(node.data);
  }
  return parts.join("");
}"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(base_url: str, session: Session, chapter: str) -> None:
    page = session.page
    open_page(session, f"{base_url}/book/{chapter}.html")
    article = page.locator("article.bd-article")
    try:
        mathjax = session.wait_for(MATHJAX_DONE, "MathJax to typeset the chapter")
        session.wait_for(IMAGES_DONE, "the chapter's images", arg=article.element_handle())
        session.settle()
    finally:
        # For humans: what the chapter looks like (even, and especially, when a check fails).
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{chapter}.png"), full_page=True)

    # The math is typeset by MathJax, with no TeX error and no raw TeX left on the page.
    assert mathjax == "ok", f"MathJax failed: {mathjax}"
    typeset = article.locator("mjx-container").count()
    assert typeset >= MIN_MATH, (
        f"only {typeset} typeset equations in the chapter\n{session.report()}"
    )
    errors = article.locator("mjx-merror").all_inner_texts()
    assert not errors, f"MathJax could not typeset some TeX: {errors}"
    prose = article.evaluate(VISIBLE_PROSE)
    for token in RAW_TEX:
        at = prose.find(token)
        context = " ".join(prose[max(at - 80, 0) : at + 80].split())
        assert at < 0, f"raw TeX {token!r} is visible in the chapter: …{context}…"

    # Every figure is loaded.
    images = article.evaluate(IMAGES)
    assert images, "the chapter has no image"
    broken = [image["src"] for image in images if not image["loaded"]]
    assert not broken, f"images that did not load: {broken}\n{session.report()}"

    session.assert_network_clean()


# --------------------------------------------------------------------------------------------
# Scrubbable figures
# --------------------------------------------------------------------------------------------

#: Every chapter has a figure the reader scrubs on the page, without a kernel (issue 13): a
#: player of dropout_course/scrubber.py.
SCRUBBABLE = CHAPTERS

#: Resolves to the src of the player's image once it shows a frame other than ``before``.
NEW_FRAME = """([img, before]) => {
  const src = img.getAttribute("src");
  return img.complete && img.naturalWidth > 0 && src !== before && src;
}"""


@pytest.mark.parametrize("chapter", SCRUBBABLE)
def test_moving_the_slider_changes_the_figure(
    base_url: str, session: Session, chapter: str
) -> None:
    open_page(session, f"{base_url}/book/{chapter}.html")
    player = session.page.locator("article.bd-article div.animation")
    assert player.count() >= 1, f"{chapter} has no scrubbable figure\n{session.report()}"
    image, slider = player.first.locator("img"), player.first.locator('input[type="range"]')
    assert image.get_attribute("alt"), "the player's image has no text alternative"
    assert slider.get_attribute("aria-label"), "the player's slider has no accessible name"

    handle = image.element_handle()
    shown = [session.wait_for(NEW_FRAME, "the first frame", arg=[handle, None])]
    frames = int(slider.get_attribute("max")) + 1
    assert frames >= 3, f"the slider of {chapter} has only {frames} frame(s)"
    slider.focus()
    for key in ("ArrowRight", "End"):  # one step, then the last frame, as a reader would
        slider.press(key)
        shown.append(session.wait_for(NEW_FRAME, f"a new frame after {key}", [handle, shown[-1]]))
    assert slider.input_value() == str(frames - 1), "End did not move the slider to the end"
    session.settle()
    session.assert_network_clean()


# --------------------------------------------------------------------------------------------
# Search page
# --------------------------------------------------------------------------------------------

SEARCH_QUERY = "dropout"

#: Sphinx's searchtools.js fills the summary paragraph once it has listed every result.
SEARCH_DONE = """() => {
  const summary = document.querySelector("#search-results p.search-summary");
  return summary !== null && summary.textContent.trim() !== "" && summary.textContent;
}"""


def test_search_finds_the_chapter(base_url: str, session: Session) -> None:
    open_page(session, f"{base_url}/search.html?q={SEARCH_QUERY}")
    summary = session.wait_for(SEARCH_DONE, "the search results")
    links = session.page.eval_on_selector_all(
        "#search-results ul.search li a", "links => links.map(a => a.href)"
    )
    assert links, f"searching for {SEARCH_QUERY!r} found nothing: {summary}"
    pages = {urlsplit(link).path for link in links}
    missing = [chapter for chapter in CHAPTERS if f"/book/{chapter}.html" not in pages]
    assert not missing, f"chapters not among the results: {missing} (found {sorted(pages)})"
    session.settle()
    session.assert_network_clean()


# --------------------------------------------------------------------------------------------
# Exercise page
# --------------------------------------------------------------------------------------------


def notebook_title(path: Path) -> str:
    """The first level-1 heading of a notebook's markdown cells."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            match = re.search(r"^# +(.+?)\s*$", source, flags=re.MULTILINE)
            if match:
                return match.group(1)
    raise AssertionError(f"{path} has no level-1 heading")


@pytest.mark.parametrize("notebook", EXERCISE_NOTEBOOKS, ids=lambda path: path.stem)
def test_exercise_page(base_url: str, session: Session, notebook: Path) -> None:
    title = notebook_title(notebook)
    open_page(session, f"{base_url}/exercises/{notebook.parent.name}/{notebook.stem}.html")
    heading = session.page.locator("article.bd-article h1").first
    heading.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert title in heading.inner_text(), f"the exercise page's heading is not {title!r}"
    assert title in session.page.title()
    session.settle()
    session.assert_network_clean()


# --------------------------------------------------------------------------------------------
# Static check of every page
# --------------------------------------------------------------------------------------------

#: The attributes by which a page loads a resource (``<a href>`` is a link, not a load).
RESOURCE_ATTRIBUTES = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "audio": "src",
    "video": "src",
    "embed": "src",
}


class _ResourceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.resources: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = RESOURCE_ATTRIBUTES.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.resources.append((tag, value.strip()))


def is_external(url: str) -> bool:
    """Whether a URL written in a page points at another host (relative URLs do not)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob") or not (parts.scheme or parts.netloc):
        return False
    return parts.hostname != LOCAL_HOST


def test_no_page_loads_from_another_host(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 4, f"only {len(pages)} HTML pages under {site}"
    offenders = []
    for path in pages:
        parser = _ResourceParser()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        offenders += [
            f"{path.relative_to(site)}: <{tag} {RESOURCE_ATTRIBUTES[tag]}={url!r}>"
            for tag, url in parser.resources
            if is_external(url)
        ]
    assert not offenders, "pages load resources from other hosts:\n  " + "\n  ".join(offenders)


def test_exercises_page_links_the_student_kit(site: Path) -> None:
    """The Exercises page's download link points at the student kit, copied into the site."""
    page = (site / "book" / "exercises.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]*dropout-course-exercises\.zip)"', page)
    assert links, "the Exercises page has no download link to the student kit"
    for link in links:
        target = (site / "book" / link).resolve()
        assert target.is_file() and target.stat().st_size > 0, f"{link} is not in the site"
