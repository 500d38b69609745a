"""A reranking server on loopback for the tests: TEI's `POST /rerank` at its base URL and the Cohere-style
`POST /v1/rerank` at base/v1, scoring with a cross-encoder run in process; `fault` makes it misbehave."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from indexer.rerank.base import Reranker

KEY = "k3y-secret"


class RerankServer:
    """TEI at `base`, Cohere-style at `base/v1`; `fault` makes it misbehave."""

    def __init__(self, model: Reranker) -> None:
        self.model = model
        self.fault = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {KEY}" or server.fault == "401":
                    return self._send(401, b'{"error": "bad key"}')
                if server.fault == "notjson":
                    return self._send(200, b"<html>busy</html>")
                if self.path == "/rerank":
                    scores = server.model.score(body["query"], body["texts"])
                    out: Any = [{"index": i, "score": s} for i, s in sorted(enumerate(scores), key=lambda t: -t[1])]
                elif self.path == "/v1/rerank":
                    scores = server.model.score(body["query"], body["documents"])
                    out = {"results": [{"index": i, "relevance_score": s} for i, s in enumerate(scores)]}
                else:
                    return self._send(404, b"{}")
                if server.fault == "fewer":
                    out = out[:-1] if isinstance(out, list) else {"results": out["results"][:-1]}
                return self._send(200, json.dumps(out).encode())

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
