"""GET /stats: what a collection is serving."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter

from indexer import __version__
from service.auth import GrantDep, ReadAccess
from service.deps import EngineDep, SearcherDep
from service.errors import error_responses
from service.schemas import SearchDefaultsOut, Stats

router = APIRouter(tags=["operations"])


@router.get(
    "/stats", response_model=Stats, responses=error_responses(401, 403, 404, 422, 503), summary="What is being served"
)
async def stats(grant: GrantDep, _: ReadAccess, searcher: SearcherDep, engine: EngineDep) -> Stats:
    """Model, index version, document and chunk counts, build time of the collection."""
    m = searcher.snapshot.manifest
    defaults = searcher.defaults
    calibration = m.calibration if engine.uses_calibration else None
    originals = engine.originals(m)
    kept = await to_thread.run_sync(originals.kept) if originals is not None else None
    return Stats(
        collection=grant.collection,
        model=m.model.id,
        dimension=m.model.dimension,
        runtime=searcher.runtime,
        index_runtime=m.model.runtime,
        backend=engine.backend_name,
        index_dir=engine.location,
        index_version=m.version,
        documents=m.counts.documents,
        chunks=m.counts.chunks,
        segments=len(m.segments),
        ann_segments=sum(1 for s in m.segments if s.hnsw),
        deleted_chunks=sum(s.deleted_chunks for s in m.segments),
        chunk_tokens=m.chunking.chunk_tokens,
        overlap_tokens=m.chunking.overlap_tokens,
        built_at=m.created_at,
        build_seconds=m.build_seconds,
        package_version=__version__,
        source_files=m.source.files if m.source else None,
        source_pages=m.source.pages if m.source else None,
        source_ocr_pages=m.source.ocr_pages if m.source else None,
        skipped=dict(m.source.skipped) if m.source else {},
        analyzer=m.lexical.analyzer,
        language=m.lexical.language,
        languages=dict(m.lexical.languages),
        model_languages=list(m.model.languages) if m.model.languages is not None else None,
        language_warning=m.language_warning(),
        keep_originals=m.keep_originals,
        original_files=kept.files if kept else None,
        original_bytes=kept.bytes if kept else None,
        search_defaults=SearchDefaultsOut(
            mode=defaults.mode,
            fusion=defaults.fusion,
            dense_weight=defaults.dense_weight,
            calibrated=calibration is not None,
            questions=calibration.questions if calibration else None,
            held_out_ndcg_at_10=calibration.held_out_ndcg_at_10 if calibration else None,
        ),
    )
