"""A body written as text keeps its paragraphs when the unsubscribe footer (HTML) is added."""

from __future__ import annotations

from segmint.campaigns.messages import Draft, render_for
from segmint.campaigns.tracking import Links


def test_a_text_body_gets_paragraphs_beside_the_footer() -> None:
    draft = Draft(1, "Welcome", "Hi", "Hello {{ lead.first_name }},\n\nWelcome aboard.")
    links = Links("https://segmint.example", 1, 7, "secret")
    message = render_for(draft, {"lead": {"first_name": "Ann"}, "account": None}, links)
    assert message.html.startswith("<p>Hello Ann,</p><p>Welcome aboard.</p>")
    assert links.unsubscribe in message.html
    assert message.text.startswith("Hello Ann,\n\nWelcome aboard.\n")
