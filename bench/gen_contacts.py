#!/usr/bin/env python3
"""Write a realistic contacts CSV for the import benchmark: 12 columns as a Apollo / Sales
Navigator export has them, ~5% duplicates of earlier rows (email in another case), ~1% bad
emails, phones in mixed formats (E.164, national with punctuation, 00-prefixed, extensions,
junk), some rows without email. Deterministic for a given row count.

usage: gen_contacts.py ROWS OUT.csv
"""
import random
import sys

FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger",
         "Radia", "Donald", "Sophie", "Tim", "Hedy", "John", "Katherine", "Guido", "Anita", "Bjarne"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
        "Allen", "Dijkstra", "Perlman", "Knuth", "Wilson", "Berners-Lee", "Lamarr", "McCarthy",
        "Johnson", "van Rossum", "Borg", "Stroustrup", "O'Neil", "García", "Müller"]
TITLES = ["CEO", "VP Sales", "Head of Growth", "Sales Manager", "Account Executive", "CTO",
          "Director of Marketing", "Software Engineer", "SDR", "Chief Revenue Officer",
          "Marketing Manager", "Founder", "Product Manager", "Customer Success Manager"]
PLACES = [("San Francisco", "CA", "United States", "US"), ("New York", "NY", "USA", "US"),
          ("Austin", "Texas", "US", "US"), ("London", "England", "United Kingdom", "GB"),
          ("Berlin", "Berlin", "Germany", "DE"), ("Paris", "Île-de-France", "France", "FR"),
          ("Toronto", "ON", "Canada", "CA"), ("Sydney", "NSW", "Australia", "AU"),
          ("Chicago", "IL", "United States", "US"), ("Madrid", "Madrid", "Spain", "ES")]
SOURCES = ["Apollo", "Sales Navigator", "Webinar", "Conference", "Referral", "Website"]
SUFFIX = ["Inc", "LLC", "Ltd", "GmbH", "", "", "Corp", "SA"]


def phone(rng, cc):
    n = rng.randrange(2000000, 9999999)
    area = rng.choice([415, 212, 512, 312, 646, 206])
    k = rng.random()
    if cc == "US" or cc == "CA":
        if k < 0.3:
            return f"+1{area}{n}"
        if k < 0.6:
            return f"({area}) {str(n)[:3]}-{str(n)[3:]}"
        if k < 0.8:
            return f"{area}.{str(n)[:3]}.{str(n)[3:]}"
        if k < 0.9:
            return f"+1 {area} {str(n)[:3]} {str(n)[3:]} ext. 12"
        if k < 0.95:
            return "n/a"
        return ""
    if cc == "GB":
        return rng.choice(["+44 20 7946 0", "020 7946 0", "0044 20 7946 0"]) + str(rng.randrange(100, 999))
    if cc == "DE":
        return f"+49 30 {rng.randrange(1000000, 9999999)}"
    if cc == "FR":
        return f"+33 1 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
    return ""


def main():
    rows = int(sys.argv[1])
    out = sys.argv[2]
    rng = random.Random(42)
    companies = max(rows // 20, 1)
    written = []
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("First Name,Last Name,Email,Phone Number,Title,Company Name,Website,City,State,Country,Person Linkedin Url,Lead Source\r\n")
        for i in range(rows):
            if written and rng.random() < 0.05:
                # A duplicate of an earlier row, with its email in another case.
                row = list(rng.choice(written))
                row[2] = row[2].upper()
                row[11] = "Duplicate"
            else:
                c = rng.randrange(companies)
                first, last = rng.choice(FIRST), rng.choice(LAST)
                city, state, country, cc = rng.choice(PLACES)
                name = f"Company {c}"
                suffix = SUFFIX[c % len(SUFFIX)]
                domain = f"company{c}.example"
                local = f"{first}.{last}{i}".lower().replace(" ", "").replace("'", "")
                email = f"{local}@{domain}"
                k = rng.random()
                if k < 0.01:
                    email = email.replace("@", "@@")
                elif k < 0.03:
                    email = ""
                row = [first, last, email, phone(rng, cc), rng.choice(TITLES),
                       f"{name} {suffix}".strip(), f"https://www.{domain}/" if rng.random() < 0.7 else domain,
                       city, state, country, f"https://www.linkedin.com/in/{local}",
                       rng.choice(SOURCES)]
                if len(written) < 50000:
                    written.append(row)
            f.write(",".join('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v for v in row))
            f.write("\r\n")


main()
