"""The JSON shapes of results: what ``--json`` prints, and what the HTTP API returns.

Stable and documented in the README. A document is always shown the same way
(``doc_json``: ``document`` is its path, ``document_id`` its uid, then its title;
see ``modules.semantic_core.documents``), and so are keywords and ranked documents.
Imports nothing heavy: every type is named for type checking only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from analyzer.paths import place, storable

if TYPE_CHECKING:
    from modules.core.status import StatusReport
    from modules.semantic_core.analysis.duplicates import DuplicatesReport
    from modules.semantic_core.analysis.keywords import Keyword, KeywordsResult
    from modules.semantic_core.analysis.lines import DocumentLines, Passage
    from modules.semantic_core.analysis.service import DocumentProfile
    from modules.semantic_core.analysis.similar import SimilarHit, SimilarResult
    from modules.semantic_core.analysis.topics import TopicsResult
    from modules.semantic_core.catalog import CollectionSummary, DocumentSummary
    from modules.semantic_core.documents import DocumentRef
    from modules.semantic_core.ingest.report import IngestReport
    from modules.semantic_core.search.evaluation import EvalReport
    from modules.semantic_core.search.service import Hit, SearchResult

_DOC_KEYS = ("document", "document_id", "title")


# --- shared pieces ----------------------------------------------------------------------


def doc_json(ref: DocumentRef) -> dict[str, Any]:
    return {"document": ref.path, "document_id": ref.uid, "title": ref.title}


def ranked_json(rank: int, score: float, ref: DocumentRef) -> dict[str, Any]:
    return {"rank": rank, "score": score, **doc_json(ref)}


def keywords_list_json(keywords: Iterable[Keyword]) -> list[dict[str, Any]]:
    return [{"term": k.term, "kind": k.kind, "score": k.score} for k in keywords]


def flat_row(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A --json row as one level of columns, for CSV and TSV: nested objects become
    ``key.inner`` columns, lists their JSON text, None an empty cell."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flat_row(value, f"{name}.")
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, ensure_ascii=False, default=str)
        else:
            flat[name] = "" if value is None else value
    return flat


def _lowest(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


# --- db-status --------------------------------------------------------------------------


def status_json(report: StatusReport) -> dict[str, Any]:
    return {
        "databases": [
            {
                "name": db.name,
                "url": db.url,
                "path": db.path,
                "size_bytes": db.size_bytes,
                "wal_bytes": db.wal_bytes,
                "journal_mode": db.journal_mode,
                "schema_revision": _lowest(rev["found"] for rev in db.schema.values()),
                "code_revision": _lowest(rev["code"] for rev in db.schema.values()),
                "schema": db.schema,
                "tables": [{"name": t.name, "rows": t.rows} for t in db.tables],
                "integrity": db.integrity,
                "checked": db.checked,
                "extensions": db.extensions,
                "read_only": db.read_only is not None,
                "read_only_reason": db.read_only,
            }
            for db in report.databases
        ],
        "exposed": [
            {
                "directory": item.directory,
                "directory_open": item.directory_open,
                "files": list(item.files),
                "fix": item.fix,
            }
            for item in report.exposed
        ],
        "last_runs": [
            {
                "id": run.id,
                "command": run.command,
                "status": run.status,
                "exit_code": run.exit_code,
                "started_at": run.started_at,
                "ended_at": run.ended_at,
            }
            for run in report.recent_runs
        ],
    }


# --- ingest and eval --------------------------------------------------------------------


def ingest_json(report: IngestReport) -> dict[str, Any]:
    return {
        **report.summary(),
        "problems": [
            {"path": storable(p.path), "status": p.status, "reason": p.reason}
            for p in report.problems
        ],
        "hints": ingest_hints(report),
    }


def ingest_hints(report: IngestReport) -> list[str]:
    """What the person may want to do next, in words (text and JSON alike)."""
    hints = []
    if report.interrupted:
        hints.append(
            "interrupted: the documents counted above are stored; "
            "run the same command again to finish"
        )
    if report.vanished:
        files = "file" if report.vanished == 1 else "files"
        hints.append(
            f"{report.vanished} known {files} vanished from disk and stay in the index; "
            "run again with --prune to remove them"
        )
    return hints


def eval_json(report: EvalReport) -> dict[str, Any]:
    return {
        "dataset": report.dataset,
        "collection": report.collection,
        "documents": report.documents,
        "qrels": report.qrels,
        "ingest_seconds": round(report.ingest_seconds, 2),
        "modes": [asdict(m) for m in report.modes],
    }


# --- query ------------------------------------------------------------------------------


def search_json(result: SearchResult) -> dict[str, Any]:
    return {
        "query": result.query,
        "mode": result.mode,
        "collection": result.collection,
        "seconds": round(result.seconds, 4),
        "results": [hit_json(hit) for hit in result.hits],
    }


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        **ranked_json(hit.rank, hit.score, hit.document),
        "location": place(hit.document.path, hit.line, hit.page),  # absolute: opens anywhere
        "line": hit.line,
        "page": hit.page,
        "text_line": hit.text_line,
        "text_lines": [hit.line_start, hit.line_end],
        "copies": [doc_json(ref) for ref in hit.copies],
        "heading": hit.heading,
        "snippet": hit.snippet,
        "highlights": [list(span) for span in hit.highlights],
        "signals": {
            name: {"rank": signal.rank, "score": signal.score}
            for name, signal in hit.signals.items()
        },
    }


def batch_line_json(query_id: str, result: SearchResult) -> dict[str, Any]:
    """One line of ``query --batch``: the ranking alone."""
    return {
        "query_id": query_id,
        "query": result.query,
        "results": [
            {
                "rank": hit.rank,
                "document": hit.document.path,
                "document_id": hit.document.uid,
                "score": hit.score,
            }
            for hit in result.hits
        ],
    }


# --- analysis ---------------------------------------------------------------------------


def similar_json(result: SimilarResult) -> dict[str, Any]:
    return {
        "collection": result.collection,
        **doc_json(result.document),
        "results": similar_hits_json(result.hits),
    }


def similar_hits_json(hits: Iterable[SimilarHit]) -> list[dict[str, Any]]:
    return [ranked_json(h.rank, h.score, h.document) for h in hits]


def duplicates_json(report: DuplicatesReport) -> dict[str, Any]:
    return {
        "collection": report.collection,
        "threshold": report.threshold,
        "signal": report.signal,
        "documents": report.documents,
        "seconds": {name: round(value, 4) for name, value in report.timings.items()},
        "pairs": [
            {
                "score": p.score,
                "kind": p.kind,
                "cluster": p.cluster,
                "first": doc_json(p.first),
                "second": doc_json(p.second),
            }
            for p in report.pairs
        ],
        "clusters": [
            {"cluster": number, "documents": [doc_json(ref) for ref in members]}
            for number, members in enumerate(report.clusters, start=1)
        ],
    }


def keywords_json(result: KeywordsResult) -> dict[str, Any]:
    named = doc_json(result.document) if result.document else dict.fromkeys(_DOC_KEYS)
    return {
        "collection": result.collection,
        **named,
        "cached": result.cached,
        "keywords": keywords_list_json(result.keywords),
    }


def topics_json(result: TopicsResult) -> dict[str, Any]:
    return {
        "collection": result.collection,
        "documents": result.documents,
        "k": result.k,
        "automatic": result.automatic,
        "silhouette": result.silhouette,
        "tried": {str(k): score for k, score in result.tried.items()},
        "topics": [
            {
                "topic": t.number,
                "label": t.label,
                "size": t.size,
                "terms": keywords_list_json(t.terms),
                "representatives": [
                    {**doc_json(r.document), "score": r.score} for r in t.representatives
                ],
            }
            for t in result.topics
        ],
    }


def lines_json(found: DocumentLines) -> dict[str, Any]:
    return {
        "collection": found.collection,
        **doc_json(found.document),
        "lines": list(found.line_range) if found.line_range else None,
        "page": found.page,
        "passages": [
            {
                "line": _file_line(p, found.numbered),
                "line_end": p.line_end if found.numbered else None,
                "text_lines": [p.line_start, p.line_end],
                "heading": p.heading,
                "text": p.text,
            }
            for p in found.passages
        ],
    }


def _file_line(passage: Passage, numbered: bool) -> int | None:
    """A passage's first line in the file on disk; None where the file has no lines of
    its own (a PDF), never a line of the extracted text."""
    if passage.source_line is not None:
        return passage.source_line
    return passage.line_start if numbered else None


def profile_json(profile: DocumentProfile) -> dict[str, Any]:
    stats = profile.statistics
    stored = profile.duplicates
    return {
        "collection": profile.collection,
        **doc_json(profile.document),
        "format": profile.format,
        "size_bytes": profile.size_bytes,
        "metadata": profile.metadata,
        "ingested_at": profile.created_at.isoformat(),
        "updated_at": profile.updated_at.isoformat(),
        "statistics": {
            "characters": stats.characters,
            "words": stats.words,
            "chunks": stats.chunks,
            "sentences": stats.sentences,
            "language": stats.language,
        },
        "keywords": keywords_list_json(profile.keywords),
        "summary": profile.summary,
        "duplicates": None
        if stored is None
        else {
            "computed_at": stored.computed_at.isoformat(),
            "threshold": stored.threshold,
            "stale": stored.stale,
            "documents": [
                {**doc_json(d.other), "score": d.score, "kind": d.kind} for d in stored.duplicates
            ],
        },
        "similar": similar_hits_json(profile.similar),
    }


# --- collections, documents, remove, drop -------------------------------------------------


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def collection_json(summary: CollectionSummary) -> dict[str, Any]:
    return {
        "collection": summary.name,
        "model": summary.model,
        "documents": summary.documents,
        "chunks": summary.chunks,
        "last_ingest": _time(summary.last_ingest),
    }


def collections_json(summaries: Iterable[CollectionSummary]) -> dict[str, Any]:
    return {"collections": [collection_json(s) for s in summaries]}


def documents_json(collection: str, documents: Iterable[DocumentSummary]) -> dict[str, Any]:
    return {
        "collection": collection,
        "documents": [
            {
                **doc_json(d.ref),
                "format": d.format,
                "chunks": d.chunks,
                "ingested": _time(d.ingested),
            }
            for d in documents
        ],
    }


def removed_json(collection: str, removed: Iterable[DocumentRef]) -> dict[str, Any]:
    return {"collection": collection, "removed": [doc_json(ref) for ref in removed]}
