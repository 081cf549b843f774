"""What each page of the web UI asks the API for when it opens, and what the builder asks after
a keystroke, so the bench times a page as its user waits for it ("usable within 500 ms of
navigation, the live count within 500 ms of the last keystroke").

The requests of a page are issued one after another: a browser sends several at once, so the
sum is what a page costs at worst (the builder's 350 ms debounce comes on top of its count).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx

UI_TARGET_MS: Final = 500.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    body: Any = None


def pages(slug: str, segment_id: int, segment_filter: Any, lead_id: int) -> dict[str, list[Call]]:
    """The calls of each page's script on load (web/static/*.js), in the order it makes them."""
    api = f"/api/v1/projects/{slug}"
    segment = f"{api}/segments/{segment_id}"
    first_page = {"page": 1, "per_page": 50, "sort": "-created_at"}
    filter_body = {"filter": segment_filter}
    return {
        "UI segments page": [Call("GET", f"{api}/segments", {"scope": "mine"})],
        "UI segment page": [
            Call("GET", segment),
            Call("POST", f"{api}/filters/text", body=filter_body),
            Call("GET", f"{segment}/usage"),
            Call("GET", f"{api}/leads/count"),
            Call("GET", f"{segment}/members", first_page),
            Call("GET", f"{segment}/history", {"limit": 20, "order": "desc"}),
            Call("GET", f"{segment}/analytics", {"days": 30}),
        ],
        "UI segment editor": [
            Call("GET", f"{api}/filters/vocabulary"),
            Call("GET", segment),
            *live_count(api, segment_filter),
            Call("GET", f"{api}/leads/count"),
        ],
        "UI builder live count": live_count(api, segment_filter),
        "UI leads page": [Call("GET", f"{api}/leads", first_page)],
        "UI lead page": [
            Call("GET", f"{api}/leads/{lead_id}"),
            Call("GET", f"{api}/leads/{lead_id}/segments"),
            Call("GET", f"{api}/leads/{lead_id}/events", {"limit": 50}),
        ],
        "UI scoring page": [Call("GET", f"{api}/scoring")],
        "UI lists page": [Call("GET", f"{api}/lists")],
    }


def live_count(api: str, segment_filter: Any) -> list[Call]:
    """After a keystroke: the count and sample, each row's own count, the filter as text."""
    body = {"filter": segment_filter}
    return [
        Call("POST", f"{api}/segments/preview", body=body),
        Call("POST", f"{api}/segments/preview/conditions", body=body),
        Call("POST", f"{api}/filters/text", body=body),
    ]


def loader(http: httpx.Client, calls: list[Call]) -> Callable[[], int]:
    """Issues the calls in order (each must succeed); answers how many were made."""

    def load() -> int:
        for call in calls:
            response = http.request(call.method, call.path, params=call.params, json=call.body)
            response.raise_for_status()
        return len(calls)

    return load
