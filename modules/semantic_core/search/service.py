"""SearchService: keyword, semantic and hybrid retrieval over a collection.

Hybrid (the default) runs in two stages. First, BM25 over the FTS5 index finds
candidates; when it finds fewer than the re-rank depth (a paraphrase with no
shared word, a small corpus), the static vectors fill the list. Then the bundled
MiniLM transformer (ONNX, int8) embeds the query and, for each of the top 40
candidates, the 64-token window of its best chunk that holds the most query terms
(see ``passages``); each candidate's final score is a convex mix of its min-max
normalised BM25 score and its cosine similarity. For the top documents it also
reads a few more of their matching chunks, and a document takes the chunk with the
best mix: in a long document, the section that answers. The transformer reads a
few thousand tokens per query, so ingest never has to run it.

The mix orders the results but is scaled per query, so a hit shows, and
``min_score`` compares, a score whose meaning does not depend on the query: the
re-ranker's cosine in hybrid mode, the static cosine in semantic, BM25 in keyword.

Measured on the SciFact train split (the only data these settings were tuned on):
fusing the static vectors into the first stage by RRF lowers nDCG@10 at every
weight tried (0.699 -> 0.666 at weight 0.1), so they only fill; the min-max mix
beats RRF of the two orders (0.722 vs 0.714 at depth 20); 40 focused 64-token
windows (0.728) beat 20 whole 256-token passages (0.724) while reading at most half
the tokens; BM25's share of the mix peaks at 0.4 (0.732; 0.728 at 0.3 and at 0.5).
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analyzer.errors import UsageError
from analyzer.paths import ANY_SURROGATE
from modules.core.database.crud_service import CRUDService
from modules.semantic_core import linemap
from modules.semantic_core.collections import (
    DEFAULT_COLLECTION,
    GenerationCache,
    model_matches,
    model_mismatch,
    require_documents,
)
from modules.semantic_core.copies import SeenContent
from modules.semantic_core.db_models import Chunk, Collection, Document
from modules.semantic_core.documents import REF_COLUMNS, DocumentRef, path_pattern
from modules.semantic_core.embeddings.inputs import chunk_passage
from modules.semantic_core.embeddings.registry import ModelProvider, NamedEmbedder, Reranker
from modules.semantic_core.index.reader import SearchIndex
from modules.semantic_core.lexical import has_cjk, query_terms
from modules.semantic_core.search.fusion import (
    DEFAULT_FUSION,
    Candidate,
    FusionSettings,
    Signal,
    appended,
    best_window,
    evict_oldest,
    grouped,
    mixed,
)
from modules.semantic_core.search.modes import Mode, check_mode
from modules.semantic_core.search.passages import focused_passage
from modules.semantic_core.search.snippets import best_line, make_snippet
from modules.semantic_core.search.windows import line_windows

if TYPE_CHECKING:
    import numpy as np

# Re-rank results kept per process, by query and the exact passages read: the same
# question asked again (a repeated command, a client polling) costs nothing. Whole
# results, not passage vectors: the int8 model quantises per batch, so a passage's
# vector depends on the passages encoded with it, and a result must not depend on
# which queries came before it.
RERANK_CACHE_ENTRIES = 256
# What a hit shows of its chunk.
HIT_COLUMNS = [
    "id",
    "document_id",
    "line_start",
    "line_end",
    "heading",
    "text",
    "source_line",
    "page",
    "line_map",
]


@dataclass(frozen=True)
class SearchOptions:
    collection: str = DEFAULT_COLLECTION
    top_k: int = 10
    mode: str = Mode.HYBRID
    path_glob: str | None = None
    min_score: float | None = None
    chunks: bool = False
    rerank: bool = True
    all_copies: bool = False  # False: a document stored under several paths shows once


@dataclass
class Hit:
    """One result, and where it is.

    Two numberings, never mixed: ``line`` counts the lines of the file on disk (what
    ``path:line`` shows; None for a PDF, whose place is ``page``), while ``text_line``
    and ``line_start``/``line_end`` count the lines of the extracted text (what ``show
    --text`` prints). For text, Markdown, RST, AsciiDoc and man pages the two are the
    same; for HTML they are not; a DOCX has no lines of its own, so both are its
    extracted text's."""

    rank: int
    # Monotone in rank: hybrid, the re-ranker's cosine; semantic, the static cosine;
    # keyword, BM25; each lowered to the score above it when that is lower (see
    # ``_shown_in_order``).
    score: float
    document: DocumentRef
    chunk_id: int
    line_start: int  # the chunk's first and last lines of the extracted text
    line_end: int
    heading: str
    snippet: str
    highlights: list[tuple[int, int]]
    signals: dict[str, Signal] = field(default_factory=dict)
    line: int | None = None  # of the file on disk, where the passage answers; None: a PDF
    text_line: int = 0  # of the extracted text, where the passage answers
    page: int | None = None
    copies: list[DocumentRef] = field(default_factory=list)  # the same content, elsewhere


@dataclass
class SearchResult:
    query: str
    mode: str
    collection: str
    hits: list[Hit]
    seconds: float


class SearchService:
    def __init__(self, crud: CRUDService, index: SearchIndex, models: ModelProvider) -> None:
        self._crud = crud
        self._index = index
        self._models = models
        self._rerank_cache: dict[tuple[int, str, tuple[str, ...]], np.ndarray] = {}
        self._paths = GenerationCache()  # collection id -> {document id: path}, for --path

    async def search(
        self, query: str, options: SearchOptions, fusion: FusionSettings = DEFAULT_FUSION
    ) -> SearchResult:
        started = time.perf_counter()
        text, mode = _check(query, options)
        wants_rerank = mode is Mode.HYBRID and options.rerank and fusion.rerank_depth > 0
        # The model loads (once per process) while BM25 runs.
        loading = (
            asyncio.create_task(asyncio.to_thread(self._models.reranker)) if wants_rerank else None
        )
        try:
            # One snapshot: an ingest committing between these reads changes nothing here.
            async with self._crud.snapshot(Document):
                collection = await require_documents(self._crud, options.collection)
                candidates = await self._first_stage(text, mode, collection, options, fusion)
                reranked = loading is not None
                if reranked:
                    model = await loading
                    loading = None
                    candidates = await self._rerank(text, candidates, fusion, model)
                if not (options.chunks or options.all_copies):
                    candidates = await self._without_copies(candidates, options.top_k)
                if reranked:
                    head = candidates[: fusion.locate_documents]
                    await self._locate(text, head, collection, fusion, model)
                hits = await self._hits(text, candidates, options, _score_shown(mode, reranked))
        finally:
            if loading is not None:
                await loading
        return SearchResult(text, mode.value, collection.name, hits, time.perf_counter() - started)

    async def search_many(
        self,
        queries: Sequence[tuple[str, str]],
        options: SearchOptions,
        fusion: FusionSettings = DEFAULT_FUSION,
        on_result: Callable[[str, SearchResult], None] | None = None,
    ) -> list[tuple[str, SearchResult]]:
        """Many queries in one process: models and vectors load once."""
        results = []
        for query_id, text in queries:
            result = await self.search(text, options, fusion)
            results.append((query_id, result))
            if on_result is not None:
                on_result(query_id, result)
        return results

    # --- stages ------------------------------------------------------------

    async def _first_stage(
        self,
        text: str,
        mode: Mode,
        collection: Collection,
        options: SearchOptions,
        fusion: FusionSettings,
    ) -> list[Candidate]:
        glob = path_pattern(options.path_glob)
        wanted = max(fusion.candidates, options.top_k)
        # Several chunks of one document may match: fetch enough to fill ``wanted`` documents.
        fetch = wanted if options.chunks else wanted * 3
        candidates: list[Candidate] = []
        hits: list[tuple[int, int, float]] = []
        if mode in (Mode.KEYWORD, Mode.HYBRID):
            trigram = bool(collection.settings.get("trigram")) and has_cjk(text)
            hits = await self._index.keyword(
                collection.id, collection.version, text, fetch, glob, trigram
            )
            others = max(fusion.second_look_chunks, fusion.locate_chunks - 1)
            candidates = grouped("keyword", hits, options.chunks, others)
        short = len(candidates) < max(fusion.rerank_depth, options.top_k)
        if not fusion.fill_to_depth:  # only when BM25 ran out of matches
            short = len(candidates) < options.top_k or (len(hits) < fetch and short)
        needs_fill = mode is Mode.HYBRID and short
        if mode is Mode.SEMANTIC or needs_fill:
            hits = await self._semantic(text, collection, glob, fetch)
            candidates = appended(candidates, grouped("semantic", hits, options.chunks))
        return candidates[:wanted]

    async def _semantic(
        self, text: str, collection: Collection, glob: str | None, limit: int
    ) -> list[tuple[int, int, float]]:
        import numpy as np

        encoder = self._static_encoder(collection)
        if await self._index.vectors_in_database():
            if collection.dimension != encoder.dimension:
                raise model_mismatch(collection, encoder)
            vector = encoder.encode([text])[0]
            return await self._index.nearest_in_database(collection.id, vector, limit, glob)
        index = await self._index.chunk_matrix(collection.id, collection.version)
        if index.rows == 0:
            return []
        if index.dimension != encoder.dimension:
            raise model_mismatch(collection, encoder)
        query_vector = encoder.encode([text])[0]
        allowed = None
        if glob is not None:
            documents = await self._documents_matching(collection, glob)
            allowed = np.isin(index.document_ids, documents)
        rows, scores = index.nearest(query_vector, limit, allowed)
        return [
            (int(index.chunk_ids[i]), int(index.document_ids[i]), float(score))
            for i, score in zip(rows, scores, strict=True)
        ]

    def _static_encoder(self, collection: Collection) -> NamedEmbedder:
        encoder = self._models.embedder(collection.settings.get("model"))
        if not model_matches(collection, encoder):
            raise model_mismatch(collection, encoder)
        return encoder

    async def _documents_matching(self, collection: Collection, glob: str) -> Any:
        import numpy as np

        paths = self._paths.get(collection.id, collection.version)
        if paths is None:
            rows = await self._crud.values(
                Document, ["id", "path"], filters={"collection_id": collection.id}
            )
            paths = self._paths.put(collection.id, collection.version, dict(rows))
        return np.asarray(
            [i for i, p in paths.items() if fnmatch.fnmatchcase(p, glob)], dtype=np.int64
        )

    async def _rerank(
        self, text: str, candidates: list[Candidate], fusion: FusionSettings, model: Reranker
    ) -> list[Candidate]:
        head = candidates[: fusion.rerank_depth]
        if not head:
            return candidates
        # One batch: each head document's best chunk, then the second look's chunks.
        chunk_ids = [c.chunk_id for c in head]
        looked = [
            i
            for c in head[: fusion.second_look_documents]
            for i, _ in c.others[: fusion.second_look_chunks]
        ]
        cosines = await self._similarities(text, chunk_ids + looked, fusion, model)
        second_look = dict(zip(looked, cosines[len(head) :].tolist(), strict=True))
        mixed(head, cosines[: len(head)], fusion.keyword_share, second_look)
        head.sort(key=lambda c: c.score, reverse=True)
        tail = candidates[fusion.rerank_depth :]
        for position, candidate in enumerate(tail, start=1):
            candidate.score = -float(position)  # below every re-ranked result, in its order
        ordered = head + tail
        # The order's score is not the one a hit shows: --explain names it.
        for rank, candidate in enumerate(ordered, start=1):
            candidate.signals["fused"] = Signal(rank, candidate.score)
        return ordered

    async def _similarities(
        self, text: str, chunk_ids: list[int], fusion: FusionSettings, model: Reranker
    ) -> np.ndarray:
        """Transformer cosine between the query and each chunk's passage."""
        limit = fusion.rerank_max_tokens
        texts = await self._index.chunk_texts(chunk_ids)
        if fusion.rerank_focus:
            terms = query_terms(text)
            passages = tuple(focused_passage(*texts[c], terms, limit) for c in chunk_ids)
        else:
            passages = tuple(chunk_passage(*texts[c]) for c in chunk_ids)
        return await self._cosines(text, passages, limit, model)

    async def _cosines(
        self, text: str, passages: tuple[str, ...], limit: int, model: Reranker
    ) -> np.ndarray:
        key = (limit, text, passages)
        cached = self._rerank_cache.pop(key, None)
        if cached is None:
            cached = await asyncio.to_thread(_cosines, model, text, passages, limit)
        self._rerank_cache[key] = cached  # most recently used last
        evict_oldest(self._rerank_cache, RERANK_CACHE_ENTRIES)
        return cached

    async def _locate(
        self,
        text: str,
        head: list[Candidate],
        collection: Collection,
        fusion: FusionSettings,
        model: Reranker,
    ) -> None:
        """Point each of ``head`` at its best line window: of its chunk and its next
        matching ones, the window the re-ranker finds closest to the question."""
        chunk_ids = {
            c.key: list(dict.fromkeys([c.chunk_id, *(i for i, _ in c.others)]))[
                : fusion.locate_chunks
            ]
            for c in head
        }
        if fusion.locate_static_chunks > 0:
            nearest = await self._nearest_chunks(
                text, collection, list(chunk_ids), fusion.locate_static_chunks
            )
            for key, ids in chunk_ids.items():
                ids += [i for i in nearest.get(key, []) if i not in ids]
        texts = await self._index.chunk_texts([i for ids in chunk_ids.values() for i in ids])
        budget, stride = fusion.rerank_max_tokens, fusion.locate_stride
        windows = {
            key: [(i, window) for i in ids for window in line_windows(*texts[i], budget, stride)]
            for key, ids in chunk_ids.items()
        }
        passages = tuple(window.text for found in windows.values() for _, window in found)
        if not passages:
            return
        cosines = (await self._cosines(text, passages, budget, model)).tolist()
        terms = query_terms(text)
        start = 0
        for candidate in head:
            found = windows[candidate.key]
            scores, start = cosines[start : start + len(found)], start + len(found)
            bm25 = _chunk_keyword_scores(candidate)
            kept = list(range(len(found)))
            if _keyword_gap(bm25) >= fusion.locate_keyword_gap:  # the words gather in its chunk
                kept = [i for i in kept if found[i][0] == candidate.chunk_id] or kept
            if not kept:
                continue
            best = kept[
                best_window(
                    [bm25.get(found[i][0], float("nan")) for i in kept],
                    [scores[i] for i in kept],
                    fusion.locate_keyword_share,
                )
            ]
            chunk_id, window = found[best]
            lines = texts[chunk_id][1].split("\n")[window.line : window.end]
            candidate.chunk_id = chunk_id
            candidate.line = window.line + best_line("\n".join(lines), terms)

    async def _nearest_chunks(
        self, text: str, collection: Collection, document_ids: list[int], count: int
    ) -> dict[int, list[int]]:
        """Each document's ``count`` chunks nearest the question by the static vectors."""
        import numpy as np

        from modules.semantic_core.vectors import from_blobs

        encoder = self._models.embedder(collection.settings.get("model"))
        if not model_matches(collection, encoder) or not document_ids:
            return {}
        rows = await self._crud.values(
            Chunk,
            ["id", "document_id", "embedding"],
            where=[Chunk.document_id.in_(document_ids), Chunk.embedding.is_not(None)],
        )
        if not rows:
            return {}
        vectors = from_blobs([blob for _, _, blob in rows], collection.dimension)
        scores = vectors @ encoder.encode([text])[0]
        nearest: dict[int, list[int]] = {}
        for index in np.argsort(-scores, kind="stable"):
            chunk_id, document_id, _ = rows[index]
            found = nearest.setdefault(document_id, [])
            if len(found) < count:
                found.append(chunk_id)
        return nearest

    async def _without_copies(self, candidates: list[Candidate], wanted: int) -> list[Candidate]:
        """The candidates in order, each document that holds the same content as one
        above it folded into that one's ``copies``; stops once ``wanted`` are kept."""
        kept: list[Candidate] = []
        seen = SeenContent()
        start = 0
        while len(kept) < wanted and start < len(candidates):
            batch = candidates[start : start + max(2 * wanted, 20)]
            start += len(batch)
            rows = await self._crud.values(
                Document,
                ["id", "content_hash", "sketch"],
                where=[Document.id.in_([c.key for c in batch])],
            )
            content = {document_id: (digest, sketch) for document_id, digest, sketch in rows}
            for candidate in batch:
                digest, sketch = content.get(candidate.key, ("", None))
                original = seen.copy_of(digest, sketch)
                if original is None:
                    seen.add(digest, sketch)
                    kept.append(candidate)
                else:
                    kept[original].copies.append(candidate.key)
        return kept

    async def _hits(
        self,
        text: str,
        candidates: list[Candidate],
        options: SearchOptions,
        shown: Callable[[Candidate], float],
    ) -> list[Hit]:
        chosen = candidates[: options.top_k]
        scores = _shown_in_order([shown(c) for c in chosen])
        if options.min_score is not None:
            kept = sum(1 for score in scores if score >= options.min_score)
            chosen, scores = chosen[:kept], scores[:kept]
        if not chosen:
            return []
        chunk_rows = await self._crud.values(
            Chunk,
            HIT_COLUMNS,
            where=[Chunk.id.in_([c.chunk_id for c in chosen])],
        )
        chunks = {row[0]: row for row in chunk_rows}
        named = {row[1] for row in chunk_rows} | {i for c in chosen for i in c.copies}
        doc_rows = await self._crud.values(Document, REF_COLUMNS, where=[Document.id.in_(named)])
        documents = {row[0]: DocumentRef(*row) for row in doc_rows}
        terms = query_terms(text)
        hits = []
        for rank, (candidate, score) in enumerate(zip(chosen, scores, strict=True), start=1):
            (_, document_id, line_start, line_end, heading, chunk_text, source_line, page,
             line_map) = chunks[candidate.chunk_id]  # fmt: skip
            offset = candidate.line
            if offset is None:  # not located: the chunk's line with the most query terms
                offset = best_line(chunk_text, terms)
                snippet, highlights = make_snippet(chunk_text, terms)
            else:  # the snippet starts where the hit points
                snippet, highlights = make_snippet(_from_line(chunk_text, offset), terms)
            line = None  # a PDF's place is its page
            if source_line is not None:
                line = linemap.file_line(source_line, line_start, line_map, offset)
            elif page is None:  # stored before source lines were kept: the text's is the best
                line = line_start + offset
            hits.append(
                Hit(
                    rank=rank,
                    score=score,
                    document=documents[document_id],
                    chunk_id=candidate.chunk_id,
                    line_start=line_start,
                    line_end=line_end,
                    heading=heading,
                    snippet=snippet,
                    highlights=highlights,
                    signals=dict(candidate.signals),
                    line=line,
                    text_line=line_start + offset,
                    page=page,
                    copies=[documents[i] for i in candidate.copies if i in documents],
                )
            )
        return hits


def _cosines(model: Reranker, query: str, passages: Sequence[str], limit: int) -> np.ndarray:
    """Passages cut to ``limit`` tokens; the query read whole (up to the model's 256)."""
    vectors = model.encode(list(passages), max_length=limit)
    query_vector = model.encode([query], max_length=None)[0]
    return vectors @ query_vector


# --- scores ----------------------------------------------------------------------


def _score_shown(mode: Mode, reranked: bool) -> Callable[[Candidate], float]:
    """The score a hit shows and ``--min-score`` compares: one whose meaning does not
    depend on the other results. Hybrid orders by a mix scaled per query, so it shows
    the re-ranker's cosine (0 for results past the re-rank depth)."""
    if mode is Mode.KEYWORD:
        return _keyword
    if mode is Mode.SEMANTIC:
        return _semantic
    return _cosine if reranked else _fused


def _chunk_keyword_scores(candidate: Candidate) -> dict[int, float]:
    """BM25 of the candidate's matching chunks: its own and the next ones."""
    scores = dict(candidate.others)
    keyword = candidate.signals.get("keyword")
    if keyword is not None:
        scores.setdefault(candidate.chunk_id, keyword.score)
    return scores


def _keyword_gap(scores: dict[int, float]) -> float:
    """How many times BM25's best chunk outscores the next (1: no next, or no BM25)."""
    best, second = ([*sorted(scores.values(), reverse=True), 0.0, 0.0])[:2]
    return best / second if second > 0 else 1.0


def _from_line(text: str, line: int) -> str:
    return "\n".join(text.split("\n")[line:])


def _shown_in_order(scores: list[float]) -> list[float]:
    """Each score lowered to the one above it when that is lower, so the column a person
    reads as the ranking never rises, and ``--min-score`` keeps a prefix of the results
    in which every hit's own score is at least the threshold. Hybrid orders by a mix of
    BM25 and cosine scaled per query, which the cosine alone does not follow."""
    out: list[float] = []
    for score in scores:
        out.append(min(score, out[-1]) if out else score)
    return out


def _keyword(candidate: Candidate) -> float:
    return candidate.signals["keyword"].score


def _semantic(candidate: Candidate) -> float:
    return candidate.signals["semantic"].score


def _cosine(candidate: Candidate) -> float:
    signal = candidate.signals.get("rerank")
    return signal.score if signal is not None else 0.0


def _fused(candidate: Candidate) -> float:
    return candidate.score


# --- input -----------------------------------------------------------------------


def _check(query: str, options: SearchOptions) -> tuple[str, Mode]:
    # Lone surrogates (bytes of an argument that are not UTF-8, or a JSON \\ud800 in a
    # queries file) become U+FFFD: a search needs words, and a tokenizer refuses them.
    text = ANY_SURROGATE.sub("\ufffd", query).strip()
    if not text:
        raise UsageError("the query is empty; pass some words to search for")
    mode = check_mode(options.mode)
    if options.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {options.top_k}")
    return text, mode
