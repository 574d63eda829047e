/* The compiled kernel of the mpistat format: validation of whole blocks of lines, the
 * separators that cut a valid block into fields, number columns and runs of one field.
 *
 * The rules are those of humgen_storage/mpistat/patterns.py and paths.py (SPEC 2.2,
 * 2.3 and 11), written as one pass over the bytes of each line; mpistat/kernel.py
 * chooses this module or the numpy path, and the tests run both on the same inputs.
 * Every loop runs without the GIL on plain buffers; Python objects are made only for
 * results (a list of malformed lines, a bytearray of numbers, the runs).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef unsigned char uchar;

enum { PATH, SIZE, UNSIGNED, SIGNED, TYPE };

/* Field kinds in line order: mpistat's 11 fields; wrstat adds a 12th, unsigned. */
static const uchar KINDS[12] = {PATH,   SIZE, UNSIGNED, UNSIGNED, SIGNED,   SIGNED,
                                SIGNED, TYPE, UNSIGNED, UNSIGNED, UNSIGNED, UNSIGNED};

/* The largest values, as the digits a field may hold at most (no sign). */
static const char UNSIGNED_MAX[] = "18446744073709551615"; /* 2**64 - 1 */
static const char SIGNED_MAX[] = "9223372036854775807";    /* 2**63 - 1 */

static uchar BASE64_VALUE[256]; /* the 6-bit value of each alphabet character, else 0x80 */
static uchar FILE_TYPE[256];    /* fdlsbcFX */
static uchar HEX_VALUE[256];    /* the value + 1 of each hex digit, else 0 */
static uchar QUOTE_STOP[256];   /* what ends a quoted path's run of plain bytes */

static void
init_tables(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(BASE64_VALUE, 0x80, sizeof BASE64_VALUE);
    for (int i = 0; i < 64; i++)
        BASE64_VALUE[(uchar)alphabet[i]] = (uchar)i;
    for (const char *t = "fdlsbcFX"; *t; t++)
        FILE_TYPE[(uchar)*t] = 1;
    for (int i = 0; i < 10; i++)
        HEX_VALUE['0' + i] = (uchar)(i + 1);
    for (int i = 0; i < 6; i++) {
        HEX_VALUE['a' + i] = (uchar)(i + 11);
        HEX_VALUE['A' + i] = (uchar)(i + 11);
    }
    for (const char *t = "\"\\\t\n"; *t; t++)
        QUOTE_STOP[(uchar)*t] = 1;
    QUOTE_STOP[0] = 1;
}

/* Every scan below stops at a newline, and the lines looked at end with one (the block
 * is cut after its last newline), so none reads past the end of the block; those that
 * read a word or 16 bytes at once do so only while that many bytes are left before the
 * end of the block's whole lines (`end`), and go byte by byte after. */

#ifdef __SSE2__
/* 0xFF in the lanes whose byte is in [first, first + count). SSE2 compares bytes as
 * signed only: moving `first` to -128 turns the unsigned range into a signed one. */
static inline __m128i
bytes_in_range(__m128i bytes, uchar first, uchar count)
{
    __m128i moved = _mm_add_epi8(bytes, _mm_set1_epi8((char)(0x80 - first)));
    return _mm_cmplt_epi8(moved, _mm_set1_epi8((char)(-128 + count)));
}
#endif

/* Without SSE2, number fields are scanned a word of 8 bytes at a time, read
 * little-endian (the first byte lowest) so that the first byte that stops the scan is
 * the lowest set bit; elsewhere byte by byte. */
#if !defined(__SSE2__) && defined(__GNUC__) && defined(__BYTE_ORDER__) &&                    \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORD_SCAN 1
#else
#define WORD_SCAN 0
#endif

#if WORD_SCAN
/* The high bit (0x80) of each byte of the word that is not an ASCII digit. The range
 * tests run on the low 7 bits of each byte, so no carry or borrow crosses into the next
 * byte; bytes with the high bit set are never digits. */
static inline uint64_t
non_digits(uint64_t word)
{
    const uint64_t high = 0x8080808080808080u, seven_bits = 0x7F7F7F7F7F7F7F7Fu;
    uint64_t low = word & seven_bits;
    uint64_t above_nine = low + 0x4646464646464646u;              /* '9' + 1 + 0x46 = 0x80 */
    uint64_t from_zero = (low | high) - 0x3030303030303030u;       /* loses 0x80 below '0' */
    return (word | above_nine | ~from_zero) & high;
}
#endif

/* The end of the run of digits at p, or, for a run longer than `most` digits, some
 * point past the first `most` (no number field takes that many). 16 bytes at a time
 * with SSE2, else a word at a time: the byte loop's exit branch, taken after a
 * different count of digits in every field, is mispredicted about once a field, and
 * costs an instruction or more a digit. */
static inline const uchar *
digits_end(const uchar *p, const uchar *end, size_t most)
{
#ifdef __SSE2__
    const uchar *start = p;
    while (end - p >= 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)p);
        unsigned digits = (unsigned)_mm_movemask_epi8(bytes_in_range(chunk, '0', 10));
        if (digits != 0xFFFFu)
            return p + __builtin_ctz(~digits);
        p += 16;
        if ((size_t)(p - start) > most)
            return p;
    }
#elif WORD_SCAN
    const uchar *start = p;
    while (end - p >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        uint64_t stops = non_digits(word);
        if (stops)
            return p + (__builtin_ctzll(stops) >> 3);
        p += 8;
        if ((size_t)(p - start) > most)
            return p;
    }
#endif
    while ((unsigned)(*p - '0') < 10)
        p++;
    return p;
}

/* The end of a number of at most the digits of `limit` (and at most its value when it
 * has as many), or NULL. */
static inline const uchar *
number_end(const uchar *p, const uchar *end, const char *limit, size_t limit_digits)
{
    const uchar *start = p;
#ifdef __SSE2__
    /* Most numbers end within 16 bytes: then they have fewer digits than any limit (19
     * or 20), and only an empty one is wrong, so that one load and mask decide. */
    if (end - p >= 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)p);
        unsigned digits = (unsigned)_mm_movemask_epi8(bytes_in_range(chunk, '0', 10));
        if (digits != 0xFFFFu)
            return digits & 1u ? p + __builtin_ctz(~digits) : NULL;
        /* 16 digits or more (Lustre's inode numbers have 18): the next 16 decide, when
         * they lie before `end`, as none of the limits has 32 digits. */
        if (end - p >= 32) {
            chunk = _mm_loadu_si128((const __m128i *)(p + 16));
            digits = (unsigned)_mm_movemask_epi8(bytes_in_range(chunk, '0', 10));
            p += 16 + __builtin_ctz(~digits | 0x10000u);
        } else {
            p = digits_end(p + 16, end, limit_digits - 16);
        }
    } else {
        p = digits_end(p, end, limit_digits);
    }
#else
    p = digits_end(p, end, limit_digits);
#endif
    size_t digits = (size_t)(p - start);
    if (digits == 0 || digits > limit_digits)
        return NULL;
    if (digits == limit_digits && memcmp(start, limit, digits) > 0)
        return NULL;
    return p;
}

/* Whether the group of four 6-bit values decodes to a NUL byte: 8 zero bits in a row at
 * a byte boundary. */
static inline int
group_has_nul(unsigned v0, unsigned v1, unsigned v2, unsigned v3)
{
    unsigned bits = v0 << 18 | v1 << 12 | v2 << 6 | v3;
    return !(bits & 0xFF0000u) | !(bits & 0xFF00u) | !(bits & 0xFFu);
}

/* Whether the group of four alphabet characters at p decodes to a NUL byte. */
static inline int
group_at_has_nul(const uchar *p)
{
    return group_has_nul(BASE64_VALUE[p[0]], BASE64_VALUE[p[1]], BASE64_VALUE[p[2]],
                         BASE64_VALUE[p[3]]);
}

#ifdef __SSE2__
/* Bit i set when byte i is in the base64 alphabet. Setting 0x20 folds A-Z onto a-z and
 * nothing else onto them; '/' and the digits are one run (0x2F-0x39); '+' is alone. */
static inline unsigned
base64_alphabet_mask(__m128i bytes)
{
    __m128i letters = bytes_in_range(_mm_or_si128(bytes, _mm_set1_epi8(0x20)), 'a', 26);
    __m128i digits = bytes_in_range(bytes, '/', 11);
    __m128i plus = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('+'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letters, digits), plus));
}

/* The groups of four alphabet characters of 16 that may decode to a NUL byte, as bits
 * of a 16-bit mask (any of a group's four bits), for the exact check of those groups
 * alone; nearly always there are none. Exact for a group's first two bytes: byte 0 is
 * NUL when c0 is 'A' and c1 one of A-P, byte 1 when c1 is one of AQgw and c2 one of
 * A-D. Byte 2 (c2's value a multiple of 4, then c3 'A') is tested by c3 'A' alone,
 * which a path's bytes rarely make (0x00, 0x40, 0x80 or 0xC0 third in a group). */
static inline unsigned
nul_candidates(__m128i bytes)
{
    __m128i is_a = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('A'));
    __m128i a_to_p = bytes_in_range(bytes, 'A', 16), a_to_d = bytes_in_range(bytes, 'A', 4);
    /* A, Q, g, w: the values 0, 16, 32, 48; setting 0x10 leaves two bytes to compare. */
    __m128i with_16 = _mm_or_si128(bytes, _mm_set1_epi8(0x10));
    __m128i multiple_of_16 = _mm_or_si128(_mm_cmpeq_epi8(with_16, _mm_set1_epi8('Q')),
                                          _mm_cmpeq_epi8(with_16, _mm_set1_epi8('w')));
    /* Each lane's test and the next lane's: lane 4k holds byte 0's (c0 and c1), lane
     * 4k + 1 byte 1's (c1 and c2); the other lanes' are dropped. */
    __m128i first_byte = _mm_and_si128(is_a, _mm_srli_si128(a_to_p, 1));
    __m128i second_byte = _mm_and_si128(multiple_of_16, _mm_srli_si128(a_to_d, 1));
    unsigned pairs = (unsigned)_mm_movemask_epi8(_mm_or_si128(first_byte, second_byte));
    return (pairs & 0x3333u) | ((unsigned)_mm_movemask_epi8(is_a) & 0x8888u);
}

/* Whether one of the groups flagged by nul_candidates() (bits of the chunk at p)
 * decodes to a NUL byte. */
static inline int
flagged_group_has_nul(const uchar *p, unsigned candidates)
{
    for (; candidates; p += 4, candidates >>= 4) {
        if ((candidates & 15u) && group_at_has_nul(p))
            return 1;
    }
    return 0;
}

/* The end of the whole groups of alphabet characters at p, 16 characters a chunk while
 * 16 bytes are left before `end`, or NULL when one of them decodes to a NUL byte; sets
 * *stopped when the run of alphabet characters ended in the last chunk looked at. A
 * chunk wholly in the alphabet moves p on by a constant, so that the next chunk's load
 * and tests need not wait for this one's (the branch is predicted). */
static inline const uchar *
base64_chunks(const uchar *p, const uchar *end, int *stopped)
{
    while (end - p >= 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)p);
        unsigned alphabet = base64_alphabet_mask(chunk), candidates = nul_candidates(chunk);
        if (alphabet != 0xFFFFu) {
            /* The characters before the first outside the alphabet, in whole groups. */
            unsigned whole = (unsigned)__builtin_ctz(~alphabet) & ~3u;
            if (flagged_group_has_nul(p, candidates & ((1u << whole) - 1u)))
                return NULL;
            *stopped = 1;
            return p + whole;
        }
        if (candidates && flagged_group_has_nul(p, candidates))
            return NULL;
        p += 16;
    }
    return p;
}
#endif

/* A base64 path field starting at `start`: characters of the standard alphabet, then
 * "==" after one of AQgw or "=" after one of AEIMQUYcgkosw048 (zero padding bits), whole
 * groups of four, and no group decoding to a NUL byte. The groups before p are known
 * to be such groups, and not the last. Returns the field's end, or NULL. */
static inline const uchar *
base64_end_from(const uchar *start, const uchar *p, const uchar *end)
{
    int nul = 0, stopped = 0;
#ifdef __SSE2__
    /* Paths are long runs of the alphabet: most of a line's bytes, checked here a chunk
     * of 16 at a time instead of a table look-up and a bit test a character. */
    p = base64_chunks(p, end, &stopped);
    if (p == NULL)
        return NULL;
#endif
    while (!stopped && end - p >= 4) { /* whole groups */
        unsigned v0 = BASE64_VALUE[p[0]], v1 = BASE64_VALUE[p[1]], v2 = BASE64_VALUE[p[2]],
                 v3 = BASE64_VALUE[p[3]];
        if ((v0 | v1 | v2 | v3) & 0x80u)
            break;
        nul |= group_has_nul(v0, v1, v2, v3);
        p += 4;
    }
    /* The last group: 0 to 3 characters of the alphabet, then padding. */
    unsigned v[3] = {0, 0, 0};
    int characters = 0;
    while (characters < 3 && !(BASE64_VALUE[p[characters]] & 0x80u)) {
        v[characters] = BASE64_VALUE[p[characters]];
        characters++;
    }
    if (characters == 3 && p[3] == '=') {
        if (v[2] & 3u) /* the padding bits: AEIMQUYcgkosw048 before "=" */
            return NULL;
        nul |= !(v[0] << 2 | v[1] >> 4) | !((v[1] & 15u) << 4 | v[2] >> 2);
        p += 4;
    } else if (characters == 2 && p[2] == '=' && p[3] == '=') {
        if (v[1] & 15u) /* AQgw before "==" */
            return NULL;
        nul |= !(v[0] << 2 | v[1] >> 4);
        p += 4;
    } else if (characters || p == start) {
        return NULL; /* not whole groups, a character outside the alphabet, or nothing */
    }
    return nul ? NULL : p;
}

/* The value of `count` hex digits at p, or -1. */
static inline long
hex_value(const uchar *p, const uchar *end, int count)
{
    if (end - p < count)
        return -1;
    long value = 0;
    for (int i = 0; i < count; i++) {
        unsigned digit = HEX_VALUE[p[i]];
        if (!digit)
            return -1;
        value = value * 16 + (long)(digit - 1);
    }
    return value;
}

/* The length of the Go escape at p (p[0] is the backslash) if it stands for a byte or a
 * code point a path can hold (no NUL, no surrogate, nothing above U+10FFFF), else 0. */
static inline int
escape_length(const uchar *p, const uchar *end)
{
    if (end - p < 2)
        return 0;
    long code;
    switch (p[1]) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v':
    case '\\': case '"':
        return 2;
    case 'x':
        return hex_value(p + 2, end, 2) > 0 ? 4 : 0;
    case 'u':
        code = hex_value(p + 2, end, 4);
        return code > 0 && (code < 0xD800 || code > 0xDFFF) ? 6 : 0;
    case 'U':
        code = hex_value(p + 2, end, 8);
        return code > 0 && code <= 0x10FFFF && (code < 0xD800 || code > 0xDFFF) ? 10 : 0;
    default:
        return 0;
    }
}

/* A Go-quoted path field (wrstat): '"', one or more bytes but '"', '\\', tab, newline
 * and NUL or allowed escapes, '"'. Returns the field's end, or NULL. */
static inline const uchar *
quoted_end(const uchar *p, const uchar *end)
{
    if (p >= end || *p != '"')
        return NULL;
    const uchar *contents = ++p;
    while (p < end) {
        uchar c = *p;
        if (!QUOTE_STOP[c]) {
            p++;
        } else if (c == '"') {
            return p == contents ? NULL : p + 1;
        } else if (c == '\\') {
            int length = escape_length(p, end);
            if (!length)
                return NULL;
            p += length;
        } else { /* tab, newline, NUL */
            return NULL;
        }
    }
    return NULL;
}

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* The start of the field after the one ending at `after` (NULL: not a valid field),
 * when `after` holds `separator`, which is recorded as field `index`'s end; else NULL. */
static ALWAYS_INLINE const uchar *
next_field(const uchar *after, uchar separator, const uchar *base, Py_ssize_t *separators,
           int index)
{
    if (after == NULL || *after != separator)
        return NULL;
    separators[index] = after - base;
    return after + 1;
}

static ALWAYS_INLINE const uchar *
unsigned_end(const uchar *p, const uchar *end)
{
    return number_end(p, end, UNSIGNED_MAX, sizeof UNSIGNED_MAX - 1);
}

static ALWAYS_INLINE const uchar *
signed_end(const uchar *p, const uchar *end)
{
    return number_end(p + (*p == '-'), end, SIGNED_MAX, sizeof SIGNED_MAX - 1);
}

/* valid_line() for one format, its fields in line order (KINDS) written out: a loop
 * over the kinds chose each field's scanner and separator at run time, a few branches
 * and loads a field that straight-line code does not need. Every separator is
 * recorded. */
static ALWAYS_INLINE const uchar *
valid_fields(const uchar *p, const uchar *end, int wrstat, const uchar *base, Py_ssize_t *separators,
             Py_ssize_t known)
{
    const uchar *last = wrstat ? quoted_end(p, end) : base64_end_from(p, p + known, end);
    if (!(p = next_field(last, '\t', base, separators, 0)))
        return NULL;
    /* size: a non-negative int64 */
    if (!(p = next_field(number_end(p, end, SIGNED_MAX, sizeof SIGNED_MAX - 1), '\t', base,
                         separators, 1)))
        return NULL;
    if (!(p = next_field(unsigned_end(p, end), '\t', base, separators, 2))) /* uid */
        return NULL;
    if (!(p = next_field(unsigned_end(p, end), '\t', base, separators, 3))) /* gid */
        return NULL;
    if (!(p = next_field(signed_end(p, end), '\t', base, separators, 4))) /* atime */
        return NULL;
    if (!(p = next_field(signed_end(p, end), '\t', base, separators, 5))) /* mtime */
        return NULL;
    if (!(p = next_field(signed_end(p, end), '\t', base, separators, 6))) /* ctime */
        return NULL;
    if (!(p = next_field(FILE_TYPE[*p] ? p + 1 : NULL, '\t', base, separators, 7)))
        return NULL;
    if (!(p = next_field(unsigned_end(p, end), '\t', base, separators, 8))) /* inode */
        return NULL;
    if (!(p = next_field(unsigned_end(p, end), '\t', base, separators, 9))) /* nlink */
        return NULL;
    if (wrstat && !(p = next_field(unsigned_end(p, end), '\t', base, separators, 10))) /* dev */
        return NULL;
    last = unsigned_end(p, end); /* mpistat's dev, wrstat's 12th field */
    if (last == NULL || *last != '\n')
        return NULL;
    separators[10 + wrstat] = last - base;
    return last;
}

/* The newline ending the line at p if it is a valid record of `fields` fields (11:
 * base64 mpistat, 12: wrstat), else NULL. `end` is just after the block's last newline.
 * When `separators` is given, it receives the offset from `base` of the tab or newline
 * ending each field. */
static inline const uchar *
valid_line(const uchar *p, const uchar *end, int fields, const uchar *base, Py_ssize_t *separators)
{
    Py_ssize_t unused[12];
    if (separators == NULL)
        separators = unused;
    return fields == 12 ? valid_fields(p, end, 1, base, separators, 0)
                        : valid_fields(p, end, 0, base, separators, 0);
}

/* valid_line() for a base64 line whose path's first `known` characters (whole groups,
 * not its last) are known to be valid: those of the line before that it repeats. */
static const uchar *
valid_base64_line_from(const uchar *p, const uchar *end, const uchar *base,
                       Py_ssize_t *separators, Py_ssize_t known)
{
    return valid_fields(p, end, 0, base, separators, known);
}

/* The number of bytes at p that repeat those at `before` (an earlier place in the same
 * block), at most `most`: 16 compared at a time while 16 are left before `end`. Paths
 * of consecutive lines share most of their bytes (files of one directory), and those
 * bytes were checked and decoded for the line before. */
static inline Py_ssize_t
repeated_bytes(const uchar *p, const uchar *before, Py_ssize_t most, const uchar *end)
{
    Py_ssize_t same = 0;
#ifdef __SSE2__
    while (same < most && end - (p + same) >= 16) {
        __m128i here = _mm_loadu_si128((const __m128i *)(p + same));
        __m128i there = _mm_loadu_si128((const __m128i *)(before + same));
        unsigned equal = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(here, there));
        if (equal != 0xFFFFu) {
            same += __builtin_ctz(~equal);
            return same < most ? same : most;
        }
        same += 16;
    }
#endif
    while (same < most && p + same < end && p[same] == before[same])
        same++;
    return same < most ? same : most;
}

static int
field_count(int wrstat)
{
    return wrstat ? 12 : 11;
}

/* A growing array of line numbers, filled without the GIL. */
typedef struct {
    Py_ssize_t *items;
    Py_ssize_t count, room;
} Numbers;

static int
numbers_add(Numbers *numbers, Py_ssize_t value)
{
    if (numbers->count == numbers->room) {
        Py_ssize_t room = numbers->room ? 2 * numbers->room : 64;
        Py_ssize_t *items = realloc(numbers->items, (size_t)room * sizeof *items);
        if (!items)
            return 0;
        numbers->items = items;
        numbers->room = room;
    }
    numbers->items[numbers->count++] = value;
    return 1;
}

static PyObject *
numbers_list(Numbers *numbers)
{
    PyObject *list = PyList_New(numbers->count);
    for (Py_ssize_t i = 0; list && i < numbers->count; i++) {
        PyObject *item = PyLong_FromSsize_t(numbers->items[i]);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    free(numbers->items);
    return list;
}

static Py_ssize_t
count_newlines(const uchar *p, const uchar *end)
{
    Py_ssize_t lines = 0;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        lines++;
        p++;
    }
    return lines;
}

PyDoc_STRVAR(count_lines_doc,
"count_lines(data, /) -> int\n\n"
"The newlines in data.");

/* The reading process numbers every block by counting its newlines before any worker
 * sees it, so this is on the one serial path of a volume: 16 bytes compared at a time
 * where SSE2 is there (every x86-64), and a plain loop elsewhere. */
static Py_ssize_t
newlines_in(const uchar *p, Py_ssize_t length)
{
    Py_ssize_t lines = 0, i = 0;
#ifdef __SSE2__
    const __m128i newline = _mm_set1_epi8('\n');
    while (i + 16 <= length) {
        /* Up to 255 rounds of 16 bytes add into byte lanes before they could overflow. */
        __m128i lanes = _mm_setzero_si128();
        Py_ssize_t stop = i + 255 * 16 < length ? i + 255 * 16 : length;
        for (; i + 16 <= stop; i += 16) {
            __m128i bytes = _mm_loadu_si128((const __m128i *)(p + i));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(bytes, newline));
        }
        __m128i sums = _mm_sad_epu8(lanes, _mm_setzero_si128());
        lines += _mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4);
    }
#endif
    for (; i < length; i++)
        lines += p[i] == '\n';
    return lines;
}

static PyObject *
count_lines(PyObject *self, PyObject *args)
{
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:count_lines", &data))
        return NULL;
    Py_ssize_t lines;
    Py_BEGIN_ALLOW_THREADS
    lines = newlines_in(data.buf, data.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(lines);
}

/* The block's whole lines: up to and including its last newline. */
static const uchar *
lines_end(const uchar *base, Py_ssize_t length)
{
    while (length > 0 && base[length - 1] != '\n')
        length--;
    return base + length;
}

PyDoc_STRVAR(validate_doc,
"validate(block, wrstat, cut, /) -> tuple[list[int], bytearray | None]\n\n"
"The lines (numbered from 0) of the whole lines of block (each ending in a newline;\n"
"bytes after the last newline are not a line) that are not valid records (base64\n"
"mpistat, or wrstat when wrstat is true): empty for a clean block. With cut, and\n"
"when every line is valid, also separators(block, wrstat), made in the same pass.");

static PyObject *
validate(PyObject *self, PyObject *args)
{
    Py_buffer block;
    int wrstat, cut;
    if (!PyArg_ParseTuple(args, "y*pp:validate", &block, &wrstat, &cut))
        return NULL;
    const uchar *base = block.buf, *end = lines_end(base, block.len);
    int fields = field_count(wrstat);
    Py_ssize_t lines = 0;
    if (cut) {
        Py_BEGIN_ALLOW_THREADS
        lines = count_newlines(base, end);
        Py_END_ALLOW_THREADS
    }
    PyObject *cuts = PyByteArray_FromStringAndSize(NULL, lines * fields * (Py_ssize_t)sizeof(Py_ssize_t));
    if (!cuts) {
        PyBuffer_Release(&block);
        return NULL;
    }
    Py_ssize_t *rows = cut ? (Py_ssize_t *)PyByteArray_AS_STRING(cuts) : NULL;
    Numbers bad = {NULL, 0, 0};
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    const uchar *p = base;
    for (Py_ssize_t line = 0; ok && p < end; line++) {
        const uchar *newline = valid_line(p, end, fields, base, rows ? rows + line * fields : NULL);
        if (newline == NULL) {
            ok = numbers_add(&bad, line);
            newline = memchr(p, '\n', (size_t)(end - p));
        }
        p = newline + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    if (!ok) {
        free(bad.items);
        Py_DECREF(cuts);
        return PyErr_NoMemory();
    }
    if (!cut || bad.count) {
        Py_DECREF(cuts);
        cuts = Py_NewRef(Py_None);
    }
    PyObject *numbers = numbers_list(&bad);
    if (!numbers) {
        Py_DECREF(cuts);
        return NULL;
    }
    return Py_BuildValue("(NN)", numbers, cuts);
}

PyDoc_STRVAR(separators_doc,
"separators(block, wrstat, /) -> bytearray\n\n"
"The offset of the tab or newline ending each field of each line of block, as native\n"
"Py_ssize_t (numpy intp), one row of 11 (12: wrstat) a line. Cuts without checking\n"
"the fields (validate() checks them): ValueError when a line has another number of\n"
"fields.");

static PyObject *
separators(PyObject *self, PyObject *args)
{
    Py_buffer block;
    int wrstat;
    if (!PyArg_ParseTuple(args, "y*p:separators", &block, &wrstat))
        return NULL;
    const uchar *base = block.buf, *end = lines_end(base, block.len);
    int fields = field_count(wrstat);
    Py_ssize_t lines;
    Py_BEGIN_ALLOW_THREADS
    lines = count_newlines(base, end);
    Py_END_ALLOW_THREADS
    PyObject *out = PyByteArray_FromStringAndSize(NULL, lines * fields * (Py_ssize_t)sizeof(Py_ssize_t));
    if (!out) {
        PyBuffer_Release(&block);
        return NULL;
    }
    Py_ssize_t *row = (Py_ssize_t *)PyByteArray_AS_STRING(out);
    Py_ssize_t wrong = -1;
    Py_BEGIN_ALLOW_THREADS
    const uchar *p = base;
    for (Py_ssize_t line = 0; line < lines && wrong < 0; line++, row += fields) {
        const uchar *newline = memchr(p, '\n', (size_t)(end - p));
        for (int field = 0; field < fields - 1; field++) {
            const uchar *tab = memchr(p, '\t', (size_t)(newline - p));
            if (!tab) {
                wrong = line;
                break;
            }
            row[field] = tab - base;
            p = tab + 1;
        }
        if (wrong < 0 && memchr(p, '\t', (size_t)(newline - p)))
            wrong = line;
        row[fields - 1] = newline - base;
        p = newline + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    if (wrong >= 0) {
        Py_DECREF(out);
        return PyErr_Format(PyExc_ValueError, "line %zd of the block has not %d fields", wrong, fields);
    }
    return out;
}

PyDoc_STRVAR(column_doc,
"column(block, separators, fields, index, signed, /) -> bytearray\n\n"
"The numbers of field index (1 or more) of the rows of separators (native\n"
"Py_ssize_t, fields a row, as separators() gives them, or a selection of its rows)\n"
"of a valid block: int64 when signed, else uint64; for the type field its byte.");

static PyObject *
column(PyObject *self, PyObject *args)
{
    Py_buffer block, cuts;
    int fields, index, is_signed;
    if (!PyArg_ParseTuple(args, "y*y*iip:column", &block, &cuts, &fields, &index, &is_signed))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t row_bytes = (Py_ssize_t)fields * (Py_ssize_t)sizeof(Py_ssize_t);
    if (fields < 2 || index < 1 || index >= fields || cuts.len % row_bytes) {
        PyErr_SetString(PyExc_ValueError, "separators do not match the fields");
        goto done;
    }
    Py_ssize_t lines = cuts.len / row_bytes;
    out = PyByteArray_FromStringAndSize(NULL, lines * 8);
    if (!out)
        goto done;
    const uchar *data = block.buf;
    const Py_ssize_t *rows = cuts.buf;
    uint64_t *values = (uint64_t *)PyByteArray_AS_STRING(out);
    int bad = 0;
    int is_type = KINDS[index] == TYPE;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t line = 0; line < lines; line++) {
        Py_ssize_t start = rows[line * fields + index - 1] + 1, stop = rows[line * fields + index];
        if (start < 1 || stop > block.len || start > stop) {
            bad = 1;
            break;
        }
        const uchar *p = data + start, *end = data + stop;
        if (is_type) {
            values[line] = start < stop ? *p : 0;
            continue;
        }
        int negative = is_signed && p < end && *p == '-';
        uint64_t value = 0;
        for (p += negative; p < end; p++)
            value = value * 10u + (uint64_t)(*p - '0');
        values[line] = negative ? (uint64_t)0 - value : value;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError, "a separator lies outside the block");
    }
done:
    PyBuffer_Release(&block);
    PyBuffer_Release(&cuts);
    return out;
}

PyDoc_STRVAR(runs_doc,
"runs(block, wrstat, index, /) -> list[tuple[bytes, bytes]]\n\n"
"A block of valid lines as runs: (consecutive lines whose field index holds the same\n"
"bytes, with their newlines; that field), in order.");

static PyObject *
runs(PyObject *self, PyObject *args)
{
    Py_buffer block;
    int wrstat, index;
    if (!PyArg_ParseTuple(args, "y*pi:runs", &block, &wrstat, &index))
        return NULL;
    int fields = field_count(wrstat);
    if (index < 1 || index >= fields) {
        PyBuffer_Release(&block);
        PyErr_SetString(PyExc_ValueError, "no such field");
        return NULL;
    }
    const uchar *base = block.buf, *end = base + block.len;
    /* Each run as four offsets: its start and end, its field's start and end. */
    Numbers cuts = {NULL, 0, 0};
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    const uchar *p = base, *newline, *run_field = NULL;
    Py_ssize_t run_length = 0;
    while (ok && (newline = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        /* The field's start: after the index-th tab (a valid path holds no raw tab). */
        const uchar *start = p;
        for (int tab = 0; tab < index && start; tab++) {
            start = memchr(start, '\t', (size_t)(newline - start));
            start = start ? start + 1 : NULL;
        }
        if (!start) {
            ok = -1;
            break;
        }
        const uchar *stop = memchr(start, '\t', (size_t)(newline - start));
        if (!stop)
            stop = newline;
        Py_ssize_t length = stop - start;
        if (run_field && length == run_length && memcmp(start, run_field, (size_t)length) == 0) {
            cuts.items[cuts.count - 3] = newline + 1 - base;
        } else {
            ok = numbers_add(&cuts, p - base) && numbers_add(&cuts, newline + 1 - base) &&
                 numbers_add(&cuts, start - base) && numbers_add(&cuts, stop - base);
            run_field = start;
            run_length = length;
        }
        p = newline + 1;
    }
    Py_END_ALLOW_THREADS
    PyObject *list = NULL;
    if (ok == 1)
        list = PyList_New(cuts.count / 4);
    else if (ok == 0)
        PyErr_NoMemory();
    else
        PyErr_SetString(PyExc_ValueError, "a line has too few fields");
    for (Py_ssize_t i = 0; list && i < cuts.count / 4; i++) {
        const Py_ssize_t *run = cuts.items + 4 * i;
        PyObject *item = Py_BuildValue("(y#y#)", base + run[0], run[1] - run[0], base + run[2],
                                       run[3] - run[2]);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    free(cuts.items);
    PyBuffer_Release(&block);
    return list;
}

/* A code point as UTF-8, as Python's chr() encodes it (surrogates included): the
 * inspector and the split both decode Go-quoted paths' \u and \U escapes. */
static inline uchar *
utf8_put(uchar *out, unsigned long code)
{
    if (code < 0x80) {
        *out++ = (uchar)code;
    } else if (code < 0x800) {
        *out++ = (uchar)(0xC0 | code >> 6);
        *out++ = (uchar)(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        *out++ = (uchar)(0xE0 | code >> 12);
        *out++ = (uchar)(0x80 | (code >> 6 & 0x3F));
        *out++ = (uchar)(0x80 | (code & 0x3F));
    } else {
        *out++ = (uchar)(0xF0 | code >> 18);
        *out++ = (uchar)(0x80 | (code >> 12 & 0x3F));
        *out++ = (uchar)(0x80 | (code >> 6 & 0x3F));
        *out++ = (uchar)(0x80 | (code & 0x3F));
    }
    return out;
}

/* Each job's own block work is in a file of its own, compiled in this one translation
 * unit so that it uses the scanners above; each defines its method table entries and
 * an init function run when the module is created. */
#include "_kernel_report.c"
#include "_kernel_inspect.c"
#include "_kernel_split.c"

static PyMethodDef methods[] = {
    {"validate", validate, METH_VARARGS, validate_doc},
    {"separators", separators, METH_VARARGS, separators_doc},
    {"column", column, METH_VARARGS, column_doc},
    {"runs", runs, METH_VARARGS, runs_doc},
    {"count_lines", count_lines, METH_VARARGS, count_lines_doc},
    REPORT_METHODS
    INSPECT_METHODS
    SPLIT_METHODS
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "humgen_storage._kernel",
    "The compiled kernel of the mpistat format (see mpistat/kernel.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    init_tables();
    PyObject *created = PyModule_Create(&module);
    if (created && (report_init(created) < 0 || inspect_init(created) < 0 || split_init(created) < 0))
        Py_CLEAR(created);
    return created;
}
