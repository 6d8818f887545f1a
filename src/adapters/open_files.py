"""The open-file limit of a serving node: every connected charger holds a socket, so it bounds the fleet.

``cloudbay serve`` raises its soft ``RLIMIT_NOFILE`` to the hard limit and says in its log when even that is
below what ``CLOUDBAY_EXPECTED_CHARGERS`` chargers need. A process allowed to (root, or ``CAP_SYS_RESOURCE``,
as in many containers) raises the hard limit itself to what the fleet needs, within the kernel's ceiling.
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path

log = logging.getLogger("cloudbay")

#: files a node holds besides its chargers' sockets: database pools, log files, the projector's pipes, clients
RESERVE = 256
NR_OPEN = Path("/proc/sys/fs/nr_open")  # the kernel's ceiling when the hard limit is unlimited


def needed(expected_chargers: int) -> int:
    return expected_chargers + RESERVE


def raise_limit(expected_chargers: int) -> int:
    """Raise this process's soft open-file limit as far as the hard limit allows, log what was done, and warn
    when the limit is below ``needed(expected_chargers)``; the limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed(expected_chargers):
        hard = _raise_hard(hard, min(needed(expected_chargers), _kernel_ceiling(hard)))
    ceiling = hard if hard != resource.RLIM_INFINITY else _kernel_ceiling(soft)
    if soft < ceiling:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, ceiling, e)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    hard_text = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    if limit < needed(expected_chargers):
        log.warning(
            "open-file limit (RLIMIT_NOFILE) is %d (hard limit %s), below the %d that CLOUDBAY_EXPECTED_CHARGERS=%d"
            " needs (one socket per charger plus %d): connections beyond it will fail; raise the hard limit"
            " (ulimit -Hn, systemd LimitNOFILE=, docker run --ulimit nofile=)",
            limit,
            hard_text,
            needed(expected_chargers),
            expected_chargers,
            RESERVE,
        )
    elif limit > soft:
        log.info("open-file limit (RLIMIT_NOFILE) raised from %d to %d (hard limit %s)", soft, limit, hard_text)
    return limit


def _raise_hard(hard: int, wanted: int) -> int:
    """The hard limit raised to ``wanted`` if this process may (else as it was): the hard limit in force."""
    if wanted <= hard:
        return hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    except (ValueError, OSError):
        return hard  # not allowed: the warning below names the limit
    log.info("open-file hard limit raised from %d to %d for the expected fleet", hard, wanted)
    return wanted


def _kernel_ceiling(soft: int) -> int:
    try:
        return max(soft, int(NR_OPEN.read_text()))
    except (OSError, ValueError):
        return max(soft, 1024 * 1024)
