"""Writing a file so that a reader sees the old one or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would give (0666 less the umask),
    not the private 0600 of a temporary file.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: The project checkout (the folder holding ``simulation/``, ``scenarios/``, ``districts/``).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_path(path: str | Path) -> Path:
    """``path`` as given when it exists from the current folder, else the same relative path in the project.

    So ``scenarios/x.yaml`` or ``districts/seongsu`` work from any folder once the package is installed
    (editable, from the checkout).
    """
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    cand = PROJECT_ROOT / p
    return cand if cand.exists() else p
