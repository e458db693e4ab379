"""``gateway demo``: a workspace with a configuration and realistic files, run once.

Shows every outcome an operator meets: a clean stock export, one with bad lines
(partly accepted), one the ERP sent with the wrong columns (rejected), and the same
export sent twice (duplicate). Every flow added to the gateway joins this demo.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import Config, load
from .errors import UsageError
from .pipeline.runner import CycleSummary, Gateway

MARKER = ".gateway-demo"

CONFIG_TEMPLATE = """\
# Workspace of the ERP <-> shop gateway on local drop folders.
[gateway]
workspace = "."
poll_interval = "{poll_interval}"
min_age = "{min_age}"
batch_size = {batch_size}

[endpoints.erp_in]
path = "inbox/erp"

[endpoints.erp_out]
path = "outbox/erp"

[endpoints.shop_out]
path = "outbox/shop"

# ERP stock export -> canonical stock; acknowledgements go back to the ERP.
[channels.erp_stock_in]
direction = "in"
endpoint = "erp_in"
pattern = "{pattern}"
document = "stock"
mapping = "erp_stock_csv"
ack_endpoint = "erp_out"
settle = "{settle}"
{extra_in}

# canonical stock -> PrestaShop stock import, summed over warehouses
[channels.shop_stock_csv]
direction = "out"
endpoint = "shop_out"
document = "stock"
mapping = "prestashop_stock_csv"
filename = "stock_{{exchange}}.csv"

# canonical stock -> canonical XML for shops with an XML import module
[channels.shop_stock_xml]
direction = "out"
endpoint = "shop_out"
document = "stock"
mapping = "canonical_stock_xml"
filename = "stock_{{exchange}}.xml"
"""

FOLDERS = ("inbox/erp", "inbox/shop", "outbox/erp", "outbox/shop")


def local_workspace(root: Path, *, poll_interval: str = "200ms", min_age: str = "0s",
                    batch_size: int = 200, pattern: str = "stock_*.csv", settle: str = "move",
                    extra_in: str = "") -> Path:
    """Write a stock workspace (folders and ``gateway.toml``); the demo, the tests and the
    benchmarks all start from it. ``extra_in`` adds keys to the input channel."""
    for sub in FOLDERS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    config = root / "gateway.toml"
    config.write_text(CONFIG_TEMPLATE.format(
        poll_interval=poll_interval, min_age=min_age, batch_size=batch_size, pattern=pattern,
        settle=settle, extra_in=extra_in), encoding="utf-8")
    return config


HEADER = "ARTICLE;DEPOT;QTE_VIRTUELLE;DATE_MAJ\r\n"

GOOD = HEADER + (
    "CHAISE-ÉTÉ-01;MAGASIN;12,000;28/11/2026 09:00\r\n"
    "CHAISE-ÉTÉ-01;ENTREPÔT;30,000;28/11/2026 09:00\r\n"
    "TABLE-CHÊNE-180;MAGASIN;2,000;28/11/2026 09:00\r\n"
    "TABLE-CHÊNE-180;ENTREPÔT;0,000;28/11/2026 09:00\r\n"
    "LAMPE-LAITON;ENTREPÔT;1 250,500;28/11/2026 09:00\r\n"
)
PARTIAL = HEADER + (
    "CHAISE-ÉTÉ-01;MAGASIN;11,000;28/11/2026 09:15\r\n"
    "TABLE-CHÊNE-180;MAGASIN;deux;28/11/2026 09:15\r\n"
    "LAMPE-LAITON;ENTREPÔT;-4,000;28/11/2026 09:15\r\n"
    "TAPIS-LAINE;MAGASIN;7,000;31/11/2026 09:15\r\n"
    "COUSSIN-LIN;ENTREPÔT;40,000;28/11/2026 09:15\r\n"
)
WRONG_COLUMNS = "ARTICLE;DEPOT;QUANTITE;DATE_MAJ\r\nCHAISE-ÉTÉ-01;MAGASIN;9,000;28/11/2026 09:30\r\n"


@dataclass
class DemoRun:
    workspace: Path
    config: Config
    summary: CycleSummary


def create_workspace(target: Path) -> Path:
    if target.exists() and any(target.iterdir()):
        if not (target / MARKER).exists():
            raise UsageError(f"{target} exists and is not a demo workspace",
                             hint="give an empty or new folder: gateway demo DIR")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).write_text("created by 'gateway demo'; safe to delete\n")
    local_workspace(target)
    erp = target / "inbox/erp"
    files = {"stock_20261128_0900.csv": GOOD, "stock_20261128_0915.csv": PARTIAL,
             "stock_20261128_0930.csv": WRONG_COLUMNS,
             "stock_20261128_0900_resent.csv": GOOD}
    for name, text in files.items():
        (erp / name).write_bytes(text.encode("cp1252"))
    return target


def run_demo(target: Path) -> DemoRun:
    workspace = create_workspace(target)
    cfg = load(workspace / "gateway.toml")
    with Gateway(cfg) as gw:
        summary = gw.run_once()
    return DemoRun(workspace, cfg, summary)
