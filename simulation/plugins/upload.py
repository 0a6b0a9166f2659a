"""Unpacking a plugin a company uploads as a zip: every check before anything lands on disk.

:func:`safe_unpack` refuses, with a message naming the zip and the rule broken, an archive that is
too large, has too many entries, would expand too much (decompression bomb), holds absolute paths,
``..`` components, symlinks or other special files, duplicate names, encrypted members, or not
exactly one ``plugin.yaml`` at its top (or in its single top folder). Only then is the manifest
validated (:func:`~simulation.plugins.manifest.load_manifest`, in a hidden staging folder next to
the destination), the rest unpacked with byte caps enforced while writing, the plugin folder
checked (:func:`~simulation.plugins.discovery.open_plugin`), and the staging folder renamed into
place as ``<name>-<code hash>``: a reader sees the whole plugin or nothing, and an existing plugin
is never overwritten. Nothing here imports plugin code.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from simulation.errors import MAX_MESSAGE_CHARS, PluginError, SandboxError, _cap
from simulation.plugins.manifest import ManifestError, load_manifest

__all__ = [
    "MAX_ENTRIES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "MAX_ZIP_BYTES",
    "UploadError",
    "safe_unpack",
]

MAX_ZIP_BYTES = 5 << 20  # the zip as uploaded
MAX_ENTRIES = 500
MAX_TOTAL_BYTES = 50 << 20  # everything unpacked (the same cap as a plugin folder, SETTINGS.max_plugin_mb)
MAX_RATIO = 100  # uncompressed / compressed, per member and for the whole archive
RATIO_FLOOR = 1 << 20  # members (and archives) smaller than this unpack harmlessly whatever their ratio
MAX_MANIFEST_BYTES = 256 << 10
_JUNK = ("__MACOSX/",)  # resource forks a macOS "Compress" adds; never part of a plugin
_JUNK_NAMES = {".DS_Store"}
_CHUNK = 1 << 16


class UploadError(PluginError):
    """An uploaded plugin zip was refused: names the zip, the member and the rule it broke."""

    def __init__(self, filename: str, msg: str) -> None:
        msg, filename = _cap(msg, MAX_MESSAGE_CHARS), _cap(filename, 200)
        SandboxError.__init__(self, f"{filename}: {msg}")
        self.plugin = filename
        self.msg = msg


def _mb(n: float) -> str:
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{n / 1024:.1f} KB"


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # normalised path components inside the zip
    is_dir: bool


def _member(info: zipfile.ZipInfo, filename: str) -> _Member | None:
    """Check one entry's name and type; None for macOS junk that is silently left out."""
    name = info.filename
    shown = repr(name)
    if not name or "\x00" in name:
        raise UploadError(filename, f"entry {shown} has an empty or NUL-containing name")
    if name.startswith(_JUNK) or PurePosixPath(name).name in _JUNK_NAMES:
        return None
    if "\\" in name:
        raise UploadError(filename, f"entry {shown} contains a backslash; zip paths use '/' (refused as unsafe)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(filename, f"entry {shown} is an absolute path; every path must be relative to the plugin")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UploadError(filename, f"entry {shown} contains '..' (path traversal): it would land outside the plugin")
    if not parts:
        raise UploadError(filename, f"entry {shown} names no file")
    if any(len(p.encode()) > 255 for p in parts) or len(parts) > 32:
        raise UploadError(filename, f"entry {shown} has a path component over 255 bytes or is nested over 32 deep")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise UploadError(filename, f"entry {shown} is a symbolic link; links are refused (ship the file itself)")
    is_dir = info.is_dir() or kind == stat.S_IFDIR
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UploadError(filename, f"entry {shown} is a special file (mode {oct(kind)}); only files and folders")
    if info.flag_bits & 0x1:
        raise UploadError(filename, f"entry {shown} is encrypted; upload an unencrypted zip")
    return _Member(info, parts, is_dir)


def _inspect(zip_bytes: bytes, filename: str) -> tuple[zipfile.ZipFile, list[_Member], int, str]:
    """Every check that needs only the bytes in memory; returns (zip, members, prefix length, manifest path)."""
    size = len(zip_bytes)
    if size > MAX_ZIP_BYTES:
        raise UploadError(filename, f"is {_mb(size)}; a plugin zip may be at most {_mb(MAX_ZIP_BYTES)}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadError(filename, f"is not a readable zip archive ({exc})") from None
    if len(infos) > MAX_ENTRIES:
        raise UploadError(filename, f"has {len(infos)} entries; a plugin zip may hold at most {MAX_ENTRIES}")
    members: list[_Member] = []
    seen: dict[tuple[str, ...], str] = {}
    total = 0
    for info in infos:
        m = _member(info, filename)
        if m is None:
            continue
        if m.parts in seen:
            raise UploadError(
                filename, f"entry {info.filename!r} duplicates {seen[m.parts]!r}; every path may appear only once"
            )
        seen[m.parts] = info.filename
        if not m.is_dir:
            total += info.file_size
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
                raise UploadError(
                    filename,
                    f"entry {info.filename!r} expands {ratio:,.0f}× ({_mb(info.compress_size)} to "
                    f"{_mb(info.file_size)}); more than {MAX_RATIO}× is refused as a decompression bomb",
                )
            if total > MAX_TOTAL_BYTES:
                raise UploadError(
                    filename, f"unpacks to more than {_mb(MAX_TOTAL_BYTES)}; a plugin may be at most that large"
                )
        members.append(m)
    if total > RATIO_FLOOR and total / max(1, size) > MAX_RATIO:
        raise UploadError(
            filename,
            f"expands {total / size:,.0f}× ({_mb(size)} to {_mb(total)}); more than {MAX_RATIO}× "
            "is refused as a decompression bomb",
        )
    files = {m.parts for m in members if not m.is_dir}
    for m in members:  # "a" as a file and "a/b" in the same zip cannot both be unpacked
        for k in range(1, len(m.parts)):
            if m.parts[:k] in files:
                raise UploadError(
                    filename, f"entry {m.info.filename!r} lies under {'/'.join(m.parts[:k])!r}, which is a file"
                )
    prefix, manifest = _manifest_location(members, filename)
    return zf, members, prefix, manifest


def _manifest_location(members: list[_Member], filename: str) -> tuple[int, str]:
    found = [m for m in members if not m.is_dir and m.parts[-1] == "plugin.yaml"]
    if not found:
        raise UploadError(filename, "holds no plugin.yaml; zip the plugin folder (plugin.yaml, its module, README.md)")
    if len(found) > 1:
        where = ", ".join("/".join(m.parts) for m in found[:5])
        raise UploadError(filename, f"holds {len(found)} plugin.yaml files ({where}); upload one plugin per zip")
    parts = found[0].parts
    if len(parts) > 2:
        raise UploadError(
            filename,
            f"has its plugin.yaml at {'/'.join(parts)}; it must be at the top of the zip or in its single top folder",
        )
    if len(parts) == 2:
        top = parts[0]
        outside = [m for m in members if m.parts[0] != top]
        if outside:
            raise UploadError(
                filename,
                f"has plugin.yaml in folder {top + '/'!r} but also {'/'.join(outside[0].parts)!r} outside it; "
                "everything must be inside the plugin folder",
            )
    return len(parts) - 1, "/".join(parts)


def _extract(zf: zipfile.ZipFile, m: _Member, target: Path, budget: list[int], filename: str) -> None:
    """Copy one member with byte caps enforced while writing (headers may lie about sizes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(m.info) as src, open(target, "xb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                budget[0] -= len(chunk)
                if written > m.info.file_size or budget[0] < 0:
                    raise UploadError(
                        filename, f"entry {m.info.filename!r} unpacks to more bytes than its header declares"
                    )
                dst.write(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error) as exc:
        raise UploadError(filename, f"entry {m.info.filename!r} cannot be unpacked ({str(exc)[:120]})") from None


def _manifest_error(filename: str, inner: str, exc: SandboxError, staging: Path) -> UploadError:
    if isinstance(exc, ManifestError):
        where = inner + (f", at {exc.key}" if exc.key else "")
        msg = exc.msg
    else:
        where, msg = inner, getattr(exc, "msg", str(exc))
    return UploadError(filename, f"{where}: {msg.replace(str(staging) + '/', '').replace(str(staging), '.')}")


def _sweep_staging(root: Path, older_than_s: float = 3600.0) -> None:
    """Remove staging folders an upload killed mid-way left behind (listings skip them anyway)."""
    for p in root.glob(".upload-*"):
        try:
            if time.time() - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            continue


def safe_unpack(zip_bytes: bytes, dest_root: str | Path, filename: str = "upload.zip") -> Path:
    """Check an uploaded plugin zip and unpack it into its own new folder under ``dest_root``.

    Args:
        zip_bytes: The zip as uploaded.
        dest_root: Folder that holds uploaded plugins (created if missing); the plugin lands in
            ``dest_root/<manifest name>-<code hash>/``. If that folder exists it holds the very same
            code, and it is returned untouched.
        filename: The uploaded file's name, used in every message.

    Returns:
        The plugin folder.

    Raises:
        UploadError: (a PluginError) naming ``filename``, the entry and the rule it broke; nothing
            is left on disk.
    """
    from simulation.plugins.discovery import open_plugin, reserved_names

    zf, members, prefix, inner = _inspect(zip_bytes, filename)
    root = Path(dest_root)
    root.mkdir(parents=True, exist_ok=True)
    _sweep_staging(root)
    staging = root / f".upload-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        budget = [MAX_TOTAL_BYTES]
        manifest = next(m for m in members if "/".join(m.parts) == inner)
        if manifest.info.file_size > MAX_MANIFEST_BYTES:
            raise UploadError(filename, f"{inner} is {_mb(manifest.info.file_size)}; a manifest is a few KB")
        _extract(zf, manifest, staging / "plugin.yaml", budget, filename)
        try:  # the manifest alone first: a bad one costs no further writes
            declared = load_manifest(staging / "plugin.yaml", check_entry=False)
        except SandboxError as exc:
            raise _manifest_error(filename, inner, exc, staging) from None
        taken = reserved_names().get(declared.name)
        if taken:
            raise UploadError(
                filename,
                f"{inner}, at name: {declared.name!r} is the name of {taken}; an upload may not shadow a "
                "shipped, built-in or installed service: give it a name of its own",
            )
        for m in members:
            rel = m.parts[prefix:]
            if m is manifest or not rel:
                continue
            if m.is_dir:
                (staging.joinpath(*rel)).mkdir(parents=True, exist_ok=True)
            else:
                _extract(zf, m, staging.joinpath(*rel), budget, filename)
        try:
            plugin = open_plugin(staging, origin="uploaded")
            final = root / f"{plugin.name}-{plugin.code_hash}"
        except SandboxError as exc:
            raise _manifest_error(filename, inner, exc, staging) from None
        if final.exists():
            shutil.rmtree(staging)
            return final
        try:
            os.replace(staging, final)  # atomic; fails rather than replace a non-empty folder
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(staging)  # the same code arrived from another session at the same moment
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
