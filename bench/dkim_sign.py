"""DKIM benchmark: the outbound signer (``mss.dkim.DkimSigner``, OpenSSL for the RSA step)
against dkimpy's own signer (pure-Python RSA), on a 10 KB message, one core; then the MX's
verification (``InboundDkim.prepare``) of a 10 KB and a 25 MB message: time, and the longest
stall of the event loop meanwhile (a 1 ms ticker runs beside it).

    .venv/bin/python bench/dkim_sign.py --messages 2000

Prints the median and p99 time per signature for each, and checks that dkimpy verifies ours.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import dkim

from mss.dkim import DkimSigner, InboundDkim, dns_record, generate_key
from mss.dkim.keys import DkimKey

DOMAIN = "operateur.test"
SELECTOR = "bench"


def message(size: int) -> bytes:
    head = (
        b"From: Dr Alice Martin <alice.martin@operateur.test>\r\n"
        b"To: bob.durand@autre.test\r\n"
        b"Subject: Compte rendu\r\n"
        b"Date: Sun, 22 Nov 2026 04:40:00 +0000\r\n"
        b"Message-ID: <bench@operateur.test>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"X-MSS-INS: O\r\n\r\n"
    )
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    return head + line * ((size - len(head)) // len(line) + 1)


def timings(work: Callable[[], bytes], count: int) -> list[float]:
    spent = []
    for _ in range(count):
        start = time.perf_counter()
        work()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def report(name: str, spent: list[float]) -> None:
    p99 = statistics.quantiles(spent, n=100)[98]
    print(f"{name:<28} median {statistics.median(spent):6.3f} ms   p99 {p99:6.3f} ms")


def record_of(key: DkimKey) -> bytes:
    _name, value = dns_record(SELECTOR, DOMAIN, key)
    return "".join(value.split('"')[1::2]).encode()


def check(key: DkimKey, signed: bytes) -> None:
    record = record_of(key)
    if not dkim.verify(signed, dnsfunc=lambda _name, timeout=5: record):
        raise SystemExit("dkimpy does not verify the signer's signature")


async def verification(key: DkimKey, signed: bytes) -> tuple[float, float, bytes]:
    """(ms to verify, longest event-loop stall in ms, the results field)."""
    record = record_of(key)

    async def lookup(_name: str) -> list[bytes] | None:
        return [record]

    inbound = InboundDkim("mx.bench.test", lookup=lookup)
    stalls: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stalls.append(now - last - 0.001)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    prepared = await inbound.prepare(signed, verify_dkim=True)
    spent = time.perf_counter() - start
    done.set()
    await task
    return spent * 1000, max(stalls) * 1000, prepared.results_field


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10 * 1024)
    args = parser.parse_args()
    key = generate_key()
    body = message(args.size)
    signer = DkimSigner(SELECTOR, {DOMAIN: key})
    check(key, signer.sign(body, DOMAIN))
    print(f"{args.messages} signatures of a {len(body)}-byte message, RSA-2048, relaxed/relaxed")
    report("mss DkimSigner", timings(lambda: signer.sign(body, DOMAIN), args.messages))
    pem = key.private_pem()

    def dkimpy() -> bytes:
        return bytes(dkim.sign(body, SELECTOR.encode(), DOMAIN.encode(), pem))

    report("dkimpy dkim.sign", timings(dkimpy, max(args.messages // 10, 20)))
    for size in (10 * 1024, 25 * 1024 * 1024):
        signed = signer.sign(message(size), DOMAIN)
        spent, stall, field = asyncio.run(verification(key, signed))
        verdict = field.split(b";")[1].split()[0].decode()
        print(f"verify {size:>9} bytes: {spent:8.1f} ms, loop stall max {stall:6.1f} ms, {verdict}")


if __name__ == "__main__":
    main()
