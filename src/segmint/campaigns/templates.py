"""Subject and body templates: Jinja in a sandbox, over the lead's fields.

The sandbox forbids attribute access to Python internals, so a template written by any project
member cannot reach the server. Missing fields render as nothing (`lead.enrichment.company.name`
of an unenriched lead is empty, not an error); `| default("there")` supplies a fallback. The
body is HTML (autoescaped: a lead's field never injects markup); a body without block tags
(<p>, <div>, <br>...) is taken as text, its blank lines making paragraphs. Links are rewritten
to go through click tracking and an open pixel is appended, when the sender gives a tracker.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from segmint.errors import InvalidInput

SUBJECT_MAX = 500
BODY_MAX = 200_000
_BLOCK_TAG = re.compile(r"<(p|div|br|table|ul|ol|h[1-6]|html|body)\b", re.IGNORECASE)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)

_html_env = ImmutableSandboxedEnvironment(autoescape=True, undefined=ChainableUndefined)
_text_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)


@dataclass(frozen=True)
class Message:
    subject: str
    html: str
    text: str


class RenderError(Exception):
    """A template that parsed but failed for this lead (a sandbox violation, a bad filter)."""


def check_subject(text: Any, path: str = "subject") -> str:
    return _check(text, path, SUBJECT_MAX, _text_env)


def check_body(text: Any, path: str = "body") -> str:
    return _check(text, path, BODY_MAX, _html_env)


def _check(text: Any, path: str, limit: int, env: ImmutableSandboxedEnvironment) -> str:
    if not isinstance(text, str):
        raise InvalidInput("expected a template (text)", path)
    if len(text) > limit:
        raise InvalidInput(f"must be at most {limit} characters", path)
    try:
        env.parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"line {exc.lineno}: {exc.message}", path) from None
    return text


def render(
    subject: str,
    body: str,
    context: Mapping[str, Any],
    link: Callable[[str], str] | None = None,
    pixel_url: str | None = None,
    footer: str = "",
) -> Message:
    """The message for one lead; `link` maps each http(s) link to its tracked form. `footer` (a
    template too) is added after the body is judged text or HTML: its own <p> must not make a
    text body count as HTML."""
    try:
        subject_text = _text_env.from_string(subject).render(context)
        body_html = _html_env.from_string(body).render(context)
        footer_html = _html_env.from_string(footer).render(context) if footer else ""
    except (TemplateError, SecurityError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from None
    subject_text = " ".join(subject_text.split())  # a header is one line
    if not _BLOCK_TAG.search(body_html):
        body_html = _paragraphs(body_html)
    body_html += footer_html
    if link is not None:
        body_html = _HREF.sub(lambda m: _tracked(m, link), body_html)
    text = html_to_text(body_html)
    if pixel_url is not None:
        body_html += f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="">'
    return Message(subject_text, body_html, text)


def _tracked(match: re.Match[str], link: Callable[[str], str]) -> str:
    start, quote, url = match.groups()
    return f"{start}{quote}{html.escape(link(html.unescape(url)))}{quote}"


def _paragraphs(text: str) -> str:
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    return "".join("<p>" + block.replace("\n", "<br>") + "</p>" for block in blocks)


class _TextOf(HTMLParser):
    """Readable text of an HTML body: links keep their address, blocks their line breaks."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href:
            href = self._href.pop()
            if href:
                self.parts.append(f" ({href})")
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body: str) -> str:
    parser = _TextOf()
    parser.feed(body)
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
