"""Entry point of the Docker image: serve the seeds, or index and serve the user's mounted folder.

If `SEEKR_DOCS` (default /data/docs) is a folder with files in it, it is indexed at start into
`SEEKR_DATA_INDEX` (default /data/index, a volume, so a restart embeds only what changed) and served.
Otherwise the seeds index built into the image is served.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from service.__main__ import main


def run() -> int:
    """Choose the corpus from what is mounted, then start the service."""
    docs = Path(os.environ.get("SEEKR_DOCS", "/data/docs"))
    if docs.is_dir() and any(docs.iterdir()):
        os.environ["SEEKR_SOURCE_DIR"] = str(docs)
        os.environ["SEEKR_INDEX_DIR"] = os.environ.get("SEEKR_DATA_INDEX", "/data/index")
    return main([])


if __name__ == "__main__":
    sys.exit(run())
