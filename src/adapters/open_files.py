"""The open-file limit of a serving node: every connected charger holds a socket, so it bounds the fleet.

``cloudbay serve`` raises its soft ``RLIMIT_NOFILE`` to the hard limit (which only the system can raise) and
says in its log when even that is below what ``CLOUDBAY_EXPECTED_CHARGERS`` chargers need.
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


def _kernel_ceiling(soft: int) -> int:
    try:
        return max(soft, int(NR_OPEN.read_text()))
    except (OSError, ValueError):
        return max(soft, 1024 * 1024)
