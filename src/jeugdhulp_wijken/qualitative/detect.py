"""Finding identifiers in Dutch transcript text: rules, shipped lists and deduce.

Every detector returns :class:`Span` objects (character offsets, a category, a priority and the
detector that found it). :mod:`.masking` filters them against the study's own words,
resolves overlaps (lower ``priority`` first, then the longer span) and replaces them.

Categories and detectors (priority in brackets):

* ``EMAIL`` [0], ``TELEFOON`` [1] (any grouping: ``06 - 123 456 78``, ``+31 (0)6 1234 5678``,
  ``(070) 345 67 89``), ``BSN`` [2] (nine digits, also ``1234.56.789``), by rule and by deduce;
* ``POSTCODE`` [3]: ``2526 HX``, ``2526HX``, ``2526hx``; a lower-case pair after a space only when
  it is not a Dutch two-letter word (``in 2019 en``);
* ``ADRES`` [4]: a street with a house number, the street known from deduce's list of Dutch
  streets (``Laan van Meerdervoort 1203``), or recognised by its suffix (``Molenstraat 12a``,
  ``Prinses Beatrixlaan 5``) or as ``Laan/Weg/Plein van ... <nr>``;
* ``ORGANISATIE`` [6]: a school or organisation named by its type (``basisschool De Springbok``,
  ``Hofstad Lyceum``, ``buurthuis De Mussen``) or in deduce's list of care institutions
  (``Het Palet``); [10]: a capitalised article inside a sentence (``op De Springbok``);
* ``PERSOON`` [7]: a capitalised name after a title or relation word (``juf Anne-Marie``,
  ``mevrouw De Groot``); [9]: deduce's person annotations (first names, surnames, initials,
  particles, from its shipped name lists) and ``Voornaam tussenvoegsel Achternaam``;
* ``STRAAT`` [8]: a street without number after a preposition (``in de Molenstraat``,
  ``aan de Laan van Meerdervoort``).

Listed identifiers from the sidecar or a names file get priority [5] (:mod:`.pseudonymise`).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from . import dutch_lists

UP = "A-ZÀ-ÖØ-Þ"
LOW = "a-zß-öø-ÿ"
NAME = rf"[{UP}][{LOW}']+(?:-[{UP}]?[{LOW}']+)*"
PARTICLE = r"(?:van der|van den|van de|van 't|van|de|den|der|ter|ten|te|el|al|op de|in 't)"
PARTICLES = {"van", "der", "den", "de", "ter", "ten", "te", "el", "al", "op", "in", "'t", "het", "la", "le", "da", "di", "du"}
STREET_SUFFIX = (r"(?:straat|laan|weg|plein|kade|gracht|singel|dreef|hof|pad|steeg|dijk|markt|plantsoen|erf|"
                 r"allee|boulevard|wal|park|hoven|veld|pleinstraat|lei|zijde|werf|baan)")
BARE_SUFFIX = r"(?:straat|laan|gracht|singel|dreef|kade|steeg|weg|plein|allee|boulevard)"
HOUSE_NUMBER = r"\d{1,4}(?:\s?-\s?\d{1,4}|\s?[a-zA-Z](?![\w])|\s?(?:hs|bis|zw))?(?![\w]|[.,]\d)"
TITLES = (r"mevrouw|meneer|mevr\.|mw\.|dhr\.|de heer|juf|juffrouw|meester|meesteres|moeder|vader|zoon|dochter|"
          r"buurman|buurvrouw|oma|opa|tante|oom|broer|zus|zusje|broertje|stiefvader|stiefmoeder|neef|nicht|"
          r"vriend|vriendin|vriendje|vriendinnetje|collega|heet|heette|genaamd|jongen|meisje|leerling|"
          r"dokter|dr\.|mr\.|ir\.|drs\.|huisarts|jeugdarts|mentor|mentrix|coach|leerkracht|docent|docente|"
          r"directeur|directrice|begeleider|wijkagent|hulpverlener|consulent|gezinscoach|jongerenwerker|"
          r"baby|kleinzoon|kleindochter|pleegkind|pleegmoeder|pleegvader|cliënt|client|ouders van|"
          r"heten|noemen|noemde")
NAME_AFTER_TITLE = rf"(?P<name>(?:{PARTICLE}\s+)?{NAME}(?:\s+(?:{PARTICLE}\s+)?{NAME})?)"
ORG_TYPES_AFTER = (r"(?:Lyceum|College|Gymnasium|Scholengemeenschap|Mavo|Havo|Vwo|Academie|Montessorischool|"
                   r"Daltonschool|Basisschool|School|Kindcentrum|Campus)")
ORG_TYPES_BEFORE = (r"basisschool|basisscholen|school|scholengemeenschap|kindcentrum|ikc|kinderopvang|"
                    r"peuterspeelzaal|kinderdagverblijf|bso|buurthuis|wijkcentrum|jongerencentrum|"
                    r"sportvereniging|voetbalvereniging|voetbalclub|sportclub|vereniging|stichting|moskee|kerk|"
                    r"praktijk|huisartsenpraktijk|zorgaanbieder|jeugdhulpaanbieder|opvang|speeltuin|"
                    r"bibliotheek|dansschool|zwemvereniging|scouting|scoutinggroep|lyceum|college|gymnasium|"
                    r"mavo|havo|vmbo|vwo|mbo|roc|praktijkschool|speciaal onderwijs|so|vso|sbo|internaat|"
                    r"woongroep|gezinshuis|instelling|kliniek|centrum")
NOT_ORG_WORDS = {"De", "Het", "Een", "Op", "In", "Bij", "Naar", "Die", "Dat", "Deze", "Onze", "Mijn", "Zijn",
                 "Haar", "Hun", "Elke", "Iedere", "Welke", "Van", "Voor", "En", "Maar", "Ook", "Dan", "Als",
                 "Wij", "We", "Ik", "Zij", "Ze", "Hij", "Er", "Daar", "Hier", "Nu", "Toen", "Wat", "Waar"}
#: Dutch two-letter words that can follow a four-digit number (``in 2019 en``).
DUTCH_PAIRS = {"en", "is", "op", "in", "de", "te", "om", "al", "na", "of", "er", "ze", "we", "je", "ik", "nu",
               "zo", "ja", "af", "uw", "ma", "di", "wo", "do", "vr", "za", "mn", "hè", "nl", "ca", "pm", "am",
               "tm", "ie", "me", "ga", "da", "eh", "he", "oh", "ah", "nr"}
FORBIDDEN_POSTCODE_LETTERS = {"SA", "SD", "SS"}

PATTERNS = {
    "EMAIL": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "TELEFOON": re.compile(r"(?<![\w+])(?:(?:\+|00)\s?31[\s.\-]*(?:\(0\)[\s.\-]*)?|\(?0)(?:\)?[\s.\-/]{0,3}\d){9}(?!\d)"),
    "BSN": re.compile(r"(?<![\d.,\-+])(?:\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}\.\d{3}\.\d{3}|\d{3} \d{3} \d{3})(?![\d])"),
    "POSTCODE": re.compile(r"(?<![\w.,])[1-9]\d{3}(?P<sp>\s?)(?P<l>[A-Za-z]{2})(?![\w])"),
}
ADRES_SUFFIX = re.compile(rf"(?:(?:[{UP}0-9][\w'.]*\s+){{0,3}})[{UP}][\w'\-]*{STREET_SUFFIX}\s+{HOUSE_NUMBER}")
ADRES_VAN = re.compile(rf"\b(?:Laan|Weg|Plein|Kade|Straat|Singel|Hof|Pad|Dreef|Park|Gracht)\s+"
                       rf"(?:van|der|de|den|het|'t|te|ter|op)(?:\s+(?:van|der|de|den|het|'t))*\s+"
                       rf"[{UP}][\w'\-]+(?:\s+[{UP}][\w'\-]+)?\s+{HOUSE_NUMBER}")
NUMBER = re.compile(rf"(?<![\w.,/\-]){HOUSE_NUMBER}")
PREPOSITION = re.compile(r"\b(?i:aan|op|bij|naar|via|uit|in|langs|over|vanaf|richting|door) (?:de|het|'t) $")
STRAAT_SUFFIX = re.compile(rf"\b(?i:aan|op|bij|naar|via|uit|in|langs|over) (?:de|het) "
                           rf"(?P<x>[{UP}][\w'\-]*{BARE_SUFFIX})\b")
TITLE_WORD = re.compile(rf"(?i:{TITLES})")
TITLE_NAME = re.compile(rf"(?i:\b(?:{TITLES})),?\s+{NAME_AFTER_TITLE}")
PARTICLE_NAME = re.compile(rf"\b(?P<name>{NAME}\s+{PARTICLE}\s+{NAME})")
ORG_AFTER = re.compile(rf"\b(?P<x>(?:[{UP}][\w'\-]*\s+){{1,3}}{ORG_TYPES_AFTER}(?:\s+[{UP}][\w'\-]+)?)\b")
ORG_BEFORE = re.compile(rf"(?i:\b(?:{ORG_TYPES_BEFORE}))\s+(?P<x>(?:(?:De|de|Het|het|'t|Den|den)\s+)?"
                        rf"[{UP}][\w'\-]*(?:\s+[{UP}][\w'\-]*){{0,3}})")
ORG_ARTICLE = re.compile(rf"(?<=[^\s.!?:*\]>\"'(] )(?P<x>(?:De|Het|'t|Den) [{UP}][{LOW}'\-]+(?:\s[{UP}][{LOW}'\-]+){{0,2}})")
#: deduce tags that this module takes over, and their category.
DEDUCE_TAGS = {"persoon": "PERSOON", "patient": "PERSOON", "telefoonnummer": "TELEFOON", "emailadres": "EMAIL",
               "bsn": "BSN", "ziekenhuis": "ORGANISATIE", "zorginstelling": "ORGANISATIE"}
DEDUCE_PRIORITY = {"PERSOON": 9, "TELEFOON": 1, "EMAIL": 0, "BSN": 2, "ORGANISATIE": 6}
NOT_NAME_START = {"aan", "op", "in", "bij", "naar", "via", "uit", "met", "en", "of", "voor", "door", "dat", "die",
                  "de", "het", "een", "is", "was", "zei", "zegt"}
#: Capitalised words that follow titles but are not names (school subjects, languages, nationalities).
NOT_NAMES = {"engels", "nederlands", "frans", "duits", "spaans", "arabisch", "turks", "pools", "marokkaans",
             "surinaams", "antilliaans", "somalisch", "eritrees", "syrisch", "oekraïens", "wiskunde",
             "gym", "biologie", "geschiedenis", "aardrijkskunde", "lo", "jeugdhulp", "jeugdzorg"}
#: Last words that make a capitalised phrase a place (``Haagse Hout``, ``Wateringse Veld``).
GEO_HEADS = {"hout", "veld", "park", "hof", "kwartier", "buurt", "wijk", "dorp", "polder", "haven", "centrum",
             "land", "duin", "duinen", "hoeve", "bos", "meer", "zicht", "heuvel", "berg", "stad", "stadshart",
             "eiland", "weide", "akker", "horst", "broek", "veen", "lust", "rust", "binnenstad", "noord", "oost",
             "zuid", "west", "buiten", "binnen", "vliet", "kade", "poort"}
#: Words that start a street name (``Laan van Meerdervoort``), never a person's name.
STREET_WORDS = {"laan", "straat", "weg", "plein", "kade", "singel", "gracht", "dreef", "pad", "steeg", "dijk",
                "burgemeester", "burg.", "president", "koningin", "koning", "prins", "prinses", "graaf"}
#: First parts of compound place names (``Noord-Hofland``, ``Oud-Rijswijk``).
GEO_PREFIXES = {"noord", "oost", "zuid", "west", "oud", "nieuw", "groot", "klein", "midden", "binnen", "buiten",
                "hoog", "laag", "sint", "st"}
#: Words after which a single capitalised word is a place, not a person (``in Marlot``).
LOCATIVE = re.compile(r"(?i:\b(?:in|uit|naar|rond|richting|vanuit|buiten|binnen|wijk|dorp|kern|stadsdeel|"
                      r"buurt|gemeente|regio)\s+)$")
LEXICON = ("whitelist/lst_common_word", "whitelist/lst_stop_word", "whitelist/lst_medical_term")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    category: str
    priority: int
    source: str

    def text(self, text: str) -> str:
        return text[self.start:self.end]


def postcode_ok(match: re.Match) -> bool:
    """Upper-case letters: a postcode unless SA/SD/SS (never issued); lower or mixed case: a postcode
    unless a space separates a Dutch two-letter word (``in 2019 en``)."""
    letters = match.group("l")
    if letters.isupper():
        return letters not in FORBIDDEN_POSTCODE_LETTERS
    return not (match.group("sp") and letters.lower() in DUTCH_PAIRS)


def elfproef(digits: str) -> bool:
    """The BSN eleven-test: sum(d_i * (9 - i), i < 8) - d_8 is divisible by 11 (and not 0)."""
    d = [int(c) for c in re.sub(r"\D", "", digits)]
    if len(d) != 9:
        return False
    total = sum(x * (9 - i) for i, x in enumerate(d[:8])) - d[8]
    return total % 11 == 0 and total != 0


def pattern_spans(text: str, *, bsn_elfproef: bool = False) -> list[Span]:
    """E-mail, phone, BSN and postcode rules."""
    out = []
    for prio, cat in enumerate(("EMAIL", "TELEFOON", "BSN", "POSTCODE")):
        for m in PATTERNS[cat].finditer(text):
            if cat == "BSN" and bsn_elfproef and not elfproef(m.group()):
                continue
            if cat == "POSTCODE" and not postcode_ok(m):
                continue
            out.append(Span(m.start(), m.end(), cat, prio, "rule"))
    return out


def _street_before(text: str, end: int) -> int | None:
    """Start of the longest known street name that ends (before whitespace) at ``end``."""
    head = text[max(0, end - 80):end]
    offset = max(0, end - 80)
    toks = dutch_lists.tokens(head)
    if not toks or head[toks[-1][1]:].strip():
        return None
    streets = dutch_lists.phrases("street")
    for n in range(min(6, len(toks)), 0, -1):
        s = toks[-n][0]
        if not head[s].isupper():
            continue
        phrase = " ".join(head[s:toks[-1][1]].split()).casefold()
        if phrase in streets:
            return offset + s
    return None


def address_spans(text: str) -> list[Span]:
    """Streets with a house number (list, suffix and 'Laan van ...' rules) and bare streets in context."""
    out = []
    for m in NUMBER.finditer(text):
        start = _street_before(text, m.start())
        if start is not None:
            out.append(Span(start, m.end(), "ADRES", 4, "deduce-streets"))
    for rx in (ADRES_SUFFIX, ADRES_VAN):
        for m in rx.finditer(text):
            out.append(Span(m.start(), m.end(), "ADRES", 4, "rule"))
    for m in STRAAT_SUFFIX.finditer(text):
        out.append(Span(m.start("x"), m.end("x"), "STRAAT", 8, "rule"))
    for start, end in dutch_lists.phrase_spans(text, "street"):
        name = text[start:end]
        if PREPOSITION.search(text[max(0, start - 12):start]) and \
                (len(name.split()) >= 2 or re.search(rf"{BARE_SUFFIX}$", name, re.IGNORECASE)):
            out.append(Span(start, end, "STRAAT", 8, "deduce-streets"))
    return out


def organisation_spans(text: str) -> list[Span]:
    out = []
    for m in ORG_AFTER.finditer(text):
        start, words = m.start("x"), m.group("x").split()
        while len(words) > 1 and words[0] in NOT_ORG_WORDS and words[0] not in ("De", "Het"):
            start = text.index(words[1], start + len(words[0]))
            words = words[1:]
        if len(words) >= 2:
            out.append(Span(start, m.end("x"), "ORGANISATIE", 6, "rule"))
    for m in ORG_BEFORE.finditer(text):
        out.append(Span(m.start("x"), m.end("x"), "ORGANISATIE", 6, "rule"))
    for start, end in dutch_lists.phrase_spans(text, "institution", min_tokens=2):
        out.append(Span(start, end, "ORGANISATIE", 6, "deduce-institutions"))
    for m in ORG_ARTICLE.finditer(text):
        out.append(Span(m.start("x"), m.end("x"), "ORGANISATIE", 10, "rule"))
    return out


def title_name_spans(text: str) -> list[Span]:
    out = []
    for m in TITLE_NAME.finditer(text):
        out.append(Span(m.start("name"), m.end("name"), "PERSOON", 7, "rule"))
    for m in PARTICLE_NAME.finditer(text):
        if not looks_like_place(text, m.start("name"), m.end("name")):
            out.append(Span(m.start("name"), m.end("name"), "PERSOON", 9, "rule"))
    return out


def _trim_person(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop leading prepositions and articles from a deduce person span; None if no name is left."""
    while True:
        m = re.match(r"(\S+?),?\s+", text[start:end])
        if not m or (m.group(1).lower() not in NOT_NAME_START and not TITLE_WORD.fullmatch(m.group(1))):
            break
        start += m.end()
    name = text[start:end].strip()
    end = start + len(name)
    if not name or not any(c.isupper() for c in name):
        return None
    return start, end


def looks_like_place(text: str, start: int, end: int) -> bool:
    """A capitalised phrase that reads as a place: a geographic first word (or last word, when the
    phrase has no particle: ``van den Berg`` stays a name), a geographic word just before it
    (``Hof | van Delfland``), a compass or 'Oud-' compound, a ``-se`` adjective of a place, or a
    single word after ``in``/``uit``/``naar``."""
    words = text[start:end].split()
    if words[0].casefold() in GEO_HEADS or words[0].casefold() in STREET_WORDS:
        return True
    if len(words) >= 2 and " ".join(words).casefold() in dutch_lists.phrases("street"):
        return True
    if len(words) >= 2 and words[-1].casefold() in GEO_HEADS and not PARTICLES & {w.casefold() for w in words}:
        return True
    before = re.search(r"(\S+)\s+$", text[max(0, start - 20):start])
    if before and before.group(1)[:1].isupper() and before.group(1).casefold() in GEO_HEADS:
        return True
    if len(words) >= 2 and re.fullmatch(rf"[{UP}][{LOW}]+se", words[0]) and is_place(words[0][:-2]):
        return True
    compound = re.search(r"(\w+)-$", text[max(0, start - 12):start])
    if compound and compound.group(1).casefold() in GEO_PREFIXES:
        return True
    if "-" in words[0] and words[0].split("-")[0].casefold() in GEO_PREFIXES:
        return True
    return len(words) == 1 and bool(LOCATIVE.search(text[max(0, start - 20):start]))


def deduce_spans(text: str) -> list[Span]:
    out = []
    for start, end, tag in dutch_lists.deduce_annotations(text):
        cat = DEDUCE_TAGS.get(tag)
        if cat is None:
            continue
        if cat == "PERSOON":
            trimmed = _trim_person(text, start, end)
            if trimmed is None:
                continue
            start, end = trimmed
            if looks_like_place(text, start, end):
                continue
        out.append(Span(start, end, cat, DEDUCE_PRIORITY[cat], "deduce"))
    return out


def detect(text: str, *, bsn_elfproef: bool = False, use_deduce: bool = True) -> list[Span]:
    """Every candidate span in ``text`` (before the study-word filter and overlap resolution)."""
    spans = pattern_spans(text, bsn_elfproef=bsn_elfproef) + address_spans(text) + organisation_spans(text) \
        + title_name_spans(text)
    if use_deduce:
        spans += [s for s in deduce_spans(text) if not (s.category == "BSN" and bsn_elfproef
                                                         and not elfproef(s.text(text)))]
    return spans


def is_place(name: str) -> bool:
    """A Dutch place name (residence, gemeente, province, region) in deduce's shipped lists."""
    return dutch_lists.is_known(" ".join(name.split()), ["locations/lst_placename"])


def is_common_word(word: str) -> bool:
    return dutch_lists.is_known(word, LEXICON)


# --------------------------------------------------------------------------- residual check

RESIDUAL_TITLE = re.compile(rf"(?i:\b(?:{TITLES})),?\s+(?P<name>[{UP}][{LOW}]{{2,}})")
RESIDUAL_DIGITS = re.compile(r"(?<![\w\-])\d(?:[\s.\-]?\d){6,}(?![\w])")
DATES = re.compile(r"\b(?:\d{4}-\d{1,2}(?:-\d{1,2})?|\d{1,2}[-/]\d{1,2}[-/]\d{2,4})\b")
RESIDUAL_NAME = re.compile(rf"(?<=[{LOW},;] )(?P<name>[{UP}][{LOW}'\-]{{2,}})")
PSEUDONYM = re.compile(r"\[[A-Z]+-\d+\]")


def residual_flags(text: str, protected: set[str]) -> Counter:
    """What a reader should look at in pseudonymised ``text``: counts per reason, never the words.

    * ``title_then_capital``: a title or relation word followed by a capitalised word;
    * ``long_number``: six or more digits in a row (with separators);
    * ``at_sign``: an ``@`` outside a pseudonym;
    * ``known_name_word``: a capitalised word inside a sentence that is in deduce's first-name or
      surname list and not a study word, a place or a common word.
    """
    flags: Counter = Counter()
    for m in RESIDUAL_TITLE.finditer(text):
        if m.group("name").casefold() not in protected and not is_place(m.group("name")):
            flags["title_then_capital"] += 1
    flags["long_number"] = len(RESIDUAL_DIGITS.findall(DATES.sub("", PSEUDONYM.sub("", text))))
    flags["at_sign"] = PSEUDONYM.sub("", text).count("@")
    names = dutch_lists.word_set("names/lst_first_name") | dutch_lists.word_set("names/lst_surname")
    for m in RESIDUAL_NAME.finditer(text):
        w = m.group("name")
        if w.casefold() in names and w.casefold() not in protected and not is_place(w) and not is_common_word(w):
            flags["known_name_word"] += 1
    return +flags
