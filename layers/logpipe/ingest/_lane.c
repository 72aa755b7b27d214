/* The compiled lane: runs of plain lines of the common formats turned straight into COPY rows.
 *
 * ``logpipe.ingest.lane`` says which lines a run may hold and how its output joins the
 * batch; this file does the per-line work, exactly as the Python path does it to such a
 * line (``Parser.parse`` and its formats, ``TimeParser``, ``PatternMiner.add``,
 * ``CopyBuffer.add``): the tests compare the two byte for byte. Where this file is not
 * sure of what the Python path would do with a line, the run ends there and the Python
 * path takes the line.
 *
 * The rules the two paths share are not written here: the lane is handed them as data
 * (a ``LaneSpec``, see ``lane_spec.py``, whose generated ``_lane_spec.h`` says how its
 * fields are read) and runs them. What is written here are the readers of four layouts
 * (access logs, JSON, logfmt, the application layout), the time formats they use, and
 * the COPY text of each column, which the tests hold against the Python path on lines
 * generated from its patterns; and a reader of each column shape and time family a
 * file's layout (``parsing.layouts``) is made of, which runs the layout's program (the
 * spec's ``layout``) as the layout's regex would, the times and level words asked of the
 * Python path's own code once per minute and per word.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

#include "_lane_spec.h"

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

/* The same, with the tabs of a layout's header escaped too. */
static void
put_text_tabs(Buf *b, const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            put(b, "\\n", 2);
        else if (s[i] == '\t')
            put(b, "\\t", 2);
        else
            put_c(b, s[i]);
    }
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


/* -- the spec: the Python path's rules, as data ----------------------------------------- */

/* An ASCII character class: bit c of the 128. */
typedef struct {
    uint64_t b[2];
} CharSet;

static inline int
in_set(const CharSet *cs, unsigned char c)
{
    return c < 128 && (cs->b[c >> 6] >> (c & 63)) & 1;
}

/* A str of the spec (the spec holds it). */
typedef struct {
    const char *p;
    Py_ssize_t n;
} Text;

typedef struct {
    Text *w;
    int n;
} Words;

/* One item of a guard: a character class, how many times, and whether the class may
 * match a character beyond ASCII (then such a byte leaves the answer open). */
typedef struct {
    CharSet cs;
    int least, most, ascii_only;
} GuardItem;

typedef struct {
    Text contains;
    int n_alts;
    int *alt_len;
    GuardItem **alts;
    /* Where every alternative's first item must appear: the characters a line it admits
     * can start with (the one test most lines fail). */
    int first_known;
    CharSet first;
} Guard;

typedef struct {
    Guard *g;
    int n;
} GuardList;

typedef struct {
    long long *bound;
    PyObject **level; /* borrowed from the spec */
    int n;
} Bounds;

/* A stand-in rule, its classes as flags per byte: a table lookup per character. */
enum { S_CHARS = 1, S_GLUE = 2, S_NEED = 4 /* then 8, 16, 32: one flag per class it needs */ };
typedef struct {
    Text opener, standin;
    int whole, needs; /* needs: the S_NEED flags a run must show */
    unsigned char t[256];
} StandIn;

typedef struct {
    StandIn *rules;
    int n;
} Stage;

typedef struct {
    Stage *stages;
    int n;
} Stages;

/* A layout's column, as ``lane.layout_program`` hands it: what its text looks like (an
 * op), what it becomes (a field kind and a name), the time's wrapping characters, and
 * whether it may be absent (the last column only). */
typedef struct {
    int op, field, optional, sep;
    Text name, opener, closer;
} LayoutColumn;

typedef struct {
    LayoutColumn *c;
    int n;
    int tabs; /* tabs separate its columns: its lines may hold tabs before the message */
} LayoutProgram;

typedef Text text_t;
typedef LayoutProgram layout_t;
typedef PyObject *str_t;
typedef PyObject *dict_t;
typedef PyObject *callable_t;
typedef int flag_t;
typedef Py_ssize_t count_t;
typedef Words words_t;
typedef CharSet chars_t;
typedef Guard guard_t;
typedef GuardList guards_t;
typedef Bounds bounds_t;
typedef PyObject *candidates_t;
typedef Stages stages_t;

/* The readers this file has for the parser's formats; any other format's lines are the
 * Python path's. */
enum { F_OTHER, F_JSON, F_ACCESS, F_APP, F_LOGFMT };
static const struct {
    const char *name;
    int code;
} READERS[] = {{"json", F_JSON}, {"apache_access", F_ACCESS}, {"app", F_APP}, {"logfmt", F_LOGFMT}};

/* The columns this file writes, by the names ``db.events.COLUMNS`` gives them. */
enum { C_FILE_ID, C_LINE, C_TS, C_TS_INFERRED, C_INGESTED_AT, C_LEVEL, C_FORMAT, C_MESSAGE, C_FIELDS, C_RAW,
       C_TRUNCATED, C_LINE_COUNT, C_PATTERN_ID, N_COLUMN_KINDS };
static const char *COLUMN_NAMES[N_COLUMN_KINDS] = {
    "file_id", "line", "ts", "ts_inferred", "ingested_at", "level", "format", "message", "fields", "raw",
    "truncated", "line_count", "pattern_id",
};

/* The items of a batch's count of one pattern, by the names ``db.patterns.COUNT_ITEMS``
 * gives them. */
enum { I_TEMPLATE, I_COUNT, I_FIRST, I_LAST, I_SAMPLE, N_COUNT_ITEMS };
static const char *COUNT_ITEM_NAMES[N_COUNT_ITEMS] = {"template", "count", "first_seen", "last_seen", "sample"};

#define MAX_FORMATS 32
#define MAX_COLUMNS 32
#define MAX_STAGES 8

typedef struct {
#define DECLARE(name, kind) kind##_t name;
    LANE_SPEC_FIELDS(DECLARE)
#undef DECLARE
    /* Made from the fields: */
    int codes[MAX_FORMATS]; /* the reader of each format */
    int column[MAX_COLUMNS];
    int n_columns;
    int count_at[N_COUNT_ITEMS]; /* where each item is in a pattern's count */
    Py_ssize_t key_expand; /* how much longer than a message its shape key may be */
    PyObject *owner;       /* the LaneSpec, which holds every object borrowed here */
    /* The key of the last layout time looked up, and its time (see layout_line). */
    char last_key[128];
    Py_ssize_t last_key_n;
    long long last_base;
    void **allocs;
    Py_ssize_t n_allocs, cap_allocs;
} Spec;

#define CAPSULE "logpipe.ingest._lane.Spec"

static void *
spec_alloc(Spec *sp, size_t size)
{
    if (sp->n_allocs == sp->cap_allocs) {
        Py_ssize_t cap = sp->cap_allocs ? sp->cap_allocs * 2 : 32;
        void **a = PyMem_Realloc(sp->allocs, cap * sizeof(void *));
        if (a == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        sp->allocs = a;
        sp->cap_allocs = cap;
    }
    void *p = PyMem_Calloc(1, size ? size : 1);
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    sp->allocs[sp->n_allocs++] = p;
    return p;
}

static void
spec_free(Spec *sp)
{
    for (Py_ssize_t i = 0; i < sp->n_allocs; i++)
        PyMem_Free(sp->allocs[i]);
    PyMem_Free(sp->allocs);
    Py_XDECREF(sp->owner);
    PyMem_Free(sp);
}

static void
spec_capsule_free(PyObject *capsule)
{
    Spec *sp = PyCapsule_GetPointer(capsule, CAPSULE);
    if (sp != NULL)
        spec_free(sp);
}

static int
bad_field(const char *field, const char *what)
{
    PyErr_Format(PyExc_TypeError, "lane spec field '%s': expected %s", field, what);
    return -1;
}

static int
text_of(PyObject *o, Text *t)
{
    if (!PyUnicode_Check(o))
        return -1;
    t->p = PyUnicode_AsUTF8AndSize(o, &t->n);
    return t->p == NULL ? -1 : 0;
}

/* Each reader takes the field ``name`` of the LaneSpec ``obj``: 0, or -1 with an error
 * naming the field. Objects stay the LaneSpec's, which the compiled spec holds. */
static PyObject *
field_of(PyObject *obj, const char *name)
{
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (v != NULL)
        Py_DECREF(v); /* borrowed: the LaneSpec (frozen) holds it */
    return v;
}

/* What a reader of a field's value says: -1 (the value is not what it should be) becomes
 * the error that says ``what`` it should be; 0, and -2 (an error already set), stay. */
static int
field_verdict(const char *name, const char *what, int r)
{
    if (r == -1) {
        PyErr_Clear();
        return bad_field(name, what);
    }
    return r;
}

static int is_str(PyObject *v) { return PyUnicode_Check(v); }
static int is_dict(PyObject *v) { return PyDict_Check(v); }
static int is_tuple(PyObject *v) { return PyTuple_Check(v); }
static int is_bool(PyObject *v) { return PyBool_Check(v); }

/* A field whose object the spec hands over as it is, once ``ok`` says it is ``what``: 0,
 * or -1 with the error set. */
static int
read_object(PyObject *obj, const char *name, int (*ok)(PyObject *), const char *what, PyObject **out)
{
    PyObject *v = field_of(obj, name);
    if (v == NULL)
        return -1;
    if (!ok(v))
        return bad_field(name, what);
    *out = v;
    return 0;
}

/* The spec's field ``name``: a tuple of at most ``most`` items (``*n``), and room for as many items of
 * ``size`` bytes each in ``*items``. */
static int
tuple_items(Spec *sp, PyObject *obj, const char *name, const char *what, int most, size_t size, PyObject **v,
            int *n, void **items)
{
    if (read_object(obj, name, is_tuple, what, v) < 0)
        return -1;
    if (PyTuple_GET_SIZE(*v) > most)
        return bad_field(name, what);
    *n = (int)PyTuple_GET_SIZE(*v);
    return (*items = spec_alloc(sp, *n * size)) == NULL ? -1 : 0;
}

static int
read_text(Spec *sp, PyObject *obj, const char *name, Text *out)
{
    PyObject *v = field_of(obj, name);
    return v == NULL ? -1 : field_verdict(name, "a str", text_of(v, out) < 0 ? -1 : 0);
}

static int
read_str(Spec *sp, PyObject *obj, const char *name, PyObject **out)
{
    return read_object(obj, name, is_str, "a str", out);
}

static int
read_dict(Spec *sp, PyObject *obj, const char *name, PyObject **out)
{
    return read_object(obj, name, is_dict, "a dict", out);
}

static int
read_callable(Spec *sp, PyObject *obj, const char *name, PyObject **out)
{
    return read_object(obj, name, PyCallable_Check, "a callable", out);
}

static int
read_flag(Spec *sp, PyObject *obj, const char *name, int *out)
{
    PyObject *v;
    if (read_object(obj, name, is_bool, "a bool", &v) < 0)
        return -1;
    *out = v == Py_True;
    return 0;
}

static int
read_count(Spec *sp, PyObject *obj, const char *name, Py_ssize_t *out)
{
    PyObject *v = field_of(obj, name);
    if (v == NULL)
        return -1;
    *out = PyLong_Check(v) ? PyLong_AsSsize_t(v) : -1;
    return field_verdict(name, "an int of at least 0", *out < 0 ? -1 : 0);
}

static int
words_of(Spec *sp, PyObject *v, Words *out)
{
    if (!PyTuple_Check(v))
        return -1;
    out->n = (int)PyTuple_GET_SIZE(v);
    if ((out->w = spec_alloc(sp, out->n * sizeof(Text))) == NULL)
        return -2;
    for (int i = 0; i < out->n; i++)
        if (text_of(PyTuple_GET_ITEM(v, i), &out->w[i]) < 0)
            return -1;
    return 0;
}

static int
read_words(Spec *sp, PyObject *obj, const char *name, Words *out)
{
    PyObject *v = field_of(obj, name);
    return v == NULL ? -1 : field_verdict(name, "a tuple of str", words_of(sp, v, out));
}

static int
read_chars(Spec *sp, PyObject *obj, const char *name, CharSet *out)
{
    Text t;
    if (read_text(sp, obj, name, &t) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    for (Py_ssize_t i = 0; i < t.n; i++) {
        unsigned char c = (unsigned char)t.p[i];
        if (c >= 128)
            return bad_field(name, "a str of ASCII characters");
        out->b[c >> 6] |= (uint64_t)1 << (c & 63);
    }
    return 0;
}

/* A class bitmap as ``guards.ascii_class`` makes it: 16 bytes, bit c % 8 of byte c / 8. */
static int
class_of(PyObject *v, CharSet *out)
{
    if (!PyBytes_Check(v) || PyBytes_GET_SIZE(v) != 16)
        return -1;
    const unsigned char *bits = (const unsigned char *)PyBytes_AS_STRING(v);
    memset(out, 0, sizeof(*out));
    for (int c = 0; c < 128; c++)
        if ((bits[c >> 3] >> (c & 7)) & 1)
            out->b[c >> 6] |= (uint64_t)1 << (c & 63);
    return 0;
}

/* ``Guard.program``: (contains, ((class, least, most, ascii_only), ...) per alternative). */
static int
guard_of(Spec *sp, PyObject *v, Guard *g)
{
    PyObject *alts;
    if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 2 || text_of(PyTuple_GET_ITEM(v, 0), &g->contains) < 0 ||
        !PyTuple_Check(alts = PyTuple_GET_ITEM(v, 1)))
        return -1;
    for (Py_ssize_t i = 0; i < g->contains.n; i++)
        if ((unsigned char)g->contains.p[i] >= 128)
            return -1;
    g->n_alts = (int)PyTuple_GET_SIZE(alts);
    if ((g->alt_len = spec_alloc(sp, g->n_alts * sizeof(int))) == NULL ||
        (g->alts = spec_alloc(sp, g->n_alts * sizeof(GuardItem *))) == NULL)
        return -2;
    for (int a = 0; a < g->n_alts; a++) {
        PyObject *items = PyTuple_GET_ITEM(alts, a);
        if (!PyTuple_Check(items))
            return -1;
        int n = (int)PyTuple_GET_SIZE(items);
        g->alt_len[a] = n;
        if ((g->alts[a] = spec_alloc(sp, n * sizeof(GuardItem))) == NULL)
            return -2;
        for (int i = 0; i < n; i++) {
            PyObject *item = PyTuple_GET_ITEM(items, i);
            GuardItem *gi = &g->alts[a][i];
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 4 || class_of(PyTuple_GET_ITEM(item, 0), &gi->cs) < 0)
                return -1;
            gi->least = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
            gi->most = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
            gi->ascii_only = PyObject_IsTrue(PyTuple_GET_ITEM(item, 3));
            if (PyErr_Occurred() || gi->least < 0 || gi->most < gi->least)
                return -1;
        }
    }
    g->first_known = g->n_alts > 0;
    memset(&g->first, 0, sizeof(g->first));
    for (int a = 0; a < g->n_alts; a++) {
        if (g->alt_len[a] == 0 || g->alts[a][0].least == 0) {
            g->first_known = 0;
            break;
        }
        g->first.b[0] |= g->alts[a][0].cs.b[0];
        g->first.b[1] |= g->alts[a][0].cs.b[1];
    }
    return 0;
}

/* A layout's program: a tuple of (op, field, name, opener, closer, optional, sep). */
static int
read_layout(Spec *sp, PyObject *obj, const char *name, LayoutProgram *out)
{
    static const char what[] = "a layout's program: a tuple of (op, field, name, opener, closer, optional, sep)";
    PyObject *v;
    out->tabs = 0;
    if (tuple_items(sp, obj, name, what, 64, sizeof(LayoutColumn), &v, &out->n, (void **)&out->c) < 0)
        return -1;
    for (int i = 0; i < out->n; i++) {
        PyObject *c = PyTuple_GET_ITEM(v, i);
        LayoutColumn *lc = &out->c[i];
        if (!PyTuple_Check(c) || PyTuple_GET_SIZE(c) != 7 || !PyLong_Check(PyTuple_GET_ITEM(c, 0)) ||
            !PyLong_Check(PyTuple_GET_ITEM(c, 1)) || !PyBool_Check(PyTuple_GET_ITEM(c, 5)) ||
            !PyLong_Check(PyTuple_GET_ITEM(c, 6)) ||
            text_of(PyTuple_GET_ITEM(c, 2), &lc->name) < 0 || text_of(PyTuple_GET_ITEM(c, 3), &lc->opener) < 0 ||
            text_of(PyTuple_GET_ITEM(c, 4), &lc->closer) < 0) {
            PyErr_Clear();
            return bad_field(name, what);
        }
        lc->op = (int)PyLong_AsLong(PyTuple_GET_ITEM(c, 0));
        lc->field = (int)PyLong_AsLong(PyTuple_GET_ITEM(c, 1));
        lc->optional = PyTuple_GET_ITEM(c, 5) == Py_True;
        lc->sep = (int)PyLong_AsLong(PyTuple_GET_ITEM(c, 6));
        if (lc->op < 0 || lc->op >= N_LAYOUT_OPS || lc->field < 0 || lc->field >= N_LAYOUT_FIELDS ||
            lc->sep < 0 || lc->sep >= N_LAYOUT_SEPS ||
            lc->opener.n > 1 || lc->closer.n > 1 || (lc->optional && i != out->n - 1))
            return bad_field(name, what);
        out->tabs |= lc->sep == LAYOUT_SEP_TAB || lc->op == LAYOUT_OP_CELL;
    }
    return 0;
}

static const char GUARD_WHAT[] = "a guard's program (logpipe.parsing.guards.Guard.program)";
static const char GUARDS_WHAT[] = "a tuple of guards' programs";

static int
read_guard(Spec *sp, PyObject *obj, const char *name, Guard *out)
{
    PyObject *v = field_of(obj, name);
    return v == NULL ? -1 : field_verdict(name, GUARD_WHAT, guard_of(sp, v, out));
}

/* Each guard read as ``read_guard`` reads one. */
static int
read_guards(Spec *sp, PyObject *obj, const char *name, GuardList *out)
{
    PyObject *v;
    if (tuple_items(sp, obj, name, GUARDS_WHAT, INT_MAX, sizeof(Guard), &v, &out->n, (void **)&out->g) < 0)
        return -1;
    for (int i = 0; i < out->n; i++) {
        int r = field_verdict(name, GUARDS_WHAT, guard_of(sp, PyTuple_GET_ITEM(v, i), &out->g[i]));
        if (r < 0)
            return r;
    }
    return 0;
}

static int
read_bounds(Spec *sp, PyObject *obj, const char *name, Bounds *out)
{
    PyObject *v;
    if (tuple_items(sp, obj, name, "a tuple of (int, str) pairs", INT_MAX, sizeof(long long), &v, &out->n,
                    (void **)&out->bound) < 0 ||
        (out->level = spec_alloc(sp, out->n * sizeof(PyObject *))) == NULL)
        return -1;
    for (int i = 0; i < out->n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(v, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyLong_Check(PyTuple_GET_ITEM(pair, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(pair, 1)))
            return bad_field(name, "a tuple of (int, str) pairs");
        out->bound[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(pair, 0));
        out->level[i] = PyTuple_GET_ITEM(pair, 1);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return bad_field(name, "a tuple of (int, str) pairs");
        }
    }
    return 0;
}

static int
read_candidates(Spec *sp, PyObject *obj, const char *name, PyObject **out)
{
    PyObject *v;
    if (read_object(obj, name, is_tuple, "a tuple of 128 bytes, one per ASCII character", &v) < 0)
        return -1;
    if (PyTuple_GET_SIZE(v) != 128)
        return bad_field(name, "a tuple of 128 bytes, one per ASCII character");
    for (int c = 0; c < 128; c++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(v, c)))
            return bad_field(name, "a tuple of 128 bytes, one per ASCII character");
    *out = v;
    return 0;
}

/* A stand-in rule: (opener, chars, glue, whole, needs, standin), classes as bitmaps. */
static int
standin_of(PyObject *v, StandIn *r)
{
    PyObject *needs;
    if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 6 || text_of(PyTuple_GET_ITEM(v, 0), &r->opener) < 0 ||
        !PyBool_Check(PyTuple_GET_ITEM(v, 3)) || !PyTuple_Check(needs = PyTuple_GET_ITEM(v, 4)) ||
        PyTuple_GET_SIZE(needs) > 4 || text_of(PyTuple_GET_ITEM(v, 5), &r->standin) < 0)
        return -1;
    CharSet chars, glue, need;
    if (class_of(PyTuple_GET_ITEM(v, 1), &chars) < 0 || class_of(PyTuple_GET_ITEM(v, 2), &glue) < 0)
        return -1;
    r->whole = PyTuple_GET_ITEM(v, 3) == Py_True;
    memset(r->t, 0, sizeof(r->t));
    for (int c = 0; c < 128; c++)
        r->t[c] = (in_set(&chars, c) ? S_CHARS : 0) | (in_set(&glue, c) ? S_GLUE : 0);
    r->needs = 0;
    for (int i = 0; i < PyTuple_GET_SIZE(needs); i++) {
        if (class_of(PyTuple_GET_ITEM(needs, i), &need) < 0)
            return -1;
        r->needs |= S_NEED << i;
        for (int c = 0; c < 128; c++)
            if (in_set(&need, c))
                r->t[c] |= S_NEED << i;
    }
    /* The longest run must be the only one that can match (see masking.StandIn). */
    if (r->whole && ((chars.b[0] & ~glue.b[0]) || (chars.b[1] & ~glue.b[1])))
        return -1;
    return 0;
}

static int
read_stages(Spec *sp, PyObject *obj, const char *name, Stages *out)
{
    static const char what[] = "a tuple of stages, each a tuple of stand-in rules";
    PyObject *v;
    if (tuple_items(sp, obj, name, what, MAX_STAGES, sizeof(Stage), &v, &out->n, (void **)&out->stages) < 0)
        return -1;
    sp->key_expand = 1;
    for (int s = 0; s < out->n; s++) {
        PyObject *rules = PyTuple_GET_ITEM(v, s);
        if (!PyTuple_Check(rules))
            return bad_field(name, what);
        Stage *st = &out->stages[s];
        st->n = (int)PyTuple_GET_SIZE(rules);
        if ((st->rules = spec_alloc(sp, st->n * sizeof(StandIn))) == NULL)
            return -1;
        for (int i = 0; i < st->n; i++) {
            StandIn *r = &st->rules[i];
            if (standin_of(PyTuple_GET_ITEM(rules, i), r) < 0) {
                PyErr_Clear();
                return bad_field(name, what);
            }
            /* A run is the opener and at least one character, and becomes the stand-in. */
            Py_ssize_t shortest = r->opener.n + 1;
            sp->key_expand *= (r->standin.n + shortest - 1) / shortest > 1 ? (r->standin.n + shortest - 1) / shortest
                                                                             : 1;
        }
    }
    return 0;
}

static inline int
text_is(Text t, const char *name)
{
    return t.n == (Py_ssize_t)strlen(name) && memcmp(t.p, name, t.n) == 0;
}

static int
compile_spec(Spec *sp, PyObject *obj)
{
#define READ(name, kind)                                                                                          \
    if (read_##kind(sp, obj, #name, &sp->name) < 0)                                                               \
        return -1;
    LANE_SPEC_FIELDS(READ)
#undef READ
    if (sp->version.n != (Py_ssize_t)strlen(LANE_SPEC_VERSION) || memcmp(sp->version.p, LANE_SPEC_VERSION, sp->version.n)) {
        PyErr_Format(PyExc_ValueError,
                     "the compiled lane reads lane spec version %s, and was handed version %R: it was built from "
                     "another lane_spec.py (rebuild it: make setup)",
                     LANE_SPEC_VERSION, field_of(obj, "version"));
        return -1;
    }
    if (sp->formats.n > MAX_FORMATS || sp->guards.n != sp->formats.n) {
        PyErr_Format(PyExc_ValueError, "lane spec fields 'formats' and 'guards': %d formats (at most %d), each with its guard (%d guards)",
                     sp->formats.n, MAX_FORMATS, sp->guards.n);
        return -1;
    }
    for (int i = 0; i < sp->formats.n; i++) {
        sp->codes[i] = F_OTHER;
        for (size_t r = 0; r < sizeof(READERS) / sizeof(READERS[0]); r++)
            if (text_is(sp->formats.w[i], READERS[r].name))
                sp->codes[i] = READERS[r].code;
    }
    if (sp->columns.n > MAX_COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "lane spec field 'columns': too many columns");
        return -1;
    }
    sp->n_columns = sp->columns.n;
    for (int i = 0; i < sp->columns.n; i++) {
        sp->column[i] = -1;
        for (int k = 0; k < N_COLUMN_KINDS; k++)
            if (text_is(sp->columns.w[i], COLUMN_NAMES[k]))
                sp->column[i] = k;
        if (sp->column[i] < 0) {
            PyErr_Format(PyExc_ValueError, "lane spec field 'columns': the lane does not write column %U",
                         PyTuple_GET_ITEM(field_of(obj, "columns"), i));
            return -1;
        }
    }
    if (sp->pattern_count_items.n != N_COUNT_ITEMS) {
        PyErr_SetString(PyExc_ValueError, "lane spec field 'pattern_count_items': the lane writes five items");
        return -1;
    }
    for (int k = 0; k < N_COUNT_ITEMS; k++) {
        sp->count_at[k] = -1;
        for (int i = 0; i < N_COUNT_ITEMS; i++)
            if (text_is(sp->pattern_count_items.w[i], COUNT_ITEM_NAMES[k]))
                sp->count_at[k] = i;
        if (sp->count_at[k] < 0) {
            PyErr_Format(PyExc_ValueError, "lane spec field 'pattern_count_items': no item %s", COUNT_ITEM_NAMES[k]);
            return -1;
        }
    }
    return 0;
}

/* compile(spec) -> the spec as the other functions take it. */
static PyObject *
compile(PyObject *self, PyObject *obj)
{
    Spec *sp = PyMem_Calloc(1, sizeof(Spec));
    if (sp == NULL)
        return PyErr_NoMemory();
    sp->owner = Py_NewRef(obj);
    if (compile_spec(sp, obj) < 0) {
        spec_free(sp);
        return NULL;
    }
    PyObject *capsule = PyCapsule_New(sp, CAPSULE, spec_capsule_free);
    if (capsule == NULL)
        spec_free(sp);
    return capsule;
}

static const Spec *
spec_from(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, CAPSULE); /* sets an error for anything else */
}

/* -- guards ----------------------------------------------------------------------------- */

enum { REFUSES, ADMITS, UNSURE };

static int
contains(const char *s, Py_ssize_t n, const char *what, Py_ssize_t k)
{
    const char *end = s + n - k + 1, *p = s;
    while (p < end && (p = memchr(p, what[0], end - p)) != NULL) {
        if (memcmp(p + 1, what + 1, k - 1) == 0)
            return 1;
        p++;
    }
    return 0;
}

/* What ``Guard.admits`` says of the line s[:n]: each item takes as many characters of its
 * class as it may (the guard's syntax makes that the only way to match). A byte that the
 * Python path sees as another character than this file does (beyond ASCII, or NUL, which
 * it reads as U+FFFD) leaves the answer open where a class may hold such a character. */
static inline int
guard_test(const Guard *g, const char *s, Py_ssize_t n)
{
    if (g->first_known) {
        unsigned char c = n > 0 ? (unsigned char)s[0] : 0;
        if (n == 0 || (c > 0 && c < 128 && !in_set(&g->first, c)))
            return REFUSES;
    }
    if (g->contains.n && !contains(s, n, g->contains.p, g->contains.n))
        return REFUSES;
    int unsure = 0;
    for (int a = 0; a < g->n_alts; a++) {
        Py_ssize_t p = 0;
        int ok = 1;
        for (int i = 0; i < g->alt_len[a] && ok; i++) {
            const GuardItem *it = &g->alts[a][i];
            int count = 0;
            while (count < it->most && p < n) {
                unsigned char c = (unsigned char)s[p];
                if (c >= 128 || c == 0) {
                    if (!it->ascii_only) {
                        unsure = 1;
                        ok = 0;
                    }
                    break; /* a character no class of ASCII characters holds */
                }
                if (!in_set(&it->cs, c))
                    break;
                p++;
                count++;
            }
            if (count < it->least)
                ok = 0;
        }
        if (ok)
            return ADMITS;
    }
    return unsure ? UNSURE : REFUSES;
}

static int
any_guard(const GuardList *gl, const char *s, Py_ssize_t n)
{
    for (int i = 0; i < gl->n; i++)
        if (guard_test(&gl->g[i], s, n) != REFUSES)
            return 1;
    return 0;
}

/* -- the miner's shape keys (``logpipe.patterns.masking.SHAPE_KEY_STAGES``) ------------ */

/* ``re.sub(rule.pattern, rule.standin, s)`` into ``out`` (room for the longest result):
 * at each place where no glue character comes before the opener, the longest run of the
 * rule's characters after it is a match when it is long enough, holds what the rule
 * needs, and (for a whole rule) no glue character follows it. */
static Py_ssize_t
apply_standin(const StandIn *r, const char *s, Py_ssize_t n, char *restrict out)
{
    const unsigned char *t = r->t, *u = (const unsigned char *)s;
    const Py_ssize_t k = r->opener.n, standin_n = r->standin.n;
    const char *opener = r->opener.p, *standin = r->standin.p;
    const int whole = r->whole, needs = r->needs;
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n;) {
        /* A match starts with the opener, or with one of the run's characters. */
        if (k) {
            const char *p = memchr(s + i, opener[0], n - i);
            Py_ssize_t next = p != NULL ? p - s : n;
            memcpy(out + o, s + i, next - i);
            o += next - i;
            i = next;
            if (i == n)
                break;
        }
        else if (!(t[u[i]] & S_CHARS)) {
            out[o++] = s[i++];
            continue;
        }
        if ((i == 0 || !(t[u[i - 1]] & S_GLUE)) && n - i > k && (k == 0 || memcmp(s + i, opener, k) == 0)) {
            Py_ssize_t j = i + k, e = j;
            int seen = 0;
            while (e < n && (t[u[e]] & S_CHARS))
                seen |= t[u[e++]];
            if (e > j && (!whole || e == n || !(t[u[e]] & S_GLUE)) && (seen & needs) == needs) {
                for (Py_ssize_t q = 0; q < standin_n; q++)
                    out[o++] = standin[q];
                i = e;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    return o;
}

/* Stage ``stage`` of the shape key applied to s[:n], written to ``out`` (``tmp`` holds the
 * steps between; neither is ``s``); returns its length. */
static Py_ssize_t
stage_key(const Spec *sp, int stage, const char *s, Py_ssize_t n, char *out, char *tmp)
{
    const Stage *st = &sp->shape_key_stages.stages[stage];
    if (st->n == 0) {
        memcpy(out, s, n);
        return n;
    }
    char *dst = st->n % 2 ? out : tmp; /* so that the last rule writes to ``out`` */
    const char *src = s;
    for (int i = 0; i < st->n; i++) {
        n = apply_standin(&st->rules[i], src, n, dst);
        src = dst;
        dst = dst == out ? tmp : out;
    }
    return n;
}

/* -- patterns ---------------------------------------------------------------------------- */

/* One shape met in this run: its pattern as first looked up, and what the run counted. */
typedef struct {
    PyObject *shape, *pid, *template, *sample;
    char id[17];
    Py_ssize_t rows, hits; /* hits: rows found through the key cache, which Shape.count lacks */
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
        PyObject *pattern = PyObject_CallMethod(shape, "pattern", NULL);
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
    const char *id = PyUnicode_Check(pid) ? PyUnicode_AsUTF8AndSize(pid, &id_n) : NULL;
    PyObject *sample = ascii_str(msg, msg_n);
    PyObject *pos = PyLong_FromSsize_t(t->n);
    if (id == NULL || id_n != 16 || sample == NULL || pos == NULL || PyDict_SetItem(t->index, shape, pos) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a pattern id is 16 characters");
        Py_DECREF(pid);
        Py_DECREF(template);
        Py_XDECREF(sample);
        Py_XDECREF(pos);
        return NULL;
    }
    Py_DECREF(pos);
    Entry *e = &t->e[t->n++];
    e->shape = Py_NewRef(shape);
    e->pid = pid;
    e->template = template;
    e->sample = sample;
    memcpy(e->id, id, 17);
    e->rows = e->hits = 0;
    e->first = e->last = epoch;
    return e;
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

/* What the run counted, into the miner and the batch as the Python path counts an event:
 * each ``Shape.count`` takes the rows the key cache found (``PatternMiner.add`` counted
 * the others), and the batch's count of each pattern (a list whose items
 * ``pattern_count_items`` names, see ``db.patterns``) takes the rows, their first and last
 * times, and the sample of the first. */
static int
count_patterns(const Spec *sp, PyObject *seen, Entries *t)
{
    static PyObject *S_COUNT;
    if (S_COUNT == NULL && (S_COUNT = PyUnicode_InternFromString("count")) == NULL)
        return -1;
    const int *at = sp->count_at;
    for (Py_ssize_t i = 0; i < t->n; i++) {
        Entry *e = &t->e[i];
        if (e->hits) {
            PyObject *count = PyObject_GetAttr(e->shape, S_COUNT);
            PyObject *more = count ? PyLong_FromSsize_t(e->hits) : NULL;
            PyObject *sum = more ? PyNumber_Add(count, more) : NULL;
            Py_XDECREF(count);
            Py_XDECREF(more);
            if (sum == NULL || PyObject_SetAttr(e->shape, S_COUNT, sum) < 0) {
                Py_XDECREF(sum);
                return -1;
            }
            Py_DECREF(sum);
        }
        if (e->rows == 0)
            continue;
        PyObject *row = PyDict_GetItemWithError(seen, e->pid);
        if (row == NULL) {
            if (PyErr_Occurred())
                return -1;
            Py_ssize_t sample_n = PyUnicode_GET_LENGTH(e->sample);
            PyObject *fresh = PyList_New(sp->pattern_count_items.n);
            PyObject *items[N_COUNT_ITEMS] = {
                Py_NewRef(e->template), PyLong_FromSsize_t(e->rows), utc_datetime(e->first), utc_datetime(e->last),
                PyUnicode_Substring(e->sample, 0, sample_n < sp->sample_chars ? sample_n : sp->sample_chars),
            };
            int ok = fresh != NULL;
            for (int k = 0; k < N_COUNT_ITEMS; k++) {
                ok = ok && items[k] != NULL;
                if (ok)
                    PyList_SET_ITEM(fresh, at[k], items[k]); /* steals it */
                else
                    Py_XDECREF(items[k]);
            }
            if (!ok || PyDict_SetItem(seen, e->pid, fresh) < 0) {
                Py_XDECREF(fresh);
                return -1;
            }
            Py_DECREF(fresh);
            continue;
        }
        if (!PyList_Check(row) || PyList_GET_SIZE(row) != sp->pattern_count_items.n) {
            PyErr_SetString(PyExc_TypeError, "a batch's pattern count is a list of the items pattern_count_items names");
            return -1;
        }
        PyObject *more = PyLong_FromSsize_t(e->rows);
        PyObject *count = more ? PyNumber_Add(PyList_GET_ITEM(row, at[I_COUNT]), more) : NULL;
        Py_XDECREF(more);
        if (count == NULL)
            return -1;
        PyList_SetItem(row, at[I_COUNT], count); /* steals it */
        for (int k = I_FIRST; k <= I_LAST; k++) {
            PyObject *when = utc_datetime(k == I_FIRST ? e->first : e->last);
            int moves = when ? PyObject_RichCompareBool(when, PyList_GET_ITEM(row, at[k]), k == I_FIRST ? Py_LT : Py_GT)
                             : -1;
            if (moves < 0) {
                Py_XDECREF(when);
                return -1;
            }
            if (moves)
                PyList_SetItem(row, at[k], when);
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

/* Plain but for tabs: a line of a layout whose columns tabs separate. */
static int
plain_but_tabs(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c > 0x7e || c == '\\')
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
first_of(Member *ms, int n, const Words *keys, int *bail)
{
    for (int i = 0; i < keys->n; i++) {
        const Text *k = &keys->w[i];
        const char *dot = memchr(k->p, '.', k->n);
        if (dot && (member(ms, n, k->p, k->n) || member(ms, n, k->p, dot - k->p))) {
            *bail = 1;
            return NULL;
        }
        Member *m = member(ms, n, k->p, k->n);
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


/* -- logfmt keys --------------------------------------------------------------------------- */

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
parse_app(const Spec *sp, const char *s, Py_ssize_t n, App *a)
{
    memset(a, 0, sizeof(*a));
    if (n < 11 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || !is_digit(s[3]) || s[4] != '-' ||
        !is_digit(s[5]) || !is_digit(s[6]) || s[7] != '-' || !is_digit(s[8]) || !is_digit(s[9]) ||
        (s[10] != 'T' && s[10] != ' '))
        return -1; /* bracketed times are the Python path's */
    if (contains(s, n, " - ", 3))
        return -1; /* the Python logging layout too */
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
    /* The first of the level column's words that the line goes on with, in the pattern's order. */
    const Words *lw = &sp->column_level_words;
    int w = 0;
    for (; w < lw->n; w++)
        if (lw->w[w].n > 0 && n - p >= lw->w[w].n && memcmp(s + p, lw->w[w].p, lw->w[w].n) == 0)
            break;
    if (w == lw->n)
        return -1;
    a->level = s + p;
    a->level_n = lw->w[w].n;
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

/* -- one event ------------------------------------------------------------------------------- */

/* What a row needs beyond its fields (which are in ``fields``, written for COPY). */
typedef struct {
    int has_ts;
    int64_t us; /* UTC microseconds since the epoch */
    PyObject *level; /* one of LEVELS, or NULL; borrowed from the spec */
    Text format;
    const char *msg;
    Py_ssize_t msg_n;
    int keep_raw; /* the raw line differs from the message */
    const char *raw; /* the event's lines, joined by newlines */
    Py_ssize_t raw_n, lines;
} Line;

/* ``normalise_level`` of a word: stripped, lower-cased, through the Python path's table. */
static int
word_level(const Spec *sp, const char *text, Py_ssize_t n, PyObject **level)
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
    PyObject *found = PyDict_GetItemWithError(sp->level_words, word);
    Py_DECREF(word);
    if (found == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyUnicode_Check(found)) {
        PyErr_SetString(PyExc_TypeError, "LEVEL_WORDS maps words to str");
        return -1;
    }
    *level = found;
    return 0;
}

/* ``normalise_level`` of a JSON value: a word through the Python path's table, an
 * integer as pino's, anything else none. */
static int
json_level(const Spec *sp, const Member *m, PyObject **level)
{
    *level = NULL;
    if (m == NULL || m->type == 'b' || m->type == 'd' || m->type == 'o')
        return 0;
    if (m->type == 'i') {
        long long v = strtoll(m->v, NULL, 10);
        *level = sp->numeric_level_above;
        for (int i = 0; i < sp->numeric_levels.n; i++) {
            if (v <= sp->numeric_levels.bound[i]) {
                *level = sp->numeric_levels.level[i];
                break;
            }
        }
        return 0;
    }
    return word_level(sp, m->v, m->vn, level);
}

/* Whether the line at s[i:] (maybe not whole: the block may end inside it) surely starts
 * an event of its own after a one-line event, with a time or without (``has_ts``). */
static int
next_starts_event(const Spec *sp, const char *s, Py_ssize_t i, Py_ssize_t n, int has_ts)
{
    if (i >= n || s[i] == '\n' || s[i] == '\r' || in_set(&sp->joins_unparsed, (unsigned char)s[i]))
        return 0;
    if (!has_ts)
        return 1;
    /* After a line with a time, a Java exception's line joins it. */
    const char *nl = memchr(s + i, '\n', n - i);
    if (nl == NULL)
        return 0; /* cannot see all of it */
    Py_ssize_t len = nl - (s + i);
    if (len > 0 && s[i + len - 1] == '\r')
        len--; /* the Python path reads the line without it */
    return guard_test(&sp->joins_after_time, s + i, len) == REFUSES;
}

/* ``Parser._text`` of a line no format claims, where its head holds no time to look for:
 * the whole line is the message, with the first level word found in its head. */
static inline int
word_char(unsigned char c)
{
    return is_alnum(c) || c == '_';
}

/* ``\b`` at s[i] of s[:n]: a word character on one side only. */
static inline int
boundary(const char *s, Py_ssize_t n, Py_ssize_t i)
{
    return (i > 0 && word_char(s[i - 1])) != (i < n && word_char(s[i]));
}

static int
parse_text(const Spec *sp, const char *line, Py_ssize_t len, Line *ln, Buf *fields)
{
    Py_ssize_t head = len < sp->text_head ? len : sp->text_head;
    for (Py_ssize_t i = 0; i < head; i++)
        if (in_set(&sp->text_time_marks, (unsigned char)line[i]))
            return -1; /* it would look for a time there */
    const Words *tw = &sp->text_level_words;
    for (Py_ssize_t i = 0; i < head && ln->level == NULL; i++) {
        if (!boundary(line, head, i))
            continue;
        for (int w = 0; w < tw->n; w++) {
            Py_ssize_t k = tw->w[w].n;
            if (k > 0 && i + k <= head && memcmp(line + i, tw->w[w].p, k) == 0 && boundary(line, head, i + k)) {
                if (word_level(sp, tw->w[w].p, k, &ln->level) < 0)
                    return -2;
                break;
            }
        }
    }
    ln->format = sp->text_format;
    ln->msg = line;
    ln->msg_n = len;
    ln->keep_raw = 0;
    put(fields, "\\N", 2);
    return 0;
}

/* ``TimeParser.any`` of a string field: ISO of the shape it tries first, or -1. */
static int
string_time(const Spec *sp, const Member *m, Line *ln)
{
    const char *v = m->v;
    if (!(m->vn >= 8 && v[4] == '-' && is_digit(v[0]) && is_digit(v[1]) && is_digit(v[2]) && is_digit(v[3])))
        return -1;
    if (iso_time(v, m->vn, sp->naive_utc, &ln->us) < 0)
        return -1;
    ln->has_ts = 1;
    return 0;
}

static int parse_as(int code, const Spec *sp, const char *line, Py_ssize_t len, Line *ln, Buf *fields, Buf *msg);
static int layout_line(const Spec *sp, const char *s, Py_ssize_t n, Line *ln, Buf *fields);

/* The event that starts at s[pos:] as a row, when the lane takes it: -1 when not, -2 on a
 * Python error. ``sticky`` is the format the parser tries first; ``*format`` is set to the
 * line's (-1 for text, which does not move the parser). The event is its line and the
 * indented lines after it (``ln->lines``, up to ``ln->end``). Writes the fields to
 * ``fields``, the message to ``msg`` (or points into the line) and the joined message of
 * a multi-line event to ``joined``. */
static Py_ssize_t
take_event(const Spec *sp, int sticky, const char *s, Py_ssize_t n, Py_ssize_t pos, Line *ln, Buf *fields, Buf *msg,
           Buf *joined, int *format)
{
    const char *q = pos < n ? memchr(s + pos, '\n', n - pos) : NULL;
    if (q == NULL)
        return -1;
    Py_ssize_t nl = q - s, len = nl - pos;
    const char *line = s + pos;
    if (len == 0 || len > sp->max_line_bytes || in_set(&sp->joins_unparsed, (unsigned char)line[0]) ||
        !(plain(line, len) || (sp->layout.tabs && sp->layout_mode == LAYOUT_MODE_RUNS && plain_but_tabs(line, len))))
        return -1;
    if (any_guard(&sp->opens_mode, line, len))
        return -1; /* it may open an event in a mode of its own (a traceback, a Java exception, a Go panic) */
    fields->n = msg->n = joined->n = 0;
    if (reserve(fields, 6 * len + 256) < 0 || reserve(msg, len + 8) < 0)
        return -2;
    ln->level = NULL;
    ln->has_ts = 0;
    ln->keep_raw = 1;
    ln->lines = 1;

    if (sp->layout_mode != LAYOUT_MODE_NONE) {
        /* The parser reads with a layout: a line it fits is the layout's, and any other
         * (or any line at all, of a layout this file cannot run) the Python path's. */
        *format = -1;
        int r = sp->layout_mode == LAYOUT_MODE_RUNS ? layout_line(sp, line, len, ln, fields) : -1;
        if (r < 0)
            return r;
        goto joined;
    }
    /* The parser tries its settled format first, then the others in its order: the line
     * is the first one's whose guard admits it, where this file can read that format;
     * none, and it is text. */
    unsigned char c = (unsigned char)line[0];
    PyObject *order = PyTuple_GET_ITEM(sp->candidates, c);
    const unsigned char *idx = (const unsigned char *)PyBytes_AS_STRING(order);
    Py_ssize_t k = PyBytes_GET_SIZE(order);
    int sticky_ok = 0, found = -1;
    for (Py_ssize_t i = 0; i < k; i++)
        sticky_ok |= idx[i] == sticky;
    for (Py_ssize_t i = -1; i < k && found < 0; i++) {
        int f = i < 0 ? (sticky_ok ? sticky : -1) : idx[i];
        if (f < 0 || (i >= 0 && f == sticky) || f >= sp->formats.n)
            continue;
        if (guard_test(&sp->guards.g[f], line, len) == REFUSES)
            continue;
        int r = parse_as(sp->codes[f], sp, line, len, ln, fields, msg);
        if (r < 0)
            return r;
        ln->format = sp->formats.w[f];
        found = f;
    }
    *format = found;
    if (found < 0) {
        int r = parse_text(sp, line, len, ln, fields);
        if (r < 0)
            return r;
    }

joined:;
    /* Indented lines continue the event, up to the limits of one. */
    Py_ssize_t end = nl + 1, size = len, last = nl;
    while (end < n && in_set(&sp->indent, (unsigned char)s[end])) {
        const char *e = memchr(s + end, '\n', n - end);
        if (e == NULL)
            return -1;
        Py_ssize_t cl = e - (s + end), blank = 1;
        for (Py_ssize_t i = 0; i < cl && blank; i++)
            blank = s[end + i] == ' '; /* a plain line's only whitespace */
        if (blank || cl > sp->max_line_bytes || !plain(s + end, cl) || ln->lines >= sp->max_event_lines ||
            size + cl > sp->max_event_bytes)
            return -1;
        size += cl + 1;
        ln->lines++;
        last = e - s;
        end = last + 1;
    }
    /* The line after it must have begun, and surely start an event of its own. */
    if (!next_starts_event(sp, s, end, n, ln->has_ts))
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

/* -- layouts (``parsing.layouts``): a line read by the source's layout --------------------
 *
 * A layout is compiled to one regex on the Python path; here each column's shape is read
 * the way that regex's first way through it goes (greedy parts take all they can, lazy
 * ones as little, an optional part is tried present first). Where the regex would have
 * to go back and try another way (a later part does not match), this file is not sure
 * of the line and the Python path takes it: so a line read here is read as the regex
 * reads it, and a line that does not fit is never decided here. */

static inline int
is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* ``\d{lo,hi}`` at s[p:], as many as it may: the end, or -1. */
static inline Py_ssize_t
digits(const char *s, Py_ssize_t p, Py_ssize_t n, int lo, int hi)
{
    Py_ssize_t e = p;
    while (e < n && e - p < hi && is_digit(s[e]))
        e++;
    return e - p >= lo ? e : -1;
}

/* ``\s`` in a line the lane takes: a plain line's space, or a tab in a layout's header. */
static inline int
is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline int
in_text(const char *chars, unsigned char c)
{
    for (; *chars; chars++)
        if ((unsigned char)*chars == c)
            return 1;
    return 0;
}

typedef struct {
    Py_ssize_t end, s_at, s_end, f_at, f_end; /* the seconds' and the fraction's digits, -1 when absent */
    Py_ssize_t lv_at;                         /* a level letter's place (``letter_mmdd``), or -1 */
    Py_ssize_t ep_n;                          /* an epoch's whole digits (they start the time), or 0 */
} TimeSpan;

/* ``(?:[.,:](?P<f>\d{1,9}))?`` (``marks`` the characters it may open with) at s[e:]: its
 * end, the fraction's digits noted in ``t``. */
static Py_ssize_t
layout_fraction(const char *s, Py_ssize_t e, Py_ssize_t n, const char *marks, TimeSpan *t)
{
    if (e + 1 < n && in_text(marks, s[e]) && is_digit(s[e + 1])) {
        t->f_at = e + 1;
        t->f_end = e = digits(s, e + 1, n, 1, 9);
    }
    return e;
}

/* ``_CLOCK`` at s[p:]: 0, or -1 (not sure). */
static int
layout_clock(const char *s, Py_ssize_t p, Py_ssize_t n, TimeSpan *t)
{
    Py_ssize_t e = digits(s, p, n, 1, 2);
    if (e < 0 || e >= n || s[e] != ':')
        return -1;
    if ((e = digits(s, e + 1, n, 2, 2)) < 0)
        return -1;
    t->s_at = t->f_at = -1;
    if (e + 2 < n && s[e] == ':' && is_digit(s[e + 1]) && is_digit(s[e + 2])) {
        t->s_at = e + 1;
        t->s_end = e + 3;
        e += 3;
    }
    e = layout_fraction(s, e, n, ".,:", t);
    /* (?:\s?(?P<ap>[AaPp]\.?[Mm]\.?)(?![A-Za-z]))? */
    Py_ssize_t q = e + (e < n && is_ws(s[e]));
    if (q < n && (s[q] == 'A' || s[q] == 'a' || s[q] == 'P' || s[q] == 'p')) {
        Py_ssize_t r = q + 1;
        if (r < n && s[r] == '.')
            r++;
        if (r < n && (s[r] == 'M' || s[r] == 'm')) {
            r++;
            if (r < n && s[r] == '.')
                r++;
            if (r < n && is_alpha(s[r]))
                return -1; /* the regex would try it without the last dot */
            e = r;
        } /* otherwise no way through it: absent */
    }
    /* (?:\s?(?P<z>Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)(?![A-Za-z]))? */
    q = e + (e < n && is_ws(s[e]));
    Py_ssize_t r = -1;
    if (q < n && s[q] == 'Z')
        r = q + 1;
    else if (q + 2 < n && (s[q] == '+' || s[q] == '-') && is_digit(s[q + 1]) && is_digit(s[q + 2])) {
        r = q + 3;
        if (r + 2 < n && s[r] == ':' && is_digit(s[r + 1]) && is_digit(s[r + 2]))
            r += 3;
        else if (r + 1 < n && is_digit(s[r]) && is_digit(s[r + 1]))
            r += 2;
    }
    else if (q + 2 < n && ((s[q] == 'U' && s[q + 1] == 'T' && s[q + 2] == 'C') ||
                           (s[q] == 'G' && s[q + 1] == 'M' && s[q + 2] == 'T')))
        r = q + 3;
    if (r >= 0) {
        if (r < n && is_alpha(s[r]))
            return -1; /* the regex would try shorter ways */
        e = r;
    }
    t->end = e;
    return 0;
}

/* ``_DATE_TIME`` (T|\s+|[_@:-]|,\s*) then ``_CLOCK`` at s[e:]. */
static int
layout_date_time(const char *s, Py_ssize_t e, Py_ssize_t n, TimeSpan *t)
{
    if (e >= n)
        return -1;
    if (s[e] == 'T' || s[e] == '_' || s[e] == '@' || s[e] == ':' || s[e] == '-')
        e++;
    else if (is_ws(s[e]) || s[e] == ',') {
        e++;
        while (e < n && is_ws(s[e]))
            e++;
    }
    else
        return -1;
    return layout_clock(s, e, n, t);
}

/* ``(\d{4}|\d{2})``, then ``_DATE_TIME`` and ``_CLOCK``, at s[e:] (after two digits no
 * digit can start what follows: the regex has no other way). */
static int
layout_year_date_time(const char *s, Py_ssize_t e, Py_ssize_t n, TimeSpan *t)
{
    if (digits(s, e, n, 4, 4) == e + 4)
        e += 4;
    else if (digits(s, e, n, 2, 2) == e + 2)
        e += 2;
    else
        return -1;
    return layout_date_time(s, e, n, t);
}

/* ``_WEEKDAY`` at s[p:]: where it ends (p when there is none), or -1 (not sure). */
static Py_ssize_t
layout_weekday(const char *s, Py_ssize_t p, Py_ssize_t n)
{
    static const char days[] = "MonTueWedThuFriSatSun";
    int found = 0;
    for (int i = 0; i < 7 && !found && p + 3 <= n; i++)
        found = memcmp(s + p, days + 3 * i, 3) == 0;
    if (!found)
        return p;
    Py_ssize_t e = p + 3;
    while (e < n && s[e] >= 'a' && s[e] <= 'z')
        e++;
    if (e < n && s[e] == '.')
        e++;
    if (e < n && s[e] == ',')
        e++;
    if (e >= n || !is_ws(s[e]))
        return -1;
    while (e < n && is_ws(s[e]))
        e++;
    return e;
}

/* ``_MONTH_NAMES`` at s[p:]: the end of the alternative that matches, or -1. */
static Py_ssize_t
layout_month(const char *s, Py_ssize_t p, Py_ssize_t n)
{
    static const char *names[12][2] = {{"Jan", "uary"}, {"Feb", "ruary"}, {"Mar", "ch"}, {"Apr", "il"},
                                       {"May", ""},     {"Jun", "e"},     {"Jul", "y"},  {"Aug", "ust"},
                                       {"Sep", "ember"}, {"Oct", "ober"}, {"Nov", "ember"}, {"Dec", "ember"}};
    static const char upper[] = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC";
    if (p + 3 > n)
        return -1;
    for (int i = 0; i < 12; i++) {
        if (memcmp(s + p, names[i][0], 3) != 0)
            continue;
        Py_ssize_t e = p + 3, k = (Py_ssize_t)strlen(names[i][1]);
        if (i == 8 && e < n && s[e] == 't') /* Sept?(?:ember)? */
            e++;
        if (k && e + k <= n && memcmp(s + e, names[i][1], k) == 0)
            e += k;
        return e;
    }
    for (int i = 0; i < 12; i++)
        if (memcmp(s + p, upper + 3 * i, 3) == 0)
            return p + 3;
    return -1;
}

/* ``\d{2}`` then ``sep?`` (present first, as the regex tries it) at s[p:]: the end, or -1. */
static inline Py_ssize_t
two_digits_then(const char *s, Py_ssize_t p, Py_ssize_t n, char sep)
{
    if (digits(s, p, n, 2, 2) != p + 2)
        return -1;
    return p + 2 < n && s[p + 2] == sep ? p + 3 : p + 2;
}

/* ``epoch``: ``\d{10}(?:\.\d{1,9})?|\d{13}(?:\.\d{1,6})?|\d{16}|\d{19}`` at s[p:], where
 * the regex's way through it is the only one that ends the time (TIME_END): 0, or -1. */
static int
layout_epoch(const char *s, Py_ssize_t p, Py_ssize_t n, TimeSpan *t)
{
    Py_ssize_t e = digits(s, p, n, 1, 20), d = e - p;
    if (e < 0 || (d != 10 && d != 13 && d != 16 && d != 19))
        return -1; /* no alternative ends where the digits do */
    t->ep_n = d;
    if ((d == 10 || d == 13) && e + 1 < n && s[e] == '.' && is_digit(s[e + 1])) {
        Py_ssize_t f = digits(s, e + 1, n, 1, 20);
        if (f - (e + 1) > (d == 10 ? 9 : 6))
            return -1; /* the regex would end the time before the point */
        t->f_at = e + 1;
        t->f_end = e = f;
    }
    t->end = e;
    return 0;
}

/* The time of family ``op`` (``TIME_FAMILIES``) at s[p:]: 0, or -1 (not sure). */
static int
layout_time(int op, const char *s, Py_ssize_t p, Py_ssize_t n, TimeSpan *t)
{
    Py_ssize_t e;
    char ds;
    t->s_at = t->f_at = t->lv_at = -1;
    t->ep_n = 0;
    switch (op) {
    case LAYOUT_OP_EPOCH:
        return layout_epoch(s, p, n, t);
    case LAYOUT_OP_LETTER_MMDD: /* (?P<lv>[DIWEF])(?P<M>\d{2})(?P<D>\d{2})\s+ _CLOCK */
        if (p >= n || !in_text("DIWEF", s[p]) || digits(s, p + 1, n, 4, 4) != p + 5 || p + 5 >= n || !is_ws(s[p + 5]))
            return -1;
        for (e = p + 5; e < n && is_ws(s[e]);)
            e++;
        if (layout_clock(s, e, n, t) < 0)
            return -1;
        t->lv_at = p;
        return 0;
    case LAYOUT_OP_YMD_COMPACT:
        /* (?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})[T -]?(?P<h>\d{2}):?(?P<mi>\d{2}):?(?P<s>\d{2})
         * (?:[.,:](?P<f>\d{1,9}))?(?:\s?(?P<z>Z|[+-]\d{2}:?\d{2}))? */
        if (digits(s, p, n, 8, 8) != p + 8)
            return -1;
        e = p + 8;
        if (e < n && in_text("T -", s[e]))
            e++;
        if ((e = two_digits_then(s, e, n, ':')) < 0 || (e = two_digits_then(s, e, n, ':')) < 0 ||
            digits(s, e, n, 2, 2) != e + 2)
            return -1;
        t->s_at = e;
        t->s_end = e += 2;
        e = layout_fraction(s, e, n, ".,:", t);
        {
            /* A ':' taken and no two digits after it: without it, no two digits either. */
            Py_ssize_t q = e + (e < n && is_ws(s[e])), k;
            if (q < n && s[q] == 'Z')
                e = q + 1;
            else if (q < n && (s[q] == '+' || s[q] == '-') && (k = two_digits_then(s, q + 1, n, ':')) >= 0 &&
                     digits(s, k, n, 2, 2) == k + 2)
                e = k + 2;
        }
        t->end = e;
        return 0;
    case LAYOUT_OP_YYMMDD_COMPACT:
        /* (?P<y>\d{2})(?P<M>\d{2})(?P<D>\d{2})[ -](?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))? */
        if (digits(s, p, n, 6, 6) != p + 6 || p + 6 >= n || !in_text(" -", s[p + 6]) ||
            digits(s, p + 7, n, 6, 6) != p + 13)
            return -1;
        t->s_at = p + 11;
        t->s_end = p + 13;
        t->end = layout_fraction(s, p + 13, n, ".,", t);
        return 0;
    case LAYOUT_OP_YMD: /* (?P<Y>\d{4})(?P<ds>[-/.])(?P<M>\d{1,2})(?P=ds)(?P<D>\d{1,2}) */
        if (digits(s, p, n, 4, 4) != p + 4 || p + 4 >= n)
            return -1;
        ds = s[p + 4];
        if (ds != '-' && ds != '/' && ds != '.')
            return -1;
        e = digits(s, p + 5, n, 1, 2);
        if (e < 0 || e >= n || s[e] != ds)
            return -1;
        if ((e = digits(s, e + 1, n, 1, 2)) < 0)
            return -1;
        return layout_date_time(s, e, n, t);
    case LAYOUT_OP_NUMERIC_YEAR_LAST: /* A ds B ds (\d{4}|\d{2}) */
    case LAYOUT_OP_NUMERIC_NO_YEAR:   /* A ds B \s+ */
        if ((e = digits(s, p, n, 1, 2)) < 0 || e >= n)
            return -1;
        ds = s[e];
        if (ds != '-' && ds != '/' && ds != '.')
            return -1;
        if ((e = digits(s, e + 1, n, 1, 2)) < 0 || e >= n)
            return -1;
        if (op == LAYOUT_OP_NUMERIC_NO_YEAR) {
            if (!is_ws(s[e]))
                return -1;
            while (e < n && is_ws(s[e]))
                e++;
            return layout_clock(s, e, n, t);
        }
        if (s[e] != ds)
            return -1;
        e++;
        return layout_year_date_time(s, e, n, t);
    case LAYOUT_OP_DAY_MONTH: /* _WEEKDAY D[ /-]mon\.?[ /-](\d{4}|\d{2}) */
        if ((e = layout_weekday(s, p, n)) < 0 || (e = digits(s, e, n, 1, 2)) < 0 || e >= n || !in_text(" /-", s[e]))
            return -1;
        if ((e = layout_month(s, e + 1, n)) < 0)
            return -1;
        if (e < n && s[e] == '.')
            e++;
        if (e >= n || !in_text(" /-", s[e]))
            return -1;
        e++;
        return layout_year_date_time(s, e, n, t);
    case LAYOUT_OP_MONTH_DAY:
        /* _WEEKDAY mon\.?[ /-]+D(?:st|nd|rd|th)?,?(?:[ /-]+(?P<Y>\d{4}))?,? _DATE_TIME _CLOCK
         * (?:\s+(?P<Yafter>\d{4})(?!\d))? */
        if ((e = layout_weekday(s, p, n)) < 0 || (e = layout_month(s, e, n)) < 0)
            return -1;
        if (e < n && s[e] == '.')
            e++;
        if (e >= n || !in_text(" /-", s[e]))
            return -1;
        while (e < n && in_text(" /-", s[e]))
            e++;
        if ((e = digits(s, e, n, 1, 2)) < 0)
            return -1;
        if (e + 1 < n && ((s[e] == 's' && s[e + 1] == 't') || (s[e] == 'n' && s[e + 1] == 'd') ||
                          (s[e] == 'r' && s[e + 1] == 'd') || (s[e] == 't' && s[e + 1] == 'h')))
            e += 2;
        if (e < n && s[e] == ',')
            e++;
        {
            Py_ssize_t y = e;
            while (y < n && in_text(" /-", s[y]))
                y++;
            if (y > e && digits(s, y, n, 4, 4) == y + 4)
                e = y + 4;
        }
        if (e < n && s[e] == ',')
            e++;
        if (layout_date_time(s, e, n, t) < 0)
            return -1;
        e = t->end;
        {
            Py_ssize_t y = e;
            while (y < n && is_ws(s[y]))
                y++;
            if (y > e && digits(s, y, n, 4, 4) == y + 4 && !(y + 4 < n && is_digit(s[y + 4])))
                t->end = y + 4;
        }
        return 0;
    }
    return -1;
}

/* The end of a column of shape ``op`` (``SHAPES``) at s[p:], or -1 where it does not
 * match there (surely: each shape has one way through it, or, for ``program``, all are
 * tried in the regex's order). */
static Py_ssize_t
layout_shape(int op, const char *s, Py_ssize_t p, Py_ssize_t n)
{
    Py_ssize_t e = p;
    switch (op) {
    case LAYOUT_OP_BRACKET: /* \[(?:[^\[\]]|\[[^\[\]]*\])*\]:? */
        if (p >= n || s[p] != '[')
            return -1;
        for (e = p + 1;; e++) {
            if (e >= n)
                return -1;
            if (s[e] == ']')
                break;
            if (s[e] == '[') {
                e++;
                while (e < n && s[e] != '[' && s[e] != ']')
                    e++;
                if (e >= n || s[e] != ']')
                    return -1;
            }
        }
        e++;
        break;
    case LAYOUT_OP_ANGLE: /* <[^<>\s]*>:? */
    case LAYOUT_OP_PAREN: /* \([^()\s]*\):? */
    {
        char open = op == LAYOUT_OP_ANGLE ? '<' : '(', close = op == LAYOUT_OP_ANGLE ? '>' : ')';
        if (p >= n || s[p] != open)
            return -1;
        for (e = p + 1; e < n && s[e] != open && s[e] != close && !is_ws(s[e]);)
            e++;
        if (e >= n || s[e] != close)
            return -1;
        e++;
        break;
    }
    case LAYOUT_OP_INT: /* \d+:? */
        if ((e = digits(s, p, n, 1, INT32_MAX)) < 0)
            return -1;
        break;
    case LAYOUT_OP_WORD: /* [^\s,;|]+ */
        while (e < n && !in_text(" \t,;|", s[e]))
            e++;
        return e > p ? e : -1;
    case LAYOUT_OP_PUNCT: /* \||[^\w\s\[\]()<>{}\"'|]{1,3}(?=\s|$) */
        if (p < n && s[p] == '|')
            return p + 1;
        while (e < n && e - p < 3 && !is_alnum(s[e]) && !in_text("_ \t[]()<>{}\"'|", s[e]))
            e++;
        return e > p && (e == n || is_ws(s[e])) ? e : -1;
    case LAYOUT_OP_CELL: /* [^\t]* */
        while (e < n && s[e] != '\t')
            e++;
        return e;
    case LAYOUT_OP_CLOCK: /* \d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,9})? */
    {
        TimeSpan t;
        if ((e = digits(s, p, n, 1, 2)) < 0 || e >= n || s[e] != ':' || (e = digits(s, e + 1, n, 2, 2)) < 0)
            return -1;
        if (e + 2 < n && s[e] == ':' && is_digit(s[e + 1]) && is_digit(s[e + 2]))
            e += 3;
        return layout_fraction(s, e, n, ".,", &t);
    }
    case LAYOUT_OP_PROGRAM: /* [^\s\[\],;|]+?(?:\[\d+\])?[:\]](?=\s|$) */
        for (Py_ssize_t k = p; k < n && !in_text(" \t[],;|", s[k]); k++) {
            Py_ssize_t q = k + 1;
            if (q < n && s[q] == '[') {
                Py_ssize_t d = digits(s, q + 1, n, 1, INT32_MAX);
                if (d >= 0 && d + 1 < n && s[d] == ']' && (s[d + 1] == ':' || s[d + 1] == ']') &&
                    (d + 2 == n || is_ws(s[d + 2])))
                    return d + 2;
            }
            if (q < n && (s[q] == ':' || s[q] == ']') && (q + 1 == n || is_ws(s[q + 1])))
                return q + 1;
        }
        return -1;
    default:
        return -1;
    }
    if (e < n && s[e] == ':')
        e++;
    return e;
}

/* ``_unwrap``: the text without the wrapping characters at either end. */
static void
unwrap(const char **t, Py_ssize_t *n)
{
    while (*n > 0 && in_text("[]<>():", (*t)[0])) {
        (*t)++;
        (*n)--;
    }
    while (*n > 0 && in_text("[]<>():", (*t)[*n - 1]))
        (*n)--;
}

/* The fields of a line as the Python path's dict has them: a key set again keeps its
 * place and takes the new value. */
typedef struct {
    const char *key, *v;
    Py_ssize_t kn, vn;
    int number;
} LayoutField;

static void
set_field(LayoutField *f, int *n, const char *key, Py_ssize_t kn, const char *v, Py_ssize_t vn, int number)
{
    int i = 0;
    while (i < *n && !(f[i].kn == kn && memcmp(f[i].key, key, kn) == 0))
        i++;
    if (i == *n)
        (*n)++;
    f[i] = (LayoutField){key, v, kn, vn, number};
}

/* An integer as JSON writes int(text) of its ASCII digits: no leading zeros. */
static void
put_int_text(Buf *b, const char *t, Py_ssize_t n)
{
    while (n > 1 && t[0] == '0') {
        t++;
        n--;
    }
    put(b, t, n);
}

/* What the Python callable ``fn`` says of ``text``, through ``memo`` (text -> answer, at
 * most 4096 answers kept): a borrowed reference, NULL on an error. The answers are the
 * same for the same text, whichever is asked first. */
static PyObject *
memo_call(PyObject *memo, PyObject *fn, const char *text, Py_ssize_t n)
{
    PyObject *key = ascii_str(text, n);
    if (key == NULL)
        return NULL;
    PyObject *v = PyDict_GetItemWithError(memo, key);
    if (v == NULL && !PyErr_Occurred()) {
        PyObject *got = PyObject_CallOneArg(fn, key);
        if (got != NULL) {
            if (PyDict_GET_SIZE(memo) >= 4096)
                PyDict_Clear(memo);
            if (PyDict_SetItem(memo, key, got) == 0)
                v = got; /* the dict holds it */
            Py_DECREF(got);
        }
    }
    Py_DECREF(key);
    return v;
}

/* What the Python path says a time column's ``text`` is (``LayoutReader.minute_us``), in
 * ``*us``: 0, -1 when it refuses it or has no time or raised (the Python path reads the
 * line, says why, and deals with what raised), -2 on an error here. */
static int
asked_time(const Spec *sp, const char *text, Py_ssize_t n, long long *us)
{
    PyObject *base = memo_call(sp->layout_times, sp->layout_time, text, n);
    if (base == NULL) {
        PyErr_Clear();
        return -1;
    }
    if (base == Py_None)
        return -1;
    *us = PyLong_AsLongLong(base);
    return *us == -1 && PyErr_Occurred() ? -2 : 0;
}

/* ``LayoutReader.read`` of a line, when this file is sure of it: 0, -1 (the Python path
 * reads it), -2 on a Python error. */
static int
layout_line(const Spec *sp, const char *s, Py_ssize_t n, Line *ln, Buf *fields)
{
    const LayoutProgram *lp = &sp->layout;
    Py_ssize_t at[64], end[64], p = 0;
    TimeSpan ts = {0};
    int time_col = -1;
    for (int i = 0; i < lp->n; i++) {
        const LayoutColumn *c = &lp->c[i];
        if (c->op < LAYOUT_OP_BRACKET) { /* a time */
            if (c->opener.n) {
                if (p >= n || s[p] != c->opener.p[0])
                    return -1;
                p++;
            }
            if (p > 0 && (is_alnum(s[p - 1]) || in_text("_.:/+-", s[p - 1]))) /* TIME_START */
                return -1;
            if (layout_time(c->op, s, p, n, &ts) < 0)
                return -1;
            at[i] = p;
            p = end[i] = ts.end;
            if (p < n && (is_alnum(s[p]) || s[p] == '_' || s[p] == '/')) /* TIME_END */
                return -1;
            if (c->closer.n) {
                if (p >= n || s[p] != c->closer.p[0])
                    return -1;
                p++;
            }
            time_col = i;
        }
        else {
            Py_ssize_t e = layout_shape(c->op, s, p, n);
            if (e < 0 && !c->optional)
                return -1;
            at[i] = e < 0 ? -1 : p;
            end[i] = e;
            if (e >= 0)
                p = e;
        }
        if (i < lp->n - 1 && c->sep == LAYOUT_SEP_TAB) { /* ' *\t *' */
            while (p < n && s[p] == ' ')
                p++;
            if (p >= n || s[p] != '\t')
                return -1;
            for (p++; p < n && s[p] == ' ';)
                p++;
        }
        else if (i < lp->n - 1) { /* the separator (SEPARATORS), as much as it may take */
            Py_ssize_t q = p;
            while (q < n && is_ws(s[q]))
                q++;
            if (c->sep == LAYOUT_SEP_SPACE && q == p)
                return -1;
            if (c->sep == LAYOUT_SEP_COMMA) { /* \s*[,;]\s* */
                if (q >= n || (s[q] != ',' && s[q] != ';'))
                    return -1;
                q++;
                while (q < n && is_ws(s[q]))
                    q++;
            }
            if (c->sep != LAYOUT_SEP_NONE)
                p = q;
        }
    }
    /* (?:(?<=[\]:>)|\-\s])\s*|\s+|$)(?P<message>.*) */
    if (!((p > 0 && in_text("]:>)|- \t", s[p - 1])) || p == n || is_ws(s[p])))
        return -1;
    while (p < n && is_ws(s[p]))
        p++;
    if (lp->tabs && memchr(s + p, '\t', n - p) != NULL)
        return -1; /* a message is plain text, without the tabs a header may have */

    ln->has_ts = 0;
    if (time_col >= 0) {
        /* The time of its text less the seconds and the fraction (a minute's lines share
         * it), then those added. An epoch's is
         * the time of its block (its whole digits less the last ep_n - 8: 100 seconds in
         * every unit), asked of the block's first and last text so that no time in it is
         * refused, then the rest added as ``layouts._epoch`` adds it. */
        char key[128];
        Py_ssize_t kn = 0, from = at[time_col], tn = end[time_col] - from;
        int64_t offset = 0, v = 0, micro = 0;
        if (tn >= (Py_ssize_t)sizeof(key) - 16)
            return -1;
        if (ts.ep_n) {
            int fraction_digits = ts.ep_n == 10 ? 6 : ts.ep_n == 13 ? 3 : 0;
            memcpy(key, s + from, kn = ts.ep_n);
            for (Py_ssize_t k = 8; k < kn; k++) {
                v = v * 10 + (key[k] - '0');
                key[k] = '0';
            }
            for (Py_ssize_t k = 0; ts.f_at >= 0 && k < fraction_digits; k++)
                micro = micro * 10 + (ts.f_at + k < ts.f_end ? s[ts.f_at + k] - '0' : 0);
            offset = ts.ep_n == 10 ? v * 1000000 + micro : ts.ep_n == 13 ? v * 1000 + micro : ts.ep_n == 16 ? v : v / 1000;
        }
        else {
            /* (A level letter says nothing of the time: lines of every level share it.) */
            Py_ssize_t cuts[3][2] = {{ts.lv_at, ts.lv_at + 1}, {ts.s_at, ts.s_end}, {ts.f_at, ts.f_end}};
            for (int k = 0; k < 3; k++) {
                if (cuts[k][0] < 0)
                    continue;
                memcpy(key + kn, s + from, cuts[k][0] - from);
                kn += cuts[k][0] - from;
                from = cuts[k][1];
            }
            memcpy(key + kn, s + from, end[time_col] - from);
            kn += end[time_col] - from;
            int64_t second = 0;
            if (ts.s_at >= 0 && (second = (s[ts.s_at] - '0') * 10 + (s[ts.s_at + 1] - '0')) > 59)
                return -1; /* no such second: the Python path refuses the whole text */
            for (Py_ssize_t k = 0; ts.f_at >= 0 && k < 6; k++)
                micro = micro * 10 + (ts.f_at + k < ts.f_end ? s[ts.f_at + k] - '0' : 0);
            offset = second * 1000000 + micro;
        }
        Spec *msp = (Spec *)sp; /* the memo of the last minute: the same for the same key */
        if (!(msp->last_key_n == kn && memcmp(msp->last_key, key, kn) == 0)) {
            long long us, last;
            /* The Python path is asked the time of the whole text, less seconds and fraction. */
            int r = ts.ep_n ? asked_time(sp, key, kn, &us) : asked_time(sp, s + at[time_col], tn, &us);
            if (r == 0 && ts.ep_n) {
                char high[128];
                Py_ssize_t hn = kn;
                memcpy(high, key, kn);
                memset(high + 8, '9', kn - 8);
                if (ts.ep_n == 10 || ts.ep_n == 13) { /* the largest fraction the family reads */
                    high[hn++] = '.';
                    memset(high + hn, '9', ts.ep_n == 10 ? 9 : 6);
                    hn += ts.ep_n == 10 ? 9 : 6;
                }
                r = asked_time(sp, high, hn, &last);
            }
            if (r < 0)
                return r;
            memcpy(msp->last_key, key, kn);
            msp->last_key_n = kn;
            msp->last_base = us;
        }
        ln->has_ts = 1;
        ln->us = msp->last_base + offset;
    }

    /* The fields, in the order the columns give them. */
    LayoutField f[2 * 64];
    int nf = 0;
    for (int i = 0; i < lp->n; i++) {
        const LayoutColumn *c = &lp->c[i];
        const char *t = s + at[i];
        Py_ssize_t tn = end[i] - at[i];
        if (c->field == LAYOUT_FIELD_NONE || i == time_col || at[i] < 0)
            continue;
        if (lp->tabs && memchr(t, '\t', tn) != NULL)
            return -1; /* a field is plain text too (a bracket may hold a tab) */
        if (c->field == LAYOUT_FIELD_LEVEL) {
            PyObject *level = memo_call(sp->layout_levels, sp->layout_level, t, tn);
            if (level == NULL) { /* as for the time */
                PyErr_Clear();
                return -1;
            }
            ln->level = NULL; /* the last level column's says */
            if (level != Py_None) {
                if (!PyUnicode_Check(level)) {
                    PyErr_SetString(PyExc_TypeError, "a layout's level is a str or None");
                    return -2;
                }
                ln->level = level;
                continue;
            }
            unwrap(&t, &tn);
            set_field(f, &nf, "severity", 8, t, tn, 0);
        }
        else if (c->field == LAYOUT_FIELD_COMPONENT) { /* a program column: name[pid]: */
            Py_ssize_t pn = tn - 1, open = -1;
            if (pn > 0 && t[pn - 1] == ']')
                for (Py_ssize_t k = pn - 1; k >= 0 && open < 0; k--)
                    if (t[k] == '[')
                        open = k;
            if (open >= 0) {
                if (pn - 1 - (open + 1) > 18)
                    return -1; /* beyond what the lane writes as a number */
                set_field(f, &nf, "pid", 3, t + open + 1, pn - 1 - (open + 1), 1);
                pn = open;
            }
            set_field(f, &nf, "component", 9, t, pn, 0);
        }
        else {
            unwrap(&t, &tn);
            int number = c->field == LAYOUT_FIELD_PID && tn > 0 && tn < 19;
            for (Py_ssize_t k = 0; k < tn && number; k++)
                number = is_digit(t[k]);
            set_field(f, &nf, c->name.p, c->name.n, t, tn, number);
        }
    }
    if (time_col >= 0 && ts.lv_at >= 0 && ln->level == NULL) { /* no level column says: the time's letter */
        PyObject *level = memo_call(sp->layout_levels, sp->layout_level, s + ts.lv_at, 1);
        if (level == NULL) {
            PyErr_Clear();
            return -1;
        }
        if (level != Py_None && !PyUnicode_Check(level)) {
            PyErr_SetString(PyExc_TypeError, "a layout's level is a str or None");
            return -2;
        }
        ln->level = level == Py_None ? NULL : level;
    }
    for (int i = 0; i < nf; i++) {
        put_c(fields, i ? ',' : '{');
        put_c(fields, '"');
        put(fields, f[i].key, f[i].kn);
        put(fields, "\":", 2);
        if (f[i].number)
            put_int_text(fields, f[i].v, f[i].vn);
        else
            put_json_string(fields, f[i].v, f[i].vn);
    }
    if (nf)
        put_c(fields, '}');
    else
        put(fields, "\\N", 2);
    ln->format = sp->layout_format;
    ln->msg = s + p;
    ln->msg_n = n - p;
    ln->keep_raw = p != 0;
    return 0;
}

/* Read the line as format ``code``: 0, -1 when this file cannot be sure, -2 on a Python error. */
static int
parse_as(int code, const Spec *sp, const char *line, Py_ssize_t len, Line *ln, Buf *fields, Buf *msg)
{
    if (code == F_ACCESS) {
        Access a = {0};
        if (parse_access(line, len, &a) < 0)
            return -1;
        ln->has_ts = 1;
        ln->us = a.epoch * 1000000;
        ln->level = sp->status_level_below;
        for (int i = 0; i < sp->status_levels.n; i++) {
            if (a.status >= sp->status_levels.bound[i]) {
                ln->level = sp->status_levels.level[i];
                break;
            }
        }
        put(msg, a.req, a.req_n);
        put_c(msg, ' ');
        put_int(msg, a.status);
        ln->msg = msg->p;
        ln->msg_n = msg->n;
        write_access_fields(fields, &a);
    }
    else if (code == F_APP) {
        App a;
        if (parse_app(sp, line, len, &a) < 0 || iso_time(a.iso, a.iso_n, sp->naive_utc, &ln->us) < 0)
            return -1;
        ln->has_ts = 1;
        if (word_level(sp, a.level, a.level_n, &ln->level) < 0)
            return -2;
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
        }
        if (member(top, count, "log", 3) != NULL) /* Docker's lines, and "log" as the message */
            return -1;
        Member *msg_m = first_of(top, count, &sp->message_keys, &bail);
        Member *time_m = first_of(top, count, &sp->time_keys, &bail);
        Member *level_m = first_of(top, count, &sp->level_keys, &bail);
        if (bail)
            return -1;
        if (time_m != NULL && (time_m->type == 'i' || time_m->type == 'd'))
            return -1; /* epoch numbers: the Python path's */
        if (time_m != NULL && time_m->type == 's' && string_time(sp, time_m, ln) < 0)
            return -1;
        if (json_level(sp, level_m, &ln->level) < 0)
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
/* Where each key a run looked up led (a shape, or none): the miner's key cache does not
 * change between two calls of its ``add``, so until the next one a key met before leads
 * to the same place, without a str made and hashed for each lookup, nor the next stage's
 * key made. */
#define MEMO_SLOTS 1024
typedef struct {
    uint64_t gen, hash;
    Py_ssize_t at, n; /* the key, in ``Scratch.memo_keys`` */
    PyObject *shape;  /* borrowed from the key cache; NULL where it has none */
} MemoSlot;

typedef struct {
    Buf out, msg, key, key2, key3, fields, joined, memo_keys;
    MemoSlot *memo;
    uint64_t gen;
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
        PyMem_Free(own->key3.p);
        PyMem_Free(own->memo_keys.p);
        PyMem_Free(own->memo);
        PyMem_Free(own->fields.p);
        PyMem_Free(own->joined.p);
    }
    else {
        kept.busy = 0;
    }
}

/* -- the module's functions ------------------------------------------------------------------ */

static PyObject *
takes(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t start;
    int sticky, format;
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "y*niO:takes", &data, &start, &sticky, &capsule))
        return NULL;
    const Spec *sp = spec_from(capsule);
    Scratch own = {0}, *sc = scratch_take(&own);
    Line ln;
    Py_ssize_t nl = sp == NULL ? -2
                    : start < 0 ? -1
                                : take_event(sp, sticky, data.buf, data.len, start, &ln, &sc->fields, &sc->msg,
                                             &sc->joined, &format);
    scratch_give(sc, &own);
    PyBuffer_Release(&data);
    if (nl == -2)
        return NULL;
    return PyBool_FromLong(nl >= 0);
}

/* A hash of s[:n] for the memo, eight bytes a step (a byte a step was slower than the
 * lookups it saves). */
static uint64_t
key_hash(const char *s, Py_ssize_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, w;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

/* Look ``key`` up in the miner's key cache: the shape (borrowed), or NULL (maybe with an error). */
static PyObject *
cached_shape(const Spec *sp, const char *key, Py_ssize_t n)
{
    PyObject *k = ascii_str(key, n);
    if (k == NULL)
        return NULL;
    PyObject *shape = PyDict_GetItemWithError(sp->key_cache, k);
    Py_DECREF(k);
    return shape;
}

static inline void
put_column(Buf *out, int column, const Line *ln, const char *level, Py_ssize_t level_n, const char *ts,
           Py_ssize_t ts_n, Text file_id, Text ingested, Py_ssize_t line_no, const char *pid)
{
    switch (column) {
    case C_FILE_ID:
        put(out, file_id.p, file_id.n);
        break;
    case C_LINE:
        put_int(out, line_no);
        break;
    case C_TS:
        put(out, ts, ts_n);
        break;
    case C_TS_INFERRED:
        put_c(out, ln->has_ts ? 'f' : 't');
        break;
    case C_INGESTED_AT:
        put(out, ingested.p, ingested.n);
        break;
    case C_LEVEL:
        if (level != NULL)
            put(out, level, level_n);
        else
            put(out, "\\N", 2);
        break;
    case C_FORMAT:
        put(out, ln->format.p, ln->format.n);
        break;
    case C_MESSAGE:
        put_text(out, ln->msg, ln->msg_n);
        break;
    case C_FIELDS:
        break; /* written by the caller, which has them */
    case C_RAW:
        if (ln->keep_raw && memchr(ln->raw, '\t', ln->raw_n) != NULL)
            put_text_tabs(out, ln->raw, ln->raw_n);
        else if (ln->keep_raw)
            put_text(out, ln->raw, ln->raw_n);
        else
            put(out, "\\N", 2);
        break;
    case C_TRUNCATED:
        put_c(out, 'f');
        break;
    case C_LINE_COUNT:
        put_int(out, ln->lines);
        break;
    case C_PATTERN_ID:
        put(out, pid, 16);
        break;
    }
}

static PyObject *
rows(PyObject *self, PyObject *args)
{
    Py_buffer data;
    int sticky;
    Py_ssize_t start, max_rows, line_no;
    long long ingested_us;
    PyObject *file_id_obj, *ingested_obj, *capsule, *known, *seen;
    if (!PyArg_ParseTuple(args, "y*nnnUULiOO!O!:rows", &data, &start, &max_rows, &line_no, &file_id_obj,
                          &ingested_obj, &ingested_us, &sticky, &capsule, &PyDict_Type, &known, &PyDict_Type, &seen))
        return NULL;
    const char *s = data.buf;
    Py_ssize_t n = data.len, pos = start < 0 ? 0 : start, rows = 0, errors = 0;
    Text file_id, ingested;
    Scratch own = {0}, *sc = scratch_take(&own);
    Buf *out = &sc->out, *msg = &sc->msg, *fields = &sc->fields, *joined = &sc->joined;
    Py_ssize_t lines = 0;
    Entries t = {0};
    t.patterns = known;
    int months[MAX_MONTHS], n_months = 0;
    PyObject *result = NULL;
    const Spec *sp = spec_from(capsule);
    if (sp == NULL || text_of(file_id_obj, &file_id) < 0 || text_of(ingested_obj, &ingested) < 0 ||
        (t.index = PyDict_New()) == NULL)
        goto done;
    if (sc->memo == NULL && (sc->memo = PyMem_Calloc(MEMO_SLOTS, sizeof(MemoSlot))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    sc->gen++; /* what the memo holds was found by another call, before Python code ran */
    sc->memo_keys.n = 0;

    while (rows < max_rows) {
        Line ln;
        int format;
        Py_ssize_t end = take_event(sp, sticky, s, n, pos, &ln, fields, msg, joined, &format);
        if (end == -2)
            goto done;
        if (end < 0)
            break;

        /* The time as CopyBuffer.add writes it. */
        char ts[40];
        Py_ssize_t ts_n = 0;
        Utc utc = {0};
        int64_t when = ingested_us;
        if (ln.has_ts) {
            int64_t secs = ln.us >= 0 ? ln.us / 1000000 : -((-ln.us + 999999) / 1000000);
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
            Buf tb = {ts, 0, sizeof(ts)};
            put_utc(&tb, &utc);
            int64_t micro = ln.us - secs * 1000000;
            if (micro) {
                tb.n -= 6; /* before "+00:00" */
                put_c(&tb, '.');
                put_digits(&tb, (int)micro, 6);
                put(&tb, "+00:00", 6);
            }
            ts_n = tb.n;
        }

        /* The miner's shape for the message: its key after each stage, in turn. */
        Py_ssize_t room = sp->key_expand * ln.msg_n + 8;
        if (reserve(&sc->key, room) < 0 || reserve(&sc->key2, room) < 0 || reserve(&sc->key3, room) < 0)
            goto done;
        char *cur = sc->key.p, *next = sc->key2.p;
        PyObject *shape = NULL;
        Py_ssize_t kn = ln.msg_n;
        const char *from = ln.msg;
        MemoSlot *looked[MAX_STAGES]; /* the slots of the keys looked up in the cache itself */
        int n_looked = 0, known = 0;
        for (int st = 0; st < sp->shape_key_stages.n && shape == NULL && !known; st++) {
            kn = stage_key(sp, st, from, kn, cur, sc->key3.p);
            /* What the lookups from this key on found, if this run met the key before. */
            uint64_t hash = key_hash(cur, kn) ^ (uint64_t)st;
            MemoSlot *slot = &sc->memo[hash & (MEMO_SLOTS - 1)];
            if (slot->gen == sc->gen && slot->hash == hash && slot->n == kn &&
                memcmp(sc->memo_keys.p + slot->at, cur, kn) == 0) {
                shape = slot->shape;
                known = 1;
                break;
            }
            shape = cached_shape(sp, cur, kn);
            if (shape == NULL && PyErr_Occurred())
                goto done;
            if (reserve(&sc->memo_keys, kn) < 0)
                goto done;
            memcpy(sc->memo_keys.p + sc->memo_keys.n, cur, kn);
            *slot = (MemoSlot){0, hash, sc->memo_keys.n, kn, NULL};
            sc->memo_keys.n += kn;
            looked[n_looked++] = slot;
            from = cur;
            cur = next;
            next = (char *)from;
        }
        for (int i = 0; i < n_looked; i++) { /* what each key led to: the shape, or none */
            looked[i]->gen = sc->gen;
            looked[i]->shape = shape;
        }
        Entry *e;
        if (shape != NULL) {
            Py_INCREF(shape); /* the dictionary's: held while Python code runs */
            e = entry_of(&t, shape, ln.msg, ln.msg_n, when);
            Py_DECREF(shape);
            if (e == NULL)
                goto done;
            e->hits++;
        }
        else {
            /* A new kind of message: the miner places it, and may regroup templates, so
             * no pattern looked up so far is taken as current any more. */
            PyObject *m = ascii_str(ln.msg, ln.msg_n);
            if (m == NULL)
                goto done;
            PyObject *found = PyObject_CallOneArg(sp->add, m);
            Py_DECREF(m);
            if (found == NULL)
                goto done;
            PyDict_Clear(t.index);
            PyDict_Clear(t.patterns);
            sc->gen++; /* the key cache may have changed */
            sc->memo_keys.n = 0;
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

        /* The row, its columns in the order db.events.COLUMNS gives them. */
        const char *level = NULL;
        Py_ssize_t level_n = 0;
        if (ln.level != NULL && (level = PyUnicode_AsUTF8AndSize(ln.level, &level_n)) == NULL)
            goto done;
        if (reserve(out, file_id.n + 2 * ingested.n + 2 * (ln.msg_n + ln.raw_n) + fields->n + ln.format.n + level_n +
                             160) < 0)
            goto done;
        for (int c = 0; c < sp->n_columns; c++) {
            if (c)
                put_c(out, '\t');
            if (sp->column[c] == C_FIELDS)
                put(out, fields->p, fields->n);
            else if (sp->column[c] == C_TS && !ln.has_ts)
                put(out, ingested.p, ingested.n);
            else
                put_column(out, sp->column[c], &ln, level, level_n, ts, ts_n, file_id, ingested, line_no + lines,
                           e->id);
        }
        put_c(out, '\n');
        for (int i = 0; level != NULL && i < sp->error_levels.n; i++)
            errors += sp->error_levels.w[i].n == level_n && memcmp(sp->error_levels.w[i].p, level, level_n) == 0;
        rows++;
        lines += ln.lines;
        pos = end;
        if (format >= 0)
            sticky = format; /* the parser tries this line's format first on the next */
    }

    if (count_patterns(sp, seen, &t) < 0)
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
shape_keys(PyObject *self, PyObject *args)
{
    PyObject *message, *capsule;
    if (!PyArg_ParseTuple(args, "UO:shape_keys", &message, &capsule))
        return NULL;
    const Spec *sp = spec_from(capsule);
    Py_ssize_t n;
    const char *m = sp != NULL ? PyUnicode_AsUTF8AndSize(message, &n) : NULL;
    if (m == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (m[i] != '\n' && !plain(m + i, 1)) {
            PyErr_SetString(PyExc_ValueError, "shape_keys takes plain text (printable ASCII, no backslash) and newlines");
            return NULL;
        }
    }
    Py_ssize_t room = sp->key_expand * n + 8;
    char *a = PyMem_Malloc(room), *b = PyMem_Malloc(room), *tmp = PyMem_Malloc(room);
    PyObject *keys = a && b && tmp ? PyList_New(0) : PyErr_NoMemory();
    const char *from = m;
    Py_ssize_t kn = n;
    for (int st = 0; keys != NULL && st < sp->shape_key_stages.n; st++) {
        char *to = st % 2 ? b : a;
        kn = stage_key(sp, st, from, kn, to, tmp);
        PyObject *k = ascii_str(to, kn);
        if (k == NULL || PyList_Append(keys, k) < 0)
            Py_CLEAR(keys);
        Py_XDECREF(k);
        from = to;
    }
    PyMem_Free(a);
    PyMem_Free(b);
    PyMem_Free(tmp);
    PyObject *result = keys ? PyList_AsTuple(keys) : NULL;
    Py_XDECREF(keys);
    return result;
}

static PyObject *
admits(PyObject *self, PyObject *args)
{
    PyObject *program;
    Py_buffer line;
    if (!PyArg_ParseTuple(args, "Oy*:admits", &program, &line))
        return NULL;
    Spec *sp = PyMem_Calloc(1, sizeof(Spec));
    Guard g;
    int r = sp == NULL ? -2 : guard_of(sp, program, &g);
    PyObject *result = NULL;
    if (r == 0) {
        int v = guard_test(&g, line.buf, line.len);
        result = v == UNSURE ? Py_NewRef(Py_None) : PyBool_FromLong(v == ADMITS);
    }
    else if (r == -1) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, GUARD_WHAT);
    }
    else if (sp == NULL) {
        PyErr_NoMemory();
    }
    if (sp != NULL)
        spec_free(sp);
    PyBuffer_Release(&line);
    return result;
}

static PyMethodDef methods[] = {
    {"compile", compile, METH_O,
     "compile(spec: LaneSpec) -> the spec as the other functions take it\n\n"
     "Checks the spec's version and every field; TypeError or ValueError naming what is wrong."},
    {"takes", takes, METH_VARARGS,
     "takes(data, start, sticky, spec) -> bool\n\n"
     "Whether rows() would take the line at data[start:] (given room for a row)."},
    {"rows", rows, METH_VARARGS,
     "rows(data, start, max_rows, line_no, file_id, ingested, ingested_us, sticky, spec, known_patterns,\n"
     "     batch_pattern_counts)\n"
     "-> (stop, rows_bytes, rows, lines, errors, months, sticky)\n\n"
     "COPY rows for the run of lines at data[start:]; see logpipe.ingest.lane."},
    {"shape_keys", shape_keys, METH_VARARGS,
     "shape_keys(message, spec) -> the keys after each stage\n\n"
     "The keys rows() looks a plain message up by, for tests to hold against the miner's."},
    {"json_fields", json_fields, METH_O,
     "json_fields(line) -> str | None\n\n"
     "The compact JSON the lane writes for a JSON line it takes, or None: for tests to hold against orjson."},
    {"admits", admits, METH_VARARGS,
     "admits(program, line: bytes) -> bool | None\n\n"
     "What the lane's guard test says of a line (None: it cannot tell), for tests to hold against re."},
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
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "SPEC_VERSION", LANE_SPEC_VERSION) < 0)
        Py_CLEAR(m);
    return m;
}
