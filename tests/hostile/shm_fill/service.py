"""Hostile fixture: fills /dev/shm (host RAM outside the address-space limit) and writes to / and /dev."""

import os

from simulation.sdk import Service

REPORT = []
held = []
block = b"\xab" * (1 << 20)
written = 0
try:
    for i in range(128):  # up to 1 GB in 8 MB files (each under the file-size limit), as much as it gets
        fd = os.open(f"/dev/shm/hog{i}", os.O_CREAT | os.O_WRONLY, 0o600)
        held.append(fd)  # kept open: the memory stays held while the service lives
        for _ in range(8):
            written += os.write(fd, block)
    REPORT.append(f"/dev/shm took {written >> 20} MB")
except OSError as exc:
    REPORT.append(f"/dev/shm refused after {written >> 20} MB ({os.strerror(exc.errno)})")
for path in ("/hog", "/dev/hog", "/usr/hog"):
    try:
        with open(path, "wb") as fh:
            fh.write(b"x")
        REPORT.append(f"{path} written")
    except OSError as exc:
        REPORT.append(f"{path} refused ({os.strerror(exc.errno)})")


class Hostile(Service):
    def deploy(self, site, params):
        raise RuntimeError("; ".join(REPORT))
