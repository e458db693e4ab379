"""``type = "sftp"`` endpoints in gateway.toml: parsed, checked, and every error names its
key. No server needed; the connection itself is tested in test_sftp.py."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from gateway.config import SftpSettings, load
from gateway.errors import ConfigError
from gateway.pipeline.context import open_transport
from gateway.transports.local import LocalTransport
from gateway.transports.sftp import SftpTransport

from tests import sshd

FP = "SHA256:" + "A" * 42 + "E"


def write(tmp_path: Path, endpoint: str) -> Path:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[endpoints.local_in]\npath = "inbox"\n\n[endpoints.erp]\n' + endpoint
                   + "\n[channels]\n", encoding="utf-8")
    return cfg


def error(tmp_path: Path, endpoint: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, endpoint))
    return err.value


MINIMAL = f'type = "sftp"\nhost = "erp.example.com"\nuser = "gw"\npath = "/export/stock/"\n' \
          f'key_file = "keys/id_ed25519"\nhost_key_fingerprint = "{FP}"\n'


def test_sftp_endpoint_with_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL))
    ep = cfg.endpoints["erp"]
    assert (ep.type, ep.path) == ("sftp", PurePosixPath("/export/stock"))
    assert ep.sftp == SftpSettings(
        host="erp.example.com", user="gw", path="/export/stock", port=22,
        key_file=tmp_path / "keys/id_ed25519", host_key_fingerprint=FP,
        connect_timeout=10.0, transfer_timeout=600.0)
    assert cfg.endpoints["local_in"].path == tmp_path / "inbox"
    assert cfg.endpoints["local_in"].sftp is None
    t = open_transport(ep)
    assert isinstance(t, SftpTransport)
    assert t.describe() == "sftp://gw@erp.example.com:22/export/stock"
    assert t._ssh is None  # nothing connects before the first use
    assert isinstance(open_transport(cfg.endpoints["local_in"]), LocalTransport)


def test_sftp_endpoint_with_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_SFTP_PASSWORD", "s3cret")
    cfg = load(write(tmp_path, 'type = "sftp"\nhost = "10.0.0.5"\nport = 2222\nuser = "gw"\n'
                     'password = "${ERP_SFTP_PASSWORD}"\nknown_hosts = "/etc/gw/known_hosts"\n'
                     'path = "export"\nconnect_timeout = "3s"\ntransfer_timeout = "1h"\n'))
    s = cfg.endpoints["erp"].sftp
    assert s is not None
    assert (s.port, s.password, s.key_file, s.known_hosts, s.host_key_fingerprint, s.path,
            s.connect_timeout, s.transfer_timeout) == (
        2222, "s3cret", None, Path("/etc/gw/known_hosts"), None, "export", 3.0, 3600.0)
    assert "s3cret" not in repr(s)  # secrets stay out of logs
    assert SftpTransport("erp", s).describe() == "sftp://gw@10.0.0.5:2222/~/export"


def test_host_key_verification_is_required(tmp_path: Path) -> None:
    err = error(tmp_path, MINIMAL.replace(f'host_key_fingerprint = "{FP}"\n', ""))
    assert err.key == "endpoints.erp.host_key_fingerprint"
    assert str(err) == (f"{tmp_path / 'gateway.toml'}: endpoints.erp.host_key_fingerprint: the "
                        "server's host key must be verified: give known_hosts or "
                        "host_key_fingerprint")
    assert err.hint == ("'ssh-keyscan -p 22 erp.example.com | ssh-keygen -lf -' prints the "
                        "server's fingerprints; confirm one with its administrator, then write "
                        'host_key_fingerprint = "SHA256:…" (or known_hosts = '
                        '"/path/to/known_hosts")')


@pytest.mark.parametrize(("change", "key", "message"), [
    (('key_file = "keys/id_ed25519"\n', ""), "endpoints.erp.key_file",
     "give key_file or password"),
    (('key_file = "keys/id_ed25519"\n', 'key_file = "k"\npassword = "p"\n'),
     "endpoints.erp.password", "give key_file or password, not both"),
    (('key_file = "keys/id_ed25519"\n', 'password = "p"\nkey_passphrase = "x"\n'),
     "endpoints.erp.key_passphrase", "key_passphrase needs a key_file"),
    (("user = ", 'known_hosts = "kh"\nuser = '), "endpoints.erp.host_key_fingerprint",
     "give known_hosts or host_key_fingerprint, not both"),
    ((f'"{FP}"', '"MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"'),
     "endpoints.erp.host_key_fingerprint",
     "'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48' is not an OpenSSH SHA256 "
     "fingerprint"),
    (('host = "erp.example.com"\n', ""), "endpoints.erp.host", "missing required key"),
    (('user = "gw"\n', ""), "endpoints.erp.user", "missing required key"),
    (('path = "/export/stock/"\n', 'path = ""\n'), "endpoints.erp.path", "must not be empty"),
    (("user = ", "port = 70000\nuser = "), "endpoints.erp.port", "70000 is not a TCP port"),
    (("user = ", 'port = "22"\nuser = '), "endpoints.erp.port", "expected int, found str '22'"),
    (("user = ", 'transfer_timeout = "0s"\nuser = '), "endpoints.erp.transfer_timeout",
     "must be more than 0"),
    (("user = ", 'connect_timeout = "soon"\nuser = '), "endpoints.erp.connect_timeout",
     "'soon' is not a duration"),
    (("user = ", 'hots = "x"\nuser = '), "endpoints.erp.hots", "unknown key 'hots'"),
    (('type = "sftp"', 'type = "ftp"'), "endpoints.erp.type",
     "endpoint type 'ftp' is not supported"),
])
def test_sftp_config_errors_name_their_key(tmp_path: Path, change: tuple[str, str], key: str,
                                           message: str) -> None:
    assert change[0] in MINIMAL
    err = error(tmp_path, MINIMAL.replace(*change))
    assert err.key == key
    assert str(err) == f"{tmp_path / 'gateway.toml'}: {key}: {message}"


def test_fingerprint_with_padding_is_normalised(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL.replace(FP, FP + "=")))
    assert cfg.endpoints["erp"].sftp.host_key_fingerprint == FP  # type: ignore[union-attr]


def test_missing_sshd_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(sshd, "SSHD", tmp_path / "no-sshd")
    monkeypatch.delenv("GATEWAY_REQUIRE_SSHD", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        sshd.require_sshd()
    assert str(skipped.value) == (f"no real SFTP server: {tmp_path / 'no-sshd'} is missing "
                                  "(apt-get install -y openssh-server)")
    monkeypatch.setenv("GATEWAY_REQUIRE_SSHD", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        sshd.require_sshd()
    assert str(failed.value) == (f"GATEWAY_REQUIRE_SSHD=1 but {tmp_path / 'no-sshd'} is "
                                 "missing (apt-get install -y openssh-server)")


def test_the_readme_example_is_a_valid_configuration(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"### SFTP endpoints.*?```toml\n(.*?)```", readme, re.S)
    assert block is not None
    monkeypatch.setenv("ERP_KEY_PASSPHRASE", "pass")
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(block.group(1) + "\n[channels]\n", encoding="utf-8")
    s = load(cfg).endpoints["erp_in"].sftp
    assert s == SftpSettings(
        host="erp.example.com", user="gateway", path="/export/stock", port=22,
        key_file=Path("/etc/gateway/id_ed25519"), key_passphrase="pass",
        host_key_fingerprint="SHA256:Nn4IG9qNq2wMQ2BZFvvOh1RDH6w3uDJ0Yp3N5a0Kpl8",
        connect_timeout=10.0, transfer_timeout=600.0)
