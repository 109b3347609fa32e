"""Which address a local server may listen on: loopback unless the operator says otherwise.

Shared by the offline exchange and the exporter (neither has authentication), and kept
free of heavy imports so that a CLI can check its ``--host`` before loading anything.
"""

from __future__ import annotations

import ipaddress

from app.errors import ConfigError


def check_host(host: str, allow_remote: bool, *, what: str = "the offline exchange") -> None:
    """Refuse a non-loopback address unless the operator asked for it explicitly.

    ``what`` names the server in the message.
    """
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"--host {host!r} is not an IP address; use 127.0.0.1 (default) or an address of "
            "this machine"
        ) from None
    if not address.is_loopback and not allow_remote:
        raise ConfigError(
            f"--host {host} is not a loopback address; {what} binds loopback only. "
            "Pass --allow-remote to expose it on another interface (it has no authentication)."
        )
