/* The report's block work in the compiled kernel (included by _kernel.c): the figures
 * of each (gid, uid) pair, accumulated line by line in a hash table.
 *
 * The numpy path (report/aggregate.py) sorts every block by pair and sums runs; here a
 * block is one pass over its lines and no sort, and consecutive lines, which a crawl
 * mostly writes for one owner, find their pair without hashing. The table lives as long
 * as the partial aggregate, so the memory grows with the pairs (it doubles and rehashes),
 * never with the lines; its figures leave as columns (take()) when the partial is
 * pickled, merged or finished, and join the numpy table there, which gives both paths
 * one merge and one result. Multi-link files leave every block as rows for the link
 * table, as on the numpy path: which name of an inode counts is decided there, across
 * blocks and partials.
 */

/* Fields of a line, in mpistat/patterns.py's FIELDS order (wrstat's 12th is not used). */
enum { F_SIZE = 1, F_UID = 2, F_GID = 3, F_MTIME = 5, F_TYPE = 7, F_INODE = 8, F_NLINK = 9, F_DEV = 10 };

enum { LINK_COLUMNS = 5 }; /* dev, inode, gid, uid, size: report/aggregate.py's LinkRows */

typedef struct {
    uint64_t gid, uid;
    /* The exact sum of the sizes of the pair's own inodes, in two 64-bit words: sizes
     * are below 2**63, so no count of lines a machine can hold carries past the high one. */
    uint64_t bytes_low, bytes_high;
    int64_t newest; /* at most the reference; INT64_MIN (units.NO_MTIME) before its first line */
    uint64_t files, inodes;
} Pair;

typedef struct {
    PyObject_HEAD
    Pair *pairs; /* dense, in order of first appearance: new pairs of a block are its tail */
    Py_ssize_t count, room;
    /* Open addressing with linear probing: each slot holds a pair's index + 1, or 0 when
     * empty. Indices rather than pairs keep the probes in a small array and leave the
     * pairs where they are when the slots double. */
    uint32_t *slots;
    size_t slot_count; /* a power of two, kept at least twice the pairs */
    uint64_t *links;   /* scratch for a block's link rows, reused from block to block */
    Py_ssize_t link_room;
    int busy; /* an add_block runs without the GIL: a second thread must not share the table */
} PairSums;

enum { FIRST_SLOTS = 1024 };

static inline size_t
pair_hash(uint64_t gid, uint64_t uid)
{
    /* splitmix64's finalizer: ids are small and dense, the slot is the hash's low bits. */
    uint64_t h = gid * 0x9E3779B97F4A7C15u ^ uid;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
    return (size_t)(h ^ (h >> 31));
}

/* The first empty slot for a key known to be absent. */
static inline size_t
free_slot(const uint32_t *slots, size_t mask, uint64_t gid, uint64_t uid)
{
    size_t slot = pair_hash(gid, uid) & mask;
    while (slots[slot])
        slot = (slot + 1) & mask;
    return slot;
}

static int
grow_slots(PairSums *self)
{
    size_t slot_count = self->slot_count ? 2 * self->slot_count : FIRST_SLOTS;
    uint32_t *slots = calloc(slot_count, sizeof *slots);
    if (!slots)
        return 0;
    for (Py_ssize_t i = 0; i < self->count; i++)
        slots[free_slot(slots, slot_count - 1, self->pairs[i].gid, self->pairs[i].uid)] = (uint32_t)(i + 1);
    free(self->slots);
    self->slots = slots;
    self->slot_count = slot_count;
    return 1;
}

/* The index of the pair (gid, uid), added with nothing counted when new; -1 when memory
 * (or the 32-bit slot index) runs out. */
static Py_ssize_t
pair_index(PairSums *self, uint64_t gid, uint64_t uid)
{
    size_t mask = self->slot_count - 1, slot = pair_hash(gid, uid) & mask;
    for (uint32_t at; (at = self->slots[slot]) != 0; slot = (slot + 1) & mask) {
        const Pair *pair = &self->pairs[at - 1];
        if (pair->gid == gid && pair->uid == uid)
            return at - 1;
    }
    if (self->count >= (Py_ssize_t)UINT32_MAX - 1)
        return -1;
    if (self->count == self->room) {
        Py_ssize_t room = self->room ? 2 * self->room : FIRST_SLOTS / 2;
        Pair *pairs = realloc(self->pairs, (size_t)room * sizeof *pairs);
        if (!pairs)
            return -1;
        self->pairs = pairs;
        self->room = room;
    }
    if ((size_t)(self->count + 1) * 2 > self->slot_count) {
        if (!grow_slots(self))
            return -1;
        slot = free_slot(self->slots, self->slot_count - 1, gid, uid);
    }
    Pair *pair = &self->pairs[self->count];
    *pair = (Pair){gid, uid, 0, 0, INT64_MIN, 0, 0};
    self->slots[slot] = (uint32_t)(self->count + 1);
    return self->count++;
}

/* The digits between two separators (a valid block's: no sign, no overflow). */
static inline uint64_t
digits_value(const uchar *p, const uchar *end)
{
    uint64_t value = 0;
    for (; p < end; p++)
        value = value * 10u + (uint64_t)(*p - '0');
    return value;
}

/* Eight digits in one word, the first in its lowest byte: three multiply-shift-mask
 * steps (columns.py's SWAR parse) instead of a chain of eight, and no branch on each. */
static inline uint64_t
eight_digits(uint64_t word)
{
    word -= 0x3030303030303030u;
    word = (word * 10u + (word >> 8)) & 0x00FF00FF00FF00FFu;
    word = (word * 100u + (word >> 16)) & 0x0000FFFF0000FFFFu;
    return (word * 10000u + (word >> 32)) & 0xFFFFFFFFu;
}

/* The last min(digits, 8) digits before `end` as a number; the bytes before the field
 * (there are 8 bytes before `end`) become '0'. */
static inline uint64_t
last_eight_digits(const uchar *end, Py_ssize_t digits)
{
    uint64_t word;
    memcpy(&word, end - 8, 8); /* little-endian: the last digit is the highest byte */
    if (digits < 8) {
        uint64_t kept = ~(uint64_t)0 << (8 * (8 - digits));
        word = (word & kept) | (0x3030303030303030u & ~kept);
    }
    return eight_digits(word);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORD_DIGITS 1
#else
#define WORD_DIGITS 0 /* last_eight_digits reads words little-endian */
#endif

static inline uint64_t
number_value(const uchar *data, const uchar *p, const uchar *end)
{
    Py_ssize_t digits = end - p;
    /* The block's first bytes have too few before them to read a word back from. */
    if (!WORD_DIGITS || end - data < 24 || digits < 1)
        return digits_value(p, end);
    uint64_t value = last_eight_digits(end, digits);
    if (digits > 8) {
        value += last_eight_digits(end - 8, digits - 8) * 100000000u;
        if (digits > 16)
            value += last_eight_digits(end - 16, digits - 16) * 10000000000000000u;
    }
    return value;
}

static inline uint64_t
field_value(const uchar *data, const Py_ssize_t *cut, int field)
{
    return number_value(data, data + cut[field - 1] + 1, data + cut[field]);
}

static inline int64_t
time_value(const uchar *data, const Py_ssize_t *cut, int field)
{
    const uchar *p = data + cut[field - 1] + 1;
    int negative = *p == '-';
    uint64_t magnitude = number_value(data, p + negative, data + cut[field]);
    return (int64_t)(negative ? 0 - magnitude : magnitude); /* validated: within int64 */
}

/* Whether a line's separators lie in the block and in order: the lines are trusted to be
 * valid (validate() made the separators), but a wrong buffer must not read outside. */
static inline int
cut_in_block(const Py_ssize_t *cut, int fields, Py_ssize_t previous_end, Py_ssize_t length)
{
    for (int field = 0; field < fields; field++) {
        if (cut[field] <= previous_end)
            return 0;
        previous_end = cut[field];
    }
    return previous_end < length;
}

static int
add_link(PairSums *self, Py_ssize_t *count, const uint64_t row[LINK_COLUMNS])
{
    if (*count == self->link_room) {
        Py_ssize_t room = self->link_room ? 2 * self->link_room : 256;
        uint64_t *links = realloc(self->links, (size_t)room * LINK_COLUMNS * sizeof *links);
        if (!links)
            return 0;
        self->links = links;
        self->link_room = room;
    }
    memcpy(self->links + *count * LINK_COLUMNS, row, LINK_COLUMNS * sizeof *row);
    ++*count;
    return 1;
}

enum { ADDED, NO_MEMORY, BAD_SEPARATORS };

/* A block (4 MiB) has left the cache by the time validate() is done with it, and the
 * fields this loop reads are a few scattered bytes of each line: the hardware sees no
 * stream to fetch ahead, so each line's fields and separators are asked for some lines
 * before they are needed. */
enum { PREFETCH_LINES = 16 };
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)0)
#endif

/* The pair a block's previous line went to: consecutive lines, which a crawl mostly
 * writes for one owner, find theirs without hashing. */
typedef struct {
    Py_ssize_t index; /* -1 before the first line */
    uint64_t gid, uid;
} CurrentPair;

/* Fold in one valid line cut by `cut` (the offsets from `data` of its fields' ends). */
static inline int
add_line(PairSums *self, const uchar *data, const Py_ssize_t *cut, int64_t reference,
         CurrentPair *current, Py_ssize_t *link_count)
{
    uint64_t gid = field_value(data, cut, F_GID), uid = field_value(data, cut, F_UID);
    if (current->index < 0 || gid != current->gid || uid != current->uid) {
        if ((current->index = pair_index(self, gid, uid)) < 0)
            return NO_MEMORY;
        current->gid = gid;
        current->uid = uid;
    }
    Pair *pair = &self->pairs[current->index];
    uint64_t size = field_value(data, cut, F_SIZE), nlink = field_value(data, cut, F_NLINK);
    uchar type = data[cut[F_TYPE - 1] + 1];
    /* A file with other names waits in the link rows (directories have nlink >= 2
     * too, but one name); nlink 0 (deleted mid-crawl) is no inode and adds 0 bytes. */
    int linked = nlink > 1 && type != 'd', own_inode = nlink > 0 && !linked;
    if (own_inode) {
        pair->bytes_low += size;
        pair->bytes_high += pair->bytes_low < size;
        pair->inodes++;
    }
    pair->files += type == 'f';
    /* A later mtime was being written as the crawler passed: it counts as the
     * reference, as on the numpy path. */
    int64_t mtime = time_value(data, cut, F_MTIME);
    if (mtime > reference)
        mtime = reference;
    if (mtime > pair->newest)
        pair->newest = mtime;
    if (linked) {
        uint64_t row[LINK_COLUMNS] = {field_value(data, cut, F_DEV), field_value(data, cut, F_INODE),
                                      gid, uid, size};
        if (!add_link(self, link_count, row))
            return NO_MEMORY;
    }
    return ADDED;
}

/* The accumulation of add_block, without the GIL. */
static int
add_lines(PairSums *self, const uchar *data, Py_ssize_t length, const Py_ssize_t *rows,
          Py_ssize_t lines, int fields, int64_t reference, Py_ssize_t *link_count)
{
    CurrentPair current = {-1, 0, 0};
    for (Py_ssize_t line = 0; line < lines; line++) {
        const Py_ssize_t *cut = rows + line * fields;
        if (!cut_in_block(cut, fields, line ? cut[-1] : -1, length))
            return BAD_SEPARATORS;
        if (line + 2 * PREFETCH_LINES < lines) /* the separators before the fields they cut */
            PREFETCH(cut + 2 * PREFETCH_LINES * fields + F_SIZE);
        if (line + PREFETCH_LINES < lines) { /* the number fields: one or two cache lines */
            const Py_ssize_t *ahead = cut + PREFETCH_LINES * fields;
            if ((size_t)ahead[F_SIZE - 1] < (size_t)length && (size_t)ahead[F_DEV] < (size_t)length) {
                PREFETCH(data + ahead[F_SIZE - 1]);
                PREFETCH(data + ahead[F_DEV]);
            }
        }
        int outcome = add_line(self, data, cut, reference, &current, link_count);
        if (outcome != ADDED)
            return outcome;
    }
    return ADDED;
}

/* validate() and add_lines() in one pass: each line is checked and, when valid, added
 * while its bytes are in the cache; no separators are kept beyond the line's. The
 * numbers (from 0) of the lines that are not valid go to `bad`. */
static int
add_raw_lines(PairSums *self, const uchar *base, const uchar *end, int fields, int64_t reference,
              Py_ssize_t *lines, Numbers *bad, Py_ssize_t *link_count)
{
    CurrentPair current = {-1, 0, 0};
    Py_ssize_t cut[12];
    Py_ssize_t line = 0;
    for (const uchar *p = base; p < end; line++) {
        const uchar *newline = valid_line(p, end, fields, base, cut);
        if (newline == NULL) {
            if (!numbers_add(bad, line))
                return NO_MEMORY;
            newline = memchr(p, '\n', (size_t)(end - p));
        } else {
            int outcome = add_line(self, base, cut, reference, &current, link_count);
            if (outcome != ADDED)
                return outcome;
        }
        p = newline + 1;
    }
    *lines = line;
    return ADDED;
}

PyDoc_STRVAR(pair_sums_add_block_doc,
"add_block(block, separators, wrstat, reference, /) -> tuple[int, bytes, list[int]]\n\n"
"Fold in a block of valid lines cut by separators (as validate() or separators() give\n"
"them): each (gid, uid) pair's own-inode bytes, type-f records, own inodes and newest\n"
"mtime (at most reference). Returns the block's lines, its link rows (dev, inode, gid,\n"
"uid, size of each line with nlink > 1 that is not a directory, native uint64, in line\n"
"order) and the gids of the pairs it added.");

/* Marks the table busy for a block added without the GIL; 0 with an exception set when
 * another thread is adding one, or the first slots cannot be had. */
static int
start_adding(PairSums *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "PairSums is adding a block in another thread");
        return 0;
    }
    if (!self->slots && !grow_slots(self)) {
        PyErr_NoMemory();
        return 0;
    }
    self->busy = 1;
    return 1;
}

/* (lines, the block's link rows, the gids of the pairs added since `before`). */
static PyObject *
block_result(PairSums *self, Py_ssize_t before, Py_ssize_t lines, Py_ssize_t link_count)
{
    PyObject *gids = PyList_New(self->count - before);
    for (Py_ssize_t i = before; gids && i < self->count; i++) {
        PyObject *gid = PyLong_FromUnsignedLongLong(self->pairs[i].gid);
        if (!gid) {
            Py_CLEAR(gids);
            break;
        }
        PyList_SET_ITEM(gids, i - before, gid);
    }
    if (!gids)
        return NULL;
    return Py_BuildValue("(ny#N)", lines, link_count ? (const char *)self->links : "",
                         link_count * LINK_COLUMNS * (Py_ssize_t)sizeof(uint64_t), gids);
}

static PyObject *
pair_sums_add_block(PairSums *self, PyObject *args)
{
    Py_buffer block, cuts;
    int wrstat;
    long long reference;
    if (!PyArg_ParseTuple(args, "y*y*pL:add_block", &block, &cuts, &wrstat, &reference))
        return NULL;
    PyObject *result = NULL;
    int fields = field_count(wrstat);
    Py_ssize_t row_bytes = (Py_ssize_t)fields * (Py_ssize_t)sizeof(Py_ssize_t);
    if (cuts.len % row_bytes) {
        PyErr_SetString(PyExc_ValueError, "separators do not match the fields");
        goto done;
    }
    if (!start_adding(self))
        goto done;
    Py_ssize_t lines = cuts.len / row_bytes, before = self->count, link_count = 0;
    int outcome;
    Py_BEGIN_ALLOW_THREADS
    outcome = add_lines(self, block.buf, block.len, cuts.buf, lines, fields, (int64_t)reference,
                        &link_count);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    /* A failure leaves the lines before it counted: the caller's job fails with it. */
    if (outcome == NO_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    if (outcome == BAD_SEPARATORS) {
        PyErr_SetString(PyExc_ValueError, "a separator lies outside the block or out of order");
        goto done;
    }
    result = block_result(self, before, lines, link_count);
done:
    PyBuffer_Release(&block);
    PyBuffer_Release(&cuts);
    return result;
}

PyDoc_STRVAR(pair_sums_add_raw_block_doc,
"add_raw_block(block, wrstat, reference, /) -> tuple[int, bytes, list[int], list[int]]\n\n"
"validate() and add_block() in one pass over the whole lines of block: each valid line\n"
"is added as add_block adds it. Returns add_block's lines (every line of the block,\n"
"valid or not), link rows and new gids, and the numbers (from 0) of the lines that\n"
"are not valid records.");

static PyObject *
pair_sums_add_raw_block(PairSums *self, PyObject *args)
{
    Py_buffer block;
    int wrstat;
    long long reference;
    if (!PyArg_ParseTuple(args, "y*pL:add_raw_block", &block, &wrstat, &reference))
        return NULL;
    PyObject *result = NULL;
    if (!start_adding(self))
        goto done;
    const uchar *base = block.buf, *end = lines_end(base, block.len);
    Py_ssize_t lines = 0, before = self->count, link_count = 0;
    Numbers bad = {NULL, 0, 0};
    int outcome;
    Py_BEGIN_ALLOW_THREADS
    outcome = add_raw_lines(self, base, end, field_count(wrstat), (int64_t)reference, &lines, &bad,
                            &link_count);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (outcome != ADDED) { /* the lines before it are counted: the caller's job fails with it */
        free(bad.items);
        PyErr_NoMemory();
        goto done;
    }
    PyObject *added = block_result(self, before, lines, link_count);
    PyObject *numbers = numbers_list(&bad);
    if (added && numbers)
        result = Py_BuildValue("(OO)", added, numbers);
    Py_XDECREF(added);
    Py_XDECREF(numbers);
done:
    PyBuffer_Release(&block);
    return result;
}

/* One column of every pair's figures, as native 64-bit words. */
#define PAIR_COLUMN(name, member)                                                             \
    static PyObject *name(const PairSums *self)                                               \
    {                                                                                         \
        PyObject *out = PyByteArray_FromStringAndSize(NULL, self->count * 8);                 \
        if (out) {                                                                            \
            uint64_t *values = (uint64_t *)PyByteArray_AS_STRING(out);                        \
            for (Py_ssize_t i = 0; i < self->count; i++)                                      \
                memcpy(values + i, &self->pairs[i].member, 8);                                \
        }                                                                                     \
        return out;                                                                           \
    }
PAIR_COLUMN(gid_column, gid)
PAIR_COLUMN(uid_column, uid)
PAIR_COLUMN(bytes_low_column, bytes_low)
PAIR_COLUMN(bytes_high_column, bytes_high)
PAIR_COLUMN(newest_column, newest)
PAIR_COLUMN(files_column, files)
PAIR_COLUMN(inodes_column, inodes)

PyDoc_STRVAR(pair_sums_take_doc,
"take() -> tuple[bytearray, ...]\n\n"
"Every pair's figures as columns of native 64-bit words, in order of first appearance:\n"
"gid, uid, the low and the high 64 bits of its bytes (uint64), newest mtime (int64),\n"
"files, inodes (uint64); the table is left empty.");

static PyObject *
pair_sums_take(PairSums *self, PyObject *unused)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "PairSums is adding a block in another thread");
        return NULL;
    }
    PyObject *columns = Py_BuildValue("(NNNNNNN)", gid_column(self), uid_column(self),
                                      bytes_low_column(self), bytes_high_column(self),
                                      newest_column(self), files_column(self), inodes_column(self));
    if (!columns)
        return NULL; /* Py_BuildValue's N releases the columns made before a failure */
    /* The slots are kept (the next partial's pairs are much the same): only emptied. */
    self->count = 0;
    if (self->slots)
        memset(self->slots, 0, self->slot_count * sizeof *self->slots);
    return columns;
}

static Py_ssize_t
pair_sums_length(PairSums *self)
{
    return self->count;
}

static PyObject *
pair_sums_slots(PairSums *self, void *unused)
{
    return PyLong_FromSize_t(self->slot_count);
}

static void
pair_sums_dealloc(PairSums *self)
{
    free(self->pairs);
    free(self->slots);
    free(self->links);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef pair_sums_methods[] = {
    {"add_block", (PyCFunction)pair_sums_add_block, METH_VARARGS, pair_sums_add_block_doc},
    {"add_raw_block", (PyCFunction)pair_sums_add_raw_block, METH_VARARGS,
     pair_sums_add_raw_block_doc},
    {"take", (PyCFunction)pair_sums_take, METH_NOARGS, pair_sums_take_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pair_sums_getset[] = {
    {"slots", (getter)pair_sums_slots, NULL, "The hash table's slots (0 before the first block).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods pair_sums_sequence = {.sq_length = (lenfunc)pair_sums_length};

static PyTypeObject PairSumsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "humgen_storage._kernel.PairSums",
    .tp_doc = PyDoc_STR("PairSums()\n\nThe report's per-(gid, uid) figures of the blocks added "
                        "so far (len: the pairs)."),
    .tp_basicsize = sizeof(PairSums),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)pair_sums_dealloc,
    .tp_methods = pair_sums_methods,
    .tp_getset = pair_sums_getset,
    .tp_as_sequence = &pair_sums_sequence,
};

#define REPORT_METHODS

static int
report_init(PyObject *module)
{
    if (PyType_Ready(&PairSumsType) < 0)
        return -1;
    Py_INCREF(&PairSumsType);
    if (PyModule_AddObject(module, "PairSums", (PyObject *)&PairSumsType) < 0) {
        Py_DECREF(&PairSumsType);
        return -1;
    }
    return 0;
}
