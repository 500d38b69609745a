#!/usr/bin/env bash
# Docker smoke test: build the image, run it on a free loopback port, wait for /readyz, run README's curl
# examples and a seed question against it, check a mounted corpus is indexed once and survives a restart
# without re-embedding, stop it with SIGTERM, and report the image size and time to ready.
# Needs a Docker engine; on these machines ../shared/tools/docker-base.sh starts one (no registry access).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-seekr:smoke}
PY=${PY:-.venv/bin/python}
NAME=seekr-smoke-$$
WORK=$(mktemp -d)
VOLUME=seekr-smoke-index-$$
cleanup() {
  docker rm -f "$NAME" "$NAME-docs" "$NAME-rerank" >/dev/null 2>&1 || true
  docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1 || ! docker image inspect python:3.11-slim >/dev/null 2>&1; then
  if [ -x ../shared/tools/docker-base.sh ]; then ../shared/tools/docker-base.sh >/dev/null; fi
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() {  # $1 base url, $2 container name -> prints seconds to ready
  local start=$SECONDS
  for _ in $(seq 1 600); do
    if curl -fs "$1/readyz" >/dev/null 2>&1; then echo $((SECONDS - start)); return 0; fi
    if [ "$(docker inspect -f '{{.State.Running}}' "$2" 2>/dev/null)" != "true" ]; then
      docker logs "$2" | tail -20 >&2; echo "container $2 exited" >&2; return 1
    fi
    sleep 0.5
  done
  echo "not ready after 300 s" >&2; return 1
}

echo "== build"
build_start=$SECONDS
docker build --network host -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
echo "built in $((SECONDS - build_start)) s"

echo "== run (seeds)"
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
run_start=$SECONDS
docker run -d --name "$NAME" --network host -e PORT="$PORT" -e HOST=127.0.0.1 -e SEEKR_API_KEY=change-me \
  "$IMAGE" >/dev/null
ready=$(wait_ready "$BASE" "$NAME")
echo "ready in $ready s after docker run"

echo "== README curl examples against the container"
SEEKR_BASE_URL=$BASE "$PY" -m pytest -q -p no:cacheprovider tests/test_readme.py

echo "== seed question"
curl -fs "$BASE/search?q=Where+did+Wang+Yi+meet+Lavrov&k=1" | "$PY" -c '
import json, sys
hit = json.load(sys.stdin)["results"][0]
assert hit["doc_id"] == "000_27323d1700c7a7d6.txt" and "Astana" in hit["text"], hit
print("rank 1:", hit["doc_id"], "-", hit["text"][:80], "...")'
curl -fs "$BASE/" -o "$WORK/page.html" && grep -q 'id="q"' "$WORK/page.html"
curl -fs "$BASE/metrics" -o "$WORK/metrics.txt" && grep -q seekr_index_chunks "$WORK/metrics.txt"
health=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
echo "health: $health"

echo "== SIGTERM"
stop_start=$SECONDS
docker stop -t 20 "$NAME" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
# Logs go to a file first: with pipefail, `docker logs | grep -q` fails whenever grep stops reading early
# and docker logs dies of SIGPIPE, which happens or not depending on timing.
docker logs "$NAME" >"$WORK/stop.log" 2>&1
grep -q "Application shutdown complete" "$WORK/stop.log" || { echo "no clean shutdown in logs" >&2; exit 1; }
echo "stopped in $((SECONDS - stop_start)) s, exit code $code, clean shutdown logged"
docker rm "$NAME" >/dev/null

echo "== mounted corpus, persisted index"
mkdir -p "$WORK/docs"
printf 'Lighthouse keepers\n\nThe lighthouse on Skerry Rock was kept by three keepers until 1962.\n' > "$WORK/docs/lighthouse.txt"
# A scan (an image only OCR can read) and a spreadsheet-like CSV: the image reads both by default.
"$PY" -c 'import sys; from bench.samples import render_scan, scan_text; render_scan(scan_text(3), 200).save(sys.argv[1])' \
  "$WORK/docs/certificate.png"
printf 'Station,Birds counted,Keeper\nNorth cape,41,Ada Moss\nSouth spit,17,Ivo Lund\n' > "$WORK/docs/stations.csv"
# A PDF of three pages, to see one of them with a hit's passage marked.
"$PY" -c 'import sys; from pathlib import Path; from tests.viewer.pdfs import write_pdf
write_pdf(Path(sys.argv[1]), [["tide gauge datum"], ["harbour keeper logbook entries"], ["silt surge ferry"]])' \
  "$WORK/docs/handbook.pdf"
chmod -R a+rX "$WORK"
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
for attempt in first restart; do
  docker run -d --name "$NAME-docs" --network host -e PORT="$PORT" -e HOST=127.0.0.1 \
    -v "$WORK/docs:/data/docs:ro" -v "$VOLUME:/data/index" "$IMAGE" >/dev/null
  wait_ready "$BASE" "$NAME-docs" >/dev/null
  curl -fs "$BASE/search?q=Who+kept+the+lighthouse&k=1" | "$PY" -c '
import json, sys
hit = json.load(sys.stdin)["results"][0]
assert hit["doc_id"] == "lighthouse.txt", hit'
  curl -fs "$BASE/search?q=boiler+certificate+number+4103&k=1" | "$PY" -c '
import json, sys
hit = json.load(sys.stdin)["results"][0]
assert hit["doc_id"] == "certificate.png" and hit["ocr"] and hit["page"] == 1, hit'
  curl -fs "$BASE/search?q=How+many+birds+at+South+spit&k=1" | "$PY" -c '
import json, sys
hit = json.load(sys.stdin)["results"][0]
assert hit["doc_id"] == "stations.csv" and hit["rows"][0] <= 3 <= hit["rows"][1], hit'
  # The viewer: the original file byte for byte, and a hit's page as an image with its passage marked.
  curl -fs "$BASE/documents/lighthouse.txt/source" -o "$WORK/source.txt"
  cmp -s "$WORK/source.txt" "$WORK/docs/lighthouse.txt" || { echo "/source differs from the file" >&2; exit 1; }
  curl -fs "$BASE/search?q=harbour+keeper+logbook&k=1&mode=lexical" | "$PY" -c '
import json, sys
hit = json.load(sys.stdin)["results"][0]
assert hit["doc_id"] == "handbook.pdf" and hit["page"] == 2, hit
print("/documents/handbook.pdf/pages/2.png?width=600&mark=%d-%d" % (hit["start"], hit["end"]))' >"$WORK/page.url"
  curl -fs -D "$WORK/page.headers" "$BASE$(cat "$WORK/page.url")" -o "$WORK/page.png"
  grep -qi '^x-seekr-marks: text layer' "$WORK/page.headers" || { cat "$WORK/page.headers" >&2; exit 1; }
  "$PY" -c 'import sys; from PIL import Image; assert Image.open(sys.argv[1]).size[0] == 600' "$WORK/page.png"
  curl -fs "$BASE/documents/certificate.png/pages/1.png?width=300" -o "$WORK/scan.png"
  echo "$attempt start: /source and page images served"
  docker logs "$NAME-docs" >"$WORK/docs.log" 2>&1
  embedded=$(grep -o -m1 'embedded [0-9]* chunks' "$WORK/docs.log")
  echo "$attempt start: $embedded"
  if [ "$attempt" = restart ]; then [ "$embedded" = "embedded 0 chunks" ] || { echo "restart re-embedded" >&2; exit 1; }; fi
  docker stop -t 20 "$NAME-docs" >/dev/null
  docker rm "$NAME-docs" >/dev/null
done

echo "== a reranker in the image (no torch): a cross-encoder exported here to ONNX, mounted into its model cache"
"$PY" -c 'import sys; from pathlib import Path; from tests.tiny_models import make_tiny_cross_encoder
print(make_tiny_cross_encoder(Path(sys.argv[1])))' "$WORK/rerank" >"$WORK/ce.log" 2>&1 || { tail -20 "$WORK/ce.log"; exit 1; }
"$PY" -m indexer.rerank.onnx_export "$WORK/rerank/cross-encoder" "$WORK/rerank/cache" >"$WORK/export.log" 2>&1 \
  || { tail -20 "$WORK/export.log"; exit 1; }
ENTRY=$(basename "$(ls -d "$WORK"/rerank/cache/cross-encoder-*)")
chmod -R a+rX "$WORK"
docker run -d --name "$NAME-rerank" --network host -e PORT="$PORT" -e HOST=127.0.0.1 \
  -e SEEKR_RERANKER=/models/cross-encoder -v "$WORK/rerank/cross-encoder:/models/cross-encoder:ro" \
  -v "$WORK/rerank/cache/$ENTRY:/opt/seekr/models/$ENTRY:ro" "$IMAGE" >/dev/null
wait_ready "$BASE" "$NAME-rerank" >/dev/null
curl -fs "$BASE/search?q=Where+did+Wang+Yi+meet+Lavrov&k=3" | "$PY" -c '
import json, sys
body = json.load(sys.stdin)
assert body["rerank"].startswith("reranked"), body["rerank"]
assert all(h["scores"]["rerank"] is not None for h in body["results"]), body["results"]
print("reranked in the image:", body["rerank"])'
docker exec "$NAME-rerank" python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is not None)'
docker stop -t 20 "$NAME-rerank" >/dev/null

size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "== image size: $((size / 1024 / 1024)) MB ($IMAGE); ready $ready s after docker run"
echo "docker smoke: 1 passed, 0 failed"
