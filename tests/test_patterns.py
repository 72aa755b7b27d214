"""Patterns: masking, mining, stable ids, `logpipe patterns FILE`, and grouping accuracy on Loghub.

No services needed. The Loghub-2k samples are read from ../shared/testdata/loghub.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from logpipe.patterns import PatternMiner, mask, mine, pattern_id
from logpipe_local.cli import main as logpipe

from conftest import LOGHUB, ROOT, needs_loghub
from patterns_accuracy import evaluate, grouping_accuracy, load_truth, systems

# -- masking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("took 12 ms to read 3 files", "took <*> to read <*> files"),
        ("negative offset -42 and +7", "negative offset <*> and +<*>"),
        ("ratio 0.75 size 3.5GB in 12ms, 10KB left", "ratio <*> size <*> in <*>, <*> left"),
        ("estimated size 20.3 KB, free 1.2 GB", "estimated size <*>, free <*>"),
        ("flags=0x1f mask=ffffffff token de9231d", "flags=<*> mask=<*> token <*>"),
        ("request 123e4567-e89b-12d3-a456-426614174000 done", "request <*> done"),
        ("peer 10.251.73.220:50010 and 192.168.0.1", "peer <*> and <*>"),
        ("bound [fe80::1ff:fe23:4567:890a]:8080 and ::1", "bound [<*>]:<*> and ::<*>"),
        ("block blk_-6952295868487656571 of appattempt_1445144423722_0020_000001", "block blk_<*> of appattempt_<*>"),
        ("task attempt_1445144423722_0020_m_000005_0 done", "task attempt_<*> done"),
        ("open /var/log/app/current.log and C:\\Temp\\x.dll", "open <*> and <*>"),
        ("fetch https://example.com/a?b=1 then hdfs://nn:9000/x", "fetch https://<*> then hdfs://<*>"),
        ("mail from ops.team+alerts@example.co.uk bounced", "mail from <*> bounced"),
        ('tag="View Lock" name="single" msg=\'two words\'', 'tag=<*> name="single" msg=<*>'),
        ("can't find child 5; won't retry", "can't find child <*>; won't retry"),
        ("at Sun Dec 04 04:47:44 2005 and Jun 14 15:16:01", "at <*> and <*>"),
        ("date 2015-10-18 18:01:47,978 and 17/06/09 or 2015-10-18T18:01:47.5+02:00", "date <*> and <*> or <*>"),
        ("uid=0 euid=1000 force=false ws=null", "uid=<*> euid=<*> force=false ws=null"),
        # Digits glued to letters are names: kept.
        ("Failed password for root port 22 ssh2 u0 jk2_init() Slf4jLogger", None),
        ("no numbers here at all", None),
    ],
)
def test_masking(message: str, masked: str | None) -> None:
    assert mask(message) == (message.replace("port 22", "port <*>") if masked is None else masked)


def test_a_shape_seen_before_is_recognised_without_conflating_names_with_numbers() -> None:
    miner = PatternMiner()
    rnd = random.Random(1)
    lines = [
        f"Failed password for root from 10.0.{rnd.randrange(256)}.{rnd.randrange(9)} port {rnd.randrange(65536)} {ssh}"
        for ssh in ("ssh2", "ssh3")
        for _ in range(50)
    ]
    lines += [f"tty{n} session {'x' * n} opened after {rnd.randrange(10**n)}ms" for n in range(1, 9)]
    # Hex ids share a key with one another and with a literal 0x0, never with digits alone:
    # the rules that want digits (dates, clocks, ISO times) must not see them alike.
    for word in ("4", "a4", "4a", "0x0", "0x1f", "deadbeef", "dead4beef", "9b810e766ec9d286", "c2ce6f44"):
        lines += [
            f"Dec {word} 10:00:01 host sshd[{rnd.randrange(9999)}]: request {word} done",
            f"{word}-10-03 10:00:01 request_id={word} took {rnd.randrange(99)}ms",
            f"span {word}-1b2c-3d4e-5f60-{word}aa7 at {word}:{rnd.randrange(99)} (trace {word}ab)",
        ]
    # Paths share a key with one another (and with /p) only as whole tokens, quoted or
    # not; "/" alone is no path.
    for path in ("/", "/p", "/index.html", "/api/orders/42?page=2", "/a,b", "/x(1)", "/dec/4", "/u@h.io", "/12:30"):
        lines += [
            f"GET {path} HTTP/1.1 {rnd.choice((200, 404))}",
            f"open {path} failed: errno {rnd.randrange(99)}",
            f'Dec 4 {path} 10:00:01 moved {path}/x to={path} from "{path} b"',
            f"copy '{path} a' to {path}",
        ]
    for line in lines:
        # The shortcut past the mask must give exactly what masking gives.
        assert miner.add(line).masked == mask(line), line


@needs_loghub
def test_the_shape_shortcut_agrees_with_masking_on_loghub_messages_with_redrawn_values() -> None:
    rnd = random.Random(3)
    miner = PatternMiner()
    for system in systems(LOGHUB):
        for message in load_truth(LOGHUB, system).contents:
            digits = re.sub(r"\d+", lambda m: str(rnd.randrange(10 ** len(m.group()) * 10)), message)
            hexes = re.sub(r"\b[0-9a-f]*[0-9][0-9a-f]*\b", lambda m: f"{rnd.randrange(16**12):x}", message)
            paths = re.sub(r"(?<!\S)/\S*", lambda m: rnd.choice(("/", "/v1/x?a=1", "/b,c", "/tmp/f.9")), message)
            for variant in (message, digits, hexes, paths):
                assert miner.add(variant).masked == mask(variant), variant


# -- mining -----------------------------------------------------------------------------------


def templates_of(messages: list[str], **kw: int) -> list[str]:
    return [p.template for p in mine(messages, **kw)]


def test_words_that_take_many_values_become_a_variable_and_few_valued_words_stay() -> None:
    users = ["alice", "bob", "carol", "dave", "erin"]
    messages = [f"Invalid user {u} from 10.0.0.{i}" for i, u in enumerate(users)]
    messages += [f"animateCollapsePanels:flags={i}, force={f}" for i, f in enumerate(["true", "false"] * 3)]
    messages += [f"Transitioned from {a} to {b}" for a, b in [("NEW", "RUNNING"), ("RUNNING", "DONE"), ("NEW", "DONE")]]
    messages += [f"{daemon} startup succeeded" for daemon in ("cupsd", "klogd", "hcid", "sdpd", "portmap")]
    got = templates_of(messages)
    assert set(got[:5]) == {"Invalid user <*> from <*>"}
    assert set(got[5:11]) == {
        "animateCollapsePanels:flags=<*>, force=true",
        "animateCollapsePanels:flags=<*>, force=false",
    }
    assert len(set(got[11:14])) == 3  # states are wording
    assert len(set(got[14:])) == 5  # the first word is wording, as in Drain


def test_the_first_word_becomes_a_variable_only_on_twice_the_evidence() -> None:
    settings = [
        f"{name} set to {n}" for n, name in enumerate(("tickTime", "maxTimeout", "minTimeout", "purge", "keep"))
    ]
    programs = [
        f"{p}.exe - close, {n} bytes sent" for n, p in enumerate("chrome qq dropbox git code slack zoom teams".split())
    ]
    hosts = [f"{h}:5070 open through proxy" for h in ("proxy.cse.cuhk.edu.hk", "www.google.com")]
    got = templates_of(settings + programs + hosts + ["abandonAudioFocus", "cancelAutohide", "closeQs", "getMode..."])
    assert len(set(got[:5])) == 5
    assert set(got[5:13]) == {"<*> - close, <*> sent"}  # "12 bytes" is one value
    assert set(got[13:15]) == {"<*> open through proxy"}
    assert len(set(got[15:])) == 4  # a message of one word is that word


def test_tokens_holding_digits_or_masked_parts_are_values_even_when_few() -> None:
    got = templates_of(
        [
            "connect rhost=ec2-54-223-1-2.cn-north-1.compute.amazonaws.com.cn user=root",
            "connect rhost=10.0.0.1 user=root",
        ]
    )
    assert got == ["connect rhost=<*> user=root"] * 2


def test_values_of_different_keys_never_merge() -> None:
    got = templates_of(
        [f"getRecentTasks: num={i},flags=0x{i}" for i in range(3)]
        + [f"getRecentTasks: topActivity=ComponentInfo{{com.app{c}/.Main}}" for c in "abcde"]
    )
    assert len(set(got[:3])) == 1 and set(got[:3]).isdisjoint(got[3:])
    assert set(got[3:]) == {"getRecentTasks: topActivity=<*>"}


def test_ids_handed_out_before_a_template_generalised_point_at_what_it_became() -> None:
    miner = PatternMiner()
    early = [miner.add(f"user {name} logged in").pattern() for name in ("alice", "bob", "carol", "dave", "erin")]
    general = miner.add("user zed logged in").pattern()
    assert general.template == "user <*> logged in"
    aliases = miner.take_aliases()
    assert {old: p.id for old, p in aliases.items()} == {p.id: general.id for p in early if p.id != general.id}
    assert len(aliases) == 3 and all(p.template == general.template for p in aliases.values())
    assert miner.take_aliases() == {}  # each is reported once, until it moves again


def test_lists_of_values_of_any_length_are_one_variable() -> None:
    got = templates_of([" ".join(["ask 10.0.0.1:50010 to delete"] + [f"blk_{i}" for i in range(n)]) for n in (1, 3, 9)])
    assert set(got) == {"ask <*> to delete blk_<*>"}


def test_templates_generalise_as_lines_arrive_and_the_final_one_applies_to_every_line() -> None:
    miner = PatternMiner()
    first = miner.add("session opened for user alice")
    assert first.pattern().template == "session opened for user alice"
    for user in ("bob", "carol", "dave"):
        miner.add(f"session opened for user {user}")
    assert first.pattern().template == "session opened for user <*>"
    patterns = mine([f"session opened for user {u}" for u in ("alice", "bob", "carol", "dave")])
    assert {p.template for p in patterns} == {"session opened for user <*>"}


def test_a_pattern_id_is_a_hash_of_the_template() -> None:
    [p] = mine(["disk /dev/sda1 is 93% full"])
    assert p.template == "disk <*> is <*> full"
    assert p.id == pattern_id(p.template)
    assert re.fullmatch(r"[0-9a-f]{16}", p.id)
    assert pattern_id("disk <*> is <*> full") != pattern_id("disk <*> is <*> empty")


GENERATED_KINDS = (
    "Invalid user {w} from {ip}",
    "Accepted password for {w} from {ip} port {n} ssh2",
    "session {state} for user {w}",
    "Received block blk_{n} of size {n} from /{ip}",
    "worker {n} state={state} took {n}ms",
)


def generated_corpus() -> list[str]:
    """A generated mix of kinds of events, for a run without the Loghub samples."""
    rnd = random.Random(5)
    words = ["root", "admin", "test", "oracle", "guest", "ubuntu", "pi"]
    return [
        rnd.choice(GENERATED_KINDS).format(
            w=rnd.choice(words),
            ip=f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
            n=rnd.randrange(10**6),
            state=rnd.choice(["opened", "closed"]),
        )
        for _ in range(5000)
    ]


def loghub_corpus() -> list[str]:
    return [m for s in systems(LOGHUB) for m in load_truth(LOGHUB, s).contents]


# Each corpus with the fewest templates it must give, so that a test on it cannot pass on
# a corpus of one kind of event.
CORPORA = [
    pytest.param(generated_corpus, len(GENERATED_KINDS), id="generated"),
    pytest.param(loghub_corpus, 100, id="loghub", marks=needs_loghub),
]


def final_patterns(messages: list[str]) -> dict[str, tuple[str, str]]:
    return {m: (p.id, p.template) for m, p in zip(messages, mine(messages), strict=True)}


@pytest.mark.parametrize(("corpus", "least_templates"), CORPORA)
def test_two_miners_fed_in_different_orders_give_every_message_the_same_template_and_id(
    corpus: Callable[[], list[str]], least_templates: int
) -> None:
    messages = corpus()
    shuffled = messages[:]
    random.Random(11).shuffle(shuffled)
    one = final_patterns(messages)
    assert final_patterns(shuffled) == one
    assert final_patterns(messages[::-1]) == one
    assert len({t for _, t in one.values()}) >= least_templates  # the corpus has many kinds of events


@pytest.mark.parametrize(("corpus", "least_templates"), CORPORA)
def test_another_process_with_another_hash_seed_gives_the_same_ids(
    corpus: Callable[[], list[str]], least_templates: int
) -> None:
    """Two workers are two processes: the ids may not depend on Python's string hashing."""
    messages = corpus()[:4000]
    here = sorted({p.id for p in mine(messages)})
    assert len(here) >= least_templates
    script = (
        "import sys\n"
        "from logpipe.patterns import mine\n"
        "messages = sys.stdin.read().split('\\n')\n"
        "print('\\n'.join(sorted({p.id for p in mine(messages)})))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT / "layers")}
    done = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(messages), env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == here


# -- logpipe patterns FILE --------------------------------------------------------------------


def cli_rows(path: Path, capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    assert logpipe(["patterns", str(path)]) == 0
    return list(csv.reader(io.StringIO(capsys.readouterr().out)))


LOG = (
    "\ufeff2024-05-01T10:00:00Z INFO worker 1 started in 35ms\r\n"
    '2024-05-01T10:00:01Z WARN disk /dev/sda1 is 91% full, "retrying", soon\n'
    "2024-05-01T10:00:02Z INFO worker 2 started in 12ms\n"
    "\n"
    '2024-05-01T10:00:03Z ERROR disk /dev/sdb2 is 99% full, "retrying", soon\n'
    "plain text line without a header"
)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_patterns_cli_prints_one_csv_row_per_line_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compress: bool
) -> None:
    data = LOG.encode("utf-8")
    path = tmp_path / ("app.log.gz" if compress else "app.log")
    path.write_bytes(gzip.compress(data) if compress else data)
    rows = cli_rows(path, capsys)
    assert rows[0] == ["line", "pattern_id", "template"]
    body = rows[1:]
    assert [r[0] for r in body] == [str(n) for n in range(1, 7)]
    assert all(r[1] == pattern_id(r[2]) for r in body)
    assert body[0][2] == body[2][2] == "worker <*> started in <*>"
    assert body[1][2] == body[4][2] == 'disk <*> is <*> full, "retrying", soon'
    assert body[3][2] == ""
    assert body[5][2] == "plain text line without a header"
    assert len({r[1] for r in body}) == 4


def test_patterns_cli_gives_the_lines_of_one_event_its_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = (
        "2024-05-01T10:00:0{n}Z ERROR request {n} failed\n"
        "Traceback (most recent call last):\n"
        '  File "/app/handlers/orders.py", line 4{n}, in place_order\n'
        "ValueError: order {n} is empty\n"
    )
    path = tmp_path / "app.log"
    path.write_text(event.format(n=1) + "2024-05-01T10:00:05Z INFO done\n" + event.format(n=2), encoding="utf-8")
    body = cli_rows(path, capsys)[1:]
    assert [r[0] for r in body] == [str(n) for n in range(1, 10)]
    assert len({r[1] for r in body[:4]} | {r[1] for r in body[5:]}) == 1
    assert body[0][2] == (
        'request <*> failed Traceback (most recent call last): File "<*>", line <*>, in place_order'
        " ValueError: order <*> is empty"
    )
    assert body[4][2] == "done"


@needs_loghub
def test_patterns_cli_on_a_loghub_file_matches_the_evaluator(capsys: pytest.CaptureFixture[str]) -> None:
    rows = cli_rows(LOGHUB / "OpenSSH" / "OpenSSH_2k.log", capsys)
    assert rows[0] == ["line", "pattern_id", "template"] and len(rows) == 2001
    truth = load_truth(LOGHUB, "OpenSSH")
    assert grouping_accuracy(truth.event_ids, [r[1] for r in rows[1:]]) >= 0.93


# -- grouping accuracy ------------------------------------------------------------------------


def test_grouping_accuracy_counts_a_line_only_when_its_whole_group_is_right() -> None:
    truth = ["A", "A", "B", "B", "C", "D", "D", "E"]
    # A right; B split in two; C right; D and E merged into one predicted group.
    predicted = [1, 1, 2, 3, 4, 5, 5, 5]
    assert grouping_accuracy(truth, predicted) == pytest.approx(3 / 8)
    assert grouping_accuracy(truth, truth) == 1.0
    assert grouping_accuracy(truth, list(range(len(truth)))) == pytest.approx(2 / 8)  # C and E are alone
    assert grouping_accuracy(truth, [0] * len(truth)) == 0.0
    with pytest.raises(ValueError, match="8 ground-truth labels but 7 predicted"):
        grouping_accuracy(truth, predicted[:-1])


@needs_loghub
@pytest.mark.parametrize("content_from_truth", [True, False], ids=["truth-content", "raw-lines"])
def test_grouping_accuracy_on_loghub_meets_the_targets_with_the_default_settings(content_from_truth: bool) -> None:
    scores = evaluate(LOGHUB, content_from_truth=content_from_truth)
    assert len(scores) >= 8, scores
    report = ", ".join(f"{s} {v:.3f}" for s, v in scores.items())
    assert sum(scores.values()) / len(scores) >= 0.93, report
    assert min(scores.values()) >= 0.80, report
