"""Peak memory of reading a big CustomerQueryRs: streaming (iter_responses) against a whole-tree parse.

Writes a CustomerQueryRs of realistic CustomerRets (``--size-mb``, 100 by default) to a temporary folder,
then reads it in two separate child processes, so that each peak RSS is its own:

  (a) ``iter_responses`` over the file, consuming every Ret (counting them, reading each ListID);
  (b) ``lxml.etree.parse`` of the whole file, then the same walk over the tree: the reference.

Prints the file size, the number of Rets, each reader's peak RSS, its baseline (the peak after imports,
before reading) and the difference, and the ratios. Exits 1 when (a) peaks at 150 MiB or more.

    python bench/parse_memory.py [--size-mb 100] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.stream import iter_responses

logger = logging.getLogger(__name__)

DESCRIPTION = "Peak memory of reading a big CustomerQueryRs: iter_responses against a whole-tree parse."
LIMIT_KIB = 150 * 1024
READERS = {"stream": "iter_responses", "tree": "lxml.etree.parse"}
CITIES = [("Bayshore", "CA", "94326"), ("Middlefield", "CA", "94482"), ("Portland", "OR", "97201"),
          ("Austin", "TX", "78701"), ("Toronto", "ON", "M5V 2T6"), ("Lyon", "", "69002")]


@dataclass(frozen=True)
class Measure:
    reader: str
    rets: int
    list_ids: int
    baseline_kib: int
    peak_kib: int
    seconds: float

    @property
    def growth_kib(self) -> int:
        return self.peak_kib - self.baseline_kib


def customer_ret(number: int) -> etree._Element:
    """A CustomerRet as QuickBooks answers one, in the schema's element order."""
    city, state, postal = CITIES[number % len(CITIES)]
    first, last = f"Dana{number % 97}", f"Okafor-{number}"
    company = f"Okafor & Sons Cabinetry {number}"
    address = [E.Addr1(company), E.Addr2(f"{first} {last}"), E.Addr3(f"{100 + number % 900} Harbor Way"),
               E.City(city), E.State(state), E.PostalCode(postal), E.Country("US")]
    ret: etree._Element = E.CustomerRet(
        E.ListID(f"{0x80000000 + number:08X}-{1714000000 + number}"),
        E.TimeCreated("2019-03-11T09:14:52-07:00"),
        E.TimeModified(f"2024-05-{1 + number % 28:02d}T16:02:{number % 60:02d}-07:00"),
        E.EditSequence(str(1714600000 + number)),
        E.Name(company),
        E.FullName(company),
        E.IsActive("true" if number % 11 else "false"),
        E.Sublevel("0"),
        E.CompanyName(company),
        E.Salutation("Ms."),
        E.FirstName(first),
        E.LastName(last),
        E.BillAddress(*address),
        E.BillAddressBlock(*[E(f"Addr{i + 1}", element.text) for i, element in enumerate(address[:3])],
                           E.Addr4(f"{city}, {state} {postal}".replace(",  ", ", "))),
        E.ShipAddress(*[E(element.tag, element.text) for element in address]),
        E.Phone(f"415-555-{number % 10000:04d}"),
        E.Email(f"accounts{number}@okafor-cabinetry.example"),
        E.Contact(f"{first} {last}"),
        E.CustomerTypeRef(E.ListID("80000001-1552320000"), E.FullName("Commercial")),
        E.TermsRef(E.ListID("80000002-1552320000"), E.FullName("Net 30")),
        E.SalesRepRef(E.ListID("80000003-1552320000"), E.FullName("JM")),
        E.Balance(f"{number % 5000}.{number % 100:02d}"),
        E.TotalBalance(f"{number % 5000}.{number % 100:02d}"),
        E.SalesTaxCodeRef(E.ListID("80000004-1552320000"), E.FullName("Tax")),
        E.ItemSalesTaxRef(E.ListID("80000005-1552320000"), E.FullName("San Tomas")),
        E.AccountNumber(f"C-{number:07d}"),
        E.CreditLimit("25000.00"),
        E.JobStatus("None"),
        E.Notes("Deliveries to the loading dock behind the showroom; call ahead. " * 3),
        E.PreferredDeliveryMethod("Email"),
        E.DataExtRet(E.OwnerID("0"), E.DataExtName("Region"), E.DataExtType("STR255TYPE"),
                     E.DataExtValue(city)),
        E.DataExtRet(E.OwnerID("0"), E.DataExtName("Fusion Customer"), E.DataExtType("STR255TYPE"),
                     E.DataExtValue(f"fusion-{number:08d}")),
    )
    return ret


def write_response(path: Path, size_bytes: int) -> int:
    """A CustomerQueryRs of about ``size_bytes``, written one Ret at a time; returns the number of Rets."""
    average = len(etree.tostring(customer_ret(123456), pretty_print=True))
    count = max(1, size_bytes // average)
    with etree.xmlfile(str(path), encoding="utf-8") as out:
        out.write_declaration()
        with out.element("QBXML"), out.element("QBXMLMsgsRs"):
            with out.element("CustomerQueryRs", requestID="pull-customers", statusCode="0",
                             statusSeverity="Info", statusMessage="Status OK", retCount=str(count),
                             iteratorRemainingCount="0",
                             iteratorID="{5f1d3c8e-7a41-4b0e-9c2d-3e8f6a1b0c4d}"):
                for number in range(count):
                    out.write(customer_ret(number), pretty_print=True)
    return count


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def current_kib() -> int:
    """The resident set size now (Linux); elsewhere the peak so far stands in for it."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return peak_kib()
    return resident_pages * resource.getpagesize() // 1024


def measure(reader: str, path: Path) -> Measure:
    """Read ``path`` with one reader in this process; meant to run in a child of its own."""
    baseline = current_kib()
    started = time.perf_counter()
    rets = list_ids = 0
    if reader == "stream":
        with path.open("rb") as file:
            for _, responses in iter_responses(file):
                for ret in responses:
                    rets += 1
                    list_ids += ret.findtext("ListID") is not None
    else:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
        root = etree.parse(str(path), parser).getroot()
        for response in root.iterfind("QBXMLMsgsRs/*"):
            for ret in response:
                if isinstance(ret.tag, str) and ret.tag.endswith("Ret"):
                    rets += 1
                    list_ids += ret.findtext("ListID") is not None
    seconds = time.perf_counter() - started
    return Measure(READERS[reader], rets, list_ids, baseline, peak_kib(), seconds)


def measure_in_child(reader: str, path: Path) -> Measure:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", reader, str(path)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {READERS[reader]} child failed ({done.returncode}): {done.stderr.strip()}")
    return Measure(**json.loads(done.stdout))


def mib(kib: float) -> str:
    return f"{kib / 1024:,.1f} MiB"


def report(path: Path, expected_rets: int, results: list[Measure]) -> list[str]:
    stream, tree = results
    size = path.stat().st_size
    lines = [
        f"file: {size / 2**20:,.1f} MiB ({size:,} bytes), "
        f"{expected_rets:,} CustomerRet in one CustomerQueryRs",
        "",
        f"{'reader':<18}{'Rets':>9}{'peak RSS':>14}{'baseline':>12}{'peak - baseline':>18}{'seconds':>10}",
    ]
    for result in results:
        lines.append(
            f"{result.reader:<18}{result.rets:>9,}{mib(result.peak_kib):>14}{mib(result.baseline_kib):>12}"
            f"{mib(result.growth_kib):>18}{result.seconds:>10.2f}"
        )
    lines += [
        "",
        f"ratio {tree.reader} / {stream.reader}: peak RSS {tree.peak_kib / stream.peak_kib:.1f}x, "
        f"peak - baseline {tree.growth_kib / max(stream.growth_kib, 1):.1f}x",
        f"limit: {stream.reader} peak RSS < {mib(LIMIT_KIB)}: "
        + ("ok" if stream.peak_kib < LIMIT_KIB else "EXCEEDED"),
    ]
    return lines


def run(size_mb: float, keep: bool) -> int:
    folder = Path(tempfile.mkdtemp(prefix="qbwc-parse-memory-"))
    try:
        path = folder / "customer_query_rs.xml"
        logger.info("writing about %s MiB of CustomerRets to %s", size_mb, path)
        expected = write_response(path, int(size_mb * 2**20))
        results = [measure_in_child(reader, path) for reader in READERS]
        for line in report(path, expected, results):
            print(line)
        wrong = [r.reader for r in results if r.rets != expected or r.list_ids != expected]
        if wrong:
            print(f"error: {', '.join(wrong)} did not read the {expected:,} Rets written", file=sys.stderr)
            return 1
        return 0 if results[0].peak_kib < LIMIT_KIB else 1
    finally:
        if keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--size-mb", type=float, default=100, help="size of the response to write (MiB)")
    parser.add_argument("--keep", action="store_true", help="keep the response file and say where it is")
    parser.add_argument("--measure", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        reader, path = args.measure
        if reader not in READERS:
            parser.error(f"unknown reader {reader!r}: one of {', '.join(READERS)}")
        result = measure(reader, Path(path))
        print(json.dumps(result.__dict__))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run(args.size_mb, args.keep)


if __name__ == "__main__":
    sys.exit(main())
