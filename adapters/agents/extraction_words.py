"""The vocabulary the item reader needs: units, words that end a description, measures
that make a number a specification, labels of fields that are not items."""

from __future__ import annotations

import re

# Canonical unit ← the ways it is written (English and German, singular and plural).
UNIT_SPELLINGS = {
    "box": "box boxes boxen schachtel schachteln",
    "pack": "pack packs package packages pkg packet packets packung packungen päckchen",
    "carton": "carton cartons karton kartons",
    "case": "case cases",
    "crate": "crate crates kiste kisten kasten",
    "pallet": "pallet pallets palette paletten",
    "ream": "ream reams",
    "roll": "roll rolls rolle rollen",
    "set": "set sets satz sätze",
    "pair": "pair pairs paar",
    "bottle": "bottle bottles flasche flaschen",
    "can": "can cans dose dosen",
    "bag": "bag bags beutel tüte tüten sack säcke",
    "licence": "licence licences license licenses lizenz lizenzen",
    "seat": "seat seats",
    "kg": "kg kilo kilos kilogram kilograms kilogramm",
    "l": "l litre litres liter liters",
    "m": "m metre metres meter meters",
}
UNITS = {spelling: unit for unit, words in UNIT_SPELLINGS.items() for spelling in words.split()}
# Words that say "pieces": the quantity is a count, no unit.
PIECES = frozenset(
    "x \u00d7 * pcs pcs. pc pc. pieces piece stk stk. stück st. units unit nos ea".split()
)
# A number followed by one of these is a specification, never a quantity.
SPEC_WORDS = frozenset(
    """inch inches in zoll " '' ″ gb tb mb kb gbit mbit ghz mhz hz w watt v volt mah mp
    megapixel dpi ppm % percent prozent mm cm km years year yrs jahre jahr jahren months month
    monate monat monaten weeks week wochen woche days day tage tag tagen werktage werktagen
    hours hour hrs stunden stunde h min mins minutes minuten seconds sec
    cores core kerne threads bit fps lumen lm kw kwh ° degrees grad people persons personen
    person mitarbeiter mitarbeitende employees staff colleagues kollegen users nutzer times mal
    k gen generation ports slots rpm nits ms""".split()
)
MONTHS_AND_DAYS = frozenset(
    """january february march april may june july august september october november december
    januar februar märz april mai juni juli august september oktober november dezember jan
    feb mar apr jun jul aug sep sept oct okt nov dec dez monday tuesday wednesday thursday
    friday saturday sunday montag dienstag mittwoch donnerstag freitag samstag sonntag""".split()
)
CURRENCY_WORDS = frozenset("eur euro euros usd dollar dollars gbp pounds chf € $ £".split())
NOT_NOUNS = SPEC_WORDS | MONTHS_AND_DAYS | CURRENCY_WORDS
# A description ends before one of these.
STOP_WORDS = frozenset(
    """and und or oder for für with mit at à @ by bis until before to zu per each je from von
    vom bei in im on am as als please bitte asap urgently urgent dringend which that die der
    das den dem des we wir i ich you sie if falls so because weil da since including inkl
    incl plus but aber sowie are is sind ist should sollen sollten must müssen can können
    will werden would würde have haben has hat cost costs kosten total budget needed
    required ordered delivered bestellen kaufen besorgen liefern ordern beschaffen benötigt
    gebraucht anschaffen brauchen benötigen asap thanks thank danke more mehr weitere
    the a an of it them this these those es ihn uns us me mir our unsere your ihre something
    etwas anything no not nicht than ein eine einen auf aus ab instead statt anstatt rather
    lieber""".split()
)
# "5 business days": a word that, before a measure, is part of it.
SPEC_PREFIXES = frozenset("business working calendar man full".split())
# "the 4 docking stations": a number after these refers back, it asks for nothing new.
REFERRING = frozenset("the these those our my your die der den diese unsere".split())
MEASURE_UNITS = frozenset("kg l m".split())
# A number right after one of these is a model or a count of something else.
NOT_QUANTITY_AFTER = frozenset(
    """with mit having featuring microsoft office windows iphone ipad galaxy pixel surface
    version v gen generation series model modell type typ room raum building gebäude floor
    etage stock step page seite kw cw q than als""".split()
)
APPROXIMATE = frozenset(
    "about approx approx. approximately around roughly ca ca. circa etwa ungefähr".split()
)
# Labels of "label: value" lines that are fields of the request, not items.
FIELD_LABELS = frozenset(
    """budget deadline date datum termin liefertermin cost costs kosten centre center
    kostenstelle kst supplier lieferant vendor anbieter phone tel telefon mobile mobil fax
    order po ref reference referenz ticket invoice rechnung room raum building gebäude floor
    etage delivery lieferung lieferadresse address adresse anschrift total summe gesamt price
    preis project projekt team department abteilung contact kontakt warranty garantie ram
    storage screen display size größe cpu memory speicher version week priority priorität
    people employees mitarbeiter headcount account konto ssd hdd resolution auflösung weight
    gewicht colour color farbe quantity qty menge anzahl amount betrag stückzahl""".split()
)
QUANTITY_LABELS = frozenset(
    "qty qty. quantity quantities menge anzahl stückzahl stk stück count amount #".split()
)
ITEM_LABELS = frozenset(
    """item items article artikel product produkt description bezeichnung beschreibung
    position was what""".split()
)
UNIT_LABELS = frozenset("unit einheit uom".split())
REQUEST_VERB = re.compile(
    r"\b(?:need|needs|order|buy|purchase|require|get us|brauchen|benötigen|bestellen|"
    r"kaufen|besorgen)\b\s+(?:some |several |a few |a couple of |new |einige |mehrere |"
    r"ein paar |neue |a |an |ein |eine |einen )*(?P<what>[^\W\d_][\w-]*(?:\s[^\W\d_][\w-]*){0,2})",
    re.IGNORECASE,
)
NUMBER_WORDS = {
    word: value
    for value, words in enumerate(
        "- - two|zwei three|drei four|vier five|fünf six|sechs seven|sieben eight|acht "
        "nine|neun ten|zehn eleven|elf twelve|zwölf".split()
    )
    for word in words.split("|")
    if word != "-"
}
