"""What a tenant's columns mean: a readable name, a description, a unit and the words people use for each column.

Inferred from the column's name (camelCase and snake_case split, glued words split by the text encoder's own
vocabulary, common abbreviations spelt out: ``MntWines`` -> "amount wines", ``NumWebVisitsMonth`` -> "number web
visits month", ``AcceptedCmp3`` -> "accepted campaign 3", ``Teenhome`` -> "teen home") and from its values (0/1
columns are flags, yes/no columns are yes/no, small whole numbers are counts). Anything inferred can be corrected
per tenant (``lookalike tenants columns``, a mapping file at import, the API, the studio); a correction wins.

The reader of audience descriptions (``domain/describe.py``) uses the words to find the column a phrase names and
the unit to convert a number ("5 years" on a column in months is 60; "80k" on a column in thousands is 80).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import snowballstemmer

from lookalike_assets.domain.columns import normalize_name

# Units a column can have. Durations convert into each other; "year" is a calendar year (a birth year).
UNITS = ("count", "count per month", "currency", "currency per month", "days", "weeks", "months", "years",
         "minutes", "year", "percent", "ratio", "flag", "yes/no", "number")
DURATION_DAYS = {"days": 1.0, "weeks": 7.0, "months": 30.4375, "years": 365.25}
KINDS = ("number", "flag", "count", "yes/no", "category", "free text", "date")

# Abbreviations in column names, spelt out (compared lower case, as whole words of the split name).
ABBREVIATIONS = {
    "mnt": "amount", "amt": "amount", "num": "number", "nb": "number", "nbr": "number", "cnt": "count",
    "cmp": "campaign", "camp": "campaign", "dt": "date", "prods": "products", "prod": "product", "qty": "quantity",
    "pct": "percent", "perc": "percent", "avg": "average", "tot": "total", "yr": "year", "yrs": "years",
    "mo": "month", "mos": "months", "vmail": "voice mail", "intl": "international", "eve": "evening",
    "emp": "employed", "acct": "account", "cust": "customer", "svc": "service", "txn": "transaction",
    "txns": "transactions", "addr": "address", "dept": "department", "mgr": "manager", "rev": "revenue",
    "msg": "message", "msgs": "messages", "mins": "minutes", "info": "information", "tel": "telephone",
    "nps": "net promoter score", "ltv": "lifetime value", "arr": "annual recurring revenue",
    "mrr": "monthly recurring revenue", "b2b": "business to business", "hh": "household",
    "sqft": "square feet", "sqm": "square meters", "ins": "insurance", "afam": "african american",
    "asst": "assistant", "assoc": "associate", "prof": "professor", "profs": "professors", "mgmt": "management",
    "govt": "government", "exec": "executive", "execs": "executives", "sr": "senior", "jr": "junior",
    "pref": "preferred", "rec": "recreation", "rms": "rooms", "hw": "hot water", "bsmt": "basement", "pl": "places",
    "mths": "months", "amnt": "amount", "inc": "income", "delinq": "delinquencies", "inq": "inquiries",
    "util": "utilization", "revol": "revolving", "bal": "balance",
}
CURRENCY_WORDS = {"eur", "euro", "euros", "usd", "dollar", "dollars", "gbp", "pound", "pounds", "chf", "jpy", "yen"}
MONEY_WORDS = {"income", "revenue", "amount", "spent", "spend", "spending", "price", "cost", "costs", "charge",
               "charges", "balance", "salary", "wage", "wages", "earnings", "value", "expenditure", "assets",
               "debt", "payment", "payments", "fee", "fees", "budget", "sales", "turnover", "limit"}
COUNT_WORDS = {"number", "count", "calls", "visits", "purchases", "messages", "orders", "opens", "clicks",
               "views", "downloads", "sessions", "logins", "cards", "reports", "dependents", "children", "kids",
               "tickets", "transactions", "accounts", "employees", "home"}
# Words of a column's name that say how it is measured, not what: a phrase need not repeat them.
GENERIC = {"number", "amount", "total", "count", "of", "the", "a", "an", "per", "in", "on", "and", "is", "has", "from",
           "flag", "indicator", "ind", "value", "nr", "no", "to", "for", "at", "by", "with", "qty", "quantity",
           "level", "status", "type"} | CURRENCY_WORDS

# Words people use for a concept a column name states another way (stems compared).
SYNONYMS = {
    "income": ("earning", "earnings", "earner", "earners", "earn", "earns", "salary", "wage", "wages",
               "paid"),
    "kid": ("kids", "child", "children", "toddler", "toddlers", "baby", "babies"),
    "teen": ("teenager", "teenagers", "teens", "adolescent", "adolescents"),
    "birth": ("born",),
    "web": ("website", "online", "site"),
    "store": ("shop", "shops", "instore"),
    "purchase": ("buy", "bought", "buys", "order", "orders", "ordered"),
    "complain": ("complaint", "complaints"),
    "view": ("viewed", "saw", "seen", "visited"),
    "request": ("requested", "asked"),
    "tenure": ("loyalty",),
    "senior": ("seniors", "elderly", "pensioner", "pensioners", "retiree", "retirees"),
    "revenue": ("turnover", "sales"),
    "employee": ("staff", "headcount", "workforce"),
    "gold": ("jewelry", "jewellery"),
    "meat": ("meats",),
    "sweet": ("sweets", "candy", "confectionery"),
    "deal": ("discount", "discounts", "discounted"),
    "price": ("cost", "costs", "costing", "priced", "pricing"),
    "story": ("storey", "storeys", "floor", "floors"),
}
WINDOW_WORDS = {"day", "days", "week", "weeks", "month", "months", "year", "years", "m", "mo", "mos", "y", "yr",
                "yrs", "d", "w"}
# Name words that carry a unit by themselves.
NAME_UNITS = {"tenure": "months", "age": "years", "recency": "days", "days": "days", "months": "months",
              "years": "years", "minutes": "minutes", "percent": "percent", "ratio": "ratio", "rate": "ratio",
              "share": "ratio"}

_STEMMER = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word.casefold())


@dataclass(frozen=True)
class ColumnMeaning:
    """One column as people name it. ``field`` is the rule field (``attributes.mnt_wines``)."""

    field: str
    label: str
    description: str = ""
    unit: str | None = None
    scale: float = 1.0  # stored value x scale = the value in the unit ("currency" in thousands: 1000)
    synonyms: tuple[str, ...] = ()
    kind: str = "number"
    inferred: bool = True  # False once a person corrected it

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["synonyms"] = list(self.synonyms)
        return d

    @property
    def words(self) -> list[str]:
        """The label's words and every synonym's words, lower case."""
        out = re.findall(r"[a-z0-9]+", self.label.casefold())
        for s in self.synonyms:
            out += re.findall(r"[a-z0-9]+", s.casefold())
        return out

    @property
    def core(self) -> tuple[str, ...]:
        """The stems a phrase must name: the label's words that say what is measured (not how)."""
        all_ = re.findall(r"[a-z0-9]+", self.label.casefold())
        # a duration after a number is the window counted over ("inquiries last 6 months"): "month" alone does
        # not name the column
        ws = [w for k, w in enumerate(all_) if w not in GENERIC and
              not (k and all_[k - 1].isdigit() and w in WINDOW_WORDS)]
        return tuple(dict.fromkeys(stem(w) for w in ws)) or tuple(stem(w) for w in self.label.split()[:1])


@functools.lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    """Whole English words of the text encoder's tokenizer (no word pieces), for splitting glued names."""
    try:
        from lookalike_assets.domain.encoder_builds import model_dir

        path = model_dir() / "vocab.txt"
        words = {w.strip() for w in path.read_text(encoding="utf-8").splitlines()}
    except Exception:  # noqa: BLE001 - the model package is a dependency; without it, no glued names are split
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and w.islower() and len(w) >= 3)


def is_word(word: str) -> bool:
    """A whole English word of the text encoder's vocabulary."""
    return word in _vocabulary()


def split_glued(word: str) -> list[str]:
    """``teenhome`` -> ``["teen", "home"]``, ``prefarea`` -> ``["preferred", "area"]``, ``garagepl`` -> ``["garage",
    "pl"]``: a word not in the vocabulary that is two parts, each a word of the vocabulary or a known abbreviation
    (or, beside a word of five letters or more, two letters left over), else itself."""
    vocab = _vocabulary()
    if not vocab or len(word) < 5 or word in vocab or word in ABBREVIATIONS or not word.isalpha():
        return [word]

    def part(w: str) -> list[str] | None:
        return ABBREVIATIONS[w].split() if w in ABBREVIATIONS else [w] if w in vocab else None

    best: tuple[int, list[str]] | None = None
    for i in range(2, len(word) - 1):
        a, b = word[:i], word[i:]
        pa, pb = part(a), part(b)
        if pa and pb:
            # both parts known: prefer the longest first word that is a word ("majorcards": major + cards)
            cand = (2, len(a), [*pa, *pb])
        elif pa and a in vocab and (len(a) >= 5 and len(b) == 2 or b in ("of", "in", "on", "at", "to", "by", "per")):
            cand = (1, len(a), [*pa, b])
        else:
            continue
        if best is None or cand[:2] > best[:2]:
            best = cand  # type: ignore[assignment]
    return best[2] if best else [word]  # type: ignore[index]


def name_words(name: str) -> list[str]:
    """A column name as words: ``NumWebVisitsMonth`` -> number web visits month; ``accepted_cmp3`` -> accepted
    campaign 3."""
    s = str(name).removeprefix("attributes.")
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", s)
    s = re.sub(r"([A-Za-z])(\d)", r"\1 \2", s)
    s = re.sub(r"(\d)([A-Za-z])", r"\1 \2", s)
    out: list[str] = []
    for w in re.findall(r"[a-z0-9]+", s.casefold()):
        for part in split_glued(w):
            out += ABBREVIATIONS.get(part, part).split()
    return out


def _numbers(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            return []
    return out


YES = {"yes", "true", "y", "t", "1"}
NO = {"no", "false", "n", "f", "0"}


def yes_no_values(values: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """For a text column of yes/no answers (``Yes``, ``No``, and "not applicable" answers such as ``No phone
    service``): its yes value, its no value and the others; (None, None, []) when it is not one."""
    yes = no = None
    other = []
    for v in values:
        # "1. Yes", "2. No": an enumerated answer is the answer
        k = re.sub(r"^\s*\d{1,2}[.)]\s+", "", str(v)).strip().casefold()
        if k in YES and yes is None:
            yes = v
        elif k in NO and no is None:
            no = v
        else:
            other.append(v)
    if yes is None or no is None:
        return None, None, []
    # "No phone service", "No internet service": a no that says why; anything else makes it a category
    if all(re.match(r"(?i)\s*no\b", str(o)) for o in other):
        return yes, no, other
    return None, None, []


def infer_meaning(fld: str, ftype: str, values: Sequence[Any] = (), *, free_text: bool = False,
                  minimum: float | None = None, maximum: float | None = None,
                  integral: bool | None = None) -> ColumnMeaning:
    """What a column means, from its name, type and values (``values``: its distinct values when it has few;
    ``minimum``/``maximum``/``integral`` for numbers)."""
    words = name_words(fld)
    label = " ".join(words) or fld
    unit: str | None = None
    kind = "number"
    if ftype == "datetime":
        return ColumnMeaning(fld, label, unit=None, kind="date")
    if ftype == "text":
        yes, _no, _other = yes_no_values([str(v) for v in values])
        kind = "free text" if free_text else "yes/no" if yes is not None else "category"
        return ColumnMeaning(fld, label, kind=kind, unit="yes/no" if kind == "yes/no" else None)
    nums = _numbers(values)
    distinct = set(nums)
    ws = set(words)
    if distinct and distinct <= {0.0, 1.0} and len(distinct) == 2:
        kind, unit = "flag", "flag"
    elif "year" in ws and ("birth" in ws or "born" in ws) or \
            minimum is not None and maximum is not None and 1900 <= minimum and maximum <= 2100 and \
            ({"year", "since", "founded"} & ws):
        unit = "year"
    else:
        # a duration after a number in the name is the window counted over ("delinq 2 years", "inquiries last 6
        # months"), not the unit of the values
        windows = {w for a, w in zip(words, words[1:]) if a.isdigit() and w in WINDOW_WORDS}
        unit = next((u for w, u in NAME_UNITS.items() if w in ws - windows), None)
        if unit is None and ws & MONEY_WORDS or ws & CURRENCY_WORDS:
            unit = "currency"
        if unit is None and ("number" in ws or "count" in ws or ws & COUNT_WORDS) and integral is not False:
            unit = "count"
        if unit in ("count", "currency") and "month" in ws:
            unit += " per month"
        if unit == "count" and (maximum is None or maximum <= 10) and integral is not False:
            kind = "count"
        # small whole numbers under a plural name are a count ("bedrooms", "stories"); under a singular one they
        # are as often a code or a score ("store", "rating", "education")
        if unit is None and integral and maximum is not None and maximum <= 10 and (minimum or 0) >= 0 \
                and len(distinct) <= 11 and distinct and words and words[-1].endswith("s") \
                and not words[-1].endswith(("ss", "us", "is")):
            unit, kind = "count", "count"
    return ColumnMeaning(fld, label, unit=unit, kind=kind)


def apply_corrections(inferred: Mapping[str, ColumnMeaning], corrections: Mapping[str, Mapping[str, Any]]
                      ) -> dict[str, ColumnMeaning]:
    """A tenant's corrections (tenant setting ``columns``: field or column name -> label, description, unit, scale,
    synonyms, kind) over what was inferred."""
    out = dict(inferred)
    for name, corr in corrections.items():
        fld = name if name in out else f"attributes.{name}" if f"attributes.{name}" in out else None
        if fld is None:
            n = f"attributes.{normalize_name(name)}"
            fld = n if n in out else None
        if fld is None:
            continue
        cur = out[fld]
        changes = {k: v for k, v in corr.items() if k in ("label", "description", "unit", "scale", "kind")
                   and v is not None}
        if "synonyms" in corr and corr["synonyms"] is not None:
            changes["synonyms"] = tuple(str(s) for s in corr["synonyms"])
        out[fld] = replace(cur, **changes, inferred=False)
    return out


class MeaningError(ValueError):
    """A correction that cannot be a column's meaning."""


def check_correction(corr: Mapping[str, Any]) -> dict[str, Any]:
    """A correction as stored, checked: known keys, a known unit and kind, a positive scale, synonyms as words."""
    known = {"label", "description", "unit", "scale", "synonyms", "kind"}
    extra = sorted(set(corr) - known)
    if extra:
        raise MeaningError(f"unknown key(s) {', '.join(extra)} (known: {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    for k in ("label", "description"):
        if corr.get(k) is not None:
            v = str(corr[k]).strip()
            if not v or len(v) > 200:
                raise MeaningError(f"{k} must be 1 to 200 characters")
            out[k] = v
    if corr.get("unit") is not None:
        if corr["unit"] not in UNITS:
            raise MeaningError(f"unknown unit {corr['unit']!r} (known: {', '.join(UNITS)})")
        out["unit"] = corr["unit"]
    if corr.get("kind") is not None:
        if corr["kind"] not in KINDS:
            raise MeaningError(f"unknown kind {corr['kind']!r} (known: {', '.join(KINDS)})")
        out["kind"] = corr["kind"]
    if corr.get("scale") is not None:
        try:
            scale = float(corr["scale"])
        except (TypeError, ValueError):
            raise MeaningError(f"scale must be a number, not {corr['scale']!r}") from None
        if not scale > 0 or scale > 1e12:
            raise MeaningError("scale must be a positive number")
        out["scale"] = scale
    if corr.get("synonyms") is not None:
        syn = corr["synonyms"]
        if isinstance(syn, str) or not isinstance(syn, Sequence):
            raise MeaningError("synonyms must be a list of words or phrases")
        cleaned = [str(s).strip() for s in syn if str(s).strip()]
        if len(cleaned) > 50 or any(len(s) > 80 for s in cleaned):
            raise MeaningError("at most 50 synonyms of at most 80 characters each")
        out["synonyms"] = cleaned
    return out


def synonym_stems(core_stem: str) -> set[str]:
    """The stems of the words people use for a concept a name states as ``core_stem`` (any word of a group names
    every other: "earning" names income and wage)."""
    out = {core_stem}
    for group in _SYN_GROUPS:
        if core_stem in group:
            out |= group
    return out


_SYN_GROUPS: list[set[str]] = [{stem(k)} | {stem(w) for w in ws} for k, ws in SYNONYMS.items()]


def describe_unit(m: ColumnMeaning) -> str:
    """The unit in words, for people (``"months"``, ``"currency, in thousands"``)."""
    if m.unit is None:
        return ""
    if m.scale != 1:
        return f"{m.unit}, in units of {m.scale:,.0f}" if float(m.scale).is_integer() else f"{m.unit} x {m.scale}"
    return m.unit


def meaning_rows(meanings: Mapping[str, ColumnMeaning]) -> list[dict[str, Any]]:
    return [{**m.as_dict(), "unit_words": describe_unit(m)} for m in meanings.values()]


__all__ = ["ColumnMeaning", "MeaningError", "apply_corrections", "check_correction", "infer_meaning", "name_words",
           "stem", "synonym_stems", "yes_no_values"]
