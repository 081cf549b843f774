"""Subject and body templates: Jinja in a sandbox, over the lead's fields.

The sandbox forbids attribute access to Python internals, so a template written by any project
member cannot reach the server, and a render is bounded: it stops with a RenderLimit after
RENDER_SECONDS or once its text passes RENDER_MAX_CHARS (every loop step, call and filter checks
the clock, and what they build is measured), so no template can hold a worker or fill its memory.
Missing and empty fields are undefined: they render as nothing (`lead.enrichment.company.name` of
an unenriched lead, a lead without a first name), and `| default("there")` supplies a fallback.
The body is HTML (autoescaped: a lead's field never injects markup); a body without block tags
(<p>, <div>, <br>...) is taken as text, its blank lines making paragraphs. Links are rewritten
to go through click tracking and an open pixel is appended, when the sender gives a tracker.
"""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from html.parser import HTMLParser
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from segmint.errors import InvalidInput

SUBJECT_MAX = 500
BODY_MAX = 200_000
RENDER_SECONDS = 2.0  # one message's subject, body and footer together
RENDER_MAX_CHARS = 1_000_000  # the text of a subject or body, and any value built on the way
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_PADDING_FILTERS = frozenset({"center", "indent"})
_BLOCK_TAG = re.compile(r"<(p|div|br|table|ul|ol|h[1-6]|html|body)\b", re.IGNORECASE)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


class RenderError(Exception):
    """A template that parsed but failed for this lead (a sandbox violation, a bad filter, a
    limit); `path` names the template: subject or body."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class RenderLimit(RenderError):
    """A render that ran out of time or grew too large."""


@dataclass
class _Budget:
    """The limits of the render under way (a context variable: renders run in many threads)."""

    deadline: float
    path: str = "subject"

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimit(
                f"rendering took over {RENDER_SECONDS:g} seconds, the limit for one message "
                "(a loop that runs too long?)",
                self.path,
            )

    def too_large(self) -> RenderLimit:
        return RenderLimit(
            f"the rendered {self.path} is over {RENDER_MAX_CHARS:,} characters, the limit for "
            "one message",
            self.path,
        )

    def number_too_large(self) -> RenderLimit:
        return RenderLimit(
            f"a number in the {self.path} is over {RENDER_MAX_CHARS:,} binary digits, the limit "
            "for one message",
            self.path,
        )

    def check_size(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > RENDER_MAX_CHARS:
                raise self.number_too_large()
        elif isinstance(value, (str, list, tuple, dict)) and len(value) > RENDER_MAX_CHARS:
            raise self.too_large()
        return value


_budget: ContextVar[_Budget | None] = ContextVar("segmint_render_budget", default=None)


def _checked(budget: _Budget | None, value: Any) -> Any:
    return value if budget is None else budget.check_size(value)


def _before_step() -> _Budget | None:
    budget = _budget.get()
    if budget is not None:
        budget.check_time()
    return budget


class _SizedNamespace(Namespace):
    """`namespace()`: the one place a template keeps a value from one loop step to the next,
    so the one place a value could double each step; what is stored is measured."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _checked(_budget.get(), value))


def _metered_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)  # keeps the pass_context/pass_eval_context marks Jinja reads
    def metered(*args: Any, **kwargs: Any) -> Any:
        budget = _before_step()
        if budget is not None and name in _PADDING_FILTERS:
            _refuse_widths(budget, [*args[1:], *kwargs.values()])
        return _checked(budget, function(*args, **kwargs))

    return metered


def _refuse_widths(budget: _Budget, arguments: Iterable[Any]) -> None:
    """Padding to a width allocates it at once: refused before, not measured after."""
    if any(isinstance(a, int) and a > RENDER_MAX_CHARS for a in arguments):
        raise budget.too_large()


def _empty_as_nothing(value: Any) -> Any:
    return "" if value is None else value


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, metered: each loop step, call, filter and arithmetic that can
    grow a value checks the render's budget; a lead's empty field is undefined, so it prints as
    nothing and `default` replaces it."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape, undefined=ChainableUndefined, finalize=_empty_as_nothing
        )
        del self.globals["lipsum"]  # any number of paragraphs in one call; no message needs it
        self.globals["namespace"] = _SizedNamespace
        self.filters = {name: _metered_filter(name, f) for name, f in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja has no hook on iteration: each loop's iterable is wrapped in `metered` instead.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            metered = nodes.EnvironmentAttribute("metered", lineno=loop.lineno)
            loop.iter = nodes.Call(metered, [loop.iter], [], None, None, lineno=loop.lineno)
        return tree

    def metered(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _before_step()
            yield item

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _before_step()
        pads = isinstance(getattr(obj, "__self__", None), str) and (
            getattr(obj, "__name__", "") in _PADDING_METHODS
        )
        if budget is not None and pads:
            _refuse_widths(budget, [*args, *kwargs.values()])
        return _checked(budget, super().call(context, obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _before_step()
        if budget is not None:
            _refuse_growth(budget, operator, left, right)
        return _checked(budget, super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._present(super().getattr(obj, attribute), attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._present(super().getitem(obj, argument), argument)

    def _present(self, value: Any, name: Any) -> Any:
        if value is None or (isinstance(value, str) and not value):
            return self.undefined(name=str(name))
        return value


def _refuse_growth(budget: _Budget, operator: str, left: Any, right: Any) -> None:
    """`'x' * 10**9` and `9 ** 9 ** 9` take their memory or CPU in one step: refused before."""
    numbers = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            repeats = isinstance(sequence, (str, list, tuple)) and isinstance(times, int)
            if repeats and len(sequence) * times > RENDER_MAX_CHARS:
                raise budget.too_large()
        if numbers and left.bit_length() + right.bit_length() > RENDER_MAX_CHARS:
            raise budget.number_too_large()
    grows = operator == "**" and numbers and abs(left) > 1 and right > 0
    if grows and right * math.log2(abs(left)) > RENDER_MAX_CHARS:
        raise budget.number_too_large()


_html_env = _BoundedSandbox(autoescape=True)
_text_env = _BoundedSandbox(autoescape=False)


@dataclass(frozen=True)
class Message:
    subject: str
    html: str
    text: str


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
    """The message for one lead; `link` maps each http(s) link to its tracked form; `footer`
    (a template too) is appended as HTML. Raises RenderError naming the template that failed."""
    present = {name: value for name, value in context.items() if value is not None}
    budget = _Budget(time.monotonic() + RENDER_SECONDS)
    token = _budget.set(budget)
    try:
        subject_text = _render_one(_text_env, subject, present, budget, "subject")
        body_html = _render_one(_html_env, body, present, budget, "body")
        footer_html = _render_one(_html_env, footer, present, budget, "body") if footer else ""
    finally:
        _budget.reset(token)
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


def _render_one(
    env: _BoundedSandbox, source: str, context: Mapping[str, Any], budget: _Budget, path: str
) -> str:
    """One template's text, stopped as soon as it passes the limits."""
    budget.path = path
    parts: list[str] = []
    size = 0
    try:
        for part in env.from_string(source).generate(context):
            size += len(part)
            if size > RENDER_MAX_CHARS:
                raise budget.too_large()
            budget.check_time()
            parts.append(part)
    except RenderError:
        raise
    except Exception as exc:  # a template is user code: any error is the template's
        raise RenderError(f"{type(exc).__name__}: {exc}", path) from None
    return "".join(parts)


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
