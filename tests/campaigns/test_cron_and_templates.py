"""Cron expressions in a time zone, and sandboxed templates (no database needed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from segmint.campaigns.cron import parse_cron
from segmint.campaigns.messages import Draft, render_for
from segmint.campaigns.templates import (
    RenderError,
    RenderLimit,
    check_body,
    check_subject,
    render,
)
from segmint.campaigns.tracking import Links
from segmint.errors import InvalidInput

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 10 * * 1-5", "2026-11-28T12:00", "2026-11-30T09:00"),  # Saturday -> Monday 10:00 CET
        ("*/15 * * * *", "2026-11-28T12:07", "2026-11-28T12:15"),
        ("30 2 * * *", "2026-03-28T12:00", "2026-03-30T00:30"),  # 29 March 02:30 does not exist
        ("0 2 * * *", "2026-10-24T12:00", "2026-10-25T00:00"),  # 02:00 twice: the first one
        ("0 9 1 jan,jul *", "2026-11-28T12:00", "2027-01-01T08:00"),
        ("0 0 13 * fri", "2026-11-28T12:00", "2026-12-03T23:00"),  # the 13th or any Friday
        ("0 12 29 2 *", "2026-11-28T12:00", "2028-02-29T11:00"),
        ("0 0 * * 7", "2026-11-28T12:00", "2026-11-28T23:00"),  # 7 is Sunday
        ("0 12 * * *", "2026-11-28T12:00:00.5", "2026-11-29T11:00"),  # strictly after
        ("0 9 */2 * mon", "2026-11-29T12:00", "2026-11-30T08:00"),  # a stepped day is restricted
        ("0 0 * * 1-1/4", "2026-12-02T12:00", "2026-12-06T23:00"),  # Mondays only, not Fridays
        ("0 0 31 11 thu", "2026-11-28T12:00", "2027-11-03T23:00"),  # no 31 November: Thursdays
        # Daylight saving in Paris: 02:00-02:59 is skipped on 29 March 2026 and repeated (CEST,
        # then CET) on 25 October 2026.
        ("*/30 * * * *", "2026-03-29T00:40", "2026-03-29T01:00"),  # 02:00 and 02:30 do not exist
        ("0 2,3 * * *", "2026-03-28T12:00", "2026-03-29T01:00"),  # 02:00 skipped, 03:00 runs
        ("0 2 * * *", "2026-10-25T00:00", "2026-10-26T01:00"),  # not again at the second 02:00
        ("30 * * * *", "2026-10-25T00:40", "2026-10-25T02:30"),  # nor at the second 02:30
        ("*/15 * * * *", "2026-10-25T01:10", "2026-10-25T02:00"),  # inside the repeat: 03:00 CET
    ],
)
def test_next_moment(expression: str, after: str, expected: str) -> None:
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    found = parse_cron(expression).next_after(moment, PARIS)
    assert found == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 10 * *", "expected five fields"),
        ("60 * * * *", "minute: '60' is not valid; expected 0-59, a range a-b, a step */n"),
        ("0 10-8 * * *", "hour: '10-8' is not valid; expected 0-23"),  # backwards
        ("*/0 * * * *", "minute: '*/0' is not valid"),
        ("0 0 * foo *", "month: 'foo' is not valid; expected 1-12 or jan-dec"),
        ("0 0 31 2 *", "this expression never runs"),
        ("0 0 31 4,6 *", "this expression never runs"),
        ("0 0 * * * *", "expected five fields"),  # no seconds or years field
        ("@daily", "expected five fields"),
        ("0 0 L * *", "day of month: "),  # no last-day or nth-weekday extensions
        ("0 0 * * 1#2", "day of week: "),
        ("0 0 * * 5L", "day of week: "),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cron(expression)
    assert message in caught.value.message and caught.value.path == "cron"


def test_templates_render_lead_fields_escaped_and_missing_ones_empty() -> None:
    lead = {"first_name": "<Ann>", "enrichment": None, "custom": {"plan": "pro"}}
    message = render(
        "Hi {{ lead.first_name }}",
        "Hello {{ lead.first_name }} ({{ lead.custom.plan }}) at "
        "{{ lead.enrichment.company.name | default('your company') }}\n\nBye",
        {"lead": lead},
    )
    assert message.subject == "Hi <Ann>"  # a header is not HTML
    assert message.html == "<p>Hello &lt;Ann&gt; (pro) at your company</p><p>Bye</p>"
    assert message.text == "Hello <Ann> (pro) at your company\n\nBye\n"


def test_the_sandbox_keeps_templates_away_from_python() -> None:
    leaked = render("x", "{{ lead.__class__.__mro__ }}{{ ''.__class__ }}", {"lead": {}})
    assert leaked.html == ""
    with pytest.raises(RenderError):
        render(
            "x", "{{ lead.items.__globals__ }}{% for x in range(10**9) %}{% endfor %}", {"lead": {}}
        )


def test_links_are_tracked_and_errors_name_their_line() -> None:
    message = render(
        "s",
        '<p><a href="https://acme.test/a?b=1&amp;c=2">go</a> <a href="mailto:x@y">mail</a></p>',
        {},
        link=lambda url: "https://t.test/c?u=" + url,
        pixel_url="https://t.test/o.gif",
    )
    assert 'href="https://t.test/c?u=https://acme.test/a?b=1&amp;c=2"' in message.html
    assert 'href="mailto:x@y"' in message.html
    assert message.html.endswith('<img src="https://t.test/o.gif" width="1" height="1" alt="">')
    with pytest.raises(InvalidInput) as caught:
        check_body("Hello\n{% if lead.x %}\nno end")
    assert caught.value.path == "body" and caught.value.message.startswith("line 2: Unexpected end")
    with pytest.raises(InvalidInput) as caught:
        check_subject("x" * 501)
    assert caught.value.path == "subject"


def test_a_text_body_gets_paragraphs_beside_the_footer() -> None:
    draft = Draft(1, "Welcome", "Hi", "Hello {{ lead.first_name }},\n\nWelcome aboard.")
    links = Links("https://segmint.example", 1, 7, "secret")
    message = render_for(draft, {"lead": {"first_name": "Ann"}, "account": None}, links)
    assert message.html.startswith("<p>Hello Ann,</p><p>Welcome aboard.</p>")
    assert links.unsubscribe in message.html
    assert message.text.startswith("Hello Ann,\n\nWelcome aboard.\n")


def test_empty_fields_render_empty_and_take_their_default() -> None:
    lead = {"first_name": None, "last_name": "", "name": "", "company": "Initech", "custom": {}}
    message = render(
        "Hi {{ lead.first_name | default('there') }}",
        "[{{ lead.first_name }}|{{ lead.last_name | upper }}|{{ lead.first_name ~ '!' }}]"
        "[{{ lead.last_name | default('friend') }}|{{ lead.name | default('you') }}]"
        "[{{ lead.company | default('your company') }}|{{ account }}"
        "|{{ account.name | default('your team') }}]",
        {"lead": lead, "account": None},
    )
    assert message.subject == "Hi there"  # was "Hi None"
    assert message.text == "[||!][friend|you][Initech||your team]\n"


NESTED_LOOPS = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
HUGE_OUTPUT = "{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"


@pytest.mark.parametrize(
    ("subject", "body", "path", "message"),
    [
        ("Hi", NESTED_LOOPS, "body", "rendering took over 2 seconds, the limit for one message"),
        ("Hi", HUGE_OUTPUT, "body", "the rendered body is over 1,000,000 characters, the limit"),
        (HUGE_OUTPUT, "Hi", "subject", "the rendered subject is over 1,000,000 characters"),
        ("Hi", "{{ 'x' * 10**8 }}", "body", "the rendered body is over 1,000,000 characters"),
        ("Hi", "{{ 'x' | center(10**9) }}", "body", "the rendered body is over 1,000,000"),
        (
            "Hi",
            "{{ 7 ** 100000000 }}",
            "body",
            "a number in the body is over 1,000,000 binary digits",
        ),
        (
            "Hi",
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "body",
            "the rendered body is over 1,000,000 characters",
        ),
        (
            "Hi",
            "{% macro twice(n) %}{% if n %}{{ twice(n - 1) }}{{ twice(n - 1) }}{% endif %}"
            "{% endmacro %}{{ twice(60) }}",
            "body",
            "rendering took over 2 seconds",
        ),
    ],
    ids=[
        "nested-loops",
        "huge-body",
        "huge-subject",
        "repeat",
        "pad",
        "power",
        "doubling",
        "calls",
    ],
)
def test_a_render_is_bounded_in_time_and_size(
    subject: str, body: str, path: str, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(RenderLimit) as caught:
        render(subject, body, {"lead": {}})
    assert caught.value.path == path and message in str(caught.value)
    assert time.monotonic() - started < 4  # unbounded: 6 s for the loops, minutes for the rest
