"""Run the real service app with the fake embedder under uvicorn (for process-level tests).

Settings come from SEEKR_* environment variables, as for `python -m service`; the port from argv[1].
"""

from __future__ import annotations

import sys

import uvicorn

from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeEmbedder

if __name__ == "__main__":
    settings = Settings(model="fake-hash")
    app = create_app(settings, embedder_factory=lambda s: FakeEmbedder())
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
