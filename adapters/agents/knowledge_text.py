"""What of a support mail counts as evidence for an article: a topic named only in praise
("the app never crashes", "your refund process was great last time", "no problems with
refunds") is no question about it. Works on the words of `normalised` text (lower case,
no accents, no punctuation)."""

from __future__ import annotations

import re

# What goes wrong: the words a negation turns into praise. "never arrives", "does not
# work", "still cannot log in" are complaints and stay.
PROBLEM = (
    r"(?:crash\w*|freez\w*|froze\w*|hang\w*|fail\w*|broke\w*|abgesturzt|absturz\w*|"
    r"sturz\w*|hangt\w*|plant\w*|bug\w*)"
)
NEVER = r"(?:never|not once|no longer|nie|niemals|nicht mehr|nicht einmal|jamais)"
PRAISE = (
    r"(?:great|good|fine|smooth\w*|quick\w*|fast|perfect\w*|excellent|super|prima|toll|"
    r"schnell|reibungslos|parfait\w*|rapide\w*|impeccable)"
)
PRAISED = re.compile(
    # "never crashes", "hat nie abgesturzt", "n a jamais plante", "no longer freezes"
    rf"\b{NEVER}(?:\s\w+){{0,2}}?\s{PROBLEM}"
    # "hasn t crashed once", "has not frozen since the update"
    rf"|\b(?:hasn t|has not|haven t|have not|hasnt|havent)(?:\s\w+){{0,2}}?\s{PROBLEM}"
    # "sturzt nie ab", "ne plante jamais", "ne plante plus"
    rf"|\b{PROBLEM}\s(?:nie|niemals|nicht mehr)\b|\bne\s{PROBLEM}\s(?:jamais|plus)\b"
    # "no problems with refunds so far", "keine probleme mit der rechnung"
    rf"|\b(?:no|never any|keine|aucun)\s(?:more\s|further\s|weiteren\s)?"
    rf"(?:problems?|issues?|trouble|probleme?n?)\s(?:with|mit|avec)(?:\s\w+){{1,3}}"
    # "your refund process was great", "die erstattung lief reibungslos"
    rf"|\b(?:\w+\s){{1,2}}(?:was|were|went|worked|war|waren|lief|ging|etait|a ete)"
    rf"(?:\s\w+)?\s{PRAISE}\b"
    # "thanks for the tracking link", "danke fur die rechnung": what we already sent
    r"|\b(?:thanks|thank you|danke|vielen dank|merci)\s(?:for|fur|pour)\s"
    r"(?:(?:the|your|den|die|das|ihre[nm]?|le|la|les|votre|vos)\s)?\w+(?:\s\w+)?",
)


def without_praise(normalised_text: str) -> str:
    """The text with every topic that is named only as praise blanked out."""
    return PRAISED.sub(" ", normalised_text)


# "On … wrote:", "Am … schrieb …:", "Le … a écrit :": the quoted lines that follow have "> ",
# and a bottom-posted answer may come after them.
ATTRIBUTION = re.compile(
    r"^\s*(?:on\s.{4,160}\swrote:|am\s.{4,160}\sschrieb\s.{0,120}:|le\s.{4,160}\sa\s[ée]crit\s?:)\s*$",
    re.IGNORECASE,
)
# Outlook's separators and header blocks: everything after them is the quoted mail.
FORWARDED = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"forwarded message|weitergeleitete nachricht)\s*-{2,}|(?:from|von|de)\s?:\s.+@.+)\s*$",
    re.IGNORECASE,
)


def unquoted(text: str) -> str:
    """What the customer wrote now: no "> " lines, no attribution, nothing after an Outlook
    header (our own article, quoted back, is no evidence for it)."""
    fresh: list[str] = []
    for line in text.splitlines():
        if FORWARDED.match(line):
            break
        if not line.lstrip().startswith(">") and not ATTRIBUTION.match(line):
            fresh.append(line)
    return "\n".join(fresh)
