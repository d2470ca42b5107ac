"""The SQL of the local index: vector index definitions, the binary COPY of chunk rows, and
the one statement of hybrid search (vector similarity and BM25, fused by reciprocal rank:
Cormack et al., SIGIR 2009, score = sum(1 / (k + rank)))."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from pgvector.psycopg import register_vector

from documents.backends.base import IndexingError
from documents.backends.identifiers import identifiers

if TYPE_CHECKING:
    import numpy as np

    from documents.backends.base import SearchMode

# pgvector's HNSW indexes `vector` up to 2,000 dimensions and `halfvec` up to 4,000.
_VECTOR_INDEX_MAX_DIMS = 2000
_HALFVEC_INDEX_MAX_DIMS = 4000


def vector_type(dims: int) -> str:
    """The column type HNSW indexes embeddings of `dims` dimensions as (never user input)."""
    kind = "vector" if dims <= _VECTOR_INDEX_MAX_DIMS else "halfvec"
    return f"{kind}({int(dims)})"


def vector_expression(dims: int, column: str = "embedding") -> str:
    """The indexed expression; queries must repeat it exactly for the planner to use the index."""
    return f"(({column})::{vector_type(dims)})"


def hnsw_index_sql(dims: int, *, concurrently: bool = False) -> str:
    if dims > _HALFVEC_INDEX_MAX_DIMS:
        raise IndexingError(
            f"Embeddings of {dims} dimensions cannot be indexed (pgvector's limit is "
            f"{_HALFVEC_INDEX_MAX_DIMS}); choose a smaller model or fewer dimensions.",
            retryable=False,
        )
    opclass = "vector_cosine_ops" if dims <= _VECTOR_INDEX_MAX_DIMS else "halfvec_cosine_ops"
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
        f"chunk_embedding_hnsw_{int(dims)} ON documents_chunk "
        f"USING hnsw ({vector_expression(dims)} {opclass}) "
        f"WHERE vector_dims(embedding) = {int(dims)}"
    )


def corpus_hnsw_index_name(dims: int, corpus_id: int) -> str:
    return f"chunk_embedding_hnsw_{int(dims)}_c{int(corpus_id)}"


def corpus_hnsw_index_sql(dims: int, corpus_id: int, *, concurrently: bool = False) -> str:
    """A partial HNSW index of one corpus's chunks, with the global index's expression and
    operator class: the search statement uses it unchanged (the planner matches the corpus id
    the query names)."""
    global_sql = hnsw_index_sql(dims, concurrently=concurrently)
    return (
        global_sql.replace(
            f"chunk_embedding_hnsw_{int(dims)} ON", f"{corpus_hnsw_index_name(dims, corpus_id)} ON"
        )
        + f" AND corpus_id = {int(corpus_id)}"
    )


_CHUNK_COLUMNS = (
    "document_id, corpus_id, index_version, ordinal, text, context, page_start, page_end, "
    "char_start, char_end, token_count, embedding"
)
_CHUNK_TYPES = [
    "bigint", "bigint", "integer", "integer", "text", "text", "integer", "integer", "integer",
    "integer", "integer", "vector",
]  # fmt: skip

# A chunk's tsvector: its context and text as the parser sees them, then its identifiers'
# parts and the identifiers whole (documents/backends/identifiers.py); questions get the same.
SEARCH_VECTOR_UPDATE_SQL = """
    UPDATE documents_chunk c
    SET search_vector = to_tsvector(%s::regconfig, c.context || E'\n\n' || c.text || E'\n'
                                    || x.parts) || x.lexemes::tsvector
    FROM unnest(%s::integer[], %s::text[], %s::text[]) AS x(ordinal, parts, lexemes)
    WHERE c.document_id = %s AND c.index_version = %s AND c.ordinal = x.ordinal
"""


def copy_chunks(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    """Write chunk rows with binary COPY: embeddings travel as binary vectors instead of being
    formatted as text, which costs more than the rest of the write."""
    psycopg_connection = cursor.cursor.connection  # under Django's wrappers
    if not getattr(psycopg_connection, "_docent_vector_registered", False):
        register_vector(psycopg_connection)
        psycopg_connection._docent_vector_registered = True
    # A new cursor: cursors copy the connection's type registry when they are created.
    with (
        psycopg_connection.cursor() as raw,
        raw.copy(
            f"COPY documents_chunk ({_CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(_CHUNK_TYPES)
        for row in rows:
            copy.write_row(row)


# Full-text retrieval is Okapi BM25 (Robertson & Zaragoza 2009) over the chunks' tsvectors:
# score = sum over the question's lexemes of idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len
# / avglen)), with idf = ln(1 + (N - df + 0.5) / (df + 0.5)). N, the lengths and df come from
# documents_indexstats and documents_lexemestat, which triggers keep exact. A question's
# lexemes are OR-ed (an AND of every word would match almost nothing); the GIN index finds the
# candidates through the rarest lexemes only, until their chunks add up to SEARCH_BM25_BUDGET:
# a chunk that holds nothing but very common words cannot rank high anyway, and scoring every
# chunk with a common word would cost more than the whole search. Quoting keeps the stemmed
# lexemes as they are.
_BM25_CTES = r"""
    terms AS (
        SELECT s.lexeme, s.chunks AS df,
               ln(1 + (st.n - s.chunks + 0.5) / (s.chunks + 0.5)) AS idf
        FROM unnest(tsvector_to_array(
            to_tsvector(%(config)s::regconfig, %(query)s || E'\n' || %(query_parts)s)
            || %(query_lexemes)s::tsvector
        )) AS q(lexeme)
        JOIN documents_lexemestat s
          ON s.corpus_id = %(corpus)s AND s.index_version = %(version)s
         AND s.lexeme = q.lexeme AND s.chunks > 0
        CROSS JOIN (
            SELECT greatest(chunks, 1)::float AS n FROM documents_indexstats
            WHERE corpus_id = %(corpus)s AND index_version = %(version)s
        ) st
    ),
    picked(terms) AS (
        SELECT coalesce(string_agg(
            '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' | '
        ), '')::tsquery
        FROM (
            SELECT lexeme, df, sum(df) OVER (ORDER BY df, lexeme) AS running FROM terms
        ) ranked
        WHERE running - df < %(bm25_budget)s
    ),
    avglen(tokens) AS (
        SELECT greatest(tokens::float / greatest(chunks, 1), 1) FROM documents_indexstats
        WHERE corpus_id = %(corpus)s AND index_version = %(version)s
    )
"""


def search_sql(
    *,
    corpus_id: int,
    index_version: int,
    dims: int,
    text_search_config: str,
    query: str,
    vector: np.ndarray | None,
    k: int,
    candidates: int,
    mode: SearchMode,
) -> tuple[str, dict[str, Any]]:
    """One statement: the retrievers as CTEs, fused with reciprocal rank fusion, over the
    chunks of the corpus's current `index_version`."""
    params: dict[str, Any] = {
        "corpus": corpus_id,
        "version": index_version,
        "config": text_search_config,
        "query": query,
        "k": k,
        "candidates": candidates,
        "rrf_k": settings.SEARCH_RRF_K,
    }
    ctes: list[str] = []
    if mode in ("hybrid", "vector"):
        assert vector is not None
        params["vector"] = "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
        expr = vector_expression(dims, "c.embedding")
        cast = vector_type(dims)
        # Only integer dimensions are formatted into the SQL; every value is a bound parameter.
        ctes.append(
            f"""vec AS (
                SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM (
                    SELECT c.id, {expr} <=> %(vector)s::{cast} AS distance
                    FROM documents_chunk c
                    JOIN documents_document d ON d.id = c.document_id AND d.status = 'ready'
                    WHERE c.corpus_id = %(corpus)s AND c.index_version = %(version)s
                      AND vector_dims(c.embedding) = {int(dims)}
                    ORDER BY distance
                    LIMIT %(candidates)s
                ) v
            )"""  # noqa: S608
        )
    if mode in ("hybrid", "fulltext"):
        found = identifiers(query)
        params.update(
            picked=None,
            query_parts=found.parts,
            query_lexemes=found.lexemes,
            bm25_budget=settings.SEARCH_BM25_BUDGET,
            k1=settings.SEARCH_BM25_K1,
            b=settings.SEARCH_BM25_B,
        )
        ctes.append(_BM25_CTES)
        ctes.append(
            """fts AS (
                SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM (
                    SELECT c.id, (
                        SELECT sum(t.idf * cardinality(u.positions) * (%(k1)s + 1) / (
                            cardinality(u.positions) + %(k1)s * (1 - %(b)s
                            + %(b)s * c.token_count / (SELECT tokens FROM avglen))))
                        -- Only the query's lexemes: ts_delete twice keeps them (C code),
                        -- so the join unnests a few entries instead of the whole vector.
                        FROM unnest(ts_delete(c.search_vector, tsvector_to_array(ts_delete(
                            c.search_vector, (SELECT array_agg(lexeme) FROM terms))))) AS u
                        JOIN terms t ON t.lexeme = u.lexeme
                    ) AS score
                    FROM documents_chunk c
                    JOIN documents_document d ON d.id = c.document_id AND d.status = 'ready'
                    WHERE c.corpus_id = %(corpus)s AND c.index_version = %(version)s
                      -- The terms run_search read beforehand, as a value the planner
                      -- can estimate; EXPLAIN without them computes them here.
                      AND c.search_vector @@ coalesce(%(picked)s::tsquery,
                                                      (SELECT terms FROM picked))
                    ORDER BY score DESC
                    LIMIT %(candidates)s
                ) f
            )"""
        )
    similarity = (
        f"1 - ({vector_expression(dims, 'c.embedding')} <=> %(vector)s::{vector_type(dims)})"
        if mode != "fulltext"
        else "NULL::float"
    )
    ranked = {
        "hybrid": "SELECT id, rank FROM vec UNION ALL SELECT id, rank FROM fts",
        "vector": "SELECT id, rank FROM vec",
        "fulltext": "SELECT id, rank FROM fts",
    }[mode]
    sql = f"""
        WITH {", ".join(ctes)},
        fused AS (
            SELECT id, sum(1.0 / (%(rrf_k)s + rank)) AS score
            FROM ({ranked}) ranked
            GROUP BY id
            ORDER BY score DESC, id
            LIMIT %(k)s
        )
        SELECT c.id, c.document_id, d.filename, c.page_start, c.page_end, c.char_start,
               c.char_end, c.text, fused.score, {similarity} AS similarity
        FROM fused
        JOIN documents_chunk c ON c.id = fused.id
        JOIN documents_document d ON d.id = c.document_id
        ORDER BY fused.score DESC, c.id
    """  # noqa: S608
    return sql, params


_PICKED_SQL = f"WITH {_BM25_CTES} SELECT terms::text FROM picked"  # noqa: S608


def run_search(cursor: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run search_sql's statement and return its rows. The full-text side's terms (the
    question's rarest lexemes in the corpus) are read first, on their own, and passed to the
    statement as a value: computed inside it they are an InitPlan result, for which the planner
    guesses a match of 0.5% of all chunks, so for a small corpus it combined the GIN index
    (every chunk of every corpus with those words: 220,000 of 1,000,000 in bench/search_scale.py)
    with the corpus's btree instead of reading the corpus's own few chunks (88 ms against 19).
    `cursor` is Django's or a bare psycopg cursor, inside the caller's transaction."""
    if "picked" in params:
        cursor.execute(_PICKED_SQL, params)
        params = {**params, "picked": cursor.fetchone()[0]}
    cursor.execute(sql, params)
    return cursor.fetchall()
