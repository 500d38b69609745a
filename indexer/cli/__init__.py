"""Command line: `python -m indexer build SRC --index DIR` and `python -m indexer query DIR "question"`.

`parser` holds the argument tree, `options` the option groups commands share and their conversion to settings,
`commands` one function per command.
"""

from __future__ import annotations

import logging
import sys

from indexer.cli.commands import COMMANDS
from indexer.cli.parser import build_parser
from indexer.errors import IndexerError
from indexer.progress import log_progress_lines


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m indexer` and the `seekr-index` script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log_progress_lines()
    try:
        return COMMANDS[args.command](args)
    except IndexerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
