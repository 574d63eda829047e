/* The inspector's block work in the compiled kernel (included by _kernel.c).
 *
 * An InspectPlacer does, for every line of a block, what inspect/aggregate.py's
 * Python path does one record at a time: the roots' prefix test on the encoded path,
 * decoding the path, finding the row of its directory, and the file class of its
 * name. Made with a reference, it also adds most records up in their rows itself
 * (RowSums, take_sums); Python adds up, with numpy, what it returns: the records of a
 * placer made without one, and those that need Python's tables (inspect/aggregate.py,
 * inspect/compiled.py).
 *
 * Rows come from Python. A directory's row only depends on its first few components
 * when every root matches a fixed number of components (inspect/roots.py checks this
 * before a placer is made), so the placer keeps, for each directory prefix it has met,
 * what Python said about it: the row of the directory itself ("exact"), and the row
 * of every directory below it, or that one needs more components to tell ("below").
 * A directory is placed by looking its prefixes up, shortest first, until one decides;
 * only a prefix never met goes to Python (the `resolve` callback, the one place the
 * GIL is taken back). The prefixes kept are the rows, their ancestors and the few
 * places the roots rule out, so memory follows the rows, never the lines.
 *
 * Paths are decoded only when the Python path would decode them to the same bytes
 * without complaint (canonical base64, a well-formed Go quoting without NUL); any
 * other record under a root is handed back as "deferred", for the Python path to
 * decode, word its complaint and place: validated input has none.
 */

enum { ROW_NOWHERE = -1, ROW_DEEPER = -2, ROW_UNKNOWN = -3 };
/* The fields read, by their place in a line (the names say what they are; the prefix
 * keeps them apart from the other jobs' files in this one translation unit). */
enum {
    INSPECT_SIZE_FIELD = 1,
    INSPECT_GID_FIELD = 3,
    INSPECT_MTIME_FIELD = 5,
    INSPECT_TYPE_FIELD = 7,
    INSPECT_INODE_FIELD = 8,
    INSPECT_NLINK_FIELD = 9,
    INSPECT_DEV_FIELD = 10,
};
/* How a file class literal is matched, as a regex of it would: anywhere (no anchor),
 * at the start (^), at the end ($, which also matches before a final newline), or as
 * the whole name. */
enum { CLASS_CONTAINS, CLASS_STARTS, CLASS_ENDS, CLASS_WHOLE };

/* What Python said about one directory prefix. A volume keeps one for each of its rows
 * (and their ancestors) for the whole read, so each is small: a prefix is the prefix
 * one component shorter (its entry) and the bytes after it, row ids are int32 (as the
 * link table's, inspect/tables.py) and the arena's offsets 32 bits. */
typedef struct {
    uint32_t hash;        /* the low bits of the whole prefix's hash */
    uint32_t parent;      /* the entry of the prefix one component shorter, plus one; 0: none */
    uint32_t key;         /* offset in the arena of the bytes after that prefix */
    unsigned length : 31; /* their number */
    unsigned own : 1;     /* whether the prefix is its row's own directory */
    int32_t exact;        /* the prefix's own row, ROW_NOWHERE or ROW_UNKNOWN */
    int32_t below;        /* every directory below: a row, ROW_NOWHERE, ROW_DEEPER, ROW_UNKNOWN */
} DirectoryPrefix;

/* The prefix tables and the arena grow with the rows and live for the whole volume:
 * each gets memory mappings of its own, not the C heap, where every block's
 * temporaries would be placed around them and the heap keep the room they leave
 * behind as they grow (run/mapped.py does the same for the numpy tables). The
 * mappings are zero-filled, and private: a forked process gets its own copy. */
static void *
prefix_memory(size_t size)
{
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}

static void
prefix_memory_free(void *memory, size_t size)
{
    if (memory)
        munmap(memory, size);
}

typedef struct {
    const uchar *bytes;
    Py_ssize_t length;
    int kind, mode;
} ClassLiteral;

typedef struct {
    const uchar *bytes;
    Py_ssize_t length;
} RootPrefix;

/* The per-row sums of a placer made with a reference (inspect/compiled.py), for the
 * records whose numbers only add up in their row: files with nlink 0 or 1 and
 * directories, and a file for each name of a multi-link inode placed in a row. For
 * each row id: its files, its newest mtime (limited to the reference) and its bytes,
 * in column 0 and in the file's class's, each as 128 bits (low, high: exact for any
 * input). They grow with the rows, never with the lines; Python takes them in bulk
 * (take_sums) when it merges, finishes or sends a partial, instead of a row of
 * numbers a record and numpy's sums of them for every block.
 *
 * A call that fails, or hands its block back to Python (place_valid's None), has
 * added nothing: the first time a call touches a row its sums are saved, and they are
 * put back unless the call succeeds. */
typedef struct {
    int on;
    int64_t reference;   /* whole seconds: later mtimes count as this */
    Py_ssize_t columns;  /* bytes columns: all, then one per file class */
    Py_ssize_t room;     /* rows with room (mapped, prefix_memory) */
    Py_ssize_t used;     /* 1 + the highest row summed since the last take_sums */
    uint64_t *files;
    int64_t *newest;
    uint64_t *bytes;     /* a row's columns, each (low, high) */
    uint64_t *stamp;     /* the call that last saved the row */
    uint64_t call;       /* this call's number (from 1) */
    Numbers saved;       /* each row touched by this call: its id, files, newest, bytes */
    Py_ssize_t counted;  /* the records this call summed */
} RowSums;

typedef struct {
    PyObject_HEAD
    PyObject *resolve;  /* resolve(prefix: bytes, exact: bool) -> (int, bool) */
    PyObject *prefixes; /* tuple of bytes, or None: every line may lie under a root */
    PyObject *classes;  /* tuple of (bytes, kind, mode), kept for the bytes' sake */
    int wrstat;
    /* The bytes of `prefixes` and `classes`, read without the GIL (those objects are
     * immutable and kept). */
    RootPrefix *roots;
    Py_ssize_t root_count; /* -1: no prefix filter */
    ClassLiteral *literals;
    Py_ssize_t literal_count;
    /* When every literal must end the name: the bytes they end with. Most names end
     * with none of them, and are ruled out with one look-up. */
    int by_last_byte;
    uchar last_bytes[256];
    /* The prefixes met, in that order, and an open-addressing table of them (each slot
     * an entry plus one, 0: free; a power of two slots, at most half of them used), all
     * mapped (prefix_memory). */
    DirectoryPrefix *entries;
    Py_ssize_t used, entry_room;
    uint32_t *slots;
    Py_ssize_t capacity;
    uchar *arena;
    Py_ssize_t arena_used, arena_room;
    /* The last directory placed: files of one directory are usually consecutive. */
    uchar *last;
    Py_ssize_t last_length, last_room, last_row;
    int last_own, last_valid;
    uchar *path; /* a decoded path */
    Py_ssize_t path_room;
    /* What the line before told, for a line whose path repeats its first bytes (placer_line's
     * `shared`); each is for that line only, and none across calls. */
    Py_ssize_t root_longest; /* the longest root prefix */
    int root_known, root_result; /* the root prefix test of the line before */
    int path_known;              /* path holds the line before's path, decoded */
    Py_ssize_t path_field;       /* the length of that line's path field */
    int busy; /* place() runs without the GIL: a second caller must not share the tables */
    RowSums sums;
} Placer;

static uint64_t
prefix_hash_step(uint64_t hash, uchar byte)
{
    return (hash ^ byte) * 0x100000001b3ULL; /* FNV-1a */
}

static const uint64_t PREFIX_HASH_START = 0xcbf29ce484222325ULL;

/* Room for `want` bytes in *buffer; 0 when out of memory. */
static int
placer_reserve(uchar **buffer, Py_ssize_t *room, Py_ssize_t want)
{
    if (want <= *room)
        return 1;
    Py_ssize_t bigger = *room ? *room : 256;
    while (bigger < want)
        bigger *= 2;
    uchar *grown = realloc(*buffer, (size_t)bigger);
    if (!grown)
        return 0;
    *buffer = grown;
    *room = bigger;
    return 1;
}

static int
placer_grow_slots(Placer *self)
{
    Py_ssize_t capacity = self->capacity ? 2 * self->capacity : 2048;
    if ((uint64_t)capacity > (uint64_t)UINT32_MAX + 1)
        return 0; /* the entries' hashes have 32 bits */
    uint32_t *slots = prefix_memory((size_t)capacity * sizeof *slots);
    if (!slots)
        return 0;
    uint32_t mask = (uint32_t)(capacity - 1);
    for (Py_ssize_t entry = 0; entry < self->used; entry++) {
        uint32_t at = self->entries[entry].hash & mask;
        while (slots[at])
            at = (at + 1) & mask;
        slots[at] = (uint32_t)entry + 1;
    }
    prefix_memory_free(self->slots, (size_t)self->capacity * sizeof *slots);
    self->slots = slots;
    self->capacity = capacity;
    return 1;
}

static int
placer_grow_entries(Placer *self)
{
    Py_ssize_t room = self->entry_room ? 2 * self->entry_room : 1024;
    if ((uint64_t)room >= UINT32_MAX)
        return 0; /* an entry plus one fills a slot */
    DirectoryPrefix *entries = prefix_memory((size_t)room * sizeof *entries);
    if (!entries)
        return 0;
    if (self->used)
        memcpy(entries, self->entries, (size_t)self->used * sizeof *entries);
    prefix_memory_free(self->entries, (size_t)self->entry_room * sizeof *entries);
    self->entries = entries;
    self->entry_room = room;
    return 1;
}

/* Room for `length` more bytes in the arena; 0 when out of memory or past the 32-bit
 * offsets. */
static int
placer_arena_reserve(Placer *self, Py_ssize_t length)
{
    Py_ssize_t want = self->arena_used + length;
    if (want <= self->arena_room)
        return 1;
    if ((uint64_t)want > UINT32_MAX)
        return 0;
    Py_ssize_t room = self->arena_room ? self->arena_room : 64 * 1024;
    while (room < want)
        room *= 2;
    uchar *arena = prefix_memory((size_t)room);
    if (!arena)
        return 0;
    if (self->arena_used)
        memcpy(arena, self->arena, (size_t)self->arena_used);
    prefix_memory_free(self->arena, (size_t)self->arena_room);
    self->arena = arena;
    self->arena_room = room;
    return 1;
}

/* The entry of the prefix made of prefix `parent` (an entry plus one; 0: none) and the
 * `length` bytes at `tail` (hash: the whole prefix's), added as unknown if new; -1 when
 * out of memory. */
static Py_ssize_t
placer_prefix(Placer *self, uint32_t parent, const uchar *tail, Py_ssize_t length,
              uint64_t hash)
{
    if (2 * (self->used + 1) > self->capacity && !placer_grow_slots(self))
        return -1;
    uint32_t low = (uint32_t)hash, mask = (uint32_t)(self->capacity - 1), at = low & mask;
    for (; self->slots[at]; at = (at + 1) & mask) {
        Py_ssize_t found = (Py_ssize_t)self->slots[at] - 1;
        const DirectoryPrefix *entry = &self->entries[found];
        if (entry->hash == low && entry->parent == parent && entry->length == length &&
            memcmp(self->arena + entry->key, tail, (size_t)length) == 0)
            return found;
    }
    if (length > INT32_MAX)
        return -1; /* longer than any path a line can hold */
    if (self->used == self->entry_room && !placer_grow_entries(self))
        return -1;
    if (!placer_arena_reserve(self, length))
        return -1;
    memcpy(self->arena + self->arena_used, tail, (size_t)length);
    self->entries[self->used] = (DirectoryPrefix){.hash = low,
                                                  .parent = parent,
                                                  .key = (uint32_t)self->arena_used,
                                                  .length = (unsigned)length,
                                                  .own = 0,
                                                  .exact = ROW_UNKNOWN,
                                                  .below = ROW_UNKNOWN};
    self->arena_used += length;
    self->slots[at] = (uint32_t)self->used + 1;
    return self->used++;
}

/* Asks Python about `prefix`, the bytes of `entry` (with the GIL, given back after); 0
 * with an exception set on failure. */
static int
placer_ask(Placer *self, Py_ssize_t entry, const uchar *prefix, Py_ssize_t length, int exact,
           PyThreadState **save)
{
    PyEval_RestoreThread(*save);
    Py_ssize_t value = ROW_UNKNOWN;
    int own = 0;
    PyObject *answer = PyObject_CallFunction(self->resolve, "y#O", (const char *)prefix, length,
                                             exact ? Py_True : Py_False);
    if (answer && !PyTuple_Check(answer))
        PyErr_SetString(PyExc_TypeError, "resolve must give a tuple (value, own)");
    else if (answer && PyArg_ParseTuple(answer, "np:resolve", &value, &own)) {
        if (value < (exact ? ROW_NOWHERE : ROW_DEEPER) || value > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "resolve gave %zd", value);
            value = ROW_UNKNOWN;
        } else if (exact) {
            self->entries[entry].exact = (int32_t)value;
            self->entries[entry].own = own != 0;
        } else {
            self->entries[entry].below = (int32_t)value;
        }
    }
    Py_XDECREF(answer);
    *save = PyEval_SaveThread();
    return value != ROW_UNKNOWN;
}

/* The row of directory d (*own: whether it is the row's own directory), ROW_NOWHERE, or
 * ROW_UNKNOWN with an exception set. The prefixes are d up to each of its slashes after
 * the first, then d: Python's short path splits the same components. */
static Py_ssize_t
placer_directory(Placer *self, const uchar *d, Py_ssize_t n, int *own, PyThreadState **save)
{
    *own = 0;
    if (n == 0 || d[0] != '/')
        return ROW_NOWHERE; /* no short path: Python's only start with '/' */
    if (self->last_valid && n == self->last_length && memcmp(d, self->last, (size_t)n) == 0) {
        *own = self->last_own;
        return self->last_row;
    }
    uint64_t hash = prefix_hash_step(PREFIX_HASH_START, d[0]);
    Py_ssize_t row = ROW_UNKNOWN, start = 0; /* start: where the prefix's own bytes begin */
    uint32_t parent = 0;
    for (Py_ssize_t i = 1;; i++) {
        if (i == n || d[i] == '/') {
            Py_ssize_t entry = placer_prefix(self, parent, d + start, i - start, hash);
            if (entry < 0) {
                PyEval_RestoreThread(*save);
                PyErr_NoMemory();
                *save = PyEval_SaveThread();
                return ROW_UNKNOWN;
            }
            if (i == n) {
                if (self->entries[entry].exact == ROW_UNKNOWN &&
                    !placer_ask(self, entry, d, i, 1, save))
                    return ROW_UNKNOWN;
                row = self->entries[entry].exact;
                *own = self->entries[entry].own;
                break;
            }
            if (self->entries[entry].below == ROW_UNKNOWN &&
                !placer_ask(self, entry, d, i, 0, save))
                return ROW_UNKNOWN;
            if (self->entries[entry].below != ROW_DEEPER) {
                row = self->entries[entry].below;
                break;
            }
            parent = (uint32_t)entry + 1;
            start = i;
        }
        hash = prefix_hash_step(hash, d[i]);
    }
    if (placer_reserve(&self->last, &self->last_room, n)) {
        memcpy(self->last, d, (size_t)n);
        self->last_length = n;
        self->last_row = row;
        self->last_own = *own;
        self->last_valid = 1;
    } else {
        self->last_valid = 0;
    }
    return row;
}

/* A base64 path field decoded into out, or -1 unless it is canonical (whole groups,
 * zero padding bits) and decodes to a path without a NUL byte. Its first `skip` groups
 * (never its last) are already decoded in out: those of the path decoded before, which
 * they repeat. */
static Py_ssize_t
inspect_decode_base64(const uchar *p, Py_ssize_t n, uchar *out, Py_ssize_t skip)
{
    if (n == 0 || n % 4)
        return -1;
    const uchar *end = p + n;
    uchar *o = out + 3 * skip;
    p += 4 * skip;
    /* Every group but the last: a character outside the alphabet sets 0x80 in `bad`, a
     * NUL byte a bit of `nul` (the zero-byte test of a word whose top byte is set). */
    unsigned bad = 0, nul = 0;
    for (; end - p > 4; p += 4) {
        unsigned v0 = BASE64_VALUE[p[0]], v1 = BASE64_VALUE[p[1]], v2 = BASE64_VALUE[p[2]],
                 v3 = BASE64_VALUE[p[3]];
        bad |= v0 | v1 | v2 | v3;
        uint32_t word = 0xFF000000u | v0 << 18 | v1 << 12 | v2 << 6 | v3;
        nul |= (word - 0x01010101u) & ~word & 0x80808080u;
        o[0] = (uchar)(word >> 16);
        o[1] = (uchar)(word >> 8);
        o[2] = (uchar)word;
        o += 3;
    }
    if ((bad & 0x80u) || nul)
        return -1;
    for (; p < end; p += 4) { /* the last group */
        unsigned v0 = BASE64_VALUE[p[0]], v1 = BASE64_VALUE[p[1]], v2 = BASE64_VALUE[p[2]],
                 v3 = BASE64_VALUE[p[3]];
        int bytes = 3;
        if (p[3] == '=') { /* padding: only in the last group */
            bytes = p[2] == '=' ? 1 : 2;
            v3 = 0;
            if (bytes == 1) {
                v2 = 0;
                if (v1 & 15u)
                    return -1;
            } else if (v2 & 3u) {
                return -1;
            }
        }
        if ((v0 | v1 | v2 | v3) & 0x80u)
            return -1;
        unsigned bits = v0 << 18 | v1 << 12 | v2 << 6 | v3;
        uchar decoded[3] = {(uchar)(bits >> 16), (uchar)(bits >> 8), (uchar)bits};
        for (int i = 0; i < bytes; i++) {
            nul |= !decoded[i];
            *o++ = decoded[i];
        }
    }
    return nul ? -1 : o - out;
}

/* A Go-quoted path field decoded into out (code points as UTF-8, as Python's chr()
 * encodes them), or -1 unless it is '"', bytes but '"', '\\', tab, newline and NUL or
 * escapes escape_length() allows (none stands for NUL), '"', and not empty. Escapes
 * are never longer than what they stand for, so out needs n bytes at most. */
static Py_ssize_t
inspect_decode_quoted(const uchar *p, Py_ssize_t n, uchar *out)
{
    if (n < 3 || p[0] != '"' || p[n - 1] != '"')
        return -1;
    const uchar *end = p + n - 1; /* the closing quote: no escape may take it */
    uchar *o = out;
    for (p++; p < end;) {
        uchar c = *p;
        if (!QUOTE_STOP[c]) {
            *o++ = c;
            p++;
            continue;
        }
        int length = c == '\\' ? escape_length(p, end) : 0;
        if (!length)
            return -1;
        switch (p[1]) {
        case 'a': *o++ = '\a'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = '\v'; break;
        case 'x': *o++ = (uchar)hex_value(p + 2, end, 2); break;
        case 'u': o = utf8_put(o, (unsigned long)hex_value(p + 2, end, 4)); break;
        case 'U': o = utf8_put(o, (unsigned long)hex_value(p + 2, end, 8)); break;
        default: *o++ = p[1]; /* '\\' or '"' */
        }
        p += length;
    }
    return o - out;
}

static int
class_contains(const uchar *text, Py_ssize_t n, const uchar *s, Py_ssize_t k)
{
    if (k == 0)
        return 1;
    if (k > n)
        return 0;
    for (const uchar *p = text, *last = text + n - k; p <= last; p++) {
        p = memchr(p, s[0], (size_t)(last - p + 1));
        if (!p)
            return 0;
        if (memcmp(p, s, (size_t)k) == 0)
            return 1;
    }
    return 0;
}

/* The file class of a name (its place in the configured order), or -1. */
static int
placer_class_of(const Placer *self, const uchar *name, Py_ssize_t n)
{
    /* '$' also matches before a final newline. */
    Py_ssize_t bare = n > 0 && name[n - 1] == '\n' ? n - 1 : n;
    if (self->by_last_byte && !(n > 0 && self->last_bytes[name[n - 1]]) &&
        !(bare < n && bare > 0 && self->last_bytes[name[bare - 1]]))
        return -1;
    for (Py_ssize_t i = 0; i < self->literal_count; i++) {
        const ClassLiteral *literal = &self->literals[i];
        const uchar *s = literal->bytes;
        Py_ssize_t k = literal->length;
        int found;
        switch (literal->mode) {
        case CLASS_STARTS:
            found = k <= n && memcmp(name, s, (size_t)k) == 0;
            break;
        case CLASS_ENDS:
            found = (k <= n && memcmp(name + n - k, s, (size_t)k) == 0) ||
                    (bare < n && k <= bare && memcmp(name + bare - k, s, (size_t)k) == 0);
            break;
        case CLASS_WHOLE:
            found = (k == n || k == bare) && memcmp(name, s, (size_t)k) == 0;
            break;
        default:
            found = class_contains(name, n, s, k);
        }
        if (found)
            return literal->kind;
    }
    return -1;
}

static int
placer_has_root_prefix(const Placer *self, const uchar *field, Py_ssize_t n)
{
    if (self->root_count < 0)
        return 1;
    for (Py_ssize_t i = 0; i < self->root_count; i++) {
        Py_ssize_t k = self->roots[i].length;
        if (k <= n && memcmp(field, self->roots[i].bytes, (size_t)k) == 0)
            return 1;
    }
    return 0;
}

/* Where place() puts what it finds: a row of numbers for each record, with the number
 * fields the sums need, so that Python does not cut the columns again. */
typedef struct {
    Numbers files;       /* line, row, file class, size (0 when nlink is 0), mtime */
    Numbers directories; /* line, row, is the row's own directory, mtime, gid */
    Numbers links;       /* line, row (ROW_NOWHERE: outside the roots), file class, size,
                            mtime, dev, inode */
    Numbers deferred;    /* line */
} Placed;

enum { PLACED_FILE_COLUMNS = 5, PLACED_DIRECTORY_COLUMNS = 5, PLACED_LINK_COLUMNS = 7 };

static int
placed_put(Numbers *numbers, int count, const Py_ssize_t *values)
{
    for (int i = 0; i < count; i++)
        if (!numbers_add(numbers, values[i]))
            return 0;
    return 1;
}

/* Field `index` of a line as column() reads it (the digits are not checked: the block
 * was validated), its 64 bits as a Py_ssize_t; Python views them as int64 or uint64. */
static Py_ssize_t
placed_field_value(const uchar *data, const Py_ssize_t *row, int index, int is_signed)
{
    const uchar *p = data + row[index - 1] + 1, *end = data + row[index];
    int negative = is_signed && p < end && *p == '-';
    uint64_t value = 0;
    for (p += negative; p < end; p++)
        value = value * 10u + (uint64_t)(*p - '0');
    return (Py_ssize_t)(negative ? (uint64_t)0 - value : value);
}

/* A file with nlink > 1: the link table takes every name, placed or not. */
static int
placed_put_link(Placed *placed, const uchar *data, const Py_ssize_t *row, Py_ssize_t line,
         Py_ssize_t found, int kind)
{
    Py_ssize_t values[PLACED_LINK_COLUMNS] = {
        line,
        found,
        kind,
        placed_field_value(data, row, INSPECT_SIZE_FIELD, 0),
        placed_field_value(data, row, INSPECT_MTIME_FIELD, 1),
        placed_field_value(data, row, INSPECT_DEV_FIELD, 0),
        placed_field_value(data, row, INSPECT_INODE_FIELD, 0),
    };
    return placed_put(&placed->links, PLACED_LINK_COLUMNS, values);
}

/* Room for row `row` in the sums; 0 when out of memory. */
static int
sums_grow(RowSums *sums, Py_ssize_t row)
{
    Py_ssize_t room = sums->room ? 2 * sums->room : 256;
    while (room <= row)
        room *= 2;
    size_t per_row = (size_t)(2 * sums->columns) * sizeof(uint64_t);
    uint64_t *files = prefix_memory((size_t)room * sizeof *files);
    int64_t *newest = prefix_memory((size_t)room * sizeof *newest);
    uint64_t *bytes = prefix_memory((size_t)room * per_row);
    uint64_t *stamp = prefix_memory((size_t)room * sizeof *stamp);
    if (!files || !newest || !bytes || !stamp) {
        prefix_memory_free(files, (size_t)room * sizeof *files);
        prefix_memory_free(newest, (size_t)room * sizeof *newest);
        prefix_memory_free(bytes, (size_t)room * per_row);
        prefix_memory_free(stamp, (size_t)room * sizeof *stamp);
        return 0;
    }
    Py_ssize_t old = sums->room;
    if (old) {
        memcpy(files, sums->files, (size_t)old * sizeof *files);
        memcpy(newest, sums->newest, (size_t)old * sizeof *newest);
        memcpy(bytes, sums->bytes, (size_t)old * per_row);
        memcpy(stamp, sums->stamp, (size_t)old * sizeof *stamp);
    }
    for (Py_ssize_t i = old; i < room; i++)
        newest[i] = INT64_MIN; /* NO_MTIME (units.py) */
    prefix_memory_free(sums->files, (size_t)old * sizeof *files);
    prefix_memory_free(sums->newest, (size_t)old * sizeof *newest);
    prefix_memory_free(sums->bytes, (size_t)old * per_row);
    prefix_memory_free(sums->stamp, (size_t)old * sizeof *stamp);
    sums->files = files;
    sums->newest = newest;
    sums->bytes = bytes;
    sums->stamp = stamp;
    sums->room = room;
    return 1;
}

/* Row `row`'s sums, ready to add to (saved first if this call has not touched it);
 * 0 when out of memory. */
static int
sums_touch(RowSums *sums, Py_ssize_t row)
{
    if (row >= sums->room && !sums_grow(sums, row))
        return 0;
    if (sums->stamp[row] == sums->call)
        return 1;
    const uint64_t *bytes = sums->bytes + row * 2 * sums->columns;
    if (!numbers_add(&sums->saved, row) ||
        !numbers_add(&sums->saved, (Py_ssize_t)sums->files[row]) ||
        !numbers_add(&sums->saved, (Py_ssize_t)sums->newest[row]))
        return 0;
    for (Py_ssize_t i = 0; i < 2 * sums->columns; i++)
        if (!numbers_add(&sums->saved, (Py_ssize_t)bytes[i]))
            return 0;
    sums->stamp[row] = sums->call;
    if (row >= sums->used)
        sums->used = row + 1;
    return 1;
}

/* A record counted in row `row` (touched): its mtime, limited to the reference. */
static void
sums_mtime(RowSums *sums, Py_ssize_t row, int64_t mtime)
{
    if (mtime > sums->reference)
        mtime = sums->reference;
    if (mtime > sums->newest[row])
        sums->newest[row] = mtime;
    sums->counted++;
}

static void
sums_add_bytes(uint64_t *cell, uint64_t size)
{
    cell[0] += size;
    cell[1] += cell[0] < size; /* the carry */
}

/* A file in row `row`: counted, its mtime, its bytes in column 0 and its class's
 * (kind: -1 for none); 0 when out of memory. */
static int
sums_file(RowSums *sums, Py_ssize_t row, int kind, uint64_t size, int64_t mtime)
{
    if (!sums_touch(sums, row))
        return 0;
    sums->files[row]++;
    sums_mtime(sums, row, mtime);
    uint64_t *bytes = sums->bytes + row * 2 * sums->columns;
    sums_add_bytes(bytes, size);
    if (kind >= 0)
        sums_add_bytes(bytes + 2 * (1 + kind), size);
    return 1;
}

/* A new call: nothing touched or counted yet. */
static void
sums_begin(RowSums *sums)
{
    sums->call++;
    sums->saved.count = 0;
    sums->counted = 0;
}

/* The rows this call touched, as they were before it. */
static void
sums_undo(RowSums *sums)
{
    Py_ssize_t each = 3 + 2 * sums->columns;
    for (Py_ssize_t at = 0; at + each <= sums->saved.count; at += each) {
        const Py_ssize_t *saved = sums->saved.items + at;
        Py_ssize_t row = saved[0];
        sums->files[row] = (uint64_t)saved[1];
        sums->newest[row] = (int64_t)saved[2];
        uint64_t *bytes = sums->bytes + row * 2 * sums->columns;
        for (Py_ssize_t i = 0; i < 2 * sums->columns; i++)
            bytes[i] = (uint64_t)saved[3 + i];
    }
    sums->saved.count = 0;
    sums->counted = 0;
}

static void
sums_free(RowSums *sums)
{
    size_t room = (size_t)sums->room;
    prefix_memory_free(sums->files, room * sizeof *sums->files);
    prefix_memory_free(sums->newest, room * sizeof *sums->newest);
    prefix_memory_free(sums->bytes, room * (size_t)(2 * sums->columns) * sizeof(uint64_t));
    prefix_memory_free(sums->stamp, room * sizeof *sums->stamp);
    free(sums->saved.items);
}

/* Whether the path field is under a root's prefix (the line before's answer when the
 * field repeats every root prefix's worth of its bytes). */
static int
placer_under_root(Placer *self, const uchar *field, Py_ssize_t n, Py_ssize_t shared)
{
    int known = self->root_known && shared >= self->root_longest;
    int under = known ? self->root_result : placer_has_root_prefix(self, field, n);
    self->root_known = 1;
    self->root_result = under;
    return under;
}

/* The path field decoded into self->path: its length, or -1 when left to Python. The
 * groups it repeats of the line before's field, when that one was decoded, are not
 * decoded again (base64: a group of 4 characters is 3 bytes of its own). */
static Py_ssize_t
placer_decode(Placer *self, const uchar *field, Py_ssize_t n, Py_ssize_t shared, int path_known)
{
    if (!placer_reserve(&self->path, &self->path_room, n))
        return -2;
    if (self->wrstat)
        return inspect_decode_quoted(field, n, self->path);
    Py_ssize_t skip = 0;
    if (path_known) {
        skip = self->path_field / 4 - 1; /* never the last group: it may be padded */
        if (shared / 4 < skip)
            skip = shared / 4;
    }
    Py_ssize_t length = inspect_decode_base64(field, n, self->path, skip);
    if (length >= 0) {
        self->path_known = 1;
        self->path_field = n;
    }
    return length;
}

/* One line of a block (its separators at row, its start at line_start; `shared`: how
 * many of its first bytes repeat those of the line before, 0 for the first); 1 when
 * done, 0 out of memory, -1 with an exception set. */
static int
placer_line(Placer *self, Placed *placed, const uchar *data, Py_ssize_t line,
            Py_ssize_t line_start, const Py_ssize_t *row, PyThreadState **save, Py_ssize_t shared)
{
    /* What the line before told holds for this line only. */
    int root_known = self->root_known, path_known = self->path_known;
    self->root_known = self->path_known = 0;
    uchar type = data[row[INSPECT_TYPE_FIELD - 1] + 1];
    if (type != 'f' && type != 'd')
        return 1;
    int linked = 0, empty = 0;
    if (type == 'f') {
        const uchar *nlink = data + row[INSPECT_NLINK_FIELD - 1] + 1;
        const uchar *end = data + row[INSPECT_NLINK_FIELD];
        if (!(end - nlink == 1 && *nlink == '1')) {
            uint64_t count = (uint64_t)placed_field_value(data, row, INSPECT_NLINK_FIELD, 0);
            linked = count > 1;
            empty = count == 0;
        }
    }
    const uchar *field = data + line_start;
    Py_ssize_t field_length = row[0] - line_start;
    self->root_known = root_known;
    if (!placer_under_root(self, field, field_length, shared))
        return linked ? placed_put_link(placed, data, row, line, ROW_NOWHERE, -1) : 1;
    Py_ssize_t length = placer_decode(self, field, field_length, shared, path_known);
    if (length == -2)
        return 0;
    if (length < 0)
        return placed_put(&placed->deferred, 1, &line);
    const uchar *path = self->path;
    int own;
    if (type == 'd') {
        Py_ssize_t found = placer_directory(self, path, length, &own, save);
        if (found == ROW_UNKNOWN)
            return -1;
        if (found < 0)
            return 1;
        int64_t mtime = (int64_t)placed_field_value(data, row, INSPECT_MTIME_FIELD, 1);
        if (self->sums.on) {
            if (!sums_touch(&self->sums, found))
                return 0;
            sums_mtime(&self->sums, found, mtime);
            if (!own)
                return 1; /* all its numbers are summed: only a row's own names its gid */
        }
        Py_ssize_t values[PLACED_DIRECTORY_COLUMNS] = {
            line, found, own, (Py_ssize_t)mtime,
            placed_field_value(data, row, INSPECT_GID_FIELD, 0),
        };
        return placed_put(&placed->directories, PLACED_DIRECTORY_COLUMNS, values);
    }
    /* A file counts in its parent's row: the path up to its last slash (none: ROW_NOWHERE). */
    Py_ssize_t slash = length - 1;
    while (slash >= 0 && path[slash] != '/')
        slash--;
    Py_ssize_t found = slash > 0 ? placer_directory(self, path, slash, &own, save) : ROW_NOWHERE;
    if (found == ROW_UNKNOWN)
        return -1;
    if (found < 0)
        return linked ? placed_put_link(placed, data, row, line, found, -1) : 1;
    int kind = placer_class_of(self, path + slash + 1, length - slash - 1);
    Py_ssize_t mtime = placed_field_value(data, row, INSPECT_MTIME_FIELD, 1);
    if (linked) {
        /* A file where it is; its bytes wait in Python's link table (nlink > 1). */
        if (self->sums.on) {
            if (!sums_touch(&self->sums, found))
                return 0;
            self->sums.files[found]++;
            sums_mtime(&self->sums, found, (int64_t)mtime);
        }
        return placed_put_link(placed, data, row, line, found, kind);
    }
    Py_ssize_t size = empty ? 0 : placed_field_value(data, row, INSPECT_SIZE_FIELD, 0);
    if (self->sums.on)
        return sums_file(&self->sums, found, kind, (uint64_t)size, (int64_t)mtime);
    Py_ssize_t values[PLACED_FILE_COLUMNS] = {line, found, kind, size, mtime};
    return placed_put(&placed->files, PLACED_FILE_COLUMNS, values);
}

static PyObject *
placed_numbers_bytes(Numbers *numbers)
{
    PyObject *out = PyByteArray_FromStringAndSize(
        (const char *)numbers->items, numbers->count * (Py_ssize_t)sizeof(Py_ssize_t));
    free(numbers->items);
    numbers->items = NULL;
    return out;
}

PyDoc_STRVAR(placer_place_doc,
"place(block, separators, /) -> tuple[bytearray, bytearray, bytearray, bytearray, int]\n\n"
"The records of block (separators: native Py_ssize_t, a row of 11 (12: wrstat) a\n"
"line, as separators() cuts them) the inspector counts, as rows of native Py_ssize_t\n"
"(numbers as column() gives them, their 64 bits): files with nlink 0 or 1 placed in\n"
"a row (line, row, file class or -1, size or 0 for nlink 0, mtime); directories\n"
"placed in a row (line, row, whether it is the row's own directory, mtime, gid);\n"
"files with nlink > 1 anywhere (line, row or -1, file class or -1, size, mtime, dev,\n"
"inode); the lines under a root's prefix whose path it leaves to Python (line); and\n"
"the number of records summed. A placer made with a reference sums in its rows (see\n"
"take_sums()) the files with nlink 0 or 1, the directories, and a file for each name\n"
"of a multi-link inode placed in a row: it gives no files, only the directories that\n"
"are their row's own, and every multi-link name.");

/* Whether place() may run: made by __init__, and not placing already. */
static int
placer_ready(Placer *self)
{
    if (!self->resolve) {
        PyErr_SetString(PyExc_RuntimeError, "an InspectPlacer not made by its __init__");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "an InspectPlacer places one block at a time");
        return 0;
    }
    return 1;
}

static void
placed_free(Placed *placed)
{
    free(placed->files.items);
    free(placed->directories.items);
    free(placed->links.items);
    free(placed->deferred.items);
}

/* The end of place() and place_valid(): their tuple for status 1, else the error
 * (0: out of memory, -1: already set, -2: bad separators), the sums as they were
 * before the call. Frees `placed`. */
static PyObject *
placed_result(Placer *self, Placed *placed, int status)
{
    PyObject *out = NULL;
    if (status != 1)
        sums_undo(&self->sums);
    if (status == 1) {
        out = PyTuple_New(5);
        Numbers *parts[4] = {&placed->files, &placed->directories, &placed->links,
                             &placed->deferred};
        for (int i = 0; out && i < 4; i++) {
            PyObject *part = placed_numbers_bytes(parts[i]);
            if (!part)
                Py_CLEAR(out);
            else
                PyTuple_SET_ITEM(out, i, part);
        }
        PyObject *counted = out ? PyLong_FromSsize_t(self->sums.counted) : NULL;
        if (counted)
            PyTuple_SET_ITEM(out, 4, counted);
        else
            Py_CLEAR(out);
        if (!out)
            sums_undo(&self->sums);
    } else if (status == 0) {
        PyErr_NoMemory();
    } else if (status == -2) {
        PyErr_SetString(PyExc_ValueError, "a separator lies outside the block or out of order");
    }
    placed_free(placed);
    return out;
}

static PyObject *
placer_place(Placer *self, PyObject *args)
{
    Py_buffer block, cuts;
    if (!PyArg_ParseTuple(args, "y*y*:place", &block, &cuts))
        return NULL;
    int fields = field_count(self->wrstat);
    Py_ssize_t row_bytes = (Py_ssize_t)fields * (Py_ssize_t)sizeof(Py_ssize_t);
    PyObject *out = NULL;
    if (cuts.len % row_bytes) {
        PyErr_SetString(PyExc_ValueError, "separators do not match the fields");
        goto done;
    }
    if (!placer_ready(self))
        goto done;
    const uchar *data = block.buf;
    const Py_ssize_t *rows = cuts.buf;
    Py_ssize_t lines = cuts.len / row_bytes;
    Placed placed = {{NULL, 0, 0}, {NULL, 0, 0}, {NULL, 0, 0}, {NULL, 0, 0}};
    int status = 1;
    self->busy = 1;
    sums_begin(&self->sums);
    self->root_known = self->path_known = 0;
    PyThreadState *save = PyEval_SaveThread();
    Py_ssize_t start = 0, before = -1; /* before: where the line before starts */
    for (Py_ssize_t line = 0; status == 1 && line < lines; line++) {
        const Py_ssize_t *row = rows + line * fields;
        /* A block validated a while ago is no longer in the cache: the bytes looked at
         * a few lines on are asked for now. */
        if (line + 8 < lines) {
            const Py_ssize_t *ahead = row + 8 * fields;
            __builtin_prefetch(data + ahead[INSPECT_TYPE_FIELD - 1]);
            __builtin_prefetch(data + ahead[-1] + 1);
        }
        /* The fields read must lie in order within the block. */
        Py_ssize_t previous = start - 1;
        for (int field = 0; field < fields; field++) {
            if (row[field] <= previous || row[field] >= block.len)
                status = -2;
            previous = row[field];
        }
        if (status == 1) {
            Py_ssize_t shared = 0;
            if (before >= 0) /* the line before's path field ends at row[-fields] */
                shared = repeated_bytes(data + start, data + before, row[-fields] - before,
                                        data + block.len);
            status = placer_line(self, &placed, data, line, start, row, &save, shared);
        }
        before = start;
        start = row[fields - 1] + 1;
    }
    PyEval_RestoreThread(save);
    self->busy = 0;
    out = placed_result(self, &placed, status);
done:
    PyBuffer_Release(&block);
    PyBuffer_Release(&cuts);
    return out;
}

PyDoc_STRVAR(placer_place_valid_doc,
"place_valid(block, /) -> tuple[bytearray, bytearray, bytearray, bytearray, int] | None\n\n"
"place() for a raw block, each line validated (as validate() does) just before it is\n"
"placed; None when a line is not valid, the block does not end with a newline, or a\n"
"path is left to Python: the caller then validates and places the block the usual way\n"
"(the records already placed only made rows that those records make again, and\n"
"the sums are as they were).");

/* The validation and the placing of a line in one pass, while its bytes are in the
 * cache: placing a block after validate() went over all of it reads it from memory
 * again, and takes longer than the rules themselves. */
static PyObject *
placer_place_valid(Placer *self, PyObject *args)
{
    Py_buffer block;
    if (!PyArg_ParseTuple(args, "y*:place_valid", &block))
        return NULL;
    PyObject *out = NULL;
    if (!placer_ready(self))
        goto done;
    int fields = field_count(self->wrstat);
    const uchar *base = block.buf, *end = lines_end(base, block.len);
    int clean = end == base + block.len;
    Placed placed = {{NULL, 0, 0}, {NULL, 0, 0}, {NULL, 0, 0}, {NULL, 0, 0}};
    int status = 1;
    Py_ssize_t row[12];
    self->busy = 1;
    sums_begin(&self->sums);
    self->root_known = self->path_known = 0;
    PyThreadState *save = PyEval_SaveThread();
    const uchar *p = base, *previous = NULL; /* the line before's path field */
    Py_ssize_t previous_length = 0;
    for (Py_ssize_t line = 0; clean && status == 1 && p < end; line++) {
        Py_ssize_t shared = previous ? repeated_bytes(p, previous, previous_length, end) : 0;
        const uchar *newline;
        if (fields == 11) {
            /* The groups it repeats of the line before's valid path, but that one's last
             * (it may be padded), are valid groups. */
            Py_ssize_t known = shared < previous_length - 4 ? shared : previous_length - 4;
            newline = valid_base64_line_from(p, end, base, row, known > 0 ? known & ~3 : 0);
        } else {
            newline = valid_line(p, end, fields, base, row);
        }
        if (newline == NULL) {
            clean = 0;
            break;
        }
        status = placer_line(self, &placed, base, line, p - base, row, &save, shared);
        previous = p;
        previous_length = row[0] - (p - base);
        p = newline + 1;
    }
    PyEval_RestoreThread(save);
    self->busy = 0;
    if (status == 1 && (!clean || placed.deferred.count)) {
        sums_undo(&self->sums);
        placed_free(&placed);
        out = Py_NewRef(Py_None);
    } else {
        out = placed_result(self, &placed, status);
    }
done:
    PyBuffer_Release(&block);
    return out;
}

static int
placer_init(Placer *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"resolve", "prefixes", "wrstat", "classes", "reference", NULL};
    PyObject *resolve, *prefixes, *classes, *reference = Py_None;
    int wrstat;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOpO!|O:InspectPlacer", keywords, &resolve,
                                     &prefixes, &wrstat, &PyTuple_Type, &classes, &reference))
        return -1;
    long long reference_seconds = 0;
    if (reference != Py_None) {
        reference_seconds = PyLong_AsLongLong(reference);
        if (reference_seconds == -1 && PyErr_Occurred())
            return -1;
    }
    if (self->resolve) {
        PyErr_SetString(PyExc_RuntimeError, "an InspectPlacer is made once");
        return -1;
    }
    if (!PyCallable_Check(resolve)) {
        PyErr_SetString(PyExc_TypeError, "resolve must be callable");
        return -1;
    }
    Py_ssize_t root_count = -1;
    if (prefixes != Py_None) {
        if (!PyTuple_Check(prefixes)) {
            PyErr_SetString(PyExc_TypeError, "prefixes must be a tuple of bytes or None");
            return -1;
        }
        root_count = PyTuple_GET_SIZE(prefixes);
    }
    RootPrefix *roots = PyMem_Calloc((size_t)(root_count > 0 ? root_count : 1), sizeof *roots);
    if (!roots) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < root_count; i++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, i);
        if (!PyBytes_Check(prefix)) {
            PyMem_Free(roots);
            PyErr_SetString(PyExc_TypeError, "prefixes must be a tuple of bytes or None");
            return -1;
        }
        roots[i] = (RootPrefix){(const uchar *)PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix)};
        if (roots[i].length > self->root_longest)
            self->root_longest = roots[i].length;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(classes);
    ClassLiteral *literals = PyMem_Calloc((size_t)count + 1, sizeof *literals);
    if (!literals) {
        PyMem_Free(roots);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *bytes;
        Py_ssize_t length;
        ClassLiteral *literal = &literals[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(classes, i), "y#ii:a file class literal", &bytes,
                              &length, &literal->kind, &literal->mode)) {
            PyMem_Free(literals);
            PyMem_Free(roots);
            return -1;
        }
        if (literal->kind < 0 || literal->mode < CLASS_CONTAINS || literal->mode > CLASS_WHOLE) {
            PyMem_Free(literals);
            PyMem_Free(roots);
            PyErr_SetString(PyExc_ValueError, "a class literal's kind or mode is out of range");
            return -1;
        }
        literal->bytes = (const uchar *)bytes;
        literal->length = length;
    }
    self->by_last_byte = 1;
    for (Py_ssize_t i = 0; i < count; i++) {
        const ClassLiteral *literal = &literals[i];
        if ((literal->mode == CLASS_ENDS || literal->mode == CLASS_WHOLE) && literal->length > 0)
            self->last_bytes[literal->bytes[literal->length - 1]] = 1;
        else
            self->by_last_byte = 0;
    }
    self->resolve = Py_NewRef(resolve);
    self->prefixes = Py_NewRef(prefixes);
    self->classes = Py_NewRef(classes);
    self->wrstat = wrstat;
    self->roots = roots;
    self->root_count = root_count;
    self->literals = literals;
    self->literal_count = count;
    self->sums.on = reference != Py_None;
    self->sums.reference = (int64_t)reference_seconds;
    self->sums.columns = 1;
    for (Py_ssize_t i = 0; i < count; i++)
        if (1 + literals[i].kind >= self->sums.columns)
            self->sums.columns = 1 + literals[i].kind + 1;
    return 0;
}

static int
placer_traverse(Placer *self, visitproc visit, void *arg)
{
    Py_VISIT(self->resolve);
    Py_VISIT(self->prefixes);
    Py_VISIT(self->classes);
    return 0;
}

static int
placer_clear(Placer *self)
{
    Py_CLEAR(self->resolve);
    Py_CLEAR(self->prefixes);
    Py_CLEAR(self->classes);
    return 0;
}

static void
placer_dealloc(Placer *self)
{
    PyObject_GC_UnTrack(self);
    placer_clear(self);
    PyMem_Free(self->literals);
    PyMem_Free(self->roots);
    prefix_memory_free(self->entries, (size_t)self->entry_room * sizeof *self->entries);
    prefix_memory_free(self->slots, (size_t)self->capacity * sizeof *self->slots);
    prefix_memory_free(self->arena, (size_t)self->arena_room);
    free(self->last);
    free(self->path);
    sums_free(&self->sums);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
placer_prefixes(Placer *self, void *closure)
{
    return PyLong_FromSsize_t(self->used);
}

PyDoc_STRVAR(placer_take_sums_doc,
"take_sums() -> tuple[bytearray, bytearray, bytearray]\n\n"
"The sums of the rows up to the highest summed since the last call, which starts them\n"
"again from nothing: for each row its files (uint64), its newest mtime (int64, limited\n"
"to the reference; -2**63 for none) and its bytes (uint64 pairs low, high: the bytes\n"
"are low + high * 2**64), in column 0 and then one column per file class (the classes'\n"
"highest number + 2 columns). Empty for a placer made without a reference.");

static PyObject *
placer_take_sums(Placer *self, PyObject *unused)
{
    if (!placer_ready(self))
        return NULL;
    RowSums *sums = &self->sums;
    Py_ssize_t rows = sums->used, per_row = 2 * sums->columns * (Py_ssize_t)sizeof(uint64_t);
    PyObject *out = Py_BuildValue(
        "(NNN)", PyByteArray_FromStringAndSize((const char *)sums->files, rows * 8),
        PyByteArray_FromStringAndSize((const char *)sums->newest, rows * 8),
        PyByteArray_FromStringAndSize((const char *)sums->bytes, rows * per_row));
    if (!out)
        return NULL;
    if (rows) {
        memset(sums->files, 0, (size_t)rows * sizeof *sums->files);
        memset(sums->bytes, 0, (size_t)(rows * per_row));
        for (Py_ssize_t i = 0; i < rows; i++)
            sums->newest[i] = INT64_MIN;
    }
    sums->used = 0;
    return out;
}

static PyMethodDef placer_methods[] = {
    {"place", (PyCFunction)placer_place, METH_VARARGS, placer_place_doc},
    {"place_valid", (PyCFunction)placer_place_valid, METH_VARARGS, placer_place_valid_doc},
    {"take_sums", (PyCFunction)placer_take_sums, METH_NOARGS, placer_take_sums_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef placer_getset[] = {
    {"prefix_count", (getter)placer_prefixes, NULL, "directory prefixes kept", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(placer_doc,
"InspectPlacer(resolve, prefixes, wrstat, classes, reference=None)\n\n"
"Places the records of blocks in the inspector's rows (see place()). resolve(prefix,\n"
"exact) -> (value, own) answers for a directory prefix (bytes starting with '/'):\n"
"with exact, its own row or -1, and whether it is its row's own directory; else the\n"
"row of every directory below it, -1 for none, or -2 when more components are needed.\n"
"prefixes: the encoded prefixes of the roots (None: every path may lie under one).\n"
"classes: (literal, file class, mode) in the order they are tried; mode 0 matches\n"
"anywhere in the name, 1 at its start, 2 at its end (or before a final newline), 3\n"
"the whole name (or it but a final newline). reference (whole seconds): the placer\n"
"sums records in their rows itself (see place() and take_sums()), mtimes after it\n"
"counting as it.");

static PyTypeObject PlacerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "humgen_storage._kernel.InspectPlacer",
    .tp_basicsize = sizeof(Placer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = placer_doc,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)placer_init,
    .tp_dealloc = (destructor)placer_dealloc,
    .tp_free = PyObject_GC_Del,
    .tp_traverse = (traverseproc)placer_traverse,
    .tp_clear = (inquiry)placer_clear,
    .tp_methods = placer_methods,
    .tp_getset = placer_getset,
};

#define INSPECT_METHODS

static int
inspect_init(PyObject *module)
{
    if (PyType_Ready(&PlacerType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "InspectPlacer", (PyObject *)&PlacerType);
}
