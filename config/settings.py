"""The settings tree. Every limit and delay of the operator is a field here, with its description.

Relative paths are relative to the folder of the configuration file (see ``config.loading``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

MIB = 1024 * 1024


class Section(BaseModel):
    """A frozen section that refuses unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ListenerSettings(Section):
    enabled: bool = Field(True, description="Start this listener.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(0, ge=0, le=65535, description="TCP port (0 picks a free port).")


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


class DirectorySettings(Section):
    whitelist_file: Path | None = Field(
        None, description="ANS whitelist XML loaded at start when the database has none."
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


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


class Settings(BaseSettings):
    """The whole configuration. Load it with ``config.load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix="MSS_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    data_dir: Path = Field(Path("data"), description="Folder of the database and blobs.")
    smtp: SmtpSettings = Field(SmtpSettings(), description="SMTP listeners and limits.")
    tls: TlsSettings = Field(TlsSettings(), description="Certificates and trust anchors.")
    database: DatabaseSettings = Field(DatabaseSettings(), description="Metadata database.")
    storage: StorageSettings = Field(StorageSettings(), description="Message blob storage.")
    directory: DirectorySettings = Field(DirectorySettings(), description="Directory and jobs.")
    policy: PolicySettings = Field(PolicySettings(), description="MSSanté policy limits.")
    logging: LoggingSettings = Field(LoggingSettings(), description="Logging.")

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
