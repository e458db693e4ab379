"""Acknowledgements (``schemas/ack.xsd``) for every file received, built from the ledger."""

from __future__ import annotations

from lxml import etree

from ..errors import Problem
from ..model import AckResult
from ..store.ledger import Exchange

MAX_ERRORS_IN_ACK = 1000


def build_ack(x: Exchange, result: AckResult, *, total: int, accepted: int, rejected: int,
              ignored: int = 0, problems: list[Problem], problem_count: int,
              duplicate_of: int | None = None, note: str | None = None,
              items: list[tuple[str, str, str | None]] | None = None) -> bytes:
    root = etree.Element("ack")
    etree.SubElement(root, "file", name=x.file_name, size=str(x.size), sha256=x.sha256 or "0" * 64,
                     received=x.created_at, channel=x.channel, exchange=str(x.id))
    etree.SubElement(root, "result").text = str(result)
    rec = etree.SubElement(root, "records", total=str(total), accepted=str(accepted),
                           rejected=str(rejected))
    if ignored:
        rec.set("ignored", str(ignored))
    if duplicate_of is not None:
        etree.SubElement(root, "duplicateOf").text = str(duplicate_of)
    if note:
        etree.SubElement(root, "note").text = _xml_safe(note)
    if items:  # orders: what happened to each one
        orders = etree.SubElement(root, "orders")
        for key, status, reason in items:
            o = etree.SubElement(orders, "order", number=_xml_safe(key), status=status)
            if reason:
                o.text = _xml_safe(reason)
    if problem_count:
        shown = problems[:MAX_ERRORS_IN_ACK]
        errors = etree.SubElement(root, "errors", count=str(problem_count), shown=str(len(shown)))
        for p in shown:
            e = etree.SubElement(errors, "error")
            if p.line is not None:
                e.set("line", str(p.line))
            if p.field:
                e.set("field", _xml_safe(p.field))
            if p.value is not None:
                etree.SubElement(e, "value").text = _xml_safe(p.value)
            etree.SubElement(e, "message").text = _xml_safe(p.message)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _xml_safe(text: str) -> str:
    """Values quoted back to the sender may hold bytes XML cannot carry: show them escaped."""
    return "".join(c if c in "\t\n\r" or (" " <= c and c != "\ufffe" and c != "\uffff"
                                          and not 0xD800 <= ord(c) <= 0xDFFF)
                   else f"\\x{ord(c):02x}" for c in text)


def render_report(x: Exchange, problems: list[Problem], problem_count: int) -> str:
    """The error report a person reads (``gateway rejected show``)."""
    lines = [f"Exchange {x.id}: {x.file_name} on channel {x.channel}",
             f"  state:    {x.state}",
             f"  result:   {x.result or '-'}",
             f"  received: {x.created_at}",
             f"  sha256:   {x.sha256 or '-'}",
             f"  records:  {x.records_total or 0} total, {x.records_accepted or 0} accepted, "
             f"{x.records_rejected or 0} rejected"]
    if x.note:
        lines.append(f"  note:     {x.note}")
    lines.append(f"  errors:   {problem_count}")
    for p in problems:
        lines.append("    " + Problem(p.message, p.line, p.field, p.value, x.file_name).render())
    if problem_count > len(problems):
        lines.append(f"    … and {problem_count - len(problems)} more")
    return "\n".join(lines) + "\n"
