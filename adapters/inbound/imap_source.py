"""One IMAP source as a URL: where to log in, which folder, which mailroom mailbox it feeds.

`imaps://user:password@host[:port]/FOLDER?mailbox=support@mailroom.local&after=move:Done`

- `imaps://` implicit TLS (993), `imap://` STARTTLS (143); `imap://…?tls=off` plain, only
  for a local test server. Certificates are always verified when TLS is on.
- `ca_file=/path/to/ca.pem`: verify against this CA bundle (PEM) instead of the system's,
  for a server whose certificate a private CA signed. Hostname checking stays on.
- `after=mark` (set \\Seen), `move:FOLDER`, or `leave`: what happens on the server once the
  thread engine has acknowledged the hand-off.
- `start=all|new|YYYY-MM-DD`: where the first start on a folder begins.
- `auth=xoauth2&token_env=NAME`: XOAUTH2 with the token read from that environment variable
  at each login (no password in the URL).
- `poll=SECONDS` polling interval when the server lacks IDLE (or `idle=off`).
- `name=NAME`: the source's name in metrics and MAILROOM_INTAKE_EXPECTED_INTERVAL (letters,
  digits, `.`, `_`, `-`, `@`); none: its checkpoint key `user@host:port/FOLDER`.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

DEFAULT_FOLDER = "INBOX"
DEFAULT_POLL_SECONDS = 30.0
MIN_POLL_SECONDS = 0.05
SOURCE_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
KNOWN_PARAMS = frozenset(
    {"mailbox", "after", "start", "tls", "ca_file", "auth", "token_env", "poll", "idle", "name"}
)


class Tls(StrEnum):
    IMPLICIT = "implicit"
    STARTTLS = "starttls"
    OFF = "off"


class After(StrEnum):
    MARK = "mark"
    MOVE = "move"
    LEAVE = "leave"


class SourceError(ValueError):
    """A source URL that cannot work; the message names the part that is wrong."""


@dataclass(frozen=True)
class ImapSource:
    host: str
    port: int
    username: str
    password: str = ""
    folder: str = DEFAULT_FOLDER
    tls: Tls = Tls.IMPLICIT
    ca_file: str | None = None  # CA bundle (PEM) to verify against instead of the system's
    mailbox: str | None = None
    after: After = After.MARK
    move_to: str | None = None
    start: str = "new"
    auth: str = "password"
    token_env: str | None = None
    poll_seconds: float = DEFAULT_POLL_SECONDS
    idle: bool = True
    name: str = ""

    @property
    def source_name(self) -> str:
        """What metrics call it (bounded by configuration: never a name from a mail)."""
        return self.name or self.key

    @property
    def key(self) -> str:
        """Identity of the folder for its checkpoint: the same folder on the same account."""
        return f"{self.username.lower()}@{self.host.lower()}:{self.port}/{self.folder}"

    @property
    def start_date(self) -> date | None:
        return None if self.start in ("all", "new") else date.fromisoformat(self.start)

    def describe(self) -> str:
        after = f"move:{self.move_to}" if self.after is After.MOVE else self.after.value
        return f"{self.key} → {self.mailbox or '?'} (after={after}, start={self.start})"


def parse_source(url: str) -> ImapSource:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("imap", "imaps"):
        raise SourceError(f"{masked_url(url)}: scheme must be imap:// or imaps://")
    if not parts.hostname:
        raise SourceError(f"{masked_url(url)}: no host")
    if "@" not in parts.netloc:  # no user name, or one cut short by an unencoded / # ?
        raise SourceError(
            f"{masked_url(url)}: no user name (write / # ? in a user name or password "
            "percent-encoded: %2F %23 %3F)"
        )
    if parts.fragment or "@" in parts.path:
        raise SourceError(
            f"{masked_url(url)}: write / # ? in the user name or password percent-encoded "
            "(%2F %23 %3F)"
        )
    params = _params(parts.query, url)
    tls = _tls(parts.scheme, params.get("tls"), url)
    try:
        explicit_port = parts.port
    except ValueError:
        raise SourceError(f"{masked_url(url)}: bad port") from None
    after, move_to = _after(params.get("after", "mark"), url)
    source = ImapSource(
        host=parts.hostname,
        port=explicit_port or (993 if tls is Tls.IMPLICIT else 143),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or DEFAULT_FOLDER,
        tls=tls,
        ca_file=_ca_file(params.get("ca_file"), tls, url),
        mailbox=params.get("mailbox", "").strip().lower() or None,
        after=after,
        move_to=move_to,
        start=_start(params.get("start", "new"), url),
        auth=params.get("auth", "password").lower(),
        token_env=params.get("token_env"),
        poll_seconds=_poll(params.get("poll"), url),
        idle=params.get("idle", "on").lower() not in ("off", "no", "false", "0"),
        name=_name(params.get("name"), url),
    )
    _check_auth(source, url)
    return source


def _params(query: str, url: str) -> dict[str, str]:
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        raise SourceError(f"{masked_url(url)}: unknown parameter {unknown[0]!r}")
    return params


def _tls(scheme: str, value: str | None, url: str) -> Tls:
    if value is None or value.lower() in ("on", "yes", "true", "1"):
        return Tls.IMPLICIT if scheme == "imaps" else Tls.STARTTLS
    if value.lower() in ("off", "no", "false", "0"):
        if scheme == "imaps":
            raise SourceError(f"{masked_url(url)}: imaps:// is always TLS; use imap:// for tls=off")
        return Tls.OFF
    raise SourceError(f"{masked_url(url)}: tls must be on or off")


def _ca_file(value: str | None, tls: Tls, url: str) -> str | None:
    """An existing, loadable PEM CA bundle; checked here so a typo fails at start-up."""
    if value is None:
        return None
    if tls is Tls.OFF:
        raise SourceError(f"{masked_url(url)}: ca_file needs TLS; it cannot go with tls=off")
    if not value.strip():
        raise SourceError(f"{masked_url(url)}: ca_file is empty; give the path of a PEM CA file")
    path = Path(value.strip()).expanduser()
    if not path.exists():
        raise SourceError(f"{masked_url(url)}: ca_file {str(path)!r} does not exist")
    if not path.is_file():
        raise SourceError(f"{masked_url(url)}: ca_file {str(path)!r} is not a file")
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(
            f"{masked_url(url)}: ca_file {str(path)!r} is not a readable PEM CA bundle ({exc})"
        ) from None
    return str(path)


def _after(value: str, url: str) -> tuple[After, str | None]:
    action, _, folder = value.partition(":")
    if action == "move":
        if not folder.strip():
            raise SourceError(f"{masked_url(url)}: after=move needs a folder, e.g. move:Processed")
        return After.MOVE, folder.strip()
    if action in (After.MARK, After.LEAVE) and not folder:
        return After(action), None
    raise SourceError(f"{masked_url(url)}: after must be mark, move:FOLDER or leave")


def _start(value: str, url: str) -> str:
    value = value.strip().lower()
    if value in ("all", "new"):
        return value
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise SourceError(f"{masked_url(url)}: start must be all, new or YYYY-MM-DD") from None


def _name(value: str | None, url: str) -> str:
    if value is None:
        return ""
    if not SOURCE_NAME.fullmatch(value):
        raise SourceError(
            f"{masked_url(url)}: name must be 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )
    return value


def _poll(value: str | None, url: str) -> float:
    if value is None:
        return DEFAULT_POLL_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < MIN_POLL_SECONDS:
        raise SourceError(f"{masked_url(url)}: poll must be a number of seconds ≥ 0.05")
    return seconds


def _check_auth(source: ImapSource, url: str) -> None:
    if not source.username:
        raise SourceError(f"{masked_url(url)}: no user name")
    if source.auth == "xoauth2":
        if not source.token_env:
            raise SourceError(f"{masked_url(url)}: auth=xoauth2 needs token_env=NAME")
    elif source.auth != "password":
        raise SourceError(f"{masked_url(url)}: auth must be password or xoauth2")


def split_sources(value: str) -> list[str]:
    """A comma-separated list of source URLs, split only before `imap://` / `imaps://`, so a
    password holding a comma stays in its URL (and out of an error message about a piece)."""
    return [part.strip().rstrip(",").strip() for part in SOURCE_START.split(value) if part.strip()]


SOURCE_START = re.compile(r",\s*(?=imaps?://)", re.IGNORECASE)
MASK = "********"
AFTER_HOST = re.compile(r"[/?#&=;:,\s]")


def masked_url(url: str) -> str:
    """The URL with its password replaced, for logs, errors and `mailroom config`.

    A password written without percent-encoding (`/ # ? @`) moves the URL's seams: what
    urlsplit takes for the path, query or fragment then holds part of it. Such a URL is
    shown masked up to its last `@`, which hides more than the password but never less, and
    with nothing after the host: an unknown parameter (`token=…`) or a misplaced `#`, `:`
    may hold a secret too, and that `@` may be one in the query (`mailbox=a@b&…`)."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "<IMAP source URL without imap:// or imaps://>"
    if _parses_cleanly(text):
        parts = urlsplit(text)
        if parts.password is None:
            return text
        user = quote(unquote(parts.username or ""), safe="")
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
    _, at, after = rest.rpartition("@")
    if not at:
        return f"{scheme}://{MASK}"
    host = AFTER_HOST.split(after, maxsplit=1)[0]
    return f"{scheme}://{MASK}@{host}" + ("/…" if host != after else "")


def _parses_cleanly(url: str) -> bool:
    """The URL's parts are where they look to be: a port of digits, no fragment, no `@` in
    the path, only known query parameters."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        return False
    keys = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return not parts.fragment and "@" not in parts.path and keys <= KNOWN_PARAMS
