"""The designers' gallery in the browser: it renders, and its samples stay still (no htmx)."""
from pathlib import Path

PARTIALS = Path(__file__).resolve().parents[2] / "portal" / "partials"


def test_gallery_shows_every_fragment_and_sends_nothing(portal):
    page = portal.page
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    portal.goto("/galeria")
    names = page.eval_on_selector_all("[data-fragment]", "sections => sections.map(s => s.dataset.fragment)")
    assert sorted(names) == sorted(path.stem for path in PARTIALS.glob("*.html"))
    for name in names:  # each section is labelled by its heading
        label = page.get_attribute(f"#g-{name}", "aria-labelledby")
        assert page.inner_text(f"#{label}") == f"{name}.html"
    page.wait_for_timeout(1500)  # the lock sample's countdown ticks, but it never polls
    assert not [url for url in requests if "/bloqueo" in url or "/entrar" in url]
    assert page.is_visible("#g-forgot-user-notice dialog")
    portal.shot("gallery")
