"""Tables of issue 30's findings, recreated with the published tables' real column names and values: the telecom
customer table (IBM's Telco Customer Churn), the retail marketing table (Customer Personality Analysis) and a B2B
table with proper names. Random rows (seeded); what matters to a description is the names and the values."""

from __future__ import annotations

import csv
import random
from pathlib import Path

TELCO_YES_NO_SERVICE = ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
                        "StreamingMovies")


def telco_rows(n: int = 400, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        phone = rnd.random() < 0.9
        internet = rnd.choice(["DSL", "Fiber optic", "No"])
        row = {"customerID": f"{1000 + i}-{''.join(rnd.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ') for _ in range(5))}",
               "gender": rnd.choice(["Female", "Male"]), "SeniorCitizen": int(rnd.random() < 0.16),
               "Partner": rnd.choice(["Yes", "No"]), "Dependents": rnd.choice(["Yes", "No"]),
               "tenure": rnd.randint(0, 72), "PhoneService": "Yes" if phone else "No",
               "MultipleLines": rnd.choice(["Yes", "No"]) if phone else "No phone service",
               "InternetService": internet}
        for c in TELCO_YES_NO_SERVICE:
            row[c] = rnd.choice(["Yes", "No"]) if internet != "No" else "No internet service"
        monthly = round(rnd.uniform(18.25, 118.75), 2)
        row.update({"Contract": rnd.choice(["Month-to-month", "One year", "Two year"]),
                    "PaperlessBilling": rnd.choice(["Yes", "No"]),
                    "PaymentMethod": rnd.choice(["Electronic check", "Mailed check", "Bank transfer (automatic)",
                                                 "Credit card (automatic)"]),
                    "MonthlyCharges": monthly, "TotalCharges": round(monthly * max(row["tenure"], 1), 2),
                    "Churn": rnd.choice(["Yes", "No"])})
        rows.append(row)
    return rows


def retail_rows(n: int = 400, seed: int = 8) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"ID": 5000 + i, "Year_Birth": rnd.randint(1940, 1996),
               "Education": rnd.choice(["Graduation", "PhD", "Master", "Basic", "2n Cycle"]),
               "Marital_Status": rnd.choice(["Married", "Together", "Single", "Divorced", "Widow"]),
               "Income": rnd.randint(1730, 162397), "Kidhome": rnd.choice([0, 0, 1, 2]),
               "Teenhome": rnd.choice([0, 0, 1, 2]),
               "Dt_Customer": f"{rnd.randint(1, 28):02d}-{rnd.randint(1, 12):02d}-{rnd.choice([2012, 2013, 2014])}",
               "Recency": rnd.randint(0, 99), "MntWines": rnd.randint(0, 1493), "MntFruits": rnd.randint(0, 199),
               "MntMeatProducts": rnd.randint(0, 1725), "MntFishProducts": rnd.randint(0, 259),
               "MntSweetProducts": rnd.randint(0, 263), "MntGoldProds": rnd.randint(0, 362),
               "NumDealsPurchases": rnd.randint(0, 15), "NumWebPurchases": rnd.randint(0, 27),
               "NumCatalogPurchases": rnd.randint(0, 28), "NumStorePurchases": rnd.randint(0, 13),
               "NumWebVisitsMonth": rnd.randint(0, 20)}
        for k in (3, 4, 5, 1, 2):
            row[f"AcceptedCmp{k}"] = int(rnd.random() < 0.07)
        row.update({"Complain": int(rnd.random() < 0.01) if i > 3 else int(i == 0), "Z_CostContact": 3,
                    "Z_Revenue": 11, "Response": int(rnd.random() < 0.15)})
        rows.append(row)
    return rows


B2B_TITLES = ("Head of Marketing", "CMO", "Marketing Manager", "Growth Marketer", "Head of Revenue Operations",
              "CFO", "VP Finance", "Finance Director", "Controller", "Software Engineer", "Senior Software Engineer",
              "Data Engineer", "Engineering Manager", "CTO", "Account Executive", "Office Manager")
B2B_NOTES = ("met at the trade fair in Cologne; budget approved for Q3, needs a demo for the board",
             "asked about SSO and the API limits", "renewal in March, happy with support",
             "came through a partner webinar", "evaluating two other vendors", "champion left the company")


def b2b_rows(n: int = 300, seed: int = 9) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append({"lead_id": f"L{i:05d}", "email": f"person{i}@example{i % 40}.com",
                     "company": f"Company {i % 120}", "title": rnd.choice(B2B_TITLES),
                     "industry": rnd.choice(["Software", "Manufacturing", "Retail", "Financial Services"]),
                     "country": rnd.choice(["Germany", "France", "Netherlands", "Austria"]),
                     "annual_revenue_eur": rnd.randint(200_000, 90_000_000), "employees": rnd.randint(5, 5000),
                     "pricing_page_views": rnd.choice([0, 0, 0, 1, 2, 3, 5, 8]),
                     "demo_requested": rnd.choice(["yes", "no", "no"]),
                     "notes": rnd.choice(B2B_NOTES) + f" (call {i})"})
    return rows


TABLES = {"telco": telco_rows, "retail": retail_rows, "b2b": b2b_rows}


def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path
