"""A loopback stand-in for ZeroGPU's device API (the `SPACES_ZERO_DEVICE_API_URL` that the real `spaces`
package calls on a ZeroGPU Space), as `fakehub.py` is for the Hub: it records every call and grants a GPU
or refuses for quota, as told.

Endpoints, as `spaces.zero.api.APIClient` calls them: POST /startup-report (once, when the app launches),
POST /schedule (before each decorated call: its `durationSeconds` is what the call asks for), POST /allow,
POST /release, GET /queue-size. A refusal is ZeroGPU's 429 with the visitor's quota left and when it resets.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeZeroGPU:
    def __init__(self, quota_left: int = 0) -> None:
        self.quota_left = quota_left  # seconds a visitor has left today; a longer request is refused
        self.calls: list[tuple[str, dict[str, str]]] = []  # (path, query) of every request
        self.times: list[float] = []  # time.monotonic() of each request in `calls`
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if "token=" in self.path:  # a visitor the proxy vouched for: a free account, as ZeroGPU says
                    self.send_header("X-Authenticated", "regular")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> tuple[str, dict[str, str]]:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                stand_in.calls.append((url.path, query))
                stand_in.times.append(time.monotonic())
                return url.path, query

            def do_GET(self) -> None:
                path, _ = self._record()
                self._answer(200, 0.0) if path == "/queue-size" else self._answer(404, {"detail": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path, query = self._record()
                if path in ("/startup-report", "/allow", "/release"):
                    self._answer(200, {})
                elif path == "/schedule":
                    asked = int(query.get("durationSeconds", 60))
                    if asked > stand_in.quota_left:
                        self._answer(429, {"left": stand_in.quota_left, "wait": 3600})
                    else:
                        self._answer(200, {"idle": True, "nvidiaIndex": 0, "nvidiaUUID": "GPU-stand-in",
                                           "allowToken": "allow-stand-in"})
                else:
                    self._answer(404, {"detail": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True)
        self.thread.start()

    def scheduled(self) -> list[int]:
        """The duration (s) each /schedule request asked for, in order."""
        return [int(q.get("durationSeconds", -1)) for path, q in self.calls if path == "/schedule"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
