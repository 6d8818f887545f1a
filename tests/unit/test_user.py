"""The User aggregate and the Users service that registers and finds them (in-memory store, no I/O)."""

from __future__ import annotations

import functools
from uuid import UUID

import pytest

from cloudbay_domain.user import InvalidEmail, User, UserRemoved, UserRole, normalise_email
from services.platform import Platform
from services.users import UnknownUser, UserAlreadyExists, UserWasRemoved

EMAIL = "alice@example.com"


@pytest.fixture
def app() -> Platform:
    return Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def head(app: Platform) -> int:
    return app.log.recorder.max_notification_id() or 0


# --- the aggregate ---------------------------------------------------------------------------


def test_registering_records_the_normalised_email_role_and_secret() -> None:
    user = User.register("  Alice@Example.COM ", UserRole.OPERATOR, "hash-1")

    (registered,) = user.collect_events()
    assert isinstance(registered, User.Registered)
    assert (registered.email, registered.role, registered.secret_hash) == (EMAIL, "operator", "hash-1")
    assert registered.originator_id == user.id == User.create_id(EMAIL)
    assert user.email == EMAIL
    assert user.role is UserRole.OPERATOR
    assert user.secret_hash == "hash-1"


def test_role_may_be_given_as_its_value() -> None:
    user = User.register(EMAIL, "user", "h")  # type: ignore[arg-type]

    assert user.role is UserRole.USER


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError):
        User.register(EMAIL, "admin", "h")  # type: ignore[arg-type]


def test_user_id_is_derived_from_the_normalised_email() -> None:
    # Pinned: stored users are found by this id.
    assert User.create_id(EMAIL) == UUID("235f6927-ad56-5bda-beb9-4e9ed804686b")
    assert User.register("ALICE@example.com", UserRole.USER, "h").id == User.register(EMAIL, UserRole.USER, "x").id
    assert User.create_id(EMAIL) != User.create_id("bob@example.com")


def test_rotating_the_secret_records_the_new_hash() -> None:
    user = User.register(EMAIL, UserRole.USER, "old")
    user.collect_events()

    user.rotate_secret("new")

    (rotated,) = user.collect_events()
    assert isinstance(rotated, User.SecretRotated)
    assert rotated.secret_hash == "new"
    assert user.secret_hash == "new"


def test_replaying_the_events_rebuilds_the_user() -> None:
    user = User.register(EMAIL, UserRole.OPERATOR, "old")
    user.rotate_secret("new")

    rebuilt = functools.reduce(lambda agg, e: e.mutate(agg), user.collect_events(), None)

    assert rebuilt == user


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob@example.org\n", "bob@example.org"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
    ],
)
def test_emails_are_normalised(given: str, normalised: str) -> None:
    assert normalise_email(given) == normalised


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("alice", id="no-at"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("alice@", id="no-domain"),
        pytest.param("alice@localhost", id="dotless-domain"),
        pytest.param("al ice@example.com", id="inner-space"),
        pytest.param("a" * 243 + "@example.com", id="255-chars"),
    ],
)
def test_invalid_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidEmail):
        normalise_email(email)
    with pytest.raises(InvalidEmail):
        User.register(email, UserRole.USER, "h")


def test_longest_email_is_accepted() -> None:
    email = "a" * 242 + "@example.com"

    assert len(email) == 254
    assert normalise_email(email) == email


# --- through the application -------------------------------------------------------------------


def test_registered_user_is_found_by_any_spelling_of_the_email(app: Platform) -> None:
    app.users.register(" Alice@Example.com", UserRole.OPERATOR, "hash-1")

    user = app.users.get("ALICE@EXAMPLE.COM ")

    assert (user.email, user.role, user.secret_hash) == (EMAIL, UserRole.OPERATOR, "hash-1")
    assert head(app) == 1


def test_registering_twice_is_refused_and_writes_nothing(app: Platform) -> None:
    app.users.register(EMAIL, UserRole.USER, "first")
    before = head(app)

    with pytest.raises(UserAlreadyExists):
        app.users.register("ALICE@example.com", UserRole.OPERATOR, "second")

    assert head(app) == before
    user = app.users.get(EMAIL)
    assert (user.role, user.secret_hash, user.version) == (UserRole.USER, "first", 1)


def test_registering_an_invalid_email_writes_nothing(app: Platform) -> None:
    with pytest.raises(InvalidEmail):
        app.users.register("not-an-email", UserRole.USER, "h")

    assert head(app) == 0


def test_unknown_user_is_reported(app: Platform) -> None:
    app.users.register(EMAIL, UserRole.USER, "h")

    with pytest.raises(UnknownUser):
        app.users.get("bob@example.com")


def test_a_malformed_email_is_an_unknown_user(app: Platform) -> None:
    with pytest.raises(UnknownUser):
        app.users.get("not-an-email")


def test_rotating_a_secret_through_the_app(app: Platform) -> None:
    app.users.register(EMAIL, UserRole.USER, "old")

    app.users.rotate_secret("Alice@Example.com", "new")

    assert app.users.get(EMAIL).secret_hash == "new"
    assert head(app) == 2


def test_rotating_the_secret_of_an_unknown_user_writes_nothing(app: Platform) -> None:
    with pytest.raises(UnknownUser):
        app.users.rotate_secret(EMAIL, "new")

    assert head(app) == 0


# --- removal, registering again, generations ------------------------------------------------------


def test_removing_records_it_and_moves_the_generation_on() -> None:
    user = User.register(EMAIL, UserRole.USER, "h")
    assert (user.generation, user.removed) == (1, False)
    user.rotate_secret("h2")
    assert user.generation == 2
    user.collect_events()

    user.remove()

    (removed,) = user.collect_events()
    assert isinstance(removed, User.Removed)
    assert (user.removed, user.generation) == (True, 3)


def test_a_removed_user_is_used_for_nothing() -> None:
    user = User.register(EMAIL, UserRole.USER, "h")
    user.remove()
    user.collect_events()

    with pytest.raises(UserRemoved):
        user.rotate_secret("h2")
    with pytest.raises(UserRemoved):
        user.remove()
    assert user.collect_events() == []


def test_removed_and_registered_again_replays_to_the_same_user() -> None:
    user = User.register(EMAIL, UserRole.USER, "h")
    user.remove()
    user.reregister(UserRole.OPERATOR, "h2")

    rebuilt = functools.reduce(lambda agg, e: e.mutate(agg), user.collect_events(), None)

    assert rebuilt == user
    assert (user.role, user.secret_hash, user.removed, user.generation) == (UserRole.OPERATOR, "h2", False, 3)


def test_removing_through_the_app(app: Platform) -> None:
    app.users.register(EMAIL, UserRole.USER, "h")

    removed = app.users.remove("ALICE@example.com")

    assert removed.removed and head(app) == 2
    with pytest.raises(UnknownUser):  # a removed user is not found: no token, no grant
        app.users.get(EMAIL)
    found = app.users.find(EMAIL)
    assert found is not None and found.removed
    with pytest.raises(UserWasRemoved):
        app.users.remove(EMAIL)
    with pytest.raises(UserWasRemoved):
        app.users.rotate_secret(EMAIL, "new")
    assert head(app) == 2


def test_registering_a_removed_email_again_reinstates_it_at_a_new_generation(app: Platform) -> None:
    first = app.users.register(EMAIL, UserRole.USER, "h")
    app.users.remove(EMAIL)

    again = app.users.register(EMAIL, UserRole.OPERATOR, "h2")

    assert again.id == first.id and (again.role, again.removed, again.generation) == (UserRole.OPERATOR, False, 3)
    assert app.users.get(EMAIL).secret_hash == "h2"
    with pytest.raises(UserAlreadyExists):
        app.users.register(EMAIL, UserRole.USER, "h3")


def test_removing_an_unknown_user_writes_nothing(app: Platform) -> None:
    with pytest.raises(UnknownUser):
        app.users.remove(EMAIL)
    with pytest.raises(UnknownUser):
        app.users.remove("not-an-email")
    assert app.users.find("not-an-email") is None
    assert head(app) == 0
