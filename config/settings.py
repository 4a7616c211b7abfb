"""The settings tree. Every limit and delay of the operator is a field here, with its description.

Relative paths are relative to the folder of the configuration file (see ``config.loading``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

MIB = 1024 * 1024


class Section(BaseModel):
    """A frozen section that refuses unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ListenerSettings(Section):
    enabled: bool = Field(True, description="Start this listener.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(0, ge=0, le=65535, description="TCP port (0 picks a free port).")
    proxy_protocol: bool = Field(
        False,
        description="Connections come through a load balancer that sends a PROXY protocol "
        "header (v1 or v2) first; only [proxy] trusted_proxies may connect.",
    )


class SmtpSettings(Section):
    hostname: str = Field("mss.localhost", description="Name in the greeting and Received: lines.")
    mx: ListenerSettings = Field(
        ListenerSettings(port=25),
        description="Inbound from other operators: STARTTLS and a client certificate required.",
    )
    submission: ListenerSettings = Field(
        ListenerSettings(port=587), description="Submission for professionals, STARTTLS (587)."
    )
    submissions: ListenerSettings = Field(
        ListenerSettings(port=465), description="Submission for professionals, implicit TLS (465)."
    )
    max_message_size: int = Field(
        50 * MIB, gt=0, description="Largest message accepted, in bytes (EHLO SIZE)."
    )
    max_recipients: int = Field(100, gt=0, description="Most recipients in one transaction.")
    max_connections: int = Field(
        1000, gt=0, description="Open SMTP connections per node; more are told 421 4.7.0."
    )
    max_line_length: int = Field(
        1000, ge=1000, description="Longest line accepted, CRLF included (RFC 5321 §4.5.3.1.6)."
    )
    command_timeout: float = Field(300.0, gt=0, description="Seconds of client silence tolerated.")
    max_bad_commands: int = Field(
        20,
        gt=0,
        description="Syntax errors, failed AUTH and refused recipients before the connection "
        "is closed (421 4.7.0).",
    )
    auth_failure_delay: float = Field(
        1.0, ge=0, description="Seconds to wait before answering a failed AUTH."
    )


class TlsSettings(Section):
    cert_file: Path = Field(Path("pki/server.pem"), description="Server certificate chain (PEM).")
    key_file: Path = Field(Path("pki/server.key"), description="Server private key (PEM).")
    trust_anchors: Path = Field(
        Path("pki/ca.pem"),
        description="CA bundle that peer operators' certificates must chain to (IGC-Santé).",
    )
    crl_file: Path | None = Field(None, description="CRL (PEM) checked for peer certificates.")
    min_version: Literal["TLSv1.2", "TLSv1.3"] = Field(
        "TLSv1.2", description="Lowest TLS version accepted (MSS-TLS-1)."
    )


class DatabaseSettings(Section):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL; empty means sqlite+aiosqlite in the data folder "
        "(postgresql+asyncpg://… for several nodes).",
    )
    busy_timeout_ms: int = Field(10_000, ge=0, description="SQLite busy timeout.")
    pool_size: int = Field(10, gt=0, description="Connections per node (PostgreSQL).")
    notify_channel: str = Field(
        "mss_changes",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL LISTEN/NOTIFY channel of cross-node wake-ups (IMAP IDLE, "
        "outbound queue, DMP filing); one per deployment sharing a database.",
    )
    notify_url: str | None = Field(
        None,
        description="URL of the LISTEN/NOTIFY connection when it must differ from url (LISTEN "
        "does not work through a transaction-pooling PgBouncer); empty: url.",
    )
    notify_keepalive: float = Field(
        30.0, gt=0, description="Seconds of silence after which the LISTEN connection is pinged."
    )
    notify_reconnect_max: float = Field(
        5.0, gt=0, description="Longest wait between attempts to reopen the LISTEN connection."
    )


class StorageSettings(Section):
    blob_dir: Path = Field(Path("data/blobs"), description="Folder of encrypted message blobs.")
    keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Blob encryption keys: key id -> base64 of 32 random bytes (AES-256-GCM).",
    )
    active_key: str = Field("", description="Key id used to encrypt new blobs.")
    fsync: bool = Field(True, description="fsync blobs and the database before acknowledging.")
    inline_max: int = Field(
        256 * 1024,
        ge=0,
        description="Bodies up to this many bytes are kept (encrypted) in the database, in the "
        "delivery's own transaction; larger ones as blob files. 0: always files.",
    )
    group_commit_max: int = Field(
        128, gt=0, description="Most deliveries committed together in one transaction."
    )
    default_quota: int = Field(
        0, ge=0, description="Storage quota per mailbox in bytes (0 = unlimited)."
    )


class ImapSettings(Section):
    imap: ListenerSettings = Field(
        ListenerSettings(port=143), description="IMAP for professionals, STARTTLS required (143)."
    )
    imaps: ListenerSettings = Field(
        ListenerSettings(port=993), description="IMAP for professionals, implicit TLS (993)."
    )
    max_connections: int = Field(
        5000, gt=0, description="Open IMAP connections per node; more are told BYE."
    )
    max_line_length: int = Field(
        65536, ge=8192, description="Longest command line (literals excluded), in bytes."
    )
    max_literal: int = Field(
        50 * MIB, gt=0, description="Largest literal (APPEND included), in bytes."
    )
    max_bad_commands: int = Field(
        20, gt=0, description="Syntax errors and failed logins before the connection is closed."
    )
    max_subscriptions: int = Field(
        1000,
        gt=0,
        description="Subscribed names per mailbox (SUBSCRIBE takes names without a folder too); "
        "more are refused with NO [LIMIT].",
    )
    auth_failure_delay: float = Field(
        1.0, ge=0, description="Seconds to wait before answering a failed LOGIN/AUTHENTICATE."
    )
    idle_timeout: float = Field(
        1800.0, ge=60, description="Seconds of silence before an idle client is logged out."
    )
    login_timeout: float = Field(
        60.0, gt=0, description="Seconds a client may stay unauthenticated."
    )
    write_timeout: float = Field(
        60.0, gt=0, description="Seconds a client may leave our replies unread before it is cut."
    )
    auth_failure_delay_max: float = Field(
        30.0,
        ge=0,
        description="Cap of the wait before a login attempt, which doubles (from "
        "auth_failure_delay) with each recent failure from the same address or for the same login.",
    )
    search_index_bytes: int = Field(
        64 * MIB,
        ge=0,
        description="Memory (bytes, per node) for the SEARCH index of header fields (subject, "
        "addresses, Message-ID, date), kept decrypted in memory only, least recently used "
        "folders dropped first. 0: no index, every header search reads the headers.",
    )
    search_index_save_every: int = Field(
        1000,
        ge=0,
        description="Messages added to a SEARCH index column since it was last saved (sealed "
        "with the blob keys, in the database, so that the first search after a start loads it "
        "instead of reading every header) that make a search save it again, in the background "
        "(or 5% of the folder if fewer). 0: columns never saved.",
    )
    search_index_warm: bool = Field(
        True,
        description="Build the SEARCH index columns most searched (subject, from, to, "
        "Message-ID) of big folders in the background as messages arrive, and save them, so "
        "that the first search of a folder never searched reads (almost) no header.",
    )
    search_index_warm_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between two passes of the background SEARCH indexer over the "
        "folders (one store read per pass when nothing is to be done).",
    )


class OutboundSettings(Section):
    routes: dict[str, str] = Field(
        default_factory=dict,
        description='Static routes, domain -> "host:port", used instead of the MX lookup '
        "(private deployments, tests).",
    )
    port: int = Field(25, gt=0, le=65535, description="Port of remote MX hosts.")
    retry_schedule: list[float] = Field(
        [60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0],
        min_length=1,
        description="Seconds before each retry; the last value repeats until the expiry.",
    )
    expiry: float = Field(
        5 * 86400.0, gt=0, description="Seconds before an undeliverable message bounces."
    )
    delay_warning: float = Field(
        4 * 3600.0, ge=0, description="Seconds before a 'delayed' DSN is sent (0: never)."
    )
    connections_per_domain: int = Field(
        10, gt=0, description="Most simultaneous connections to one domain."
    )
    max_connections: int = Field(100, gt=0, description="Most outbound connections in all.")
    idle_timeout: float = Field(
        30.0, gt=0, description="Seconds an unused pooled outbound connection stays open."
    )
    connect_timeout: float = Field(30.0, gt=0, description="Seconds to open a connection.")
    command_timeout: float = Field(300.0, gt=0, description="Seconds to wait for a reply.")
    poll_interval: float = Field(
        5.0, gt=0, description="Seconds between queue scans when nothing wakes the workers."
    )
    lease_time: float = Field(
        0.0,
        ge=0,
        description="Seconds a worker holds the recipients it claimed; a crashed worker's come "
        "due again after it (0: connect_timeout + 4 x command_timeout + 60).",
    )
    dkim_selector: str = Field(
        "", description="DKIM selector used to sign outbound mail ('' = do not sign)."
    )
    dkim_keys: dict[str, Path] = Field(
        default_factory=dict, description="DKIM private key file per signing domain."
    )


class DkimSettings(Section):
    verify_inbound: bool = Field(
        True, description="Verify DKIM on inbound MX mail and add Authentication-Results."
    )
    authserv_id: str = Field(
        "", description="authserv-id of Authentication-Results ('' = smtp.hostname)."
    )
    dns_timeout: float = Field(5.0, gt=0, description="Seconds for a DKIM key lookup.")
    nameservers: list[str] = Field(
        default_factory=list,
        description='DNS servers for DKIM key lookups, "ip" or "ip:port" (empty = the system\'s).',
    )


class DmpSettings(Section):
    acl_matrix_file: Path | None = Field(
        None, description="Access matrix CSV replacing the built-in one (DMP-ACL-1)."
    )
    filing_poll_interval: float = Field(
        5.0, gt=0, description="Seconds between scans for filing jobs left by a crash."
    )
    filing_concurrency: int = Field(
        4, gt=0, description="Filing jobs run at once per node (one parses, another commits)."
    )
    filing_lease: float = Field(
        120.0, gt=0, description="Seconds a node holds a filing job before another may take it."
    )
    filing_max_attempts: int = Field(
        5, gt=0, description="Tries of a filing job failing on storage before giving up (906)."
    )
    max_xdm_size: int = Field(
        50 * MIB, gt=0, description="Largest IHE_XDM.ZIP attachment filed, in bytes."
    )


class DirectorySettings(Section):
    whitelist_file: Path | None = Field(
        None, description="ANS whitelist XML loaded at start when the database has none."
    )
    whitelist_url: str = Field(
        "", description="HTTPS URL (or file path) the whitelist is refreshed from ('' = none)."
    )
    whitelist_ca_file: Path | None = Field(
        None, description="CA bundle verifying the whitelist server (default: system CAs)."
    )
    whitelist_refresh_interval: float = Field(
        3600.0, gt=0, description="Seconds between whitelist refreshes (MSS-TRUST-5)."
    )
    whitelist_max_age: float = Field(
        48 * 3600.0, gt=0, description="Age in seconds past which a stale whitelist is alerted."
    )
    auto_create_after_days: int = Field(
        42, ge=0, description="Days after notification before a pending profile opens (MSS-PAT-1)."
    )
    profile_job_interval: float = Field(
        3600.0, gt=0, description="Seconds between runs of the profile auto-creation job."
    )
    argon2_time_cost: int = Field(3, ge=1, description="argon2id iterations for new hashes.")
    argon2_memory_kib: int = Field(65536, ge=8, description="argon2id memory for new hashes.")


class PolicySettings(Section):
    patient_domain: str = Field("patient.mssante.fr", description="Domain of patient mailboxes.")
    patient_max_message_size: int = Field(
        25 * MIB, gt=0, description="Largest message to a patient, in bytes (MSS-PAT-6)."
    )


class NotifySettings(Section):
    """MSS-PAT-7, DMP-AUD-1: e-mails to patients' personal addresses, through a smarthost."""

    smarthost: str = Field(
        "",
        pattern=r"^$|^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):[0-9]{1,5}$",
        description='"host:port" of the smarthost ("" = notifications disabled, rows kept).',
    )
    sender: str = Field(
        "", description='From address of notifications ("" = ne-pas-repondre@<smtp.hostname>).'
    )
    require_starttls: bool = Field(
        True, description="Refuse to send unless the smarthost offers STARTTLS (verified)."
    )
    ca_file: Path | None = Field(
        None, description="CA bundle verifying the smarthost (default: system CAs)."
    )
    username: str = Field("", description="SMTP AUTH login at the smarthost ('' = no AUTH).")
    password: SecretStr = Field(SecretStr(""), description="SMTP AUTH password.")
    webmail_url: str = Field(
        "", description="Link given in notifications ('' = https://<smtp.hostname>/)."
    )
    coalesce_window: float = Field(
        900.0, ge=0, description="Seconds: at most one new-message notification per patient."
    )
    poll_interval: float = Field(30.0, gt=0, description="Seconds between outbox scans.")
    retry_schedule: list[float] = Field(
        [60.0, 300.0, 900.0, 3600.0],
        min_length=1,
        description="Seconds before each retry; the last value repeats until the expiry.",
    )
    expiry: float = Field(
        2 * 86400.0, gt=0, description="Seconds after which an unsent notification is dropped."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds for each smarthost connection step.")


class ProxySettings(Section):
    """PROXY protocol (HAProxy send-proxy / send-proxy-v2) for listeners with proxy_protocol."""

    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description='Load balancers allowed to send a PROXY header ("10.0.0.0/8", "::1"); '
        "other connections to a proxy_protocol listener are closed.",
    )
    header_timeout: float = Field(
        5.0, gt=0, description="Seconds a load balancer has to send the PROXY header."
    )


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


class Settings(BaseSettings):
    """The whole configuration. Load it with ``config.load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix="MSS_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    data_dir: Path = Field(Path("data"), description="Folder of the database and blobs.")
    smtp: SmtpSettings = Field(SmtpSettings(), description="SMTP listeners and limits.")
    imap: ImapSettings = Field(ImapSettings(), description="IMAP listeners and limits.")
    outbound: OutboundSettings = Field(
        OutboundSettings(), description="Outbound queue and relay to other operators."
    )
    dkim: DkimSettings = Field(DkimSettings(), description="DKIM verification of inbound mail.")
    dmp: DmpSettings = Field(DmpSettings(), description="DMP bridge: filing and access rules.")
    tls: TlsSettings = Field(TlsSettings(), description="Certificates and trust anchors.")
    database: DatabaseSettings = Field(DatabaseSettings(), description="Metadata database.")
    storage: StorageSettings = Field(StorageSettings(), description="Message blob storage.")
    directory: DirectorySettings = Field(DirectorySettings(), description="Directory and jobs.")
    policy: PolicySettings = Field(PolicySettings(), description="MSSanté policy limits.")
    logging: LoggingSettings = Field(LoggingSettings(), description="Logging.")
    proxy: ProxySettings = Field(
        ProxySettings(), description="PROXY protocol from a TCP load balancer (HAProxy)."
    )
    notify: NotifySettings = Field(
        NotifySettings(), description="Patient notification e-mails (MSS-PAT-7)."
    )

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'mss.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which is passed as init keywords.
        return (env_settings, init_settings)
