"""Synthetic, realistic leads for several tenants, each with its own ideal customer.

Every lead carries a hidden conversion propensity: a non-linear function of its attributes and of what its
free-text bio says (interactions, saturation, topics that only count together with a role), so that the
quality of lookalikes can be measured against it. The generator is deterministic for a given seed and
scales from a thousand to a million leads by a parameter. Nothing here touches the database.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

NAMESPACE = uuid.UUID("6f1c1b1e-4c55-4f0a-9d55-1a2b3c4d5e6f")

FIRST = ["Ana", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Luis",
         "Maya", "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe"]
LAST = ["Almeida", "Brooks", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
        "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Quist", "Rossi", "Silva", "Tanaka"]
SENIORITY = ["intern", "individual contributor", "manager", "director", "vp", "c-level", "owner"]


@dataclass(frozen=True)
class TenantProfile:
    slug: str
    name: str
    kind: str  # "b2b" or "consumer"
    industries: tuple[str, ...]
    ideal_industries: tuple[str, ...]
    countries: dict[str, tuple[str, ...]]
    ideal_countries: tuple[str, ...]
    titles: dict[str, tuple[str, ...]]  # function -> titles
    ideal_functions: tuple[str, ...]
    good_topics: tuple[str, ...]
    bad_topics: tuple[str, ...]
    neutral_topics: tuple[str, ...]
    property_types: tuple[str, ...] = ()
    # settings.tuning of the demo tenant: what a contact costs and a conversion is worth
    tuning: tuple[tuple[str, float], ...] = (("cost_per_contact", 2.0), ("value_per_conversion", 40.0))
    ideal_property: tuple[str, ...] = ()
    size_sweet_spot: tuple[float, float] = (50, 1000)
    base_logit: float = -3.0
    audiences: tuple[dict, ...] = field(default_factory=tuple)


TENANTS: tuple[TenantProfile, ...] = (
    TenantProfile(
        slug="northwind-software",
        name="Northwind Software",
        kind="b2b",
        industries=("software", "fintech", "healthcare", "manufacturing", "retail", "logistics", "education",
                    "government", "media", "construction"),
        ideal_industries=("software", "fintech", "logistics"),
        countries={"united states": ("california", "new york", "texas", "washington"),
                   "united kingdom": ("london", "manchester"), "germany": ("berlin", "bavaria"),
                   "brazil": ("sao paulo",), "india": ("karnataka", "maharashtra")},
        ideal_countries=("united states", "united kingdom", "germany"),
        titles={"data": ("head of data", "data engineering lead", "analytics manager", "chief data officer"),
                "engineering": ("vp engineering", "platform engineer", "cto", "engineering manager"),
                "sales": ("account executive", "sales director", "vp sales"),
                "hr": ("hr business partner", "talent acquisition lead"),
                "finance": ("controller", "cfo", "finance manager")},
        ideal_functions=("data", "engineering"),
        good_topics=("our analysts drown in manual spreadsheets", "we are scaling our data pipelines",
                     "migrating the warehouse to the cloud", "automating reporting for the board",
                     "evaluating tools for real-time dashboards"),
        bad_topics=("just graduated and looking for a first job", "retired and consulting occasionally",
                    "we rely on paper forms and fax", "not interested in new software this year"),
        neutral_topics=("enjoys hiking and photography", "speaker at regional meetups", "mentor to new managers",
                        "based in a hybrid team", "previously worked in consulting", "loves good coffee"),
        size_sweet_spot=(80, 2000),
        base_logit=-6.5,
        audiences=(
            {"name": "Lookalikes of won deals", "seed_set": {"labels": ["won"]},
             "rules": {"reach": {"max_percent": 10}, "exclude": {"seeds": True, "customers": True},
                       "auto_publish": True, "destinations": ["meta", "google", "linkedin", "crm"]}},
            {"name": "Engaged lookalikes", "seed_set": {"labels": ["won", "meeting", "replied"]},
             "rules": {"filters": [{"field": "web_visits", "op": "gte", "value": 1}],
                       "exclude": {"audiences": ["Lookalikes of won deals"]}, "reach": {"max_size": 200},
                       "auto_publish": True, "destinations": ["meta", "crm"]}},
        ),
    ),
    TenantProfile(
        slug="harbor-realty",
        name="Harbor Realty",
        kind="consumer",
        industries=("homebuyer", "investor", "renter", "seller"),
        ideal_industries=("homebuyer", "investor"),
        countries={"united states": ("florida", "california", "texas", "arizona", "ohio")},
        ideal_countries=("united states",),
        titles={"professional": ("nurse", "software developer", "teacher", "accountant", "physician"),
                "business": ("small business owner", "landlord", "contractor"),
                "other": ("student", "retiree", "freelancer")},
        ideal_functions=("professional", "business"),
        good_topics=("relocating for a new job this summer", "pre-approved for a mortgage",
                     "looking for a rental property with good yield", "our family is outgrowing the apartment",
                     "selling a condo to buy a house with a yard"),
        bad_topics=("just browsing listings for fun", "lease runs for three more years",
                    "no plans to move", "cannot get financing right now"),
        neutral_topics=("has two dogs", "likes waterfront views", "works from home twice a week",
                        "enjoys gardening", "commutes by train", "volunteers at the local school"),
        property_types=("condo", "single-family", "multi-family", "townhouse", "land"),
        ideal_property=("single-family", "multi-family"),
        size_sweet_spot=(1, 6),
        base_logit=-6.9,
        # a holdout of a fifth of the members, never exported; in the simulation, being exported in this audience
        # raises a lead's chance to convert by 25 points: the incrementality mart should find that
        audiences=({"name": "Buyers like our closings", "seed_set": {"labels": ["won", "meeting"]},
                    "rules": {"filters": [{"field": "property_type", "op": "in",
                                           "values": ["single-family", "multi-family", "townhouse"]}],
                              "reach": {"max_percent": 10}, "auto_publish": True, "holdout": {"percent": 20},
                              "destinations": ["meta", "google", "crm"]},
                    "simulated_uplift": 0.25},),
    ),
    TenantProfile(
        slug="evergreen-solar",
        name="Evergreen Solar",
        kind="consumer",
        industries=("homeowner", "renter", "landlord", "business owner"),
        ideal_industries=("homeowner", "business owner"),
        countries={"united states": ("arizona", "california", "nevada", "new mexico", "washington", "maine")},
        ideal_countries=("united states",),
        titles={"professional": ("engineer", "teacher", "nurse", "manager"),
                "business": ("shop owner", "farmer", "contractor"),
                "other": ("student", "retiree")},
        ideal_functions=("business", "professional"),
        good_topics=("electricity bills doubled last summer", "interested in battery backup after outages",
                     "bought an electric car recently", "roof was replaced last year",
                     "wants to cut the carbon footprint of the farm"),
        bad_topics=("roof is shaded by tall trees", "moving out next spring", "landlord decides about the roof",
                    "thinks solar is a scam"),
        neutral_topics=("plays in a local band", "enjoys camping", "collects vinyl records",
                        "has a vegetable garden", "coaches youth soccer"),
        property_types=("single-family", "condo", "farm", "apartment", "mobile home"),
        ideal_property=("single-family", "farm"),
        size_sweet_spot=(1, 4),
        base_logit=-7.0,
        audiences=(
            {"name": "Homeowners like our installs", "seed_set": {"labels": ["won"]},
             "rules": {"filters": [{"field": "property_type", "op": "not_in", "values": ["apartment"]}],
                       "reach": {"max_percent": 10}, "auto_publish": True,
                       "destinations": ["meta", "google", "crm"]}},
            {"name": "Warm solar prospects", "seed_set": {"labels": ["won", "replied"]},
             "rules": {"min_similarity": 0.5, "reach": {"max_size": 300}, "destinations": ["crm"]}},
        ),
    ),
    TenantProfile(
        slug="atlas-logistics",
        name="Atlas Logistics",
        kind="b2b",
        industries=("retail", "ecommerce", "manufacturing", "food and beverage", "pharma", "automotive",
                    "agriculture", "consulting"),
        ideal_industries=("ecommerce", "food and beverage", "pharma"),
        countries={"germany": ("hamburg", "berlin", "bavaria"), "netherlands": ("rotterdam", "amsterdam"),
                   "france": ("paris", "lyon"), "poland": ("warsaw",), "spain": ("madrid", "valencia")},
        ideal_countries=("germany", "netherlands", "poland"),
        titles={"operations": ("head of operations", "supply chain director", "warehouse manager"),
                "procurement": ("procurement lead", "buyer", "category manager"),
                "marketing": ("marketing manager", "brand lead"),
                "finance": ("cfo", "controller")},
        ideal_functions=("operations", "procurement"),
        good_topics=("peak season volumes overwhelm our warehouse", "looking for cold-chain capacity",
                     "tender for european distribution next quarter", "expanding into the eastern markets"),
        bad_topics=("all shipping is handled by the parent company", "volumes are shrinking this year",
                    "locked into a five year contract"),
        neutral_topics=("runs marathons", "speaks four languages", "joined the company last year",
                        "alumnus of a business school", "enjoys sailing"),
        size_sweet_spot=(200, 5000),
        base_logit=-6.4,
        audiences=({"name": "Shippers like our accounts", "seed_set": {"labels": ["won", "meeting"]},
                    "rules": {"reach": {"max_percent": 10}, "exclude": {"customers": True}, "auto_publish": True,
                              "destinations": ["linkedin", "crm"]}},),
    ),
)


# What being exported in a demo audience causes in the conversion simulation (pipeline/conversions.py), by name.
SIMULATED_UPLIFT: dict[str, float] = {a["name"]: float(a["simulated_uplift"]) for t in TENANTS for a in t.audiences
                                      if "simulated_uplift" in a}


def tenant_id_for(slug: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"tenant:{slug}")


def lead_id_for(tenant_slug: str, external_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"lead:{tenant_slug}:{external_id}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_leads(profile: TenantProfile, n: int, seed: int = 7) -> Iterator[tuple[dict, float]]:
    """Yield (lead, hidden propensity) for ``n`` leads of ``profile``; deterministic in (slug, n-prefix, seed).

    Leads are generated in chunks from independent streams, so a larger ``n`` extends a smaller one.
    """
    chunk = 5000
    tseed = int.from_bytes(profile.slug.encode()[:8].ljust(8, b"\0"), "little")
    for start in range(0, n, chunk):
        rng = np.random.default_rng([seed, tseed, start // chunk])
        yield from _chunk(profile, rng, start, min(chunk, n - start))


def _chunk(p: TenantProfile, rng: np.random.Generator, start: int, m: int) -> Iterator[tuple[dict, float]]:
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    functions = list(p.titles)
    countries = list(p.countries)
    ideal_i = set(p.ideal_industries)
    ideal_c = set(p.ideal_countries)
    ideal_f = set(p.ideal_functions)
    ideal_p = set(p.ideal_property)
    # A latent "fit" makes the attributes of good leads correlate, as in real markets.
    fit = rng.standard_normal(m)
    for j in range(m):
        f = fit[j]
        i = start + j
        pick_ideal = rng.random() < _sigmoid(np.array(f * 1.2))
        industry = rng.choice(p.ideal_industries) if pick_ideal else rng.choice(p.industries)
        country = rng.choice(p.ideal_countries) if rng.random() < _sigmoid(np.array(f)) else rng.choice(countries)
        region = rng.choice(p.countries[country])
        func = rng.choice(p.ideal_functions) if rng.random() < _sigmoid(np.array(f * 0.8)) else rng.choice(functions)
        title = rng.choice(p.titles[func])
        seniority = SENIORITY[int(np.clip(rng.normal(3 + 0.6 * f, 1.3), 0, len(SENIORITY) - 1))]
        lo, hi = p.size_sweet_spot
        if p.kind == "b2b":
            size = int(np.exp(rng.normal(math.log(math.sqrt(lo * hi)) + 0.3 * f, 1.4))) + 1
        else:
            size = int(np.clip(rng.poisson(2.2 + 0.3 * f), 1, 9))
        prop = (rng.choice(p.ideal_property) if rng.random() < _sigmoid(np.array(f)) else rng.choice(p.property_types)) \
            if p.property_types else None
        opens = int(rng.poisson(np.exp(1.0 + 0.35 * f + rng.normal(0, 0.5))))
        visits = int(rng.poisson(np.exp(0.6 + 0.45 * f + rng.normal(0, 0.6))))
        n_good = rng.binomial(2, _sigmoid(np.array(f - 0.7)))
        n_bad = rng.binomial(1, _sigmoid(np.array(-f - 1.0)))
        topics = list(rng.choice(p.good_topics, size=n_good, replace=False)) if n_good else []
        topics += list(rng.choice(p.bad_topics, size=n_bad, replace=False)) if n_bad else []
        topics += list(rng.choice(p.neutral_topics, size=rng.integers(1, 3), replace=False))
        rng.shuffle(topics)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = f"{rng.choice(LAST)} {rng.choice(['Group', 'Labs', 'Partners', 'Systems', 'Co', 'Holdings'])}" \
            if p.kind == "b2b" else None
        bio = f"{title.capitalize()} in {region.title()}. " + ". ".join(t.capitalize() for t in topics) + "."

        # Hidden propensity: non-linear in attributes and text.
        z = p.base_logit
        z += 1.3 if industry in ideal_i else -0.4
        z += 0.5 if country in ideal_c else -0.3
        senior = SENIORITY.index(seniority) >= 3
        z += 1.1 if (func in ideal_f and senior) else (0.3 if func in ideal_f else -0.2)
        if p.kind == "b2b":
            z += 0.9 if lo <= size <= hi else -0.5
        else:
            z += 0.5 if 2 <= size <= 5 else -0.2
        if prop is not None:
            z += 0.9 if prop in ideal_p else -0.6
        z += 1.0 * min(n_good, 1) + 0.4 * max(n_good - 1, 0)
        z -= 1.6 * n_bad
        z += 0.35 * math.log1p(visits) + 0.15 * math.log1p(opens)
        if n_good and func in ideal_f:
            z += 0.5  # the pain point matters most when it comes from the buyer's function
        z += rng.normal(0, 0.3)
        propensity = float(_sigmoid(np.array(z)))

        ext = f"{p.slug[:3]}-{i:07d}"
        lead = {
            "external_id": ext,
            "email": f"{first.lower()}.{last.lower()}.{i}@example.com",
            "phone": f"+1555{i:07d}",
            "first_name": first,
            "last_name": last,
            "company": company,
            "industry": industry,
            "company_size": size,
            "country": country,
            "region": region,
            "title": title,
            "seniority": seniority,
            "bio": bio,
            "property_type": prop,
            "email_opens": opens,
            "web_visits": visits,
            "last_activity_at": now - timedelta(days=int(rng.integers(0, 180))),
        }
        yield lead, propensity


def pick_seeds(
    propensities: np.ndarray, rng: np.random.Generator, won: int = 60, meeting: int = 25, replied: int = 40
) -> dict[int, str]:
    """Row index -> seed label: leads that converted in the tenant's history (drawn from the propensity)."""
    outcome = rng.random(len(propensities)) < propensities
    positives = np.flatnonzero(outcome)
    rng.shuffle(positives)
    labels: dict[int, str] = {}
    for k, idx in enumerate(positives[: won + meeting + replied]):
        labels[int(idx)] = "won" if k < won else ("meeting" if k < won + meeting else "replied")
    return labels
