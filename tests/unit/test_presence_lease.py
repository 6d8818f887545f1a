"""Closing stale sessions (docs/architecture.md "Presence"): only the session the named node holds, only once."""

from __future__ import annotations

from services.platform import Platform


def test_close_stale_closes_only_the_session_of_that_node_not_kept() -> None:
    with Platform.from_env() as platform:
        chargers = platform.chargers
        chargers.whitelist("CB-L1", "default")
        chargers.connected("CB-L1", "s1", "node-a")
        assert not chargers.close_stale("CB-L1", "node-b", set(), "node node-b stopped renewing its lease")
        assert not chargers.close_stale("CB-L1", "node-a", {"s1"}, "node node-a restarted")
        assert chargers.get("CB-L1").presence.value == "online"
        assert chargers.close_stale("CB-L1", "node-a", set(), "node node-a restarted")
        charger = chargers.get("CB-L1")
        assert charger.presence.value == "offline" and charger.node is None
        assert not chargers.close_stale("CB-L1", "node-a", set(), "again")  # recorded once
        assert not chargers.disconnected("CB-L1", "s1", "closed")  # the late disconnect of s1 records nothing


def test_reopen_records_connected_only_while_no_other_session_is_open() -> None:
    with Platform.from_env() as platform:
        chargers = platform.chargers
        chargers.whitelist("CB-L2", "default")
        chargers.connected("CB-L2", "s1", "node-a")
        assert not chargers.reopen("CB-L2", "s1", "node-a")
        chargers.close_stale("CB-L2", "node-a", set(), "swept")
        assert chargers.reopen("CB-L2", "s1", "node-a")
        assert chargers.get("CB-L2").session_id == "s1"
