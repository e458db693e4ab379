"""A large canonical catalogue XML through the real pipeline, against the floor of lxml's
own validating parser; then the same catalogue published as a delta.

Pipeline: pickup, archive (sha256, durable), ledger, streamed XML reader
(canonical_catalogue_in), XSD validation (catalogue.xsd), catalogue flow (each product's
categories checked against the tree held, category paths), PrestaShop product CSV
(prestashop_products_csv), ack, delivery. The category tree (~200 categories, canonical
categories XML) is loaded by a run of its own before the timed runs.
Floor: ``lxml.etree.iterparse(path, schema=XMLSchema(catalogue.xsd))`` over the same file,
each product cleared.
Delta: the same workspace with ``publish = "delta"``: a first run on the catalogue (a full
publication: every product is new), then a second catalogue where 1% of the products
changed name; only those reach the shop.
Targets: full run / floor <= 2.5, peak RSS <= 200 MB, second delta run <= 1.5 x full run.

    python benchmarks/bench_catalogue_xml.py [--products 1000000]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import ROOT, RUN_GATEWAY, run_child

FLOOR_XSD = """
import sys
from lxml import etree
schema = etree.XMLSchema(etree.parse(sys.argv[2]))
n = 0
for _, el in etree.iterparse(sys.argv[1], schema=schema, tag="product"):
    n += 1
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]
print(f"  floor: {n:,} products parsed and validated", flush=True)
"""

CONFIG = """\
# Benchmark workspace: canonical XML in, PrestaShop product CSV out.
[gateway]
workspace = "."
poll_interval = "50ms"
min_age = "0s"
batch_size = 200

[endpoints.erp_in]
path = "inbox/erp"

[endpoints.erp_out]
path = "outbox/erp"

[endpoints.shop_out]
path = "outbox/shop"

# the category tree first: the products refer to it
[channels.categories_xml_in]
direction = "in"
endpoint = "erp_in"
pattern = "categories_*.xml"
document = "categories"
mapping = "canonical_categories_in"
ack_endpoint = "erp_out"
export = "full"
settle = "delete"

[channels.catalogue_xml_in]
direction = "in"
endpoint = "erp_in"
pattern = "catalogue_*.xml"
document = "catalogue"
mapping = "canonical_catalogue_in"
ack_endpoint = "erp_out"
export = "full"
settle = "delete"
max_size = "2GB"

[channels.shop_products_csv]
direction = "out"
endpoint = "shop_out"
document = "catalogue"
mapping = "prestashop_products_csv"
filename = "products_{{exchange}}.csv"
publish = "{publish}"
"""

# --- the data --------------------------------------------------------------------------

ROOTS = [("Maison", "Home"), ("Cuisine", "Kitchen"), ("Jardin", "Garden"),
         ("Bricolage", "DIY"), ("Luminaires", "Lighting"), ("Textile", "Textiles"),
         ("Bureau", "Office"), ("Enfants & bébés", "Kids & babies")]
SUBS = [("Rangement", "Storage"), ("Décoration", "Decoration"), ("Accessoires", "Accessories"),
        ("Entretien", "Care")]
LEAVES = [("Premium", "Premium"), ("Essentiels", "Essentials"), ("Éco", "Eco"),
          ("Pro", "Pro"), ("Grand format", "Large size")]
NOUNS = [("Chaise", "chair"), ("Table", "table"), ("Lampe", "lamp"), ("Tapis", "rug"),
         ("Coussin", "cushion"), ("Étagère", "shelf"), ("Cafetière", "coffee maker"),
         ("Sécateur", "pruning shears"), ("Torchon", "tea towel"), ("Bougie", "candle"),
         ("Panier", "basket"), ("Miroir", "mirror"), ("Plaid", "throw"), ("Vase", "vase"),
         ("Tabouret", "stool"), ("Casserole", "saucepan")]
MATERIALS = [("en chêne", "Oak"), ("en lin", "Linen"), ("en laiton", "Brass"),
             ("en verre", "Glass"), ("en acier inoxydable", "Stainless steel"),
             ("en céramique", "Ceramic"), ("en rotin", "Rattan"), ("en laine", "Wool"),
             ("en bambou", "Bamboo"), ("en marbre", "Marble")]
BRANDS = ["Atelier Dupré", "Maison Dupré", "Lumen", "Jardinor", "Dupré &amp; Fils",
          "Nordique", "Le Comptoir", "Brico&amp;Co", "Hêtre &amp; Chêne", "Kasa",
          "Verrerie d'Alsace", "Tissage Lyonnais", "Oslo Living", "Terre Cuite", "Atelier 9"]
TAXES = ["N20"] * 12 + ["R10"] * 3 + ["R55", "SR21", "Z0"]
FINISH_FR = ["huilé", "brossé", "tressé", "émaillé", "verni", "patiné", "naturel", "mat"]
FINISH_EN = ["oiled", "brushed", "woven", "enamelled", "varnished", "aged", "natural", "matt"]


def categories() -> list[tuple[str, str | None, str, str, int]]:
    """~200 categories, three levels: (id, parent, fr, en, position)."""
    out: list[tuple[str, str | None, str, str, int]] = []
    n = 0

    def new(parent: str | None, fr: str, en: str, pos: int) -> str:
        nonlocal n
        n += 1
        cid = f"FAM{n:03d}"
        out.append((cid, parent, fr, en, pos))
        return cid
    for r, (rfr, ren) in enumerate(ROOTS, 1):
        root = new(None, rfr, ren, r)
        for s, (sfr, sen) in enumerate(SUBS, 1):
            sub = new(root, f"{sfr} {rfr.lower()}", f"{ren} {sen.lower()}", s)
            for lf, (lfr, len_) in enumerate(LEAVES, 1):
                new(sub, f"{sfr} {lfr}", f"{sen} {len_}", lf)
    return out


def _ean13(i: int) -> str:
    body = f"376{i:09d}"
    s = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - s % 10) % 10)


def write_files(tmp: Path, n: int) -> tuple[Path, Path, Path, set[str], list[str]]:
    """The categories XML, catalogue 1 and catalogue 2 (1% of names changed): the changed
    SKUs, and the family codes."""
    cats = categories()
    leaves = [c[0] for c in cats if c[0] not in {p[1] for p in cats}]
    cat_path = tmp / "categories_20261130.xml"
    with open(cat_path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<categories>\n')
        for cid, parent, fr, en, pos in cats:
            fh.write(f"<category><id>{cid}</id>"
                     + (f"<parent_id>{parent}</parent_id>" if parent else "")
                     + f'<name lang="en">{en.replace("&", "&amp;")}</name>'
                     f'<name lang="fr">{fr.replace("&", "&amp;")}</name>'
                     f"<position>{pos}</position><active>true</active></category>\n")
        fh.write("</categories>\n")
    p1, p2 = tmp / "catalogue_20261130.xml", tmp / "catalogue_20261207.xml"
    changed: set[str] = set()
    head = '<?xml version="1.0" encoding="utf-8"?>\n<catalogue>\n'
    with open(p1, "w", encoding="utf-8") as f1, open(p2, "w", encoding="utf-8") as f2:
        f1.write(head)
        f2.write(head)
        b1: list[str] = []
        b2: list[str] = []
        nl, nn, nm, nb = len(leaves), len(NOUNS), len(MATERIALS), len(BRANDS)
        for i in range(n):
            h = (i * 2654435761) & 0xFFFFFFFF  # a cheap spread of the product number
            sku = f"PRD-{i:07d}"
            nfr, nen = NOUNS[h % nn]
            mfr, men = MATERIALS[(h >> 4) % nm]
            size = 20 + (h >> 8) % 180
            fin = (h >> 12) % 8
            name_fr = f"{nfr} {mfr} {size} cm"
            name_en = f"{men} {nen} {size} cm"
            if h % 23 == 0:
                name_fr += " &amp; housse"
                name_en += " &amp; cover"
            elif h % 29 == 0:
                name_en += ' &quot;classic&quot;'
            ean = ""
            e = h % 20
            if e < 16:
                ean = f"<ean>{_ean13(i)}</ean>"
            elif e == 16:
                ean = f"<ean>{i % 100_000_000:08d}</ean>"
            elif e == 17:
                ean = f"<ean>0{_ean13(i)}</ean>"  # a GTIN-14: left empty in PrestaShop
            short = (f'<short_description lang="fr">{nfr} {FINISH_FR[fin]}, '
                     f"{size} cm</short_description>" if h % 10 == 0 else "")
            desc = (f'<description lang="en">{men} {nen}, {FINISH_EN[fin]} finish; '
                    f"size {size} cm.</description>"
                    f'<description lang="fr">{nfr} {mfr}, finition {FINISH_FR[fin]} '
                    f"; {size} cm.</description>" if h % 8 == 1 else "")
            cat = f"<category>{leaves[(h >> 16) % nl]}</category>"
            if h % 4 == 0:
                cat += f"<category>{leaves[((h >> 16) + 1 + (h >> 20) % 9) % nl]}</category>"
            weight = ((h >> 5) % 40_000) / 1000
            unit = ("<weight_unit>kg</weight_unit>" if h % 3 == 0 else
                    "<weight_unit>g</weight_unit>" if h % 7 == 0 else "")
            reorder = f"<reorder_point>{(h >> 9) % 50}</reorder_point>" if h % 10 < 6 else ""
            active = "false" if h % 31 == 0 else "true"
            brand = f"<brand>{BRANDS[(h >> 3) % nb]}</brand>" if h % 5 else ""
            rest = (f"{desc}{brand}{cat}"
                    f"<tax_class>{TAXES[(h >> 7) % len(TAXES)]}</tax_class>"
                    f"<weight>{weight:.3f}</weight>{unit}"
                    f"<active>{active}</active>{reorder}</product>\n")
            start = f"<product><sku>{sku}</sku>{ean}<name lang=\"en\">{name_en}</name>"
            line = f'{start}<name lang="fr">{name_fr}</name>{short}{rest}'
            b1.append(line)
            if i % 100 == 37:
                changed.add(sku)
                line = f'{start}<name lang="fr">{name_fr} (nouveau modèle)</name>{short}{rest}'
            b2.append(line)
            if len(b1) >= 20_000:
                f1.write("".join(b1))
                f2.write("".join(b2))
                b1, b2 = [], []
        f1.write("".join(b1) + "</catalogue>\n")
        f2.write("".join(b2) + "</catalogue>\n")
    return cat_path, p1, p2, changed, [c[0] for c in cats]


def workspace(root: Path, publish: str, families: list[str]) -> Path:
    """Folders, the configuration, and the product mapping with a family → PrestaShop
    category table covering the ~200 families (the shipped table has a handful)."""
    for sub in ("inbox/erp", "outbox/erp", "outbox/shop", "mappings/lookups"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shipped = ROOT / "mappings"
    shutil.copy(shipped / "prestashop_products_csv.toml", root / "mappings")
    shutil.copy(shipped / "lookups/erp_tax_to_prestashop.csv", root / "mappings/lookups")
    (root / "mappings/lookups/erp_family_to_category.csv").write_text(
        "erp_family,category_id\n" + "".join(f"{f},{i + 3}\n" for i, f in enumerate(families)),
        encoding="utf-8")
    cfg = root / "gateway.toml"
    cfg.write_text(CONFIG.format(publish=publish), encoding="utf-8")
    return cfg


def drop(src: Path, ws: Path) -> None:
    """Put a file in the ERP's drop folder (a hard link: the gateway deletes its copy)."""
    dst = ws / "inbox/erp" / src.name
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def outputs(ws: Path) -> set[Path]:
    return set((ws / "outbox/shop").glob("products_*.csv"))


def csv_skus(path: Path) -> tuple[int, list[str]]:
    """Data rows of a product CSV (header checked) and their references."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter=";")
        header = next(rows)
        ref = header.index("Reference #")
        skus = [r[ref] for r in rows]
    return len(skus), skus


def count_rows(path: Path) -> int:
    """Data rows (lines after the header): no text of the catalogue holds a newline."""
    with open(path, "rb") as fh:
        if not fh.readline().startswith(b"Product ID;Active (0/1);Name *;"):
            raise SystemExit(f"{path.name}: not a PrestaShop product import")
        n = 0
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    return n


def floor(path: Path) -> tuple[float, float]:
    s, rss = run_child(FLOOR_XSD, str(path), str(ROOT / "schemas/catalogue.xsd"))
    print(f"  floor (iterparse + XSD): {s:7.2f} s, peak RSS {rss:5.0f} MB", flush=True)
    return s, rss


def run(cfg: Path, label: str) -> tuple[float, float]:
    s, rss = run_child(RUN_GATEWAY, str(cfg))
    print(f"  {label}: {s:7.2f} s, peak RSS {rss:5.0f} MB", flush=True)
    return s, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=1_000_000)
    ap.add_argument("--keep", help="keep the generated files in this folder")
    args = ap.parse_args()
    n = args.products
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as d:
        tmp = Path(args.keep) if args.keep else Path(d)
        tmp.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        cat_file, file1, file2, changed, families = write_files(tmp, n)
        size_mb = file1.stat().st_size / 1e6
        print(f"generated {n:,} products ({size_mb:.0f} MB), {len(families)} categories, "
              f"{len(changed):,} changed in the second file, in "
              f"{time.perf_counter() - t:.1f} s", flush=True)

        floor_s, floor_rss = floor(file1)

        # full publication
        ws = tmp / "ws_full"
        cfg = workspace(ws, "full", families)
        drop(cat_file, ws)
        run(cfg, "category tree (not timed)")
        drop(file1, ws)
        full_s, full_rss = run(cfg, "full run")
        out = outputs(ws)
        assert len(out) == 1, out
        rows = count_rows(next(iter(out)))
        if rows != n:
            raise SystemExit(f"full run: {rows:,} product rows, expected {n:,}")
        shutil.rmtree(ws)

        # delta publication
        ws = tmp / "ws_delta"
        cfg = workspace(ws, "delta", families)
        drop(cat_file, ws)
        run(cfg, "category tree (not timed)")
        drop(file1, ws)
        first_s, first_rss = run(cfg, "delta, first run (all new)")
        before = outputs(ws)
        rows = count_rows(next(iter(before)))
        if rows != n:
            raise SystemExit(f"first delta run: {rows:,} product rows, expected {n:,}")
        drop(file2, ws)
        delta_s, delta_rss = run(cfg, f"delta, second run ({len(changed):,} changed)")
        new = outputs(ws) - before
        assert len(new) == 1, new
        rows, skus = csv_skus(next(iter(new)))
        if rows != len(changed) or set(skus) != changed:
            raise SystemExit(f"second delta run: {rows:,} rows, expected exactly the "
                             f"{len(changed):,} changed products")
        shutil.rmtree(ws)
        # the machine's speed drifts during a run: the floor again, the ratios use the mean
        floor2_s, _ = floor(file1)
        floor_s = (floor_s + floor2_s) / 2

    rss = max(full_rss, first_rss, delta_rss)
    figures = [
        ("floor: iterparse + XSD", f"{floor_s:.2f} s", f"{floor_rss:.0f} MB",
         "mean of 2", ""),
        ("full run", f"{full_s:.2f} s", f"{full_rss:.0f} MB",
         f"{full_s / floor_s:.2f} x floor", _met(full_s / floor_s <= 2.5, "<= 2.5")),
        ("delta, first run", f"{first_s:.2f} s", f"{first_rss:.0f} MB",
         f"{first_s / full_s:.2f} x full", ""),
        ("delta, 1% changed", f"{delta_s:.2f} s", f"{delta_rss:.0f} MB",
         f"{delta_s / full_s:.2f} x full", _met(delta_s / full_s <= 1.5, "<= 1.5")),
        ("peak RSS (all runs)", "", f"{rss:.0f} MB", "", _met(rss <= 200, "<= 200 MB")),
    ]
    print(f"\n{n:,} products, {size_mb:.0f} MB")
    print(f"{'':24} {'time':>9} {'peak RSS':>9} {'ratio':>15}  target")
    for name, s, r, ratio, target in figures:
        print(f"{name:24} {s:>9} {r:>9} {ratio:>15}  {target}")


def _met(ok: bool, target: str) -> str:
    return f"{target}: {'met' if ok else 'NOT met'}"


if __name__ == "__main__":
    main()
