"""A small local server speaking the OpenAI-compatible API (chat completions and embeddings).

Tests script its answers: ``server.script("chat", [500, 429, {"content": "…"}])`` makes the next
three chat calls answer 500, then 429, then a completion; ``{"tool_calls": [{"name", "arguments"}]}``
answers with tool calls, and a callable step is a scripted model deciding from the request body. ``"timeout"`` holds the request until
the client gave up. Every request is recorded (path, headers, JSON body).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def fake_vector(text: str, dimensions: int = 384) -> list[float]:
    """A deterministic vector for a text (same text, same vector)."""
    digest = hashlib.sha256(text.encode()).digest()
    values = [((digest[i % len(digest)] + i * 7) % 97) / 97.0 - 0.5 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOpenAI:
    requests: list[Recorded] = field(default_factory=list)
    scripts: dict[str, deque] = field(default_factory=lambda: {"chat": deque(), "embeddings": deque()})
    default_chat: str = "Here is what to do. [1]"
    embedding_dimensions: int = 384
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode(errors="replace")
                fake.requests.append(Recorded(self.path, dict(self.headers), body))
                if self.path.endswith("/chat/completions"):
                    kind = "chat"
                elif self.path.endswith("/embeddings"):
                    kind = "embeddings"
                else:
                    self._send(404, {"error": {"message": "unknown path"}})
                    return
                step = fake.scripts[kind].popleft() if fake.scripts[kind] else None
                if callable(step):  # a scripted model: decides from the request (messages, tools)
                    step = step(body)
                if step == "timeout":
                    fake.release.wait(5)  # hold the answer until the client has timed out
                    return
                if isinstance(step, int):
                    self._send(step, {"error": {"message": f"scripted {step}"}})
                    return
                if step == "not-json":
                    self._send_raw(200, b"<html>gateway</html>")
                    return
                if kind == "chat":
                    content = (
                        (step or {}).get("content", fake.default_chat)
                        if isinstance(step, dict)
                        else fake.default_chat
                    )
                    message: dict[str, Any] = {"role": "assistant", "content": content}
                    finish = "stop"
                    if isinstance(step, dict) and step.get("tool_calls"):
                        # Tool calling as OpenAI answers it: arguments are a JSON *string*.
                        message = {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": f"call_{index}",
                                    "type": "function",
                                    "function": {
                                        "name": call["name"],
                                        "arguments": call["arguments"]
                                        if isinstance(call["arguments"], str)
                                        else json.dumps(call["arguments"]),
                                    },
                                }
                                for index, call in enumerate(step["tool_calls"])
                            ],
                        }
                        finish = "tool_calls"
                    self._send(
                        200,
                        {
                            "id": "chatcmpl-1",
                            "object": "chat.completion",
                            "model": body.get("model"),
                            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                            "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50},
                        },
                    )
                    return
                inputs = body.get("input") or []
                inputs = [inputs] if isinstance(inputs, str) else inputs
                dimensions = (
                    (step or {}).get("dimensions", fake.embedding_dimensions)
                    if isinstance(step, dict)
                    else fake.embedding_dimensions
                )
                data = [
                    {"object": "embedding", "index": index, "embedding": fake_vector(text, dimensions)}
                    for index, text in enumerate(inputs)
                ]
                self._send(200, {"object": "list", "data": list(reversed(data)), "model": body.get("model")})

            def _send(self, status: int, payload: dict) -> None:
                self._send_raw(status, json.dumps(payload).encode(), "application/json")

            def _send_raw(self, status: int, raw: bytes, content_type: str = "text/html") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, kind: str, steps: list) -> None:
        self.scripts[kind].extend(steps)

    def calls(self, kind: str) -> list[Recorded]:
        suffix = "/chat/completions" if kind == "chat" else "/embeddings"
        return [request for request in self.requests if request.path.endswith(suffix)]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
