"""Security headers on every response: what a browser may load, frame and tell other sites.

- Pages load scripts, styles and images from this server only (`/static`); no inline script,
  style attribute or event handler is allowed, so injected markup cannot run. The page's boot
  data is a JSON block, which is never executed.
- No site may frame a page (clickjacking): `frame-ancestors 'none'` and `X-Frame-Options`.
- `nosniff`: a CSV export or a JSON answer is never run as a script.
- Referrers stay on this site; tracking links (`/t/...`, whose URL is the recipient's signed
  credential) send none at all, not even to the site a click redirects to.
- The campaign editor shows the email as the lead sees it in a sandboxed `srcdoc` frame, which
  inherits the page's policy; emails are styled inline (the unsubscribe footer, and whatever the
  author writes), so that page alone allows inline styles (never scripts).
- `/docs` (Swagger UI) is FastAPI's page: its script and styles come from a CDN and it starts
  with an inline script, so it has a policy of its own, allowing just that.
"""

from __future__ import annotations

import re

from segmint.api.limits import App, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
EMAIL_PREVIEW_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
EMAIL_PREVIEW_PAGES = re.compile(r"^/p/[^/]+/campaigns/(new|\d+/edit)$")
SWAGGER_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {SWAGGER_CDN}; "
    f"style-src 'self' 'unsafe-inline' {SWAGGER_CDN}; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")
TRACKING_PREFIX = "/t/"


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    policy = PAGE_POLICY
    if path in DOCS_PATHS:
        policy = DOCS_POLICY
    elif EMAIL_PREVIEW_PAGES.match(path):
        policy = EMAIL_PREVIEW_POLICY
    referrer = "no-referrer" if path.startswith(TRACKING_PREFIX) else "same-origin"
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", referrer.encode()),
    ]


class SecurityHeaders:
    """Adds the headers to every HTTP response, errors and redirects included."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = [*kept, *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
