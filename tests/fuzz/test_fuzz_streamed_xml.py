"""Differential fuzzing of the worker that reads a large canonical XML file validating it
whole (``validate/streaming.py``): whatever the bytes, the records it lets through and
the problems reported must be exactly those of the file read and checked record by
record in the main process. A file refused whole must be refused with the same problem.

Samples: the canonical catalogues of the mapping cases, and one of 1,500 products, larger
than libxml2's read blocks, so that faults land after batches already handed over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from gateway.validate import streaming
from tests.flows.test_catalogue_bad_inputs import product, xml
from tests.pipeline.test_streamed_xml import catalogue, read

from .harness import budget, guarded, mutated, xml_samples

SAMPLES = [*xml_samples("catalogue"), xml(*catalogue(1500))]
N = 1500

# a product that is wrong (or right but odd) in one way, at position i; the file stays
# well-formed
FAULTS = [
    lambda i: product(f"A-{i:03d}", weight="-1"),                        # invalid value
    lambda i: product(f"A-{i:03d}").replace("Cafetière", ""),            # empty once mapped
    lambda i: product(f"A-{i:03d}", extra="<colour>red</colour>"),       # unknown element
    lambda i: product("").replace("<sku></sku>", "<sku/>"),              # empty key
    lambda i: product(f"A-{i:03d}").replace(                             # language twice
        "</name>", '</name><name lang="fr">Autre</name>', 1),
    lambda i: product(f"A-{i:03d}").replace("Cafetière", "<![CDATA[Café & thé]]>"),
    lambda i: product(f"A-{i:03d}").replace("<category>", "<!-- x --><category>"),
    lambda i: product(f"A-{i:03d}", weight="1e3"),                       # not a decimal
    lambda i: "",                                                         # a product less
]
# ... or not
FATAL = [
    lambda i: product(f"A-{i:03d}").replace("Cafetière", "Caf&bogus;"),  # undefined entity
    lambda i: product(f"A-{i:03d}").replace("Cafetière", "Caf\x01"),     # not an XML char
    lambda i: product(f"A-{i:03d}").replace("</weight>", "</weigth>"),  # tags do not match
]


@st.composite
def faulty_catalogues(draw: st.DrawFn) -> bytes:
    """The large catalogue with a few faulty products; now and then one that makes it
    not well-formed, or the file cut short or mutated."""
    faults = draw(st.dictionaries(st.integers(0, N - 1), st.sampled_from(FAULTS),
                                  max_size=3))
    if draw(st.integers(0, 7)) == 0:
        faults[draw(st.integers(0, N - 1))] = draw(st.sampled_from(FATAL))
    data = xml(*catalogue(N, {i: fault(i) for i, fault in faults.items()}))
    if draw(st.integers(0, 7)) == 0:
        data = data[:draw(st.integers(len(data) // 2, len(data)))]
    if draw(st.integers(0, 7)) == 0:
        data = draw(mutated([data], max_steps=1))
    return data


@budget(0.3)
@given(data=st.data())
@guarded
def test_the_worker_lets_through_exactly_what_record_by_record_checks_do(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("streamed") / "catalogue.xml"
    path.write_bytes(data.draw(st.one_of(faulty_catalogues(), faulty_catalogues(),
                                         faulty_catalogues(), mutated(SAMPLES)),
                               label="file"))
    workers: list[streaming.ValidatedStream] = []
    with mock.patch.object(streaming, "BATCH", 50):  # many batches in a small file
        streamed = read(path, True, workers=workers)
    in_process = read(path, False)
    [worker] = workers  # the worker read it, whole or up to a fault
    event("worker: whole file" if worker.fallback_from is None else
          "worker: handed over at 0" if worker.fallback_from == 0 else
          "worker: handed over later")
    event("refused whole" if in_process[2] else
          "with problems" if in_process[1] else "clean")
    assert streamed == in_process
