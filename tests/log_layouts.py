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


class _Pick:
    """``{pick:a|b|c}`` in a line's template: one of the choices, at random; ``{pick:a|b,<7}``
    pads it as a format spec after the last comma does."""

    def __init__(self, r: random.Random) -> None:
        self._r = r

    def __format__(self, spec: str) -> str:
        choices, _, fmt = spec.rpartition(",") if "," in spec else (spec, "", "")
        return format(self._r.choice(choices.split("|")), fmt)


class _Number:
    """``{num:10-99}`` in a line's template: an integer between the two, at random;
    ``{num:0-999999,06d}`` formats it as the spec after the comma says."""

    def __init__(self, r: random.Random) -> None:
        self._r = r

    def __format__(self, spec: str) -> str:
        bounds, _, fmt = spec.partition(",")
        low, _, high = bounds.partition("-")
        return format(self._r.randint(int(low), int(high)), fmt)


@dataclass(frozen=True)
class Layout:
    """One documented layout: its name, its level words (as written), the template of its
    lines, the precision its time keeps.

    A template is a ``str.format`` string of: ``t`` (the time: ``{t:%Y-%m-%d}``, ``{t.day}``),
    ``ms`` and ``us`` (its fraction in 3 and 6 digits), ``mon`` (the month's short name),
    ``twelve`` (a 12-hour clock, ``10:00:00 PM``), ``epoch`` and ``epoch_ms``, ``lv`` (the
    level word), ``m`` (the message), and random parts: ``{pick:a|b}``, ``{num:1-99}``."""

    name: str
    levels: tuple[str, ...]
    template: str
    precision: timedelta = timedelta(microseconds=1)
    year: bool = True
    dated: bool = True  # False: the line has a time of day only, and the event no time
    known: bool = False  # True: a format of the parser reads it (no layout is inferred)

    def write(self, r: random.Random, t: datetime, lv: str, m: str) -> tuple[str, str | None]:
        """The line of (random, time, level word, message), and the level word it holds."""
        line = self.template.format(
            t=t, ms=f"{t.microsecond:06d}"[:3], us=f"{t.microsecond:06d}", mon=MONTHS[t.month - 1],
            twelve=t.strftime("%I:%M:%S ") + ("AM" if t.hour < 12 else "PM"), epoch=int(t.timestamp()),
            epoch_ms=int(t.timestamp() * 1000), lv=lv, m=m, pick=_Pick(r), num=_Number(r),
        )  # fmt: skip
        return line, lv or None


def _level(word: str) -> str:
    w = word.strip().lower()
    return {
        "i": "info", "w": "warn", "e": "error", "d": "debug", "information": "info", "warning": "warn",
        "note": "info", "success": "info", "severe": "error", "log": "info", "err": "error", "crit": "fatal", "critical": "fatal",
        "notice": "info", "fatal": "fatal", "<6>": "info", "<4>": "warn", "<3>": "error", "<7>": "debug", "wrn": "warn", "inf": "info", "dbg": "debug", "eror": "error", "debg": "debug",
    }.get(w, w)  # fmt: skip


MS = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)
US = timedelta(microseconds=1)
NO_LEVEL = ("",)

# Each: name, level words, template, precision, and (year=False) no year, (dated=False) no
# date, (known=True) a format the parser knows.
LAYOUTS = [
    Layout(*row[:4], **(row[4] if len(row) > 4 else {}))
    for row in (
        # Python logging, a common documented format: "%(asctime)s [%(levelname)s] %(name)s: %(message)s"
        ("python_bracket_level", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
         "{t:%Y-%m-%d %H:%M:%S},{ms} [{lv}] app.{pick:db|http|jobs}: {m}", MS, {"known": True}),
        # Spring Boot's default console layout
        ("spring_boot", ("INFO", "WARN", "ERROR", "DEBUG"),
         "{t:%Y-%m-%dT%H:%M:%S}.{ms}Z {lv:>5} {pick:4711|4712} --- [{pick:main|http-nio-8080-exec-1|task-2}]"
         " {pick:o.s.b.w.e.tomcat.TomcatWebServer|c.e.demo.DemoApplication} : {m}", MS),
        # log4j's DATE format with "%d{DATE} %-5p [%t] %c - %m%n"
        ("log4j_date", ("INFO", "WARN", "ERROR", "DEBUG", "FATAL"),
         "{t.day:02d} {mon} {t.year} {t:%H:%M:%S},{ms} {lv:<5} [{pick:main|pool-1-thread-3}]"
         " {pick:com.example.Service|com.example.db.Pool} - {m}", MS),
        # Go's log package with Lmicroseconds | Lshortfile
        ("go_shortfile", NO_LEVEL, "{t:%Y/%m/%d %H:%M:%S}.{us} {pick:main.go|server.go}:{num:10-400}: {m}", US),
        # MariaDB's error log
        ("mariadb", ("Note", "Warning", "ERROR"), "{t:%Y-%m-%d %H:%M:%S} {pick:0|3|12} [{lv}] {pick:InnoDB:|mysqld:|Aria:} {m}",
         SECOND),
        # MariaDB's error log as it is: the component on some lines only
        ("mariadb_some_components", ("Note", "Warning", "ERROR"),
         "{t:%Y-%m-%d %H:%M:%S} {pick:0|3|12} [{lv}] {pick:InnoDB: |mysqld: ||}{m}", SECOND),
        # Logback's documented example: a time of day and no date (the events keep the ingest time)
        ("logback_clock_only", ("INFO", "WARN", "ERROR", "DEBUG"),
         "{t:%H:%M:%S}.{ms} [{pick:main|worker-1}] {lv:<5} {pick:c.e.App|c.e.db.Pool} - {m}", US, {"dated": False}),
        # A program's name of many values before a dash, the time of day and month in brackets (proxy and VPN clients)
        ("bracketed_month_day_program", NO_LEVEL,
         "[{t:%m.%d %H:%M:%S}] {pick:chrome.exe|firefox.exe|svchost.exe|outlook.exe|teams.exe|git.exe|ssh.exe} - {m}",
         SECOND, {"year": False}),
        # Windows Event Viewer's export as text: tab-separated, the level first, a source of several words
        ("windows_event_export", ("Information", "Warning", "Error"),
         "{lv}\t{t.month}/{t.day}/{t.year} {twelve}\t{pick:Service Control Manager|Microsoft-Windows-Kernel-General|DCOM}"
         "\t{pick:7036|16|10016}\t{pick:None|(1)}\t{m}", SECOND),
        # The kernel's ring buffer as `dmesg -r` prints it: a syslog level number, seconds since boot (no time)
        ("dmesg_raw", ("<6>", "<4>", "<3>", "<7>"), "{lv}[{num:0-99999,>5}.{num:0-999999,06d}] {m}", US, {"dated": False}),
        # Redis: pid:role day month year time.ms, then a level mark that is no level word
        ("redis", NO_LEVEL, "{pick:1234|1240}:{pick:M|C|S} {t.day:02d} {mon} {t.year} {t:%H:%M:%S}.{ms} {pick:*|#|-|.} {m}", MS),
        # journald's short-iso output
        ("journald_short_iso", NO_LEVEL,
         "{t:%Y-%m-%dT%H:%M:%S}+0000 {pick:web-1|web-2} {pick:sshd|nginx|cron}[{num:100-9999}]: {m}", SECOND),
        # Windows CBS/DISM: a time ending in a comma, the level padded, a component
        ("windows_cbs", ("Info", "Warning", "Error"), "{t:%Y-%m-%d %H:%M:%S}, {lv:<22}{pick:CBS|CSI|DISM,<7}{m}", SECOND),
        # A 12-hour clock, US dates (Windows event exports and many .NET apps)
        ("us_twelve_hour", ("Information", "Warning", "Error"), "{t.month}/{t.day}/{t.year} {twelve} [{lv}] {m}", SECOND),
        # Day-first European dates with a thread
        ("day_first_dots", ("INFO", "WARN", "ERROR"), "{t:%d.%m.%Y %H:%M:%S},{ms} {lv} [{pick:worker-1|worker-2|main}] {m}", MS),
        # Epoch seconds with a fraction in the first column
        ("epoch_seconds", ("info", "warn", "error", "debug"), "{epoch}.{ms} {lv} {pick:api|worker}[{num:10-99}]: {m}", MS),
        # Epoch milliseconds, bracketed level
        ("epoch_millis", ("INFO", "WARN", "ERROR"), "{epoch_ms} [{lv}] {m}", MS),
        # glog/klog: a level letter glued to the month and day, thread id, file:line]
        ("klog", ("I", "W", "E"), "{lv}{t:%m%d %H:%M:%S}.{us} {num:1-99999,>7} {pick:server.go|util.go}:{num:1-999}] {m}", US,
         {"year": False}),
        # Elasticsearch's default: bracketed columns side by side, padded inside
        ("elasticsearch", ("INFO", "WARN", "DEBUG"),
         "[{t:%Y-%m-%dT%H:%M:%S},{ms}][{lv:<5}][{pick:o.e.n.Node|o.e.c.s.MasterService,<25}] [node-1] {m}", MS),
        # Cassandra: the level before the time
        ("cassandra", ("INFO", "WARN", "ERROR"),
         "{lv:<5} [{pick:main|CompactionExecutor:1}] {t:%Y-%m-%d %H:%M:%S},{ms} {pick:StorageService.java|Gossiper.java}"
         ":{num:10-900} - {m}", MS),
        # Tomcat's catalina.out: day-month-year with a month name
        ("tomcat", ("INFO", "WARNING", "SEVERE"),
         "{t.day:02d}-{mon}-{t.year} {t:%H:%M:%S}.{ms} {lv} [{pick:main|http-nio-8080-exec-4}]"
         " {pick:org.apache.catalina.startup.Catalina.start|org.apache.coyote.AbstractProtocol.init} {m}", MS),
        # loguru's default: pipes between the columns
        ("loguru", ("INFO", "WARNING", "ERROR", "DEBUG", "SUCCESS"),
         "{t:%Y-%m-%d %H:%M:%S}.{ms} | {lv:<8} | {pick:__main__|app.db}:{pick:run|connect}:{num:1-300} - {m}", MS),
        # MongoDB 4.x text log: a level letter and a component name
        ("mongodb", ("I", "W", "E"),
         "{t:%Y-%m-%dT%H:%M:%S}.{ms}+0000 {lv}  {pick:NETWORK|COMMAND|STORAGE,<8} [conn{num:1-99}] {m}", MS),
        # Airflow's default: "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"
        ("airflow", ("INFO", "WARNING", "ERROR"),
         "[{t:%Y-%m-%d %H:%M:%S},{ms}] {{{pick:scheduler_job.py|taskinstance.py}:{num:10-2000}}} {lv} - {m}", MS),
        # Pipe-separated columns without spaces, as many applications write them
        ("pipes_without_spaces", ("INFO", "WARN", "ERROR", "DEBUG"),
         "{t:%Y-%m-%d %H:%M:%S}.{ms}|{lv}|{pick:billing|search|auth}|{m}", MS),
        # syslog-ng's template "$ISODATE $HOST $FACILITY $LEVEL $MSG": node names, a facility, then the level
        ("syslog_ng_template", ("info", "notice", "warning", "err", "crit"),
         "{t:%Y-%m-%dT%H:%M:%S}+00:00 node-{num:1-400} {pick:daemon|kern|auth} {lv} {m}", SECOND),
        # A compact date, a dash before the clock, milliseconds after a colon, pipes between the columns
        ("compact_pipes", NO_LEVEL,
         "{t:%Y%m%d-%H:%M:%S}:{ms}|{pick:Sync_Worker|Sync_Store|Cache_Loader|Net_Listener|Net_Client|Ui_Main}"
         "|{num:10000000-99999999}|{m}", MS),
        # Month-day without a year, slashes (a syslog variant some appliances write)
        ("month_day_slash", ("INFO", "WARN", "ERROR"), "{t:%m/%d %H:%M:%S} {lv} {pick:edge-1|edge-2} {m}", SECOND,
         {"year": False}),
        # Python logging's cookbook format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
        ("python_cookbook", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
         "{t:%Y-%m-%d %H:%M:%S},{ms} - {pick:simple_example|app.db|app.http} - {lv} - {m}", MS, {"known": True}),
        # gunicorn's error log: "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", its time with a zone
        ("gunicorn_error", ("INFO", "WARNING", "ERROR", "DEBUG", "CRITICAL"),
         "[{t:%Y-%m-%d %H:%M:%S} +0000] [{num:100-99999}] [{lv}] {m}", SECOND),
        # Django's runserver log: "[{server_time}] {message}", a day-month time in brackets
        ("django_server", NO_LEVEL, "[{t.day:02d}/{mon}/{t.year} {t:%H:%M:%S}] {m}", SECOND),
        # PHP-FPM's error log: a bracketed day-month time, the level word and a colon
        ("php_fpm", ("NOTICE", "WARNING", "ERROR"), "[{t.day:02d}-{mon}-{t.year} {t:%H:%M:%S}] {lv}: {m}", SECOND),
        # pino-pretty's default: epoch milliseconds in brackets, the level, the pid in parentheses
        ("pino_pretty", ("INFO", "WARN", "ERROR", "DEBUG"), "[{epoch_ms}] {lv} ({num:100-99999}): {m}", MS),
        # Serilog's file sink default: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {Message:lj}"
        ("serilog_file", ("INF", "WRN", "ERR", "DBG"), "{t:%Y-%m-%d %H:%M:%S}.{ms} +00:00 [{lv}] {m}", MS),
        # Kafka's server.log: "[%d] %p %m (%c)%n", the logger after the message
        ("kafka_server", ("INFO", "WARN", "ERROR", "DEBUG"), "[{t:%Y-%m-%d %H:%M:%S},{ms}] {lv} {m}", MS, {"known": True}),
        # ZooKeeper's log4j layout: "%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n"
        ("zookeeper", ("INFO", "WARN", "ERROR", "DEBUG"),
         "{t:%Y-%m-%d %H:%M:%S},{ms} [myid:{pick:1|2|3}] - {lv:<5} [{pick:main|SyncThread:0|NIOWorkerThread-1}:"
         "{pick:QuorumPeer|FileTxnLog|NIOServerCnxn}@{num:100-999}] - {m}", MS),
        # OpenStack's oslo.log default: time, pid, level, logger, the request's context in brackets
        ("oslo_log", ("INFO", "WARNING", "ERROR", "DEBUG"),
         "{t:%Y-%m-%d %H:%M:%S}.{ms} {num:1000-9999} {lv} {pick:nova.compute.manager|nova.scheduler.host_manager|"
         "neutron.agent.dhcp}"
         " [{pick:req-4f1c2a7e-6b1d-4a11-9d0e-3e0d2c5b8a10 - - - - -|-|req-9a0e1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b admin admin - - -}] {m}",
         MS),
        # supervisord's log: "%(asctime)s %(levelname)s %(message)s"
        ("supervisord", ("INFO", "WARN", "CRIT", "DEBG"), "{t:%Y-%m-%d %H:%M:%S},{ms} {lv} {m}", MS),
        # Jenkins's default java.util.logging format: a bracketed thread id, then tabs
        ("jenkins", ("INFO", "WARNING", "SEVERE"),
         "{t:%Y-%m-%d %H:%M:%S}.{ms}+0000 [id={num:1-400}]\t{lv}\t{pick:hudson.WebAppMain|jenkins.InitReactorRunner$1|"
         "hudson.model.AsyncPeriodicWork}#{pick:run|onAttained|lambda$doRun$0}: {m}", MS),
        # Squid's native access.log: epoch seconds with milliseconds, the elapsed time padded, the client
        ("squid_native", NO_LEVEL, "{epoch}.{ms} {num:1-99999,>6} 10.0.{num:0-255}.{num:1-254} {m}", MS),
        # Hadoop's log4j layout: "%d{ISO8601} %p %c: %m%n"
        ("hadoop", ("INFO", "WARN", "ERROR", "DEBUG"),
         "{t:%Y-%m-%d %H:%M:%S},{ms} {lv} org.apache.hadoop.{pick:hdfs.server.namenode.FSNamesystem|ipc.Server|"
         "yarn.server.nodemanager.NodeManager}: {m}", MS, {"known": True}),
    )
]  # fmt: skip


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
