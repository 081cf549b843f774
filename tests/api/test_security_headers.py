"""Security headers on every response (API, pages, errors, refusals, tracking links), and
templates that the page policy does not have to loosen for."""

from __future__ import annotations

import re

from segmint.api.headers import DOCS_POLICY, EMAIL_PREVIEW_POLICY, PAGE_POLICY, headers_for
from segmint.web.templating import HERE, STATIC
from tests.api.conftest import Api

COMMON = {"x-frame-options": "DENY", "x-content-type-options": "nosniff"}


def _headers_of(response: object) -> dict[str, str]:
    headers = response.headers  # type: ignore[attr-defined]
    return {name: headers.get(name) for name in (*COMMON, "referrer-policy")}


def test_every_kind_of_response_carries_the_security_headers(api: Api) -> None:
    responses = [
        api.get("segments"),  # API JSON
        api.get("segments/999999"),  # an API error
        api.get("segments", as_=""),  # 401
        api.client.get("/login"),  # a page
        api.client.get("/", follow_redirects=False),  # a redirect to log in
        api.client.get("/static/app.js"),  # a static file
        api.client.get("/no-such-page"),
        api.post("leads", content=b"x" * (11 * 1024 * 1024)),  # 413 from the body limit
    ]
    for response in responses:
        where = f"{response.request.url} {response.status_code}"
        assert response.headers["content-security-policy"] == PAGE_POLICY, where
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert _headers_of(response) == {**COMMON, "referrer-policy": "same-origin"}, where


def test_the_swagger_page_has_its_own_policy_and_tracking_links_send_no_referrer(
    api: Api,
) -> None:
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == DOCS_POLICY
    for asset in re.findall(r"https://[^'\"]+", docs.text):  # what the page loads is allowed
        origin = "/".join(asset.split("/")[:3])
        assert origin in DOCS_POLICY, asset
    forged = api.client.get("/t/1/1/forged/open.gif")
    assert forged.status_code == 404
    assert _headers_of(forged) == {**COMMON, "referrer-policy": "no-referrer"}


def test_templates_and_scripts_need_nothing_inline() -> None:
    """The page policy allows no inline script, style attribute or event handler."""
    for template in sorted((HERE / "templates").glob("*.html")):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", text), template.name
    for script in sorted(STATIC.glob("*.js")):
        text = script.read_text()
        assert not re.search(r"setAttribute\(\s*[\"']style|style=", text), script.name


def test_only_the_campaign_editor_allows_inline_styles_for_its_email_preview() -> None:
    def policy(path: str) -> str:
        return dict(headers_for(path))[b"content-security-policy"].decode()

    for path in ("/p/default/campaigns/new", "/p/default/campaigns/12/edit"):
        assert policy(path) == EMAIL_PREVIEW_POLICY
        assert "script-src 'self';" in policy(path)  # styles only, never scripts
    for path in ("/p/default/campaigns/12", "/p/default/campaigns", "/p/x/segments/new"):
        assert policy(path) == PAGE_POLICY
