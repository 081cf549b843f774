"""A real local HTTP server that receives webhooks and can be told to misbehave."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers 200 unless told otherwise: `fail_with(status, times, body)`, `stall(seconds, times)`
    (answer only after a delay, having recorded the request), `stop()` and `start()` (the port
    refuses connections in between)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    _failures: list[tuple[int, bytes]] = field(default_factory=list)
    _stalls: list[float] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer, stall = receiver._next_answer()
                if status == 200:
                    with receiver._lock:
                        receiver.received.append(Received(dict(self.headers.items()), body))
                time.sleep(stall)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_with(self, status: int, times: int, body: bytes = b"") -> None:
        with self._lock:
            self._failures += [(status, body)] * times

    def stall(self, seconds: float, times: int) -> None:
        with self._lock:
            self._stalls += [seconds] * times

    def _next_answer(self) -> tuple[int, bytes, float]:
        with self._lock:
            status, body = self._failures.pop(0) if self._failures else (200, b"")
            stall = self._stalls.pop(0) if self._stalls else 0.0
            return status, body, stall

    def changes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [change for request in self.received for change in request.payload["changes"]]
