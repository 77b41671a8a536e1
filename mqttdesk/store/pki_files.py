"""The built-in CA's files in the data directory (`pki/`, mode 0700): the CA certificate and key, the server's
certificate and key, and the CA's CRL.

Private keys are created mode 0600 from their first byte (never chmod-ed after writing); every file is replaced
atomically, so a broker reading it while the CLI writes sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PKI_DIRNAME = "pki"
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
CA_CRL = "ca.crl"
PRIVATE = 0o600
PUBLIC = 0o644


class PkiFiles:
    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / PKI_DIRNAME

    def path(self, name: str) -> Path:
        return self.directory / name

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def read(self, name: str) -> bytes | None:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes, mode: int) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        return write_file(self.path(name), data, mode)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()


def write_file(path: Path, data: bytes, mode: int, *, replace: bool = True) -> Path:
    """Write `data` to `path` with exactly `mode` (the umask does not widen or narrow it), atomically.

    With `replace=False` an existing file is an error (FileExistsError) rather than overwritten.
    """
    if not replace and path.exists():
        raise FileExistsError(17, "file exists", str(path))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return path
