"""The reference engine end to end: feedsim -> t2t -> gwsim in a throwaway network namespace."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import BUILD, Rig, build, read_json, rig, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

STRATEGY = ["--buy", "AAPL:100.05", "--sell", "MSFT:99.95"]
LOOSE_RISK = ["--max-orders-per-sec", "1000000", "--max-position", "100000000"]
STAGES = (
    "tick_to_trade",
    "decode_to_order",
    "decode_to_order_add",
    "decode_to_order_change",
    "decode",
    "book",
    "decision",
    "risk",
    "encode",
)


@pytest.fixture(scope="module")
def bindir() -> Path:
    return build()


@pytest.fixture
def engine(tmp_path: Path, bindir: Path) -> Iterator[Rig]:
    with rig(tmp_path, bindir) as r:
        yield r


def finish(r: Rig, t2t_timeout: float = 30) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait for t2t to exit at the end of the session, stop gwsim, return both reports."""
    t2t = next(p for p in r.procs if p.name == "t2t")
    rc = t2t.wait(t2t_timeout)
    assert rc == 0, f"t2t exited {rc}: {t2t.stderr}"
    gw = next(p for p in r.procs if p.name == "gwsim")
    assert gw.stop() == 0, gw.stderr
    return read_json(r.path("t2t.json")), read_json(r.path("gwsim.json"))


def test_orders_reach_the_gateway_and_stats_hold_histograms(engine: Rig) -> None:
    engine.gwsim()
    engine.t2t("--exit-on-end", *STRATEGY, *LOOSE_RISK)
    feed = engine.feedsim("--messages", "20000", "--speed", "1", "--rate", "100000")
    stats, gw = finish(engine)

    # every message sent was decoded, type by type, with no gap
    assert stats["feed"]["messages"] == feed["messages_sent"] == 20000
    assert stats["feed"]["by_type"] == feed["by_type"]
    assert stats["feed"]["gaps"] == {"events": 0, "messages": 0, "first": []}
    assert stats["feed"]["end_of_session"] is True
    assert stats["book"]["unknown_order_ref"] == 0
    assert stats["book"]["symbols"] == 8

    # orders went out, arrived, and were accepted
    sent = stats["orders"]["sent"]
    assert sent > 0
    assert gw["orders"] == sent
    assert stats["orders"]["accepted"] == sent
    assert gw["logins_accepted"] == 1
    assert gw["logouts"] == 1
    log = [json.loads(line) for line in engine.path("gwsim.log").read_text().splitlines()]
    assert len(log) == sent
    assert {o["stock"] for o in log} <= {"AAPL", "MSFT"}
    assert all(o["shares"] == 100 for o in log)
    assert all(o["side"] == ("B" if o["stock"] == "AAPL" else "S") for o in log)
    # buy only at or below the limit, sell only at or above it
    assert all(o["price"] <= 1000500 for o in log if o["side"] == "B")
    assert all(o["price"] >= 999500 for o in log if o["side"] == "S")
    assert {o["side"] for o in log} == {"B", "S"}

    # histograms: every stage recorded; kernel stamps said which kind they are
    lat = stats["latency"]
    for name in STAGES:
        assert lat[name]["count"] > 0, name
        assert lat[name]["p50"] <= lat[name]["p99"] <= lat[name]["max"], name
        assert sum(b[2] for b in lat[name]["buckets"]) == lat[name]["count"], name
    assert lat["decode_to_order"]["count"] == sent
    assert lat["decode_to_order_add"]["count"] + lat["decode_to_order_change"]["count"] == sent
    assert lat["decode"]["count"] == 20000
    ts = stats["timestamps"]
    assert ts["rx"]["software"] == stats["feed"]["packets"]
    assert ts["tick_to_trade_kind"] == "software"
    assert ts["tx_matched"] + ts["tx_shared"] == sent
    assert lat["tick_to_trade"]["count"] == sent
    assert gw["latency"]["feed_to_gateway"]["count"] == sent

    # threads were named and pinned as asked
    assert stats["threads"]["t2t-hot"]["tid"] > 0
    assert stats["threads"]["t2t-session"]["tid"] > 0


def test_the_order_path_rehearsal_changes_no_decision(tmp_path: Path, bindir: Path) -> None:
    """The same session with the idle rehearsal of the order path (default) and without
    (--no-warm): the same orders, in the same order, with the same order counters."""
    orders: dict[bool, list[tuple[Any, ...]]] = {}
    for rehearsed, extra in ((True, []), (False, ["--no-warm"])):
        workdir = tmp_path / ("rehearsed" if rehearsed else "no-warm")
        workdir.mkdir()
        with rig(workdir, bindir) as r:
            r.gwsim()
            r.t2t("--exit-on-end", *STRATEGY, *LOOSE_RISK, *extra)
            r.feedsim("--messages", "20000", "--speed", "1", "--rate", "100000")
            stats, gw = finish(r)
            assert stats["strategy"]["order_path_rehearsed"] is rehearsed
            assert stats["orders"]["sent"] == gw["orders"] == stats["strategy"]["signals"]
            log = [json.loads(line) for line in r.path("gwsim.log").read_text().splitlines()]
            orders[rehearsed] = [
                (o["stock"], o["side"], o["price"], o["shares"], o["token"][-2:]) for o in log
            ]
    assert len(orders[True]) > 10
    assert orders[True] == orders[False]


def test_sequence_gaps_are_counted(engine: Rig) -> None:
    engine.gwsim()
    engine.t2t("--exit-on-end")
    feed = engine.feedsim(
        "--messages", "20000", "--speed", "max", "--drop-seq", "5000", "--drop-seq", "12000"
    )
    stats, _ = finish(engine)
    gaps = stats["feed"]["gaps"]
    assert gaps["events"] == 2
    assert gaps["messages"] == feed["messages_dropped"] > 0
    (a0, a1), (b0, b1) = gaps["first"]
    assert a0 <= 5000 <= a1
    assert b0 <= 12000 <= b1
    # nothing is lost silently: decoded + gaps = everything the sequence numbers cover
    assert stats["feed"]["messages"] + gaps["messages"] == feed["last_seq"]


def test_malformed_packets_are_counted_not_fatal(engine: Rig) -> None:
    engine.gwsim()
    engine.t2t("--exit-on-end")
    feed = engine.feedsim("--messages", "20000", "--speed", "max", "--malformed", "3")
    stats, _ = finish(engine)
    mal, itch = stats["feed"]["malformed"], stats["feed"]["itch_errors"]
    assert mal["truncated_header"] == feed["malformed_packets"]["truncated_header"] == 3
    assert mal["truncated_message"] == feed["malformed_packets"]["truncated_message"] == 3
    assert mal["messages_lost"] == feed["messages_lost_in_malformed"] == 6
    assert itch["unknown_type"] == feed["malformed_packets"]["unknown_type"] == 3
    assert itch["bad_length"] == feed["malformed_packets"]["bad_length"] == 3
    assert stats["feed"]["gaps"]["events"] == 0
    accounted = (
        stats["feed"]["messages"]
        + mal["messages_lost"]
        + itch["unknown_type"]
        + itch["bad_length"]
        + stats["feed"]["gaps"]["messages"]
    )
    assert accounted == feed["last_seq"]


def test_kill_switch_stops_orders(engine: Rig) -> None:
    kill = engine.path("KILL")
    engine.gwsim()
    t2t = engine.t2t("--exit-on-end", "--kill-file", str(kill), *STRATEGY, *LOOSE_RISK)
    feed_proc = engine.start(
        "feedsim",
        ["--group", "239.1.1.1", "--port", "31001", "--messages", "150000", "--rate", "25000"],
    )
    wait_for(lambda: engine.stats_now(t2t)["orders"]["sent"] > 0, 30, "a first order")
    kill.touch()
    wait_for(lambda: engine.stats_now(t2t)["risk"]["kill_switch_active"], 10, "the kill switch")
    sent_at_kill = engine.stats_now(t2t)["orders"]["sent"]
    assert feed_proc.wait(60) == 0
    stats, gw = finish(engine)
    assert "kill switch" in t2t.stderr
    assert stats["orders"]["sent"] == sent_at_kill == gw["orders"]
    assert stats["risk"]["rejected"]["kill_switch"] > 0


def test_kill_switch_present_at_start_sends_nothing(engine: Rig) -> None:
    kill = engine.path("KILL")
    kill.touch()
    engine.gwsim()
    engine.t2t("--exit-on-end", "--kill-file", str(kill), *STRATEGY, *LOOSE_RISK)
    engine.feedsim("--messages", "20000", "--speed", "max")
    stats, gw = finish(engine)
    assert stats["strategy"]["signals"] > 0
    assert stats["orders"]["sent"] == gw["orders"] == 0
    assert stats["risk"]["rejected"]["kill_switch"] == stats["strategy"]["signals"]


def test_risk_limits_reject_orders(engine: Rig) -> None:
    engine.gwsim()
    engine.t2t(
        "--exit-on-end",
        *("--buy", "AAPL:101.00", "--buy", "MSFT:101.00"),
        *("--max-position", "300", "--max-orders-per-sec", "1000000"),
    )
    engine.feedsim("--messages", "20000", "--speed", "max")
    stats, gw = finish(engine)
    # 100 shares per order, 300 per symbol at most, two symbols
    assert stats["orders"]["sent"] == gw["orders"] == 6
    assert stats["risk"]["rejected"]["position"] > 0


def test_rejected_login_is_reported(engine: Rig) -> None:
    engine.gwsim("--reject-login")
    t2t = engine.t2t(ready=False)
    assert t2t.wait(20) == 3
    assert "rejected the login" in t2t.stderr
    assert "not authorized" in t2t.stderr
    stats = read_json(engine.path("t2t.json"))
    assert stats["session"]["state"] == "login_rejected"
    assert stats["session"]["reject_reason"] == "A"
    gw = next(p for p in engine.procs if p.name == "gwsim")
    assert gw.stop() == 0
    assert read_json(engine.path("gwsim.json"))["logins_rejected"] == 1


def test_wrong_password_is_rejected(engine: Rig) -> None:
    engine.gwsim()
    t2t = engine.t2t("--password", "wrong", ready=False)
    assert t2t.wait(20) == 3
    assert "rejected the login of user 'COLO'" in t2t.stderr


def test_password_from_a_file_logs_in_and_stays_out_of_argv(engine: Rig) -> None:
    secret = engine.path("gateway-password")
    secret.write_text("wrong\n")
    secret.chmod(0o600)
    engine.gwsim()
    t2t = engine.t2t("--password-file", str(secret), ready=False)
    assert t2t.wait(20) == 3
    assert "rejected the login of user 'COLO'" in t2t.stderr
    secret.write_text("secret\n")  # gwsim's password
    t2t = engine.t2t("--password-file", str(secret))  # ready: the gateway accepted the login
    cmdline = Path(f"/proc/{t2t.popen.pid}/cmdline").read_bytes().split(b"\0")
    assert b"secret" not in cmdline, cmdline
    assert t2t.stop() == 0, t2t.stderr


def test_dropped_session_is_reported_and_engine_keeps_running(engine: Rig) -> None:
    engine.gwsim("--drop-after", "3")
    engine.t2t("--exit-on-end", *STRATEGY, *LOOSE_RISK)
    engine.feedsim("--messages", "30000", "--speed", "1", "--rate", "100000")
    stats, gw = finish(engine)
    assert gw["orders"] == 3
    assert gw["sessions_dropped"] == 1
    assert stats["session"]["state"] == "dropped"
    assert stats["session"]["drops"] == 1
    # orders the strategy wanted after the drop were refused by risk, and counted
    assert stats["risk"]["rejected"]["session_down"] > 0
    assert stats["orders"]["sent"] >= 3
    assert stats["feed"]["messages"] == 30000


def test_threads_are_named_and_pinned(engine: Rig) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    hot, sess = allowed[-1], allowed[0]
    engine.gwsim()
    t2t = engine.t2t("--cpu", f"t2t-hot={hot}", "--cpu", f"t2t-session={sess}")
    pid = t2t.popen.pid
    tasks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        comm = (task / "comm").read_text().strip()
        status = (task / "status").read_text()
        cpus = next(
            line.split(":")[1].strip()
            for line in status.splitlines()
            if line.startswith("Cpus_allowed_list")
        )
        tasks[comm] = (int(task.name), cpus)
    assert tasks["t2t-hot"][1] == str(hot)
    assert tasks["t2t-session"][1] == str(sess)
    stats = engine.stats_now(t2t)
    assert stats["threads"]["t2t-hot"] == {"tid": tasks["t2t-hot"][0], "cpu": hot}
    assert stats["threads"]["t2t-session"] == {"tid": tasks["t2t-session"][0], "cpu": sess}
    assert t2t.stop() == 0
    assert read_json(engine.path("t2t.json"))["session"]["state"] == "logged_out"


def test_each_thread_takes_its_own_name_and_no_other(engine: Rig) -> None:
    """colotune-launch pins threads by name as soon as it sees them: a thread that carries
    another's name, even for a moment, is put on that thread's CPU. strace records every
    PR_SET_NAME with the thread that made it; each must be that thread's own name."""
    trace = engine.path("names.strace")
    engine.gwsim()
    strace = ["strace", "--seccomp-bpf", "-f", "-qq", "-e", "trace=prctl", "-o", str(trace)]
    t2t = engine.t2t("--exit-on-end", prefix=strace)
    engine.feedsim("--messages", "2000")
    assert t2t.popen.wait(60) == 0, t2t.stderr
    tids = {v["tid"]: name for name, v in read_json(engine.path("t2t.json"))["threads"].items()}
    calls = re.findall(r'^(\d+) +prctl\(PR_SET_NAME, "([^"]*)"', trace.read_text(), flags=re.M)
    assert {name for _, name in calls} >= {"t2t-hot", "t2t-session"}, calls
    for tid, name in calls:
        # the main thread (not in the stats' threads) is t2t
        assert name == tids.get(int(tid), "t2t"), (tid, name, tids)


@pytest.mark.parametrize(
    ("prog", "args", "needle"),
    [
        ("t2t", ["--cpu", "t2t-hot=1000"], "CPU 1000 is not allowed"),
        ("t2t", ["--cpu", "t2t-cold=0"], "unknown thread 't2t-cold'"),
        ("t2t", ["--cpu", "t2t-hot"], "expected NAME=CPU"),
        ("t2t", ["--buy", "AAPL"], "expected SYMBOL:PRICE"),
        ("t2t", ["--buy", "aapl:1"], "must be 1-8 characters"),
        ("t2t", ["--sell", "MSFT:abc"], "must be a positive decimal"),
        ("t2t", ["--port", "70000"], "--port: expected an integer in 1..65535"),
        ("t2t", ["--group", "10.0.0.1"], "multicast address"),
        ("t2t", ["--max-levels", "-3"], "--max-levels"),
        ("t2t", ["--frobnicate"], "unknown or incomplete option '--frobnicate'"),
        ("t2t", ["--gateway", "nohostport"], "expected HOST:PORT"),
        ("t2t", ["--user", "toolongname"], "--user"),
        ("t2t", ["--password-file", "/nonexistent"], "cannot read /nonexistent"),
        ("feedsim", ["--speed", "fast"], "--speed"),
        ("feedsim", ["--symbols", "0"], "--symbols"),
        ("feedsim", ["--session", "ELEVENCHARS"], "--session"),
        ("feedsim", ["--replay", "x", "--write-file", "y"], "cannot be combined"),
        ("feedsim", ["--replay", "x", "--malformed", "1"], "synthetic session only"),
        ("gwsim", ["--listen", "localhost"], "expected ADDR:PORT"),
        ("gwsim", ["--drop-after", "0"], "--drop-after"),
        ("gwsim", ["stray"], "unexpected argument 'stray'"),
        ("floor", ["--ms", "5"], "--ms: expected an integer in 10..600000"),
        ("floor", ["--cpu", "x"], "--cpu"),
        ("floor", ["--ws-every-us", "0"], "--ws-every-us: expected an integer in 1..10000"),
        ("floor", ["--ws-samples", "10"], "--ws-samples: expected an integer in 1000..1000000"),
    ],
)
def test_invalid_options_exit_2_with_a_clear_message(
    bindir: Path, prog: str, args: list[str], needle: str
) -> None:
    r = subprocess.run([str(bindir / prog), *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert f"run '{prog} --help'" in r.stderr


def test_floor_reports_interruptions_and_load_times(bindir: Path) -> None:
    r = subprocess.run(
        [
            *(str(bindir / "floor"), "--cpu", "0", "--ms", "100"),
            *("--ws-every-us", "5", "--ws-samples", "2000"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    floor = json.loads(r.stdout)
    assert floor["cpu"] == 0 and floor["seconds"] == 0.1 and floor["reads"] > 0
    rates = floor["interruptions_per_s"]
    assert list(rates) == ["250", "1000", "10000", "100000"]
    # every gap counted at a threshold is counted at each lower one
    assert rates["250"] >= rates["1000"] >= rates["10000"] >= rates["100000"] >= 0
    assert [m["mib"] for m in floor["dependent_load_ns"]] == [1, 4, 32]
    assert all(m["ns"] > 0 for m in floor["dependent_load_ns"])
    ws = floor["working_set"]
    assert ws["every_us"] == 5 and ws["samples"] == 2000 and ws["timer_ns"] > 0
    assert [b["kib"] for b in ws["buffers"]] == [256, 1024, 32768]
    for b in ws["buffers"]:
        # a timed load costs at least the timer alone; percentiles are ordered
        assert ws["timer_ns"] <= b["p50"] <= b["p90"] <= b["p99"] <= b["p999"], b


@pytest.mark.parametrize("prog", ["t2t", "feedsim", "gwsim", "floor"])
def test_help_exits_0(bindir: Path, prog: str) -> None:
    r = subprocess.run([str(bindir / prog), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    assert r.stdout.startswith(f"usage: {prog}")


def itch_messages(path: Path) -> list[bytes]:
    """The messages of an ITCH 5.0 file (2-byte length, message), timestamps blanked."""
    data, out, off = path.read_bytes(), [], 0
    while off < len(data):
        n = int.from_bytes(data[off : off + 2], "big")
        m = data[off + 2 : off + 2 + n]
        out.append(m[:5] + bytes(6) + m[11:])
        off += 2 + n
    return out


def test_a_paced_session_is_the_seeds_session_whatever_the_timing(engine: Rig) -> None:
    """Bursts start at random, and how many packets a run forms depends on the clock; the
    messages themselves must not, or two runs of a benchmark trade different sessions."""
    engine.feedsim(
        *("--messages", "20000", "--rate", "40000", "--speed", "1", "--burst", "20"),
        *("--seed", "7", "--dump", str(engine.path("sent.itch"))),
    )
    subprocess.run(
        [str(BUILD / "feedsim"), "--write-file", str(engine.path("file.itch")),
         "--messages", "20000", "--seed", "7"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    sent, written = itch_messages(engine.path("sent.itch")), itch_messages(engine.path("file.itch"))
    assert len(sent) == len(written) == 20000
    first_difference = next(
        (i for i, (a, b) in enumerate(zip(sent, written, strict=True)) if a != b), None
    )
    assert first_difference is None, f"message {first_difference} differs"


def test_symbols_beyond_the_table_are_counted_once_per_message(engine: Rig) -> None:
    """With room for 4 of 8 symbols, each message of the others is counted exactly once:
    directory and add messages as symbols_overflow, messages on their orders as unknown
    references (their orders were never taken into the table)."""
    engine.gwsim()
    engine.t2t("--exit-on-end", "--max-symbols", "4")
    engine.feedsim(
        *("--messages", "20000", "--symbols", "8", "--speed", "max", "--seed", "3"),
        *("--dump", str(engine.path("sent.itch"))),
    )
    stats, _ = finish(engine)
    books: list[bytes] = []
    untracked_refs: set[int] = set()
    overflow = unknown = 0
    for m in itch_messages(engine.path("sent.itch")):
        kind, ref = m[:1], int.from_bytes(m[11:19], "big")
        if kind in (b"R", b"A", b"F"):
            stock = m[11:19] if kind == b"R" else m[24:32]
            if stock not in books and len(books) < 4:
                books.append(stock)
            if stock not in books:
                overflow += 1
                if kind != b"R":
                    untracked_refs.add(ref)
        elif kind in (b"E", b"C", b"X", b"D", b"U") and ref in untracked_refs:
            unknown += 1
            if kind == b"U":
                untracked_refs.add(int.from_bytes(m[19:27], "big"))
    book = stats["book"]
    assert book["symbols"] == 4
    assert overflow > 0 and unknown > 0
    assert book["symbols_overflow"] == overflow
    assert book["unknown_order_ref"] == unknown


def test_decode_and_book_benchmark_mode(tmp_path: Path, bindir: Path) -> None:
    itch = tmp_path / "session.itch"
    subprocess.run(
        [str(BUILD / "feedsim"), "--write-file", str(itch), "--messages", "50000"],
        check=True,
        capture_output=True,
    )
    r = subprocess.run(
        [str(bindir / "t2t"), "--bench-file", str(itch), "--bench-passes", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    bench = json.loads(r.stdout)["bench"]
    assert bench["messages"] == 50000
    assert bench["unknown_order_ref"] == 0
    assert bench["messages_per_s"] > 0
