# Two commands do all the set-up on a fresh machine:
#   make run    install, index seeds/, serve on $(HOST):$(PORT)
#   make test   install, lint, type-check, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
INDEX  ?= index
SRC    ?= seeds
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Offline by construction: the bundled model is read from site-packages, the hub is never asked.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install ocr-data browser index run test test-fast lint docker-smoke clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed ocr-data

# Tesseract's English language data from Debian (the tesserocr wheel carries the engine itself). More languages:
# apt-get install tesseract-ocr-deu ... and SEEKR_OCR_LANGUAGES=eng+deu.
ocr-data:
	@ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q tesseract-ocr-eng; }

# Debian's Chromium for the browser test (Playwright drives it; its own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

index: install
	$(BIN)/python -m indexer build $(SRC) --index $(INDEX)

run: index
	$(BIN)/python -m service --index $(INDEX) --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint browser
	$(BIN)/pytest -n auto

test-fast: install
	$(BIN)/pytest -n auto -m "not slow"

# Build the image, run it, check it end to end, report its size (needs Docker; see scripts/docker-smoke.sh).
docker-smoke: install
	bash scripts/docker-smoke.sh

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache .mypy_cache .ruff_cache *.egg-info
