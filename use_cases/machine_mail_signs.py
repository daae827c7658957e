"""The signs machines leave in mail: the phrases, headers and sender addresses that tell a
bounce, an auto-reply, a receipt or list mail from a person's (use_cases/automatic.py reads
them). Phrases are matched folded (lower case, no accents)."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lower case without diacritics, so 'Réponse' and 'REPONSE' compare equal."""
    if text.isascii():  # NFKD leaves ASCII as it is: no character by character walk
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _phrases(*phrases: str) -> str:
    return "|".join(re.escape(fold(p)).replace(r"\ ", r"\s+") for p in phrases)


BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
BULK = re.compile(r"^\s*(bulk|junk|list|auto[_-]reply)\s*$", re.IGNORECASE)
DAEMON_SENDERS = re.compile(
    r"^(mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|postmaster|post_master|"
    r"mail-delivery-subsystem|mail-delivery-system|mail\.delivery(\.system)?|maildelivery|"
    r"mdaemon|bounces?|double-bounce|ndr|\"?system.administrator\"?)([+-].*)?@",
    re.IGNORECASE,
)
DAEMON_NAMES = re.compile(
    r"mail(er)?[- ]?daemon|postmaster|mail delivery|delivery (sub)?system|"
    r"(system|mail) administrator|interscan",
    re.IGNORECASE,
)
BATV = re.compile(r"^(prvs|btv1|msprvs1)=[^=@]*=", re.IGNORECASE)  # BATV-tagged envelope

# What bounces say in their subject: Exchange, Gmail, Postfix, Sendmail, qmail, Exim, Domino,
# Yahoo, InterScan … and their translations. Matched anywhere when a daemon sent the mail,
# only at the start otherwise.
_BOUNCE_SUBJECTS = _phrases(
    "undeliverable",
    "undelivered",
    "returned mail",
    "return to sender",
    "returned to sender",
    "returning message to sender",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "delivery problem",
    "delivery notification: delivery has failed",
    "mail delivery failed",
    "mail delivery failure",
    "mail delivery subsystem",
    "mail delivery warning",
    "mail delivery error",
    "failure notice",
    "failure delivery",
    "failed delivery",
    "could not send message",
    "could not be delivered",
    "couldn't be delivered",
    "non-delivery",
    "nondelivery",
    "non delivery",
    "message not delivered",
    "mail not delivered",
    "has not yet been delivered",
    "error during delivery",
    "delivery status",
    "returned message",
    "rejected mail",
    "message rejected",
    "message blocked",
    "blocked by our bulk email filter",
    "unzustellbar",
    "nicht zugestellt",
    "konnte nicht zugestellt werden",
    "zustellung fehlgeschlagen",
    "non remis",
    "non distribuable",
    "non distribue",
    "echec de la remise",
    "echec de remise",
    "impossible de remettre",
    "no se puede entregar",
    "no se pudo entregar",
    "no entregado",
    "error de entrega",
    "mancato recapito",
    "impossibile recapitare",
    "non recapitabile",
    "non recapitato",
    "onbestelbaar",
    "niet afgeleverd",
    "niet bezorgd",
    "nao entregue",
    "nao foi possivel entregar",
    "falha na entrega",
    "olevererbart",
    "kunde inte levereras",
    "kunne ikke leveres",
    "ikke leveret",
    "toimitus epaonnistui",
    "niedostarczalne",
    "nie mozna dostarczyc",
    "nedorucitelne",
    "nelze dorucit",
    "kezbesithetetlen",
    "не доставлено",
    "недоставленное сообщение",
    "невозможно доставить",
    "ошибка доставки",
    "teslim edilemedi",
    "配信できません",
    "配信不能",
    "配信エラー",
    "メールエラー",
    "不達",
    "退信",
    "无法投递",
    "投递失败",
    "未送达",
    "無法傳遞",
    "배달되지 않음",
    "반송",
)
BOUNCE_SUBJECT = re.compile(rf"({_BOUNCE_SUBJECTS})")
BOUNCE_SUBJECT_START = re.compile(rf"^\s*(\[[^\]]{{0,40}}\]\s*)?({_BOUNCE_SUBJECTS})")
BOUNCE_TEXT = re.compile(
    _phrases(
        "this is the mail system at host",
        "i'm sorry to have to inform you",
        "delivery to the following recipient",
        "delivery to the following recipients failed",
        "delivery has failed to these recipients",
        "your message couldn't be delivered",
        "your message could not be delivered",
        "your message wasn't delivered",
        "your message was not delivered",
        "address not found",
        "the following addresses had permanent fatal errors",
        "this is a permanent error",
        "message could not be delivered",
        "could not be delivered to",
        "was not delivered to",
        "has encountered delivery problems",
        "this message was created automatically by mail delivery software",
        "this is an automatically generated delivery status notification",
        "there was an error delivering your mail",
        "unable to deliver message",
        "unable to deliver your message",
        "has not yet been delivered",
        "delivery attempts will continue",
        "exceeding its mailbox quota",
        "mailbox is full",
        "user unknown",
        "unknown user",
        "no such user",
        "recipient address rejected",
        "remote host said",
        "konnte nicht zugestellt werden",
        "n'a pas pu etre remis",
        "n'a pas pu etre delivre",
        "no se ha podido entregar",
        "no pudo ser entregado",
        "配信できませんでした",
    )
)

# The fixed phrases clients put in front of an auto-reply's subject ("Automatic reply: …",
# Outlook in every language it ships in, "Out of Office: …", "Abwesenheitsnotiz: …"), so a
# person's "Vacation plans" or "Re: Automatic reply: …" stays human.
_AUTO_REPLY_PREFIXES = _phrases(
    "automatic reply",
    "automatic response",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "auto respond",
    "out of office autoreply",
    "out of office reply",
    "out of office",
    "out of the office",
    "away from office",
    "away from the office",
    "on vacation",
    "vacation reply",
    "vacation response",
    "automatische antwort",
    "automatische abwesenheitsnotiz",
    "abwesenheitsnotiz",
    "abwesenheitsmeldung",
    "abwesend",
    "automatische ruckantwort",
    "autoantwort",
    "reponse automatique",
    "reponse d'absence",
    "message d'absence",
    "absence du bureau",
    "absent du bureau",
    "auto-reponse",
    "respuesta automatica",
    "respuesta de ausencia",
    "fuera de la oficina",
    "fuera de oficina",
    "autorespuesta",
    "risposta automatica",
    "risposta non al computer",
    "fuori sede",
    "fuori ufficio",
    "automatisch antwoord",
    "afwezigheidsbericht",
    "afwezig",
    "buiten kantoor",
    "resposta automatica",
    "ausente do escritorio",
    "fora do escritorio",
    "automatiskt svar",
    "automatisk svar",
    "autosvar",
    "franvaro",
    "automaattinen vastaus",
    "poissa toimistosta",
    "odpowiedz automatyczna",
    "automatyczna odpowiedz",
    "automaticka odpoved",
    "automaticka odpoveď",
    "automatikus valasz",
    "raspuns automat",
    "automatski odgovor",
    "samodejni odgovor",
    "автоматичен отговор",
    "автоматический ответ",
    "автоответ",
    "автоматична відповідь",
    "αυτοματη απαντηση",
    "otomatik yan\u0131t",  # dotless i
    "otomatik yanit",
    "otomatik cevap",
    "automatiska atbilde",
    "arpus biroja",
    "arpus biroja atrasanas automatiska atbilde",
    "automatinis atsakymas",
    "automaatvastus",
    "automaatne vastus",
    "自動応答",
    "自動返信",
    "不在通知",
    "自动回复",
    "自动答复",
    "自動回覆",
    "自動回复",
    "자동 회신",
    "자동 응답",
    "תשובה אוטומטית",
    "رد تلقائي",
    "الرد التلقائي",
    "balasan otomatis",
    "balasan automatik",
    "tra loi tu đong",
    "ตอบกลับอัตโนมัติ",
)
OUT_OF_OFFICE = re.compile(
    rf"^\s*(\[[^\]]{{0,40}}\]\s*)?({_AUTO_REPLY_PREFIXES})\s*([:(\-\]]|$)"
    # Lotus Notes / Domino: "AUTO: Jane Doe is out of the office (returning 05/03/2024)"
    r"|^\s*auto:.*\b(out\s+of\s+(the\s+)?office|abwesend|absent|away)\b"
)
# Microsoft's feedback loop (JMRP) sends complaints without RFC 5965's structure.
COMPLAINT_SUBJECT = re.compile(r"^\s*complaint about message from [0-9a-fx.:]+\s*$")
# Lotus Notes' return receipt is a plain mail.
NOTES_RECEIPT = re.compile(r"your document:.{0,300}\bwas received by:", re.DOTALL)
# Senders that never read replies: "no-reply@", "messages-noreply@", "notifications@" …
NOTIFICATION_SENDER = re.compile(
    r"^([a-z0-9._+-]*[._-])?(no[._-]?reply|do[._-]?not[._-]?reply|dont[._-]?reply|"
    r"notifications?|notificaci[oó]n(es)?|benachrichtigung(en)?)([._+-][a-z0-9._+-]*)?@"
    r"|^(notify|alerts?|mailer|automailer|newsletters?|listserv|majordomo|mailman|nobody)@",
    re.IGNORECASE,
)
# Bounce-handling addresses: "list-bounces@", "bounces+123-abc@", "…@x.bounces.example.com".
BOUNCE_ADDRESS = re.compile(
    r"^<?\s*(bounces?|pm_bounces|[^@<\s]+-bounces)([+=][^@]*)?@|@([a-z0-9-]+\.)*bounces?\.",
    re.IGNORECASE,
)
# The envelope sender of list and bulk mail: one that encodes the recipient (VERP,
# "list-bounces+you=example.com@", "bounce-mc.us1_12-you=example.com@") or a bounce domain. A
# plain "bounces@esp.example" is left out: an ESP may relay a person's mail with it.
BULK_RETURN_PATH = re.compile(
    r"^<?\s*([^@<]*[._-])?bounces?[+._-][^@]*=[^@]*@|@([a-z0-9-]+\.)*bounces?\.",
    re.IGNORECASE,
)
HEADER_VALUES = {
    "x-precedence": BULK,
    "x-apple-action": re.compile(r"vacation|autoreply", re.IGNORECASE),
}
# Where a bounce's text names the address it failed for, when neither an RFC 3464 report nor
# flufl.bounce's detectors did: "<bob@example.com>: host said …", "delivering your mail to
# <bob@example.com>", "Final-Recipient: rfc822; bob@example.com" in a broken report …
_ADDRESS = r"<?([a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+)>?"
FAILED_RECIPIENT = re.compile(
    rf"^\s*<([^<>\s@]+@[^<>\s]+)>\s*:|"
    rf"(?:delivering your (?:mail|message) to|failed recipients?:|could not be delivered to"
    rf"(?: the following recipients?)?:?|(?:unable|failed) to deliver (?:your )?(?:message |mail )?"
    rf"to|your message to|recipient address:|final-recipient:\s*rfc822;|rcpt to:|"
    rf"was not delivered to|undeliverable to|following (?:address|recipient)\(?e?s?\)?:?)"
    rf"\s*{_ADDRESS}",
    re.IGNORECASE | re.MULTILINE,
)
# … or lists it under a heading: "Delivery has failed to these recipients or groups:\n\nbob@…".
FAILED_LIST = re.compile(
    r"(?:recipients?|address(?:es)?|groups|アドレス)[^\n@]{0,60}?"
    rf"(?::[ \t]*|\n(?:[ \t]*\n){{0,2}}[ \t]*)(?:--[ \t]*)?\"?{_ADDRESS}",
    re.IGNORECASE,
)
ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
SMTP_REPLY = re.compile(r"\b([45]\d\d)[ -]")
ORIGINAL_ID = re.compile(r"^\s*message-id:\s*(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE)
DELAY = re.compile(r"(warning|delayed|could not send message for past|will retry)", re.IGNORECASE)
REPORTS = {
    "disposition-notification": "read receipt (RFC 8098 disposition notification)",
    "feedback-report": "feedback report (RFC 5965 abuse report)",
}
TEXT_CHARS = 5_000
