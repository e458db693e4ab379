"""States and names declared once: every other module refers to these, never to bare strings."""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    IN = "in"    # a file received from a partner
    OUT = "out"  # a file the gateway produced for a partner


class ExchangeState(StrEnum):
    """Life of an exchange; every change is appended to the ledger's transition table."""

    # incoming files
    RECEIVED = "RECEIVED"        # bytes archived and committed; source may now be settled
    PROCESSED = "PROCESSED"      # mapped, validated, outputs and ack recorded
    REJECTED = "REJECTED"        # data error: negative ack sent, waits for an operator
    DUPLICATE = "DUPLICATE"      # same bytes already received on this channel
    REPROCESSED = "REPROCESSED"  # a rejected exchange that a later attempt replaced
    # produced files
    PENDING = "PENDING"          # output archived, delivery not yet staged
    STAGED = "STAGED"            # written under a temporary name at the endpoint, durable
    DELIVERED = "DELIVERED"      # renamed into place at the endpoint


FINAL_IN_STATES = frozenset(
    {ExchangeState.PROCESSED, ExchangeState.REJECTED, ExchangeState.DUPLICATE,
     ExchangeState.REPROCESSED}
)


class AckResult(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARTIAL = "partial"
    DUPLICATE = "duplicate"


class OutputKind(StrEnum):
    DOCUMENT = "document"  # a mapped output for a partner
    ACK = "ack"            # an acknowledgement to the sender
    REPORT = "report"      # a human-readable error report beside a rejection ack


class SettleMode(StrEnum):
    DELETE = "delete"
    MOVE = "move"


class PublishMode(StrEnum):
    """What an output channel sends: every record, or only what changed since last time."""

    FULL = "full"
    DELTA = "delta"


class ExportScope(StrEnum):
    """What an input file holds: every record (absent = withdrawn), or only changes."""

    FULL = "full"
    CHANGES = "changes"


class PaymentRule(StrEnum):
    """When an order may be forwarded to the ERP, by its payment status."""

    PAID = "paid"              # captured (or partly refunded after capture)
    AUTHORIZED = "authorized"  # captured or authorised
    ANY = "any"                # whatever its status


class OrderOutcome(StrEnum):
    """What happened to one order of a shop's export (said per order in the ack)."""

    FORWARDED = "forwarded"
    DUPLICATE = "duplicate"
    CHANGED = "changed"
    WAITING_PAYMENT = "waiting payment"
    REJECTED = "rejected"


class LineStatus(StrEnum):
    """The ERP's status of an order line."""

    ACCEPTED = "accepted"
    PARTIAL = "partial"
    BLOCKED = "blocked"


class ChangeKind(StrEnum):
    """A published record compared with what the channel published before."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    WITHDRAWN = "withdrawn"


class Folder(StrEnum):
    """Folder names of a workspace and of local endpoints, declared once."""

    ARCHIVE = "archive"
    STATE = "state"
    PROCESSED = "processed"
    QUARANTINE = "quarantine"


LEDGER_FILE = "ledger.sqlite3"
HEALTH_FILE = "processing.json"  # in the state folder: the processing's current failure
