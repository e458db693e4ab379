"""Content-addressed archive: archive/sha256/ab/cdef…, published with the batch."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from gateway.errors import TransientError
from gateway.store.archive import Archive, Blob
from gateway.store.atomic import DurableBatch

DATA = b"ARTICLE;DEPOT\r\nA-1;MAIN\r\n"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive.in_workspace(tmp_path)


def put(archive: Archive, data: bytes) -> Blob:
    batch = DurableBatch()
    blob = archive.put_stream(io.BytesIO(data), batch)
    batch.publish()
    return blob


def test_content_addressed_path(archive: Archive, tmp_path: Path) -> None:
    digest = "ab" + "cdef" * 15 + "01"
    assert archive.root == tmp_path / "archive"
    assert archive.path(digest) == tmp_path / "archive" / "sha256" / "ab" / digest[2:]


def test_put_stream_hashes_and_publishes_with_the_batch(archive: Archive) -> None:
    batch = DurableBatch()
    blob = archive.put_stream(io.BytesIO(DATA), batch)
    assert blob == Blob(SHA, len(DATA))
    assert not archive.exists(SHA)          # not before publish
    assert len(batch) == 1
    batch.flush()
    assert not archive.exists(SHA)
    batch.publish()
    assert archive.exists(SHA)
    assert archive.path(SHA).read_bytes() == DATA
    with archive.open(SHA) as fh:
        assert fh.read() == DATA
    assert list(archive.tmp_dir.iterdir()) == []


def test_put_stream_of_several_chunks(archive: Archive) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB, more than one chunk
    blob = put(archive, data)
    assert blob == Blob(hashlib.sha256(data).hexdigest(), 1_280_000)
    assert archive.path(blob.sha256).read_bytes() == data


def test_empty_file(archive: Archive) -> None:
    blob = put(archive, b"")
    assert blob == Blob("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0)
    assert archive.path(blob.sha256).read_bytes() == b""


def test_same_content_twice_is_stored_once(archive: Archive) -> None:
    put(archive, DATA)
    batch = DurableBatch()
    assert archive.put_stream(io.BytesIO(DATA), batch) == Blob(SHA, len(DATA))
    assert len(batch) == 0  # nothing to publish: already there
    assert [d for d, _ in archive.iter_blobs()] == [SHA]
    assert list(archive.tmp_dir.iterdir()) == []


def test_same_content_twice_in_one_batch_is_stored_once(archive: Archive) -> None:
    batch = DurableBatch()
    archive.put_stream(io.BytesIO(DATA), batch)
    archive.put_stream(io.BytesIO(DATA), batch)
    batch.publish()
    assert [d for d, _ in archive.iter_blobs()] == [SHA]
    assert archive.path(SHA).read_bytes() == DATA
    assert list(archive.tmp_dir.iterdir()) == []


def test_size_differing_from_the_listing_is_transient(archive: Archive) -> None:
    batch = DurableBatch()
    with pytest.raises(TransientError) as info:
        archive.put_stream(io.BytesIO(DATA), batch, expected_size=len(DATA) + 1)
    assert str(info.value) == (f"read {len(DATA)} bytes, listing said {len(DATA) + 1}: "
                               "file still changing")
    batch.discard()
    assert not archive.exists(SHA)
    assert list(archive.tmp_dir.iterdir()) == []


def test_discarded_batch_leaves_no_blob_and_no_temp(archive: Archive) -> None:
    batch = DurableBatch()
    archive.put_stream(io.BytesIO(DATA), batch)
    assert len(list(archive.tmp_dir.iterdir())) == 1
    batch.discard()
    assert not archive.exists(SHA)
    assert list(archive.tmp_dir.iterdir()) == []


def test_verify_of_a_sound_archive(archive: Archive) -> None:
    other = put(archive, b"other")
    put(archive, DATA)
    assert archive.verify(iter([SHA, other.sha256])) == []


def test_verify_reports_a_tampered_blob_and_a_missing_one(archive: Archive) -> None:
    put(archive, DATA)
    path = archive.path(SHA)
    path.write_bytes(DATA + b"B-2;EAST\r\n")
    tampered = hashlib.sha256(DATA + b"B-2;EAST\r\n").hexdigest()
    missing = "00" * 32
    assert archive.verify(iter([SHA, missing])) == [
        f"{path}: content hashes to {tampered}, stored as {SHA}",
        f"missing blob {missing} referenced by the ledger",
    ]


def test_clean_temp_removes_crash_leftovers(archive: Archive) -> None:
    w = archive.writer(DurableBatch())
    w.write(b"half a file")
    w.abort()
    archive.tmp_dir.mkdir(exist_ok=True)
    (archive.tmp_dir / ".blob.deadbeef.part").write_bytes(b"left by a crash")
    archive.clean_temp()
    assert list(archive.tmp_dir.iterdir()) == []
