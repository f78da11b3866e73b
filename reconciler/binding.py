"""What a listening socket that could not be opened means, said for people: the address, why
(taken, not this machine's, a privileged port, a host name that does not resolve) and what to
do, with the option that chooses another address. Used by ``reconcile sandbox`` (``--host``,
``--port``) and the daemon (``--listen``). Nothing here does I/O."""

from __future__ import annotations

import errno
import socket


def is_bind_error(error: OSError) -> bool:
    """Whether ``error`` came from opening a listening socket rather than from a file (a file's
    error names it; a socket's names none)."""
    return isinstance(error, socket.gaierror) or (
        error.filename is None and error.errno in _EXPLAINED
    )


_EXPLAINED = {
    errno.EADDRINUSE: "the address is already in use (another `reconcile sandbox` or daemon,"
    " or another program, listens there); stop it, or",
    errno.EADDRNOTAVAIL: "the host is not an address of this machine;",
    errno.EACCES: "permission denied (a port below 1024 needs privileges);",
}


def cannot_listen(address: str, error: OSError, choose: str) -> str:
    """``cannot listen on HOST:PORT: <why>; <what to do> choose another address with
    <choose>``."""
    if isinstance(error, socket.gaierror):
        why = f"the host name does not resolve ({error.strerror or error});"
    else:
        why = _EXPLAINED.get(error.errno or 0, f"{error.strerror or error};")
    return f"cannot listen on {address}: {why} choose another address with {choose}"
