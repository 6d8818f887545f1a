"""Settings, read once from the environment: where events and read models live, who issues tokens."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from adapters.firmware_settings import FirmwareSettings
from adapters.pki.settings import CaSettings, CaSettingsError
from cloudbay_domain.mac import MacBlock, MacError

DEFAULT_DATABASE_URL = "sqlite:///var/cloudbay.sqlite3"
POSTGRES_TUNING = {"POSTGRES_POOL_SIZE": "8", "POSTGRES_MAX_OVERFLOW": "8", "POSTGRES_ENABLE_DB_FUNCTIONS": "y"}
POSTGRES_TUNING["APPLICATION_RECORDER_TOPIC"] = "adapters.pg_events:TypedArraysRecorder"  # a cheaper insert
CONNECT_TIMEOUT_SECONDS = 5  # a PostgreSQL server that does not answer within this is reported unreachable


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class StoreSettings:
    """Where the event store and the read models are kept.

    ``sqlite:///relative/path.sqlite3`` or ``sqlite:////absolute/path.sqlite3`` (the embedded default),
    ``postgresql://user[:password]@host[:port]/dbname`` (production), or ``memory://`` (tests, demos).
    """

    url: str = DEFAULT_DATABASE_URL

    @property
    def kind(self) -> str:
        scheme = urlsplit(self.url).scheme
        if scheme in ("postgres", "postgresql"):
            return "postgres"
        if scheme in ("sqlite", "memory"):
            return scheme
        raise SettingsError(f"CLOUDBAY_DATABASE_URL: unsupported scheme {scheme!r} (sqlite, postgresql, memory)")

    @property
    def sqlite_path(self) -> Path:
        path = self.url[len("sqlite:///") :] if self.url.startswith("sqlite:///") else ""
        if not path:
            raise SettingsError(
                "CLOUDBAY_DATABASE_URL: sqlite URL needs a file path, e.g. sqlite:///var/cloudbay.sqlite3"
            )
        return Path(path)

    @property
    def sqlite_read_model_path(self) -> Path:
        path = self.sqlite_path
        return path.with_name(f"{path.stem}-readmodels{path.suffix or '.sqlite3'}")

    def postgres_params(self) -> dict[str, str]:
        parts = urlsplit(self.url)
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise SettingsError("CLOUDBAY_DATABASE_URL: postgresql URL needs a database name")
        return {
            "dbname": dbname,
            "host": parts.hostname or "127.0.0.1",
            "port": str(parts.port or 5432),
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
        }

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for this store."""
        env = {"AGGREGATE_CACHE_MAXSIZE": "20000", "TRANSCODER_TOPIC": "adapters.event_json:StoredEventJSON"}
        if self.kind == "sqlite":
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=str(self.sqlite_path))
            env["SQLITE_LOCK_TIMEOUT"] = "10"
        elif self.kind == "postgres":
            pg = self.postgres_params()
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=pg["dbname"],
                POSTGRES_HOST=pg["host"],
                POSTGRES_PORT=pg["port"],
                POSTGRES_USER=pg["user"],
                POSTGRES_PASSWORD=pg["password"],
                POSTGRES_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT_SECONDS),
                **POSTGRES_TUNING,
            )
        else:
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        return env


@dataclass(frozen=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    data_dir: Path = Path("var")
    oauth_issuer: str = "urn:cloudbay"
    oauth_audience: str = "cloudbay-api"
    oauth_jwks_url: str | None = None
    heartbeat_interval: int = 300
    node: str = field(default_factory=socket.gethostname)
    ocpp_call_timeout: float = 30.0
    store_timeout: float = 10.0  # the longest a charger's call or a disconnect waits on the store (then an error)
    node_lease_seconds: float = 30.0  # a node that has not renewed its lease for this long is dead (presence)
    projections: str = "inline"  # "inline": read models kept in this process; "process": by `cloudbay project`
    log_format: str = "text"  # "text": human lines; "json": one JSON object per line (adapters.logs)
    user_cache_seconds: float = 5.0  # how long a user's state is trusted by token checks (adapters.current_users)
    webhook_max_attempts: int = 8  # attempts before a webhook delivery becomes a dead letter
    webhook_backoff_seconds: float = 1.0  # the first retry's delay, doubled per attempt (adapters.webhooks)
    webhook_timeout_seconds: float = 5.0  # bounds each phase of one webhook POST (connect, write, read)
    webhook_allow_private: bool = False  # webhooks to loopback/private/link-local addresses (adapters.webhooks)
    ocpp_max_frame: int = 1024 * 1024  # bytes of one OCPP WebSocket frame (docs/operations.md, "Limits")
    ocpp_max_samples: int = 1000  # sampled values in one TransactionEvent or MeterValues
    ocpp_max_stored_payload: int = 64 * 1024  # bytes of DataTransfer data / NotifyEvent eventData stored whole
    signing_key: Path | None = None  # CLOUDBAY_SIGNING_KEY; else the data directory's signing-key.pem
    mac_block: str | None = None  # CLOUDBAY_MAC_BLOCK: the block new batches get addresses from, if any
    manufacturing_key: Path | None = None  # CLOUDBAY_MANUFACTURING_KEY; else the data dir's manufacturing-key
    expected_chargers: int = 10_000  # the fleet one node should hold: sizes the open-file limit check
    tls_cert: Path | None = None  # CLOUDBAY_TLS_CERT: the server certificate (chain) of the wss:// port, PEM
    tls_key: Path | None = None  # CLOUDBAY_TLS_KEY: its private key, PEM
    tls_port: int = 8443  # CLOUDBAY_TLS_PORT: served beside the plain port when a certificate is set
    tls_client_ca: Path | None = None  # CLOUDBAY_TLS_CLIENT_CA: the CA client certificates must chain to (profile 3)
    trusted_proxies: tuple[str, ...] = ()  # CLOUDBAY_TRUSTED_PROXIES: TLS proxies whose forwarded headers count
    ca: CaSettings | None = None  # the certificate authority's files (adapters.pki.settings); else under data_dir
    pairing_max_failures: int = 5  # CLOUDBAY_PAIRING_MAX_FAILURES wrong codes within the lock time lock pairing
    pairing_lock_seconds: float = 900.0  # CLOUDBAY_PAIRING_LOCK_SECONDS (for a caller, and for a charger)
    smtp_url: str | None = None  # CLOUDBAY_SMTP_URL (adapters.mail); none: mail goes to the outbox directory
    smtp_ca: Path | None = None  # CLOUDBAY_SMTP_CA: the CA file the SMTP server's certificate must chain to
    mail_from: str = "cloudbay@localhost"  # CLOUDBAY_MAIL_FROM
    firmware: FirmwareSettings | None = None  # images, uploads, download links (adapters.firmware_settings)

    @property
    def pki(self) -> CaSettings:
        return self.ca or CaSettings(directory=self.data_dir / "ca")

    @property
    def firmware_files(self) -> FirmwareSettings:
        return self.firmware or FirmwareSettings.under(self.data_dir)

    @property
    def signing_key_path(self) -> Path:
        """Where the deployment's token-signing key is: every node and CLI of a deployment must find the same."""
        return self.signing_key or self.data_dir / "signing-key.pem"

    @property
    def manufacturing_key_path(self) -> Path:
        """The manufacturing keys the device codes derive from (adapters.manufacturing): the same file everywhere."""
        return self.manufacturing_key or self.data_dir / "manufacturing-key"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("CLOUDBAY_DATA_DIR", "var"))
        url = env.get("CLOUDBAY_DATABASE_URL") or f"sqlite:///{data_dir / 'cloudbay.sqlite3'}"
        store = StoreSettings(url)
        if store.kind == "sqlite":
            store.sqlite_path  # noqa: B018 - fail early on a malformed URL
        heartbeat = int(_number(env, "CLOUDBAY_HEARTBEAT_INTERVAL", "300", int))
        timeout = _number(env, "CLOUDBAY_OCPP_CALL_TIMEOUT", "30")
        user_cache = _number(env, "CLOUDBAY_USER_CACHE_SECONDS", "5")
        store_timeout = _number(env, "CLOUDBAY_STORE_TIMEOUT", "10")
        lease = _number(env, "CLOUDBAY_NODE_LEASE_SECONDS", "30")
        expected_chargers = int(_number(env, "CLOUDBAY_EXPECTED_CHARGERS", "10000", int))
        if expected_chargers < 0:
            raise SettingsError("CLOUDBAY_EXPECTED_CHARGERS must not be negative")
        log_format = env.get("CLOUDBAY_LOG_FORMAT") or "text"
        if log_format not in ("text", "json"):
            raise SettingsError(f"CLOUDBAY_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
        projections = env.get("CLOUDBAY_PROJECTIONS", "inline")
        if projections not in ("inline", "process"):
            raise SettingsError("CLOUDBAY_PROJECTIONS must be 'inline' or 'process'")
        if heartbeat < 1 or min(timeout, store_timeout, lease) <= 0:
            raise SettingsError(
                "CLOUDBAY_HEARTBEAT_INTERVAL, CLOUDBAY_OCPP_CALL_TIMEOUT, CLOUDBAY_STORE_TIMEOUT and"
                " CLOUDBAY_NODE_LEASE_SECONDS must be positive"
            )
        return cls(
            store=store,
            data_dir=data_dir,
            oauth_issuer=env.get("CLOUDBAY_OAUTH_ISSUER", "urn:cloudbay"),
            oauth_audience=env.get("CLOUDBAY_OAUTH_AUDIENCE", "cloudbay-api"),
            oauth_jwks_url=env.get("CLOUDBAY_OAUTH_JWKS_URL") or None,
            heartbeat_interval=heartbeat,
            node=env.get("CLOUDBAY_NODE") or socket.gethostname(),
            ocpp_call_timeout=timeout,
            store_timeout=store_timeout,
            node_lease_seconds=lease,
            projections=projections,
            log_format=log_format,
            user_cache_seconds=max(0.0, user_cache),
            signing_key=Path(env["CLOUDBAY_SIGNING_KEY"]) if env.get("CLOUDBAY_SIGNING_KEY") else None,
            mac_block=_mac_block(env),
            manufacturing_key=_path(env, "CLOUDBAY_MANUFACTURING_KEY"),
            expected_chargers=expected_chargers,
            ca=_ca(env, data_dir),
            firmware=FirmwareSettings.from_env(env, data_dir),
            **_webhook_settings(env),
            **_ocpp_limits(env),
            **tls_settings(env),
            **_pairing_settings(env),
        )


def tls_settings(env: dict[str, str], serving: bool = False) -> dict[str, Any]:
    """CLOUDBAY_TLS_CERT, _KEY, _PORT, _CLIENT_CA and CLOUDBAY_TRUSTED_PROXIES: certificate and key come together,
    or neither; ``serving``: a client CA needs them or a trusted proxy (other commands ignore TLS settings)."""
    cert, key, ca = (
        _path(env, "CLOUDBAY_TLS_CERT"),
        _path(env, "CLOUDBAY_TLS_KEY"),
        _path(env, "CLOUDBAY_TLS_CLIENT_CA"),
    )
    if (cert is None) != (key is None):
        raise SettingsError("CLOUDBAY_TLS_CERT and CLOUDBAY_TLS_KEY are set together")
    proxies = tuple(p.strip() for p in env.get("CLOUDBAY_TRUSTED_PROXIES", "").split(",") if p.strip())
    try:
        proxies = tuple(str(ipaddress.ip_address(p)) for p in proxies)
    except ValueError as e:
        raise SettingsError(f"CLOUDBAY_TRUSTED_PROXIES must be IP addresses, comma-separated: {e}") from None
    if serving and ca is not None and cert is None and not proxies:
        raise SettingsError("CLOUDBAY_TLS_CLIENT_CA needs CLOUDBAY_TLS_CERT and CLOUDBAY_TLS_KEY (or a trusted proxy)")
    port = int(_number(env, "CLOUDBAY_TLS_PORT", "8443", int))
    if not 0 < port < 65536:
        raise SettingsError("CLOUDBAY_TLS_PORT must be a TCP port (1-65535)")
    return {"tls_cert": cert, "tls_key": key, "tls_port": port, "tls_client_ca": ca, "trusted_proxies": proxies}


def _ca(env: dict[str, str], data_dir: Path) -> CaSettings:
    try:
        return CaSettings.from_env(env, data_dir)
    except CaSettingsError as e:
        raise SettingsError(str(e)) from None


def _path(env: dict[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def _mac_block(env: dict[str, str]) -> str | None:
    raw = env.get("CLOUDBAY_MAC_BLOCK") or None
    try:
        return str(MacBlock.parse(raw)) if raw else None
    except MacError as e:
        raise SettingsError(f"CLOUDBAY_MAC_BLOCK: {e}") from None


def _ocpp_limits(env: dict[str, str]) -> dict[str, Any]:
    names = {
        "ocpp_max_frame": ("CLOUDBAY_OCPP_MAX_FRAME", 1024 * 1024),
        "ocpp_max_samples": ("CLOUDBAY_OCPP_MAX_SAMPLES", 1000),
        "ocpp_max_stored_payload": ("CLOUDBAY_OCPP_MAX_STORED_PAYLOAD", 64 * 1024),
    }
    values = {}
    for key, (name, default) in names.items():
        try:
            values[key] = int(env.get(name) or default)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {env.get(name)!r}") from None
        if values[key] < 1:
            raise SettingsError(f"{name} must be positive")
    return values


def _number(env: dict[str, str], name: str, default: str, kind: type[float] | type[int] = float) -> float:
    """The setting ``name`` as a number; a malformed one is a SettingsError naming it."""
    raw = env.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None


def _webhook_settings(env: dict[str, str]) -> dict[str, Any]:
    values = {
        "webhook_max_attempts": int(_number(env, "CLOUDBAY_WEBHOOK_MAX_ATTEMPTS", "8", int)),
        "webhook_backoff_seconds": _number(env, "CLOUDBAY_WEBHOOK_BACKOFF_SECONDS", "1"),
        "webhook_timeout_seconds": _number(env, "CLOUDBAY_WEBHOOK_TIMEOUT_SECONDS", "5"),
    }
    if min(values.values()) <= 0 or values["webhook_timeout_seconds"] > 60:
        raise SettingsError("CLOUDBAY_WEBHOOK_* must be positive (the timeout at most 60 s)")
    allow = (env.get("CLOUDBAY_WEBHOOK_ALLOW_PRIVATE") or "0").strip().lower()
    if allow not in ("1", "true", "yes", "0", "false", "no"):
        raise SettingsError(f"CLOUDBAY_WEBHOOK_ALLOW_PRIVATE must be 1 or 0, not {allow!r}")
    return {**values, "webhook_allow_private": allow in ("1", "true", "yes")}


def _pairing_settings(env: dict[str, str]) -> dict[str, Any]:
    failures = int(_number(env, "CLOUDBAY_PAIRING_MAX_FAILURES", "5", int))
    lock = _number(env, "CLOUDBAY_PAIRING_LOCK_SECONDS", "900")
    if failures < 1 or lock <= 0:
        raise SettingsError("CLOUDBAY_PAIRING_MAX_FAILURES and CLOUDBAY_PAIRING_LOCK_SECONDS must be positive")
    smtp = env.get("CLOUDBAY_SMTP_URL") or None
    if smtp is not None and urlsplit(smtp).scheme not in ("smtp", "smtp+starttls", "smtps"):
        raise SettingsError("CLOUDBAY_SMTP_URL must be smtp://, smtp+starttls:// or smtps://host[:port]")
    mail_from = env.get("CLOUDBAY_MAIL_FROM") or "cloudbay@localhost"
    return {"pairing_max_failures": failures, "pairing_lock_seconds": lock, "smtp_url": smtp,
            "smtp_ca": _path(env, "CLOUDBAY_SMTP_CA"), "mail_from": mail_from}  # fmt: skip
