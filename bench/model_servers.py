"""A stand-in model server on loopback, speaking each provider's published contract with models run in process:
embedding at OpenAI's `POST /v1/embeddings`, TEI's `POST /embed` and Ollama's `POST /api/embed`; reranking at
TEI's `POST /rerank` and the Cohere-style `POST /v1/rerank`.

The tests check seekr's clients against it (and its faults); `python -m bench servers` measures what a server
adds to latency with it. Run alone: `python -m bench.model_servers --port 8089` (the bundled model).

`fault` makes it misbehave: `401`, `notjson`, `fewer` (a vector short), `nan`, `dim` (one component short),
`slow` (answers after `slow_seconds`), `flaky` (503 for the next `flaky` requests, then well), `fail_after`
(500 once `fail_after` requests were answered). `texts` counts the texts it embedded.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from indexer.embed.base import Embedder
from indexer.rerank.base import Reranker

KEY = "emb3d-s3cret"
MODEL = "minilm"


class _Quiet(ThreadingHTTPServer):
    """Clients that gave up (the timeout tests) are not errors worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class ModelServer:
    """OpenAI and Cohere-style at `base/v1`, TEI and Ollama at `base`: `embedder` embeds, `reranker` scores."""

    def __init__(self, embedder: Embedder | None = None, reranker: Reranker | None = None, port: int = 0) -> None:
        self.embedder = embedder
        self.reranker = reranker
        self.fault = ""
        self.flaky = 0
        self.fail_after = 0
        self.slow_seconds = 2.0
        self.texts = 0
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {KEY}" or server.fault == "401":
                    return self._send(401, b'{"error": "invalid api key"}')
                with server._lock:
                    server.requests += 1
                    if server.fault == "flaky" and server.flaky > 0:
                        server.flaky -= 1
                        return self._send(503, b'{"error": "overloaded"}', retry_after="0")
                    if server.fault == "fail_after":
                        if server.fail_after <= 0:
                            return self._send(500, b'{"error": "out of memory"}')
                        server.fail_after -= 1
                if server.fault == "slow":
                    time.sleep(server.slow_seconds)
                    # The client gave up long ago: answer nothing it could count (nor count it here).
                    return self._send(504, b'{"error": "too slow"}')
                if server.fault == "notjson":
                    return self._send(200, b"<html>502 Bad Gateway</html>")
                if self.path in ("/rerank", "/v1/rerank") and server.reranker is not None:
                    return self._rerank(server.reranker, body)
                if server.embedder is None:
                    return self._send(404, b"{}")
                if self.path == "/v1/embeddings":
                    texts = body["input"]
                elif self.path == "/embed":
                    texts = body["inputs"]
                elif self.path == "/api/embed":
                    texts = body["input"]
                else:
                    return self._send(404, b"{}")
                rows = server.embedder.encode(texts).tolist()
                with server._lock:
                    server.texts += len(texts)
                if server.fault == "fewer":
                    rows = rows[:-1]
                elif server.fault == "nan":
                    rows[0][0] = float("nan")
                elif server.fault == "dim":
                    rows = [r[:-1] for r in rows]
                out: Any
                if self.path == "/v1/embeddings":
                    # Served out of order, as the contract allows: `index` says where each belongs.
                    data = [{"object": "embedding", "index": i, "embedding": r} for i, r in enumerate(rows)]
                    out = {"object": "list", "data": data[::-1], "model": body["model"], "usage": {}}
                elif self.path == "/embed":
                    out = rows
                else:
                    out = {"model": body["model"], "embeddings": rows}
                return self._send(200, json.dumps(out, allow_nan=True).encode())

            def _rerank(self, reranker: Reranker, body: dict[str, Any]) -> None:
                out: Any
                if self.path == "/rerank":  # TEI: best first
                    scores = reranker.score(body["query"], body["texts"])
                    out = [{"index": i, "score": s} for i, s in sorted(enumerate(scores), key=lambda t: -t[1])]
                else:
                    scores = reranker.score(body["query"], body["documents"])
                    out = {"results": [{"index": i, "relevance_score": s} for i, s in enumerate(scores)]}
                if server.fault == "fewer":
                    out = out[:-1] if isinstance(out, list) else {"results": out["results"][:-1]}
                return self._send(200, json.dumps(out).encode())

            def _send(self, status: int, payload: bytes, retry_after: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = _Quiet(("127.0.0.1", port), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, api: str) -> str:
        """The base URL a client of `api` is given (OpenAI's ends in /v1)."""
        return f"{self.base}/v1" if api == "openai" else self.base

    def reset(self) -> None:
        """Well again, counters at zero."""
        with self._lock:
            self.fault, self.flaky, self.fail_after, self.texts, self.requests = "", 0, 0, 0, 0

    def stop(self) -> None:
        """Stop answering (connections are refused from now on)."""
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    """Serve the bundled model on 127.0.0.1:PORT until interrupted."""
    import argparse

    from indexer.embed.runtime import Runtime, load_embedder

    parser = argparse.ArgumentParser(prog="python -m bench.model_servers", description=__doc__)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--runtime", default=Runtime.onnx.value, choices=[r.value for r in Runtime])
    args = parser.parse_args()
    server = ModelServer(load_embedder(runtime=args.runtime), port=args.port)
    print(f"serving on {server.base} (key {KEY!r})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
