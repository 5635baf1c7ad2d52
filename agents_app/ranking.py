"""Okapi BM25 over agent self-descriptions: the offline way to rank agents against an intent."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "we",
        "what",
        "when",
        "which",
        "will",
        "with",
        "you",
        "your",
        "want",
        "need",
        "please",
        "make",
        "build",
        "create",
        "some",
        "also",
        "each",
        "any",
        "all",
        "more",
        "most",
        "other",
        "such",
        "only",
        "own",
        "same",
        "than",
        "too",
        "very",
        "just",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'tests'/'testing'/'tested' and 'apis'/'api'."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ers", "er", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def tokens(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


class BM25:
    def __init__(self, documents: dict[str, str], *, k1: float = 1.4, b: float = 0.6) -> None:
        self.k1, self.b = k1, b
        self.docs = {key: Counter(tokens(text)) for key, text in documents.items()}
        self.lengths = {key: sum(counts.values()) for key, counts in self.docs.items()}
        self.avg_length = (sum(self.lengths.values()) / len(self.lengths)) if self.lengths else 0.0
        doc_freq: Counter[str] = Counter()
        for counts in self.docs.values():
            doc_freq.update(counts.keys())
        n = len(self.docs)
        self.idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in doc_freq.items()}

    def score(self, query: Iterable[str], key: str) -> float:
        counts, length = self.docs[key], self.lengths[key]
        total = 0.0
        for term in query:
            tf = counts.get(term, 0)
            if tf:
                norm = tf + self.k1 * (1 - self.b + self.b * length / (self.avg_length or 1))
                total += self.idf[term] * tf * (self.k1 + 1) / norm
        return total

    def matched(self, query_text: str, key: str, *, limit: int = 3) -> list[str]:
        """The query's words found in document `key`, most telling (rarest) first, as the query spelled them:
        what a person reads as the reason an agent ranked."""
        spelled: dict[str, str] = {}
        for word in _WORD.findall(query_text.lower()):
            if word not in STOPWORDS and len(word) > 1:
                spelled.setdefault(stem(word), word)
        found = [term for term in spelled if term in self.docs[key]]
        found.sort(key=lambda term: -self.idf.get(term, 0.0))
        return [spelled[term] for term in found[:limit]]

    def rank(self, query_text: str) -> list[tuple[str, float]]:
        query = tokens(query_text)
        scored = [(key, self.score(query, key)) for key in self.docs]
        return sorted(scored, key=lambda item: (-item[1], item[0]))
