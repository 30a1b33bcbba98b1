"""Independent check of the engine's wire formats.

The loopback traffic of feedsim -> t2t -> gwsim is captured with tshark and decoded by
decoders nobody here wrote: tshark's own MoldUDP64, SoupBinTCP and OUCH dissectors, and the
ITCH 5.0 parser of the `itchfeed` package from PyPI. (Debian's tshark also has a
`nasdaq_itch` dissector, but it decodes ITCH 4.x layouts - 4-byte order references, seconds
and milliseconds - so ITCH 5.0 is checked with itchfeed instead.) Every field is compared
with what feedsim says it sent (its --dump file), what t2t decoded (its --trace) and what
gwsim logged.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import FEED_PORT, GW_PORT, Rig, build, read_json, rig, wait_for

itch_parser = pytest.importorskip("itch.parser", reason="itchfeed (dev extra) is not installed")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]

ALL_ITCH_TYPES = set("SRHYLVWKJhAFECXDUPQBINO")
DECODE_AS = ["-d", f"udp.port=={FEED_PORT},moldudp64", "-d", f"tcp.port=={GW_PORT},soupbintcp"]


@pytest.fixture(scope="module")
def bindir() -> Path:
    return build()


@pytest.fixture
def captured(tmp_path: Path, bindir: Path) -> Iterator[tuple[Rig, Path]]:
    """One engine session run while dumpcap (tshark's capture engine) records the loopback."""
    with rig(tmp_path, bindir) as r:
        pcap = tmp_path / "engine.pcapng"
        err = tmp_path / "tshark.stderr"
        with err.open("wb") as e:
            cap = subprocess.Popen(
                ["ip", "netns", "exec", r.ns, "dumpcap", "-q", "-i", "lo", "-w", str(pcap)],
                stdout=subprocess.DEVNULL,
                stderr=e,
            )
        try:
            wait_for(lambda: "Capturing on" in err.read_text(), 20, "dumpcap to start capturing")
            r.gwsim()
            t2t = r.t2t(
                "--exit-on-end",
                *("--buy", "AAPL:100.05", "--sell", "MSFT:99.95"),
                *("--max-orders-per-sec", "1000000", "--max-position", "100000000"),
                *("--trace", str(r.path("trace.jsonl"))),
            )
            feed = r.feedsim(
                *("--messages", "12000", "--speed", "1", "--rate", "50000", "--seed", "3"),
                *("--dump", str(r.path("sent.itch"))),
            )
            assert t2t.wait(60) == 0, t2t.stderr
            gw = next(p for p in r.procs if p.name == "gwsim")
            assert gw.stop() == 0
            wait_for(
                lambda: udp_frames(pcap) >= feed["packets_sent"],
                30,
                "the capture file to hold every feed packet",
                step=0.5,
            )
        finally:
            if cap.poll() is None:
                os.kill(cap.pid, signal.SIGINT)
            cap.wait(timeout=30)
        yield r, pcap


def udp_frames(pcap: Path) -> int:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "udp", "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return len(out.split())


def tshark_json(pcap: Path, display_filter: str, fields: list[str]) -> list[dict[str, list[str]]]:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), *DECODE_AS, "-Y", display_filter, "-T", "json"]
        + [arg for f in fields for arg in ("-e", f)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    frames = json.loads(out) if out.strip() else []
    return [fr["_source"]["layers"] for fr in frames]


def char(v: str) -> str:
    """tshark shows FT_CHAR fields as 'X'."""
    return v.strip("'")


def dumped_messages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    msgs, off = [], 0
    while off < len(data):
        n = int.from_bytes(data[off : off + 2], "big")
        msgs.append(data[off + 2 : off + 2 + n])
        off += 2 + n
    return msgs


def check_itch_fields(m: Any, t: dict[str, Any]) -> None:
    """Compare an itchfeed message with t2t's trace record of the same sequence number."""
    assert m.message_type.decode() == t["type"]
    assert m.stock_locate == t["locate"]
    assert m.tracking_number == t["tracking"]
    assert m.timestamp == t["timestamp"]
    typ = t["type"]
    if typ in "AF":
        assert m.order_reference_number == t["ref"]
        assert m.buy_sell_indicator.decode() == t["side"]
        assert m.shares == t["shares"]
        assert m.stock.decode().rstrip() == t["stock"]
        assert m.price == t["price"]
        if typ == "F":
            assert m.attribution.decode() == t["attribution"]
    elif typ in "EC":
        assert m.order_reference_number == t["ref"]
        assert m.executed_shares == t["shares"]
        assert m.match_number == t["match"]
        if typ == "C":
            assert m.printable.decode() == t["printable"]
            assert m.execution_price == t["price"]
    elif typ == "X":
        assert m.order_reference_number == t["ref"]
        assert m.cancelled_shares == t["shares"]
    elif typ == "D":
        assert m.order_reference_number == t["ref"]
    elif typ == "U":
        assert m.order_reference_number == t["ref"]
        assert m.new_order_reference_number == t["new_ref"]
        assert m.shares == t["shares"]
        assert m.price == t["price"]
    elif typ == "R":
        assert m.stock.decode().rstrip() == t["stock"]
        assert m.round_lot_size == t["round_lot"]
    elif typ == "S":
        assert m.event_code.decode() == t["event"]


def test_wire_formats_decode_independently(captured: tuple[Rig, Path]) -> None:
    r, pcap = captured
    feed = read_json(r.path("feedsim.json"))
    sent = dumped_messages(r.path("sent.itch"))
    assert len(sent) == feed["messages_sent"] == 12000

    # ---- MoldUDP64, by tshark's dissector
    mold = tshark_json(
        pcap,
        "moldudp64",
        ["moldudp64.session", "moldudp64.sequence", "moldudp64.count", "moldudp64.msgseq",
         "moldudp64.msglen", "moldudp64.msgdata"],
    )  # fmt: skip
    assert len(mold) == feed["packets_sent"]
    wire: list[tuple[int, bytes]] = []
    counts = []
    for pkt in mold:
        assert pkt["moldudp64.session"] == ["COLOTUNE01"]
        count = int(pkt["moldudp64.count"][0])
        counts.append(count)
        if count in (0, 0xFFFF):
            assert "moldudp64.msgdata" not in pkt
            continue
        seqs = [int(s) for s in pkt["moldudp64.msgseq"]]
        datas = [bytes.fromhex(d.replace(":", "")) for d in pkt["moldudp64.msgdata"]]
        lens = [int(n) for n in pkt["moldudp64.msglen"]]
        assert len(seqs) == len(datas) == count
        assert seqs[0] == int(pkt["moldudp64.sequence"][0])
        assert [len(d) for d in datas] == lens
        wire.extend(zip(seqs, datas, strict=True))
    assert counts[0] == 0  # the opening heartbeat
    assert counts[-3:] == [0xFFFF] * 3  # end of session
    assert [s for s, _ in wire] == list(range(1, 12001))
    assert [d for _, d in wire] == sent  # byte for byte what feedsim says it sent

    # ---- ITCH 5.0, by itchfeed; against t2t's decode of the same sequence numbers
    trace = [json.loads(line) for line in r.path("trace.jsonl").read_text().splitlines()]
    decoded = {t["seq"]: t for t in trace if "seq" in t}
    assert len(decoded) == 12000
    parser = itch_parser.MessageParser()
    seen = set()
    for seq, data in wire:
        m = parser.get_message_type(data)
        assert len(data) == type(m).message_size, f"{data[:1]!r} length {len(data)}"
        check_itch_fields(m, decoded[seq])
        seen.add(data[:1].decode())
    assert seen == ALL_ITCH_TYPES

    # ---- SoupBinTCP, by tshark's dissector
    soup = tshark_json(
        pcap,
        "soupbintcp",
        ["soupbintcp.packet_type", "soupbintcp.username", "soupbintcp.password",
         "soupbintcp.session"],
    )  # fmt: skip
    types = [char(t) for pkt in soup for t in pkt["soupbintcp.packet_type"]]
    assert types[0] == "L"
    login = next(p for p in soup if char(p["soupbintcp.packet_type"][0]) == "L")
    assert login["soupbintcp.username"][0].strip() == "COLO"
    assert login["soupbintcp.password"][0].strip() == "secret"
    accepted = next(p for p in soup if char(p["soupbintcp.packet_type"][0]) == "A")
    assert accepted["soupbintcp.session"][0].strip() == "GWSIM00001"
    stats = read_json(r.path("t2t.json"))
    n_orders = stats["orders"]["sent"]
    assert n_orders > 0
    assert types.count("U") == n_orders  # one Unsequenced Data packet per order
    assert types.count("S") == n_orders  # one Sequenced Data (Accepted) per order
    assert types[-1] == "O"  # the engine logged out

    # ---- OUCH 4.2, by tshark's dissector; against gwsim's log and t2t's trace
    fields = ["ouch.packet_type", "ouch.order_token", "ouch.buy_sell_indicator", "ouch.shares",
              "ouch.stock", "ouch.price", "ouch.tif", "ouch.firm", "ouch.display",
              "ouch.capacity", "ouch.iso_eligible", "ouch.min_quantity", "ouch.cross_type",
              "ouch.customer_type", "ouch.order_state"]  # fmt: skip
    ouch = tshark_json(pcap, "ouch", fields)
    enter: list[dict[str, str]] = []
    accepted_tokens: list[str] = []
    for pkt in ouch:
        # a frame carries one direction only, so its OUCH messages share one type and
        # the i-th value of every field belongs to the i-th message
        for i in range(len(pkt["ouch.packet_type"])):
            rec = {f.removeprefix("ouch."): pkt[f][i] for f in fields if i < len(pkt.get(f, []))}
            if char(rec["packet_type"]) == "O":
                enter.append(rec)
            elif char(rec["packet_type"]) == "A":
                accepted_tokens.append(rec["order_token"])
                assert char(rec["order_state"]) == "L"
    gwlog = [json.loads(line) for line in r.path("gwsim.log").read_text().splitlines()]
    orders = [t["order"] for t in trace if "order" in t]
    assert len(enter) == len(gwlog) == len(orders) == n_orders
    for w, g, o in zip(enter, gwlog, orders, strict=True):
        assert w["order_token"] == g["token"] == o["token"]
        assert char(w["buy_sell_indicator"]) == g["side"] == o["side"]
        assert int(w["shares"]) == g["shares"] == o["shares"]
        assert w["stock"].strip() == g["stock"] == o["stock"]
        assert int(w["price"]) == g["price"] == o["price"]
        assert int(w["tif"]) == g["tif"] == 0
        assert w["firm"].strip() == g["firm"] == "COLO"
        assert char(w["display"]) == g["display"] == "Y"
        assert char(w["capacity"]) == g["capacity"] == "A"
        assert char(w["iso_eligible"]) == g["intermarket_sweep"] == "N"
        assert int(w["min_quantity"]) == g["min_qty"] == 0
        assert char(w["cross_type"]) == g["cross_type"] == "N"
        assert char(w["customer_type"]) == g["customer_type"] == "R"
    assert accepted_tokens == [w["order_token"] for w in enter]

    # ---- decode-to-order split by the type of the message that triggered each order
    triggers = [decoded[o["trigger_seq"]]["type"] for o in orders]
    lat = stats["latency"]
    assert lat["decode_to_order_add"]["count"] == sum(t in "AF" for t in triggers) > 0
    assert lat["decode_to_order_change"]["count"] == sum(t in "ECXDU" for t in triggers) > 0
