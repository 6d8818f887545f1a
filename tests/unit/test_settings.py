"""Settings read from the environment, and the eventsourcing settings each store URL becomes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from adapters.settings import DEFAULT_DATABASE_URL, Settings, SettingsError, StoreSettings
from services.platform import Platform


def test_defaults_keep_events_in_sqlite_under_var() -> None:
    settings = Settings.from_env({})

    assert settings.store.url == DEFAULT_DATABASE_URL == "sqlite:///var/cloudbay.sqlite3"
    assert settings.store.kind == "sqlite"
    assert settings.store.sqlite_path == Path("var/cloudbay.sqlite3")
    assert settings.data_dir == Path("var")
    assert settings.signing_key_path == Path("var/signing-key.pem")
    assert (settings.oauth_issuer, settings.oauth_audience, settings.oauth_jwks_url) == (
        "urn:cloudbay",
        "cloudbay-api",
        None,
    )
    assert settings.heartbeat_interval == 300
    assert settings.ocpp_call_timeout == 30.0
    assert settings.node == socket.gethostname()


def test_sqlite_store_follows_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    settings = Settings.from_env({"CLOUDBAY_DATA_DIR": str(data_dir)})

    assert settings.data_dir == data_dir
    assert settings.store.url == f"sqlite:///{data_dir}/cloudbay.sqlite3"
    assert settings.store.sqlite_path == data_dir / "cloudbay.sqlite3"
    assert settings.store.sqlite_read_model_path == data_dir / "cloudbay-readmodels.sqlite3"
    assert settings.signing_key_path == data_dir / "signing-key.pem"


def test_sqlite_event_store_env_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "events.sqlite3"

    env = StoreSettings(f"sqlite:///{path}").event_store_env()

    assert path.parent.is_dir()
    assert env == {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "TRANSCODER_TOPIC": "adapters.event_json:StoredEventJSON",
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def test_every_setting_can_be_given() -> None:
    settings = Settings.from_env(
        {
            "CLOUDBAY_DATA_DIR": "/srv/cloudbay",
            "CLOUDBAY_DATABASE_URL": "memory://",
            "CLOUDBAY_OAUTH_ISSUER": "https://login.example.com",
            "CLOUDBAY_OAUTH_AUDIENCE": "fleet",
            "CLOUDBAY_OAUTH_JWKS_URL": "https://login.example.com/jwks",
            "CLOUDBAY_HEARTBEAT_INTERVAL": "60",
            "CLOUDBAY_NODE": "node-7",
            "CLOUDBAY_OCPP_CALL_TIMEOUT": "2.5",
        }
    )

    assert settings.store.kind == "memory"
    assert settings.data_dir == Path("/srv/cloudbay")
    assert (settings.oauth_issuer, settings.oauth_audience) == ("https://login.example.com", "fleet")
    assert settings.oauth_jwks_url == "https://login.example.com/jwks"
    assert (settings.heartbeat_interval, settings.node, settings.ocpp_call_timeout) == (60, "node-7", 2.5)


def test_empty_values_fall_back_to_defaults() -> None:
    settings = Settings.from_env({"CLOUDBAY_DATABASE_URL": "", "CLOUDBAY_OAUTH_JWKS_URL": "", "CLOUDBAY_NODE": ""})

    assert settings.store.url == DEFAULT_DATABASE_URL
    assert settings.oauth_jwks_url is None
    assert settings.node == socket.gethostname()


def test_without_an_argument_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDBAY_DATABASE_URL", "memory://")
    monkeypatch.setenv("CLOUDBAY_HEARTBEAT_INTERVAL", "42")

    settings = Settings.from_env()

    assert (settings.store.kind, settings.heartbeat_interval) == ("memory", 42)


# --- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_url_becomes_the_eventsourcing_postgres_env() -> None:
    store = Settings.from_env({"CLOUDBAY_DATABASE_URL": "postgresql://cb:s3cret@db.internal:6543/cloudbay"}).store

    assert store.kind == "postgres"
    assert store.event_store_env() == {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "TRANSCODER_TOPIC": "adapters.event_json:StoredEventJSON",
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "cloudbay",
        "POSTGRES_HOST": "db.internal",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "cb",
        "POSTGRES_PASSWORD": "s3cret",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        "APPLICATION_RECORDER_TOPIC": "adapters.pg_events:TypedArraysRecorder",
    }


def test_postgres_scheme_alias_and_defaults() -> None:
    params = StoreSettings("postgres:///cloudbay").postgres_params()

    assert params == {
        "dbname": "cloudbay",
        "host": "127.0.0.1",
        "port": "5432",
        "user": "postgres",
        "password": "",
    }


def test_postgres_password_is_empty_when_absent() -> None:
    env = StoreSettings("postgresql://cb@db/cloudbay").event_store_env()

    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_HOST"]) == ("cb", "", "db")


def test_postgres_user_and_password_are_percent_decoded() -> None:
    params = StoreSettings("postgresql://fleet%40ops:p%40ss%3Aw%2Frd%25@db:5432/cloudbay").postgres_params()

    assert params["user"] == "fleet@ops"
    assert params["password"] == "p@ss:w/rd%"


def test_postgres_url_needs_a_database_name() -> None:
    store = StoreSettings("postgresql://cb@db:5432/")

    with pytest.raises(SettingsError):
        store.event_store_env()


# --- memory, bad URLs, bad numbers ------------------------------------------------------------------


def test_memory_url_uses_the_in_memory_store() -> None:
    store = Settings.from_env({"CLOUDBAY_DATABASE_URL": "memory://"}).store

    env = store.event_store_env()

    assert env == {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "TRANSCODER_TOPIC": "adapters.event_json:StoredEventJSON",
        "PERSISTENCE_MODULE": "eventsourcing.popo",
    }
    app = Platform.from_env(env=env)
    app.chargers.whitelist("CB-0001", "home")
    assert app.chargers.is_whitelisted("CB-0001")


@pytest.mark.parametrize("url", ["mysql://db/cloudbay", "http://example.com", "/var/cloudbay.sqlite3", "sqlite3:///x"])
def test_unsupported_scheme_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="unsupported scheme"):
        Settings.from_env({"CLOUDBAY_DATABASE_URL": url})


@pytest.mark.parametrize("value", ["five minutes", "1.5", ""])
def test_bad_heartbeat_interval_is_refused(value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"CLOUDBAY_HEARTBEAT_INTERVAL": value})


def test_bad_call_timeout_is_refused() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"CLOUDBAY_OCPP_CALL_TIMEOUT": "soon"})


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- SQLite paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "events", "read_models"),
    [
        ("sqlite:///var/cloudbay.sqlite3", "var/cloudbay.sqlite3", "var/cloudbay-readmodels.sqlite3"),
        ("sqlite:////srv/data/events.db", "/srv/data/events.db", "/srv/data/events-readmodels.db"),
        ("sqlite:///events", "events", "events-readmodels.sqlite3"),
        ("sqlite:///a.b/store.v2.sqlite", "a.b/store.v2.sqlite", "a.b/store.v2-readmodels.sqlite"),
    ],
)
def test_read_models_live_next_to_the_events(url: str, events: str, read_models: str) -> None:
    store = StoreSettings(url)

    assert store.sqlite_path == Path(events)
    assert store.sqlite_read_model_path == Path(read_models)


def test_sqlite_url_needs_a_path() -> None:
    with pytest.raises(SettingsError):
        _ = StoreSettings("sqlite:///").sqlite_path


@pytest.mark.parametrize(
    "name", ["CLOUDBAY_OCPP_CALL_TIMEOUT", "CLOUDBAY_USER_CACHE_SECONDS", "CLOUDBAY_WEBHOOK_MAX_ATTEMPTS"]
)
def test_a_malformed_number_names_its_setting(name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: "soon"})


def test_the_signing_key_path_is_a_setting(tmp_path: Path) -> None:
    assert Settings.from_env({"CLOUDBAY_DATA_DIR": "d"}).signing_key_path == Path("d") / "signing-key.pem"
    chosen = Settings.from_env({"CLOUDBAY_SIGNING_KEY": str(tmp_path / "k.pem")})
    assert chosen.signing_key_path == tmp_path / "k.pem"
