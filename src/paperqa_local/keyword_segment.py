"""One segment of the keyword index: term frequencies of its chunks, column by term (CSC), and their lengths.

The index is a large main segment and a small delta of chunks written since (`keyword.py`). A segment keeps raw
term frequencies, not BM25 scores, so that a search can score every segment with the statistics of the whole
live corpus (document count, document frequencies, average length): the ranking is the one a full rebuild
would give, however the chunks are split between segments.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOCAB, POSTINGS = "vocab.json", "postings.npz"


def tokenize(texts: list[str]) -> list[list[str]]:
    """bm25s's tokenizer: English stop words dropped, Snowball-stemmed."""
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(Stemmer), return_ids=False, show_progress=False)


_STEMMER = None


def _stemmer(module):
    global _STEMMER
    if _STEMMER is None:
        _STEMMER = module.Stemmer("english")
    return _STEMMER


@dataclass
class Segment:
    vocab: dict[str, int]  # term -> column
    indptr: np.ndarray  # int64, len(vocab) + 1: column t's postings are [indptr[t], indptr[t + 1])
    docs: np.ndarray  # int32 row of each posting
    tf: np.ndarray  # uint16 term frequency of each posting
    lengths: np.ndarray  # int32 tokens of each row

    @property
    def rows(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> Segment:
        vocab: dict[str, int] = {}
        terms = np.fromiter((vocab.setdefault(term, len(vocab)) for term in itertools.chain.from_iterable(token_lists)),
                            dtype=np.int64)
        lengths = np.fromiter((len(tokens) for tokens in token_lists), dtype=np.int32, count=len(token_lists))
        docs = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
        return cls._from_pairs(vocab, terms, docs, None, lengths)

    @classmethod
    def _from_pairs(cls, vocab: dict[str, int], terms: np.ndarray, docs: np.ndarray, counts: np.ndarray | None,
                    lengths: np.ndarray) -> Segment:
        """Postings from (term, row, count) triples (count 1 when None), repeated pairs summed."""
        rows = max(len(lengths), 1)
        if counts is None:
            keys, tf = np.unique(terms * rows + docs, return_counts=True)
        else:
            keys, where = np.unique(terms * rows + docs, return_inverse=True)
            tf = np.bincount(where, weights=counts, minlength=len(keys))
        tf = tf.astype(np.uint16)
        columns = keys // rows
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(columns, minlength=len(vocab)), out=indptr[1:])
        return cls(vocab, indptr, (keys % rows).astype(np.int32), tf, lengths.astype(np.int32))

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        column = self.vocab.get(term)
        if column is None:
            return None
        start, end = self.indptr[column], self.indptr[column + 1]
        return self.docs[start:end], self.tf[start:end]

    def merged(self, keep: np.ndarray, other: Segment) -> Segment:
        """This segment's kept rows, then `other`'s, in one segment: postings moved, nothing tokenised again."""
        new_row = np.cumsum(keep) - 1
        live = keep[self.docs]
        terms = np.repeat(np.arange(len(self.vocab), dtype=np.int64), np.diff(self.indptr))[live]
        vocab = dict(self.vocab)
        column_of = np.array([vocab.setdefault(term, len(vocab)) for term in other.vocab], dtype=np.int64)
        other_terms = np.repeat(column_of, np.diff(other.indptr)) if len(column_of) else np.zeros(0, dtype=np.int64)
        kept = int(keep.sum())
        terms = np.concatenate([terms, other_terms])
        docs = np.concatenate([new_row[self.docs[live]], other.docs.astype(np.int64) + kept])
        counts = np.concatenate([self.tf[live], other.tf]).astype(np.int64)
        return self._from_pairs(vocab, terms, docs, counts, np.concatenate([self.lengths[keep], other.lengths]))

    def save(self, folder: Path) -> None:
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / VOCAB).write_text(json.dumps(terms))
        np.savez(folder / POSTINGS, indptr=self.indptr, docs=self.docs, tf=self.tf, lengths=self.lengths)

    @classmethod
    def load(cls, folder: Path) -> Segment:
        terms = json.loads((folder / VOCAB).read_text())
        with np.load(folder / POSTINGS) as arrays:
            segment = cls({term: n for n, term in enumerate(terms)}, arrays["indptr"], arrays["docs"], arrays["tf"],
                          arrays["lengths"])
        if len(segment.indptr) != len(terms) + 1 or segment.indptr[-1] != len(segment.docs) or len(segment.docs) != len(segment.tf):
            raise ValueError("its postings and its vocabulary disagree")
        return segment
