/* The split's block work in the compiled kernel (included by _kernel.c).
 *
 * One pass over a block validates each line (valid_line), routes it by its gid to a
 * target (a group's file, or a count of records whose group has no file name, or
 * nowhere), tests its path against the special prefixes when its gid asks for it, and
 * notes where its output comes from: the line itself (base64), or its rewriting as
 * TreeServe's base64 line (wrstat). A second pass copies the selected lines into one
 * buffer, group after group, so that Python handles one buffer and a few numbers per
 * group and block, never an object per line or per run.
 *
 * The rules are split/select.py's (spec 6) and mpistat/paths.py's; split/blocks.py
 * builds the route table and has the Python path, and the tests compare the two.
 */

/* A route, as split/blocks.py encodes it: the target's number shifted left by two,
 * then two flags. */
enum {
    ROUTE_UNDER_PREFIX = 1, /* only lines whose path is under a special prefix */
    ROUTE_COUNT_ONLY = 2,   /* counted, not written: the group's name is no file name */
    ROUTE_SHIFT = 2,
};

static const char BASE64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The special prefixes as split/select.py compares them: a path is under one when it
 * equals it, or starts with it followed by "/" (whole components; "below" holds the
 * prefix with that slash, or as it is when it already ends with one). */
typedef struct {
    const uchar **equal, **below;
    Py_ssize_t *equal_length, *below_length;
    Py_ssize_t count;
    Py_ssize_t longest; /* the most bytes of a path any comparison looks at */
} Prefixes;

static int
under_prefix(const Prefixes *prefixes, const uchar *path, Py_ssize_t length)
{
    /* Only min(length, longest) bytes of path are decoded: enough, since a comparison
     * reads no more than its prefix's bytes, and equality also needs the same length. */
    for (Py_ssize_t i = 0; i < prefixes->count; i++) {
        Py_ssize_t n = prefixes->equal_length[i];
        if (length == n && memcmp(path, prefixes->equal[i], (size_t)n) == 0)
            return 1;
        n = prefixes->below_length[i];
        if (length >= n && memcmp(path, prefixes->below[i], (size_t)n) == 0)
            return 1;
    }
    return 0;
}

/* The first bytes (at most `limit`) of a valid base64 field's path into out; returns
 * the path's whole length. Whole groups of four are decoded: out has room for
 * limit + 2 bytes. */
static Py_ssize_t
base64_head(const uchar *field, Py_ssize_t field_length, uchar *out, Py_ssize_t limit)
{
    Py_ssize_t length = field_length / 4 * 3 - (field[field_length - 1] == '=') -
                        (field[field_length - 2] == '=');
    for (Py_ssize_t done = 0, i = 0; done < limit && i < field_length; done += 3, i += 4) {
        unsigned bits = (unsigned)BASE64_VALUE[field[i]] << 18 |
                        (unsigned)BASE64_VALUE[field[i + 1]] << 12 |
                        (unsigned)(BASE64_VALUE[field[i + 2]] & 0x3Fu) << 6 |
                        (unsigned)(BASE64_VALUE[field[i + 3]] & 0x3Fu);
        out[done] = (uchar)(bits >> 16);
        out[done + 1] = (uchar)(bits >> 8);
        out[done + 2] = (uchar)bits;
    }
    return length;
}

/* The raw bytes of a valid Go-quoted field (quotes included) into out, which has room
 * for the field's length; returns the path's length. valid_line has checked every
 * escape, so each stands for a byte or a code point a path can hold. */
static Py_ssize_t
quoted_path(const uchar *field, Py_ssize_t field_length, uchar *out)
{
    const uchar *p = field + 1, *end = field + field_length - 1;
    uchar *o = out;
    while (p < end) {
        const uchar *stop = memchr(p, '\\', (size_t)(end - p));
        if (!stop)
            stop = end;
        memcpy(o, p, (size_t)(stop - p));
        o += stop - p;
        p = stop;
        if (p == end)
            break;
        switch (p[1]) {
        case 'a': *o++ = '\a'; p += 2; break;
        case 'b': *o++ = '\b'; p += 2; break;
        case 'f': *o++ = '\f'; p += 2; break;
        case 'n': *o++ = '\n'; p += 2; break;
        case 'r': *o++ = '\r'; p += 2; break;
        case 't': *o++ = '\t'; p += 2; break;
        case 'v': *o++ = '\v'; p += 2; break;
        case 'x': *o++ = (uchar)hex_value(p + 2, end, 2); p += 4; break;
        case 'u': o = utf8_put(o, (unsigned long)hex_value(p + 2, end, 4)); p += 6; break;
        case 'U': o = utf8_put(o, (unsigned long)hex_value(p + 2, end, 8)); p += 10; break;
        default: *o++ = p[1]; p += 2; /* \\ and \" */
        }
    }
    return o - out;
}

/* The two characters of each 12-bit value: a group of three bytes is two look-ups. */
static uchar BASE64_PAIRS[4096][2];

/* Standard padded base64 of n bytes, as binascii.b2a_base64 writes it. */
static uchar *
base64_put(uchar *out, const uchar *bytes, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    for (; n - i >= 3; i += 3, out += 4) {
        unsigned bits = (unsigned)bytes[i] << 16 | (unsigned)bytes[i + 1] << 8 | bytes[i + 2];
        memcpy(out, BASE64_PAIRS[bits >> 12], 2);
        memcpy(out + 2, BASE64_PAIRS[bits & 0xFFF], 2);
    }
    if (n - i == 1) {
        unsigned bits = (unsigned)bytes[i] << 16;
        *out++ = (uchar)BASE64_ALPHABET[bits >> 18];
        *out++ = (uchar)BASE64_ALPHABET[bits >> 12 & 0x3F];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        unsigned bits = (unsigned)bytes[i] << 16 | (unsigned)bytes[i + 1] << 8;
        *out++ = (uchar)BASE64_ALPHABET[bits >> 18];
        *out++ = (uchar)BASE64_ALPHABET[bits >> 12 & 0x3F];
        *out++ = (uchar)BASE64_ALPHABET[bits >> 6 & 0x3F];
        *out++ = '=';
    }
    return out;
}

/* The index of gid in the sorted table, or -1. Runs of one gid make most look-ups the
 * previous one, which the caller keeps. */
static Py_ssize_t
route_index(const uint64_t *gids, Py_ssize_t count, uint64_t gid)
{
    Py_ssize_t low = 0, high = count;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (gids[middle] < gid)
            low = middle + 1;
        else
            high = middle;
    }
    return low < count && gids[low] == gid ? low : -1;
}

/* One target's share of a block. */
typedef struct {
    Py_ssize_t bytes, lines, dirs;
    Py_ssize_t cursor; /* where its next line is copied, in the second pass */
} Target;

/* A selected line to copy: from the block (base64) or from the rewritten lines (wrstat). */
typedef struct {
    Py_ssize_t start, length, target;
} Selected;

typedef struct {
    /* in */
    const uchar *base, *end;
    int fields;
    const uint64_t *gids;
    const int64_t *routes;
    Py_ssize_t route_count;
    Prefixes prefixes;
    /* work and out */
    Target *targets;
    Py_ssize_t *order; /* targets in the order their first line was routed to them */
    Py_ssize_t order_count;
    Selected *selected;
    Py_ssize_t selected_count, most_lines;
    uchar *rewritten; /* wrstat: the selected lines as base64 lines, one after another */
    Py_ssize_t rewritten_length;
    uchar *path; /* a decoded path */
    Numbers bad;
} SplitPass;

/* The first pass: 0 when memory ran out, -1 past the bound on lines. */
static int
split_lines(SplitPass *s)
{
    const uchar *p = s->base;
    Py_ssize_t seps[12];
    int wrstat = s->fields == 12;
    uint64_t last_gid = 0;
    Py_ssize_t last_index = -1;
    int have_last = 0;
    for (Py_ssize_t line = 0; p < s->end; line++) {
        const uchar *newline = valid_line(p, s->end, s->fields, p, seps);
        if (newline == NULL) {
            if (!numbers_add(&s->bad, line))
                return 0;
            p = memchr(p, '\n', (size_t)(s->end - p)) + 1;
            continue;
        }
        const uchar *start = p;
        p = newline + 1;
        uint64_t gid = 0; /* valid: digits, at most 2**64 - 1 */
        for (const uchar *d = start + seps[2] + 1; d < start + seps[3]; d++)
            gid = gid * 10u + (uint64_t)(*d - '0');
        if (!have_last || gid != last_gid) {
            last_index = route_index(s->gids, s->route_count, gid);
            last_gid = gid;
            have_last = 1;
        }
        if (last_index < 0)
            continue; /* never selected */
        int64_t route = s->routes[last_index];
        Py_ssize_t number = (Py_ssize_t)(route >> ROUTE_SHIFT);
        Target *target = s->targets + number;
        /* A group takes its place in the block's order with its first line of a
         * selecting gid, selected or not, as the Python path files runs. */
        if (!target->cursor) {
            target->cursor = 1;
            s->order[s->order_count++] = number;
        }
        const uchar *field = start;
        Py_ssize_t field_length = seps[0];
        Py_ssize_t path_length = -1; /* wrstat: the whole path, decoded into s->path */
        if (route & ROUTE_UNDER_PREFIX) {
            Py_ssize_t length;
            if (wrstat)
                length = path_length = quoted_path(field, field_length, s->path);
            else
                length = base64_head(field, field_length, s->path, s->prefixes.longest);
            if (!under_prefix(&s->prefixes, s->path, length))
                continue;
        }
        target->lines++;
        if (route & ROUTE_COUNT_ONLY)
            continue;
        target->dirs += start[seps[6] + 1] == 'd';
        if (s->selected_count == s->most_lines)
            return -1; /* a valid line shorter than the bound allows: a bug, not bad input */
        Selected *chosen = s->selected + s->selected_count++;
        chosen->target = number;
        if (!wrstat) {
            chosen->start = start - s->base;
            chosen->length = p - start;
        } else {
            /* TreeServe's line: the path's bytes in base64, fields 2 to 11 as they
             * are, the 12th (apparent size) dropped. */
            if (path_length < 0)
                path_length = quoted_path(field, field_length, s->path);
            uchar *out = s->rewritten + s->rewritten_length;
            uchar *o = base64_put(out, s->path, path_length);
            Py_ssize_t middle = seps[10] - seps[0];
            memcpy(o, start + seps[0], (size_t)middle);
            o += middle;
            *o++ = '\n';
            chosen->start = s->rewritten_length;
            chosen->length = o - out;
            s->rewritten_length += chosen->length;
        }
        target->bytes += chosen->length;
    }
    return 1;
}

/* The second pass: each selected line to its group's place in out. */
static void
split_copy(SplitPass *s, uchar *out)
{
    const uchar *source = s->fields == 12 ? s->rewritten : s->base;
    for (Py_ssize_t i = 0; i < s->selected_count; i++) {
        const Selected *line = s->selected + i;
        Target *target = s->targets + line->target;
        memcpy(out + target->cursor, source + line->start, (size_t)line->length);
        target->cursor += line->length;
    }
}

/* The prefixes from a tuple of (equal, below) pairs of bytes; 0 with an exception set. */
static int
prefixes_from(PyObject *pairs, Prefixes *prefixes)
{
    if (!PyTuple_Check(pairs)) {
        PyErr_SetString(PyExc_TypeError, "prefixes: a tuple of (prefix, below) pairs");
        return 0;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(pairs);
    prefixes->count = count;
    prefixes->longest = 0;
    prefixes->equal = PyMem_Calloc((size_t)count + 1, sizeof *prefixes->equal);
    prefixes->below = PyMem_Calloc((size_t)count + 1, sizeof *prefixes->below);
    prefixes->equal_length = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    prefixes->below_length = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    if (!prefixes->equal || !prefixes->below || !prefixes->equal_length || !prefixes->below_length) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(pair, 0)) || !PyBytes_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "prefixes: a tuple of (prefix, below) pairs of bytes");
            return 0;
        }
        /* The bytes belong to the tuple, which the caller's arguments keep alive. */
        PyObject *equal = PyTuple_GET_ITEM(pair, 0), *below = PyTuple_GET_ITEM(pair, 1);
        prefixes->equal[i] = (const uchar *)PyBytes_AS_STRING(equal);
        prefixes->equal_length[i] = PyBytes_GET_SIZE(equal);
        prefixes->below[i] = (const uchar *)PyBytes_AS_STRING(below);
        prefixes->below_length[i] = PyBytes_GET_SIZE(below);
        if (prefixes->equal_length[i] > prefixes->longest)
            prefixes->longest = prefixes->equal_length[i];
        if (prefixes->below_length[i] > prefixes->longest)
            prefixes->longest = prefixes->below_length[i];
    }
    return 1;
}

static void
prefixes_free(Prefixes *prefixes)
{
    PyMem_Free(prefixes->equal);
    PyMem_Free(prefixes->below);
    PyMem_Free(prefixes->equal_length);
    PyMem_Free(prefixes->below_length);
}

/* The results as Python objects: (data, groups, counted, bad). */
static PyObject *
split_results(SplitPass *s, PyObject *data)
{
    Py_ssize_t written = 0, counted = 0;
    for (Py_ssize_t i = 0; i < s->order_count; i++) {
        Target *target = s->targets + s->order[i];
        if (!target->lines)
            continue;
        if (target->bytes)
            written++;
        else
            counted++;
    }
    PyObject *groups = PyList_New(written), *counts = PyList_New(counted);
    PyObject *bad = numbers_list(&s->bad);
    s->bad.items = NULL;
    if (!groups || !counts || !bad)
        goto fail;
    Py_ssize_t g = 0, c = 0;
    for (Py_ssize_t i = 0; i < s->order_count; i++) {
        Py_ssize_t number = s->order[i];
        Target *target = s->targets + number;
        PyObject *item;
        if (!target->lines)
            continue;
        if (target->bytes) {
            /* The second pass left cursor at the group's end in data. */
            item = Py_BuildValue("(nnnn)", number, target->cursor, target->lines, target->dirs);
            if (!item)
                goto fail;
            PyList_SET_ITEM(groups, g++, item);
        } else {
            item = Py_BuildValue("(nn)", number, target->lines);
            if (!item)
                goto fail;
            PyList_SET_ITEM(counts, c++, item);
        }
    }
    return Py_BuildValue("(NNNN)", data, groups, counts, bad);
fail:
    Py_XDECREF(groups);
    Py_XDECREF(counts);
    Py_XDECREF(bad);
    Py_DECREF(data);
    return NULL;
}

PyDoc_STRVAR(split_block_doc,
"split_block(block, wrstat, gids, routes, prefixes, /) -> (data, groups, counted, bad)\n\n"
"The split's work on one block (whole lines, base64 mpistat, or wrstat when wrstat is\n"
"true): each valid line is routed by its gid, looked up in gids (sorted, native\n"
"uint64) whose routes (int64, one each) are a target's number shifted left by 2, plus\n"
"1 when only lines under one of prefixes are selected, plus 2 when selected lines are\n"
"counted but not written. A line of another gid is skipped. prefixes: a tuple of\n"
"(prefix, prefix below) pairs of raw path bytes (split/select.py). Returns data: the\n"
"selected lines (wrstat lines rewritten as TreeServe's base64 lines), group after\n"
"group; groups: (target, end in data, lines, directories) of each target written, in\n"
"the order of the first line of its gids in the block, each starting where the one\n"
"before ends; counted: (target, lines) of the targets counted; bad: the numbers (from\n"
"0) of the lines that are not valid records.");

static PyObject *
split_block(PyObject *self, PyObject *args)
{
    Py_buffer block, gids, routes;
    int wrstat;
    PyObject *pairs;
    if (!PyArg_ParseTuple(args, "y*py*y*O:split_block", &block, &wrstat, &gids, &routes, &pairs))
        return NULL;
    SplitPass s;
    memset(&s, 0, sizeof s);
    PyObject *result = NULL, *data = NULL;
    if (gids.len % 8 || gids.len != routes.len) {
        PyErr_SetString(PyExc_ValueError, "gids and routes: 8 bytes an entry, as many of each");
        goto done;
    }
    if (!prefixes_from(pairs, &s.prefixes))
        goto done;
    s.base = block.buf;
    s.end = lines_end(block.buf, block.len);
    s.fields = field_count(wrstat);
    s.gids = gids.buf;
    s.routes = routes.buf;
    s.route_count = gids.len / 8;
    Py_ssize_t target_count = 0;
    for (Py_ssize_t i = 0; i < s.route_count; i++) {
        if (s.routes[i] < 0 || (i && s.gids[i - 1] >= s.gids[i])) {
            PyErr_SetString(PyExc_ValueError, "gids must increase and routes be positive");
            goto done;
        }
        if ((Py_ssize_t)(s.routes[i] >> ROUTE_SHIFT) >= target_count)
            target_count = (Py_ssize_t)(s.routes[i] >> ROUTE_SHIFT) + 1;
    }
    /* Memory for one block, freed before returning. Only valid lines are selected, and
     * a valid line has 25 bytes at least (a path of 4 base64 characters or a quoted
     * one of 3, ten one-digit fields, the separators): a bound that spares counting
     * the lines, a pass over the whole block; pages never written are never touched.
     * A selected line's rewriting is at most 4/3 of its path's bytes plus 4. */
    Py_ssize_t length = s.end - s.base, most_lines = length / 25 + 1;
    s.targets = PyMem_Calloc((size_t)target_count + 1, sizeof *s.targets);
    s.order = PyMem_Calloc((size_t)target_count + 1, sizeof *s.order);
    s.selected = PyMem_Malloc((size_t)most_lines * sizeof *s.selected);
    s.most_lines = most_lines;
    s.path = PyMem_Malloc((size_t)length + 8);
    if (wrstat)
        s.rewritten = PyMem_Malloc((size_t)length * 2 + 8);
    if (!s.targets || !s.order || !s.selected || !s.path || (wrstat && !s.rewritten)) {
        PyErr_NoMemory();
        goto done;
    }
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = split_lines(&s);
    Py_END_ALLOW_THREADS
    if (ok < 1) {
        if (ok)
            PyErr_SetString(PyExc_SystemError, "split_block: more valid lines than bytes allow");
        else
            PyErr_NoMemory();
        goto done;
    }
    /* Each written group's place in data, in the block's order; cursor was a flag. */
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < s.order_count; i++) {
        Target *target = s.targets + s.order[i];
        target->cursor = total;
        total += target->bytes;
    }
    data = PyBytes_FromStringAndSize(NULL, total);
    if (!data)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    split_copy(&s, (uchar *)PyBytes_AS_STRING(data));
    Py_END_ALLOW_THREADS
    result = split_results(&s, data); /* takes data */
done:
    free(s.bad.items);
    PyMem_Free(s.targets);
    PyMem_Free(s.order);
    PyMem_Free(s.selected);
    PyMem_Free(s.path);
    PyMem_Free(s.rewritten);
    prefixes_free(&s.prefixes);
    PyBuffer_Release(&block);
    PyBuffer_Release(&gids);
    PyBuffer_Release(&routes);
    return result;
}

#define SPLIT_METHODS {"split_block", split_block, METH_VARARGS, split_block_doc},

static int
split_init(PyObject *module)
{
    for (int i = 0; i < 4096; i++) {
        BASE64_PAIRS[i][0] = (uchar)BASE64_ALPHABET[i >> 6];
        BASE64_PAIRS[i][1] = (uchar)BASE64_ALPHABET[i & 0x3F];
    }
    return 0;
}
