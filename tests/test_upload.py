"""Uploaded plugin zips: every hostile archive is refused by name and rule, and nothing lands on disk."""

from __future__ import annotations

import io
import json
import re
import stat
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from simulation.errors import PluginError
from simulation.jobs import checks as checkjob
from simulation.plugins.manifest import load_manifest
from simulation.plugins.upload import MAX_ENTRIES, UploadError, safe_unpack

EXAMPLE = ROOT / "plugins" / "clearsight_ai_cctv"


def make_zip(entries: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``name -> content`` (written as given: no path cleaning)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


UPLOADED_NAME = "acme_ai_cctv"  # the shipped example under a name of its own: uploads may not shadow shipped names


def plugin_entries(prefix: str = "clearsight_ai_cctv/", folder: Path = EXAMPLE) -> dict[str, bytes]:
    out = {prefix + p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = prefix + "plugin.yaml"
    if folder == EXAMPLE and manifest in out:
        out[manifest] = out[manifest].replace(b"name: clearsight_ai_cctv\n", f"name: {UPLOADED_NAME}\n".encode())
    return out


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "store" / "plugins"


def assert_refused(data: bytes, dest: Path, match: str, filename: str = "evil.zip") -> None:
    with pytest.raises(UploadError, match=match) as info:
        safe_unpack(data, dest, filename=filename)
    assert str(info.value).startswith(f"{filename}: ")
    assert isinstance(info.value, PluginError)
    assert not dest.exists() or not any(dest.iterdir()), "a refused upload must leave nothing behind"


def test_good_zip_unpacks_into_its_own_folder_and_loads(dest):
    folder = safe_unpack(make_zip(plugin_entries()), dest, filename="clearsight.zip")
    assert folder.parent == dest
    assert folder.name.startswith(f"{UPLOADED_NAME}-")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "plugin.yaml", "service.py"]
    m = load_manifest(folder)
    assert (m.vendor, m.trl) == ("Clearsight Analytics Co., Ltd.", 7)
    assert [p.name for p in dest.iterdir()] == [folder.name]  # no staging folder left over


def test_zip_of_folder_contents_works_too(dest):
    folder = safe_unpack(make_zip(plugin_entries(prefix="")), dest)
    assert (folder / "service.py").read_bytes() == (EXAMPLE / "service.py").read_bytes()


def test_same_code_again_returns_the_existing_folder_untouched(dest):
    data = make_zip(plugin_entries())
    first = safe_unpack(data, dest)
    (first / "service.py").write_text("# edited on disk")
    again = safe_unpack(data, dest)
    assert again == first
    assert (first / "service.py").read_text() == "# edited on disk"  # never overwritten
    assert [p.name for p in dest.iterdir()] == [first.name]


def test_changed_code_gets_a_new_folder(dest):
    entries = plugin_entries()
    a = safe_unpack(make_zip(entries), dest)
    entries["clearsight_ai_cctv/README.md"] += b"\nv2\n"
    b = safe_unpack(make_zip(entries), dest)
    assert a != b and a.is_dir() and b.is_dir()


def test_path_traversal_refused(dest):
    data = make_zip(plugin_entries() | {"clearsight_ai_cctv/../evil.py": "import os"})
    assert_refused(data, dest, r"'clearsight_ai_cctv/\.\./evil\.py' contains '\.\.' \(path traversal\)")


def test_leading_dotdot_refused(dest):
    assert_refused(make_zip({"../evil.py": "x", **plugin_entries()}), dest, r"'\.\./evil\.py' contains '\.\.'")


def test_absolute_path_refused(dest):
    data = make_zip(plugin_entries() | {"/etc/cron.d/evil": "x"})
    assert_refused(data, dest, r"'/etc/cron\.d/evil' is an absolute path")


def test_symlink_refused(dest):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in plugin_entries().items():
            z.writestr(name, data)
        link = zipfile.ZipInfo("clearsight_ai_cctv/secrets")
        link.create_system = 3  # Unix
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    assert_refused(buf.getvalue(), dest, r"'clearsight_ai_cctv/secrets' is a symbolic link")


def test_decompression_bomb_refused(dest):
    bomb = b"\0" * (20 << 20)  # 20 MB of zeros: about 20 KB compressed
    data = make_zip(plugin_entries() | {"clearsight_ai_cctv/weights.bin": bomb})
    assert len(data) < 1 << 20
    assert_refused(data, dest, r"'clearsight_ai_cctv/weights\.bin' expands [\d,]+× .* decompression bomb")


def test_too_large_uncompressed_refused(dest):
    # 60 members of 1 MB zeros: each under the ratio floor, a small zip, but 60 MB unpacked
    many = {f"clearsight_ai_cctv/data/{i}.bin": b"\0" * (1 << 20) for i in range(60)}
    data = make_zip(plugin_entries() | many)
    assert len(data) < 1 << 20
    assert_refused(data, dest, r"unpacks to more than 50\.0 MB")


def test_oversize_zip_refused(dest):
    import os

    data = make_zip(plugin_entries() | {"clearsight_ai_cctv/noise.bin": os.urandom(6 << 20)})
    assert_refused(data, dest, r"is 6\.\d MB; a plugin zip may be at most 5\.0 MB")


def test_too_many_entries_refused(dest):
    many = {f"clearsight_ai_cctv/data/{i}.txt": "x" for i in range(MAX_ENTRIES + 1)}
    assert_refused(make_zip(plugin_entries() | many), dest, rf"has {MAX_ENTRIES + 4} entries; .* at most {MAX_ENTRIES}")


def test_no_manifest_refused(dest):
    entries = {k: v for k, v in plugin_entries().items() if not k.endswith("plugin.yaml")}
    assert_refused(make_zip(entries), dest, "holds no plugin.yaml")


def test_two_manifests_refused(dest):
    data = make_zip(plugin_entries("a/") | plugin_entries("b/"))
    assert_refused(data, dest, r"holds 2 plugin\.yaml files \(a/plugin\.yaml, b/plugin\.yaml\)")


def test_nested_manifest_refused(dest):
    assert_refused(make_zip(plugin_entries("x/y/")), dest, r"plugin\.yaml at x/y/plugin\.yaml; it must be at the top")


def test_files_outside_the_top_folder_refused(dest):
    data = make_zip(plugin_entries() | {"other/run.py": "x"})
    assert_refused(data, dest, r"'other/run\.py' outside it")


def test_duplicate_names_refused(dest):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in plugin_entries().items():
            z.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("clearsight_ai_cctv/service.py", "evil = True")
    assert_refused(buf.getvalue(), dest, r"duplicates 'clearsight_ai_cctv/service\.py'")


def test_bad_manifest_refused_naming_the_key(dest):
    entries = plugin_entries()
    text = entries["clearsight_ai_cctv/plugin.yaml"].decode().replace("trl: 7", "trl: 12")
    data = make_zip(entries | {"clearsight_ai_cctv/plugin.yaml": text})
    assert_refused(data, dest, r"evil\.zip: clearsight_ai_cctv/plugin\.yaml, at trl: .*less than or equal to 9")


def test_manifest_not_yaml_refused(dest):
    data = make_zip(plugin_entries() | {"clearsight_ai_cctv/plugin.yaml": "name: [unclosed"})
    assert_refused(data, dest, r"clearsight_ai_cctv/plugin\.yaml: .*not valid YAML")


def test_missing_entry_module_refused(dest):
    entries = {k: v for k, v in plugin_entries().items() if not k.endswith("service.py")}
    assert_refused(make_zip(entries), dest, r"at entry: module 'service' not found in the plugin folder")


def test_not_a_zip_refused(dest):
    assert_refused(b"PK\x03\x04 but not really", dest, "is not a readable zip archive")


def test_macos_junk_is_left_out(dest):
    data = make_zip(plugin_entries() | {"__MACOSX/clearsight_ai_cctv/._plugin.yaml": "junk", ".DS_Store": "x"})
    folder = safe_unpack(data, dest)
    assert not (folder / "__MACOSX").exists()


@pytest.mark.slow
def test_uploaded_plugin_is_checked_in_a_background_worker(dest, tiny_district, tmp_path):
    """Upload → check-plugin in a worker (tiny district, 10 minutes) → a report in STORE/conformance."""
    folder = safe_unpack(make_zip(plugin_entries()), dest)
    store = dest.parent
    job = checkjob.start_check(folder, store, districts=[str(tiny_district)], duration="10m")
    deadline = time.monotonic() + 120
    while not (s := checkjob.check_status(store, job)).finished:
        assert time.monotonic() < deadline, s
        time.sleep(0.2)
    assert s.state == "done", s.message
    code_hash = folder.name.rsplit("-", 1)[1]
    doc, current = checkjob.latest_report(store, UPLOADED_NAME, code_hash)
    assert current and doc["conforms"] is True, doc
    assert doc["code_hash"] == code_hash and doc["runs"][0]["district"] == "tiny"
    assert s.message == "conforms: every check passed"


@pytest.mark.slow
def test_a_failing_plugin_gets_a_failed_report(tmp_path, tiny_district):
    """A plugin whose module cannot be imported: the check finishes and records why it does not conform."""
    store = tmp_path / "store"
    folder = ROOT / "tests" / "hostile" / "import_error"
    job = checkjob.start_check(folder, store, districts=[str(tiny_district)], duration="10m")
    deadline = time.monotonic() + 120
    while not (s := checkjob.check_status(store, job)).finished:
        assert time.monotonic() < deadline, s
        time.sleep(0.2)
    assert s.state == "done" and s.message.startswith("does not conform: 1 check(s) failed (imports in the sandbox")
    [report] = (store / "conformance").glob("*.json")
    doc = json.loads(report.read_text())
    assert doc["conforms"] is False
    assert [c["name"] for c in doc["checks"] if not c["passed"]] == ["imports in the sandbox"]


@pytest.mark.parametrize(
    ("name", "taken_by"),
    [
        ("clearsight_ai_cctv", "the shipped plugin plugins/clearsight_ai_cctv"),
        ("lumen_adaptive_lighting", "the shipped plugin plugins/lumen_adaptive_lighting"),
        ("cctv_monitoring", "a built-in service"),
    ],
)
def test_an_upload_may_not_shadow_a_shipped_or_builtin_name(dest, name, taken_by):
    entries = plugin_entries()
    key = "clearsight_ai_cctv/plugin.yaml"
    entries[key] = entries[key].replace(f"name: {UPLOADED_NAME}".encode(), f"name: {name}".encode())
    assert_refused(
        make_zip(entries), dest, rf"at name: '{name}' is the name of {re.escape(taken_by)}; an upload may not"
    )


def test_an_upload_may_not_shadow_an_installed_service(dest, monkeypatch):
    import simulation.plugins.discovery as discovery

    monkeypatch.setattr(discovery, "installed_plugins", lambda: {UPLOADED_NAME: "acme_pkg:Service"})
    assert_refused(make_zip(plugin_entries()), dest, r"is the name of the installed service 'acme_ai_cctv'")


def test_a_hostile_manifest_in_an_upload_is_refused_fast_and_briefly(dest):
    for fixture, pattern in (
        ("alias_bomb", r"uses an alias \(\*a0\); aliases are not allowed"),
        ("timestamp_tag", r"uses the tag '!!timestamp'; only plain values are allowed"),
    ):
        folder = ROOT / "tests" / "hostile" / fixture
        t0 = time.monotonic()
        with pytest.raises(UploadError, match=pattern) as info:
            safe_unpack(make_zip(plugin_entries(f"{fixture}/", folder)), dest, filename="evil.zip")
        assert time.monotonic() - t0 < 5 and len(str(info.value)) < 400
        assert not dest.exists() or not any(dest.iterdir())
