"""SFTP folder endpoint (paramiko): the same contract as a local folder, over SSH.

* The connection is made on first use and dropped on any failure; the next call makes a
  new one. Every network or server error becomes ``TransientError`` (Rule 4: retried).
* The host key is always verified, by a known_hosts file or a pinned ``SHA256:``
  fingerprint, *before* any credential is sent. An unknown or changed key raises
  ``HostKeyError``, whose message gives the offered fingerprint and the line to pin it:
  retrying cannot fix it, an operator must look. Keys are never added automatically.
* paramiko's own timeouts do not always fire (a frozen server): every download and upload
  has a deadline of its own, a watchdog that cuts the connection when it passes, and every
  request fails after ``connect_timeout`` of server silence.
* Outputs are written to ``.NAME.part``, checked (size), then renamed into place with
  ``posix-rename@openssh.com`` when the server offers it (atomic overwrite), else removed
  and renamed (Rule 2).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import posixpath
import socket
import stat as stat_mod
import threading
from collections.abc import Iterator
from typing import BinaryIO

import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_EXTENDED, CMD_HANDLE, CMD_INIT, CMD_NAME, \
    CMD_OPENDIR, CMD_READDIR, CMD_VERSION, SFTPError
from paramiko.sftp_attr import SFTPAttributes

from ..config import SftpSettings
from ..errors import HostKeyError, TransientError
from ..model import Folder, SettleMode
from .base import is_entry_name
from .local import safe_name
from .readiness import Entry

log = logging.getLogger("gateway.sftp")

CHUNK = 1 << 20
POSIX_RENAME = b"posix-rename@openssh.com"
FSYNC = b"fsync@openssh.com"
# what a lost, refused or frozen connection raises (socket.timeout and paramiko's
# NoValidConnectionsError are OSErrors; SFTP status errors are OSErrors too)
NETWORK_ERRORS = (OSError, EOFError, paramiko.SSHException)


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…`` exactly as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _Client(paramiko.SFTPClient):
    """paramiko's client, keeping what it drops: the server's extensions, raw file names."""

    extensions: dict[bytes, bytes]

    def _send_version(self) -> int:
        # as paramiko's, but the extension pairs after the version are kept
        m = paramiko.Message()
        m.add_int(3)
        self._send_packet(CMD_INIT, m)
        t, data = self._read_packet()
        if t != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        msg = paramiko.Message(data)
        version = msg.get_int()
        self.extensions = {}
        while msg.packet.tell() < len(data):
            name = msg.get_string()
            self.extensions[name] = msg.get_string()
        return version

    def listdir_raw(self, path: str, read_aheads: int = 8) -> list[tuple[bytes, SFTPAttributes]]:
        """``listdir_iter`` (READDIR requests sent ahead), but names kept as bytes: paramiko
        decodes them as strict UTF-8, and one bad name would stop the whole listing."""
        t, msg = self._request(CMD_OPENDIR, self._adjust_cwd(path))
        if t != CMD_HANDLE:
            raise SFTPError("Expected handle")
        handle = msg.get_string()
        rows: list[tuple[bytes, SFTPAttributes]] = []
        try:
            done = False
            while not done:
                nums = [self._async_request(type(None), CMD_READDIR, handle)
                        for _ in range(read_aheads)]
                for num in nums:  # every answer is read, even after the end
                    try:
                        t, msg = self._read_response(num)
                    except EOFError:  # SSH_FX_EOF: the end of the folder
                        done = True
                        continue
                    if t != CMD_NAME:
                        raise SFTPError("Expected name response")
                    for _ in range(msg.get_int()):
                        raw = msg.get_string()
                        longname = msg.get_string()
                        attr = SFTPAttributes._from_msg(
                            msg, raw.decode("utf-8", "surrogateescape"),
                            longname.decode("utf-8", "replace"))
                        if raw not in (b".", b".."):
                            rows.append((raw, attr))
        finally:
            self._request(CMD_CLOSE, handle)
        return rows

    def fsync_handle(self, handle: bytes) -> None:
        self._request(CMD_EXTENDED, FSYNC, handle)


class _Watchdog:
    """Cuts a connection when a deadline passes, so a read or write blocked on a frozen
    server returns (with an error) instead of hanging the gateway."""

    def __init__(self, seconds: float, ssh: paramiko.Transport | None,
                 sock: socket.socket | None = None) -> None:
        self.seconds = seconds
        self.fired = False
        self._ssh, self._sock = ssh, sock
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, ssh: paramiko.Transport) -> None:
        self._ssh = ssh

    def _fire(self) -> None:
        self.fired = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._ssh is not None:
            self._ssh.close()

    def cancel(self) -> None:
        self._timer.cancel()


class _RemoteReader(io.RawIOBase):
    """A remote file being downloaded (paramiko prefetch) under a deadline."""

    def __init__(self, transport: SftpTransport, fh: paramiko.SFTPFile, dog: _Watchdog,
                 name: str) -> None:
        super().__init__()
        self._t, self._fh, self._dog, self._name = transport, fh, dog, name

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            if self._dog.fired:
                raise EOFError("connection closed by the transfer deadline")
            return self._fh.read(None if size is None or size < 0 else size)
        except NETWORK_ERRORS as exc:
            raise self._t._failed(f"cannot read {self._name}", exc, self._dog) from exc

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._dog.cancel()
            with contextlib.suppress(*NETWORK_ERRORS):
                self._fh.close()
        super().close()


class SftpTransport:
    def __init__(self, name: str, settings: SftpSettings) -> None:
        self.name = name
        self.settings = settings
        self.path = settings.path
        self._ssh: paramiko.Transport | None = None
        self._sftp: _Client | None = None
        self._uploaded: dict[str, int] = {}  # staged name → bytes written
        self._ignored: set[str] = set()  # listed names that are no file names, told once

    # -- connection -------------------------------------------------------------------
    def describe(self) -> str:
        s = self.settings
        where = s.path if s.path.startswith("/") else f"/~/{s.path}"
        return f"sftp://{s.user}@{s.host}:{s.port}{where}"

    def close(self) -> None:
        """Drop the connection (the next call makes a new one)."""
        sftp, ssh = self._sftp, self._ssh
        self._sftp = self._ssh = None
        if sftp is not None:
            with contextlib.suppress(*NETWORK_ERRORS):
                sftp.close()
        if ssh is not None:
            ssh.close()

    def _client(self) -> _Client:
        if self._sftp is None or self._ssh is None or not self._ssh.is_active():
            self.close()
            self._connect()
        assert self._sftp is not None
        return self._sftp

    def _connect(self) -> None:
        s = self.settings
        timeout = s.connect_timeout
        where = f"{s.user}@{s.host}:{s.port}"
        try:
            sock = socket.create_connection((s.host, s.port), timeout=timeout)
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot connect to {where}: "
                                 f"{_why(exc)}") from exc
        dog = _Watchdog(timeout * 3, None, sock)  # kex + auth + sftp start, all of it
        ssh = paramiko.Transport(sock)
        dog.attach(ssh)
        try:
            ssh.banner_timeout = ssh.handshake_timeout = ssh.auth_timeout = timeout
            opts = ssh.get_security_options()
            # AES-GCM first when both sides have it: authenticated in one pass, the
            # fastest paramiko offers (measured by benchmarks/bench_sftp.py)
            opts.ciphers = tuple(sorted(opts.ciphers, key=lambda c: "-gcm@" not in c))
            known = self._known_keys()
            if known:  # ask for the key type we can check, as OpenSSH does
                opts = ssh.get_security_options()
                first = [k for k in opts.key_types if k in known]
                opts.key_types = first + [k for k in opts.key_types if k not in known]
            ssh.start_client(timeout=timeout)
            self._verify(ssh.get_remote_server_key(), known)
            self._authenticate(ssh)
            chan = ssh.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.invoke_subsystem("sftp")
            sftp = _Client(chan)
        except (HostKeyError, TransientError):  # already says what failed
            ssh.close()
            raise
        except NETWORK_ERRORS as exc:
            ssh.close()
            raise TransientError(f"endpoint {self.name}: cannot connect to {where}: "
                                 f"{'timed out' if dog.fired else _why(exc)}") from exc
        finally:
            dog.cancel()
        self._ssh, self._sftp = ssh, sftp

    def _host_key_name(self) -> str:
        s = self.settings
        return s.host if s.port == 22 else f"[{s.host}]:{s.port}"

    def _known_keys(self) -> dict[str, paramiko.PKey]:
        """The keys known_hosts holds for this server (none in fingerprint mode)."""
        path = self.settings.known_hosts
        if path is None:
            return {}
        keys = paramiko.HostKeys()
        try:
            keys.load(str(path))
        except OSError as exc:
            raise HostKeyError(f"endpoint {self.name}: cannot read known_hosts {path}: "
                               f"{_why(exc)}; the connection was refused",
                               hint="fix known_hosts, or pin the key with "
                               'host_key_fingerprint = "SHA256:…"') from exc
        found = keys.lookup(self._host_key_name())
        return dict(found) if found else {}

    def _verify(self, key: paramiko.PKey, known: dict[str, paramiko.PKey]) -> None:
        s = self.settings
        offered = fingerprint(key)
        pin = (f'if this is the right server (compare with "ssh-keygen -lf" of its host key, '
               f'or ask its administrator), pin the key: add host_key_fingerprint = '
               f'"{offered}" to [endpoints.{self.name}] in gateway.toml')
        if s.host_key_fingerprint is not None:
            if offered == s.host_key_fingerprint:
                return
            raise HostKeyError(
                f"endpoint {self.name}: the host key of {s.host}:{s.port} has CHANGED: the "
                f"server offered {key.get_name()} {offered}, the configuration pins "
                f"{s.host_key_fingerprint}; the connection was refused (the server may have "
                f"been reinstalled, or someone is in the middle). {pin}"
                f" in place of the old one")
        if not known:
            line = f"{self._host_key_name()} {key.get_name()} {key.get_base64()}"
            raise HostKeyError(
                f"endpoint {self.name}: the host key of {s.host}:{s.port} is UNKNOWN: it is "
                f"not in {s.known_hosts}; the server offered {key.get_name()} {offered}; the "
                f"connection was refused. {pin} in place of known_hosts, or add this line "
                f"to {s.known_hosts}: {line}")
        if known.get(key.get_name()) == key:
            return
        expected = ", ".join(f"{k} {fingerprint(v)}" for k, v in sorted(known.items()))
        raise HostKeyError(
            f"endpoint {self.name}: the host key of {s.host}:{s.port} has CHANGED: the server "
            f"offered {key.get_name()} {offered}, {s.known_hosts} has {expected}; the "
            f"connection was refused (the server may have been reinstalled, or someone is in "
            f"the middle). {pin} in place of known_hosts")

    def _authenticate(self, ssh: paramiko.Transport) -> None:
        s = self.settings
        if s.key_file is not None:
            try:
                passphrase = s.key_passphrase.encode("utf-8") if s.key_passphrase else None
                pkey = paramiko.PKey.from_path(s.key_file, passphrase)
            except (OSError, paramiko.SSHException, ValueError, TypeError) as exc:
                raise TransientError(f"endpoint {self.name}: cannot load key_file "
                                     f"{s.key_file}: {_why(exc)}") from exc
            try:
                ssh.auth_publickey(s.user, pkey)
            except paramiko.AuthenticationException as exc:
                raise TransientError(f"endpoint {self.name}: the server refused key "
                                     f"{s.key_file} for user {s.user}: {_why(exc)}") from exc
        else:
            try:
                ssh.auth_password(s.user, s.password or "")
            except paramiko.AuthenticationException as exc:
                raise TransientError(f"endpoint {self.name}: the server refused the password "
                                     f"of user {s.user}: {_why(exc)}") from exc

    def _failed(self, what: str, exc: BaseException, dog: _Watchdog | None = None
                ) -> TransientError:
        """Drop the connection and say what failed (the caller raises it)."""
        self.close()
        if dog is not None and dog.fired:
            why = (f"no end after the transfer deadline of {dog.seconds:g}s; the connection "
                   "was cut")
        else:
            why = _why(exc)
        return TransientError(f"endpoint {self.name} ({self.describe()}): {what}: {why}")

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[_Client]:
        """A connected client; any network or server error → TransientError, reconnect."""
        client = self._client()
        try:
            yield client
        except NETWORK_ERRORS as exc:
            raise self._failed(what, exc) from exc

    def _join(self, *parts: str) -> str:
        return posixpath.join(self.path, *parts)

    @staticmethod
    def _is_dir(client: _Client, path: str) -> bool:
        try:
            return stat_mod.S_ISDIR(client.stat(path).st_mode or 0)
        except FileNotFoundError:
            return False

    def _mkdirs(self, client: _Client, path: str) -> None:
        """Create ``path`` and its missing parents (a race with another creator is fine)."""
        if self._is_dir(client, path):
            return
        parent = posixpath.dirname(path.rstrip("/"))
        if parent and parent != path:
            self._mkdirs(client, parent)
        try:
            client.mkdir(path)
        except OSError:
            if not self._is_dir(client, path):
                raise

    def _move(self, client: _Client, src: str | bytes, dest: str | bytes) -> None:
        if POSIX_RENAME in client.extensions:
            client.posix_rename(src, dest)
        else:
            client.rename(src, dest)

    # -- intake -------------------------------------------------------------------------
    def ensure(self) -> None:
        with self._io(f"cannot create {self.path}") as c:
            self._mkdirs(c, self.path)

    def list(self) -> list[Entry]:
        with self._io(f"cannot list {self.path}") as c:
            try:
                rows = c.listdir_raw(self.path)
            except FileNotFoundError:
                return []
        entries, undecodable = [], []
        for raw, attr in rows:
            if attr.st_mode is None or not stat_mod.S_ISREG(attr.st_mode):
                continue
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.append(raw)
                continue
            if not is_entry_name(name):  # never from a sane server: never acted upon
                if name not in self._ignored:
                    self._ignored.add(name)
                    log.warning("endpoint %s: the server listed %s, which is not a file "
                                "name of %s; ignored", self.name, safe_name(name), self.path)
                continue
            entries.append(Entry(name, attr.st_size or 0, float(attr.st_mtime or 0)))
        for raw in undecodable:
            self._quarantine_raw(raw)
        entries.sort(key=lambda e: e.name)
        return entries

    def _quarantine_raw(self, raw: bytes) -> None:
        """A name that is not UTF-8 cannot go through the gateway: move it aside by its
        raw bytes so it does not block the folder; if that fails, leave it and say so."""
        shown = safe_name(raw.decode("utf-8", "surrogateescape"))
        qdir = self._join(Folder.QUARANTINE)
        try:
            with self._io(f"cannot quarantine {shown}") as c:
                self._mkdirs(c, qdir)
                base = self.path.encode("utf-8")
                self._move(c, base + b"/" + raw, qdir.encode("utf-8") + b"/" + raw)
        except TransientError as exc:
            log.warning("endpoint %s: file name %s is not UTF-8 and could not be moved to "
                        "%s/: %s; skipped", self.name, shown, Folder.QUARANTINE, exc)
            return
        log.warning("endpoint %s: file name %s is not UTF-8; moved to %s/", self.name, shown,
                    Folder.QUARANTINE)

    def open(self, name: str) -> BinaryIO:
        """The remote file as a stream; the deadline runs from now until it is closed."""
        client = self._client()
        dog = _Watchdog(self.settings.transfer_timeout, self._ssh)
        try:
            fh = client.open(self._join(name), "rb")
            fh.prefetch()  # paramiko's read-ahead: without it a download crawls
        except NETWORK_ERRORS as exc:
            dog.cancel()
            raise self._failed(f"cannot read {name}", exc, dog) from exc
        return _RemoteReader(self, fh, dog, name)  # type: ignore[return-value]

    def stat(self, name: str) -> Entry | None:
        with self._io(f"cannot stat {name}") as c:
            try:
                st = c.stat(self._join(name))
            except FileNotFoundError:
                return None
        return Entry(name, st.st_size or 0, float(st.st_mtime or 0))

    def settle(self, name: str, mode: SettleMode, *, tag: str, done_suffix: str | None) -> None:
        """Remove or move a source whose exchange is committed (Rule 1)."""
        with self._io(f"cannot settle {name}") as c:
            src = self._join(name)
            try:
                if mode is SettleMode.MOVE:
                    dest_dir = self._join(Folder.PROCESSED)
                    self._mkdirs(c, dest_dir)
                    dest = posixpath.join(dest_dir, name)
                    with contextlib.suppress(FileNotFoundError):
                        c.stat(dest)
                        dest = f"{dest}.{tag}"
                    self._move(c, src, dest)
                else:
                    c.remove(src)
            except FileNotFoundError:
                pass  # already settled before a crash
            if done_suffix:
                with contextlib.suppress(FileNotFoundError):
                    c.remove(self._join(name + done_suffix))

    def quarantine(self, name: str, *, tag: str) -> None:
        """Move a refused file aside, never delete it: nothing that arrived is lost."""
        with self._io(f"cannot quarantine {name}") as c:
            qdir = self._join(Folder.QUARANTINE)
            self._mkdirs(c, qdir)
            with contextlib.suppress(FileNotFoundError):
                self._move(c, self._join(name), posixpath.join(qdir, f"{name}.{tag}"))

    # -- delivery: stage (temporary name) → make durable → publish (rename) ---------------
    def staged_path(self, name: str) -> str:
        return self._join(f".{name}.part")

    def stage(self, name: str, src: BinaryIO, size: int) -> None:
        """Upload an output under its temporary name, ``.NAME.part``, within the deadline."""
        tmp = self.staged_path(name)
        self._uploaded.pop(name, None)
        with self._io(f"cannot write {tmp}") as c:
            dog = _Watchdog(self.settings.transfer_timeout, self._ssh)
            written = 0
            try:
                try:
                    fh = c.open(tmp, "wb")
                except FileNotFoundError:  # the folder was removed: make it again
                    self._mkdirs(c, self.path)
                    fh = c.open(tmp, "wb")
                with fh:
                    fh.set_pipelined(True)
                    while chunk := src.read(CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
                    fh.flush()
                    if FSYNC in c.extensions:
                        c.fsync_handle(fh.handle)
            except NETWORK_ERRORS as exc:
                raise self._failed(f"cannot write {tmp}", exc, dog) from exc
            finally:
                dog.cancel()
        if written != size:
            self.discard([name])
            raise TransientError(f"endpoint {self.name}: {tmp}: read {written} bytes from the "
                                 f"archive, expected {size}; removed, will be sent again")
        self._uploaded[name] = written

    def make_durable(self, names: list[str]) -> None:
        """Each staged file has on the server exactly the bytes uploaded (else it is removed:
        a short file must never be renamed into place)."""
        for name in names:
            tmp = self.staged_path(name)
            with self._io(f"cannot check {tmp}") as c:
                try:
                    size: int | None = c.stat(tmp).st_size
                except FileNotFoundError:
                    size = None
            expected = self._uploaded.get(name)
            if size is None or size != expected:
                self.discard([name])
                raise TransientError(
                    f"endpoint {self.name} ({self.describe()}): {tmp} has "
                    f"{'no file' if size is None else f'{size} bytes'} on the server, "
                    f"{expected} bytes were uploaded; removed, will be sent again")

    def publish(self, names: list[str]) -> None:
        """Rename staged files into place, in order; a name no longer staged was done."""
        for name in names:
            tmp, final = self.staged_path(name), self._join(name)
            with self._io(f"cannot rename {tmp} to {name}") as c:
                try:
                    c.stat(tmp)
                except FileNotFoundError:
                    continue  # renamed already (a repeat after a crash)
                if POSIX_RENAME in c.extensions:
                    c.posix_rename(tmp, final)
                else:  # plain SFTP rename refuses an existing target
                    with contextlib.suppress(FileNotFoundError):
                        c.remove(final)
                    c.rename(tmp, final)
            self._uploaded.pop(name, None)

    def discard(self, names: list[str]) -> None:
        """Remove temporary files (only litter: the next stage overwrites them anyway)."""
        for name in names:
            self._uploaded.pop(name, None)
            try:
                with self._io(f"cannot remove {self.staged_path(name)}") as c:
                    with contextlib.suppress(FileNotFoundError):
                        c.remove(self.staged_path(name))
            except TransientError as exc:
                log.warning("%s", exc)

    def is_staged(self, name: str) -> bool:
        return self._exists(self.staged_path(name), name)

    def exists(self, name: str) -> bool:
        return self._exists(self._join(name), name)

    def _exists(self, path: str, name: str) -> bool:
        with self._io(f"cannot stat {name}") as c:
            try:
                c.stat(path)
            except FileNotFoundError:
                return False
        return True
