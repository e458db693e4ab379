"""A real OpenSSH server for the SFTP tests, per /work/shared/SFTP-TESTING.md.

One key folder per test session (``mkdtemp``, mode 0755: pytest's tmp_path is 0700 and
sshd's user could not read it), keys generated now and never committed, the ``gwtest``
system user, ``ForceCommand internal-sftp -d HOME`` on 127.0.0.1 and a free port. Each
server is stopped by its own PID (and its session processes with it).

Without /usr/sbin/sshd the tests are skipped, unless ``GATEWAY_REQUIRE_SSHD=1`` (CI), where
they fail: a CI run must never pass by skipping them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
USER = "gwtest"


def require_sshd() -> None:
    """Skip (or fail, under GATEWAY_REQUIRE_SSHD=1) when a real sshd cannot be run."""
    reason = None
    if not SSHD.exists():
        reason = f"{SSHD} is missing (apt-get install -y openssh-server)"
    elif os.geteuid() != 0:
        reason = "sshd tests need root (to start sshd and the gwtest user)"
    if reason is None:
        return
    if os.environ.get("GATEWAY_REQUIRE_SSHD") == "1":
        pytest.fail(f"GATEWAY_REQUIRE_SSHD=1 but {reason}", pytrace=False)
    pytest.skip(f"no real SFTP server: {reason}")


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Processes started by ``pid`` (sshd's per-connection sessions), children first."""
    out: list[int] = []
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for kid in map(int, kids):
        out += descendants(kid) + [kid]
    return out


@dataclass
class Keys:
    """What every server and client of the session shares."""

    dir: Path
    uid: int
    gid: int

    @property
    def host_key(self) -> Path:
        return self.dir / "host"

    @property
    def client_key(self) -> Path:
        return self.dir / "client"

    @property
    def encrypted_client_key(self) -> Path:
        return self.dir / "client_enc"

    passphrase: str = "correct horse battery staple"

    def host_fingerprint(self) -> str:
        return self.fingerprint(Path(str(self.host_key) + ".pub"))

    @staticmethod
    def fingerprint(pub: Path) -> str:
        """As OpenSSH itself prints it (``ssh-keygen -lf``)."""
        return _run("ssh-keygen", "-lf", str(pub)).split()[1]

    def known_hosts(self, port: int, key_pub: Path | None = None) -> Path:
        pub = (key_pub or Path(str(self.host_key) + ".pub")).read_text().split()
        path = self.dir / f"known_hosts_{port}_{(key_pub or self.host_key).name}"
        path.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
        return path

    def other_key_pub(self) -> Path:
        """Another server's host key: what a replaced (or impostor) server offers."""
        other = self.dir / "other_host"
        if not other.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other))
        return Path(str(other) + ".pub")

    def folder(self, home: Path, *parts: str) -> Path:
        """A folder on the server, owned by the test user (who must write in it)."""
        path = home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        for p in [path, *path.parents]:
            if p == home.parent:
                break
            os.chown(p, self.uid, self.gid)
        return path

    def put(self, path: Path, data: bytes) -> Path:
        """A file a partner left on the server (written directly, as root)."""
        path.write_bytes(data)
        os.chown(path, self.uid, self.gid)
        return path


def make_keys() -> Keys:
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER)
        pw = pwd.getpwnam(USER)
    _run("usermod", "-p", "*", USER)  # '!' (locked) is refused with UsePAM=no
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="gw-sshd-"))
    d.chmod(0o755)
    keys = Keys(d, pw.pw_uid, pw.pw_gid)
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys.host_key))
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys.client_key))
    _run("ssh-keygen", "-q", "-t", "ecdsa", "-N", keys.passphrase, "-f",
         str(keys.encrypted_client_key))
    (d / "authorized_keys").write_text(
        Path(str(keys.client_key) + ".pub").read_text()
        + Path(str(keys.encrypted_client_key) + ".pub").read_text())
    return keys


@dataclass
class Sshd:
    keys: Keys
    home: Path
    port: int
    sftp_flags: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.keys.dir / f"sshd_{self.port}.log"

    def start(self) -> Sshd:
        """Start (or start again, on the same port) and wait until it listens."""
        k = self.keys
        cmd = [str(SSHD), "-D", "-e", "-f", "/dev/null", "-o", f"Port={self.port}",
               "-o", "ListenAddress=127.0.0.1", "-o", f"HostKey={k.host_key}",
               "-o", "PidFile=none", "-o", f"AuthorizedKeysFile={k.dir / 'authorized_keys'}",
               "-o", "StrictModes=no", "-o", "PasswordAuthentication=no",
               "-o", "KbdInteractiveAuthentication=no", "-o", f"AllowUsers={USER}",
               "-o", "Subsystem=sftp internal-sftp",
               "-o", f"ForceCommand=internal-sftp {self.sftp_flags} -d {self.home}".replace(
                   "  ", " "),
               "-o", "AllowTcpForwarding=no"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited {self.proc.returncode}: "
                                   + self.log.read_text(errors="replace"))
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.02)
        raise RuntimeError("sshd did not listen within 10 s: " + self.log.read_text())

    def stop(self) -> None:
        """Stop the listener and every session it started, by their PIDs."""
        if self.proc is None:
            return
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def sessions(self) -> list[int]:
        return descendants(self.proc.pid) if self.proc else []

    def signal_sessions(self, sig: int) -> None:
        """``SIGSTOP`` freezes the open sessions (a hung server), ``SIGCONT`` thaws them."""
        for pid in self.sessions():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def start_sshd(keys: Keys, *, sftp_flags: str = "") -> Sshd:
    home = keys.folder(Path(tempfile.mkdtemp(prefix="gw-home-", dir=keys.dir)))
    return Sshd(keys, home, free_port(), sftp_flags).start()


def cleanup(keys: Keys) -> None:
    shutil.rmtree(keys.dir, ignore_errors=True)
