"""Settings: MAILROOM_* environment variables, then an optional mailroom.toml, then defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from adapters.inbound.imap_source import SourceError, masked_url, parse_source, split_sources
from adapters.inbound.smtp_admission import parse_networks
from orchestrator import settings_checks, temporal_tls
from orchestrator.intake_intervals import ANY_MAILBOX, parse_expected_intervals
from use_cases.mailboxes import (
    Mailboxes,
    normalize_address,
    normalize_domain,
    valid_local_part,
)

# What turns an address setting off (MAILROOM_METRICS_ADDRESS, MAILROOM_CODEC_ADDRESS).
OFF = frozenset({"", "off"})
# A codec token: URL-safe (it may be the endpoint's first path segment), too long to guess.
CODEC_TOKEN_FORM = re.compile(r"[A-Za-z0-9._~-]{32,}")
ENV_PREFIX = "MAILROOM_"
CONFIG_FILE_ENV = "MAILROOM_CONFIG"
DEFAULT_CONFIG_FILE = "mailroom.toml"
Port = Annotated[int, Field(ge=1, le=65535)]
CommaList = Annotated[list[str], NoDecode]


class SettingsError(ValueError):
    """A bad setting, described in one line that names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    data_dir: Path = Path(".mailroom")
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_api_key: SecretStr | None = None
    # TLS to the cluster (orchestrator/temporal_tls.py): unset, on when an API key or one of
    # the TLS files/name below is set; false with an API key only to a loopback address
    temporal_tls: bool | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str = ""
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    # the embedded server's /metrics; unset: temporal_port + 2000 when free (temporal_server.py)
    temporal_metrics_port: Port | None = None
    task_queue: str = "mailroom-threads"
    queue_prefix: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: Port = 2525
    domains: CommaList = Field(default_factory=lambda: ["mailroom.local", "localhost"])
    mailboxes: CommaList = Field(default_factory=list)
    # IMAP source URLs (adapters/inbound/imap_source.py); not lowercased: passwords, folders
    imap_sources: CommaList = Field(default_factory=list)
    # Where the IMAP adapter moves a mail that can never be handed off (created if missing);
    # no LIST wildcard (* %) or control character in the name.
    imap_quarantine_folder: Annotated[
        str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f*%]+$")
    ] = "mailroom-quarantine"
    # An IMAP source polls only while its daemon holds the coordinator's lane
    # `imap:<source>` (adapters/inbound/imap_lane.py: several daemons on one mailbox, one
    # polls); the holder renews every third of the lease, a standby takes over within it.
    # Off: every daemon polls (no worker needed; then run one daemon per source).
    imap_exclusive: bool = True
    imap_lease_seconds: Annotated[float, Field(ge=1, le=3600)] = 30.0
    outbound_smtp: str = ""
    # host:port of this process's Prometheus /metrics (orchestrator/metrics.py), mailroom's
    # and the Temporal SDK's. Unset: on for `mailroom up` (127.0.0.1:9464), else off.
    metrics_address: str | None = None
    # How long each intake source may stay quiet before the "intake quiet" alert
    # (orchestrator/intake_intervals.py: `4h`, `0,support@example.com=4h,imap-main=30m`)
    intake_expected_interval: str = "0"
    max_message_bytes: Annotated[int, Field(gt=0)] = 25 * 1024 * 1024
    max_in_flight: Annotated[int, Field(gt=0)] = 256
    # Disk (adapters/outbound/disk_space.py): mail is refused 452 4.3.1 while the data dir's
    # free space is at or below this reserve (none: 1.5 x max_message_bytes, Postfix's
    # effective queue_minfree; 0: no reserve, only the size rule)
    disk_reserve_mb: Annotated[int, Field(ge=0)] | None = None
    # blobs no thread holds and temporary files are removed once older than this
    # (FileBlobStore.sweep, at start and every hour, by the SMTP and IMAP parts); at least
    # 10 minutes (blob_store.MIN_SWEEP_GRACE): shorter would sweep hand-offs in progress
    blob_grace: Annotated[timedelta, Field(ge=timedelta(minutes=10))] = timedelta(hours=1)
    # where raw mail and attachments are kept: a directory every node mounts (NFS), or none:
    # in MAILROOM_DATABASE_URL's PostgreSQL when set, else <data dir>/blobs
    blob_dir: Path | None = None
    # Retention (use_cases/retention.py): a completed thread's blobs are removed this many
    # days after it completed (Rails Action Mailbox's 30), by the purge flow's schedule; the
    # embedded server keeps completed histories as long (at least 1 day, Temporal's least)
    retention_days: Annotated[int, Field(ge=0, le=3650)] = 30
    # Defer new mail while accepted mail waits longer than this to be applied (0: never).
    # A sending MTA retries a 451 after minutes, so deferring costs far more delay than
    # queueing: the bound only stops a backlog that keeps growing. Measured flat out, the
    # stack applies ~130 mails/s with a p99 of 2.5 s; a 2 s bound sat inside that tail and
    # held it to ~80 mails/s.
    max_backlog_seconds: Annotated[float, Field(ge=0)] = 10.0
    # How long SMTP holds a sender while the backlog is behind before it answers 451
    # (adapters/inbound/smtp.py: a held sender costs seconds, a 451 minutes). 0: at once.
    backlog_hold_seconds: Annotated[float, Field(ge=0, le=240)] = 20.0
    # Mail over 8 KB is parsed in these worker processes (adapters/inbound/parse_pool.py);
    # 0: in a thread, which holds the GIL and slows every other SMTP session down.
    parse_workers: Annotated[int, Field(ge=0, le=64)] = 2
    # CPU time one mail may take to parse in a worker before it is parsed again more
    # cheaply (HTML stripped of its tags, then the header only), with a defect.
    parse_cpu_seconds: Annotated[float, Field(gt=0, le=300)] = 2.0
    # The SMTP front door, Postfix-like (adapters/inbound/smtp_admission.py, docs/front-door.md)
    smtp_max_connections: Annotated[int, Field(gt=0)] = 1000
    smtp_max_connections_per_client: Annotated[int, Field(gt=0)] = 50
    # clients exempt from the per-client rate, as Postfix's $mynetworks (a local MTA)
    smtp_rate_exceptions: CommaList = Field(default_factory=lambda: ["127.0.0.0/8", "::1"])
    # per-client limits count an IPv6 client by its first this many bits (Postfix 3.8+'s
    # smtpd_client_ipv6_prefix_length): one host holds a /64 at least
    smtp_client_ipv6_prefix_length: Annotated[int, Field(ge=1, le=128)] = 84
    smtp_max_data_transfers: Annotated[int, Field(gt=0)] = 100
    smtp_timeout: timedelta = timedelta(seconds=300)
    smtp_session_limit: timedelta = timedelta(minutes=30)
    # RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted
    smtp_max_recipients: Annotated[int, Field(ge=100)] = 1000
    smtp_max_mailboxes_per_mail: Annotated[int, Field(gt=0)] = 10
    smtp_max_recipients_per_connection: Annotated[int, Field(gt=0)] = 10_000
    smtp_threads_per_client_per_minute: Annotated[int, Field(ge=0)] = 100
    require_mailboxes: bool = False
    postmaster: str = ""
    # SMTP protocol (adapters/inbound/smtp_session.py): DATA past this many bytes goes to an
    # unnamed temp file in <data_dir>/tmp (0: always); a pause before the 220 greeting that
    # catches clients talking early (postscreen_greet_wait; 0: none)
    smtp_spool_bytes: Annotated[int, Field(ge=0)] = 1024 * 1024
    # finished DATA bodies held in memory while their hand-offs wait, in all; past it DATA is
    # answered 451 4.3.2 (before the 354 when SIZE= says it would not fit)
    smtp_max_pending_bytes: Annotated[int, Field(gt=0)] = 256 * 1024 * 1024
    smtp_greet_pause_seconds: Annotated[float, Field(ge=0, le=30)] = 0.0
    # a line ending in a bare <LF> in DATA: refused 550 (Postfix's smtpd_forbid_bare_newline
    # = yes) or taken as <CR><LF> (normalize, Postfix 3.9's default)
    smtp_bare_lf: Literal["reject", "normalize"] = "reject"
    # STARTTLS (both or neither), and the optional submission listener (0: off), which
    # requires STARTTLS, then AUTH PLAIN/LOGIN against the users file (smtp_security.py)
    smtp_tls_cert: Path | None = None
    smtp_tls_key: Path | None = None
    submission_port: Annotated[int, Field(ge=0, le=65535)] = 0
    submission_users_file: Path | None = None
    messages_per_run: Annotated[int, Field(ge=10)] = 500
    # the history format of the threads this process starts (workflows/versions.py): the
    # format of the oldest build whose workers still run (a rolling upgrade), else 4
    history_format: Literal[1, 2, 3, 4] = 4
    # the coordinator (issue 18): completes after this long idle with no item registered
    coordinator_idle_minutes: Annotated[float, Field(gt=0)] = 10.0
    coordinator_events_per_run: Annotated[int, Field(ge=100)] = 2_000
    # lanes spread over this many coordinators by a hash of the lane's name (docs/performance.md)
    coordinator_shards: Annotated[int, Field(ge=1, le=64)] = 1
    log_level: str = "info"
    # flows (procurement, support)
    flow_modes: str = "procurement=child,support=inline"
    approvers: CommaList = Field(default_factory=list)
    auto_approve_limit: Annotated[float, Field(ge=0)] = 1_000.0
    approval_reminder_after: timedelta = timedelta(days=1)
    approval_expires_after: timedelta = timedelta(days=3)
    blocked_words: CommaList = Field(default_factory=list)
    blocked_suppliers: CommaList = Field(default_factory=list)
    spend_limit_per_requester: Annotated[float, Field(ge=0)] | None = None
    # what one cost centre (a request without one: its requester) may order in a calendar
    # month, all orders together; none: no cumulative budget, and no lane (use_cases/budgets.py)
    budget_per_cost_centre: Annotated[float, Field(ge=0)] | None = None
    support_team: str = ""
    sla_reminder_after: timedelta = timedelta(days=2)
    sla_auto_close_after: timedelta = timedelta(days=5)
    kb_file: Path | None = None
    kb_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5
    # no separate acknowledgement when the flow answers within this delay (0: at once)
    ack_delay: Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(hours=1))] = timedelta(
        seconds=30
    )
    # procurement asks the requester to confirm the parsed order below this confidence
    extraction_confidence: Annotated[float, Field(ge=0, le=1)] = 0.8
    search_attributes: bool | None = None
    # with search attributes on, also each thread's subject and requester (mail content,
    # stored in clear by Temporal: payload encryption cannot cover search attributes)
    searchable_subjects: bool = False
    # threads kept in worker memory between messages (the SDK's sticky cache); fewer saves
    # memory, at the cost of replaying a thread's history when an evicted one gets mail
    max_cached_workflows: Annotated[int, Field(ge=0)] = 1000
    auto_replies_per_hour: Annotated[int, Field(ge=1)] = 20
    auto_replies_per_domain_per_hour: Annotated[int, Field(ge=1)] = 200
    auto_replies_total_per_hour: Annotated[int, Field(ge=1)] = 10_000
    auto_replies_per_thread_per_hour: Annotated[int, Field(ge=1)] = 5
    # shared state for several nodes (postgresql://user:password@host:port/db); empty: SQLite
    # files in the data directory
    database_url: str = ""
    # connections each of a process's two pools (asyncio, threads) may open to that database
    database_pool_size: Annotated[int, Field(ge=1, le=1000)] = 10
    # an OpenAI-compatible agent instead of the offline rule-based one
    agent_url: str = ""
    agent_model: str = ""
    agent_api_key: SecretStr | None = None
    # one answer's time limit; under the agent activity's 60 s, so that the agent's own
    # error ("no answer within 50 s"), not the activity's timeout, says what happened
    agent_timeout: Annotated[timedelta, Field(le=timedelta(seconds=55))] = timedelta(seconds=50)
    # real-world mail: HMAC key of the reply token (empty: a key generated once in
    # the data dir) and the subject-fallback window
    reply_token_secret: SecretStr | None = None
    # what mailroom encrypts what it stores with (orchestrator/encryption_keys.py):
    # `id:base64key,…` oldest first, or a file of them; neither: one key made once
    encryption_keys: SecretStr | None = None
    encryption_keys_file: Path | None = None
    # payloads not sealed by mailroom are taken as they are (threads started before
    # encryption was on); off, a caller without the key cannot make a thread act
    accept_plaintext_payloads: bool = False
    # The codec server for the Web UI and `temporal --codec-endpoint` (orchestrator/codec.py):
    # host:port; unset: `mailroom up` serves beside the UI (its port + 1 when free), `mailroom
    # codec-server` on 127.0.0.1:8234; `off`: not served (the UI shows ciphertext)
    codec_address: str | None = None
    # what a caller must show (Bearer, or the endpoint's first path segment); unset: made
    # once in <data dir>/codec.token
    codec_token: SecretStr | None = None
    # the browser origins the codec server answers (CORS); empty: the embedded Web UI's,
    # http://127.0.0.1:<ui port> and http://localhost:<ui port>
    codec_ui_origins: CommaList = Field(default_factory=list)
    # `/encode` too (the UI's write actions): off, a token holder could seal forged signals
    codec_encode: bool = False
    # the embedded Web UI's write actions (terminate, cancel, signal, reset, update, start,
    # batch): off, its port is served by a read-only gate (adapters/inbound/ui_gate.py)
    ui_write_actions: bool = False
    subject_window: timedelta = timedelta(days=14)
    # the authserv-id of the operator's own MTA, whose Authentication-Results are believed
    trusted_authserv_id: str = ""
    # who `approve`, `reject` and `complete` act as without `--by` (orchestrator/operator.py):
    # shown in the thread's history and in mail to the requester
    operator: str = "operator"
    # Jinja templates of the mail we send (reply.txt.j2, reply.html.j2) and each mailbox's
    # signature (signatures/<mailbox>.txt), searched before the shipped ones
    # (adapters/outbound/mail_templates.py); none or empty: the shipped templates only; a
    # relative path is resolved against the working directory at load
    templates_dir: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    @field_validator(
        "approvers",
        "blocked_words",
        "blocked_suppliers",
        "smtp_rate_exceptions",
        "codec_ui_origins",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.lower() for part in settings_checks.split_list(value)]
        return value

    @field_validator("domains", "mailboxes", mode="before")
    @classmethod
    def _split_addresses(cls, value: Any) -> Any:
        # Not lowered here: a local part is checked for ASCII first (`\u212a`, the Kelvin
        # sign, lowers to `k`), then both are put in one form (use_cases/mailboxes.py).
        if isinstance(value, str):
            return settings_checks.split_list(value)
        return value

    @field_validator("domains")
    @classmethod
    def _domains_in_one_form(cls, value: list[str]) -> list[str]:
        normalized = []
        for domain in value:
            name = normalize_domain(domain)
            if name is None:
                raise ValueError(f"{domain!r} is not a domain name")
            normalized.append(name)
        return normalized

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes_in_one_form(cls, value: list[str]) -> list[str]:
        for mailbox in value:
            local, at, _ = mailbox.strip().rpartition("@")
            if at and "+" in local:
                raise ValueError(
                    f"{mailbox!r}: '+' starts a sub-address (support+x@ feeds support@), "
                    "so a mailbox cannot hold one"
                )
            if at and not valid_local_part(local):
                raise ValueError(f"{mailbox!r}: the local part is not an RFC 5321 dot-atom")
        return [normalize_address(mailbox) for mailbox in value]

    @field_validator("outbound_smtp")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            parse_host_port(value)
        return value

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in OFF:
            parse_host_port(value.strip())
        return value

    @field_validator("codec_address")
    @classmethod
    def _codec_address(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in OFF:
            parse_host_port(value.strip())
        return value

    @field_validator("codec_token")
    @classmethod
    def _codec_token(cls, value: SecretStr | None) -> SecretStr | None:
        # it may be the endpoint's first path segment: URL-safe, and too long to guess
        token = value.get_secret_value() if value is not None else None
        if token is not None and not CODEC_TOKEN_FORM.fullmatch(token):
            raise ValueError("at least 32 letters, digits, '.', '_', '~' or '-'")
        return value

    @field_validator("codec_ui_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[^/\s]+", origin.strip()):
                raise ValueError(f"{origin!r}: an origin is scheme://host[:port], no path")
        return [origin.strip().rstrip("/") for origin in value]

    @field_validator("intake_expected_interval")
    @classmethod
    def _intake_intervals(cls, value: str) -> str:
        parse_expected_intervals(value)
        return value

    @field_validator("imap_sources", mode="before")
    @classmethod
    def _split_sources(cls, value: Any) -> Any:
        if isinstance(value, str):  # split before each scheme: a password may hold a comma
            return split_sources(value)
        return value

    @field_validator("imap_sources")
    @classmethod
    def _valid_sources(cls, value: list[str]) -> list[str]:
        for url in value:
            try:
                parse_source(url)
            except SourceError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("queue_prefix")
    @classmethod
    def _queue_prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
            raise ValueError("letters, digits, '.', '_' and '-' (it starts every flow's queue)")
        return value

    @field_validator("flow_modes")
    @classmethod
    def _flow_modes(cls, value: str) -> str:
        parse_flow_modes(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @model_validator(mode="after")
    def _mailboxes_in_domains(self) -> Settings:
        if not self.domains:
            raise ValueError("domains: at least one accepted domain is needed")
        for mailbox in self.mailboxes:
            local, at, domain = mailbox.rpartition("@")
            if not at or not local or domain not in self.domains:
                raise ValueError(
                    f"mailboxes: {mailbox!r} is not an address at one of {self.domains}"
                )
        return self

    @model_validator(mode="after")
    def _front_door(self) -> Settings:
        if self.require_mailboxes and not self.mailboxes:
            raise ValueError("mailboxes: required (MAILROOM_REQUIRE_MAILBOXES is true)")
        postmaster = self.postmaster.strip()
        ours = Mailboxes(self.domains, (), postmaster)
        if postmaster and ours.resolve(postmaster) != ours.postmaster:
            raise ValueError(f"postmaster: {self.postmaster!r} is not an address at one of ours")
        try:
            parse_networks(self.smtp_rate_exceptions)
        except ValueError as exc:
            raise ValueError(f"smtp_rate_exceptions: {exc}") from None
        return self

    @model_validator(mode="after")
    def _imap_sources_feed_our_mailboxes(self) -> Settings:
        ours = Mailboxes(self.domains, self.mailboxes)
        for url in self.imap_sources:
            mailbox = parse_source(url).mailbox
            if mailbox is None or ours.resolve(mailbox) != mailbox:
                raise ValueError(
                    f"imap_sources: {masked_url(url)}: mailbox= must name one of our mailboxes"
                )
        return self

    @model_validator(mode="after")
    def _intake_sources_named_once(self) -> Settings:
        sources = [parse_source(url) for url in self.imap_sources]
        imap_names = [source.source_name for source in sources]
        # two URLs of one folder (one key) are one source already: only name= may not repeat
        given = [source.name for source in sources if source.name]
        twice = sorted({name for name in given if given.count(name) > 1})
        if twice:
            raise ValueError(f"imap_sources: two sources named {twice[0]!r}: give one a name=")
        smtp = sorted(set(given) & {*(self.mailboxes or [ANY_MAILBOX])})
        if smtp:  # one `source` series for both: a dead IMAP source would look fresh
            raise ValueError(
                f"imap_sources: name={smtp[0]!r} names an SMTP source too: give another name="
            )
        named = parse_expected_intervals(self.intake_expected_interval, self.mailboxes).per_source
        known = {*(self.mailboxes or [ANY_MAILBOX]), *imap_names}
        unknown = sorted(set(named) - known)
        if unknown:
            raise ValueError(
                f"intake_expected_interval: {unknown[0]!r} is no source: name one of "
                f"{sorted(known)} (a mailbox of MAILROOM_MAILBOXES or an IMAP source's name=)"
            )
        return self

    @field_validator("*", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads a duration string as ISO 8601 only; "90" in a variable means seconds
        if info.field_name and cls.model_fields[info.field_name].annotation is timedelta:
            return settings_checks.seconds_or_text(value)
        return value

    @field_validator("operator")
    @classmethod
    def _operator_name(cls, value: str) -> str:
        return settings_checks.operator_name(value)  # the same check as `--by`

    @field_validator("templates_dir", "blob_dir", mode="before")
    @classmethod
    def _empty_is_no_directory(cls, value: Any) -> Any:
        # MAILROOM_TEMPLATES_DIR="" would otherwise be Path("."): the working directory
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("templates_dir", "blob_dir")
    @classmethod
    def _resolved(cls, value: Path | None) -> Path | None:
        # resolved once, so a process that changes its directory later reads the same files
        return value.resolve() if value is not None else None

    @field_validator("reply_token_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        weak = settings_checks.weak_secret(value.get_secret_value()) if value else None
        if weak:
            raise ValueError(weak)
        return value

    @model_validator(mode="after")
    def _positive_durations(self) -> Settings:
        # every timedelta field, those added later included; 0 switches the ack delay off
        wrong = settings_checks.non_positive_duration((n, v) for n, v in self if n != "ack_delay")
        if wrong:
            raise ValueError(wrong)
        return self

    @model_validator(mode="after")
    def _agent_needs_a_model(self) -> Settings:
        if self.agent_url and not self.agent_model:
            raise ValueError("agent_model: set it when agent_url is set")
        return self

    @model_validator(mode="after")
    def _tls_and_submission(self) -> Settings:
        if (self.smtp_tls_cert is None) != (self.smtp_tls_key is None):
            raise ValueError("smtp_tls_cert: set it and smtp_tls_key together (or neither)")
        if self.submission_port:
            if self.smtp_tls_cert is None:
                raise ValueError("submission_port: needs smtp_tls_cert and smtp_tls_key")
            if self.submission_users_file is None:
                raise ValueError("submission_port: needs submission_users_file")
            if self.submission_port == self.smtp_port:
                raise ValueError("submission_port: must differ from smtp_port")
        return self

    @model_validator(mode="after")
    def _temporal_tls(self) -> Settings:
        problem = temporal_tls.tls_settings_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def disk_reserve_bytes(self) -> int:
        if self.disk_reserve_mb is None:
            return self.max_message_bytes * 3 // 2
        return self.disk_reserve_mb * 1024 * 1024

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"


def parse_flow_modes(value: str, flows: Collection[str] | None = None) -> dict[str, str]:
    """`procurement=child,support=inline` → {"procurement": "child", "support": "inline"};
    every name must be a flow of `flows` (default: the registry, orchestrator/flows.py)."""
    known = registered_flow_names() if flows is None else tuple(flows)
    modes: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        flow, _, mode = (text.strip() for text in part.partition("="))
        if flow not in known or mode not in {"child", "inline"}:
            raise ValueError(
                f"expected flow=child|inline for a registered flow ({', '.join(known)}), "
                f"got {part!r}"
            )
        modes[flow] = mode
    return modes


def registered_flow_names() -> tuple[str, ...]:
    """The flows a mode applies to: those that run in a mail thread (one that runs alone,
    the digest, is neither a child nor inline)."""
    # Imported here: the registry imports the flows' code, which imports these settings.
    from orchestrator.flows import FLOWS

    return tuple(flow.name for flow in FLOWS if flow.threaded)


def parse_host_port(value: str) -> tuple[str, int]:
    """`host:port`; an IPv6 host in brackets (`[::1]:9464`) comes back without them, as
    socket calls take it."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment, mailroom.toml and `overrides`; a MAILROOM_*
    variable that no setting reads is an error (a misspelling would otherwise be ignored)."""
    known = known_variables()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        # A misspelled variable is the likelier cause of a failure: named first.
        unknown = settings_checks.unknown_variable(os.environ, ENV_PREFIX, known)
        raise SettingsError(unknown or describe_error(exc)) from None
    # The variables the IMAP sources read their tokens from, wherever the sources were
    # written (the environment or mailroom.toml), are not misspelled settings.
    token_envs = settings_checks.token_env_names(settings.imap_sources)
    unknown = settings_checks.unknown_variable(os.environ, ENV_PREFIX, known | token_envs)
    if unknown:
        raise SettingsError(unknown)
    check_flow_settings()
    return settings


def known_variables() -> set[str]:
    """Every MAILROOM_* name a setting reads, derived from the fields (new ones count), a
    registered flow's `MAILROOM_<FLOW>_*` ones included."""
    own = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | {CONFIG_FILE_ENV}
    return own | flow_variables()


def flow_variables() -> set[str]:
    from orchestrator.flows import FLOWS  # the registry reads these settings: not at import

    return {name for spec in FLOWS for name in spec.settings_variables}


def check_flow_settings() -> None:
    """Every registered flow's settings are valid (each worker reads its own flows' again)."""
    from orchestrator.flows import FLOWS

    for spec in FLOWS:
        try:
            spec.read_settings()
        except ValidationError as exc:
            raise SettingsError(describe_flow_error(spec.name, exc)) from None


def describe_flow_error(flow: str, exc: ValidationError) -> str:
    """A flow setting's first error in one line naming its variable (never the input)."""
    from orchestrator.flow_spec import env_prefix

    error = exc.errors()[0]
    field = str(error["loc"][0]).upper() if error["loc"] else "settings"
    return f"{env_prefix(flow)}{field}: {error['msg'].removeprefix('Value error, ')}"


def describe_error(exc: ValidationError) -> str:
    """The first error in one line naming its variable; messages never echo the input."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":  # a key in mailroom.toml that no setting reads
        config = os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE)
        hint = settings_checks.did_you_mean(field, Settings.model_fields)
        return f"{config}: {field!r} is no setting{hint}; see docs/configuration.md"
    if not field and ":" in message:
        field, message = (part.strip() for part in message.split(":", 1))
    name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
    extra = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{name}: {message}{extra}"


def masked(settings: Settings) -> dict[str, str]:
    """Effective settings as env-style strings, with every secret masked."""
    shown: dict[str, str] = {}
    for field, value in settings:
        if field == "imap_sources":
            value = [masked_url(url) for url in value]
        elif field in ("agent_url", "database_url") and value:
            value = settings_checks.masked_url(value)
        elif field == "temporal_tls":  # unset: as it will be used (an API key implies it)
            value = temporal_tls.tls_enabled(settings)
        shown[f"{ENV_PREFIX}{field.upper()}"] = _shown(value)
    return shown


def masked_flow_settings() -> dict[str, str]:
    """Every registered flow's own settings (`MAILROOM_<FLOW>_*`) as they are read now."""
    from orchestrator.flow_spec import env_prefix
    from orchestrator.flows import FLOWS  # here: the registry imports these settings

    shown: dict[str, str] = {}
    for spec in FLOWS:
        for field, value in spec.read_settings():
            shown[f"{env_prefix(spec.name)}{field.upper()}"] = _shown(value)
    return shown


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, timedelta):  # as the docs write it, read back the same: "PT30S"
        return str(DURATION.dump_python(value, mode="json"))
    return str(value).lower() if isinstance(value, bool) else str(value)


DURATION = TypeAdapter(timedelta)
