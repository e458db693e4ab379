"""One shop export of 20,000 orders (about 60,000 lines), half of them forwarded before.

The export is read with the Shopify order mapping (one row per line item), each order is
checked (registry, payment, money to the cent, customer matching), the 10,000 new ones are
written as the ERP's multi-record order import, and the shop gets its acknowledgement
with a result per order. The first half is sent once beforehand (not timed), as the
previous overlapping export. Target: >= 2,000 orders/s end to end, peak RSS <= 200 MB.

    python benchmarks/bench_orders.py [--orders 20000]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

from _common import run_child

HEADER = ("Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,"
          "Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,"
          "Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,"
          "Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,"
          "Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,"
          "Billing Address1,Billing Address2,Billing Company,Billing City,Billing Zip,"
          "Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
          "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
          "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,"
          "Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Id,Tags,"
          "Risk Level,Source,Lineitem discount").split(",")

CONFIG = """
[gateway]
workspace = "."
poll_interval = "50ms"
min_age = "0s"
batch_size = 10

[endpoints.shop_in]
path = "inbox/shop"
[endpoints.shop_out]
path = "outbox/shop"
[endpoints.erp_out]
path = "outbox/erp"

[channels.shop_orders_in]
direction = "in"
endpoint = "shop_in"
pattern = "orders_*.csv"
document = "orders"
mapping = "shopify_orders_csv"
ack_endpoint = "shop_out"
payment = "paid"

[channels.erp_orders]
direction = "out"
endpoint = "erp_out"
document = "orders"
mapping = "erp_orders_csv"
filename = "orders_{exchange}.txt"
"""

RUN = """
import sys
from gateway.config import load
from gateway.pipeline.runner import Gateway
with Gateway(load(sys.argv[1])) as gw:
    s = gw.run_once(settle_timeout=10.0)
bad = [o for o in s.outcomes if str(o.result) != "accepted"]
if bad or s.failures:
    raise SystemExit(f"unexpected outcome: {[(o.result, o.problems.items[:3]) for o in bad]} "
                     f"{s.failures}")
"""


def export(path: Path, first: int, count: int) -> None:
    """Orders ``first``…: three lines each (the third with a spread coupon share), order
    fields on the first row only, as Shopify writes them."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for n in range(first, first + count):
            lines = [(f"SKU-{(n * 7 + k) % 5000:05d}", 1 + (n + k) % 3,
                      f"{10 + (n * 13 + k * 7) % 90}.{(n + k) % 100:02d}") for k in range(3)]
            cents = sum(q * int(p.replace(".", "")) for _s, q, p in lines)  # exact
            coupon = 100 if n % 4 == 0 else 0  # 1.00 spread on the last line
            total = cents - coupon + 490
            for k, (sku, qty, price) in enumerate(lines):
                row = dict.fromkeys(HEADER, "")
                row.update({"Name": f"#{n}", "Lineitem quantity": str(qty),
                            "Lineitem name": f"Article {sku}", "Lineitem price": price,
                            "Lineitem sku": sku, "Lineitem requires shipping": "true",
                            "Lineitem taxable": "true",
                            "Lineitem discount": "1.00" if coupon and k == 2 else "0.00"})
                if k == 0:
                    row.update({
                        "Email": f"client{n % 3000}@example.com", "Financial Status": "paid",
                        "Paid at": "2026-11-28 09:15:00 +0100", "Currency": "EUR",
                        "Subtotal": f"{(cents - coupon) / 100:.2f}", "Shipping": "4.90",
                        "Taxes": "0.00", "Total": f"{total / 100:.2f}",
                        "Discount Code": "WELCOME" if coupon else "",
                        "Discount Amount": "1.00" if coupon else "0.00",
                        "Shipping Method": "Colissimo",
                        "Created at": "2026-11-28 09:10:00 +0100",
                        "Billing Name": "Anne Martin", "Billing Address1": f"{n % 90} rue Oberkampf",
                        "Billing City": "Paris", "Billing Zip": "75011", "Billing Country": "FR",
                        "Shipping Name": "Anne Martin",
                        "Shipping Address1": f"{n % 90} rue Oberkampf",
                        "Shipping City": "Paris", "Shipping Zip": "75011",
                        "Shipping Country": "FR", "Id": str(5_000_000_000 + n)})
                w.writerow([row[h] for h in HEADER])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    args = ap.parse_args()
    n = args.orders
    with tempfile.TemporaryDirectory(prefix="gateway-bench-orders-") as d:
        ws = Path(d)
        for sub in ("inbox/shop", "outbox/shop", "outbox/erp"):
            (ws / sub).mkdir(parents=True)
        cfg = ws / "gateway.toml"
        cfg.write_text(CONFIG, encoding="utf-8")
        export(ws / "inbox/shop/orders_1.csv", 0, n // 2)  # the previous export
        run_child(RUN, str(cfg))
        export(ws / "inbox/shop/orders_2.csv", 0, n)       # overlaps it by half
        size = (ws / "inbox/shop/orders_2.csv").stat().st_size
        os.sync()
        secs, rss = run_child(RUN, str(cfg))
        erp = sorted((ws / "outbox/erp").iterdir())
        headers = sum(1 for line in erp[-1].read_text(encoding="cp1252").splitlines()
                      if line.startswith("E;"))
        rate = n / secs
        print(f"{n} orders ({size / 1e6:.1f} MB, {n * 3} lines), {n - n // 2} new: "
              f"{secs:.2f} s, {rate:.0f} orders/s (target >= 2,000), peak RSS {rss:.0f} MB "
              f"(target <= 200); ERP file holds {headers} new orders")
        if headers != n - n // 2:
            raise SystemExit("the ERP file must hold exactly the new orders")


if __name__ == "__main__":
    main()
