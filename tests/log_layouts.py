# ruff: noqa: E501 - a table of layouts, each written as the line it makes, reads best unwrapped
"""Logs generated in the documented default layouts of other software, with what each line holds.

Each ``Layout`` here writes a line from a time, a level, header values and a message the way
that software's documentation says its default (or a common documented) layout does. The
parser has no rule for any of them: they measure inference. A generated line carries its
truth: its time, its level (None when the header has none), the true message, and the
message's template (for grouping accuracy).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

REFERENCE = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
START = datetime(2026, 11, 29, 21, 7, 3, 120000, tzinfo=UTC)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Truth:
    line: str
    ts: datetime | None
    level: str | None
    message: str
    template: int


# Messages of the kind servers write, each a template and its variable parts. Some hold a
# time of their own, some start with a word that is also a level word, a number or a bracket.
def _messages(r: random.Random) -> list[Callable[[], str]]:
    ip = lambda: f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"  # noqa: E731
    n = lambda a=1, b=9999: str(r.randint(a, b))  # noqa: E731
    word = lambda: r.choice(("alpha", "orders", "users", "cache", "billing", "ledger"))  # noqa: E731
    hexid = lambda: f"{r.getrandbits(64):016x}"  # noqa: E731
    return [
        lambda: f"Accepted connection from {ip()}:{n(1024, 65535)}",
        lambda: f"Closed connection {n()} after {n(1, 900)} ms",
        lambda: f"User {word()} logged in from {ip()}",
        lambda: f"Checkpoint complete: wrote {n()} buffers ({n(0, 99)}.{n(0, 9)}%)",
        lambda: f"Cache miss for key {word()}:{n()}",
        lambda: f"Starting worker {n(1, 64)} of {n(64, 128)}",
        lambda: "Shutting down",
        lambda: "Server started",
        lambda: f"Failed to open /var/lib/app/{word()}/{n()}.dat: permission denied",
        lambda: f"Request {hexid()} finished in {n(1, 5000)} ms with status {r.choice(('200', '404', '500'))}",
        lambda: (
            f"Backup of {word()} taken at 2024-0{r.randint(1, 9)}-1{r.randint(0, 9)} 0{r.randint(0, 9)}:30:00 verified"
        ),
        lambda: f"Error rate for {word()} is {n(0, 100)} per minute",
        lambda: f"Queue {word()} has {n()} messages ready",
        lambda: f"[{word()}] replication lag {n(0, 90)} s",
        lambda: f"{n(1, 500)} rows deleted from {word()}",
        lambda: f"Info page rendered for {word()} in {n(1, 80)} ms",
        lambda: f"Scheduled job {word()}-{n(1, 40)} at {n(0, 23)}:{n(10, 59)}",
        lambda: f"Listening on port {n(1024, 9999)}",
    ]


def _clock(t: datetime, digits: int = 0, sep: str = ".") -> str:
    s = t.strftime("%H:%M:%S")
    return s + sep + f"{t.microsecond:06d}"[:digits] if digits else s


def _twelve(t: datetime) -> str:
    return t.strftime("%I:%M:%S ") + ("AM" if t.hour < 12 else "PM")


Writer = Callable[[random.Random, datetime, str, str], tuple[str, str | None]]


@dataclass(frozen=True)
class Layout:
    """One documented layout: its name, its level words (as written), the precision its
    time keeps, and how it writes a line from (random, time, level word, message)."""

    name: str
    levels: tuple[str, ...]
    write: Writer
    precision: timedelta = timedelta(microseconds=1)
    year: bool = True
    dated: bool = True  # False: the line has a time of day only, and the event no time


def _level(word: str) -> str:
    w = word.strip().lower()
    return {
        "i": "info", "w": "warn", "e": "error", "d": "debug", "information": "info", "warning": "warn",
        "note": "info", "success": "info", "severe": "error", "log": "info", "err": "error", "crit": "fatal", "critical": "fatal",
        "notice": "info", "fatal": "fatal", "<6>": "info", "<4>": "warn", "<3>": "error", "<7>": "debug", "wrn": "warn", "inf": "info", "dbg": "debug", "eror": "error",
    }.get(w, w)  # fmt: skip


MS = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)

LAYOUTS = [
    # Python logging, a common documented format: "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
    Layout(
        "python_bracket_level",
        ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%d} {_clock(t, 3, ',')} [{lv}] app.{r.choice(('db', 'http', 'jobs'))}: {m}",
            lv,
        ),
        MS,
    ),
    # Spring Boot's default console layout
    Layout(
        "spring_boot",
        ("INFO", "WARN", "ERROR", "DEBUG"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%dT}{_clock(t, 3)}Z {lv:>5} {r.choice(('4711', '4712'))} --- [{r.choice(('main', 'http-nio-8080-exec-1', 'task-2'))}]"
            f" {r.choice(('o.s.b.w.e.tomcat.TomcatWebServer', 'c.e.demo.DemoApplication'))} : {m}",
            lv,
        ),
        MS,
    ),
    # log4j's DATE format with "%d{DATE} %-5p [%t] %c - %m%n"
    Layout(
        "log4j_date",
        ("INFO", "WARN", "ERROR", "DEBUG", "FATAL"),
        lambda r, t, lv, m: (
            f"{t.day:02d} {MONTHS[t.month - 1]} {t.year} {_clock(t, 3, ',')} {lv:<5} [{r.choice(('main', 'pool-1-thread-3'))}]"
            f" {r.choice(('com.example.Service', 'com.example.db.Pool'))} - {m}",
            lv,
        ),
        MS,
    ),
    # Go's log package with Lmicroseconds | Lshortfile
    Layout(
        "go_shortfile",
        ("",),
        lambda r, t, lv, m: (
            f"{t:%Y/%m/%d} {_clock(t, 6)} {r.choice(('main.go', 'server.go'))}:{r.randint(10, 400)}: {m}",
            None,
        ),
    ),
    # MariaDB's error log
    Layout(
        "mariadb",
        ("Note", "Warning", "ERROR"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%d} {_clock(t)} {r.choice(('0', '3', '12'))} [{lv}] {r.choice(('InnoDB:', 'mysqld:', 'Aria:'))} {m}",
            lv,
        ),
        SECOND,
    ),
    # MariaDB's error log as it is: the component on some lines only
    Layout(
        "mariadb_some_components",
        ("Note", "Warning", "ERROR"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%d} {_clock(t)} {r.choice(('0', '3', '12'))} [{lv}] {r.choice(('InnoDB: ', 'mysqld: ', '', ''))}{m}",
            lv,
        ),
        SECOND,
    ),
    # Logback's documented example: a time of day and no date (the events keep the ingest time)
    Layout(
        "logback_clock_only",
        ("INFO", "WARN", "ERROR", "DEBUG"),
        lambda r, t, lv, m: (
            f"{_clock(t, 3)} [{r.choice(('main', 'worker-1'))}] {lv:<5} {r.choice(('c.e.App', 'c.e.db.Pool'))} - {m}",
            lv,
        ),
        dated=False,
    ),
    # A program's name of many values before a dash, the time of day and month in brackets (proxy and VPN clients)
    Layout(
        "bracketed_month_day_program",
        ("",),
        lambda r, t, lv, m: (
            f"[{t:%m.%d} {_clock(t)}] {r.choice(('chrome.exe', 'firefox.exe', 'svchost.exe', 'outlook.exe', 'teams.exe', 'git.exe', 'ssh.exe'))} - {m}",
            None,
        ),
        SECOND,
        year=False,
    ),
    # Windows Event Viewer's export as text: tab-separated, the level first, a source of several words
    Layout(
        "windows_event_export",
        ("Information", "Warning", "Error"),
        lambda r, t, lv, m: (
            f"{lv}\t{t.month}/{t.day}/{t.year} {_twelve(t)}\t{r.choice(('Service Control Manager', 'Microsoft-Windows-Kernel-General', 'DCOM'))}"
            f"\t{r.choice(('7036', '16', '10016'))}\t{r.choice(('None', '(1)'))}\t{m}",
            lv,
        ),
        SECOND,
    ),
    # The kernel's ring buffer as `dmesg -r` prints it: a syslog level number, seconds since boot (no time)
    Layout(
        "dmesg_raw",
        ("<6>", "<4>", "<3>", "<7>"),
        lambda r, t, lv, m: (f"{lv}[{r.randint(0, 99999):>5}.{r.randint(0, 999999):06d}] {m}", lv),
        dated=False,
    ),
    # Redis: pid:role day month year time.ms, then a level mark that is no level word
    Layout(
        "redis",
        ("",),
        lambda r, t, lv, m: (
            f"{r.choice(('1234', '1240'))}:{r.choice('MCS')} {t.day:02d} {MONTHS[t.month - 1]} {t.year} {_clock(t, 3)} {r.choice('*#-.')} {m}",
            None,
        ),
        MS,
    ),
    # journald's short-iso output
    Layout(
        "journald_short_iso",
        ("",),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%dT%H:%M:%S}+0000 {r.choice(('web-1', 'web-2'))} {r.choice(('sshd', 'nginx', 'cron'))}[{r.randint(100, 9999)}]: {m}",
            None,
        ),
        SECOND,
    ),
    # Windows CBS/DISM: a time ending in a comma, the level padded, a component
    Layout(
        "windows_cbs",
        ("Info", "Warning", "Error"),
        lambda r, t, lv, m: (f"{t:%Y-%m-%d} {_clock(t)}, {lv:<22}{r.choice(('CBS', 'CSI', 'DISM')):<7}{m}", lv),
        SECOND,
    ),
    # A 12-hour clock, US dates (Windows event exports and many .NET apps)
    Layout(
        "us_twelve_hour",
        ("Information", "Warning", "Error"),
        lambda r, t, lv, m: (f"{t.month}/{t.day}/{t.year} {_twelve(t)} [{lv}] {m}", lv),
        SECOND,
    ),
    # Day-first European dates with a thread
    Layout(
        "day_first_dots",
        ("INFO", "WARN", "ERROR"),
        lambda r, t, lv, m: (
            f"{t:%d.%m.%Y} {_clock(t, 3, ',')} {lv} [{r.choice(('worker-1', 'worker-2', 'main'))}] {m}",
            lv,
        ),
        MS,
    ),
    # Epoch seconds with a fraction in the first column
    Layout(
        "epoch_seconds",
        ("info", "warn", "error", "debug"),
        lambda r, t, lv, m: (
            f"{int(t.timestamp())}.{t.microsecond // 1000:03d} {lv} {r.choice(('api', 'worker'))}[{r.randint(10, 99)}]: {m}",
            lv,
        ),
        MS,
    ),
    # Epoch milliseconds, bracketed level
    Layout(
        "epoch_millis",
        ("INFO", "WARN", "ERROR"),
        lambda r, t, lv, m: (f"{int(t.timestamp() * 1000)} [{lv}] {m}", lv),
        MS,
    ),
    # glog/klog: a level letter glued to the month and day, thread id, file:line]
    Layout(
        "klog",
        ("I", "W", "E"),
        lambda r, t, lv, m: (
            f"{lv}{t:%m%d} {_clock(t, 6)} {r.randint(1, 99999):>7} {r.choice(('server.go', 'util.go'))}:{r.randint(1, 999)}] {m}",
            lv,
        ),
        year=False,
    ),
    # Elasticsearch's default: bracketed columns side by side, padded inside
    Layout(
        "elasticsearch",
        ("INFO", "WARN", "DEBUG"),
        lambda r, t, lv, m: (
            f"[{t:%Y-%m-%dT}{_clock(t, 3, ',')}][{lv:<5}][{r.choice(('o.e.n.Node', 'o.e.c.s.MasterService')):<25}] [node-1] {m}",
            lv,
        ),
        MS,
    ),
    # Cassandra: the level before the time
    Layout(
        "cassandra",
        ("INFO", "WARN", "ERROR"),
        lambda r, t, lv, m: (
            f"{lv:<5} [{r.choice(('main', 'CompactionExecutor:1'))}] {t:%Y-%m-%d} {_clock(t, 3, ',')} "
            f"{r.choice(('StorageService.java', 'Gossiper.java'))}:{r.randint(10, 900)} - {m}",
            lv,
        ),
        MS,
    ),
    # Tomcat's catalina.out: day-month-year with a month name
    Layout(
        "tomcat",
        ("INFO", "WARNING", "SEVERE"),
        lambda r, t, lv, m: (
            f"{t.day:02d}-{MONTHS[t.month - 1]}-{t.year} {_clock(t, 3)} {lv} [{r.choice(('main', 'http-nio-8080-exec-4'))}]"
            f" {r.choice(('org.apache.catalina.startup.Catalina.start', 'org.apache.coyote.AbstractProtocol.init'))} {m}",
            lv,
        ),
        MS,
    ),
    # loguru's default: pipes between the columns
    Layout(
        "loguru",
        ("INFO", "WARNING", "ERROR", "DEBUG", "SUCCESS"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%d} {_clock(t, 3)} | {lv:<8} | {r.choice(('__main__', 'app.db'))}:{r.choice(('run', 'connect'))}:{r.randint(1, 300)} - {m}",
            lv,
        ),
        MS,
    ),
    # MongoDB 4.x text log: a level letter and a component name
    Layout(
        "mongodb",
        ("I", "W", "E"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%dT}{_clock(t, 3)}+0000 {lv}  {r.choice(('NETWORK', 'COMMAND', 'STORAGE')):<8} [conn{r.randint(1, 99)}] {m}",
            lv,
        ),
        MS,
    ),
    # Airflow's default: "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"
    Layout(
        "airflow",
        ("INFO", "WARNING", "ERROR"),
        lambda r, t, lv, m: (
            f"[{t:%Y-%m-%d} {_clock(t, 3, ',')}] {{{r.choice(('scheduler_job.py', 'taskinstance.py'))}:{r.randint(10, 2000)}}} {lv} - {m}",
            lv,
        ),
        MS,
    ),
    # Pipe-separated columns without spaces, as many applications write them
    Layout(
        "pipes_without_spaces",
        ("INFO", "WARN", "ERROR", "DEBUG"),
        lambda r, t, lv, m: (f"{t:%Y-%m-%d} {_clock(t, 3)}|{lv}|{r.choice(('billing', 'search', 'auth'))}|{m}", lv),
        MS,
    ),
    # syslog-ng's template "$ISODATE $HOST $FACILITY $LEVEL $MSG": node names, a facility, then the level
    Layout(
        "syslog_ng_template",
        ("info", "notice", "warning", "err", "crit"),
        lambda r, t, lv, m: (
            f"{t:%Y-%m-%dT%H:%M:%S}+00:00 node-{r.randint(1, 400)} {r.choice(('daemon', 'kern', 'auth'))} {lv} {m}",
            lv,
        ),
        SECOND,
    ),
    # A compact date, a dash before the clock, milliseconds after a colon, pipes between the columns
    Layout(
        "compact_pipes",
        ("",),
        lambda r, t, lv, m: (
            f"{t:%Y%m%d}-{_clock(t, 3, ':')}|{r.choice(('Sync_Worker', 'Sync_Store', 'Cache_Loader', 'Net_Listener', 'Net_Client', 'Ui_Main'))}|{r.randint(10000000, 99999999)}|{m}",
            None,
        ),
        MS,
    ),
    # Month-day without a year, slashes (a syslog variant some appliances write)
    Layout(
        "month_day_slash",
        ("INFO", "WARN", "ERROR"),
        lambda r, t, lv, m: (f"{t:%m/%d} {_clock(t)} {lv} {r.choice(('edge-1', 'edge-2'))} {m}", lv),
        SECOND,
        year=False,
    ),
]


def generate(layout: Layout, count: int, seed: int = 7) -> list[Truth]:
    """``count`` lines of ``layout``, seconds apart, each with its truth."""
    r = random.Random(f"{layout.name}:{seed}")
    messages = _messages(r)
    out = []
    t = START
    for _ in range(count):
        t += timedelta(seconds=r.randint(0, 40), microseconds=r.randint(0, 999_999))
        k = r.randrange(len(messages))
        message = messages[k]()
        word = r.choice(layout.levels)
        line, level_word = layout.write(r, t, word, message)
        truth_ts = t - timedelta(microseconds=t.microsecond % (layout.precision // timedelta(microseconds=1)))
        out.append(
            Truth(line, truth_ts if layout.dated else None, _level(level_word) if level_word else None, message, k)
        )
    return out
