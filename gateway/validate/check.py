"""``gateway validate``: a file checked through a channel's reader mapping and XSD, with
no side effect at all (nothing archived, recorded or moved)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..documents import document
from ..errors import DataError, Problem, UsageError
from ..mapping.loader import load_mapping
from ..mapping.reader import ProblemSink
from ..model import Direction
from .xsd import ChunkValidator


@dataclass
class CheckReport:
    file: Path
    accepted: int
    problems: ProblemSink

    @property
    def ok(self) -> bool:
        return not self.problems and self.accepted > 0


def check_file(cfg: Config, channel_name: str, path: Path) -> CheckReport:
    from ..pipeline.context import reading_limits
    from ..pipeline.transform import valid_chunks

    channel = cfg.channel(channel_name)
    if channel.direction is not Direction.IN:
        raise UsageError(f"channel {channel_name!r} is an output channel; validate reads "
                         "files with an input channel's reader mapping")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    mapping = load_mapping(cfg, channel.mapping)
    validator = ChunkValidator(document(channel.document), cfg.schemas_dir)
    problems = ProblemSink(keep=100_000)
    accepted = 0
    name = str(path)
    size = path.stat().st_size
    if size == 0:
        problems.append(Problem("file is empty (0 bytes)", line=1, file=name))
        return CheckReport(path, 0, problems)
    if size > channel.max_size:  # as the gateway would: refused before reading
        problems.append(Problem(f"file is {size} bytes, over this channel's limit of "
                                f"{channel.max_size} bytes; it would not be read", file=name))
        return CheckReport(path, 0, problems)
    try:
        with open(path, "rb") as fh, reading_limits(channel):
            for checked in valid_chunks(mapping, validator, fh, name, problems,
                                        max_records=channel.max_records):
                accepted += len(checked.valid)
    except DataError as exc:
        problems.add_file_problem(exc.problem)
    if accepted == 0 and not problems:
        problems.append(Problem("file has no records", line=2, file=name))
    return CheckReport(path, accepted, problems)
