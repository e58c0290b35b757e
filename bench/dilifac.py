"""The Dilifac transport (zeep over the guarded client) against the Dilifac sandbox: what
each call costs, so that the worker's share of a Dilifac deposit and poll is known.

Starts the sandbox (``contrib/dilifac_sandbox``) on a free loopback port, then times:
reading the packaged WSDL (once per process), building a client for a member, N deposits of
a CII of the given size (each with its archive receipt, as the outlet does), one
``ConsulterStatuts`` of the N deposits (history of four steps each), and ``RechercherDepot``.

    .venv/bin/python bench/dilifac.py [--deposits 50] [--kilobytes 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.logs import configure_logging  # noqa: E402
from gateway.outbound import outbound_client  # noqa: E402
from plugins.dilifac.testing import DilifacSandbox  # noqa: E402
from plugins.dilifac.transport import DepositRequest, SoapTransport, wsdl_document  # noqa: E402

CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


def document(number: str, kilobytes: int) -> bytes:
    padding = "<!-- " + "x" * max(kilobytes * 1024 - 300, 0) + " -->"
    return (
        f'<rsm:CrossIndustryInvoice xmlns:rsm="{CII}" xmlns:ram="{RAM}">{padding}'
        f"<rsm:ExchangedDocument><ram:ID>{number}</ram:ID></rsm:ExchangedDocument>"
        "</rsm:CrossIndustryInvoice>"
    ).encode()


def timed(call):
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=50)
    parser.add_argument("--kilobytes", type=int, default=20)
    args = parser.parse_args()
    configure_logging("console", "WARNING")  # the figures alone
    with tempfile.TemporaryDirectory() as workdir:
        sandbox = DilifacSandbox(Path(workdir))
        http = outbound_client(30.0)
        try:
            _, wsdl_ms = timed(wsdl_document)
            login, password = sandbox.credentials["login"], sandbox.credentials["password"]
            transport, client_ms = timed(lambda: SoapTransport(sandbox.url, login, password, http))
            deposits, receipts, ids = [], [], []
            for index in range(args.deposits):
                number = f"BENCH-{index:05d}"
                request = DepositRequest(
                    "81234567600017", number, "CII", f"{number}.xml",
                    document(number, args.kilobytes), f"bench-{index}",
                )  # fmt: skip
                deposit, ms = timed(lambda r=request: transport.deposit(r))
                deposits.append(ms)
                ids.append(deposit.deposit_id)
                receipts.append(timed(lambda d=deposit: transport.archive_receipt(d.deposit_id))[1])
            for deposit_id in ids:
                for _ in range(3):
                    sandbox.move(deposit_id)
            statuses, statuses_ms = timed(lambda: transport.statuses(ids))
            assert all(len(item.history) == 4 for item in statuses)
            _, find_ms = timed(lambda: transport.find_deposit("81234567600017", "BENCH-00000"))
        finally:
            http.close()
            sandbox.stop()
    print(f"WSDL read and parsed (once a process): {wsdl_ms:.1f} ms")
    print(f"client for a member (zeep, WSDL cached): {client_ms:.1f} ms")
    print(
        f"DeposerFacture, {args.kilobytes} KB CII: median {statistics.median(deposits):.1f} ms, "
        f"max {max(deposits):.1f} ms ({args.deposits} deposits)"
    )
    print(f"ObtenirAccuseArchivage: median {statistics.median(receipts):.1f} ms")
    print(f"ConsulterStatuts of {args.deposits} deposits, 4 steps each: {statuses_ms:.1f} ms")
    print(f"RechercherDepot: {find_ms:.1f} ms")


if __name__ == "__main__":
    main()
