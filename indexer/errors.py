"""Exceptions raised by the indexer. Each message says what is wrong and how to fix it."""


class IndexerError(Exception):
    """Base class for every error the indexer raises on purpose."""


class IndexNotFoundError(IndexerError):
    """The index directory has no committed version."""


class IndexCorruptError(IndexerError):
    """The committed version on disk is inconsistent (files missing, counts disagree)."""


class ManifestMismatchError(IndexerError):
    """The index was built with a different model or chunking than the one configured."""


class IndexLockedError(IndexerError):
    """Another writer holds the index's write lock."""


class IndexReadOnlyError(IndexerError):
    """The index directory cannot be written by this process."""


class ConfigError(IndexerError):
    """A configuration value is invalid (e.g. chunk size larger than the model accepts)."""


class ModelLoadError(IndexerError):
    """The embedding model could not be loaded offline."""


class BackendError(IndexerError):
    """The storage engine (e.g. a Milvus server) failed or cannot be reached."""


class VersionNotKeptError(IndexerError):
    """An index version asked for by number is not kept (pruned, or never committed)."""


class CollectionNotFoundError(IndexerError):
    """No collection of that name (or none this caller may see: the same answer, so names do not leak)."""


class CollectionExistsError(IndexerError):
    """A collection of that name exists with other settings."""


class CollectionNameError(IndexerError):
    """A collection name that is not letters, digits, '-' and '_'."""


class LastCollectionError(IndexerError):
    """The only collection left cannot be dropped."""


class EmbeddingServerError(IndexerError):
    """An embedding server did not answer, refused, or answered something unusable (names it, never the key)."""


class SourceUnavailableError(IndexerError):
    """A document has no original file to show: sent as text, missing from its folder, or outside it."""


class SourceChangedError(IndexerError):
    """A document's file changed since it was indexed: what it shows is not what was indexed."""


class PageNotFoundError(IndexerError):
    """A page that a document does not have, or a document without page images."""
