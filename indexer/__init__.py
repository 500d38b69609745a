"""Indexer: read a folder of documents, clean and chunk them, embed the chunks, store a versioned index."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seekr")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
