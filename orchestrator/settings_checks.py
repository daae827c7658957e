"""The checks behind orchestrator/settings.py that are about how settings are written: list
syntax, misspelled names, durations, the reply-token secret's strength, an operator's name,
and what of a URL may be shown. Every message is one line and never repeats a secret."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import SecretStr

MIN_SECRET_BYTES = 32
MASK = "********"
# A secret shorter than this is not searched for in messages: it would mask ordinary words.
MIN_SHOWN_SECRET = 4
# `auth=xoauth2&token_env=NAME` in an IMAP source names a variable of the operator's
# choosing, which may well start with MAILROOM_: it is not a misspelled setting.
TOKEN_ENV = re.compile(r"token_env=([A-Za-z0-9_]+)")
MAX_OPERATOR_NAME = 100
# What an operator's name (shown in a thread's history, a terminal and mail to a requester)
# must not hold: C0 and C1 controls (tab and newline too), DEL, the line and paragraph
# separators, the bidi marks, embeddings, overrides and isolates that make a line read
# differently from what it says ("\u202eecila" shows as "alice"), lone surrogates.
NOT_IN_A_NAME = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def operator_name(value: str) -> str:
    """`value` stripped, when it is a name fit to show (MAILROOM_OPERATOR and `--by` alike);
    else ValueError saying why."""
    name = value.strip()
    if not name:
        raise ValueError("give a name, not an empty one")
    if NOT_IN_A_NAME.search(name):
        raise ValueError("give a name without control, line-separator or bidi characters")
    if len(name) > MAX_OPERATOR_NAME:
        raise ValueError(f"give a name of at most {MAX_OPERATOR_NAME} characters")
    return name


def split_list(value: str) -> list[str]:
    """`a, b,c` → ["a", "b", "c"]; "" → []. A `;` (a habit from PATH-like lists) or an empty
    item (`a,,b`, a trailing comma) is refused: it is a typo, and silently dropping it has
    hidden missing mailboxes before."""
    if not value.strip():
        return []
    if ";" in value:
        raise ValueError("items are separated by commas, not ';'")
    items = [part.strip() for part in value.split(",")]
    if "" in items:
        raise ValueError(f"item {items.index('') + 1} is empty (two commas, or one at an end)")
    return items


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean X?)` for the closest known name, or nothing when none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def token_env_names(imap_sources: Iterable[str]) -> set[str]:
    """The variables named by `token_env=` in IMAP source URLs, upper-cased."""
    names = set()
    for url in imap_sources:
        try:
            query = urlsplit(url.strip()).query
        except ValueError:  # the source's own check says what is wrong with it
            continue
        names |= {value.upper() for key, value in parse_qsl(query) if key == "token_env"}
    return names


def unknown_variable(environ: Mapping[str, str], prefix: str, known: set[str]) -> str | None:
    """The first MAILROOM_* variable in `environ` that no setting reads, described; None when
    every one is known. Names that an IMAP source written in `environ` reads its token from
    are allowed (those written in mailroom.toml are passed in `known`: token_env_names)."""
    token_envs = {m.upper() for value in environ.values() for m in TOKEN_ENV.findall(value)}
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith(prefix) and name.upper() not in known | token_envs
    )
    if not unknown:
        return None
    more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    return (
        f"{unknown[0]}: no such setting{did_you_mean(unknown[0].upper(), known)}{more}; "
        "see docs/configuration.md"
    )


NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$")


def seconds_or_text(value: Any) -> Any:
    """A duration written as a number of seconds (`"90"`, `"-5"`) as a float; anything
    else (ISO 8601 `PT90S`, a number from mailroom.toml) unchanged."""
    if isinstance(value, str) and NUMBER.match(value):
        return float(value)
    return value


def non_positive_duration(values: Iterable[tuple[str, Any]]) -> str | None:
    """`name: …` for the first duration that is zero or negative (a reminder due before the
    request, a window that matches nothing); None when all are positive."""
    for name, value in values:
        if isinstance(value, timedelta) and value <= timedelta(0):
            return (
                f"{name}: must be a positive duration (ISO 8601 such as P1D or PT4H, or "
                f"seconds), got {value.total_seconds():g} s"  # not timedelta's "-1 day, 23:59:55"
            )
    return None


def weak_secret(secret: str) -> str | None:
    """Why a reply-token secret is too weak to sign with, without repeating it."""
    if secret and len(secret.encode()) < MIN_SECRET_BYTES:
        return (
            f"must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`), or "
            "empty for a key generated in the data directory"
        )
    return None


# A path segment that is a key, not a name (`/hooks/3f9aK2…/`, `/sk-proj-…/`): 24 or more
# letters, digits, `-` and `_`, with a digit and a letter.
TOKEN_LIKE = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_-]{24,}")


def _token_segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if TOKEN_LIKE.fullmatch(segment)]


def masked_url(url: str) -> str:
    """An HTTP(S) URL with the password of its user info, every query value and each path
    segment that looks like a token masked (`https://user:********@host/v1?key=********`);
    anything unparseable is masked whole."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError on a malformed authority)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = "&".join(
        f"{pair.partition('=')[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    tokens = set(_token_segments(parts.path))
    path = "/".join(MASK if segment in tokens else segment for segment in parts.path.split("/"))
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query, fragment=""))


def secret_values(settings: Iterable[tuple[str, Any]]) -> list[str]:
    """Every secret the settings hold, as it may appear in a message (decoded and as
    written): API keys, the reply-token secret, IMAP passwords and the tokens their
    token_env names, the user info and query values of the agent URL. Longest first, so
    a secret that contains another is replaced whole."""
    found: set[str] = set()
    for name, value in settings:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif name == "imap_sources":
            for url in value:
                found |= _url_secrets(url, user_is_secret=False)
                token_env = dict(parse_qsl(urlsplit(url).query)).get("token_env")
                found.add(os.environ.get(token_env, "") if token_env else "")
        elif name == "database_url" and value:
            found |= _url_secrets(value, user_is_secret=False)
        elif name == "agent_url" and value:
            found |= _url_secrets(value, user_is_secret=True)
            found |= {v for _, v in parse_qsl(urlsplit(value).query)}
            found |= set(_token_segments(urlsplit(value).path))
    return sorted((s for s in found if len(s) >= MIN_SHOWN_SECRET), key=len, reverse=True)


def _url_secrets(url: str, *, user_is_secret: bool) -> set[str]:
    """The password of a URL's user info, as written and decoded. An IMAP user name is an
    account name, not a secret; the user of an HTTP URL without a password is a token
    (`https://KEY@host`)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return set()
    written = {parts.password or ""}
    if user_is_secret and not parts.password:
        written.add(parts.username or "")
    return written | {unquote(s) for s in written}
