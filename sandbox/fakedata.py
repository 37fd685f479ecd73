"""Realistic, deterministic fake data shared by the three sandboxes, so channel SKUs match TIMS items."""

from datetime import timedelta
from decimal import Decimal

FIRST_NAMES = ["Zoë", "José", "Łukasz", "Amélie", "Søren", "Chloé", "Mário", "Björn", "Ana", "Noah", "Émile",
               "Hana", "Ólafur", "Renée", "Dmitrij", "Aiyana", "Siân", "Jürgen", "Inés", "李", "Mei", "Kofi"]
LAST_NAMES = ["Müller", "García", "Nowak", "O'Brien", "Dubois", "Øster", "Smith", "Kowalczyk", "Ngata", "Núñez",
              "Rossi", "van der Berg", "Åberg", "Haddad", "Yılmaz", "Schröder", "Ferreira", "王", "Tanaka", "Okafor"]
COMPANIES = ["", "", "", "Acme Fabrication", "Weld & Sons Ltd", "Gasworks Übersee GmbH", "Forge Coöp", ""]
STREETS = ["Hauptstraße", "Rue de l'Église", "Calle Mayor", "Main Street", "Ulica Długa", "Strandvägen",
           "Via Roma", "Elm Avenue", "Bahnhofstraße", "Avenida Paulista"]
CITIES = [("Berlin", "DE", "10115"), ("Paris", "FR", "75001"), ("Madrid", "ES", "28013"), ("Chicago", "US", "60601"),
          ("Gdańsk", "PL", "80-001"), ("Stockholm", "SE", "111 22"), ("Roma", "IT", "00184"),
          ("Toronto", "CA", "M5H 2N2"), ("München", "DE", "80331"), ("Lyon", "FR", "69001")]
COUNTRIES = {"DE": "Germany", "FR": "France", "ES": "Spain", "US": "United States", "PL": "Poland", "SE": "Sweden",
             "IT": "Italy", "CA": "Canada", "GB": "United Kingdom"}
CURRENCIES = ["EUR", "USD", "GBP", "CAD"]
PRODUCT_WORDS = [("WLD", "MIG welding wire ER70S-6"), ("ARG", "Argon cylinder refill 80 cf"),
                 ("TIG", "TIG tungsten electrode 2% lanthanated"), ("GLV", "Welding gloves, goatskin"),
                 ("HLM", "Auto-darkening helmet"), ("REG", "Argon/CO₂ flow regulator"),
                 ("NOZ", "MIG nozzle 5/8\""), ("CUT", "Plasma cutter consumable kit"),
                 ("ROD", "Stick electrode E7018 1/8\""), ("CO2", "CO₂ cylinder 20 lb")]


def catalog(count):
    """The first `count` products of the shared catalog: [{sku, name, price, cost, weight}], stable across calls."""
    items = []
    for index in range(count):
        prefix, name = PRODUCT_WORDS[index % len(PRODUCT_WORDS)]
        price = Decimal(5 + (index * 37) % 400) + Decimal((index * 13) % 100) / 100
        items.append({
            "sku": f"{prefix}-{index + 1:05d}",
            "name": f"{name} #{index + 1}",
            "price": price.quantize(Decimal("0.01")),
            "cost": (price * Decimal("0.62")).quantize(Decimal("0.01")),
            "weight": Decimal(1 + index % 20) / 4,
        })
    return items


def unknown_sku(index):
    """A SKU no TIMS catalog has."""
    return f"ZZZ-UNKNOWN-{index + 1:04d}"


def person(rng):
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email_local = f"{first}.{last}".lower().encode("ascii", "ignore").decode().replace(" ", "").replace("'", "")
    return {"first_name": first, "last_name": last, "company": rng.choice(COMPANIES),
            "email": f"{email_local or 'customer'}.{rng.randrange(10**6)}@example.com",
            "phone": f"+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}"}


def address(rng):
    city, country, postcode = rng.choice(CITIES)
    line2 = rng.choice(["", "", "Apt. 4", "2ème étage", "Hinterhaus"])
    return {"line1": f"{rng.choice(STREETS)} {rng.randrange(1, 250)}", "line2": line2, "city": city,
            "postcode": postcode, "country": country, "state": "IL" if country == "US" else ""}


def moment(now, rng, history_days=0):
    """When a generated order happened: `now`, as in a live shop, or with `history_days` a moment spread over that
    many past days. The random draw happens either way, so a seed makes the same records with or without history."""
    fraction = rng.random()
    if not history_days:
        return now
    return now - timedelta(seconds=int(fraction * history_days * 86400))
