/* hbeat fuzzing: libFuzzer harness for the C frame decoder and verifier.
 *
 * Owns the properties the fuzzer holds _frame.c to, through its public API
 * (_frame.h) only. For every input:
 *
 *  1. hb_decode parse-only (no keyring), and with two keyrings that hold
 *     sha1, md5 and crc keys at different indexes (KR_A, KR_B). The scratch
 *     buffer is malloc'd at exactly len + HB_SCRATCH_EXTRA bytes so ASan
 *     sees any write past the documented capacity.
 *  2. Result sanity: error codes, offsets, field indexes and name spans in
 *     range; on success the `fmt` string describes exactly `scratch_used`
 *     bytes, every field obeys the docs/wire-format.md field rules, the
 *     signature and inner auth copies equal the frame bytes they name.
 *  3. Parse-only and keyring decodes agree: same error when parsing fails,
 *     same fields when both succeed, only an AUTH_* error otherwise; and
 *     the verifier's verdict equals an independent HMAC (OpenSSL HMAC())
 *     or CRC-32/POSIX (bitwise, written here) over the signed bytes.
 *  4. Round trips through hb_encode: the decoded fields re-encoded in the
 *     same form (byte-identical to the input when it carried no auth), in
 *     the other form, and signed with a key picked from the input's length
 *     and last byte, then decoded again must give the same fields (and
 *     verify). Encoding
 *     into a buffer of exactly the needed size, and one byte short, checks
 *     the writer's bounds.
 *  5. hb_verify gives hb_decode's verdict (code, offset, field, name span;
 *     form, method and key on success) for each of the three decodes.
 *  6. Templates: hb_template_new over the decoded fields with 0..5 of them
 *     variable (5 must be refused at the fifth), unsigned or signed, then
 *     hb_template_encode with the fields' own values and with slices of the
 *     input as values gives byte for byte (or error for error) what
 *     hb_encode gives for the same fields.
 *  7. Batched receive: the input sent twice, then a short valid frame,
 *     through a datagram socket pair and read by hb_rx_read with KR_A into
 *     64-byte slots (so any longer input takes the overflow path): the
 *     first copy is OVERSIZE_DATAGRAM when longer than a slot, the second
 *     gets exactly hb_verify's verdict (accepted with its bytes and info,
 *     or refused with its code, offset, field and name), the frame after
 *     it is accepted; counts add up.
 *  8. Quiet keepalives (hb_quiet_*, serial kind, on a heard board in a
 *     temporary file): a parsable input becomes a model exactly when an
 *     oracle over its decoded fields says it can be one (at most
 *     HB_QUIET_MODEL bytes and HB_QUIET_FIELDS fields, one type-0 hex seq,
 *     at most one hex ts and one ld of at most HB_LD_MAX bytes); with its
 *     own seq less one as the last seq, the input itself is quiet exactly
 *     when it verifies with KR_A, and the run taken says so; the next
 *     keepalive made from its fields (seq + 1, another ts, signed with
 *     KR_A) is quiet once, within the gap only, and not with one byte
 *     changed.
 *
 * Any disagreement calls __builtin_trap(), so libFuzzer records the input.
 */

#define _POSIX_C_SOURCE 200809L /* mkstemp, ftruncate, pwrite under -std=c11 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "_frame.h"

/* Prints which property failed, then traps (the stack shows the caller). */
#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_decode: property failed at %s:%d: %s\n", __FILE__,     \
                    __LINE__, #cond);                                                   \
            __builtin_trap();                                                           \
        }                                                                               \
    } while (0)

/* ------------------------------------------------------------------ */
/* Keyrings.                                                           */

typedef struct {
    int index;
    int method;
    const char *secret;
    size_t secret_len;
} key_spec;

static char long_secret[100];

/* KR_A mirrors tests' MULTI keyring (index 1 is the interop key). */
static const key_spec KEYS_A[] = {
    {1, HB_METHOD_SHA1, "secret", 6},
    {2, HB_METHOD_MD5, "othersecret", 11},
    {3, HB_METHOD_CRC, "", 0},
    {15, HB_METHOD_SHA1, long_secret, sizeof(long_secret)},
};
/* KR_B: the same indexes with other methods, an empty secret, a md5 key
 * longer than the HMAC block. */
static const key_spec KEYS_B[] = {
    {0, HB_METHOD_SHA1, "", 0},
    {1, HB_METHOD_MD5, "secret", 6},
    {2, HB_METHOD_CRC, "", 0},
    {3, HB_METHOD_SHA1, "othersecret", 11},
    {9, HB_METHOD_MD5, long_secret, sizeof(long_secret)},
};
#define NKEYS_A (sizeof(KEYS_A) / sizeof(KEYS_A[0]))
#define NKEYS_B (sizeof(KEYS_B) / sizeof(KEYS_B[0]))

static hb_keyring *kr_a, *kr_b;
static hb_quiet *quiet;
static hb_rx *rx_small;
static int rx_pair[2] = {-1, -1};
static char rx_tail[256];
static int32_t rx_tail_len;

static hb_keyring *make_keyring(const key_spec *keys, size_t n)
{
    hb_keyring *kr = hb_keyring_new();
    CHECK(kr != NULL);
    for (size_t i = 0; i < n; i++)
        CHECK(hb_keyring_add(kr, keys[i].index, keys[i].method, keys[i].secret,
                             keys[i].secret_len) == HB_OK);
    return kr;
}

static const key_spec *find_key(const key_spec *keys, size_t n, int index)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].index == index)
            return &keys[i];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memset(long_secret, 'k', sizeof(long_secret));
    kr_a = make_keyring(KEYS_A, NKEYS_A);
    kr_b = make_keyring(KEYS_B, NKEYS_B);
    {
        hb_error e;
        int sz = 1 << 20;
        rx_small = hb_rx_new(8, HB_RX_MIN_SLOT, &e);
        CHECK(rx_small != NULL && e.code == HB_OK);
        CHECK(hb_rx_new(0, HB_RX_MIN_SLOT, &e) == NULL && e.code == HB_BAD_ARGUMENT);
        CHECK(hb_rx_new(1, HB_RX_MAX_SLOT + 1, &e) == NULL && e.code == HB_BAD_ARGUMENT);
        CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, rx_pair) == 0);
        CHECK(setsockopt(rx_pair[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) == 0);
        CHECK(setsockopt(rx_pair[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) == 0);
        /* A short frame signed with KR_A's key 1, to follow the input. */
        CHECK(hb_keyring_set_signing(kr_a, 1) == HB_OK);
        rx_tail_len = hb_encode(HB_FORM_CLASSIC, "t", 1, "x", 1, "\1\0\0\0\1\0\0\0", "\0", 1,
                                kr_a, 0, rx_tail, sizeof(rx_tail), &e);
        CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
        CHECK(rx_tail_len > 0 && hb_verify(rx_tail, (size_t)rx_tail_len, kr_a, NULL) > 0);
    }
    {
        /* A heard board (hbeat/ipc/heardboard.py's layout), mapped, then unlinked. */
        char path[] = "/tmp/fuzz_heard_XXXXXX";
        unsigned char header[16] = "HBHEARD1";
        hb_error e;
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        header[8] = HB_QUIET_PEERS;
        CHECK(ftruncate(fd, HB_HEARD_SIZE) == 0);
        CHECK(pwrite(fd, header, sizeof(header), 0) == (ssize_t)sizeof(header));
        close(fd);
        CHECK(hb_quiet_new(path, 0, &e) == NULL && e.code == HB_BAD_ARGUMENT);
        quiet = hb_quiet_new(path, HB_TK_SERIAL, &e);
        CHECK(quiet != NULL && e.code == HB_OK);
        unlink(path);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Independent digests (the oracle for the verifier).                   */

static uint32_t crc32_posix(const uint8_t *p, size_t n)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
    }
    return ~crc;
}

static int oracle_hex_only(const key_spec *k, const uint8_t *a, size_t an, const uint8_t *b,
                           size_t bn, char *hex);

/* Lowercase hex of the digest of the two spans a and b; returns its length.
 * Also holds hb_digest_hex (the codec's own one-shot digest) to it. */
static int oracle_hex(const key_spec *k, const uint8_t *a, size_t an, const uint8_t *b,
                      size_t bn, char *hex)
{
    int n = oracle_hex_only(k, a, an, b, bn, hex);
    if (bn == 0 && an > 0) {
        char mine[HB_HEX_SIZE];
        int m = hb_digest_hex(k->method, k->secret, k->secret_len, (const char *)a, an, mine);
        CHECK(m == n && memcmp(mine, hex, (size_t)n) == 0);
    }
    return n;
}

static int oracle_hex_only(const key_spec *k, const uint8_t *a, size_t an, const uint8_t *b,
                           size_t bn, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    if (k->method == HB_METHOD_CRC) {
        /* CRC over the concatenation: feed a then b through one state. */
        uint8_t *joined = malloc(an + bn + 1);
        uint32_t crc;
        CHECK(joined != NULL);
        if (an)
            memcpy(joined, a, an);
        if (bn)
            memcpy(joined + an, b, bn);
        crc = crc32_posix(joined, an + bn);
        free(joined);
        return snprintf(hex, HB_HEX_SIZE, "%x", (unsigned)crc);
    }
    {
        const EVP_MD *md = k->method == HB_METHOD_SHA1 ? EVP_sha1() : EVP_md5();
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mlen = 0;
        uint8_t *joined = malloc(an + bn + 1);
        CHECK(joined != NULL);
        if (an)
            memcpy(joined, a, an);
        if (bn)
            memcpy(joined + an, b, bn);
        CHECK(HMAC(md, k->secret, (int)k->secret_len, joined, an + bn, mac, &mlen) != NULL);
        free(joined);
        for (unsigned i = 0; i < mlen; i++) {
            hex[2 * i] = digits[mac[i] >> 4];
            hex[2 * i + 1] = digits[mac[i] & 15];
        }
        hex[2 * mlen] = '\0';
        return (int)(2 * mlen);
    }
}

/* ------------------------------------------------------------------ */
/* Decoding into a checked view.                                        */

typedef struct {
    const uint8_t *name;
    size_t nl;
    int type;
    const uint8_t *val;
    size_t vl;
} field;

typedef struct {
    int rc;
    hb_decoded res;
    uint8_t *scratch;
    int nfields;
    field f[HB_MAX_FIELDS];
    int has_sig, has_inner;
    const uint8_t *sig, *inner;
    size_t sig_len, inner_len;
} view;

#define MAX_ITEMS 1024

typedef struct {
    const uint8_t *p;
    size_t n;
} item;

/* Splits the scratch buffer as the struct-module format `fmt` lays it out
 * ("=" then [count]code, codes b B s); returns the number of items. */
static int split_fmt(const char *fmt, const uint8_t *s, size_t used, item *items)
{
    size_t pos = 0;
    int n = 0;
    const char *c = fmt;
    CHECK(memchr(fmt, '\0', HB_FMT_SIZE) != NULL);
    if (*c == '=' || *c == '<' || *c == '>' || *c == '@' || *c == '!')
        c++;
    while (*c) {
        size_t count = 1;
        int has_count = 0;
        if (*c >= '0' && *c <= '9') {
            count = 0;
            has_count = 1;
            while (*c >= '0' && *c <= '9') {
                count = count * 10 + (size_t)(*c - '0');
                CHECK(count <= HB_MAX_FRAME);
                c++;
            }
        }
        if (*c == 's') {
            CHECK(n < MAX_ITEMS);
            CHECK(count <= used - pos);
            items[n].p = s + pos;
            items[n].n = count;
            n++;
            pos += count;
        } else if (*c == 'b' || *c == 'B') {
            CHECK(has_count || count == 1);
            for (size_t i = 0; i < count; i++) {
                CHECK(n < MAX_ITEMS);
                CHECK(pos < used);
                items[n].p = s + pos;
                items[n].n = 1;
                n++;
                pos++;
            }
        } else {
            CHECK(!"unexpected code in fmt");
        }
        c++;
    }
    CHECK(pos == used);
    return n;
}

static int name_ok(const uint8_t *name, size_t n)
{
    if (n == 0 || n > HB_MAX_NAME || name[0] == '(')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '=')
            return 0;
    return !(n == 4 && memcmp(name, "auth", 4) == 0);
}

static item items_buf[MAX_ITEMS];

/* hb_decode plus every check on its result that needs no second decode.
 * The caller frees v->scratch. */
static void decode_view(const uint8_t *data, size_t len, const hb_keyring *kr,
                        const key_spec *keys, size_t nkeys, view *v)
{
    size_t cap = len + HB_SCRATCH_EXTRA;
    hb_decoded *r = &v->res;
    v->scratch = malloc(cap);
    CHECK(v->scratch != NULL);
    v->rc = hb_decode((const char *)data, len, kr, r, (char *)v->scratch, cap);
    v->nfields = 0;
    v->has_sig = v->has_inner = 0;
    CHECK(v->rc == r->err.code);
    {
        /* hb_verify: hb_decode's checks and verdict without the output. */
        hb_error ve;
        int32_t vr = hb_verify((const char *)data, len, kr, &ve);
        if (v->rc != HB_OK) {
            CHECK(vr == -v->rc);
            CHECK(memcmp(&ve, &r->err, sizeof(ve)) == 0);
        } else {
            CHECK(vr == (r->form | r->method << 2 | (r->key_index + 1) << 4));
            CHECK(ve.code == HB_OK);
        }
        CHECK(hb_verify((const char *)data, len, kr, NULL) == vr);
    }
    if (v->rc != HB_OK) {
        /* Decode errors only; the scratch is big enough by contract. */
        CHECK(v->rc >= HB_EMPTY && v->rc <= HB_AUTH_MISMATCH);
        CHECK(r->err.offset >= 0 && (size_t)r->err.offset <= len);
        CHECK(r->err.field_index >= -1 && r->err.field_index <= HB_MAX_FIELDS);
        if (r->err.name_offset >= 0) {
            CHECK(r->err.name_length >= 0);
            CHECK((size_t)r->err.name_offset + (size_t)r->err.name_length <= len);
        }
        if (kr == NULL)
            CHECK(v->rc < HB_AUTH_MISSING || v->rc == HB_AUTH_MALFORMED);
        return;
    }

    CHECK(len >= 4);
    CHECK(r->form == HB_FORM_CLASSIC || r->form == HB_FORM_NETSTRING);
    CHECK(memcmp(data, r->form == HB_FORM_CLASSIC ? ">>>\n" : "###\n", 4) == 0);
    CHECK(r->nfields >= 0 && r->nfields <= HB_MAX_FIELDS);
    CHECK(r->scratch_used >= 0 && (size_t)r->scratch_used <= cap);
    CHECK(r->key_index >= -1 && r->key_index < HB_MAX_KEYS);
    v->has_sig = r->sig_offset >= 0;
    v->has_inner = r->inner_offset >= 0;
    CHECK(v->has_sig == (r->key_index >= 0));
    if (r->form == HB_FORM_CLASSIC)
        CHECK(!v->has_inner);
    if (v->has_sig) {
        CHECK(r->sig_length >= 3 && (size_t)r->sig_offset + (size_t)r->sig_length <= len);
        v->sig = data + r->sig_offset;
        v->sig_len = (size_t)r->sig_length;
    }
    if (v->has_inner) {
        CHECK(r->inner_length >= 0 && (size_t)r->inner_offset + (size_t)r->inner_length <= len);
        v->inner = data + r->inner_offset;
        v->inner_len = (size_t)r->inner_length;
    }
    /* Fields on the wire, auth included, are at most HB_MAX_FIELDS. */
    CHECK(r->nfields + (r->form == HB_FORM_CLASSIC ? v->has_sig : v->has_inner) <=
          HB_MAX_FIELDS);
    if (kr == NULL) {
        CHECK(r->method == HB_METHOD_NONE);
    } else {
        const key_spec *k;
        CHECK(v->has_sig);
        k = find_key(keys, nkeys, r->key_index);
        CHECK(k != NULL && r->method == k->method);
    }

    {
        int n = split_fmt(r->fmt, v->scratch, (size_t)r->scratch_used, items_buf);
        int header = n - 3 * r->nfields - v->has_sig - v->has_inner;
        const item *it;
        CHECK(header >= 0);
        it = items_buf + header;
        for (int i = 0; i < r->nfields; i++, it += 3) {
            field *fl = &v->f[i];
            CHECK(it[1].n == 1 && it[1].p[0] <= 1);
            fl->name = it[0].p;
            fl->nl = it[0].n;
            fl->type = it[1].p[0];
            fl->val = it[2].p;
            fl->vl = it[2].n;
            CHECK(name_ok(fl->name, fl->nl));
            CHECK(fl->vl <= HB_MAX_VALUE);
            if (fl->type == 0)
                CHECK(memchr(fl->val, 0, fl->vl) == NULL && memchr(fl->val, 0x13, fl->vl) == NULL);
        }
        v->nfields = r->nfields;
        if (v->has_sig) {
            CHECK(it->n == v->sig_len && memcmp(it->p, v->sig, v->sig_len) == 0);
            it++;
        }
        if (v->has_inner)
            CHECK(it->n == v->inner_len && memcmp(it->p, v->inner, v->inner_len) == 0);
    }
}

static int same_fields(const view *a, const view *b)
{
    if (a->nfields != b->nfields)
        return 0;
    for (int i = 0; i < a->nfields; i++) {
        const field *x = &a->f[i], *y = &b->f[i];
        if (x->type != y->type || x->nl != y->nl || x->vl != y->vl ||
            memcmp(x->name, y->name, x->nl) != 0 || (x->vl && memcmp(x->val, y->val, x->vl) != 0))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* The verifier against the oracle.                                     */

/* Parse-only view p succeeded; what must the keyring decode say? */
static void check_verdict(const uint8_t *data, size_t len, const view *p, const view *k,
                          const key_spec *keys, size_t nkeys)
{
    const key_spec *key;
    const uint8_t *hexp, *sp;
    size_t hl, sl;
    int expect;
    char want[HB_HEX_SIZE + 8];

    if (!p->has_sig) {
        CHECK(k->rc == HB_AUTH_MISSING);
        return;
    }
    key = find_key(keys, nkeys, p->res.key_index);
    if (key == NULL) {
        CHECK(k->rc == HB_AUTH_UNKNOWN_KEY);
        return;
    }
    sp = p->sig;
    sl = p->sig_len;
    hexp = memchr(sp, ' ', sl);
    CHECK(hexp != NULL);
    hexp++;
    hl = (size_t)(sp + sl - hexp);
    if ((key->method == HB_METHOD_SHA1 && hl != 40) || (key->method == HB_METHOD_MD5 && hl != 32) ||
        (key->method == HB_METHOD_CRC && (hl > 8 || (hl > 1 && hexp[0] == '0')))) {
        CHECK(k->rc == HB_AUTH_MALFORMED);
        return;
    }
    if (p->res.form == HB_FORM_CLASSIC) {
        /* Lines after ">>>\n" up to "<<<\n", without the auth line. */
        size_t line = (size_t)p->res.sig_offset - 5, line_end = (size_t)p->res.sig_offset + sl + 1;
        CHECK(memcmp(data + line, "auth=", 5) == 0 && data[line_end - 1] == '\n');
        CHECK(memcmp(data + len - 4, "<<<\n", 4) == 0);
        oracle_hex(key, data + 4, line - 4, data + line_end, len - 4 - line_end, want);
    } else {
        /* "###\n" through "%%%\n": the trailer "<len>:" sits between. */
        size_t at = (size_t)p->res.sig_offset - 1;
        CHECK(data[at] == ':');
        while (at > 0 && data[at - 1] >= '0' && data[at - 1] <= '9')
            at--;
        CHECK(at >= 8 && memcmp(data + at - 4, "%%%\n", 4) == 0);
        CHECK(data[len - 1] == ',' && (size_t)p->res.sig_offset + sl + 1 == len);
        oracle_hex(key, data, at, NULL, 0, want);
    }
    expect = strlen(want) == hl && memcmp(want, hexp, hl) == 0 ? HB_OK : HB_AUTH_MISMATCH;
    CHECK(k->rc == expect);
}

static void check_keyring_decode(const uint8_t *data, size_t len, const view *p, const view *k,
                                 const key_spec *keys, size_t nkeys)
{
    if (p->rc != HB_OK) {
        /* Parsing comes first: the same error, at the same place. */
        CHECK(k->rc == p->rc);
        CHECK(k->res.err.offset == p->res.err.offset);
        CHECK(k->res.err.field_index == p->res.err.field_index);
        return;
    }
    check_verdict(data, len, p, k, keys, nkeys);
    if (k->rc == HB_OK) {
        CHECK(same_fields(p, k));
        CHECK(k->res.form == p->res.form && k->res.key_index == p->res.key_index);
        CHECK(k->has_inner == p->has_inner && k->has_sig == p->has_sig);
    }
}

/* ------------------------------------------------------------------ */
/* Round trips through the encoder.                                     */

static char enc_out[HB_MAX_FRAME];
static char names_buf[HB_MAX_FIELDS * HB_MAX_NAME];
static char types_buf[HB_MAX_FIELDS];
static int32_t lens_buf[2 * HB_MAX_FIELDS];

/* Packs v's fields as hb_encode wants them; values go to a malloc'd blob. */
static char *pack(const view *v, size_t *names_total, size_t *values_total)
{
    size_t nt = 0, vt = 0;
    char *values;
    for (int i = 0; i < v->nfields; i++)
        vt += v->f[i].vl;
    values = malloc(vt + 1);
    CHECK(values != NULL);
    vt = 0;
    for (int i = 0; i < v->nfields; i++) {
        memcpy(names_buf + nt, v->f[i].name, v->f[i].nl);
        if (v->f[i].vl)
            memcpy(values + vt, v->f[i].val, v->f[i].vl);
        nt += v->f[i].nl;
        vt += v->f[i].vl;
        lens_buf[i] = (int32_t)v->f[i].nl;
        lens_buf[v->nfields + i] = (int32_t)v->f[i].vl;
        types_buf[i] = (char)v->f[i].type;
    }
    *names_total = nt;
    *values_total = vt;
    return values;
}

static int32_t encode(const view *v, int form, const hb_keyring *kr, int inner, char *out,
                      size_t cap, hb_error *err)
{
    size_t nt, vt;
    char *values = pack(v, &nt, &vt);
    int32_t n = hb_encode(form, names_buf, nt, values, vt, (const char *)lens_buf, types_buf,
                          v->nfields, kr, inner, out, cap, err);
    free(values);
    return n;
}

/* Length of base64 for n bytes. */
static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static void decode_and_compare(const uint8_t *frame, size_t n, const hb_keyring *kr,
                               const key_spec *keys, size_t nkeys, const view *want, view *got)
{
    decode_view(frame, n, kr, keys, nkeys, got);
    if (got->rc != HB_OK) {
        fprintf(stderr, "fuzz_decode: re-encoded frame (%zu bytes) fails to decode: code %d "
                        "at byte %d field %d\n", n, got->rc, got->res.err.offset,
                got->res.err.field_index);
    }
    CHECK(got->rc == HB_OK);
    CHECK(same_fields(want, got));
}

static view v_rt;

static void check_template(const uint8_t *data, size_t len, const view *p, uint8_t sel);

static void round_trips(const uint8_t *data, size_t len, const view *p)
{
    const int form = p->res.form, other = form == HB_FORM_CLASSIC ? HB_FORM_NETSTRING
                                                                  : HB_FORM_CLASSIC;
    hb_error err;
    int32_t n;
    /* Picks the signing key and inner auth: mixes the length in, since the
     * last byte of a frame that decodes is nearly always '\n' or ','. */
    uint8_t sel = (uint8_t)(data[len - 1] + len + (len >> 8));

    check_template(data, len, p, sel);

    /* 1. Same form, unsigned: canonical, so identical to an unsigned input. */
    n = encode(p, form, NULL, 0, enc_out, sizeof(enc_out), &err);
    CHECK(n > 0 && err.code == HB_OK);
    if (!p->has_sig && !p->has_inner)
        CHECK((size_t)n == len && memcmp(enc_out, data, len) == 0);
    {
        /* Exact and one-short output buffers (ASan watches the edges). */
        char *exact = malloc((size_t)n), *shorter = malloc((size_t)n - 1);
        CHECK(exact != NULL && shorter != NULL);
        CHECK(encode(p, form, NULL, 0, exact, (size_t)n, &err) == n);
        CHECK(memcmp(exact, enc_out, (size_t)n) == 0);
        CHECK(encode(p, form, NULL, 0, shorter, (size_t)n - 1, &err) == -HB_NO_SPACE);
        free(exact);
        free(shorter);
    }
    decode_and_compare((const uint8_t *)enc_out, (size_t)n, NULL, NULL, 0, p, &v_rt);
    free(v_rt.scratch);

    /* 2. The other form, unsigned. Netstring -> classic base64-expands
     * binary values: the frame may outgrow MAX_FRAME, or a value as written
     * MAX_VALUE, which the encoder refuses (the decoder limits the value as
     * written): every frame the encoder does make must decode. */
    n = encode(p, other, NULL, 0, enc_out, sizeof(enc_out), &err);
    if (n < 0) {
        int long_line = 0;
        if (other == HB_FORM_CLASSIC)
            for (int i = 0; i < p->nfields; i++)
                if (p->f[i].type == 1 && b64_len(p->f[i].vl) > HB_MAX_VALUE)
                    long_line = 1;
        CHECK(other == HB_FORM_CLASSIC &&
              (n == -HB_TOO_LARGE || (n == -HB_VALUE_TOO_LONG && long_line)));
    } else {
        decode_view((const uint8_t *)enc_out, (size_t)n, NULL, NULL, 0, &v_rt);
        CHECK(v_rt.rc == HB_OK && same_fields(p, &v_rt));
        free(v_rt.scratch);
    }

    /* 3. Same form, signed with a key of KR_A picked by the last byte, and
     * verified with KR_A. */
    {
        const key_spec *k = &KEYS_A[sel % NKEYS_A];
        int inner = form == HB_FORM_NETSTRING && ((sel / NKEYS_A) & 1);
        CHECK(hb_keyring_set_signing(kr_a, k->index) == HB_OK);
        n = encode(p, form, kr_a, inner, enc_out, sizeof(enc_out), &err);
        CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
        if (n < 0) {
            CHECK((n == -HB_TOO_MANY_FIELDS && p->nfields == HB_MAX_FIELDS) ||
                  (n == -HB_TOO_LARGE && len > HB_MAX_FRAME - 200));
            return;
        }
        {
            /* One byte short while signing: NO_SPACE, nothing written past. */
            char *shorter = malloc((size_t)n - 1);
            hb_error e2;
            CHECK(shorter != NULL);
            CHECK(hb_keyring_set_signing(kr_a, k->index) == HB_OK);
            CHECK(encode(p, form, kr_a, inner, shorter, (size_t)n - 1, &e2) == -HB_NO_SPACE);
            CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
            free(shorter);
        }
        decode_and_compare((const uint8_t *)enc_out, (size_t)n, kr_a, KEYS_A, NKEYS_A, p,
                           &v_rt);
        CHECK(v_rt.res.key_index == k->index && v_rt.res.method == k->method);
        CHECK(v_rt.has_inner == inner);
        if (inner) {
            /* The inner auth is the classic signature of the same fields. */
            char *classic = malloc(HB_MAX_FRAME);
            view vc;
            int32_t cn;
            CHECK(classic != NULL);
            CHECK(hb_keyring_set_signing(kr_a, k->index) == HB_OK);
            cn = encode(p, HB_FORM_CLASSIC, kr_a, 0, classic, HB_MAX_FRAME, &err);
            CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
            if (cn > 0) {
                decode_view((const uint8_t *)classic, (size_t)cn, kr_a, KEYS_A, NKEYS_A, &vc);
                if (vc.rc == HB_OK)
                    CHECK(vc.sig_len == v_rt.inner_len &&
                          memcmp(vc.sig, v_rt.inner, vc.sig_len) == 0);
                free(vc.scratch);
            }
            free(classic);
        }
        free(v_rt.scratch);
    }
}

/* ------------------------------------------------------------------ */
/* Templates: hb_template_encode must make what hb_encode makes.        */

static char tpl_out[HB_MAX_FRAME];
static view v_mod;

static void compare_with_encode(const hb_template *t, const view *fields, const int *slot_field,
                                int nslots, const hb_keyring *kr, int inner)
{
    const char *vp[HB_TEMPLATE_SLOTS] = {NULL, NULL, NULL, NULL};
    size_t vn[HB_TEMPLATE_SLOTS] = {0, 0, 0, 0};
    hb_error e1, e2;
    int32_t want, got;
    for (int j = 0; j < nslots; j++) {
        vp[j] = (const char *)fields->f[slot_field[j]].val;
        vn[j] = fields->f[slot_field[j]].vl;
    }
    want = encode(fields, fields->res.form, kr, inner, enc_out, sizeof(enc_out), &e1);
    got = hb_template_encode(t, vp[0], vn[0], vp[1], vn[1], vp[2], vn[2], vp[3], vn[3], tpl_out,
                             sizeof(tpl_out), &e2);
    if (got != want)
        fprintf(stderr, "fuzz_decode: hb_template_encode %d, hb_encode %d\n", got, want);
    CHECK(got == want);
    if (want < 0) {
        CHECK(e1.code == e2.code && e1.field_index == e2.field_index && e1.offset == e2.offset);
        CHECK(e1.name_offset == e2.name_offset && e1.name_length == e2.name_length);
        return;
    }
    CHECK(memcmp(enc_out, tpl_out, (size_t)want) == 0);
    {
        /* Exact and one-short output buffers. */
        char *exact = malloc((size_t)want), *shorter = malloc((size_t)want - 1);
        CHECK(exact != NULL && shorter != NULL);
        CHECK(hb_template_encode(t, vp[0], vn[0], vp[1], vn[1], vp[2], vn[2], vp[3], vn[3], exact,
                                 (size_t)want, &e2) == want);
        CHECK(memcmp(exact, enc_out, (size_t)want) == 0);
        CHECK(hb_template_encode(t, vp[0], vn[0], vp[1], vn[1], vp[2], vn[2], vp[3], vn[3],
                                 shorter, (size_t)want - 1, &e2) == -HB_NO_SPACE);
        free(exact);
        free(shorter);
    }
}

static void check_template(const uint8_t *data, size_t len, const view *p, uint8_t sel)
{
    char var[HB_MAX_FIELDS];
    int slot_field[HB_TEMPLATE_SLOTS + 1], nslots = 0, want_slots = sel % 6, fifth = -1;
    int signing = (sel & 0x40) != 0;
    const key_spec *k = &KEYS_A[(sel >> 3) % NKEYS_A];
    int inner = p->res.form == HB_FORM_NETSTRING && signing && ((sel >> 5) & 1);
    const hb_keyring *kr = signing ? kr_a : NULL;
    size_t nt, vt;
    char *values;
    hb_template *t;
    hb_error err;
    int32_t plain;

    memset(var, 0, sizeof(var));
    for (int i = 0; i < p->nfields && nslots + (fifth >= 0) < want_slots; i++) {
        if ((i + sel) % 3 != 0)
            continue;
        var[i] = 1;
        if (nslots < HB_TEMPLATE_SLOTS)
            slot_field[nslots++] = i;
        else
            fifth = i;
    }
    if (signing)
        CHECK(hb_keyring_set_signing(kr_a, k->index) == HB_OK);
    values = pack(p, &nt, &vt);
    t = hb_template_new(p->res.form, names_buf, nt, values, vt, (const char *)lens_buf, types_buf,
                        p->nfields, kr, inner, var, &err);
    free(values);
    /* The template holds a copy of the key: sign with it after clearing. */
    if (signing)
        CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
    /* What hb_encode makes of the same fields decides what may fail. */
    if (signing)
        CHECK(hb_keyring_set_signing(kr_a, k->index) == HB_OK);
    plain = encode(p, p->res.form, kr, inner, enc_out, sizeof(enc_out), NULL);
    if (signing)
        CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
    if (plain < 0 && plain != -HB_TOO_LARGE) {
        /* The fields are checked before the slots are counted. */
        CHECK(t == NULL && err.code == -plain);
        return;
    }
    if (fifth >= 0) {
        if (!(t == NULL && err.code == HB_BAD_ARGUMENT && err.field_index == fifth))
            fprintf(stderr, "fuzz_decode: template with 5 variable fields: %s, code %d field %d "
                    "(fifth variable field: %d)\n", t ? "made" : "refused", err.code,
                    err.field_index, fifth);
        CHECK(t == NULL && err.code == HB_BAD_ARGUMENT && err.field_index == fifth);
        return;
    }
    if (t == NULL) {
        /* Only when the constant fields alone are too large. */
        CHECK(plain == -HB_TOO_LARGE && err.code == HB_TOO_LARGE);
        return;
    }
    if (signing)
        CHECK(hb_keyring_set_signing(kr_a, k->index) == HB_OK);
    /* Same values as the fields it was made from. */
    compare_with_encode(t, p, slot_field, nslots, kr, inner);
    /* Other values: slices of the input (may hold NUL, 0x13, or be long). */
    memcpy(&v_mod, p, sizeof(v_mod));
    for (int j = 0; j < nslots; j++) {
        field *f = &v_mod.f[slot_field[j]];
        size_t off = ((size_t)sel * 31u + (size_t)j * 17u) % len;
        size_t n = (f->vl + (size_t)j + sel) % 97u;
        if (sel & 0x80)
            n = len - off; /* as long as the input allows */
        f->val = data + off;
        f->vl = n < len - off ? n : len - off;
    }
    compare_with_encode(t, &v_mod, slot_field, nslots, kr, inner);
    if (signing)
        CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
    hb_template_free(t);
}

/* ------------------------------------------------------------------ */
/* Batched receive: hb_rx_read gives hb_verify's verdicts.              */

static void check_rx(const uint8_t *data, size_t len)
{
    hb_rx_result res;
    hb_error e, fe;
    const hb_rx_frame *fr = hb_rx_frames(rx_small);
    const hb_rx_reject *rj = hb_rx_rejects(rx_small);
    const char *arena = hb_rx_arena(rx_small);
    size_t arena_size = hb_rx_arena_size(rx_small);
    int big = len > HB_RX_MIN_SLOT, accepted = 0;
    int32_t info, n;

    if (len > HB_RX_BIG)
        return;
    CHECK(send(rx_pair[0], data, len, 0) == (ssize_t)len);
    CHECK(send(rx_pair[0], data, len, 0) == (ssize_t)len);
    CHECK(send(rx_pair[0], rx_tail, (size_t)rx_tail_len, 0) == rx_tail_len);
    n = hb_rx_read(rx_small, rx_pair[1], kr_a, 0, &res, &e);
    CHECK(n == 3 && e.code == HB_OK && res.received == 3);
    CHECK(res.accepted + res.refused == 3 && res.nrejects <= res.refused);
    info = hb_verify((const char *)data, len, kr_a, &fe);
    {
        int32_t refused = 0;
        for (int32_t i = 0; i < res.nrejects; i++) {
            CHECK(rj[i].count >= 1 && rj[i].addr == 0 && rj[i].port == 0);
            refused += rj[i].count;
        }
        CHECK(refused == res.refused);
    }
    if (info >= 0) {
        /* Copies accepted: both (short) or the second (long). */
        accepted = big ? 1 : 2;
        CHECK(res.accepted == accepted + 1);
        for (int i = 0; i < accepted; i++) {
            CHECK(fr[i].length == (int32_t)len && fr[i].info == info);
            CHECK(fr[i].offset >= 0 && (size_t)fr[i].offset + len <= arena_size);
            CHECK(memcmp(arena + fr[i].offset, data, len) == 0);
        }
    } else {
        const hb_rx_reject *r = NULL;
        CHECK(res.accepted == 1);
        for (int32_t i = 0; i < res.nrejects; i++)
            if (rj[i].code == -info)
                r = &rj[i];
        CHECK(r != NULL && r->count == (big ? 1 : 2));
        CHECK(r->err.code == fe.code && r->err.offset == fe.offset &&
              r->err.field_index == fe.field_index);
        if (fe.name_offset >= 0 && fe.name_length >= 0) {
            int32_t nl = fe.name_length < 64 ? fe.name_length : 64;
            CHECK(r->err.name_offset == 0 && r->err.name_length == nl);
            CHECK(memcmp(r->name, data + fe.name_offset, (size_t)nl) == 0);
        } else {
            CHECK(r->err.name_offset == -1 && r->err.name_length == -1);
        }
    }
    if (big) {
        int found = 0;
        for (int32_t i = 0; i < res.nrejects; i++)
            if (rj[i].code == HB_OVERSIZE_DATAGRAM) {
                CHECK(rj[i].count == 1);
                found = 1;
            }
        CHECK(found);
    }
    CHECK(fr[res.accepted - 1].length == rx_tail_len &&
          memcmp(arena + fr[res.accepted - 1].offset, rx_tail, (size_t)rx_tail_len) == 0);
    /* Nothing left waiting: 0, not an error. */
    CHECK(hb_rx_read(rx_small, rx_pair[1], kr_a, 0, &res, &e) == 0 && res.received == 0);
}

/* ------------------------------------------------------------------ */
/* Quiet keepalives: the decoder's compare against an oracle.           */

/* 1..16 hex digits that fit an int64 (the oracle's own parser). */
static int oracle_hex64(const uint8_t *v, size_t n, int64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 16)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = v[i], d = c >= '0' && c <= '9' ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        x = x * 16 + (uint64_t)d;
    }
    if (x > (uint64_t)INT64_MAX)
        return 0;
    *out = (int64_t)x;
    return 1;
}

static int named(const field *f, const char *name)
{
    return f->type == 0 && f->nl == strlen(name) && memcmp(f->name, name, f->nl) == 0;
}

static char q_next[HB_QUIET_MODEL + 256], q_other[HB_QUIET_MODEL + 256];
static view v_next;

static void check_quiet(const uint8_t *data, size_t len, const view *p)
{
    const int64_t gap = 1000000000;
    int nseq = 0, nts = 0, nld = 0, ok = 1, rc, seq_at = -1, ts_at = -1;
    int64_t seq = 0, ts = 0;
    hb_quiet_run run;
    hb_error e;

    for (int i = 0; i < p->nfields; i++) {
        const field *f = &p->f[i];
        int64_t x;
        if (named(f, "seq")) {
            nseq++;
            seq_at = i;
            ok &= oracle_hex64(f->val, f->vl, &seq);
        } else if (named(f, "ts")) {
            nts++;
            ts_at = i;
            ok &= oracle_hex64(f->val, f->vl, &x);
            ts = x;
        } else if (named(f, "ld")) {
            nld++;
            ok &= f->vl <= HB_LD_MAX;
        }
    }
    ok = ok && len <= HB_QUIET_MODEL && p->nfields <= HB_QUIET_FIELDS && nseq == 1 && nts <= 1
         && nld <= 1;
    rc = hb_quiet_set_model(quiet, 0, "peer", 4, (const char *)data, len, seq > 0 ? seq - 1 : 0,
                            0, 0, 0, gap);
    CHECK((rc == HB_OK) == ok);
    if (!ok) {
        CHECK(hb_quiet_check(quiet, (const char *)data, len, kr_a, 0, 0, 1) == 0);
        return;
    }
    /* The input itself, one after its own seq less one. */
    rc = hb_quiet_check(quiet, (const char *)data, len, kr_a, 0, 0, 1);
    CHECK(rc == (seq > 0 && hb_verify((const char *)data, len, kr_a, NULL) > 0));
    CHECK(hb_quiet_check(quiet, (const char *)data, len, kr_a, 0, 0, 2) == 0);
    CHECK(hb_quiet_take(quiet, 0, &run) == HB_OK);
    if (rc == 1)
        CHECK(run.first_seq == seq && run.last_seq == seq && run.count == 1
              && run.last_ts == (nts ? ts : 0) && run.heard_ns == 1 && run.rx_before == 0);
    else
        CHECK(run.first_seq == 0 && run.count == 0);
    /* The next keepalive: seq + 1, another ts, signed with KR_A's key 1. */
    if (seq == INT64_MAX)
        return;
    {
        char seq_hex[24], ts_hex[24];
        int32_t n;
        view *w = &v_next;
        *w = *p;
        snprintf(seq_hex, sizeof(seq_hex), "%llx", (unsigned long long)(seq + 1));
        snprintf(ts_hex, sizeof(ts_hex), "%llX", (unsigned long long)(len * 7919u));
        w->f[seq_at].val = (const uint8_t *)seq_hex;
        w->f[seq_at].vl = strlen(seq_hex);
        if (ts_at >= 0) {
            w->f[ts_at].val = (const uint8_t *)ts_hex;
            w->f[ts_at].vl = strlen(ts_hex);
        }
        CHECK(hb_keyring_set_signing(kr_a, 1) == HB_OK);
        n = encode(w, p->res.form, kr_a, p->has_inner, q_next, sizeof(q_next), &e);
        CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
        if (n < 0)
            return; /* too long once signed */
        CHECK(hb_quiet_set_model(quiet, 0, "peer", 4, (const char *)data, len, seq, 0, 0, 0,
                                 gap) == HB_OK);
        if ((size_t)n > HB_QUIET_MODEL) {
            CHECK(hb_quiet_check(quiet, q_next, (size_t)n, kr_a, 0, 0, 1) == 0);
            return;
        }
        CHECK(hb_quiet_check(quiet, q_next, (size_t)n, kr_a, 0, 0, gap + 1) == 0);
        {
            size_t at = (size_t)(len * 31u + (len ? data[len - 1] : 0)) % (size_t)n;
            q_next[at] ^= 0x01;
            CHECK(hb_quiet_check(quiet, q_next, (size_t)n, kr_a, 0, 0, gap) == 0);
            q_next[at] ^= 0x01;
        }
        /* Not quiet either: a constant field's value changed, one field more. */
        for (int variant = 0; variant < 2; variant++) {
            int k = -1;
            int32_t m;
            field keep;
            for (int i = 0; i < w->nfields; i++) {
                int j = (int)((len + (size_t)i) % (size_t)w->nfields);
                if (!named(&w->f[j], "seq") && !named(&w->f[j], "ts") && !named(&w->f[j], "ld")) {
                    k = j;
                    break;
                }
            }
            if (variant == 0 && k < 0)
                continue;
            if (variant == 1 && w->nfields >= HB_MAX_FIELDS - 1)
                continue;
            if (variant == 0) {
                keep = w->f[k];
                w->f[k].val = (const uint8_t *)"x";
                w->f[k].vl = 1;
                if (keep.vl == 1 && keep.val[0] == 'x')
                    w->f[k].vl = 0;
            } else {
                keep = w->f[w->nfields];
                w->f[w->nfields] = (field){(const uint8_t *)"x", 1, 0, (const uint8_t *)"1", 1};
                w->nfields++;
            }
            CHECK(hb_keyring_set_signing(kr_a, 1) == HB_OK);
            m = encode(w, p->res.form, kr_a, p->has_inner, q_other, sizeof(q_other), &e);
            CHECK(hb_keyring_set_signing(kr_a, -1) == HB_OK);
            if (variant == 0) {
                w->f[k] = keep;
            } else {
                w->nfields--;
                w->f[w->nfields] = keep;
            }
            if (m > 0)
                CHECK(hb_quiet_check(quiet, q_other, (size_t)m, kr_a, 0, 0, gap) == 0);
        }
        CHECK(hb_quiet_check(quiet, q_next, (size_t)n, kr_a, 0, 0, gap) == 1);
        CHECK(hb_quiet_check(quiet, q_next, (size_t)n, kr_a, 0, 0, gap) == 0);
        CHECK(hb_quiet_take(quiet, 0, &run) == HB_OK && run.first_seq == seq + 1
              && run.count == 1);
        CHECK(hb_quiet_forget(quiet, 0) == HB_OK);
    }
}

/* ------------------------------------------------------------------ */

static view v_parse, v_a, v_b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > HB_MAX_FRAME + 16)
        return -1;
    decode_view(data, len, NULL, NULL, 0, &v_parse);
    decode_view(data, len, kr_a, KEYS_A, NKEYS_A, &v_a);
    decode_view(data, len, kr_b, KEYS_B, NKEYS_B, &v_b);
    check_keyring_decode(data, len, &v_parse, &v_a, KEYS_A, NKEYS_A);
    check_keyring_decode(data, len, &v_parse, &v_b, KEYS_B, NKEYS_B);
    if (v_parse.rc == HB_OK) {
        round_trips(data, len, &v_parse);
        check_quiet(data, len, &v_parse);
    }
    check_rx(data, len);
    free(v_parse.scratch);
    free(v_a.scratch);
    free(v_b.scratch);
    return 0;
}
