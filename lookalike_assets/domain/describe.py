"""Audiences described in words: a sentence such as "CFOs and finance directors at fintech companies in Germany
with more than 200 employees who opened our emails" becomes a proposed, validated ``rules`` object and a seed-set
suggestion, with the reason for each part (which words matched which field and value, how, with what confidence).

Offline, with no hosted language model. The parser knows the tenant's own catalog (``Catalog``): its fields, the
values of each categorical field, which fields are numbers and dates. Phrases are read in this order:

1. structures: numbers with comparatives and units ("more than 200 employees", "at least 3 visits", "between 50
   and 500", "aged over 60"), relative dates ("active in the last 30 days"), reach ("top 5 %", "up to 500
   leads"), seed references ("like our customers"), engagement verbs ("opened our emails"), yes/no columns ("with
   a housing loan", "no personal loan");
2. values of categorical fields, exactly (after case, plural and punctuation folding; countries also by any name
   or code pycountry knows), then fuzzily (rapidfuzz, for typos), then by meaning: the project's own text encoder
   over the catalog, with a small glossary that spells out abbreviations (CFO, SaaS) before encoding;
3. negations ("not in Brazil", "excluding real estate") turn the values after them, in the same clause, into
   ``not_in``.

A phrase that matches nothing above the thresholds is reported as not understood, never guessed; every proposal
goes through ``parse_rules`` with the tenant's fields, so a field that is not in the catalog cannot appear.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
from dateutil import parser as dateparser
from rapidfuzz import fuzz

from lookalike_assets.domain import identifiers
from lookalike_assets.domain.meanings import (
    ABBREVIATIONS,
    DURATION_DAYS,
    ColumnMeaning,
    infer_meaning,
    is_word,
    name_words,
    stem,
    synonym_stems,
    yes_no_values,
)
from lookalike_assets.domain.meanings import (
    GENERIC as GENERIC_WORDS,
)
from lookalike_assets.domain.rules import FieldType, parse_rules

SEMANTIC_THRESHOLD = 0.55  # cosine of the phrase and a catalog value (all-MiniLM-L6-v2) below which nothing is guessed
SEMANTIC_MARGIN = 0.03  # the best value must beat the best value of another field by this much, else: ambiguous
STRONG_MATCH = 0.8  # a match this close is a strong one: the longest strong phrase is read first
LONGER_BONUS = 0.05  # a longer phrase wins over a part of it that matches up to this much better per extra word
FUZZY_THRESHOLD = 88  # rapidfuzz ratio (0-100) for a misspelt value
PLACEHOLDERS = {"unknown", "other", "none", "n/a", "na", "null", "-", ""}
SEED_LABELS = ("won", "meeting", "replied", "scored", "manual")

# Function words and generic nouns: they join the parts of a description and are never reported as not understood.
STOPWORDS = set("""
a an the and or of at in on for to from by with who whose that which are is was were be been being have has had
having our we their them they it its this these those as than then there here into over about across per any
some all each every only also just very more most less least much many few such do does did done can could
may might will would should like similar similarly look looks looking lookalike lookalikes resemble resembling
leads lead people persons person prospects prospect contacts contact clients client customers customer accounts
account companies company firms firm businesses organisations organizations teams team folks users members
working work works worked employed based located living live lives from where whose currently recently
everyone anyone someone me my you your us audience audiences segment group find show give want get
own owns owning owned buy buys buying bought interested looking considering thinking planning jobs job workers
roles times time spent spend spending
""".split())
NEGATIONS = {"not", "no", "non", "excluding", "exclude", "except", "without", "outside", "never", "nor", "neither",
             "but not", "other than", "apart from", "besides"}
CLAUSE_BREAKS = {"who", "whose", "that", "which", "with", "but", "while", "where"}

# Abbreviations spelt out before encoding, on both sides (a phrase and a catalog value): the text encoder knows
# words, not initialisms. A tenant can add its own (settings "describe.glossary").
GLOSSARY = {
    "cfo": "chief financial officer", "ceo": "chief executive officer", "cto": "chief technology officer",
    "coo": "chief operating officer", "cmo": "chief marketing officer", "cio": "chief information officer",
    "cdo": "chief data officer", "vp": "vice president", "svp": "senior vice president", "hr": "human resources",
    "saas": "software as a service", "b2b": "business to business", "b2c": "business to consumer",
    "it": "information technology", "ai": "artificial intelligence", "ml": "machine learning",
    "cpg": "consumer packaged goods", "fmcg": "fast moving consumer goods", "smb": "small business",
    "c-level": "chief executive", "admin": "administration", "exec": "executive", "execs": "executives",
    "mgr": "manager", "eng": "engineering", "ops": "operations", "fin": "finance",
    "grad": "graduate", "grads": "graduates", "hs": "high school", "mgmt": "management", "univ": "university",
    "assoc": "associate", "sr": "senior", "jr": "junior", "dir": "director", "acct": "account",
}

# Units and names that point at the built-in numeric and date fields.
NUMBER_UNITS = {
    "company_size": ("employees", "employee", "staff", "headcount", "people", "workers", "fte", "ftes",
                     "person company", "people company", "company size", "size"),
    "web_visits": ("visits", "visit", "site visits", "web visits", "website visits", "page visits", "sessions",
                   "site", "website", "web site", "pages"),
    "email_opens": ("opens", "email opens", "emails opened", "emails", "email", "opened emails", "newsletters"),
}
FIELD_HINTS = {
    "industry": ("industry", "industries", "sector", "sectors", "vertical", "verticals", "space", "market"),
    "country": ("country", "countries", "nation", "based in", "located in"),
    "region": ("region", "regions", "state", "states", "province", "provinces", "area"),
    "title": ("title", "titles", "job title", "role", "roles", "job", "jobs", "position", "as a", "as an"),
    "seniority": ("seniority", "level", "levels", "seniority level"),
    "property_type": ("property", "properties", "home", "homes", "property type", "house", "houses"),
}
REACH_UNITS = ("leads", "contacts", "prospects", "records", "members", "people")
SEED_WORDS = {
    "won": ("customers", "customer", "clients", "client", "closed deals", "won deals", "deals", "wins", "closings",
            "installs", "accounts", "buyers", "best customers", "closed won"),
    "meeting": ("meetings", "meeting", "booked meetings", "demos"),
    "replied": ("replies", "replied", "responders", "responded", "repliers"),
    "scored": ("top scores", "high scores", "top scored", "scored leads", "top scorers"),
}
ACTIVITY_WORDS = r"(?:active|activity|engaged|engagement|seen|interacted|touched|heard from|in touch)"
NUMBER_WORDS = {"once": 1, "twice": 2, "thrice": 3,
                "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
                "thirty": 30, "sixty": 60, "ninety": 90}
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}
ORDINALS = {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6", "seventh": "7",
            "eighth": "8", "ninth": "9", "tenth": "10", "1st": "1", "2nd": "2", "3rd": "3", "4th": "4", "5th": "5",
            "last": "last"}
# Nouns after a word that make it a group ("marketing people", "finance leaders"): every value of the field that
# belongs to it, by meaning
GROUP_NOUNS = {"people", "persons", "leaders", "leadership", "folks", "team", "teams", "staff", "professionals",
               "roles", "functions", "types", "department", "departments", "titles", "experts", "specialists"}
GROUP_THRESHOLD = 0.5  # a value's cosine with a group word at which it belongs to the group
GROUP_MARGIN = 0.2  # ... and at most this far below the group's closest value
CONTAINS_VERBS = {"mention", "mentions", "mentioning", "mentioned", "contain", "contains", "containing", "say",
                  "says", "saying", "include", "includes", "including", "about"}
# Words for the two values of a gender column (its values as written: male/female, m/f, man/woman)
GENDER_WORDS = {
    "male": {"men", "man", "males", "male", "guys", "gentlemen", "boys", "fathers", "dads", "husbands"},
    "female": {"women", "woman", "females", "female", "ladies", "girls", "mothers", "moms", "mums", "wives"},
}
DISTANCE_WORDS = {"mile", "miles", "mi", "km", "kms", "kilometer", "kilometers", "kilometre", "kilometres",
                  "meters", "metres", "m"}
PERSON_WORDS = {"people", "persons", "person", "men", "women", "man", "woman", "employees", "employee", "customers",
                "customer", "clients", "client", "staff", "those", "anyone", "members", "users", "adults", "folks",
                "subscribers", "applicants", "borrowers", "buyers", "students", "workers", "retirees", "pensioners",
                "leads", "contacts", "prospects", "someone", "individuals", "ones", "guys", "ladies", "males",
                "females", "singles", "couples", "parents", "owners", "renters", "homeowners", "patients",
                "dropouts", "graduates", "grads", "wives", "husbands", "mothers", "fathers", "moms", "dads",
                "seniors", "homemakers", "housewives", "smokers", "drivers", "retired", "unemployed"}
DURATION_WORDS = {"day": "days", "days": "days", "week": "weeks", "weeks": "weeks", "month": "months",
                  "months": "months", "year": "years", "years": "years", "yr": "years", "yrs": "years"}


@dataclass
class Mention:
    """Words of a description that name a column: ``tokens`` (indices), whether every word of its name is there."""

    field: str
    tokens: tuple[int, ...]
    full: bool
    bound: bool = False

    @property
    def first(self) -> int:
        return min(self.tokens)

    @property
    def last(self) -> int:
        return max(self.tokens)


class DescriptionError(ValueError):
    """A description that cannot be read at all (empty, or nothing in it understood)."""


class NothingUnderstood(DescriptionError):
    """A description none of whose words matches the tenant's fields or values (``not_understood``: its words)."""

    def __init__(self, message: str, not_understood: list[str]) -> None:
        super().__init__(message)
        self.not_understood = not_understood


@dataclass(frozen=True)
class CatalogField:
    name: str  # "industry", "attributes.job"
    ftype: FieldType
    values: tuple[str, ...] = ()  # categorical values, most frequent first
    counts: tuple[int, ...] = ()
    meaning: ColumnMeaning | None = None  # what the column means (inferred from its name and values, or corrected)
    minimum: float | None = None  # a number column's stored range
    maximum: float | None = None

    @property
    def words(self) -> str:
        """The field's name as words (``attributes.poutcome`` -> ``poutcome``)."""
        return self.name.removeprefix("attributes.").replace("_", " ")

    @property
    def is_yes_no(self) -> bool:
        return yes_no_values(list(self.values))[0] is not None

    @property
    def is_free_text(self) -> bool:
        return self.meaning is not None and self.meaning.kind == "free text"

    def meant(self) -> ColumnMeaning:
        return self.meaning or infer_meaning(self.name, self.ftype, self.values)


@dataclass
class Catalog:
    """What a tenant's leads hold: the fields a rule may name, and the values of the categorical ones."""

    fields: dict[str, CatalogField]
    seed_labels: dict[str, int] = field(default_factory=dict)  # live seeds by label
    glossary: dict[str, str] = field(default_factory=dict)  # the tenant's own abbreviations

    def attribute_types(self) -> dict[str, FieldType]:
        return {n.removeprefix("attributes."): f.ftype for n, f in self.fields.items() if n.startswith("attributes.")}

    @property
    def own_glossary(self) -> dict[str, str]:
        """The tenant's abbreviations, normalized as the reader compares words."""
        return {norm(k): norm(v) for k, v in self.glossary.items()}

    def meanings(self) -> dict[str, ColumnMeaning]:
        """Every imported column's meaning (what people call it, its unit), the tenant's own abbreviations spelt
        out in inferred names and in descriptions ("price mm" -> "price minute maid" with the glossary entry
        mm: Minute Maid)."""
        out = {n: f.meant() for n, f in self.fields.items() if n.startswith("attributes.")}
        if not self.glossary:
            return out
        own = self.own_glossary
        return {n: replace(m, label=expand(m.label, own),
                           description=expand(m.description, own) if m.description else "")
                for n, m in out.items()}


@dataclass
class Part:
    """One understood phrase and what it became."""

    phrase: str
    field: str
    op: str
    value: Any
    how: str  # exact, country, fuzzy, meaning, number, date, yes/no, engagement, reach, seeds, exclusion
    confidence: float
    start: int = 0


@dataclass
class Draft:
    description: str
    rules: dict[str, Any]
    seed_set: dict[str, Any]
    parts: list[Part]
    not_understood: list[str]
    seed_reason: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"description": self.description, "rules": self.rules, "seed_set": self.seed_set,
                "seed_reason": self.seed_reason, "parts": [asdict(p) for p in self.parts],
                "not_understood": self.not_understood, "notes": self.notes}


# ---------------------------------------------------------------------------------------------------------
# Text


def norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", str(s)).casefold()
    s = re.sub(r"[\-_/]+", " ", s)
    s = re.sub(r"[^\w\s&+%.,$€£]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def singular(w: str) -> str:
    if len(w) <= 3 or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes")):
        return w[:-2]
    if w.endswith("s"):
        return w[:-1]
    return w


def key(s: str) -> str:
    """What two spellings of a value share: case, punctuation and plurals folded."""
    return " ".join(singular(w) for w in re.findall(r"[\w&+]+", norm(s).replace(".", " ")))


@dataclass
class Token:
    text: str  # as written
    low: str
    key: str
    start: int
    end: int
    clause: int = 0
    used: bool = False
    stop: bool = False


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    clause = 0
    pos = 0
    for m in re.finditer(r"[\w][\w&+.'’]*|[,;:()!?]", text):
        w = re.sub(r"['’]s$", "", m.group().rstrip(".'’"))
        if not w:
            continue
        low = unicodedata.normalize("NFKC", w).casefold()
        between = text[pos:m.start()]
        pos = m.end()
        if re.search(r"[,;:()!?]", between) or low in {",", ";", ":", "(", ")", "!", "?"} or \
                (m.group().endswith(".") and not re.fullmatch(r"[\w]+\.", m.group())):
            clause += 1
        if low in {",", ";", ":", "(", ")", "!", "?"}:
            continue
        if low in CLAUSE_BREAKS:
            clause += 1
        # "VPs", "CFOs": the plural of an abbreviation
        k = low[:-1] if re.fullmatch(r"[A-Z]{2,}s", w) else key(low)
        out.append(Token(w, low, k, m.start(), m.start() + len(w), clause, stop=low in STOPWORDS))
    return out


def expand(phrase: str, glossary: Mapping[str, str]) -> str:
    """Abbreviations replaced by their words ("SaaS" -> "software as a service"): what the encoder compares."""
    words = norm(phrase).split()
    return " ".join(glossary.get(w) or glossary.get(singular(w)) or w for w in words)


# Words a value's key drops: articles and prepositions only ("Some College" is not "college", "Other" not "")
FUNCTION_WORDS = {"a", "an", "the", "of", "and", "in", "on", "at", "for", "to", "by", "with", "from", "&"}


def content_key(tokens: Sequence[str]) -> str:
    """A key without function words inside it: "VPs of engineering" and "vp engineering" are one."""
    kept = [t for t in tokens if t not in FUNCTION_WORDS]
    return " ".join(kept) if kept else " ".join(tokens)


def unnumbered(value: str) -> str:
    """A value without the enumeration some tables prefix ("4. College Grad" -> "College Grad"), its glued words
    and abbreviations spelt out as in column names ("AsstProf" -> "assistant professor")."""
    v = re.sub(r"^\s*\d{1,2}[.)]\s+", "", str(value))
    if re.fullmatch(r"[A-Za-z]*[a-z][A-Z][A-Za-z]*", v) or (len(v) >= 4 and v.casefold() in ABBREVIATIONS):
        return " ".join(name_words(v))
    return v


# ---------------------------------------------------------------------------------------------------------
# The parser


def _unit_rows(vecs: Any) -> np.ndarray:
    vecs = np.asarray(vecs, dtype=np.float32)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


class VectorCache:
    """A catalog's encoded values, kept between drafts (a service reads many descriptions against one catalog).
    The values are always encoded together and apart from a description's phrases, so a cached and a fresh
    draft are the same (a quantized encoder's output depends on what shares its batch). Bounded, thread-safe."""

    def __init__(self, max_entries: int = 64) -> None:
        import threading
        from collections import OrderedDict

        self._items: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = self.misses = 0

    def vectors(self, encoder: Any, texts: Sequence[str]) -> np.ndarray:
        import hashlib

        digest = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()
        k = (str(getattr(encoder, "version", type(encoder).__name__)), len(texts), digest)
        with self._lock:
            got = self._items.get(k)
            if got is not None:
                self._items.move_to_end(k)
                self.hits += 1
                return got
        vecs = _unit_rows(encoder.encode(list(texts)))
        with self._lock:
            self.misses += 1
            self._items[k] = vecs
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return vecs


class _Reader:
    def __init__(self, text: str, catalog: Catalog, encoder: Any | None, now: datetime,
                 cache: VectorCache | None = None):
        self.cache = cache
        self.text = text
        self.low = unicodedata.normalize("NFKC", text).casefold()
        self.catalog = catalog
        self.encoder = encoder
        self.now = now
        self.tokens = tokenize(text)
        self.parts: list[Part] = []
        self.reach: dict[str, Any] = {}
        self.exclude: dict[str, Any] = {}
        self.seed_labels: list[str] = []
        self.seed_phrase: str | None = None
        self.notes: list[str] = []
        self.glossary = {**GLOSSARY, **catalog.own_glossary}
        self.hints: list[tuple[int, str]] = []  # (token index, field) of words that name a field
        self.glued: dict[str, set[str]] = {}
        self.meanings = catalog.meanings()  # read once: the binding of every number looks at them

    # -- helpers
    def has(self, name: str) -> bool:
        return name in self.catalog.fields

    def consume(self, start: int, end: int) -> None:
        for t in self.tokens:
            if t.start >= start and t.end <= end:
                t.used = True

    def free(self, start: int, end: int) -> bool:
        return not any(t.used for t in self.tokens if t.start < end and t.end > start)

    def negated_at(self, start: int) -> bool:
        """A negation word in the same clause before ``start`` (up to the previous value of another field)."""
        idx = next((i for i, t in enumerate(self.tokens) if t.start >= start), len(self.tokens))
        if idx >= len(self.tokens):
            return False
        clause = self.tokens[idx].clause
        for j in range(idx - 1, -1, -1):
            t = self.tokens[j]
            if t.clause != clause:
                return False
            if t.used and (t.low in NEGATIONS or t.low.endswith("n't")):
                return False  # the negation of an earlier part ("no personal loan"), spent there
            if self.negating(j):
                return True
        return False

    def negating(self, j: int) -> bool:
        """Token ``j`` negates what follows: "no", "without", "don't", the end of "other than" or "apart from"."""
        t = self.tokens[j]
        return t.low in NEGATIONS or t.low.endswith("n't") or \
            (t.low == "than" and j > 0 and self.tokens[j - 1].low in ("other", "rather")) or \
            (t.low == "from" and j > 0 and self.tokens[j - 1].low in ("apart", "aside"))

    def number_negated(self, start: int) -> bool:
        """A negation right before a comparison ("not over 50", "never more than 3"): one of the two words before
        it. A negation further back belongs to another part ("outside the US priced under 100")."""
        idx = next((i for i, t in enumerate(self.tokens) if t.start >= start), len(self.tokens))
        for j in range(idx - 1, max(idx - 3, -1), -1):
            t = self.tokens[j]
            if t.clause != (self.tokens[idx].clause if idx < len(self.tokens) else t.clause):
                return False
            if self.negating(j):
                return not t.used
            if not t.stop and t.low not in ("aged", "age", "priced"):
                return False
        return False

    def add(self, phrase: str, field_: str, op: str, value: Any, how: str, confidence: float, start: int) -> None:
        self.parts.append(Part(phrase.strip(), field_, op, value, how, round(float(confidence), 3), start))

    # -- 0. words that name a column
    def token_stems(self, i: int) -> set[str]:
        """What a word can name: its stem, the stems of its glued parts ("voicemail"), an ordinal's number."""
        t = self.tokens[i]
        low = t.low.strip(".'’")
        out = {stem(low), low}
        # "uninsured", "unemployed": the word without its negating prefix also names the column (negated)
        for prefix in ("un", "non"):
            if low.startswith(prefix) and len(low) - len(prefix) >= 4:
                out.add(stem(low[len(prefix):]))
        if low in ORDINALS:
            out.add(ORDINALS[low])
        if low in NUMBER_WORDS and low not in ("a", "an", "once", "twice", "thrice"):
            out.add(str(int(NUMBER_WORDS[low])))  # "the last two years" names "delinq 2 years"
        # two words of a column's name written as one ("voicemail" for "voice mail")
        out |= self.glued.get(singular(low), set())
        return out

    def names_word(self, i: int, core: str) -> int:
        """How well word ``i`` names a word of a column's name: 3 as written, 2 as part of a compound, 1 as a
        synonym, 0 not."""
        stems = self.token_stems(i)
        if core in stems:
            return 3
        low = self.tokens[i].low
        if not core.isdigit() and not self.tokens[i].stop:
            # a compound that starts with the word ("website" names "web", "teenagers" names "teen"), the word
            # that starts the name's ("smoke" names "smoker"), or ends it ("income" in "fincome")
            if len(core) >= 3 and low.startswith(core) and len(low) - len(core) <= 5:
                return 2
            s0 = stem(low)
            if len(s0) >= 5 and (core.startswith(s0) and len(core) - len(s0) <= 2 or
                                 len(core) - len(s0) in (1, 2) and core.endswith(s0)):
                return 2
        if stems & synonym_stems(core):
            return 1
        return 0

    def find_mentions(self) -> None:
        """Phrases that name an imported column, by the words of its name (stems, synonyms, glued words, a
        person's own words for it). A phrase naming only some of the words counts when they name no other column."""
        self.mentions: list[Mention] = []
        meanings = {n: m for n, m in self.meanings.items() if m.kind != "date"}
        if not meanings:
            return
        self.glued: dict[str, set[str]] = {}
        for m in meanings.values():
            ws = re.findall(r"[a-z]+", m.label.casefold())
            for w1, w2 in zip(ws, ws[1:]):
                self.glued.setdefault(w1 + w2, set()).update({stem(w1), stem(w2)})
        clauses: dict[int, list[int]] = {}
        for i, t in enumerate(self.tokens):
            if not t.used:
                clauses.setdefault(t.clause, []).append(i)
        cands: list[tuple[int, int, int, Mention]] = []
        cores = {n: m.core for n, m in meanings.items()}
        raw_names = {n: re.sub(r"[^a-z0-9]", "", n.removeprefix("attributes.").casefold()) for n in meanings}
        for name, m in meanings.items():
            core = cores[name]
            for idxs in clauses.values():
                # a person's own words for the column, as written
                for syn in m.synonyms:
                    ks = [key(w) for w in norm(syn).split()]
                    for a in range(len(idxs) - len(ks) + 1):
                        span = idxs[a:a + len(ks)]
                        if span == list(range(span[0], span[0] + len(ks))) and \
                                [self.tokens[i].key for i in span] == ks:
                            cands.append((len(core) + 1, 40, -len(ks), Mention(name, tuple(span), True)))
                quality = {(i, w): self.names_word(i, w) for w in core for i in idxs}
                pos = {w: [i for i in idxs if quality[(i, w)]] for w in core}
                found = [w for w in core if pos[w]]
                if not found:
                    continue
                full = len(found) == len(core)
                if not full:
                    # only words that say what the column is, and that no other column's name has as well
                    found = [w for w in found if not w.isdigit() and len(w) >= 3]
                    if not found or any(o != name and set(found) <= set(oc) for o, oc in cores.items()):
                        continue
                    pos = {w: [i for i in pos[w] if not self.tokens[i].stop] for w in found}
                    if not all(pos.values()):
                        continue
                chosen = _tightest([pos[w] for w in found])
                width = max(chosen) - min(chosen) + 1
                if width > len(found) + 6:
                    continue
                q = sum(quality[(i, w)] for i, w in zip(chosen, found))
                if q == len(found) and any(len(self.tokens[i].low) >= 5 and self.tokens[i].low in raw
                                           for i in chosen for o, raw in raw_names.items() if o != name):
                    # only a synonym names this column, and another column's name holds the word itself
                    # ("income" is in "fincome"): neither is guessed
                    continue
                cands.append((len(found), int(full) * 10 + q, -width, Mention(name, tuple(sorted(set(chosen))), full)))
        cands.sort(key=lambda c: (-c[0], -c[1], -c[2]))
        # then the words of a column's description ("air conditioning" for airco: "has central air conditioning"),
        # after every name: a description names a column less surely than its name does
        by_description = self.description_mentions(meanings, clauses)
        from_description = {id(c[3]) for c in by_description}
        cands += by_description
        claimed: dict[int, str] = {}
        rival_rank: dict[str, tuple[int, int]] = {}
        for n_found, _full, _w, mention in cands:
            had = next((x for x in self.mentions if x.field == mention.field), None)
            if had is not None:
                # the column's description goes on where its name stopped ("free" of freepoor, then "government
                # insurance for low income" of its description): the words are its, not another column's
                if id(mention) in from_description and \
                        self.tokens[had.first].clause == self.tokens[mention.first].clause:
                    more = [i for i in mention.tokens if i not in claimed]
                    had.tokens = tuple(sorted({*had.tokens, *more}))
                    for i in more:
                        claimed[i] = had.field
                continue
            fresh = [i for i in mention.tokens if i not in claimed]
            if not fresh:
                # the same words as a column taken already: as good a match for another column means ambiguous
                rival = next((x for x in self.mentions if set(x.tokens) == set(mention.tokens)), None)
                if rival is not None and rival_rank.get(rival.field) == (n_found, _full) and \
                        len(cores[rival.field]) == len(cores[mention.field]):
                    self.mentions.remove(rival)
                continue
            self.mentions.append(mention)
            rival_rank[mention.field] = (n_found, _full)
            for i in mention.tokens:
                claimed.setdefault(i, mention.field)
        # a column whose name is another's with a letter or two before it ("college" and "hcollege": the wife's and
        # the husband's): the words name either, and neither is guessed
        for x in list(self.mentions):
            mine = raw_names[x.field]
            twins = [o for o, raw in raw_names.items() if o != x.field and min(len(mine), len(raw)) >= 4 and
                     raw != mine and (raw.endswith(mine) or mine.endswith(raw)) and abs(len(raw) - len(mine)) <= 2
                     and not is_word(max(raw, mine, key=len))]
            if twins and not any(y.field in twins for y in self.mentions):
                self.mentions.remove(x)
                for i in x.tokens:  # said in the note; no later pass reads them as a value or a yes/no column
                    self.tokens[i].used = True
                names = ", ".join(n.removeprefix("attributes.") for n in [x.field, *twins])
                self.notes.append(f"{self.text[self.tokens[x.first].start:self.tokens[x.last].end]!r} could be any "
                                  f"of the columns {names}: add a description to the one it means "
                                  "(lookalike tenants columns), or name it")
        # a categorical column's name words are hints for its values ("fiber optic internet")
        for x in self.mentions:
            if self.catalog.fields[x.field].meant().kind in ("category", "free text"):
                self.hints.extend((i, x.field) for i in x.tokens)

    def description_mentions(self, meanings: Mapping[str, ColumnMeaning], clauses: Mapping[int, list[int]]
                             ) -> list[tuple[int, int, int, Mention]]:
        """Phrases that name a column by the words of its description: two of its words or more close together,
        or one that no other column's name or description has ("50 MHz": "clock speed in MHz"). A word the
        description negates ("chronic condition not limiting activity") and the phrase does not, or the other way
        round, rules the column out."""
        described: dict[str, dict[str, bool]] = {}
        for name, m in meanings.items():
            words = norm(m.description).split()
            stems: dict[str, bool] = {}
            for j, w in enumerate(words):
                if w in STOPWORDS or w in NEGATIONS or w in GENERIC_WORDS or len(w) < 2 or w.isdigit():
                    continue
                stems.setdefault(stem(w), any(p in NEGATIONS for p in words[max(0, j - 2):j]))
            if stems:
                described[name] = stems
        if not described:
            return []
        everywhere: dict[str, int] = {}
        for name, m in meanings.items():
            for st in set(described.get(name, {})) | set(m.core):
                everywhere[st] = everywhere.get(st, 0) + 1
        out = []
        for name, stems in described.items():
            for idxs in clauses.values():
                hits = [(i, stem(self.tokens[i].low)) for i in idxs if not self.tokens[i].stop and
                        stem(self.tokens[i].low) in stems]
                if not hits:
                    continue
                found = {st for _, st in hits}
                if any(stems[st] != self.negation_before(i)[0] for i, st in hits):
                    continue
                negated_unsaid = [st for st, neg in stems.items() if neg and st not in found]
                if negated_unsaid and len(found) >= 2 and \
                        all(any(o != name and st in other for st in found) for o, other in described.items()):
                    # the phrase says all another description says but the negated word ("not limiting")
                    continue
                if len(found) < 2 and not (len(next(iter(found))) >= 3 and everywhere.get(next(iter(found))) == 1):
                    continue
                chosen = _tightest([[i for i, st in hits if st == w] for w in found])
                width = max(chosen) - min(chosen) + 1
                if width > len(found) + 3:
                    continue
                out.append((len(found), len(found), -width, Mention(name, tuple(sorted(set(chosen))), False)))
        out.sort(key=lambda c: (-c[0], -c[1], -c[2]))
        return out

    def mention_near(self, start: int, end: int, numeric: bool = True) -> Mention | None:
        """The column a number at [start, end) is about: the column named right after it ("500 on wine"), around
        it ("visit the website more than 7 times a month"), else right before it ("income under 30,000")."""
        ti = [i for i, t in enumerate(self.tokens) if t.start >= start and t.end <= end]
        if not ti:
            return None
        a, b = ti[0], ti[-1]
        clause = self.tokens[a].clause
        ok = []
        for x in self.mentions:
            if x.bound or self.tokens[x.first].clause != clause or \
                    (numeric and self.catalog.fields[x.field].ftype != "number"):
                continue
            # the words of the mention outside the number's own ("10 years at the company": "company")
            outside = tuple(i for i in x.tokens if not a <= i <= b)
            if outside:
                ok.append(Mention(x.field, outside, x.full) if len(outside) < len(x.tokens) else x)
        originals = {x.field: x for x in self.mentions}

        def gap(i: int, j: int) -> bool:
            """Only function words and units between tokens i and j (exclusive)."""
            return all(self.tokens[k].stop or self.tokens[k].low in DURATION_WORDS or
                       self.tokens[k].low in ("times", "spent", "spend", "spending", "month", "week", "year") or
                       self.tokens[k].low in DISTANCE_WORDS for k in range(i + 1, j))

        after = [x for x in ok if x.first > b and x.first - b <= 5 and gap(b, x.first) and
                 not any(self.tokens[k].low.isdigit() for k in range(b + 1, x.first))]
        if after:
            return originals[min(after, key=lambda x: x.first).field]
        around = [x for x in ok if x.first < a <= x.last]
        if around:
            return originals[around[0].field]
        before = [x for x in ok if x.last < a and a - x.last <= 5]
        if before:
            return originals[max(before, key=lambda x: x.last).field]
        return None

    # -- 1. structures
    def numbers(self) -> None:
        words = "|".join(w for w in NUMBER_WORDS if len(w) > 2)
        num = rf"([$€£]?\s?\d[\d,]*(?:\.\d+)?\s?(?:k|m|thousand|million)?\b|(?:{words})\b)"
        cmp_words = {
            "gt": r"more than|greater than|larger than|bigger than|over|above|exceeding|upwards of|in excess of",
            "gte": r"at least|no less than|no fewer than|not less than|not fewer than|a minimum of|minimum of|min",
            "lt": r"fewer than|less than|under|below|smaller than",
            "lte": r"at most|no more than|not more than|up to|a maximum of|maximum of|max",
        }
        patterns = [
            ("between", rf"\b(?:between)\s+{num}\s+(?:and|to|-)\s+{num}"),
            ("between", rf"\bfrom\s+{num}\s+to\s+{num}"),
            ("between", rf"(?<![\w.]){num}\s?(?:-|–|to)\s?{num}(?=\s+[a-z]|\s*$|\s*[,;.])"),
            ("gte", rf"(?<![\w.]){num}\s?(?:\+|or more|or above|or over|and more|and above|and up)"),
            ("lte", rf"(?<![\w.]){num}\s?(?:or fewer|or less|or below|or under)"),
            # "60 months or longer", "3 years or more": a unit between the number and the comparison
            ("gte", rf"(?<![\w.]){num}\s+[a-z]+\s+(?:or more|or longer|or older|or above|or over|and up)\b"),
            ("lte", rf"(?<![\w.]){num}\s+[a-z]+\s+(?:or fewer|or less|or shorter|or younger|or below|or under)\b"),
        ] + [(op, rf"\b(?:{alts})\s+{num}") for op, alts in cmp_words.items()]
        # in the order they are written (a number binds to the column named right after it before one further on)
        found = sorted((m.start(), -(m.end() - m.start()), rank, op, m) for rank, (op, pat) in enumerate(patterns)
                       for m in re.finditer(pat, self.low))
        # then "a religiousness of 5", "exactly 3 children": equality, only for a column named with it
        eq = sorted((m.start(), 0, 0, "eq", m) for m in re.finditer(
            rf"\b(?:exactly|equal to|equals|of)\s+{num}(?!\s*(?:%|percent|or\b))", self.low))
        # "3 bedrooms", "a single storey", "two young kids": a bare number right before the words of a count's
        # name is that many
        bare = []
        for m in re.finditer(rf"(?<![\w.$€£-])({num}|single)\s+(?=[a-z])", self.low):
            nxt = next((i for i, t in enumerate(self.tokens) if t.start >= m.end()), None)
            if nxt is not None and any(x.first == nxt and not x.bound and
                                       self.catalog.fields[x.field].meant().kind == "count" for x in self.mentions):
                bare.append((m.start(), 0, 0, "eq", m))
        for _s, _l, _r, op, m in [*found, *eq, *bare]:
            if not self.free(m.start(), m.end()):
                continue
            vals = [1.0 if g == "single" else _to_number(g) for g in m.groups() if g is not None]
            if any(v is None for v in vals):
                continue
            if op == "between" and vals[0] > vals[1]:
                vals = [vals[1], vals[0]]
            num_end = max(m.end(g) for g in range(1, len(m.groups()) + 1) if m.group(g) is not None)
            if self.bind_number(m.start(), num_end, m.group(), op, vals, m.end()):
                continue
            if op == "eq":
                continue
            field_, span = self.numeric_field(m.start(), m.end())
            if field_ == "__reach__":
                if op in ("lt", "lte"):
                    self.reach["max_size"] = int(vals[-1])
                    self.add(self.low[span[0]:span[1]], "reach.max_size", "cap", int(vals[-1]), "reach", 1.0,
                             span[0])
                    self.consume(*span)
                continue
            if field_ is None:
                continue
            if op == "between":
                value: Any = {"min": _clean(vals[0]), "max": _clean(vals[1])}
            else:
                value = _clean(vals[0])
            if self.number_negated(m.start()) and op != "between":
                op = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}[op]
            self.add(self.low[span[0]:span[1]], field_, op, value, "number", 1.0, span[0])
            self.consume(*span)

    def bind_number(self, start: int, end: int, written: str, op: str, vals: list[float],
                    match_end: int | None = None) -> bool:
        """A number bound to the imported column its clause names, converted through the column's unit ("5 years"
        on a column in months is 60; "80k" on a column in thousands is 80). ``end``: where the number ends;
        ``match_end``: where the comparison ends ("60 months or longer")."""
        after = self.low[end:end + 40]
        unit, extra = None, 0
        if um := re.match(r"\s*(days?|weeks?|months?|years?|yrs?)\b", after):
            unit, extra = DURATION_WORDS[um.group(1)], um.end()
        elif tm := re.match(r"\s*(?:times)?(?:\s*(?:an?|per|each|every)\s+(?:hour|day|week|month|year))\b|"
                            r"\s*times\b", after):
            extra = tm.end()
        elif cm := re.match(r"\s*(?:euros?|dollars?|usd|eur|gbp|pounds?)\b", after):
            extra = cm.end()
        x = self.mention_near(start, end + extra)
        if x is None and unit is None and len(vals) in (1, 2) and all(0 < v <= 120 for v in vals) and \
                not re.search(r"[$€£%]|\d\s?(?:k|m|thousand|million)\b", written) and self.about_people(start):
            # "people over 60", "men under 30": a person's age, when the tenant has one age column
            ages = [n for n, m in self.meanings.items() if self.catalog.fields[n].ftype == "number"
                    and m.label.split() == ["age"]]
            if len(ages) == 1:
                x = Mention(ages[0], (), False)
        money = bool(re.search(r"[$€£]|\d\s?(?:k|m|thousand|million)\b", written)) or \
            bool(re.match(r"\s*(?:euros?|dollars?|usd|eur|gbp|pounds?)\b", after))
        if x is None and money:
            # "under 200k": the one column of money
            cash = [n for n, m in self.meanings.items() if self.catalog.fields[n].ftype == "number"
                    and (m.unit or "").startswith("currency")]
            if len(cash) == 1:
                x = Mention(cash[0], (), False)
        if x is None and unit is not None:
            # "been with us for less than 6 months": the one column that counts time
            timed = [n for n, m in self.meanings.items() if m.unit in DURATION_DAYS
                     and self.catalog.fields[n].ftype == "number" and "age" not in m.label.split()]
            if len(timed) == 1:
                x = Mention(timed[0], (), False)
        if x is None:
            return False
        meaning = self.catalog.fields[x.field].meant()
        multiplied = bool(re.search(r"\d\s?(?:k|m|thousand|million)\b|[$€£]", written))
        fld = self.catalog.fields[x.field]
        conv = [_convert(v, meaning, unit, multiplied, (fld.minimum, fld.maximum)) for v in vals]
        negated = self.number_negated(start) and op != "between"
        value: Any = {"min": conv[0], "max": conv[1]} if op == "between" else conv[0]
        if negated:
            op = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}[op]
        lo = min([start] + [self.tokens[i].start for i in x.tokens])
        hi = max([end + extra] + [self.tokens[i].end for i in x.tokens])
        stop = max(end + extra, match_end or 0)
        hi = max(hi, stop)
        self.add(self.low[lo:hi], x.field, op, value, "number", 1.0, lo)
        self.consume(start, stop)
        for i in x.tokens:
            self.tokens[i].used = True
        x.bound = True
        return True

    def about_people(self, start: int) -> bool:
        """The words right before a number name people ("retired people over 60", "men under 30")."""
        idx = next((i for i, t in enumerate(self.tokens) if t.start >= start), len(self.tokens))
        for j in range(idx - 1, max(idx - 3, -1), -1):
            if self.tokens[j].low in PERSON_WORDS or self.tokens[j].low in ("aged", "age", "ages"):
                return True
            if not self.tokens[j].stop and not self.tokens[j].used:
                return False
        return False

    def genders(self) -> None:
        """"women", "men": the values of a column whose values are male and female (however written)."""
        for name, f in self.catalog.fields.items():
            if f.ftype != "text" or f.is_free_text:
                continue
            keys = {norm(v): v for v in f.values}
            male = next((keys[k] for k in ("male", "m", "man", "men") if k in keys), None)
            female = next((keys[k] for k in ("female", "f", "woman", "women") if k in keys), None)
            if male is None or female is None:
                continue
            for t in self.tokens:
                for value, words in ((male, GENDER_WORDS["male"]), (female, GENDER_WORDS["female"])):
                    if not t.used and t.low in words:
                        self.add(t.text, name, "in", value, "exact", 0.95, t.start)
                        t.used = True

    def calendar_years(self) -> None:
        """"born before 1960": a column of calendar years named in the clause."""
        for m in re.finditer(r"\b(before|after|since|earlier than|later than|prior to|until|from)\s+"
                             r"(1[89]\d\d|20\d\d)\b", self.low):
            if not self.free(m.start(), m.end()):
                continue
            x = self.mention_near(m.start(), m.end())
            if x is None or self.catalog.fields[x.field].meant().unit != "year":
                continue
            op = {"before": "lt", "earlier than": "lt", "prior to": "lt", "until": "lte", "after": "gt",
                  "later than": "gt", "since": "gte", "from": "gte"}[m.group(1)]
            lo = min([m.start()] + [self.tokens[i].start for i in x.tokens])
            self.add(self.low[lo:max(m.end(), self.tokens[x.last].end)], x.field, op, int(m.group(2)), "number",
                     1.0, lo)
            self.consume(m.start(), m.end())
            for i in x.tokens:
                self.tokens[i].used = True
            x.bound = True

    def negation_before(self, i: int) -> tuple[bool, int]:
        """A negation a few words before token ``i`` in its clause ("without", "no", "did not", "non-"), and the
        first token of the phrase."""
        t = self.tokens[i]
        first = i
        for j in range(i - 1, max(i - 4, -1), -1):
            b = self.tokens[j]
            if b.used or b.clause != t.clause:
                break
            if self.negating(j):
                return True, j - 1 if b.low in ("than", "from") else j
            if b.low in ("with", "has", "have", "having", "had", "holding", "holds", "who", "are", "is"):
                first = j
                break
        return False, first

    def flags(self) -> None:
        """Columns named by their words: a flag ("who complained" -> 1, "not a senior citizen" -> 0), a yes/no
        column ("with paperless billing" -> Yes, "without phone service" -> No), a count ("with teenagers at home"
        -> at least 1, "no kids" -> 0)."""
        ordered = sorted((x for x in self.mentions if not x.bound), key=lambda x: x.first)
        seen: dict[int, int] = {}
        for x in self.mentions:
            for i in x.tokens:
                seen[i] = seen.get(i, 0) + 1
        for k, x in enumerate(ordered):
            # words shared with another column's mention ("stream" in "stream both TV and movies") serve both
            own = [i for i in x.tokens if seen[i] == 1] or list(x.tokens)
            if x.bound or any(self.tokens[i].used for i in own):
                continue
            f = self.catalog.fields[x.field]
            mm = f.meant()
            if mm.kind == "flag":
                values: tuple[Any, Any] = (1, 0)
                op_yes, op_no = "eq", "eq"
            elif mm.kind == "yes/no":
                yes, no, _ = yes_no_values(list(f.values))
                if yes is None:
                    continue
                values, op_yes, op_no = (yes, no), "eq", "eq"
            elif mm.kind == "count" or (mm.unit or "").startswith("count") and f.ftype == "number":
                values, op_yes, op_no = (1, 0), "gte", "eq"
            elif f.ftype == "number" and self.negation_before(x.first)[0]:
                # "no debt", "without affairs": none of it
                values, op_yes, op_no = (0, 0), "eq", "eq"
            else:
                continue
            neg, first = self.negation_before(x.first)
            # "uninsured": a negating prefix on the word that names the column
            neg = neg != any(re.match(r"(un|non)\w{4,}", self.tokens[i].low) and
                             stem(self.tokens[i].low) not in mm.core for i in x.tokens)
            last = x.last
            # two yes/no columns named side by side ("a housing loan", "health insurance"): the words name one of
            # them, which its description says ("has a housing loan"); without one, neither is guessed
            nxt = ordered[k + 1] if k + 1 < len(ordered) else None
            if nxt is not None and not nxt.bound and nxt.first == x.last + 1 and len(nxt.tokens) == 1 and \
                    self.catalog.fields[nxt.field].meant().kind in ("yes/no", "flag"):
                pair = [self.tokens[i].key for i in range(x.first, nxt.last + 1)]
                said = [c for c in (x, nxt) if _says(self.catalog.fields[c.field].meant(), pair)]
                nxt.bound = True
                if len(said) != 1:
                    x.bound = True
                    self.notes.append(f"{self.text[self.tokens[x.first].start:self.tokens[nxt.last].end]!r} could be "
                                      f"the column {x.field.removeprefix('attributes.')} or "
                                      f"{nxt.field.removeprefix('attributes.')}: add a description to the one it "
                                      "means (lookalike tenants columns), or name it")
                    continue
                if said[0] is nxt:
                    x, f, mm = nxt, self.catalog.fields[nxt.field], self.catalog.fields[nxt.field].meant()
                    if mm.kind == "flag":
                        values = (1, 0)
                    else:
                        yes, no, _ = yes_no_values(list(f.values))
                        values = (yes, no)
                last = nxt.last
            phrase = self.text[self.tokens[first].start:self.tokens[last].end]
            self.add(phrase, x.field, op_no if neg else op_yes, values[1] if neg else values[0], "yes/no", 0.95,
                     self.tokens[first].start)
            for i in range(first, last + 1):
                self.tokens[i].used = True
            x.bound = True

    def contains(self) -> None:
        """Free text only through an explicit "mentions"/"contains": ``notes mentioning budget``."""
        for x in self.mentions:
            f = self.catalog.fields[x.field]
            if x.bound or not f.is_free_text:
                continue
            j = x.last + 1
            while j < len(self.tokens) and self.tokens[j].stop and self.tokens[j].low not in CONTAINS_VERBS:
                j += 1
            if j >= len(self.tokens) or self.tokens[j].low not in CONTAINS_VERBS:
                continue
            rest = self.text[self.tokens[j].end:]
            q = re.match(r"\s*[\"“'‘]([^\"”'’]{1,80})[\"”'’]", rest)
            if q:
                value, end = q.group(1).strip(), self.tokens[j].end + q.end()
            else:
                words = []
                for t in self.tokens[j + 1:]:
                    if t.clause != self.tokens[j].clause or (t.stop and words):
                        break
                    if not t.stop:
                        words.append(t)
                    if len(words) == 3:
                        break
                if not words:
                    continue
                value, end = self.text[words[0].start:words[-1].end], words[-1].end
            start = self.tokens[x.first].start
            self.add(self.text[start:end], x.field, "contains", value, "contains", 1.0, start)
            self.consume(start, end)
            for i in x.tokens:
                self.tokens[i].used = True
            x.bound = True

    def ages(self) -> None:
        """"older than 40", "younger than 30": the tenant's numeric column named age."""
        age = next((n for n, f in self.catalog.fields.items() if f.ftype == "number" and key(f.words) == "age"), None)
        if age is None:
            return
        for m in re.finditer(r"\b(older|younger)\s+than\s+(\d+)", self.low):
            if self.free(m.start(), m.end()):
                self.add(m.group(), age, "gt" if m.group(1) == "older" else "lt", int(m.group(2)), "number", 1.0,
                         m.start())
                self.consume(m.start(), m.end())

    def signs(self) -> None:
        """"a negative balance", "positive balance": a number field below or above zero."""
        for m in re.finditer(r"\b(negative|positive)\s+(\w+)", self.low):
            f = next((n for n, f in self.catalog.fields.items() if f.ftype == "number"
                      and key(m.group(2)) == key(f.words)), None)
            if f and self.free(m.start(), m.end()):
                self.add(m.group(), f, "lt" if m.group(1) == "negative" else "gt", 0, "number", 1.0, m.start())
                self.consume(m.start(), m.end())

    def numeric_field(self, start: int, end: int) -> tuple[str | None, tuple[int, int]]:
        """The numeric field a number is about: by the unit after it ("200 employees", "60 years old"), else by
        the field named just before it ("balance over 1000", "aged between 30 and 40")."""
        after = self.low[end:end + 40]
        words_after = re.findall(r"[a-z]+", after)[:4]
        numeric = {n: f for n, f in self.catalog.fields.items() if f.ftype == "number"}
        for k in (3, 2, 1):
            if len(words_after) < k:
                continue
            phrase = " ".join(words_after[:k])
            if phrase in REACH_UNITS or singular(phrase) in {singular(u) for u in REACH_UNITS}:
                if phrase != "people" or "compan" not in self.low:
                    return "__reach__", (start, end + _span_of(after, k))
            for name, units in NUMBER_UNITS.items():
                if name in numeric and phrase in units:
                    return name, (start, end + _span_of(after, k))
            if phrase in ("years old", "year old", "years of age", "yrs old"):
                age = next((n for n in numeric if key(n.removeprefix("attributes.")) == "age"), None)
                if age:
                    return age, (start, end + _span_of(after, k))
            for name, f in numeric.items():
                if key(phrase) == key(f.words):
                    return name, (start, end + _span_of(after, k))
        # "more than 3 times in this campaign": a numeric field named a few words on
        for k, w in enumerate(words_after[:4], start=1):
            for name, f in numeric.items():
                if name.startswith("attributes.") and key(w) == key(f.words):
                    return name, (start, end + _span_of(after, k))
        before = self.low[max(0, start - 40):start]
        words_before = [w for w in re.findall(r"[a-z]+", before) if w not in STOPWORDS or w == "size"][-4:]
        for k in (3, 2, 1):
            if len(words_before) < k:
                continue
            phrase = " ".join(words_before[-k:])
            for name, f in numeric.items():
                names = {key(f.words)} | {key(u) for u in NUMBER_UNITS.get(name, ())}
                if key(phrase) in names or (k == 1 and _stem_match(phrase, f.words)):
                    at = before.rfind(words_before[-k]) + max(0, start - 40)
                    return name, (at, end)
        return None, (start, end)

    def dates(self) -> None:
        if not self.has("last_activity_at"):
            return
        n_words = "|".join(NUMBER_WORDS)
        units = r"(day|week|month|quarter|year)s?\b"
        for m in re.finditer(rf"\b(?:in|within|during|over|for)\s+the\s+(?:last|past|previous)\s+(\d+|{n_words})?"
                             rf"\s*{units}", self.low):
            # the activity the period is about, earlier in the clause: "active", "engaged", "opened", ...
            before = self.low[max(0, m.start() - 40):m.start()]
            before = re.split(r"[,;.]", before)[-1]
            act = list(re.finditer(rf"\b(in)?{ACTIVITY_WORDS}|\b(?:opened|visited|clicked|replied|responded)\b",
                                   before))
            if not act or not self.free(m.start(), m.end()):
                continue
            n = m.group(1)
            count = 1 if n is None else (int(n) if n.isdigit() else NUMBER_WORDS[n])
            start = m.start() - len(before) + act[-1].start()
            neg = bool(act[-1].group(1)) or bool(re.search(r"\b(not|never|no|dormant)\b", before))
            op = "not_within_last" if neg else "within_last"
            self.add(self.low[start:m.end()], "last_activity_at", op, f"P{count * UNIT_DAYS[m.group(2)]}D", "date",
                     1.0, start)
            negation = list(re.finditer(r"\b(not|never|no)\b", before))
            if neg and negation:
                start = min(start, m.start() - len(before) + negation[-1].start())
            if re.match(rf"(in)?{ACTIVITY_WORDS}|(not|never|no)\b", self.low[start:]):
                self.consume(start, m.end())
            else:
                self.consume(m.start(), m.end())
        for m in re.finditer(rf"\b(inactive|dormant|quiet)\s+(?:for|since)\s+(\d+|{n_words})\s*{units}", self.low):
            if self.free(m.start(), m.end()):
                count = int(m.group(2)) if m.group(2).isdigit() else NUMBER_WORDS[m.group(2)]
                self.add(m.group(), "last_activity_at", "not_within_last", f"P{count * UNIT_DAYS[m.group(3)]}D",
                         "date", 1.0, m.start())
                self.consume(m.start(), m.end())
        for m in re.finditer(rf"\b(?:{ACTIVITY_WORDS}\s+)(since|after|before)\s+([a-z0-9 ,]{{3,24}}?\d{{4}}"
                             r"(?:-\d{2}-\d{2})?)\b", self.low):
            if not self.free(m.start(), m.end()):
                continue
            try:
                d = dateparser.parse(m.group(2), default=datetime(self.now.year, 1, 1))
            except (ValueError, OverflowError):
                continue
            op = "lt" if m.group(1) == "before" else "gte"
            self.add(m.group(), "last_activity_at", op, d.date().isoformat(), "date", 0.95, m.start())
            self.consume(m.start(), m.end())

    def reach_and_seeds(self) -> None:
        for m in re.finditer(r"\btop\s+(\d+(?:\.\d+)?)\s*(?:%|percent|per cent)", self.low):
            self.reach["max_percent"] = _clean(float(m.group(1)))
            self.add(m.group(), "reach.max_percent", "cap", self.reach["max_percent"], "reach", 1.0, m.start())
            self.consume(m.start(), m.end())
        for m in re.finditer(r"\b(?:the\s+)?(?:best|top)\s+(\d[\d,]*)\s+(?:leads|contacts|prospects|people|matches)\b",
                             self.low):
            if self.free(m.start(), m.end()):
                self.reach["max_size"] = int(m.group(1).replace(",", ""))
                self.add(m.group(), "reach.max_size", "cap", self.reach["max_size"], "reach", 1.0, m.start())
                self.consume(m.start(), m.end())
        for m in re.finditer(r"\b(?:excluding|exclude|except|not|but not|without)\s+(?:our\s+|the\s+|existing\s+|"
                             r"current\s+)*(customers|clients|accounts)\b", self.low):
            self.exclude["customers"] = True
            self.add(m.group(), "exclude.customers", "set", True, "exclusion", 1.0, m.start())
            self.consume(m.start(), m.end())
        labels = []
        for label, words in SEED_WORDS.items():
            alt = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
            pat = (rf"\b(?:like|similar to|resembling|resemble|lookalikes? of|look like|looking like|the same as)\s+"
                   rf"(?:our|the|my|existing|recent|past|current|best|top|\s)*\b({alt})\b")
            for m in re.finditer(pat, self.low):
                labels.append(label)
                self.seed_phrase = m.group()
                self.consume(m.start(), m.end())
            if label in ("replied", "meeting"):
                for m in re.finditer(r"\b(?:who|that)\s+(?:have\s+|has\s+|had\s+)?(replied|responded|booked\s+"
                                     r"(?:a\s+)?meetings?|took\s+(?:a\s+)?meetings?)\b", self.low):
                    got = "replied" if m.group(1) in ("replied", "responded") else "meeting"
                    if got == label and self.free(m.start(), m.end()):
                        labels.append(label)
                        self.seed_phrase = m.group()
                        self.consume(m.start(), m.end())
        self.seed_labels = list(dict.fromkeys(labels))

    def engagement(self) -> None:
        verbs = [("email_opens", r"(?:opened|open|opens|read|reads|clicked)\s+(?:our\s+|the\s+|an?\s+|any\s+|some\s+|"
                                 r"one\s+of\s+our\s+)*(?:e-?mails?|newsletters?|mailings?|campaigns?)"),
                 ("web_visits", r"(?:visited|visit|visits|browsed|came\s+to)\s+(?:our\s+|the\s+)*(?:web\s?site|site|"
                                r"pages?|pricing\s+page|blog)"),
                 ("web_visits", r"(?:website|site|web)\s+visitors")]
        for name, verb in verbs:
            if not self.has(name):
                continue
            for m in re.finditer(rf"\b(?:(never|not|did not|didn't|have not|haven't|has not|hasn't)\s+)?{verb}\b",
                                 self.low):
                if not self.free(m.start(), m.end()):
                    continue
                neg = m.group(1) is not None
                self.add(m.group(), name, "eq" if neg else "gte", 0 if neg else 1, "engagement", 0.9, m.start())
                self.consume(m.start(), m.end())

    def yes_no(self) -> None:
        """Yes/no columns named in the text: "with a housing loan" -> housing = yes, "no personal loan" -> no."""
        cols = {key(f.words): f for f in self.catalog.fields.values() if f.ftype == "text" and f.is_yes_no}
        if not cols:
            return
        for i, t in enumerate(self.tokens):
            f = cols.get(t.key)
            if f is None or t.used:
                continue
            values = {norm(v): v for v in f.values}
            yes = next((values[v] for v in ("yes", "true", "y") if v in values), None)
            no = next((values[v] for v in ("no", "false", "n") if v in values), None)
            negative, first = False, i
            for j in range(i - 1, max(i - 4, -1), -1):
                b = self.tokens[j]
                if b.used or b.clause != t.clause:
                    break
                if b.low in NEGATIONS or b.low.endswith("n't"):
                    negative, first = True, j
                    break
                if b.low in ("with", "has", "have", "having", "had", "holding", "holds"):
                    first = j
                    break
            value = no if negative else yes
            if value is None:
                continue
            last = i
            # "housing loan": a following column name is the head noun of this one, not a column of its own
            if i + 1 < len(self.tokens) and self.tokens[i + 1].key in cols and not self.tokens[i + 1].used:
                last = i + 1
            phrase = self.text[self.tokens[first].start:self.tokens[last].end]
            self.add(phrase, f.name, "eq", value, "yes/no", 0.95, self.tokens[first].start)
            for k in range(first, last + 1):
                self.tokens[k].used = True

    # -- 2. categorical values
    def value_index(self) -> dict[str, list[tuple[str, str, int]]]:
        """key(value) -> [(field, value, count)] over every categorical field."""
        idx: dict[str, list[tuple[str, str, int]]] = {}
        own = self.catalog.own_glossary
        for name, f in self.catalog.fields.items():
            if f.ftype != "text" or f.is_yes_no or f.is_free_text:
                continue
            counts = f.counts or (1,) * len(f.values)
            for v, c in zip(f.values, counts):
                if norm(v) in PLACEHOLDERS:
                    continue
                # as written, and with the tenant's abbreviations spelt out ("MM" -> "minute maid")
                for k in dict.fromkeys([content_key(key(unnumbered(v)).split()),
                                        content_key(key(expand(unnumbered(v), own)).split()) if own else ""]):
                    if k:
                        idx.setdefault(k, []).append((name, v, c))
        return idx

    def field_hints(self) -> None:
        for name, words in FIELD_HINTS.items():
            if not self.has(name):
                continue
            for i in range(len(self.tokens)):
                for w in words:
                    ws = w.split()
                    if [x.low for x in self.tokens[i:i + len(ws)]] == ws:
                        self.hints.append((i, name))
        for name, f in self.catalog.fields.items():
            if name.startswith("attributes."):
                for i, t in enumerate(self.tokens):
                    if not t.used and (t.key == key(f.words) or _stem_match(t.low, f.words) or (
                            len(t.key) >= 5 and fuzz.ratio(t.key, key(f.words)) >= FUZZY_THRESHOLD)):
                        self.hints.append((i, name))

    def pick_field(self, candidates: list[tuple[str, str, int]], token_index: int) -> tuple[str, str, float]:
        """Where a value is in several fields: the field a word in its clause names, else the most frequent."""
        if len(candidates) == 1:
            return candidates[0][0], candidates[0][1], 1.0
        clause = self.tokens[token_index].clause
        near = [(abs(i - token_index), f) for i, f in self.hints if self.tokens[i].clause == clause]
        names = {c[0] for c in candidates}
        for _, f in sorted(near):
            if f in names:
                c = next(c for c in candidates if c[0] == f)
                return c[0], c[1], 0.95
        best = max(candidates, key=lambda c: c[2])
        return best[0], best[1], 0.8

    def exact(self, idx: dict[str, list[tuple[str, str, int]]]) -> None:
        """Values as written. A one-word value inside a longer noun phrase ("finance directors") waits: the phrase as
        a whole may mean another value, which the meaning pass decides (``deferred`` is applied after it)."""
        longest = max((len(k.split()) for k in idx), default=0)
        self.deferred: list[tuple[int, list[tuple[str, str, int]]]] = []
        for n in range(min(longest + 2, 8), 0, -1):
            for i in range(len(self.tokens) - n + 1):
                span = self.tokens[i:i + n]
                if any(t.used for t in span) or len({t.clause for t in span}) > 1 or \
                        (span[0].stop or span[-1].stop) and (n == 1 or " ".join(t.key for t in span) not in idx):
                    continue
                k = content_key([t.key for t in span])
                if k not in idx:
                    continue
                if n == 1 and self.in_compound(i, idx):
                    self.deferred.append((i, idx[k]))
                    continue
                self.take(i, i + n, idx[k], "exact")

    def in_compound(self, i: int, idx: Mapping[str, Any]) -> bool:
        """A word with a neighbour that is neither a function word, nor a value, nor a field's name: "finance" in
        "finance directors"."""
        t = self.tokens[i]
        hinted = {h for h, _ in self.hints}
        return any(0 <= j < len(self.tokens) and not self.tokens[j].used and not self.tokens[j].stop
                   and self.tokens[j].clause == t.clause and self.tokens[j].low not in NEGATIONS
                   and not self.tokens[j].low.isdigit() and self.tokens[j].key not in idx and j not in hinted
                   for j in (i - 1, i + 1))

    def take(self, a: int, b: int, candidates: list[tuple[str, str, int]], how: str, score: float = 1.0) -> None:
        fld, value, conf = self.pick_field(candidates, a)
        self.add(self.text[self.tokens[a].start:self.tokens[b - 1].end], fld, "in", value, how, conf * score,
                 self.tokens[a].start)
        for t in self.tokens[a:b]:
            t.used = True

    def apply_deferred(self) -> None:
        for i, candidates in self.deferred:
            if not self.tokens[i].used:
                self.take(i, i + 1, candidates, "exact")

    def countries(self) -> None:
        if not self.has("country"):
            return
        by_code: dict[str, str] = {}
        for v in self.catalog.fields["country"].values:
            code = identifiers.country_code(v)
            if code:
                by_code.setdefault(code, v)
        if not by_code:
            return
        for n in (3, 2, 1):
            for i in range(len(self.tokens) - n + 1):
                span = self.tokens[i:i + n]
                if any(t.used or t.stop for t in span):
                    continue
                phrase = self.text[span[0].start:span[-1].end]
                # a two- or three-letter code only as written in capitals ("US", "UK"): "in" is not India
                if len(phrase) <= 3 and not phrase.isupper():
                    continue
                code = identifiers.country_code(phrase)
                if code in by_code:
                    self.add(phrase, "country", "in", by_code[code], "country", 0.95, span[0].start)
                elif code is not None:
                    self.notes.append(f"{phrase!r} is a country none of this tenant's leads is in: left out")
                else:
                    continue
                for t in span:
                    t.used = True

    def months(self) -> None:
        """A column of month names ("may", "jun"): a month written any way dateutil reads ("June", "Sept")."""
        for name, f in self.catalog.fields.items():
            if f.ftype != "text":
                continue
            by_month = {m: v for v in f.values if (m := _month(v)) is not None}
            if len(by_month) < 6:
                continue
            for t in self.tokens:
                m = _month(t.low)
                if not t.used and m in by_month:
                    self.add(t.text, name, "in", by_month[m], "date", 0.95, t.start)
                    t.used = True

    def fuzzy(self, idx: dict[str, list[tuple[str, str, int]]]) -> None:
        keys = list(idx)
        waiting = {i for i, _ in self.deferred}
        for n in (3, 2, 1):
            for i in range(len(self.tokens) - n + 1):
                span = self.tokens[i:i + n]
                if any(t.used or t.stop for t in span) or waiting & set(range(i, i + n)):
                    continue
                k = " ".join(t.key for t in span)
                if len(k) < 5:
                    continue
                best, score = None, 0.0
                for cand in keys:
                    if abs(len(cand) - len(k)) > 3:
                        continue
                    s = fuzz.ratio(k, cand)
                    if s > score:
                        best, score = cand, s
                if best is not None and score >= FUZZY_THRESHOLD:
                    self.take(i, i + n, idx[best], "fuzzy", score / 100)

    def chunks(self) -> list[list[int]]:
        """Runs of tokens not yet understood and not function words, within a clause."""
        out, cur = [], []
        for i, t in enumerate(self.tokens):
            if t.used or t.stop or t.low in NEGATIONS or (cur and self.tokens[cur[-1]].clause != t.clause) or \
                    (cur and cur[-1] != i - 1):
                if cur:
                    out.append(cur)
                cur = []
                if t.used or t.stop or t.low in NEGATIONS:
                    continue
            cur.append(i)
        if cur:
            out.append(cur)
        return out

    def meaning(self, idx: dict[str, list[tuple[str, str, int]]]) -> None:
        if self.encoder is None or not idx:
            return
        entries = [(k, fld, v, c) for k, lst in idx.items() for fld, v, c in lst]
        texts = [expand(unnumbered(v), self.glossary) for _, _, v, _ in entries]
        hint_words = {key(w) for ws in FIELD_HINTS.values() for w in ws}
        hint_words |= {self.tokens[i].key for i, f in self.hints if f.startswith("attributes.")}
        spans: list[tuple[int, int]] = []
        for ch in self.chunks():
            for a in range(len(ch)):
                for b in range(a + 1, min(a + 4, len(ch)) + 1):
                    spans.append((ch[a], ch[b - 1] + 1))
        waiting = {i for i, _ in self.deferred}
        # a word that is a value as written only competes as part of a longer phrase; alone, it is taken as written
        spans = [(a, b) for a, b in spans if not all(self.tokens[i].key in hint_words for i in range(a, b))
                 and not (b - a == 1 and a in waiting)]
        if not spans:
            return
        phrases = [self.text[self.tokens[a].start:self.tokens[b - 1].end] for a, b in spans]
        # the catalog's values in a batch of their own (cacheable, and a draft does not depend on the cache)
        values = (self.cache or VectorCache(1)).vectors(self.encoder, texts)
        sims = _unit_rows(self.encoder.encode([expand(p, self.glossary) for p in phrases])) @ values.T
        # the best match first; a longer phrase wins over a part of it that matches about as well
        # strong matches first, the longest of them first ("high school dropouts" before "high school"); then the
        # rest by how well they match, a longer phrase winning over a part of it that matches about as well
        def rank(s: int) -> tuple:
            best, width = float(sims[s].max()), spans[s][1] - spans[s][0]
            return (0, -width, -best) if best >= STRONG_MATCH else (1, -(best + LONGER_BONUS * width), 0)

        order = sorted(range(len(spans)), key=rank)
        for s in order:
            a, b = spans[s]
            if any(self.tokens[i].used for i in range(a, b)):
                continue
            row = sims[s]
            j = int(row.argmax())
            best = float(row[j])
            if best < SEMANTIC_THRESHOLD:
                continue
            other = max((float(row[i]) for i, e in enumerate(entries) if e[1] != entries[j][1]), default=-1.0)
            fld, value = entries[j][1], entries[j][2]
            same = max((float(row[i]) for i, e in enumerate(entries) if e[1] == fld and e[2] != value), default=-1.0)
            shares = {stem(t.low) for t in self.tokens[a:b]} & {stem(w) for w in norm(unnumbered(value)).split()}
            plural_or_group = (b - a == 1 and singular(self.tokens[a].low) != self.tokens[a].low) or (
                b < len(self.tokens) and self.tokens[b].low in GROUP_NOUNS)
            if best < STRONG_MATCH and best - same < SEMANTIC_MARGIN and not shares and not plural_or_group:
                # as close to another value of the same column ("faculty": professor, associate professor,
                # assistant professor): the phrase names the column's people, not one of its values
                continue
            if best - other < SEMANTIC_MARGIN:
                # as close to a value of another field: a word of the clause that names a field decides
                rivals = [(e[1], e[2], e[3]) for i, e in enumerate(entries) if float(row[i]) >= best - SEMANTIC_MARGIN]
                fld, value, conf = self.pick_field(rivals, a)
                if conf < 0.95:
                    continue
            nxt = self.tokens[b] if b < len(self.tokens) else None
            plural = b - a == 1 and singular(self.tokens[a].low) != self.tokens[a].low
            head = [t for t in self.tokens[a:b] if t.low not in GROUP_NOUNS]
            group_noun = nxt is not None and nxt.low in GROUP_NOUNS and nxt.clause == self.tokens[a].clause
            if head and not any(t.key in idx for t in head) and (group_noun or plural or len(head) < b - a):
                # a word that names a group ("marketing people", "finance leaders", "engineers") takes every value
                # of the field that belongs to it by meaning or shares its word, listed so a person can remove some
                head_text = " ".join(singular(t.low) for t in head)
                hrow = _unit_rows(self.encoder.encode([expand(head_text, self.glossary)])) @ values.T
                head_stems = {stem(t.low) for t in head}
                named = len(head) < b - a or (nxt is not None and nxt.low in GROUP_NOUNS)
                top = max((float(hrow[0][i]) for i, e in enumerate(entries) if e[1] == fld), default=0.0)
                floor = max(GROUP_THRESHOLD, top - GROUP_MARGIN)
                # a plural alone ("engineers") takes the values with its word; a group noun ("marketing people")
                # also those close by meaning
                members = sorted(((float(hrow[0][i]), e[2]) for i, e in enumerate(entries) if e[1] == fld and (
                    (named and float(hrow[0][i]) >= floor) or head_stems & {stem(w) for w in norm(e[2]).split()})),
                    reverse=True)
                for sim, v in members or [(best, value)]:
                    self.add(phrases[s], fld, "in", v, "group", sim, self.tokens[a].start)
                if nxt is not None and nxt.low in GROUP_NOUNS:
                    nxt.used = True
            else:
                self.add(phrases[s], fld, "in", value, "meaning", best, self.tokens[a].start)
            for i in range(a, b):
                self.tokens[i].used = True

    # -- the whole
    def read(self) -> None:
        self.reach_and_seeds()
        self.dates()
        self.ages()
        self.find_mentions()
        self.calendar_years()
        self.numbers()
        self.signs()
        self.engagement()
        self.contains()
        self.flags()
        self.yes_no()
        self.genders()
        self.named_values()
        idx = self.value_index()
        self.field_hints()
        self.exact(idx)
        self.countries()
        self.months()
        self.fuzzy(idx)
        self.meaning(idx)
        self.apply_deferred()
        hinted = {i for i, _ in self.hints}
        for i in hinted:
            self.tokens[i].used = True

    def named_values(self) -> None:
        """A value written right after the words that name its column ("discipline A", "region 3"), however short:
        the column named says which value is meant, so a letter or a function word is a value here."""
        for x in self.mentions:
            f = self.catalog.fields[x.field]
            if x.bound or f.ftype != "text" or f.is_free_text or f.is_yes_no:
                continue
            k = x.last + 1
            if k >= len(self.tokens) or self.tokens[k].used or self.tokens[k].clause != self.tokens[x.last].clause:
                continue
            t = self.tokens[k]
            written = t.text.strip(".,;:'\"")
            hit = [v for v in f.values if v == written or (len(v) > 2 and v.casefold() == written.casefold())]
            if len(hit) != 1:
                continue
            a = self.tokens[x.first]
            self.add(self.text[a.start:t.end], x.field, "in", hit[0], "named", 0.95, a.start)
            for i in (*x.tokens, k):
                self.tokens[i].used = True
            x.bound = True

    def not_understood(self) -> list[str]:
        return [self.text[self.tokens[c[0]].start:self.tokens[c[-1]].end] for c in self.chunks()
                if not all(self.tokens[i].low in NEGATIONS for i in c)]


_PARSER_INFO = dateparser.parserinfo()


def _tightest(positions: list[list[int]]) -> list[int]:
    """One position per word, as close together as they can be."""
    import itertools

    best: tuple[int, ...] | None = None
    combos = itertools.islice(itertools.product(*positions), 4096)
    for combo in combos:
        if best is None or max(combo) - min(combo) < max(best) - min(best):
            best = combo
    return list(best or ())


def _month(word: str) -> int | None:
    """The month a word names (``"jun"``, ``"June"``, ``"sept"``), by dateutil; None for anything else."""
    w = norm(word).strip(".")
    if not w.isalpha() or len(w) < 3:
        return None
    return _PARSER_INFO.month(w)


def _span_of(after: str, k: int) -> int:
    m = re.match(r"\s*" + r"\s+".join([r"[a-z]+"] * k), after)
    return m.end() if m else 0


def _stem_match(word: str, name: str) -> bool:
    """"aged" names "age", "balances" names "balance": the field's name and a short ending."""
    name = norm(name)
    return len(name) >= 3 and word.startswith(name) and len(word) - len(name) <= 2


def _to_number(s: str) -> float | None:
    if s.strip() in NUMBER_WORDS:
        return float(NUMBER_WORDS[s.strip()])
    s = s.strip().lstrip("$€£").strip().replace(",", "")
    mult = 1.0
    for suffix, m in (("thousand", 1e3), ("million", 1e6), ("k", 1e3), ("m", 1e6)):
        if s.endswith(suffix):
            s, mult = s[: -len(suffix)].strip(), m
            break
    try:
        v = float(s) * mult
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _clean(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def _says(meaning: ColumnMeaning, words: Sequence[str]) -> bool:
    """The words, in order, are in the column's description or one of its own words for it."""
    for text in (meaning.description, *meaning.synonyms):
        ks = [key(w) for w in norm(text).split()]
        if any(ks[i:i + len(words)] == list(words) for i in range(len(ks) - len(words) + 1)):
            return True
    return False


def _convert(v: float, meaning: ColumnMeaning, unit: str | None, multiplied: bool,
             stored: tuple[float | None, float | None] = (None, None)) -> int | float:
    """A number as written into the column's unit: a duration into the column's duration, an amount into the
    column's scale. A person writes the number in the unit ("over 60" on ages stored in hundreds of years is 0.6);
    where the stored range cannot tell (both fit, or neither), an amount written with k/thousand/million or a
    currency sign, or larger than the scale, is divided by it ("80k" on a column in thousands is 80)."""
    if unit is not None and meaning.unit in DURATION_DAYS and unit in DURATION_DAYS:
        v = v * DURATION_DAYS[unit] / DURATION_DAYS[meaning.unit]
    if meaning.scale != 1:
        lo, hi = stored
        if lo is not None and hi is not None and not multiplied:
            span = (hi - lo) or abs(hi) or 1.0

            def fits(x: float) -> bool:
                return lo - 0.25 * span <= x <= hi + 0.25 * span

            as_written, scaled = fits(v), fits(v / meaning.scale)
            if as_written != scaled:
                return _clean(round(v / meaning.scale if scaled else v, 6))
        if multiplied or v >= meaning.scale:
            v = v / meaning.scale
    return _clean(round(v, 6))


def draft_rules(description: str, catalog: Catalog, encoder: Any | None = None, *,
                now: datetime | None = None, cache: VectorCache | None = None) -> Draft:
    """Read ``description`` against the tenant's ``catalog``: proposed rules (validated), a seed-set suggestion,
    the parts with their reasons, and the phrases not understood.

    ``encoder``: the project's text encoder for matching by meaning (None: exact and fuzzy matching only);
    ``cache``: where the catalog's encoded values are kept between calls."""
    if not isinstance(description, str) or not description.strip():
        raise DescriptionError("the description is empty")
    if len(description) > 2000:
        raise DescriptionError("the description is longer than 2,000 characters")
    r = _Reader(description, catalog, encoder, now or datetime.now(timezone.utc), cache)
    r.read()
    parts = sorted(r.parts, key=lambda p: p.start)
    filters: list[dict[str, Any]] = []
    grouped: dict[tuple[str, bool], dict[str, Any]] = {}
    for p in parts:
        if p.field.startswith(("reach.", "exclude.")):
            continue
        if p.op == "in":
            neg = r.negated_at(p.start)
            if neg:
                p.op = "not_in"
            g = grouped.get((p.field, neg))
            if g is None:
                g = {"field": p.field, "op": "not_in" if neg else "in", "values": []}
                grouped[(p.field, neg)] = g
                filters.append(g)
            if p.value not in g["values"]:
                g["values"].append(p.value)
        elif p.op == "between":
            filters.append({"field": p.field, "op": "between", **p.value})
        else:
            filters.append({"field": p.field, "op": p.op, "value": p.value})
    rules: dict[str, Any] = {"filters": filters}
    if r.reach:
        rules["reach"] = dict(r.reach)
    if r.exclude:
        rules["exclude"] = dict(r.exclude)
    # every proposal goes through the same validation as anything a person writes
    parse_rules(rules, catalog.attribute_types())
    seed_set, seed_reason = _seed_suggestion(r.seed_labels, r.seed_phrase, catalog.seed_labels)
    unknown = r.not_understood()
    if not parts and not r.seed_labels:
        raise NothingUnderstood(f"nothing in {description!r} matches this tenant's fields or values"
                                + (f" (not understood: {', '.join(map(repr, unknown))})" if unknown else ""), unknown)
    if encoder is None:
        r.notes.append("no text encoder: values were matched exactly and fuzzily only, not by meaning")
    return Draft(description, rules, seed_set, parts, unknown, seed_reason, r.notes)


def number_field(name: str, minimum: float | None, maximum: float | None, integral: bool | None,
                 few_values: Sequence[float] = (), correction: Mapping[str, Any] | None = None) -> CatalogField:
    """A number column's catalog entry, its meaning inferred from its range and values (and a person's correction)."""
    from lookalike_assets.domain.meanings import apply_corrections

    meaning = infer_meaning(name, "number", list(few_values) if len(few_values) <= 11 else [], minimum=minimum,
                            maximum=maximum, integral=integral)
    if correction:
        meaning = apply_corrections({name: meaning}, {name: correction})[name]
    return CatalogField(name, "number", meaning=meaning, minimum=minimum, maximum=maximum)


def text_field(name: str, values: Sequence[str], counts: Sequence[int] = (), *, free_text: bool = False,
               correction: Mapping[str, Any] | None = None) -> CatalogField:
    """A text column's catalog entry (values most frequent first)."""
    from lookalike_assets.domain.meanings import apply_corrections

    # free text as the importer tells it (FREE_TEXT rule of domain/columns.py): long values of many words
    if values and not free_text:
        free_text = float(np.mean([len(str(v)) for v in values])) >= 40 or \
            float(np.mean([len(str(v).split()) for v in values])) >= 6
    meaning = infer_meaning(name, "text", values, free_text=free_text)
    if correction:
        meaning = apply_corrections({name: meaning}, {name: correction})[name]
    return CatalogField(name, "text", tuple(values), tuple(counts), meaning=meaning)


def catalog_from_rows(rows: Sequence[Mapping[str, Any]], corrections: Mapping[str, Mapping[str, Any]] | None = None,
                      ) -> Catalog:
    """A catalog of a table in memory, its columns planned as the importer plans them (for tests and benchmarks:
    the same inference as a tenant's import, without a database)."""
    from collections import Counter

    from lookalike_assets.domain.columns import plan_file

    corrections = corrections or {}
    columns = list(rows[0]) if rows else []
    fields: dict[str, CatalogField] = {}
    for plan in plan_file(columns, rows):
        if plan.role not in ("field", "text", "categorical", "numeric") or plan.target in (
                "company", "email", "phone", "zip"):
            continue
        name = plan.target if plan.role == "field" else f"attributes.{plan.target}"
        raw = [r.get(plan.column) for r in rows if r.get(plan.column) not in (None, "")]
        corr = corrections.get(plan.column) or corrections.get(name)
        if plan.role == "numeric" or plan.target in ("company_size", "email_opens", "web_visits"):
            nums = [float(v) for v in raw]
            distinct = sorted(set(nums))
            fields[name] = number_field(name, min(nums, default=None), max(nums, default=None),
                                        all(float(v).is_integer() for v in nums), distinct[:12] if len(distinct) <= 11
                                        else (), corr)
        elif plan.target == "last_activity_at":
            fields[name] = CatalogField(name, "datetime")
        else:
            counted = Counter(str(v).strip() for v in raw).most_common(300)
            fields[name] = text_field(name, [v for v, _ in counted], [n for _, n in counted],
                                      free_text=plan.role == "text", correction=corr)
    return Catalog(fields)


def _seed_suggestion(labels: Sequence[str], phrase: str | None, available: Mapping[str, int]) -> tuple[dict, str]:
    have = {k: v for k, v in available.items() if v > 0}
    if labels:
        missing = [label for label in labels if label not in have]
        reason = f"{phrase!r} names {', '.join(labels)} seeds"
        if missing:
            reason += f"; the tenant has no live {', '.join(missing)} seeds yet"
        return {"labels": list(labels)}, reason
    if have.get("won", 0) >= 3:
        return {"labels": ["won"]}, f"no seeds named: the tenant's {have['won']} won deals (its best evidence)"
    if have:
        return {"labels": sorted(have)}, "no seeds named and few won deals: every live seed"
    return {}, "no seeds named, and the tenant has no live seeds yet: add some before building"


def fields_in_catalog(rules: Mapping[str, Any], catalog: Catalog) -> list[str]:
    """Fields a proposal names that the catalog does not have (should always be empty)."""
    known = set(catalog.fields)
    return [f["field"] for f in rules.get("filters", []) if f["field"] not in known]


def _canonical(f: Mapping[str, Any]) -> tuple:
    if f.get("op") == "eq":  # one value: "eq v" and "in [v]" select the same leads
        f = {"field": f["field"], "op": "in", "values": [f["value"]]}
    if "values" in f:
        operand: Any = frozenset(norm(v) for v in f["values"])
    elif f.get("op") == "between":
        operand = (f.get("min"), f.get("max"))
    else:
        operand = norm(f["value"]) if isinstance(f.get("value"), str) else f.get("value")
    return f["field"], f["op"], operand


def score_draft(draft: Draft, expected: Mapping[str, Any], catalog: Catalog) -> dict[str, int]:
    """How a proposal compares with what a person meant (``expected``: ``filters`` and optional ``reach``,
    ``exclude`` and ``seeds`` labels): counts per rule part, for the test set and its benchmark."""
    want = [_canonical(f) for f in expected.get("filters", [])]
    got = [_canonical(f) for f in draft.rules.get("filters", [])]
    out = {"filters_expected": len(want), "filters_right": sum(1 for w in want if w in got),
           "filters_extra": sum(1 for g in got if g not in want),
           "invented_fields": len(fields_in_catalog(draft.rules, catalog)),
           "other_expected": 0, "other_right": 0, "other_extra": 0}
    for part in ("reach", "exclude"):
        if part in expected:
            out["other_expected"] += 1
            out["other_right"] += int(draft.rules.get(part) == expected[part])
        elif part in draft.rules:
            out["other_extra"] += 1
    if "seeds" in expected:
        out["other_expected"] += 1
        out["other_right"] += int(draft.seed_set.get("labels") == expected["seeds"])
    return out
