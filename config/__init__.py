"""Typed settings: one frozen tree, loaded from a TOML file and ``MSS_*`` variables.

Job: describe every setting (with its default and a one-line description), load and validate it,
render a commented example from the model. Allowed imports: nothing of ours (this is the leaf).
"""

from config.loading import ConfigError, load_settings
from config.settings import (
    DatabaseSettings,
    DirectorySettings,
    DkimSettings,
    DmpSettings,
    ImapSettings,
    ListenerSettings,
    LoggingSettings,
    OutboundSettings,
    PolicySettings,
    Settings,
    SmtpSettings,
    StorageSettings,
    TlsSettings,
)

__all__ = [
    "ConfigError",
    "DatabaseSettings",
    "DirectorySettings",
    "DkimSettings",
    "DmpSettings",
    "ImapSettings",
    "ListenerSettings",
    "LoggingSettings",
    "OutboundSettings",
    "PolicySettings",
    "Settings",
    "SmtpSettings",
    "StorageSettings",
    "TlsSettings",
    "load_settings",
]
