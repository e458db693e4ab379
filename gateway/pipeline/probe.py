"""``gateway endpoints check``: can the gateway reach, list, write and remove files on an
endpoint? Each step is tried in order and reported in words; the first failure stops."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass

from ..errors import GatewayError
from ..model import SettleMode
from .context import Context


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str


def check_endpoint(ctx: Context, name: str) -> list[Step]:
    transport = ctx.transport(name)
    probe = f".gateway-probe-{secrets.token_hex(4)}"
    data = b"gateway endpoint check\n"
    steps: list[Step] = []

    def attempt(step: str, action, detail) -> bool:  # type: ignore[no-untyped-def]
        try:
            result = action()
        except GatewayError as exc:
            steps.append(Step(step, False, str(exc)))
            return False
        steps.append(Step(step, True, detail(result)))
        return True

    def write() -> None:
        transport.stage(probe, io.BytesIO(data), len(data))
        transport.make_durable([probe])
        transport.publish([probe])

    def read_back() -> bytes:
        with transport.open(probe) as fh:
            return fh.read()

    if not attempt("connect and list", transport.list,
                   lambda entries: f"{transport.describe()}: {len(entries)} file(s)"):
        return steps
    if not attempt("write", write, lambda _: f"wrote {probe} under a temporary name, "
                                             "then renamed it"):
        return steps
    if not attempt("read back", read_back,
                   lambda got: "same bytes" if got == data else f"got {got!r}"):
        return steps
    if steps[-1].detail != "same bytes":
        steps[-1] = Step("read back", False, steps[-1].detail)
        return steps
    attempt("remove", lambda: transport.settle(probe, SettleMode.DELETE, tag="", done_suffix=None),
            lambda _: f"removed {probe}")
    return steps
