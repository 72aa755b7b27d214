/* The compiled lane: runs of plain lines of the common formats turned straight into COPY rows.
 *
 * ``logpipe.ingest.lane`` says which lines a run may hold and how its output joins the
 * batch; this file does the per-line work, exactly as the Python path does it to such a
 * line (``Parser.parse`` and its formats, ``TimeParser``, ``PatternMiner.add``,
 * ``CopyBuffer.add``): the tests compare the two byte for byte. Where this file is not
 * sure of what the Python path would do with a line, the run ends there and the Python
 * path takes the line.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

/* -- growing byte buffers ---------------------------------------------------------------- */

typedef struct {
    char *p;
    Py_ssize_t n, cap;
} Buf;

static int
reserve(Buf *b, Py_ssize_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + extra)
        cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Callers reserve first. */
static inline void
put(Buf *b, const char *s, Py_ssize_t n)
{
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static inline void
put_c(Buf *b, char c)
{
    b->p[b->n++] = c;
}

static void
put_int(Buf *b, int64_t v)
{
    char tmp[24];
    int i = 0;
    if (v == 0) {
        put_c(b, '0');
        return;
    }
    while (v > 0) {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    }
    while (i > 0)
        put_c(b, tmp[--i]);
}

static inline void
put_digits(Buf *b, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        b->p[b->n + i] = (char)('0' + v % 10);
        v /= 10;
    }
    b->n += width;
}

/* A JSON string of plain text (no backslash, no control character), escaped for COPY:
 * orjson writes a quote as \" and COPY doubles the backslash. */
static void
put_json_string(Buf *b, const char *s, Py_ssize_t n)
{
    put_c(b, '"');
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            put(b, "\\\\\"", 3);
        }
        else {
            put_c(b, s[i]);
        }
    }
    put_c(b, '"');
}

/* Plain text with the newlines that join an event's lines, escaped for COPY. */
static void
put_text(Buf *b, const char *s, Py_ssize_t n)
{
    const char *end = s + n, *nl;
    while ((nl = memchr(s, '\n', end - s)) != NULL) {
        put(b, s, nl - s);
        put(b, "\\n", 2);
        s = nl + 1;
    }
    put(b, s, end - s);
}

static PyObject *
ascii_str(const char *s, Py_ssize_t n)
{
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL)
        memcpy(PyUnicode_1BYTE_DATA(u), s, n);
    return u;
}

/* -- characters (ASCII only: the lane takes no other) ------------------------------------ */

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* -- time -------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(era * 400 + yoe + (*m <= 2));
}

static const char MONTHS[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int
two(const char *s)
{
    return (is_digit(s[0]) && is_digit(s[1])) ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

/* ``DD/Mon/YYYY:HH:MM:SS +HHMM`` as UTC seconds since the epoch; -1 when it is not
 * exactly that or not a valid time (the Python path then decides). */
static int
clf_time(const char *s, Py_ssize_t n, int64_t *epoch)
{
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' ||
        s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
        return -1;
    int day = two(s), hh = two(s + 12), mi = two(s + 15), ss = two(s + 18);
    int c1 = two(s + 7), c2 = two(s + 9), oh = two(s + 22), om = two(s + 24);
    if (day < 1 || hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59 || c1 < 10 || c2 < 0 ||
        oh < 0 || oh > 23 || om < 0 || om > 59)
        return -1;
    int year = c1 * 100 + c2;
    if (year > 9998)
        return -1;
    int month = 0;
    for (int i = 0; i < 12; i++) {
        if (memcmp(s + 3, MONTHS[i], 3) == 0) {
            month = i + 1;
            break;
        }
    }
    if (month == 0)
        return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > DAYS[month - 1] + (month == 2 && leap))
        return -1;
    int64_t offset = (int64_t)(oh * 3600 + om * 60) * (s[21] == '-' ? -1 : 1);
    *epoch = days_from_civil(year, month, day) * 86400 + hh * 3600 + mi * 60 + ss - offset;
    return 0;
}

typedef struct {
    int y, m, d, secs;
} Utc;

static void
utc_of(int64_t epoch, Utc *u)
{
    int64_t days = epoch >= 0 ? epoch / 86400 : -((-epoch + 86399) / 86400);
    u->secs = (int)(epoch - days * 86400);
    civil_from_days(days, &u->y, &u->m, &u->d);
}

/* ``YYYY-MM-DDTHH:MM:SS+00:00``, as ``CopyBuffer.add`` writes a UTC time without fraction. */
static void
put_utc(Buf *b, const Utc *u)
{
    put_digits(b, u->y, 4);
    put_c(b, '-');
    put_digits(b, u->m, 2);
    put_c(b, '-');
    put_digits(b, u->d, 2);
    put_c(b, 'T');
    put_digits(b, u->secs / 3600, 2);
    put_c(b, ':');
    put_digits(b, u->secs / 60 % 60, 2);
    put_c(b, ':');
    put_digits(b, u->secs % 60, 2);
    put(b, "+00:00", 6);
}

/* -- the access-log layout --------------------------------------------------------------- */

typedef struct {
    const char *host, *user, *when, *req, *size, *ref, *ua, *extra;
    Py_ssize_t host_n, user_n, req_n, size_n, ref_n, ua_n, extra_n;
    int status, has_ref;
    int64_t epoch;
} Access;

/* Where the next ``c`` is in [i, n), or -1. */
static inline Py_ssize_t
find(const char *s, Py_ssize_t i, Py_ssize_t n, char c)
{
    const char *p = i < n ? memchr(s + i, c, n - i) : NULL;
    return p ? p - s : -1;
}

/* What ``Parser._ACCESS.fullmatch`` finds in a plain line, and its time; -1 when the line
 * is not one the lane takes. */
static int
parse_access(const char *s, Py_ssize_t n, Access *a)
{
    if (n == 0 || !(is_digit(s[0]) || s[0] == ':'))
        return -1;
    /* host: an IPv4 or IPv6 address. No token of that alphabet opens a Go stack frame
     * line, so no multi-line rule can take the line into the event before it. */
    Py_ssize_t i = 0;
    while (i < n && s[i] != ' ') {
        if (!(is_hex(s[i]) || s[i] == '.' || s[i] == ':'))
            return -1;
        i++;
    }
    a->host = s;
    a->host_n = i;
    Py_ssize_t j = find(s, i + 1, n, ' '); /* ident */
    if (j < 0 || j == i + 1)
        return -1;
    Py_ssize_t k = find(s, j + 1, n, ' '); /* user */
    if (k < 0 || k == j + 1)
        return -1;
    a->user = s + j + 1;
    a->user_n = k - j - 1;
    if (k + 1 >= n || s[k + 1] != '[')
        return -1;
    Py_ssize_t close = find(s, k + 2, n, ']');
    if (close < 0 || close + 2 >= n || s[close + 1] != ' ' || s[close + 2] != '"')
        return -1;
    a->when = s + k + 2;
    if (clf_time(a->when, close - k - 2, &a->epoch) < 0)
        return -1;
    Py_ssize_t r = close + 3;
    Py_ssize_t q = find(s, r, n, '"');
    if (q < 0 || q + 6 > n || s[q + 1] != ' ' || !is_digit(s[q + 2]) || !is_digit(s[q + 3]) ||
        !is_digit(s[q + 4]) || s[q + 5] != ' ')
        return -1;
    a->req = s + r;
    a->req_n = q - r;
    a->status = (s[q + 2] - '0') * 100 + (s[q + 3] - '0') * 10 + (s[q + 4] - '0');
    Py_ssize_t z = q + 6, e = z;
    if (z < n && is_digit(s[z])) {
        while (e < n && is_digit(s[e]))
            e++;
    }
    else if (z < n && s[z] == '-') {
        e = z + 1;
    }
    else {
        return -1;
    }
    a->size = s + z;
    a->size_n = e - z;
    if (a->size[0] != '-') {
        Py_ssize_t lead = 0;
        while (lead < a->size_n - 1 && a->size[lead] == '0')
            lead++;
        if (a->size_n - lead > 18) /* beyond 64 bits: the Python path writes big numbers */
            return -1;
        a->size += lead;
        a->size_n -= lead;
    }
    /* The optional referer and agent: taken when they match, as the regex does. */
    a->has_ref = 0;
    Py_ssize_t x = e;
    if (e + 1 < n && s[e] == ' ' && s[e + 1] == '"') {
        Py_ssize_t r2 = find(s, e + 2, n, '"');
        if (r2 >= 0 && r2 + 2 < n && s[r2 + 1] == ' ' && s[r2 + 2] == '"') {
            Py_ssize_t u2 = find(s, r2 + 3, n, '"');
            if (u2 >= 0) {
                a->has_ref = 1;
                a->ref = s + e + 2;
                a->ref_n = r2 - e - 2;
                a->ua = s + r2 + 3;
                a->ua_n = u2 - r2 - 3;
                x = u2 + 1;
            }
        }
    }
    a->extra = s + x;
    a->extra_n = n - x;
    return 0;
}

/* -- the miner's shape keys (see ``logpipe.patterns.masking``) -------------------------- */

/* SHAPE_DIGITS_RE.sub("0", s): a digit run not glued to a letter or digit before it. */
static Py_ssize_t
digits_key(const char *s, Py_ssize_t n, char *out)
{
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (is_digit(s[i]) && (i == 0 || !is_alnum(s[i - 1]))) {
            out[o++] = '0';
            while (i < n && is_digit(s[i]))
                i++;
        }
        else {
            out[o++] = s[i++];
        }
    }
    return o;
}

/* SHAPE_HEX_RE.sub("0x0", s): a standalone hex word with a digit and a letter. */
static Py_ssize_t
hex_key(const char *s, Py_ssize_t n, char *out)
{
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (is_hex(s[i]) && (i == 0 || !is_alnum(s[i - 1]))) {
            Py_ssize_t j = i;
            int digit = 0, letter = 0;
            for (; j < n && is_hex(s[j]); j++) {
                if (is_digit(s[j]))
                    digit = 1;
                else
                    letter = 1;
            }
            if (digit && letter && (j == n || !is_alnum(s[j]))) {
                memcpy(out + o, "0x0", 3);
                o += 3;
            }
            else {
                memcpy(out + o, s + i, j - i);
                o += j - i;
            }
            i = j;
        }
        else {
            out[o++] = s[i++];
        }
    }
    return o;
}

static inline int
path_stop(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '"' || c == '\'' || c == '<' || c == '>' || c == ',' || c == ';' || c == '(' ||
           c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '|';
}

/* SHAPE_PATH_RE.sub("/p", s): a whole token that is an absolute path. In plain text (and
 * the newlines that join an event's lines) the only whitespace is the space and the newline. */
static Py_ssize_t
path_key(const char *s, Py_ssize_t n, char *out)
{
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n;) {
        if (s[i] == '/' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n')) {
            Py_ssize_t j = i + 1;
            while (j < n && !path_stop(s[j]))
                j++;
            if (j > i + 1 && (j == n || s[j] == ' ' || s[j] == '\n')) {
                out[o++] = '/';
                out[o++] = 'p';
                i = j;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    return o;
}

/* -- patterns ---------------------------------------------------------------------------- */

/* One shape met in this run, with what the run counted for it. */
typedef struct {
    PyObject *shape, *pid, *template, *sample;
    char id[17];
    Py_ssize_t rows, pending; /* pending: counted here, not yet added to shape.count */
    int64_t first, last;
} Entry;

typedef struct {
    Entry *e;
    Py_ssize_t n, cap;
    PyObject *index;    /* shape -> position in e, for the shapes whose pattern is current */
    PyObject *patterns; /* shape -> (id, template), kept by the caller while the miner's templates hold */
} Entries;

static void
entries_free(Entries *t)
{
    for (Py_ssize_t i = 0; i < t->n; i++) {
        Py_XDECREF(t->e[i].shape);
        Py_XDECREF(t->e[i].pid);
        Py_XDECREF(t->e[i].template);
        Py_XDECREF(t->e[i].sample);
    }
    PyMem_Free(t->e);
    Py_XDECREF(t->index);
}

static PyObject *S_TEMPLATE, *S_PARENT, *S_PATTERN;

/* ``shape.pattern()`` where its template's root has issued its pattern already, read from
 * the slots without the method calls; NULL (no error) where it has not. */
static PyObject *
issued_pattern(PyObject *shape)
{
    PyObject *node = PyObject_GetAttr(shape, S_TEMPLATE);
    while (node != NULL) {
        PyObject *parent = PyObject_GetAttr(node, S_PARENT);
        if (parent == NULL || parent == Py_None) {
            Py_XDECREF(parent);
            break;
        }
        Py_SETREF(node, parent);
    }
    if (node == NULL)
        return NULL;
    PyObject *pattern = PyObject_GetAttr(node, S_PATTERN);
    Py_DECREF(node);
    if (pattern == Py_None)
        Py_CLEAR(pattern);
    return pattern;
}

/* The entry of ``shape`` (borrowed), made on first sight from ``shape.pattern()``. */
static Entry *
entry_of(Entries *t, PyObject *shape, const char *msg, Py_ssize_t msg_n, int64_t epoch)
{
    PyObject *at = PyDict_GetItemWithError(t->index, shape);
    if (at != NULL)
        return &t->e[PyLong_AsSsize_t(at)];
    if (PyErr_Occurred())
        return NULL;
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap ? t->cap * 2 : 16;
        Entry *e = PyMem_Realloc(t->e, cap * sizeof(Entry));
        if (e == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        t->e = e;
        t->cap = cap;
    }
    PyObject *pid, *template;
    PyObject *known = PyDict_GetItemWithError(t->patterns, shape);
    if (known != NULL) {
        pid = Py_NewRef(PyTuple_GET_ITEM(known, 0));
        template = Py_NewRef(PyTuple_GET_ITEM(known, 1));
    }
    else {
        if (PyErr_Occurred())
            return NULL;
        PyObject *pattern = issued_pattern(shape);
        if (pattern == NULL && !PyErr_Occurred())
            pattern = PyObject_CallMethod(shape, "pattern", NULL);
        if (pattern == NULL)
            return NULL;
        pid = PyObject_GetAttrString(pattern, "id");
        template = PyObject_GetAttrString(pattern, "template");
        Py_DECREF(pattern);
        PyObject *pair = pid && template ? PyTuple_Pack(2, pid, template) : NULL;
        if (pair == NULL || PyDict_SetItem(t->patterns, shape, pair) < 0) {
            Py_XDECREF(pair);
            Py_XDECREF(pid);
            Py_XDECREF(template);
            return NULL;
        }
        Py_DECREF(pair);
    }
    Py_ssize_t id_n = 0;
    const char *id = pid && PyUnicode_Check(pid) ? PyUnicode_AsUTF8AndSize(pid, &id_n) : NULL;
    PyObject *sample = ascii_str(msg, msg_n < 1000 ? msg_n : 1000);
    PyObject *pos = PyLong_FromSsize_t(t->n);
    if (template == NULL || id == NULL || id_n != 16 || sample == NULL || pos == NULL ||
        PyDict_SetItem(t->index, shape, pos) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a pattern id is 16 characters");
        Py_XDECREF(pid);
        Py_XDECREF(template);
        Py_XDECREF(sample);
        Py_XDECREF(pos);
        return NULL;
    }
    Py_DECREF(pos);
    Entry *e = &t->e[t->n++];
    Py_INCREF(shape);
    e->shape = shape;
    e->pid = pid;
    e->template = template;
    e->sample = sample;
    memcpy(e->id, id, 17);
    e->rows = e->pending = 0;
    e->first = e->last = epoch;
    return e;
}

/* Add what was counted here to each ``shape.count``, as ``PatternMiner.add`` would have. */
static int
flush_counts(Entries *t)
{
    for (Py_ssize_t i = 0; i < t->n; i++) {
        Entry *e = &t->e[i];
        if (e->pending == 0)
            continue;
        PyObject *count = PyObject_GetAttrString(e->shape, "count");
        if (count == NULL)
            return -1;
        PyObject *more = PyLong_FromSsize_t(e->pending);
        PyObject *sum = more ? PyNumber_Add(count, more) : NULL;
        Py_DECREF(count);
        Py_XDECREF(more);
        if (sum == NULL || PyObject_SetAttrString(e->shape, "count", sum) < 0) {
            Py_XDECREF(sum);
            return -1;
        }
        Py_DECREF(sum);
        e->pending = 0;
    }
    return 0;
}

/* A UTC datetime of microseconds since the epoch. */
static PyObject *
utc_datetime(int64_t us)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int rest = (int)(secs - days * 86400), y, m, d;
    civil_from_days(days, &y, &m, &d);
    return PyDateTimeAPI->DateTime_FromDateAndTime(y, m, d, rest / 3600, rest / 60 % 60, rest % 60,
                                                   (int)(us - secs * 1000000), PyDateTime_TimeZone_UTC,
                                                   PyDateTimeAPI->DateTimeType);
}

/* ``rows`` into the batch's pattern counts (``Batch.patterns``: id -> [template, count,
 * first seen, last seen, sample]), as ``event_batches`` counts an event. */
static int
count_patterns(PyObject *seen, Entries *t)
{
    for (Py_ssize_t i = 0; i < t->n; i++) {
        Entry *e = &t->e[i];
        if (e->rows == 0)
            continue;
        PyObject *row = PyDict_GetItemWithError(seen, e->pid);
        if (row == NULL) {
            if (PyErr_Occurred())
                return -1;
            PyObject *first = utc_datetime(e->first), *last = utc_datetime(e->last);
            PyObject *fresh = first && last ? Py_BuildValue("[OnOOO]", e->template, e->rows, first, last, e->sample)
                                            : NULL;
            Py_XDECREF(first);
            Py_XDECREF(last);
            if (fresh == NULL || PyDict_SetItem(seen, e->pid, fresh) < 0) {
                Py_XDECREF(fresh);
                return -1;
            }
            Py_DECREF(fresh);
            continue;
        }
        if (!PyList_Check(row) || PyList_GET_SIZE(row) != 5) {
            PyErr_SetString(PyExc_TypeError, "a batch's pattern row is a list of five");
            return -1;
        }
        PyObject *more = PyLong_FromSsize_t(e->rows);
        PyObject *count = more ? PyNumber_Add(PyList_GET_ITEM(row, 1), more) : NULL;
        Py_XDECREF(more);
        if (count == NULL)
            return -1;
        PyList_SetItem(row, 1, count); /* steals it */
        for (int k = 2; k <= 3; k++) {
            PyObject *when = utc_datetime(k == 2 ? e->first : e->last);
            int moves = when ? PyObject_RichCompareBool(when, PyList_GET_ITEM(row, k), k == 2 ? Py_LT : Py_GT) : -1;
            if (moves < 0) {
                Py_XDECREF(when);
                return -1;
            }
            if (moves)
                PyList_SetItem(row, k, when);
            else
                Py_DECREF(when);
        }
    }
    return 0;
}

#define MAX_MONTHS 64

/* -- the lane ---------------------------------------------------------------------------- */

static int
plain(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '\\')
            return 0;
    }
    return 1;
}

/* The fields ``Parser._access`` gives a line, as JSON escaped for COPY. */
static void
write_access_fields(Buf *out, const Access *a)
{
    put(out, "{\"remote_addr\":", 15);
    put_json_string(out, a->host, a->host_n);
    put(out, ",\"status\":", 10);
    put_int(out, a->status);
    if (!(a->user_n == 1 && a->user[0] == '-')) {
        put(out, ",\"user\":", 8);
        put_json_string(out, a->user, a->user_n);
    }
    const char *sp1 = memchr(a->req, ' ', a->req_n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', a->req + a->req_n - sp1 - 1) : NULL;
    if (sp2 != NULL && memchr(sp2 + 1, ' ', a->req + a->req_n - sp2 - 1) == NULL) {
        put(out, ",\"method\":", 10);
        put_json_string(out, a->req, sp1 - a->req);
        put(out, ",\"path\":", 8);
        put_json_string(out, sp1 + 1, sp2 - sp1 - 1);
        put(out, ",\"protocol\":", 12);
        put_json_string(out, sp2 + 1, a->req + a->req_n - sp2 - 1);
    }
    if (a->size[0] != '-') {
        put(out, ",\"bytes\":", 9);
        put(out, a->size, a->size_n);
    }
    if (a->has_ref) {
        put(out, ",\"referer\":", 11);
        put_json_string(out, a->ref, a->ref_n);
        put(out, ",\"user_agent\":", 14);
        put_json_string(out, a->ua, a->ua_n);
    }
    if (a->extra_n > 0) {
        const char *x = a->extra, *end = a->extra + a->extra_n;
        while (x < end && *x == ' ')
            x++;
        while (end > x && end[-1] == ' ')
            end--;
        put(out, ",\"extra\":", 9);
        put_json_string(out, x, end - x);
    }
    put_c(out, '}');
}

/* -- JSON lines -------------------------------------------------------------------------- */

/* What orjson writes back for a decoded object is the same tokens without the spaces, as
 * long as every string is plain (no escapes), every integer fits 64 bits, every decimal is
 * one whose digits and notation survive the round trip, and no object repeats a key. The
 * lane takes such lines only; ``json_fields`` lets the tests hold this against orjson. */

#define MAX_MEMBERS 64
#define MAX_DEPTH 16

typedef struct {
    const char *k, *v; /* a string value's text, without its quotes */
    Py_ssize_t kn, vn;
    char type; /* 's' string, 'i' integer, 'd' decimal, 'b' true or false, 'z' null, 'o' object or array */
} Member;

static inline Py_ssize_t
skip_spaces(const char *s, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && s[i] == ' ')
        i++;
    return i;
}

/* The number at s[i]: where it ends, or -1 when orjson would not write it back as it is. */
static Py_ssize_t
json_number(const char *s, Py_ssize_t i, Py_ssize_t n, char *type)
{
    Py_ssize_t j = i + (s[i] == '-');
    Py_ssize_t int_start = j;
    if (j >= n || !is_digit(s[j]))
        return -1;
    if (s[j] == '0')
        j++;
    else
        while (j < n && is_digit(s[j]))
            j++;
    Py_ssize_t int_n = j - int_start;
    int zero = int_n == 1 && s[int_start] == '0';
    if (j < n && s[j] == '.') {
        Py_ssize_t f = ++j;
        while (j < n && is_digit(s[j]))
            j++;
        Py_ssize_t frac_n = j - f;
        if (frac_n == 0 || int_n > 15)
            return -1;
        int point_zero = frac_n == 1 && s[f] == '0';
        if (!point_zero && s[j - 1] == '0') /* 1.50 comes back as 1.5 */
            return -1;
        Py_ssize_t digits = point_zero ? int_n : int_n + frac_n;
        if (zero && point_zero) {
            if (s[i] == '-') /* -0.0 */
                return -1;
        }
        else if (zero) {
            Py_ssize_t lead = 0;
            while (s[f + lead] == '0')
                lead++;
            if (lead > 3) /* below 1e-4: written with an exponent */
                return -1;
            digits = frac_n - lead;
        }
        if (digits > 15) /* more than a double keeps */
            return -1;
        *type = 'd';
    }
    else {
        if (int_n > 18 || (zero && s[i] == '-'))
            return -1;
        *type = 'i';
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E'))
        return -1;
    return j;
}

static Py_ssize_t json_value(const char *s, Py_ssize_t i, Py_ssize_t n, Buf *out, int depth, Member *m);

/* The object at s[i] == '{', written compact to ``out``; its members in ``top`` when given. */
static Py_ssize_t
json_object(const char *s, Py_ssize_t i, Py_ssize_t n, Buf *out, int depth, Member *top, int *n_top)
{
    Member members[MAX_MEMBERS];
    int count = 0;
    if (depth > MAX_DEPTH)
        return -1;
    put_c(out, '{');
    i = skip_spaces(s, i + 1, n);
    if (i < n && s[i] == '}') {
        put_c(out, '}');
        if (n_top)
            *n_top = 0;
        return i + 1;
    }
    for (;;) {
        if (i >= n || s[i] != '"' || count == MAX_MEMBERS)
            return -1;
        const char *q = memchr(s + i + 1, '"', n - i - 1);
        if (q == NULL)
            return -1;
        Member *m = &members[count];
        m->k = s + i + 1;
        m->kn = q - s - i - 1;
        for (int c = 0; c < count; c++)
            if (members[c].kn == m->kn && memcmp(members[c].k, m->k, m->kn) == 0)
                return -1; /* a repeated key: only the last value would be kept */
        if (count)
            put_c(out, ',');
        put(out, s + i, m->kn + 2);
        put_c(out, ':');
        i = skip_spaces(s, q - s + 1, n);
        if (i >= n || s[i] != ':')
            return -1;
        i = json_value(s, skip_spaces(s, i + 1, n), n, out, depth, m);
        if (i < 0)
            return -1;
        count++;
        i = skip_spaces(s, i, n);
        if (i < n && s[i] == ',') {
            i = skip_spaces(s, i + 1, n);
            continue;
        }
        if (i < n && s[i] == '}')
            break;
        return -1;
    }
    put_c(out, '}');
    if (top) {
        memcpy(top, members, count * sizeof(Member));
        *n_top = count;
    }
    return i + 1;
}

static Py_ssize_t
json_value(const char *s, Py_ssize_t i, Py_ssize_t n, Buf *out, int depth, Member *m)
{
    if (i >= n)
        return -1;
    Py_ssize_t start = i, end;
    switch (s[i]) {
    case '"': {
        const char *q = memchr(s + i + 1, '"', n - i - 1);
        if (q == NULL)
            return -1;
        end = q - s + 1;
        m->type = 's';
        m->v = s + i + 1;
        m->vn = end - i - 2;
        put(out, s + i, end - i);
        return end;
    }
    case '{':
        m->type = 'o';
        return json_object(s, i, n, out, depth + 1, NULL, NULL);
    case '[':
        m->type = 'o';
        if (depth + 1 > MAX_DEPTH)
            return -1;
        put_c(out, '[');
        i = skip_spaces(s, i + 1, n);
        if (i < n && s[i] == ']') {
            put_c(out, ']');
            return i + 1;
        }
        for (int first = 1;; first = 0) {
            Member item;
            if (!first)
                put_c(out, ',');
            i = json_value(s, i, n, out, depth + 1, &item);
            if (i < 0)
                return -1;
            i = skip_spaces(s, i, n);
            if (i < n && s[i] == ',') {
                i = skip_spaces(s, i + 1, n);
                continue;
            }
            if (i < n && s[i] == ']') {
                put_c(out, ']');
                return i + 1;
            }
            return -1;
        }
    case 't':
        m->type = 'b';
        end = n - i >= 4 && memcmp(s + i, "true", 4) == 0 ? i + 4 : -1;
        break;
    case 'f':
        m->type = 'b';
        end = n - i >= 5 && memcmp(s + i, "false", 5) == 0 ? i + 5 : -1;
        break;
    case 'n':
        m->type = 'z';
        end = n - i >= 4 && memcmp(s + i, "null", 4) == 0 ? i + 4 : -1;
        break;
    default:
        end = json_number(s, i, n, &m->type);
    }
    if (end < 0)
        return -1;
    m->v = s + start;
    m->vn = end - start;
    put(out, s + start, end - start);
    return end;
}

/* The keys ``Parser._json`` looks for, in its order (from Python at each call). */
typedef struct {
    const char *k[16];
    Py_ssize_t kn[16];
    int n;
} Keys;

static int
keys_of(PyObject *seq, Keys *keys)
{
    if (!PyTuple_Check(seq) || PyTuple_GET_SIZE(seq) > 16) {
        PyErr_SetString(PyExc_TypeError, "key lists are tuples of at most 16 names");
        return -1;
    }
    keys->n = (int)PyTuple_GET_SIZE(seq);
    for (int i = 0; i < keys->n; i++) {
        PyObject *k = PyTuple_GET_ITEM(seq, i);
        keys->k[i] = PyUnicode_Check(k) ? PyUnicode_AsUTF8AndSize(k, &keys->kn[i]) : NULL;
        if (keys->k[i] == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "key names are str");
            return -1;
        }
    }
    return 0;
}

static Member *
member(Member *ms, int n, const char *k, Py_ssize_t kn)
{
    for (int i = 0; i < n; i++)
        if (ms[i].kn == kn && memcmp(ms[i].k, k, kn) == 0)
            return &ms[i];
    return NULL;
}

/* ``_first``: the first of ``keys`` the object holds a non-null value for. ``*bail`` when
 * a dotted key (``log.level``) or its head is there: the nesting rules are the Python path's. */
static Member *
first_of(Member *ms, int n, const Keys *keys, int *bail)
{
    for (int i = 0; i < keys->n; i++) {
        const char *dot = memchr(keys->k[i], '.', keys->kn[i]);
        if (dot && (member(ms, n, keys->k[i], keys->kn[i]) || member(ms, n, keys->k[i], dot - keys->k[i]))) {
            *bail = 1;
            return NULL;
        }
        Member *m = member(ms, n, keys->k[i], keys->kn[i]);
        if (m && m->type != 'z')
            return m;
    }
    return NULL;
}

/* ``TimeParser.iso`` of ``YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|+HH:MM]`` (no zone: UTC only
 * where the source's zone is UTC), as UTC microseconds; -1 for anything else. */
static int
iso_time(const char *v, Py_ssize_t n, int naive_utc, int64_t *us)
{
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 19 || v[4] != '-' || v[7] != '-' || (v[10] != 'T' && v[10] != ' ') || v[13] != ':' || v[16] != ':')
        return -1;
    int c1 = two(v), c2 = two(v + 2), mo = two(v + 5), day = two(v + 8), hh = two(v + 11), mi = two(v + 14),
        ss = two(v + 17);
    if (c1 < 10 || c2 < 0 || mo < 1 || mo > 12 || day < 1 || hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 ||
        ss > 59)
        return -1;
    int year = c1 * 100 + c2;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year > 9998 || day > DAYS[mo - 1] + (mo == 2 && leap))
        return -1;
    Py_ssize_t i = 19;
    int64_t micro = 0;
    if (i < n && (v[i] == '.' || v[i] == ',')) {
        Py_ssize_t f = ++i;
        while (i < n && is_digit(v[i]))
            i++;
        if (i == f)
            return -1;
        for (Py_ssize_t k = 0; k < 6; k++)
            micro = micro * 10 + (f + k < i ? v[f + k] - '0' : 0);
    }
    int64_t offset = 0;
    if (n - i == 1 && v[i] == 'Z') {
    }
    else if (n - i == 6 && (v[i] == '+' || v[i] == '-') && v[i + 3] == ':') {
        int oh = two(v + i + 1), om = two(v + i + 4);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset = (int64_t)(oh * 3600 + om * 60) * (v[i] == '-' ? -1 : 1);
    }
    else if (!(i == n && naive_utc)) {
        return -1;
    }
    int64_t secs = days_from_civil(year, mo, day) * 86400 + hh * 3600 + mi * 60 + ss - offset;
    *us = secs * 1000000 + micro;
    return 0;
}

/* -- rows ---------------------------------------------------------------------------------- */

/* The parser's formats, by the names ``logpipe.parsing.formats.FORMATS`` gives them. */
enum {
    F_OTHER,
    F_JSON,
    F_CRI,
    F_GHA,
    F_ACCESS,
    F_NGINX_ERROR,
    F_APP,
    F_ANDROID,
    F_HDFS,
    F_SPARK,
    F_GO,
    F_LOGFMT,
    F_SYSLOG3164,
    F_RAILS,
    F_PYTHON,
};
static const struct {
    const char *name;
    int code;
} FORMAT_CODES[] = {
    {"json", F_JSON},     {"cri", F_CRI},       {"github_actions", F_GHA}, {"apache_access", F_ACCESS},
    {"nginx_error", F_NGINX_ERROR}, {"app", F_APP}, {"android", F_ANDROID}, {"hdfs", F_HDFS},
    {"spark", F_SPARK},   {"go", F_GO},         {"logfmt", F_LOGFMT}, {"syslog3164", F_SYSLOG3164},
    {"rails", F_RAILS},   {"python", F_PYTHON},
};
#define MAX_FORMATS 32

typedef struct {
    PyObject *by_key, *add, *level_words;
    Keys time_keys, level_keys, message_keys;
    int naive_utc;
    /* Per first character (ASCII), the parser's formats that may match a line starting
     * with it, in the order it tries them: bytes of indexes into its format names. */
    PyObject *cands;
    int codes[MAX_FORMATS]; /* the code of each index */
    int n_formats;
    Py_ssize_t max_lines, max_bytes; /* of one event */
} Ctx;

/* What a row needs beyond its fields (which are in ``fields``, written for COPY). */
typedef struct {
    int has_ts;
    int64_t us; /* UTC microseconds since the epoch */
    PyObject *level; /* one of LEVELS, or NULL; borrowed */
    const char *format;
    const char *msg;
    Py_ssize_t msg_n;
    int keep_raw; /* the raw line differs from the message */
    const char *raw; /* the event's lines, joined by newlines */
    Py_ssize_t raw_n, lines;
} Line;

static PyObject *LEVEL_NAMES[6];
static const char *LEVEL_TEXT[6] = {"trace", "debug", "info", "warn", "error", "fatal"};

static int word_level(const Ctx *cx, const char *text, Py_ssize_t n, PyObject **level);

/* ``normalise_level`` of a JSON value: a word through Python's own table, a number as
 * pino's, anything else none. */
static int
json_level(const Ctx *cx, const Member *m, PyObject **level)
{
    *level = NULL;
    if (m == NULL || m->type == 'b' || m->type == 'd' || m->type == 'o')
        return 0;
    if (m->type == 'i') {
        long long v = strtoll(m->v, NULL, 10);
        int at = v <= 10 ? 0 : v <= 20 ? 1 : v <= 30 ? 2 : v <= 40 ? 3 : v <= 50 ? 4 : 5;
        *level = LEVEL_NAMES[at];
        return 0;
    }
    return word_level(cx, m->v, m->vn, level);
}

/* ``normalise_level`` of a word: stripped, lower-cased, through Python's own table. */
static int
word_level(const Ctx *cx, const char *text, Py_ssize_t n, PyObject **level)
{
    *level = NULL;
    const char *w = text, *end = text + n;
    while (w < end && *w == ' ')
        w++;
    while (end > w && end[-1] == ' ')
        end--;
    char low[64];
    if (end - w >= (Py_ssize_t)sizeof(low))
        return 0; /* no level word is that long */
    for (Py_ssize_t i = 0; i < end - w; i++)
        low[i] = (w[i] >= 'A' && w[i] <= 'Z') ? (char)(w[i] + 32) : w[i];
    PyObject *word = ascii_str(low, end - w);
    if (word == NULL)
        return -1;
    PyObject *found = PyDict_GetItemWithError(cx->level_words, word);
    Py_DECREF(word);
    if (found == NULL)
        return PyErr_Occurred() ? -1 : 0;
    for (int i = 0; i < 6; i++)
        if (PyUnicode_CompareWithASCIIString(found, LEVEL_TEXT[i]) == 0)
            *level = LEVEL_NAMES[i];
    return 0;
}

/* -- which format the parser gives a line ------------------------------------------------ */

static int
contains(const char *s, Py_ssize_t n, const char *what)
{
    Py_ssize_t k = (Py_ssize_t)strlen(what);
    for (Py_ssize_t i = 0; i + k <= n; i++)
        if (s[i] == what[0] && memcmp(s + i, what, k) == 0)
            return 1;
    return 0;
}

static inline int
key_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '@';
}

static inline int
key_char(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == '-' || c == '/' || c == '@';
}

/* Whether the parser's format ``code`` surely gives up on the line: each test is the
 * guard its Python function opens with. 0 where this file knows no such test. */
static int
fails(int code, const char *s, Py_ssize_t n)
{
    switch (code) {
    case F_JSON:
        return s[0] != '{';
    case F_CRI:
        return !(n > 10 && s[10] == 'T') || !contains(s, n, " std");
    case F_GHA:
        return !(n > 27 && s[27] == 'Z' && s[19] == '.');
    case F_ACCESS:
        return !contains(s, n, "] \"");
    case F_NGINX_ERROR:
    case F_GO:
        return !(n > 4 && s[4] == '/');
    case F_APP: {
        /* Both its patterns open with an optional '[' and an ISO date. */
        Py_ssize_t i = s[0] == '[';
        return !(n >= i + 11 && is_digit(s[i]) && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
                 s[i + 4] == '-' && is_digit(s[i + 5]) && is_digit(s[i + 6]) && s[i + 7] == '-' &&
                 is_digit(s[i + 8]) && is_digit(s[i + 9]) && (s[i + 10] == 'T' || s[i + 10] == ' '));
    }
    case F_ANDROID:
        return !(n > 5 && s[5] == ' ' && s[2] == '-');
    case F_HDFS:
        return !(n > 6 && s[6] == ' ');
    case F_SPARK:
        return !(n > 2 && s[2] == '/');
    case F_SYSLOG3164:
        /* no <priority>, and no month name then a space where its pattern wants them */
        return s[0] != '<' && !(n > 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'a' && s[1] <= 'z' && s[2] >= 'a' &&
                                s[2] <= 'z' && s[3] == ' ');
    case F_RAILS:
        return !(n > 2 && s[1] == ',' && s[2] == ' ');
    case F_PYTHON: {
        static const char *heads[] = {"DEBUG:", "INFO:", "WARNING:", "ERROR:", "CRITICAL:", NULL};
        for (int h = 0; heads[h] != NULL; h++) {
            Py_ssize_t k = (Py_ssize_t)strlen(heads[h]);
            if (n >= k && memcmp(s, heads[h], k) == 0)
                return 0;
        }
        return 1;
    }
    case F_LOGFMT: {
        Py_ssize_t i = 0;
        while (i < n && s[i] == ' ')
            i++;
        if (i == n || !key_start(s[i]))
            return 1;
        while (i < n && key_char(s[i]))
            i++;
        return !(i < n && s[i] == '=');
    }
    default:
        return 0;
    }
}

/* Whether the multi-line rules' Java exception pattern could match the line whole:
 * ``(Exception in thread "..." )?(word.)+Capital...``. */
static int
java_exc_possible(const char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    static const char head[] = "Exception in thread \"";
    if (n >= (Py_ssize_t)sizeof(head) - 1 && memcmp(s, head, sizeof(head) - 1) == 0)
        return 1; /* rare enough to leave to the Python path */
    int segments = 0;
    for (;;) {
        if (i >= n || !((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || s[i] == '$'))
            break;
        i++;
        while (i < n && (is_alnum(s[i]) || s[i] == '_' || s[i] == '$'))
            i++;
        if (i < n && s[i] == '.') {
            segments++;
            i++;
            continue;
        }
        break;
    }
    return segments > 0 && i < n && s[i] >= 'A' && s[i] <= 'Z';
}

/* First characters of the lines that a multi-line rule looks at before parsing them, and
 * of those that may join an event as a Java exception line (multiline.py). */
static inline int
joins_unparsed(unsigned char c)
{
    return c == ' ' || c == '\t' || c == 'T' || c == 'D' || c == 'C' || c == '.' || c == 'S' || c == 'g';
}

static inline int
java_first(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || c == 'E' || c == '_' || c == '$';
}

/* Whether the line at s[i:] (maybe not whole: the block may end inside it) surely starts
 * an event of its own after a one-line event, with a time or without (``has_ts``). */
static int
next_starts_event(const char *s, Py_ssize_t i, Py_ssize_t n, int has_ts)
{
    if (i >= n || s[i] == '\n' || s[i] == '\r' || joins_unparsed(s[i]))
        return 0;
    if (!java_first(s[i]) || !has_ts)
        return 1;
    const char *nl = memchr(s + i, '\n', n - i);
    if (nl == NULL)
        return 0; /* cannot see all of it */
    return !java_exc_possible(s + i, nl - (s + i));
}

/* -- logfmt -------------------------------------------------------------------------------- */

/* ``Parser._logfmt``'s pairs of a plain line: at least two, split by spaces, no key twice. */
static int
parse_logfmt(const char *s, Py_ssize_t n, Member *pairs, int *count)
{
    Py_ssize_t i = 0;
    int c = 0;
    while (i < n) {
        if (!key_start(s[i]) || c == MAX_MEMBERS)
            return -1;
        Py_ssize_t j = i + 1;
        while (j < n && key_char(s[j]))
            j++;
        if (j >= n || s[j] != '=')
            return -1;
        Member *m = &pairs[c];
        m->k = s + i;
        m->kn = j - i;
        m->type = 's';
        for (int d = 0; d < c; d++)
            if (pairs[d].kn == m->kn && memcmp(pairs[d].k, m->k, m->kn) == 0)
                return -1;
        Py_ssize_t v = j + 1, end;
        if (v < n && s[v] == '"') {
            const char *q = memchr(s + v + 1, '"', n - v - 1);
            if (q == NULL)
                return -1;
            m->v = s + v + 1;
            m->vn = q - s - v - 1;
            end = q - s + 1;
        }
        else {
            end = v;
            while (end < n && s[end] != ' ' && s[end] != '"')
                end++;
            if (end < n && s[end] == '"')
                return -1;
            m->v = s + v;
            m->vn = end - v;
        }
        c++;
        i = end;
        if (i == n)
            break;
        if (s[i] != ' ')
            return -1;
        while (i < n && s[i] == ' ')
            i++;
    }
    *count = c;
    return c >= 2 ? 0 : -1;
}

/* -- application layouts -------------------------------------------------------------------- */

static const char *LEVEL_WORDS_RE[] = {
    /* _LW's alternatives in its order, WARN(?:ING)? as its two words, the longer first */
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "WARN", "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT",
    "SEVERE", "PANIC", "EMERG", "ALERT", "FINE", "FINER", "FINEST", "CONFIG", "trace", "debug", "info",
    "notice", "warning", "warn", "error", "err", "fatal", "critical", "crit", "panic", NULL,
};

/* A ``[thread]`` at s[i] == '[' (one level of brackets inside): where it ends, or -1. */
static Py_ssize_t
bracket(const char *s, Py_ssize_t i, Py_ssize_t n)
{
    for (Py_ssize_t j = i + 1; j < n; j++) {
        if (s[j] == ']')
            return j + 1;
        if (s[j] == '[') {
            const char *q = memchr(s + j + 1, ']', n - j - 1);
            if (q == NULL)
                return -1;
            j = q - s;
        }
    }
    return -1;
}

typedef struct {
    const char *iso, *level, *thread, *logger, *msg;
    Py_ssize_t iso_n, level_n, thread_n, logger_n, msg_n;
} App;

/* What ``Parser._APP.fullmatch`` finds in a line that opens with an ISO time, taking each
 * optional part where it matches as the regex does; -1 where this is not sure. */
static int
parse_app(const char *s, Py_ssize_t n, App *a)
{
    memset(a, 0, sizeof(*a));
    if (fails(F_APP, s, n) || s[0] == '[' || contains(s, n, " - "))
        return -1; /* the Python logging layout, and bracketed times, are the Python path's */
    Py_ssize_t p = 19;
    if (n < p || s[13] != ':' || s[16] != ':' || !is_digit(s[11]) || !is_digit(s[12]) || !is_digit(s[14]) ||
        !is_digit(s[15]) || !is_digit(s[17]) || !is_digit(s[18]))
        return -1;
    if (p < n && (s[p] == '.' || s[p] == ',')) {
        Py_ssize_t f = p + 1;
        while (f < n && is_digit(s[f]) && f - p <= 9)
            f++;
        if (f == p + 1 || (f < n && is_digit(s[f])))
            return -1;
        p = f;
    }
    if (p < n && s[p] == 'Z')
        p++;
    else if (p < n && (s[p] == '+' || s[p] == '-')) {
        if (!(p + 6 <= n && is_digit(s[p + 1]) && is_digit(s[p + 2]) && s[p + 3] == ':' && is_digit(s[p + 4]) &&
              is_digit(s[p + 5])))
            return -1;
        p += 6;
    }
    a->iso = s;
    a->iso_n = p;
    if (p < n && s[p] == ']')
        return -1;
    Py_ssize_t q = p;
    while (q < n && s[q] == ' ')
        q++;
    if (q == p || q == n || s[q] == '-')
        return -1;
    if (s[q] == '[') { /* a thread before the level */
        Py_ssize_t e = bracket(s, q, n);
        if (e < 0)
            return -1;
        a->thread = s + q + 1;
        a->thread_n = e - q - 2;
        p = e;
        q = p;
        while (q < n && s[q] == ' ')
            q++;
        if (q == p)
            return -1;
    }
    p = q;
    int bracketed = p < n && s[p] == '[';
    p += bracketed;
    int w = 0;
    for (; LEVEL_WORDS_RE[w] != NULL; w++) {
        Py_ssize_t k = (Py_ssize_t)strlen(LEVEL_WORDS_RE[w]);
        if (n - p >= k && memcmp(s + p, LEVEL_WORDS_RE[w], k) == 0)
            break;
    }
    if (LEVEL_WORDS_RE[w] == NULL)
        return -1;
    a->level = s + p;
    a->level_n = (Py_ssize_t)strlen(LEVEL_WORDS_RE[w]);
    p += a->level_n;
    if (p < n && s[p] == ']')
        p++;
    if (p < n && s[p] == ':')
        p++;
    /* (?: +THREAD)? */
    q = p;
    while (q < n && s[q] == ' ')
        q++;
    if (q > p && q < n && s[q] == '[') {
        Py_ssize_t e = bracket(s, q, n);
        if (e >= 0) {
            if (a->thread == NULL) {
                a->thread = s + q + 1;
                a->thread_n = e - q - 2;
            }
            p = e;
        }
    }
    /* (?: +(?:- )?(?:dotted.logger(@\d+)?:|word -)(?= ))? */
    q = p;
    while (q < n && s[q] == ' ')
        q++;
    if (q > p) {
        Py_ssize_t r = q;
        if (r + 1 < n && s[r] == '-' && s[r + 1] == ' ')
            r += 2;
        Py_ssize_t w0 = r, e = r;
        if (e < n && ((s[e] >= 'A' && s[e] <= 'Z') || (s[e] >= 'a' && s[e] <= 'z') || s[e] == '_')) {
            /* dotted: segments of [\w$-] joined by dots, maybe @digits, then ':' and a space */
            Py_ssize_t d = e + 1;
            int dots = 0;
            for (;;) {
                while (d < n && (is_alnum(s[d]) || s[d] == '_' || s[d] == '$' || s[d] == '-'))
                    d++;
                if (d + 1 < n && s[d] == '.' && (is_alnum(s[d + 1]) || s[d + 1] == '_' || s[d + 1] == '$' ||
                                                 s[d + 1] == '-')) {
                    dots++;
                    d++;
                    continue;
                }
                break;
            }
            Py_ssize_t end_name = d;
            if (dots && d < n && s[d] == '@' && d + 1 < n && is_digit(s[d + 1])) {
                d++;
                while (d < n && is_digit(s[d]))
                    d++;
            }
            if (dots && d + 1 < n && s[d] == ':' && s[d + 1] == ' ') {
                a->logger = s + w0;
                a->logger_n = d - w0;
                p = d + 1;
            }
            else {
                (void)end_name;
                /* word -: [\w.$-]* then " -" and a space */
                Py_ssize_t t = e + 1;
                while (t < n && (is_alnum(s[t]) || s[t] == '_' || s[t] == '.' || s[t] == '$' || s[t] == '-'))
                    t++;
                if (t + 2 < n && s[t] == ' ' && s[t + 1] == '-' && s[t + 2] == ' ') {
                    a->logger = s + w0;
                    a->logger_n = t - w0;
                    p = t + 2;
                }
            }
        }
    }
    /* (?: +-)? then ' *' */
    q = p;
    while (q < n && s[q] == ' ')
        q++;
    if (q > p && q < n && s[q] == '-')
        p = q + 1;
    while (p < n && s[p] == ' ')
        p++;
    a->msg = s + p;
    a->msg_n = n - p;
    return 0;
}

/* ``TimeParser.any`` of a string field: ISO of the shape it tries first, or -1. */
static int
string_time(const Ctx *cx, const Member *m, Line *ln)
{
    const char *v = m->v;
    if (!(m->vn >= 8 && v[4] == '-' && is_digit(v[0]) && is_digit(v[1]) && is_digit(v[2]) && is_digit(v[3])))
        return -1;
    if (iso_time(v, m->vn, cx->naive_utc, &ln->us) < 0)
        return -1;
    ln->has_ts = 1;
    return 0;
}

/* -- one event ------------------------------------------------------------------------------- */

static const char *ANY_LEVEL[] = {
    /* Parser._ANY_LEVEL's alternatives, in its order */
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", "SEVERE", "PANIC", NULL,
};

static inline int
word_char(unsigned char c)
{
    return is_alnum(c) || c == '_';
}

/* ``Parser._text`` of a line no format claims, where its head holds no time to look for:
 * the whole line is the message, with the first level word found in its head. */
static int
parse_text(const Ctx *cx, const char *line, Py_ssize_t len, Line *ln, Buf *fields)
{
    Py_ssize_t head = len < 120 ? len : 120;
    if (memchr(line, ':', head) != NULL || memchr(line, '[', head) != NULL)
        return -1; /* it would look for a time there */
    for (Py_ssize_t i = 0; i < head && ln->level == NULL; i++) {
        if (i > 0 && word_char(line[i - 1]))
            continue;
        for (int w = 0; ANY_LEVEL[w] != NULL; w++) {
            Py_ssize_t k = (Py_ssize_t)strlen(ANY_LEVEL[w]);
            if (i + k <= head && memcmp(line + i, ANY_LEVEL[w], k) == 0 && (i + k == head || !word_char(line[i + k]))) {
                if (word_level(cx, ANY_LEVEL[w], k, &ln->level) < 0)
                    return -2;
                break;
            }
        }
    }
    ln->format = "text";
    ln->msg = line;
    ln->msg_n = len;
    ln->keep_raw = 0;
    put(fields, "\\N", 2);
    return 0;
}

static int parse_as(int code, const Ctx *cx, const char *line, Py_ssize_t len, Line *ln, Buf *fields, Buf *msg);

/* The event that starts at s[pos:] as a row, when the lane takes it: -1 when not, -2 on a
 * Python error. ``sticky`` is the format the parser tries first; ``*format`` is set to the
 * line's (-1 for text, which does not move the parser). The event is its line and the
 * indented lines after it (``ln->lines``, up to ``ln->end``). Writes the fields to
 * ``fields``, the message to ``msg`` (or points into the line) and the joined message of
 * a multi-line event to ``joined``. */
static Py_ssize_t
take_event(const Ctx *cx, int sticky, const char *s, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t max_line, Line *ln,
           Buf *fields, Buf *msg, Buf *joined, int *format)
{
    const char *q = pos < n ? memchr(s + pos, '\n', n - pos) : NULL;
    if (q == NULL)
        return -1;
    Py_ssize_t nl = q - s, len = nl - pos;
    const char *line = s + pos;
    if (len == 0 || len > max_line || joins_unparsed(line[0]) || !plain(line, len))
        return -1;
    unsigned char c = line[0];
    if (java_first(c) && java_exc_possible(line, len))
        return -1; /* it would open an event in Java mode */
    if ((len >= 7 && memcmp(line, "panic: ", 7) == 0) || (len >= 13 && memcmp(line, "fatal error: ", 13) == 0))
        return -1; /* ...or a Go panic */
    fields->n = msg->n = joined->n = 0;
    if (reserve(fields, 6 * len + 256) < 0 || reserve(msg, len + 8) < 0)
        return -2;
    ln->level = NULL;
    ln->has_ts = 0;
    ln->keep_raw = 1;
    ln->lines = 1;

    /* The parser tries its settled format first, then the others in its order: the line
     * is the first one's that does not surely give up on it, where this file can read
     * that format; none, and it is text. */
    PyObject *order = PyTuple_GET_ITEM(cx->cands, c);
    const unsigned char *idx = (const unsigned char *)PyBytes_AS_STRING(order);
    Py_ssize_t k = PyBytes_GET_SIZE(order);
    int sticky_ok = 0, found = -1;
    for (Py_ssize_t i = 0; i < k; i++)
        sticky_ok |= idx[i] == sticky;
    for (Py_ssize_t i = -1; i < k && found < 0; i++) {
        int f = i < 0 ? (sticky_ok ? sticky : -1) : idx[i];
        if (f < 0 || (i >= 0 && f == sticky) || f >= cx->n_formats)
            continue;
        if (fails(cx->codes[f], line, len))
            continue;
        int r = parse_as(cx->codes[f], cx, line, len, ln, fields, msg);
        if (r < 0)
            return r;
        found = f;
    }
    *format = found;
    if (found < 0) {
        int r = parse_text(cx, line, len, ln, fields);
        if (r < 0)
            return r;
    }

    /* Indented lines continue the event, up to the limits of one. */
    Py_ssize_t end = nl + 1, size = len, last = nl;
    while (end < n && s[end] == ' ') {
        const char *e = memchr(s + end, '\n', n - end);
        if (e == NULL)
            return -1;
        Py_ssize_t cl = e - (s + end), blank = 1;
        for (Py_ssize_t i = 0; i < cl && blank; i++)
            blank = s[end + i] == ' ';
        if (blank || cl > max_line || !plain(s + end, cl) || ln->lines >= cx->max_lines || size + cl > cx->max_bytes)
            return -1;
        size += cl + 1;
        ln->lines++;
        last = e - s;
        end = last + 1;
    }
    /* The line after it must have begun, and surely start an event of its own. */
    if (!next_starts_event(s, end, n, ln->has_ts))
        return -1;
    ln->raw = line;
    ln->raw_n = last - pos;
    if (ln->lines > 1) {
        if (reserve(joined, ln->msg_n + (last - nl) + 8) < 0)
            return -2;
        put(joined, ln->msg, ln->msg_n);
        put(joined, s + nl, last - nl); /* the newline and the lines after */
        ln->msg = joined->p;
        ln->msg_n = joined->n;
    }
    return end;
}

/* Read the line as format ``code``: 0, -1 when this file cannot be sure, -2 on a Python error. */
static int
parse_as(int code, const Ctx *cx, const char *line, Py_ssize_t len, Line *ln, Buf *fields, Buf *msg)
{
    if (code == F_ACCESS) {
        Access a = {0};
        if (parse_access(line, len, &a) < 0)
            return -1;
        ln->has_ts = 1;
        ln->us = a.epoch * 1000000;
        ln->level = LEVEL_NAMES[a.status >= 500 ? 4 : a.status >= 400 ? 3 : 2];
        ln->format = "apache_access";
        put(msg, a.req, a.req_n);
        put_c(msg, ' ');
        put_int(msg, a.status);
        ln->msg = msg->p;
        ln->msg_n = msg->n;
        write_access_fields(fields, &a);
    }
    else if (code == F_APP) {
        App a;
        if (parse_app(line, len, &a) < 0 || iso_time(a.iso, a.iso_n, cx->naive_utc, &ln->us) < 0)
            return -1;
        ln->has_ts = 1;
        if (word_level(cx, a.level, a.level_n, &ln->level) < 0)
            return -2;
        ln->format = "app";
        ln->msg = a.msg;
        ln->msg_n = a.msg_n;
        if (a.thread == NULL && a.logger == NULL) {
            put(fields, "\\N", 2);
        }
        else {
            put_c(fields, '{');
            if (a.thread != NULL) {
                put(fields, "\"thread\":", 9);
                put_json_string(fields, a.thread, a.thread_n);
            }
            if (a.logger != NULL) {
                put(fields, a.thread != NULL ? ",\"logger\":" : "\"logger\":", a.thread != NULL ? 10 : 9);
                put_json_string(fields, a.logger, a.logger_n);
            }
            put_c(fields, '}');
        }
    }
    else if (code == F_JSON || code == F_LOGFMT) {
        Member top[MAX_MEMBERS];
        int count = 0, bail = 0;
        if (code == F_JSON) {
            Py_ssize_t end = json_object(line, 0, len, fields, 1, top, &count);
            if (end < 0 || skip_spaces(line, end, len) != len)
                return -1;
            ln->format = "json";
        }
        else {
            if (parse_logfmt(line, len, top, &count) < 0)
                return -1;
            put_c(fields, '{');
            for (int i = 0; i < count; i++) {
                if (i)
                    put_c(fields, ',');
                put_json_string(fields, top[i].k, top[i].kn);
                put_c(fields, ':');
                put_json_string(fields, top[i].v, top[i].vn);
            }
            put_c(fields, '}');
            ln->format = "logfmt";
        }
        if (member(top, count, "log", 3) != NULL) /* Docker's lines, and "log" as the message */
            return -1;
        Member *msg_m = first_of(top, count, &cx->message_keys, &bail);
        Member *time_m = first_of(top, count, &cx->time_keys, &bail);
        Member *level_m = first_of(top, count, &cx->level_keys, &bail);
        if (bail)
            return -1;
        if (time_m != NULL && (time_m->type == 'i' || time_m->type == 'd'))
            return -1; /* epoch numbers: the Python path's */
        if (time_m != NULL && time_m->type == 's' && string_time(cx, time_m, ln) < 0)
            return -1;
        if (json_level(cx, level_m, &ln->level) < 0)
            return -2;
        if (msg_m != NULL && msg_m->type == 's') {
            ln->msg = msg_m->v;
            ln->msg_n = msg_m->vn;
        }
        else {
            ln->msg = line;
            ln->msg_n = len;
            ln->keep_raw = 0;
        }
    }
    else {
        return -1;
    }
    return 0;
}
/* Buffers kept from call to call: growing new ones for each call cost more in page faults
 * than the parsing did. A call that finds them in use (another thread's, while that one
 * is in Python code) makes its own. The GIL is held whenever they are touched. */
typedef struct {
    Buf out, msg, key, key2, fields, joined;
    int busy;
} Scratch;

static Scratch kept;

static Scratch *
scratch_take(Scratch *own)
{
    Scratch *sc = kept.busy ? own : &kept;
    sc->busy = 1;
    sc->out.n = 0;
    return sc;
}

static void
scratch_give(Scratch *sc, Scratch *own)
{
    if (sc == own) {
        PyMem_Free(own->out.p);
        PyMem_Free(own->msg.p);
        PyMem_Free(own->key.p);
        PyMem_Free(own->key2.p);
        PyMem_Free(own->fields.p);
        PyMem_Free(own->joined.p);
    }
    else {
        kept.busy = 0;
    }
}

/* The options last parsed, kept with a reference to them: a lane passes the same tuple
 * to every call, and parsing it cost more than a short run's lines. */
static PyObject *ctx_opts;
static Ctx ctx_kept;

static int parse_options(Ctx *cx, PyObject *opts);

static int
ctx_of(Ctx *cx, PyObject *opts)
{
    if (opts != ctx_opts) {
        Ctx fresh;
        if (parse_options(&fresh, opts) < 0)
            return -1;
        Py_XSETREF(ctx_opts, Py_NewRef(opts));
        ctx_kept = fresh;
    }
    *cx = ctx_kept;
    return 0;
}

static int
parse_options(Ctx *cx, PyObject *opts)
{
    PyObject *tk, *lk, *mk, *names;
    if (!PyArg_ParseTuple(opts, "O!OO!OOOpO!O!nn:options", &PyDict_Type, &cx->by_key, &cx->add, &PyDict_Type,
                          &cx->level_words, &tk, &lk, &mk, &cx->naive_utc, &PyTuple_Type, &names, &PyTuple_Type,
                          &cx->cands, &cx->max_lines, &cx->max_bytes))
        return -1;
    if (keys_of(tk, &cx->time_keys) < 0 || keys_of(lk, &cx->level_keys) < 0 || keys_of(mk, &cx->message_keys) < 0)
        return -1;
    if (PyTuple_GET_SIZE(names) > MAX_FORMATS || PyTuple_GET_SIZE(cx->cands) != 128) {
        PyErr_SetString(PyExc_ValueError, "at most 32 format names, and candidates for each of 128 characters");
        return -1;
    }
    cx->n_formats = (int)PyTuple_GET_SIZE(names);
    for (int i = 0; i < cx->n_formats; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        cx->codes[i] = F_OTHER;
        for (size_t f = 0; f < sizeof(FORMAT_CODES) / sizeof(FORMAT_CODES[0]); f++)
            if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, FORMAT_CODES[f].name) == 0)
                cx->codes[i] = FORMAT_CODES[f].code;
    }
    for (int c = 0; c < 128; c++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(cx->cands, c))) {
            PyErr_SetString(PyExc_TypeError, "candidates are bytes of format indexes");
            return -1;
        }
    }
    return 0;
}

static PyObject *
takes(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t start, max_line;
    int sticky, format;
    PyObject *opts;
    if (!PyArg_ParseTuple(args, "y*nniO!:takes", &data, &start, &max_line, &sticky, &PyTuple_Type, &opts))
        return NULL;
    Ctx cx;
    Scratch own = {0}, *sc = scratch_take(&own);
    Line ln;
    Py_ssize_t nl = ctx_of(&cx, opts) < 0 ? -2
                    : start < 0           ? -1
                                          : take_event(&cx, sticky, data.buf, data.len, start, max_line, &ln,
                                                       &sc->fields, &sc->msg, &sc->joined, &format);
    scratch_give(sc, &own);
    PyBuffer_Release(&data);
    if (nl == -2)
        return NULL;
    return PyBool_FromLong(nl >= 0);
}

static PyObject *
rows(PyObject *self, PyObject *args)
{
    Py_buffer data;
    int sticky;
    Py_ssize_t start, max_rows, max_line, line_no;
    long long ingested_us;
    PyObject *prefix_obj, *ingested_obj, *opts;
    PyObject *known, *seen;
    if (!PyArg_ParseTuple(args, "y*nnnnUULiO!O!O!:rows", &data, &start, &max_rows, &max_line, &line_no,
                          &prefix_obj, &ingested_obj, &ingested_us, &sticky, &PyTuple_Type, &opts, &PyDict_Type,
                          &known, &PyDict_Type, &seen))
        return NULL;
    const char *s = data.buf;
    Py_ssize_t n = data.len, pos = start < 0 ? 0 : start, rows = 0, errors = 0;
    Py_ssize_t prefix_n, ingested_n;
    const char *prefix = PyUnicode_AsUTF8AndSize(prefix_obj, &prefix_n);
    const char *ingested = PyUnicode_AsUTF8AndSize(ingested_obj, &ingested_n);
    Scratch own = {0}, *sc = scratch_take(&own);
    Buf *out = &sc->out, *msg = &sc->msg, *key = &sc->key, *key2 = &sc->key2, *fields = &sc->fields,
        *joined = &sc->joined;
    Py_ssize_t lines = 0;
    Entries t = {0};
    t.patterns = known;
    int months[MAX_MONTHS], n_months = 0;
    PyObject *result = NULL;
    Ctx cx;
    if (prefix == NULL || ingested == NULL || ctx_of(&cx, opts) < 0 || (t.index = PyDict_New()) == NULL)
        goto done;

    while (rows < max_rows) {
        Line ln;
        int format;
        Py_ssize_t end = take_event(&cx, sticky, s, n, pos, max_line, &ln, fields, msg, joined, &format);
        if (end == -2)
            goto done;
        if (end < 0)
            break;

        Utc utc = {0};
        int64_t secs = 0, when = ingested_us;
        if (ln.has_ts) {
            secs = ln.us >= 0 ? ln.us / 1000000 : -((-ln.us + 999999) / 1000000);
            when = ln.us;
            utc_of(secs, &utc);
            int ym = utc.y * 12 + utc.m - 1, seen = 0;
            for (int i = 0; i < n_months && !seen; i++)
                seen = months[i] == ym;
            if (!seen) {
                if (n_months == MAX_MONTHS)
                    break; /* a run that spans more months than that is no log: the Python path decides */
                months[n_months++] = ym;
            }
        }

        /* The miner's shape for the message. */
        key->n = key2->n = 0;
        if (reserve(key, 3 * ln.msg_n + 8) < 0 || reserve(key2, 3 * ln.msg_n + 8) < 0)
            goto done;
        key->n = digits_key(ln.msg, ln.msg_n, key->p);
        PyObject *k = ascii_str(key->p, key->n);
        if (k == NULL)
            goto done;
        PyObject *shape = PyDict_GetItemWithError(cx.by_key, k); /* borrowed */
        Py_DECREF(k);
        if (shape == NULL && !PyErr_Occurred()) {
            key2->n = hex_key(key->p, key->n, key2->p);
            Py_ssize_t kn = key2->n;
            if (memchr(key2->p, '/', kn) != NULL) {
                kn = path_key(key2->p, key2->n, key->p); /* key is free again */
                k = ascii_str(key->p, kn);
            }
            else {
                k = ascii_str(key2->p, kn);
            }
            if (k == NULL)
                goto done;
            shape = PyDict_GetItemWithError(cx.by_key, k);
            Py_DECREF(k);
        }
        if (PyErr_Occurred())
            goto done;
        Entry *e;
        if (shape != NULL) {
            Py_INCREF(shape); /* the dictionary's: held while Python code runs */
            e = entry_of(&t, shape, ln.msg, ln.msg_n, when);
            Py_DECREF(shape);
            if (e == NULL)
                goto done;
            e->pending++;
        }
        else {
            /* A new kind of message: the miner places it, and may regroup templates, so
             * no pattern looked up so far is taken as current any more. */
            PyObject *m = ascii_str(ln.msg, ln.msg_n);
            if (m == NULL)
                goto done;
            PyObject *found = PyObject_CallOneArg(cx.add, m);
            Py_DECREF(m);
            if (found == NULL)
                goto done;
            PyDict_Clear(t.index);
            PyDict_Clear(t.patterns);
            e = entry_of(&t, found, ln.msg, ln.msg_n, when);
            Py_DECREF(found);
            if (e == NULL)
                goto done;
        }
        e->rows++;
        if (when < e->first)
            e->first = when;
        if (when > e->last)
            e->last = when;

        /* The row, as CopyBuffer.add writes it. */
        if (reserve(out, prefix_n + 2 * ingested_n + 2 * (ln.msg_n + ln.raw_n) + fields->n + 128) < 0)
            goto done;
        put(out, prefix, prefix_n);
        put_int(out, line_no + lines);
        put_c(out, '\t');
        if (ln.has_ts) {
            put_utc(out, &utc);
            int64_t micro = ln.us - secs * 1000000;
            if (micro) {
                out->n -= 6; /* before "+00:00" */
                put_c(out, '.');
                put_digits(out, (int)micro, 6);
                put(out, "+00:00", 6);
            }
            put(out, "\tf\t", 3);
        }
        else {
            put(out, ingested, ingested_n);
            put(out, "\tt\t", 3);
        }
        put(out, ingested, ingested_n);
        put_c(out, '\t');
        if (ln.level != NULL) {
            Py_ssize_t level_n;
            const char *level = PyUnicode_AsUTF8AndSize(ln.level, &level_n);
            put(out, level, level_n);
            errors += ln.level == LEVEL_NAMES[4] || ln.level == LEVEL_NAMES[5];
        }
        else {
            put(out, "\\N", 2);
        }
        put_c(out, '\t');
        put(out, ln.format, (Py_ssize_t)strlen(ln.format));
        put_c(out, '\t');
        put_text(out, ln.msg, ln.msg_n);
        put_c(out, '\t');
        put(out, fields->p, fields->n);
        put_c(out, '\t');
        if (ln.keep_raw)
            put_text(out, ln.raw, ln.raw_n);
        else
            put(out, "\\N", 2);
        put(out, "\tf\t", 3);
        put_int(out, ln.lines);
        put_c(out, '\t');
        put(out, e->id, 16);
        put_c(out, '\n');
        rows++;
        lines += ln.lines;
        pos = end;
        if (format >= 0)
            sticky = format; /* the parser tries this line's format first on the next */
    }

    if (flush_counts(&t) < 0 || count_patterns(seen, &t) < 0)
        goto done;
    {
        PyObject *text = PyBytes_FromStringAndSize(out->p ? out->p : "", out->n);
        PyObject *month_list = PyList_New(n_months);
        if (text == NULL || month_list == NULL) {
            Py_XDECREF(text);
            Py_XDECREF(month_list);
            goto done;
        }
        for (int i = 0; i < n_months; i++)
            PyList_SET_ITEM(month_list, i, Py_BuildValue("(ii)", months[i] / 12, months[i] % 12 + 1));
        result = Py_BuildValue("(nNnnnNi)", pos, text, rows, lines, errors, month_list, sticky);
    }

done:
    entries_free(&t);
    scratch_give(sc, &own);
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
json_fields(PyObject *self, PyObject *arg)
{
    Py_ssize_t n;
    const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "json_fields takes a str");
        return NULL;
    }
    Buf out = {0};
    Member top[MAX_MEMBERS];
    int count = 0;
    PyObject *result = NULL;
    if (reserve(&out, 6 * n + 16) == 0) {
        Py_ssize_t end = n && s[0] == '{' && plain(s, n) ? json_object(s, 0, n, &out, 1, top, &count) : -1;
        if (end >= 0 && skip_spaces(s, end, n) == n) {
            result = ascii_str(out.p, out.n);
        }
        else {
            result = Py_NewRef(Py_None);
        }
    }
    PyMem_Free(out.p);
    return result;
}

static PyObject *
shape_keys(PyObject *self, PyObject *arg)
{
    Py_ssize_t n;
    const char *m = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &n) : NULL;
    int ok = m != NULL;
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = m[i] == '\n' || plain(m + i, 1);
    if (!ok) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "shape_keys takes plain text (printable ASCII, no backslash) and newlines");
        return NULL;
    }
    char *k1 = PyMem_Malloc(3 * n + 1), *k2 = PyMem_Malloc(3 * n + 1), *k3 = PyMem_Malloc(3 * n + 1);
    PyObject *result = NULL;
    if (k1 && k2 && k3) {
        Py_ssize_t n1 = digits_key(m, n, k1), n2 = hex_key(k1, n1, k2);
        Py_ssize_t n3 = memchr(k2, '/', n2) ? path_key(k2, n2, k3) : (memcpy(k3, k2, n2), n2);
        result = Py_BuildValue("(s#s#)", k1, n1, k3, n3);
    }
    else {
        PyErr_NoMemory();
    }
    PyMem_Free(k1);
    PyMem_Free(k2);
    PyMem_Free(k3);
    return result;
}

static PyMethodDef methods[] = {
    {"takes", takes, METH_VARARGS,
     "takes(data, start, max_line_bytes, sticky, options) -> bool\n\n"
     "Whether rows() would take the line at data[start:] (given room for a row)."},
    {"rows", rows, METH_VARARGS,
     "rows(data, start, max_rows, max_line_bytes, line_no, prefix, ingested, ingested_us, sticky, options,\n"
     "     known_patterns, batch_patterns)\n"
     "-> (stop, rows_bytes, rows, lines, errors, months, sticky)\n\n"
     "COPY rows for the run of lines at data[start:]; see logpipe.ingest.lane."},
    {"shape_keys", shape_keys, METH_O,
     "shape_keys(message) -> (digits key, full key)\n\n"
     "The keys rows() looks a plain message up by, for tests to hold against the miner's."},
    {"json_fields", json_fields, METH_O,
     "json_fields(line) -> str | None\n\n"
     "The compact JSON the lane writes for a JSON line it takes, or None: for tests to hold against orjson."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "logpipe.ingest._lane",
    .m_doc = "The compiled parsing lane (see logpipe.ingest.lane).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__lane(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    for (int i = 0; i < 6; i++) {
        if (LEVEL_NAMES[i] == NULL && (LEVEL_NAMES[i] = PyUnicode_InternFromString(LEVEL_TEXT[i])) == NULL)
            return NULL;
    }
    if ((S_TEMPLATE = PyUnicode_InternFromString("template")) == NULL ||
        (S_PARENT = PyUnicode_InternFromString("parent")) == NULL ||
        (S_PATTERN = PyUnicode_InternFromString("_pattern")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
