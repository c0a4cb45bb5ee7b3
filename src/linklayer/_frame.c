/* hbeat link layer: heartbeat 3.0.6 frame codec.
 *
 * Owns building, signing, parsing and verifying frames in both wire forms
 * (classic ">>>" text and netstring "###"), exactly as docs/wire-format.md
 * specifies: same checks in the same order, same error codes, offsets and
 * field indexes as the Python reference codec (reference.py).
 *
 * Safety rules: every read and write is bounds-checked against lengths
 * passed in; nothing asserts or aborts; the decode/verify path allocates
 * nothing (the caller provides the result struct and a scratch buffer;
 * hb_verify needs neither); digests come from OpenSSL libcrypto, HMAC
 * states are precomputed per key; digests are compared in constant time.
 *
 * The batched receive (hb_rx_*) reads datagrams with recvmmsg into
 * buffers allocated once and runs the same checks on each in the same
 * call, so a flood of garbage costs no allocation and no Python object
 * per datagram.
 *
 * Speed (bench/README.md): the signed bytes are hashed in as few digest
 * updates as possible (one span of the output where it can be, else
 * through a small buffer), and templates (hb_template_*) keep the
 * rendering of a message's constant fields and the MAC states after its
 * constant prefix, so a keepalive only renders and hashes what changes.
 */

#define OPENSSL_SUPPRESS_DEPRECATED 1
#define _GNU_SOURCE 1 /* recvmmsg */

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "_frame.h"

/* ------------------------------------------------------------------ */
/* Digests: HMAC-SHA1, HMAC-MD5 (precomputed pads), CRC-32/POSIX.       */

#define HMAC_BLOCK 64

typedef struct {
    int present;
    int method;
    SHA_CTX sha_inner, sha_outer;
    MD5_CTX md5_inner, md5_outer;
} hb_key;

struct hb_keyring {
    hb_key keys[HB_MAX_KEYS];
    int signing;
};

/* CRC-32, polynomial 0x04C11DB7, MSB first. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x04c11db7u, 0x09823b6eu, 0x0d4326d9u, 0x130476dcu, 0x17c56b6bu,
    0x1a864db2u, 0x1e475005u, 0x2608edb8u, 0x22c9f00fu, 0x2f8ad6d6u, 0x2b4bcb61u,
    0x350c9b64u, 0x31cd86d3u, 0x3c8ea00au, 0x384fbdbdu, 0x4c11db70u, 0x48d0c6c7u,
    0x4593e01eu, 0x4152fda9u, 0x5f15adacu, 0x5bd4b01bu, 0x569796c2u, 0x52568b75u,
    0x6a1936c8u, 0x6ed82b7fu, 0x639b0da6u, 0x675a1011u, 0x791d4014u, 0x7ddc5da3u,
    0x709f7b7au, 0x745e66cdu, 0x9823b6e0u, 0x9ce2ab57u, 0x91a18d8eu, 0x95609039u,
    0x8b27c03cu, 0x8fe6dd8bu, 0x82a5fb52u, 0x8664e6e5u, 0xbe2b5b58u, 0xbaea46efu,
    0xb7a96036u, 0xb3687d81u, 0xad2f2d84u, 0xa9ee3033u, 0xa4ad16eau, 0xa06c0b5du,
    0xd4326d90u, 0xd0f37027u, 0xddb056feu, 0xd9714b49u, 0xc7361b4cu, 0xc3f706fbu,
    0xceb42022u, 0xca753d95u, 0xf23a8028u, 0xf6fb9d9fu, 0xfbb8bb46u, 0xff79a6f1u,
    0xe13ef6f4u, 0xe5ffeb43u, 0xe8bccd9au, 0xec7dd02du, 0x34867077u, 0x30476dc0u,
    0x3d044b19u, 0x39c556aeu, 0x278206abu, 0x23431b1cu, 0x2e003dc5u, 0x2ac12072u,
    0x128e9dcfu, 0x164f8078u, 0x1b0ca6a1u, 0x1fcdbb16u, 0x018aeb13u, 0x054bf6a4u,
    0x0808d07du, 0x0cc9cdcau, 0x7897ab07u, 0x7c56b6b0u, 0x71159069u, 0x75d48ddeu,
    0x6b93dddbu, 0x6f52c06cu, 0x6211e6b5u, 0x66d0fb02u, 0x5e9f46bfu, 0x5a5e5b08u,
    0x571d7dd1u, 0x53dc6066u, 0x4d9b3063u, 0x495a2dd4u, 0x44190b0du, 0x40d816bau,
    0xaca5c697u, 0xa864db20u, 0xa527fdf9u, 0xa1e6e04eu, 0xbfa1b04bu, 0xbb60adfcu,
    0xb6238b25u, 0xb2e29692u, 0x8aad2b2fu, 0x8e6c3698u, 0x832f1041u, 0x87ee0df6u,
    0x99a95df3u, 0x9d684044u, 0x902b669du, 0x94ea7b2au, 0xe0b41de7u, 0xe4750050u,
    0xe9362689u, 0xedf73b3eu, 0xf3b06b3bu, 0xf771768cu, 0xfa325055u, 0xfef34de2u,
    0xc6bcf05fu, 0xc27dede8u, 0xcf3ecb31u, 0xcbffd686u, 0xd5b88683u, 0xd1799b34u,
    0xdc3abdedu, 0xd8fba05au, 0x690ce0eeu, 0x6dcdfd59u, 0x608edb80u, 0x644fc637u,
    0x7a089632u, 0x7ec98b85u, 0x738aad5cu, 0x774bb0ebu, 0x4f040d56u, 0x4bc510e1u,
    0x46863638u, 0x42472b8fu, 0x5c007b8au, 0x58c1663du, 0x558240e4u, 0x51435d53u,
    0x251d3b9eu, 0x21dc2629u, 0x2c9f00f0u, 0x285e1d47u, 0x36194d42u, 0x32d850f5u,
    0x3f9b762cu, 0x3b5a6b9bu, 0x0315d626u, 0x07d4cb91u, 0x0a97ed48u, 0x0e56f0ffu,
    0x1011a0fau, 0x14d0bd4du, 0x19939b94u, 0x1d528623u, 0xf12f560eu, 0xf5ee4bb9u,
    0xf8ad6d60u, 0xfc6c70d7u, 0xe22b20d2u, 0xe6ea3d65u, 0xeba91bbcu, 0xef68060bu,
    0xd727bbb6u, 0xd3e6a601u, 0xdea580d8u, 0xda649d6fu, 0xc423cd6au, 0xc0e2d0ddu,
    0xcda1f604u, 0xc960ebb3u, 0xbd3e8d7eu, 0xb9ff90c9u, 0xb4bcb610u, 0xb07daba7u,
    0xae3afba2u, 0xaafbe615u, 0xa7b8c0ccu, 0xa379dd7bu, 0x9b3660c6u, 0x9ff77d71u,
    0x92b45ba8u, 0x9675461fu, 0x8832161au, 0x8cf30badu, 0x81b02d74u, 0x857130c3u,
    0x5d8a9099u, 0x594b8d2eu, 0x5408abf7u, 0x50c9b640u, 0x4e8ee645u, 0x4a4ffbf2u,
    0x470cdd2bu, 0x43cdc09cu, 0x7b827d21u, 0x7f436096u, 0x7200464fu, 0x76c15bf8u,
    0x68860bfdu, 0x6c47164au, 0x61043093u, 0x65c52d24u, 0x119b4be9u, 0x155a565eu,
    0x18197087u, 0x1cd86d30u, 0x029f3d35u, 0x065e2082u, 0x0b1d065bu, 0x0fdc1becu,
    0x3793a651u, 0x3352bbe6u, 0x3e119d3fu, 0x3ad08088u, 0x2497d08du, 0x2056cd3au,
    0x2d15ebe3u, 0x29d4f654u, 0xc5a92679u, 0xc1683bceu, 0xcc2b1d17u, 0xc8ea00a0u,
    0xd6ad50a5u, 0xd26c4d12u, 0xdf2f6bcbu, 0xdbee767cu, 0xe3a1cbc1u, 0xe760d676u,
    0xea23f0afu, 0xeee2ed18u, 0xf0a5bd1du, 0xf464a0aau, 0xf9278673u, 0xfde69bc4u,
    0x89b8fd09u, 0x8d79e0beu, 0x803ac667u, 0x84fbdbd0u, 0x9abc8bd5u, 0x9e7d9662u,
    0x933eb0bbu, 0x97ffad0cu, 0xafb010b1u, 0xab710d06u, 0xa6322bdfu, 0xa2f33668u,
    0xbcb4666du, 0xb8757bdau, 0xb5365d03u, 0xb1f740b4u,
};

typedef struct {
    const hb_key *key;
    SHA_CTX sha;
    MD5_CTX md5;
    uint32_t crc;
} mac_ctx;

static void mac_begin(mac_ctx *m, const hb_key *k)
{
    m->key = k;
    switch (k->method) {
    case HB_METHOD_SHA1:
        m->sha = k->sha_inner;
        break;
    case HB_METHOD_MD5:
        m->md5 = k->md5_inner;
        break;
    default:
        m->crc = 0;
        break;
    }
}

static void mac_update(mac_ctx *m, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t crc;
    if (m == NULL || n == 0)
        return;
    switch (m->key->method) {
    case HB_METHOD_SHA1:
        SHA1_Update(&m->sha, p, n);
        break;
    case HB_METHOD_MD5:
        MD5_Update(&m->md5, p, n);
        break;
    default:
        crc = m->crc;
        while (n--)
            crc = (crc << 8) ^ crc_table[((crc >> 24) ^ *p++) & 0xffu];
        m->crc = crc;
        break;
    }
}

static const char hexdigits[] = "0123456789abcdef";

static int to_hex(const unsigned char *d, int n, char *hex)
{
    for (int i = 0; i < n; i++) {
        hex[2 * i] = hexdigits[d[i] >> 4];
        hex[2 * i + 1] = hexdigits[d[i] & 15];
    }
    hex[2 * n] = '\0';
    return 2 * n;
}

/* Finishes the MAC; writes lowercase hex (NUL-terminated) and returns
 * its length. */
static int mac_hex(mac_ctx *m, char hex[HB_HEX_SIZE])
{
    unsigned char inner[SHA_DIGEST_LENGTH], digest[SHA_DIGEST_LENGTH];
    SHA_CTX sha;
    MD5_CTX md5;
    switch (m->key->method) {
    case HB_METHOD_SHA1:
        SHA1_Final(inner, &m->sha);
        sha = m->key->sha_outer;
        SHA1_Update(&sha, inner, SHA_DIGEST_LENGTH);
        SHA1_Final(digest, &sha);
        return to_hex(digest, SHA_DIGEST_LENGTH, hex);
    case HB_METHOD_MD5:
        MD5_Final(inner, &m->md5);
        md5 = m->key->md5_outer;
        MD5_Update(&md5, inner, MD5_DIGEST_LENGTH);
        MD5_Final(digest, &md5);
        return to_hex(digest, MD5_DIGEST_LENGTH, hex);
    default: {
        /* printf("%lx"): no leading zeros, "0" for zero. */
        uint32_t crc = ~m->crc;
        char tmp[8];
        int n = 0;
        do {
            tmp[n++] = hexdigits[crc & 15];
            crc >>= 4;
        } while (crc != 0);
        for (int i = 0; i < n; i++)
            hex[i] = tmp[n - 1 - i];
        hex[n] = '\0';
        return n;
    }
    }
}

static int key_init(hb_key *k, int method, const unsigned char *secret, size_t len)
{
    unsigned char block[HMAC_BLOCK], pad[HMAC_BLOCK];
    memset(k, 0, sizeof(*k));
    if (method != HB_METHOD_SHA1 && method != HB_METHOD_MD5 && method != HB_METHOD_CRC)
        return HB_BAD_ARGUMENT;
    if (len > 0 && secret == NULL)
        return HB_BAD_ARGUMENT;
    k->method = method;
    k->present = 1;
    if (method == HB_METHOD_CRC)
        return HB_OK;
    memset(block, 0, sizeof(block));
    if (len > HMAC_BLOCK) {
        if (method == HB_METHOD_SHA1)
            SHA1(secret, len, block);
        else
            MD5(secret, len, block);
    } else if (len > 0) {
        memcpy(block, secret, len);
    }
    for (int i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    if (method == HB_METHOD_SHA1) {
        SHA1_Init(&k->sha_inner);
        SHA1_Update(&k->sha_inner, pad, HMAC_BLOCK);
    } else {
        MD5_Init(&k->md5_inner);
        MD5_Update(&k->md5_inner, pad, HMAC_BLOCK);
    }
    for (int i = 0; i < HMAC_BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    if (method == HB_METHOD_SHA1) {
        SHA1_Init(&k->sha_outer);
        SHA1_Update(&k->sha_outer, pad, HMAC_BLOCK);
    } else {
        MD5_Init(&k->md5_outer);
        MD5_Update(&k->md5_outer, pad, HMAC_BLOCK);
    }
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
    return HB_OK;
}

hb_keyring *hb_keyring_new(void)
{
    hb_keyring *kr = calloc(1, sizeof(*kr));
    if (kr != NULL)
        kr->signing = -1;
    return kr;
}

void hb_keyring_free(hb_keyring *kr)
{
    if (kr == NULL)
        return;
    OPENSSL_cleanse(kr, sizeof(*kr));
    free(kr);
}

int hb_keyring_add(hb_keyring *kr, int index, int method, const char *secret, size_t secret_len)
{
    if (kr == NULL || index < 0 || index >= HB_MAX_KEYS)
        return HB_BAD_ARGUMENT;
    return key_init(&kr->keys[index], method, (const unsigned char *)secret, secret_len);
}

int hb_keyring_set_signing(hb_keyring *kr, int index)
{
    if (kr == NULL || index < -1 || index >= HB_MAX_KEYS)
        return HB_BAD_ARGUMENT;
    kr->signing = index;
    return HB_OK;
}

int hb_digest_hex(int method, const char *key, size_t key_len, const char *data, size_t len,
                  char *hex)
{
    hb_key k;
    mac_ctx m;
    int rc;
    if (hex == NULL || (len > 0 && data == NULL))
        return -HB_BAD_ARGUMENT;
    rc = key_init(&k, method, (const unsigned char *)key, key_len);
    if (rc != HB_OK)
        return -rc;
    mac_begin(&m, &k);
    mac_update(&m, data, len);
    rc = mac_hex(&m, hex);
    OPENSSL_cleanse(&k, sizeof(k));
    return rc;
}

/* Constant-time equality of two byte strings of equal length n. */
static int ct_equal(const char *a, const char *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Shared syntax checks.                                               */

#define U8(p) ((const unsigned char *)(p))

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Name rules: 1..HB_MAX_NAME bytes in 0x21..0x7e except '=', not
 * starting with '('. Returns HB_OK or the error code. */
static int check_name(const unsigned char *name, size_t n)
{
    if (n == 0)
        return HB_BAD_NAME;
    if (n > HB_MAX_NAME)
        return HB_NAME_TOO_LONG;
    if (name[0] == '(')
        return HB_BAD_NAME;
    for (size_t i = 0; i < n; i++) {
        if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '=')
            return HB_BAD_NAME;
    }
    return HB_OK;
}

/* A string value (netstring form, or to encode) may not hold NUL or
 * 0x13. Short values are scanned inline, long ones with memchr. */
static int bad_string(const unsigned char *v, size_t n)
{
    if (n >= 64)
        return memchr(v, '\0', n) != NULL || memchr(v, 0x13, n) != NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\0' || v[i] == 0x13)
            return 1;
    }
    return 0;
}

static int is_auth_name(const unsigned char *name, size_t n)
{
    return n == 4 && memcmp(name, "auth", 4) == 0;
}

static int auth_fits_method(int method, const unsigned char *hex, size_t n);

/* An auth value "<N> <hex>": N 0..15 (1-2 digits, no leading zero), one
 * space, lowercase hex digits whose count fits at least one method. The
 * exact method's length is checked at verification (auth_fits_method). */
static int parse_auth(const unsigned char *v, size_t n, int *key_index, size_t *hex_at)
{
    size_t i = 0;
    int k;
    if (n < 3 || !is_digit(v[0]))
        return 0;
    k = v[0] - '0';
    i = 1;
    if (is_digit(v[1])) {
        if (v[0] == '0')
            return 0;
        k = k * 10 + (v[1] - '0');
        i = 2;
    }
    if (k >= HB_MAX_KEYS || i >= n || v[i] != ' ')
        return 0;
    i++;
    if (!auth_fits_method(HB_METHOD_SHA1, v + i, n - i) &&
        !auth_fits_method(HB_METHOD_MD5, v + i, n - i) &&
        !auth_fits_method(HB_METHOD_CRC, v + i, n - i))
        return 0;
    for (size_t j = i; j < n; j++) {
        if (!((v[j] >= '0' && v[j] <= '9') || (v[j] >= 'a' && v[j] <= 'f')))
            return 0;
    }
    *key_index = k;
    *hex_at = i;
    return 1;
}

static int auth_fits_method(int method, const unsigned char *hex, size_t n)
{
    switch (method) {
    case HB_METHOD_SHA1:
        return n == 40;
    case HB_METHOD_MD5:
        return n == 32;
    default:
        return n >= 1 && n <= 8 && (n == 1 || hex[0] != '0');
    }
}

/* Netstring length prefix at pos: 1-6 digits, no leading zero unless
 * exactly "0", then ':'. Returns HB_OK (sets *length and *payload),
 * HB_TRUNCATED (ran out while every byte was valid) or HB_NS_BAD_LENGTH. */
static int parse_ns_length(const unsigned char *f, size_t len, size_t pos, size_t *length,
                           size_t *payload)
{
    size_t i = pos, v = 0, digits = 0;
    for (;;) {
        if (i >= len)
            return HB_TRUNCATED;
        if (f[i] == ':') {
            if (digits == 0)
                return HB_NS_BAD_LENGTH;
            *length = v;
            *payload = i + 1;
            return HB_OK;
        }
        if (!is_digit(f[i]) || digits == 6 || (digits == 1 && f[pos] == '0'))
            return HB_NS_BAD_LENGTH;
        v = v * 10 + (size_t)(f[i] - '0');
        digits++;
        i++;
    }
}

/* Canonical base64 check and decode of src[0..n) into dst (capacity cap).
 * Returns the decoded length, -1 if not canonical base64, -2 if dst is too
 * small. dst may be NULL with cap 0 to only validate and measure. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static long b64_decode(const unsigned char *src, size_t n, unsigned char *dst, size_t cap)
{
    size_t out = 0, pad = 0;
    if (n % 4 != 0)
        return -1;
    if (n >= 1 && src[n - 1] == '=')
        pad = (n >= 2 && src[n - 2] == '=') ? 2 : 1;
    if ((n / 4) * 3 - pad > cap && dst != NULL)
        return -2;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64_value(src[i]), b = b64_value(src[i + 1]);
        int c, d;
        int last = (i + 4 == n);
        if (a < 0 || b < 0)
            return -1;
        if (last && pad == 2) {
            if (src[i + 2] != '=' || (b & 0x0f) != 0)
                return -1;
            if (dst != NULL)
                dst[out] = (unsigned char)((a << 2) | (b >> 4));
            out += 1;
            break;
        }
        c = b64_value(src[i + 2]);
        if (c < 0)
            return -1;
        if (last && pad == 1) {
            if ((c & 0x03) != 0)
                return -1;
            if (dst != NULL) {
                dst[out] = (unsigned char)((a << 2) | (b >> 4));
                dst[out + 1] = (unsigned char)(((b & 0x0f) << 4) | (c >> 2));
            }
            out += 2;
            break;
        }
        d = b64_value(src[i + 3]);
        if (d < 0)
            return -1;
        if (dst != NULL) {
            dst[out] = (unsigned char)((a << 2) | (b >> 4));
            dst[out + 1] = (unsigned char)(((b & 0x0f) << 4) | (c >> 2));
            dst[out + 2] = (unsigned char)(((c & 0x03) << 6) | d);
        }
        out += 3;
    }
    return (long)out;
}

/* ------------------------------------------------------------------ */
/* Decoding.                                                           */

/* Parser state. With out == NULL (hb_verify) nothing is recorded: the
 * parser only checks, and the scratch and format are never touched. */
struct quiet_ctx;
static void quiet_field(struct quiet_ctx *c, const unsigned char *name, size_t nl, int type,
                        const unsigned char *value, size_t vl);

typedef struct {
    hb_error *e;
    hb_decoded *out;    /* NULL: verify only */
    struct quiet_ctx *q; /* quiet keepalives: learn or compare (never with out) */
    unsigned char *s;   /* scratch */
    size_t cap;
    size_t used;
    size_t fmt_used;
    int overflow;
    int32_t nfields;    /* fields recorded (auth excluded) */
} dec_state;

static int fail(hb_error *e, int code, long offset, long field, long name_off, long name_len)
{
    e->code = code;
    e->offset = (int32_t)offset;
    e->field_index = (int32_t)field;
    e->name_offset = (int32_t)name_off;
    e->name_length = (int32_t)name_len;
    return code;
}

/* Appends a struct format item "<n>s" (or "B" when n < 0). */
static void fmt_add(dec_state *d, long n)
{
    char tmp[24];
    size_t k = 0;
    char *fmt = d->out->fmt;
    if (n < 0) {
        tmp[k++] = 'B';
    } else if (n < 10) {
        tmp[k++] = (char)('0' + n);
        tmp[k++] = 's';
    } else if (n < 100) {
        tmp[k++] = (char)('0' + n / 10);
        tmp[k++] = (char)('0' + n % 10);
        tmp[k++] = 's';
    } else {
        char digits[20];
        size_t m = 0;
        unsigned long v = (unsigned long)n;
        do {
            digits[m++] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (m > 0)
            tmp[k++] = digits[--m];
        tmp[k++] = 's';
    }
    if (d->fmt_used + k + 1 > HB_FMT_SIZE) {
        d->overflow = 1;
        return;
    }
    memcpy(fmt + d->fmt_used, tmp, k);
    d->fmt_used += k;
    fmt[d->fmt_used] = '\0';
}

/* Reserves n scratch bytes; NULL (and overflow set) if they do not fit. */
static unsigned char *scratch_take(dec_state *d, size_t n)
{
    unsigned char *p;
    if (n > d->cap - d->used) {
        d->overflow = 1;
        return NULL;
    }
    p = d->s + d->used;
    d->used += n;
    return p;
}

static void scratch_put(dec_state *d, const unsigned char *src, size_t n)
{
    unsigned char *p = scratch_take(d, n);
    if (p != NULL && n > 0)
        memcpy(p, src, n);
}

/* What the parser remembers about the frame for verification. */
typedef struct {
    int has_auth;            /* classic auth field or netstring inner auth */
    long auth_line;          /* offset of that field's line/item */
    long auth_line_end;      /* classic: offset just past its '\n' */
    long auth_index;         /* wire field index */
    long auth_value;         /* offset of its value in the frame */
    long auth_value_len;
    int auth_key;            /* classic: parsed key index */
    size_t auth_hex;         /* classic: offset of hex inside the value */
    long body_end;           /* classic: start of "<<<"; netstring: past "%%%\n" */
    int has_trailer;
    long trailer_at;         /* offset of the trailer's length prefix */
    long trailer_content;
    long trailer_len;
    int trailer_key;
    size_t trailer_hex;
} frame_info;

/* Records one decoded field's name and type (auth excluded) into the
 * scratch + format; the caller records the value. */
static void emit_field(dec_state *d, const unsigned char *name, size_t nl, int type)
{
    unsigned char t = (unsigned char)type;
    scratch_put(d, name, nl);
    fmt_add(d, (long)nl);
    scratch_put(d, &t, 1);
    fmt_add(d, -1);
}

static int decode_classic(const unsigned char *f, size_t len, dec_state *d, frame_info *fi)
{
    hb_error *e = d->e;
    size_t pos = 4;
    long idx = 0;
    for (;;) {
        const unsigned char *nlp;
        size_t eol, p, eq, nl, vl;
        int type = 0, rc;
        if (pos >= len)
            return fail(e, HB_TRUNCATED, (long)len, -1, -1, -1);
        nlp = memchr(f + pos, '\n', len - pos);
        if (nlp == NULL)
            return fail(e, HB_TRUNCATED, (long)pos, idx, -1, -1);
        eol = (size_t)(nlp - f);
        if (eol - pos == 3 && memcmp(f + pos, "<<<", 3) == 0) {
            if (eol + 1 != len)
                return fail(e, HB_TRAILING_DATA, (long)(eol + 1), -1, -1, -1);
            fi->body_end = (long)pos;
            /* The auth value's syntax is checked once the frame is whole. */
            if (fi->has_auth && !parse_auth(f + fi->auth_value, (size_t)fi->auth_value_len,
                                            &fi->auth_key, &fi->auth_hex))
                return fail(e, HB_AUTH_MALFORMED, fi->auth_line, fi->auth_index,
                            fi->auth_value - 5, 4);
            return HB_OK;
        }
        if (idx >= HB_MAX_FIELDS)
            return fail(e, HB_TOO_MANY_FIELDS, (long)pos, idx, -1, -1);
        p = pos;
        if (f[p] == '(') {
            if (eol - p < 3 || !is_digit(f[p + 1]) || f[p + 2] != ')')
                return fail(e, HB_BAD_TYPE, (long)pos, idx, -1, -1);
            if (f[p + 1] == '0')
                return fail(e, HB_BAD_TYPE, (long)pos, idx, -1, -1);
            if (f[p + 1] != '1')
                return fail(e, HB_UNSUPPORTED_TYPE, (long)pos, idx, -1, -1);
            type = 1;
            p += 3;
        }
        nlp = memchr(f + p, '=', eol - p);
        if (nlp == NULL)
            return fail(e, HB_NO_EQUALS, (long)pos, idx, -1, -1);
        eq = (size_t)(nlp - f);
        nl = eq - p;
        rc = check_name(f + p, nl);
        if (rc != HB_OK)
            return fail(e, rc, (long)pos, idx, (long)p, (long)nl);
        vl = eol - (eq + 1);
        if (vl > HB_MAX_VALUE)
            return fail(e, HB_VALUE_TOO_LONG, (long)pos, idx, (long)p, (long)nl);
        if (type == 0) {
            if (memchr(f + eq + 1, '\0', vl) != NULL)
                return fail(e, HB_BAD_VALUE, (long)pos, idx, (long)p, (long)nl);
        } else {
            long n = b64_decode(f + eq + 1, vl, NULL, 0);
            if (n < 0)
                return fail(e, HB_BAD_BASE64, (long)pos, idx, (long)p, (long)nl);
            if (n > HB_MAX_VALUE)
                return fail(e, HB_VALUE_TOO_LONG, (long)pos, idx, (long)p, (long)nl);
        }
        if (is_auth_name(f + p, nl)) {
            if (type != 0)
                return fail(e, HB_AUTH_MALFORMED, (long)pos, idx, (long)p, (long)nl);
            if (fi->has_auth)
                return fail(e, HB_DUPLICATE_AUTH, (long)pos, idx, (long)p, (long)nl);
            fi->has_auth = 1;
            fi->auth_line = (long)pos;
            fi->auth_line_end = (long)(eol + 1);
            fi->auth_index = idx;
            fi->auth_value = (long)(eq + 1);
            fi->auth_value_len = (long)vl;
        } else if (d->q != NULL) {
            quiet_field(d->q, f + p, nl, type, f + eq + 1, vl);
        } else if (d->out != NULL) {
            emit_field(d, f + p, nl, type);
            if (type == 0) {
                unsigned char *dst = scratch_take(d, vl);
                if (dst != NULL) {
                    for (size_t i = 0; i < vl; i++) {
                        unsigned char c = f[eq + 1 + i];
                        dst[i] = c == 0x13 ? '\n' : c;
                    }
                }
                fmt_add(d, (long)vl);
            } else {
                size_t room = d->cap - d->used;
                long n = b64_decode(f + eq + 1, vl, d->s + d->used, room);
                if (n < 0) {
                    d->overflow = 1;
                    n = 0;
                }
                d->used += (size_t)n;
                fmt_add(d, n);
            }
            d->nfields++;
        }
        idx++;
        pos = eol + 1;
    }
}

static int decode_netstring(const unsigned char *f, size_t len, dec_state *d, frame_info *fi)
{
    hb_error *e = d->e;
    size_t pos = 4, length, p, end, eq, nl, vl;
    long idx = 0;
    int rc, type;
    for (;;) {
        if (len - pos >= 4 && memcmp(f + pos, "%%%\n", 4) == 0) {
            pos += 4;
            break;
        }
        if (pos >= len)
            return fail(e, HB_TRUNCATED, (long)len, -1, -1, -1);
        if (idx >= HB_MAX_FIELDS)
            return fail(e, HB_TOO_MANY_FIELDS, (long)pos, idx, -1, -1);
        rc = parse_ns_length(f, len, pos, &length, &p);
        if (rc != HB_OK)
            return fail(e, rc, (long)pos, idx, -1, -1);
        if (length >= len - p)
            return fail(e, HB_TRUNCATED, (long)pos, idx, -1, -1);
        end = p + length;
        if (f[end] != ',')
            return fail(e, HB_NS_NO_COMMA, (long)pos, idx, -1, -1);
        if (length < 3 || f[p] != '(' || !is_digit(f[p + 1]) || f[p + 2] != ')')
            return fail(e, HB_NS_NO_TYPE, (long)pos, idx, -1, -1);
        type = f[p + 1] - '0';
        if (type > 1)
            return fail(e, HB_UNSUPPORTED_TYPE, (long)pos, idx, -1, -1);
        {
            const unsigned char *q = memchr(f + p + 3, '=', end - (p + 3));
            if (q == NULL)
                return fail(e, HB_NO_EQUALS, (long)pos, idx, -1, -1);
            eq = (size_t)(q - f);
        }
        nl = eq - (p + 3);
        rc = check_name(f + p + 3, nl);
        if (rc != HB_OK)
            return fail(e, rc, (long)pos, idx, (long)(p + 3), (long)nl);
        vl = end - (eq + 1);
        if (vl > HB_MAX_VALUE)
            return fail(e, HB_VALUE_TOO_LONG, (long)pos, idx, (long)(p + 3), (long)nl);
        if (type == 0 && bad_string(f + eq + 1, vl))
            return fail(e, HB_BAD_VALUE, (long)pos, idx, (long)(p + 3), (long)nl);
        if (is_auth_name(f + p + 3, nl)) {
            if (type != 0)
                return fail(e, HB_AUTH_MALFORMED, (long)pos, idx, (long)(p + 3), (long)nl);
            if (fi->has_auth)
                return fail(e, HB_DUPLICATE_AUTH, (long)pos, idx, (long)(p + 3), (long)nl);
            fi->has_auth = 1;
            fi->auth_line = (long)pos;
            fi->auth_index = idx;
            fi->auth_value = (long)(eq + 1);
            fi->auth_value_len = (long)vl;
        } else if (d->q != NULL) {
            quiet_field(d->q, f + p + 3, nl, type, f + eq + 1, vl);
        } else if (d->out != NULL) {
            emit_field(d, f + p + 3, nl, type);
            scratch_put(d, f + eq + 1, vl);
            fmt_add(d, (long)vl);
            d->nfields++;
        }
        idx++;
        pos = end + 1;
    }
    fi->body_end = (long)pos;
    if (pos == len)
        return HB_OK;
    rc = parse_ns_length(f, len, pos, &length, &p);
    if (rc != HB_OK)
        return fail(e, rc, (long)pos, -1, -1, -1);
    if (length >= len - p)
        return fail(e, HB_TRUNCATED, (long)pos, -1, -1, -1);
    end = p + length;
    if (f[end] != ',')
        return fail(e, HB_NS_NO_COMMA, (long)pos, -1, -1, -1);
    if (end + 1 != len)
        return fail(e, HB_TRAILING_DATA, (long)(end + 1), -1, -1, -1);
    if (!parse_auth(f + p, length, &fi->trailer_key, &fi->trailer_hex))
        return fail(e, HB_AUTH_MALFORMED, (long)pos, -1, -1, -1);
    fi->has_trailer = 1;
    fi->trailer_at = (long)pos;
    fi->trailer_content = (long)p;
    fi->trailer_len = (long)length;
    return HB_OK;
}

/* Checks a signature "<N> <hex>" found at sig[0..n) (hex at hex_at)
 * against the MAC of the signed bytes (two spans of the frame). */
static int verify_sig(const unsigned char *f, const hb_keyring *kr, int key_index,
                      const unsigned char *sig, size_t n, size_t hex_at, size_t a0, size_t a1,
                      size_t b0, size_t b1, hb_error *e, long at, long field, int *method)
{
    const hb_key *k = &kr->keys[key_index];
    mac_ctx m;
    char hex[HB_HEX_SIZE];
    size_t hl = n - hex_at;
    int got;
    if (!k->present)
        return fail(e, HB_AUTH_UNKNOWN_KEY, at, field, -1, -1);
    if (!auth_fits_method(k->method, sig + hex_at, hl))
        return fail(e, HB_AUTH_MALFORMED, at, field, -1, -1);
    mac_begin(&m, k);
    mac_update(&m, f + a0, a1 - a0);
    mac_update(&m, f + b0, b1 - b0);
    got = mac_hex(&m, hex);
    /* Lengths are public (they follow from the method); the digest
     * bytes are compared in constant time. */
    if ((size_t)got != hl || !ct_equal(hex, (const char *)sig + hex_at, hl))
        return fail(e, HB_AUTH_MISMATCH, at, field, -1, -1);
    *method = k->method;
    return HB_OK;
}

/* The checks every frame gets first. Returns the form (> 0) or minus an
 * error code. */
static int frame_form(const char *frame, size_t len, hb_error *e)
{
    if (len == 0)
        return -fail(e, HB_EMPTY, 0, -1, -1, -1);
    if (frame == NULL)
        return -fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
    if (len > HB_MAX_FRAME)
        return -fail(e, HB_TOO_LARGE, 0, -1, -1, -1);
    if (len >= 4 && memcmp(frame, ">>>\n", 4) == 0)
        return HB_FORM_CLASSIC;
    if (len >= 4 && memcmp(frame, "###\n", 4) == 0)
        return HB_FORM_NETSTRING;
    return -fail(e, HB_UNKNOWN_FORM, 0, -1, -1, -1);
}

/* What parse_verify found. */
typedef struct {
    int key_index;
    int method;
    long sig_at, sig_len, inner_at, inner_len;
} verdict;

/* Parses the frame (form already known) and, with a keyring, verifies it.
 * Fills v; returns HB_OK or the error code (also in d->e). */
static int parse_verify(const unsigned char *f, size_t len, int form, const hb_keyring *kr,
                        dec_state *d, verdict *v)
{
    hb_error *e = d->e;
    frame_info fi;
    int rc;

    memset(&fi, 0, sizeof(fi));
    v->key_index = -1;
    v->method = HB_METHOD_NONE;
    v->sig_at = v->inner_at = -1;
    v->sig_len = v->inner_len = 0;
    rc = form == HB_FORM_CLASSIC ? decode_classic(f, len, d, &fi)
                                 : decode_netstring(f, len, d, &fi);
    if (rc != HB_OK)
        return rc;

    if (form == HB_FORM_CLASSIC) {
        if (fi.has_auth) {
            v->sig_at = fi.auth_value;
            v->sig_len = fi.auth_value_len;
            v->key_index = fi.auth_key;
        }
        if (kr != NULL) {
            if (!fi.has_auth)
                return fail(e, HB_AUTH_MISSING, fi.body_end, -1, -1, -1);
            rc = verify_sig(f, kr, fi.auth_key, f + fi.auth_value, (size_t)fi.auth_value_len,
                            fi.auth_hex, 4, (size_t)fi.auth_line, (size_t)fi.auth_line_end,
                            (size_t)fi.body_end, e, fi.auth_line, fi.auth_index, &v->method);
            if (rc != HB_OK) {
                e->name_offset = (int32_t)(fi.auth_value - 5);
                e->name_length = 4;
                return rc;
            }
        }
    } else {
        if (fi.has_auth) {
            v->inner_at = fi.auth_value;
            v->inner_len = fi.auth_value_len;
        }
        if (fi.has_trailer) {
            v->sig_at = fi.trailer_content;
            v->sig_len = fi.trailer_len;
            v->key_index = fi.trailer_key;
        }
        if (kr != NULL) {
            if (!fi.has_trailer)
                return fail(e, HB_AUTH_MISSING, (long)len, -1, -1, -1);
            rc = verify_sig(f, kr, fi.trailer_key, f + fi.trailer_content,
                            (size_t)fi.trailer_len, fi.trailer_hex, 0, (size_t)fi.body_end, 0,
                            0, e, fi.trailer_at, -1, &v->method);
            if (rc != HB_OK)
                return rc;
        }
    }
    return HB_OK;
}

int32_t hb_verify(const char *frame, size_t len, const hb_keyring *kr, hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    dec_state d;
    verdict v;
    int form, rc;

    fail(e, HB_OK, -1, -1, -1, -1);
    form = frame_form(frame, len, e);
    if (form < 0)
        return form;
    memset(&d, 0, sizeof(d));
    d.e = e;
    rc = parse_verify(U8(frame), len, form, kr, &d, &v);
    if (rc != HB_OK)
        return -rc;
    return (int32_t)(form | (v.method << 2) | ((v.key_index + 1) << 4));
}

int hb_decode(const char *frame, size_t len, const hb_keyring *kr, hb_decoded *out,
              char *scratch, size_t scratch_cap)
{
    const unsigned char *f = U8(frame);
    dec_state d;
    verdict v;
    hb_error *e;
    int rc, form;
    unsigned char *hdr;

    if (out == NULL)
        return HB_BAD_ARGUMENT;
    e = &out->err;
    out->form = 0;
    out->nfields = 0;
    out->key_index = -1;
    out->method = HB_METHOD_NONE;
    out->sig_offset = out->inner_offset = -1;
    out->sig_length = out->inner_length = 0;
    out->scratch_used = 0;
    out->fmt[0] = '\0';
    fail(e, HB_OK, -1, -1, -1, -1);
    form = frame_form(frame, len, e);
    if (form < 0)
        return -form;
    if (scratch == NULL || scratch_cap < len + HB_SCRATCH_EXTRA)
        return fail(e, HB_NO_SPACE, -1, -1, -1, -1);

    memset(&d, 0, sizeof(d));
    d.e = e;
    d.out = out;
    d.s = (unsigned char *)scratch;
    d.cap = scratch_cap;
    memcpy(out->fmt, "=5bB", 5);
    d.fmt_used = 4;
    hdr = scratch_take(&d, 6);

    rc = parse_verify(f, len, form, kr, &d, &v);
    if (rc != HB_OK)
        return rc;

    if (v.sig_at >= 0) {
        scratch_put(&d, f + v.sig_at, (size_t)v.sig_len);
        fmt_add(&d, v.sig_len);
    }
    if (v.inner_at >= 0) {
        scratch_put(&d, f + v.inner_at, (size_t)v.inner_len);
        fmt_add(&d, v.inner_len);
    }
    if (d.overflow || hdr == NULL)
        return fail(e, HB_NO_SPACE, -1, -1, -1, -1);
    hdr[0] = (unsigned char)form;
    hdr[1] = (unsigned char)(signed char)v.key_index;
    hdr[2] = (unsigned char)v.method;
    hdr[3] = v.sig_at >= 0;
    hdr[4] = v.inner_at >= 0;
    hdr[5] = (unsigned char)d.nfields;
    out->form = form;
    out->nfields = d.nfields;
    out->key_index = v.key_index;
    out->method = v.method;
    out->sig_offset = (int32_t)v.sig_at;
    out->sig_length = (int32_t)v.sig_len;
    out->inner_offset = (int32_t)v.inner_at;
    out->inner_length = (int32_t)v.inner_len;
    out->scratch_used = (int32_t)d.used;
    return HB_OK;
}

/* ------------------------------------------------------------------ */
/* Encoding.                                                           */

/* A MAC fed through a small buffer: rendering hands it many short
 * pieces, and one digest update per piece would cost more than the
 * hashing itself. Pieces of MB_SIZE bytes or more go straight through. */
#define MB_SIZE 512

typedef struct {
    mac_ctx mac;
    size_t n;
    unsigned char buf[MB_SIZE];
} mac_buf;

static void mb_start(mac_buf *b, const mac_ctx *state)
{
    b->mac = *state;
    b->n = 0;
}

static void mb_flush(mac_buf *b)
{
    mac_update(&b->mac, b->buf, b->n);
    b->n = 0;
}

static void mb_put(mac_buf *b, const void *src, size_t n)
{
    if (n == 0)
        return;
    if (n > MB_SIZE - b->n) {
        mb_flush(b);
        if (n >= MB_SIZE) {
            mac_update(&b->mac, src, n);
            return;
        }
    }
    memcpy(b->buf + b->n, src, n);
    b->n += n;
}

/* Output cursor: writes while there is room, always counts. Once a piece
 * does not fit, nothing more is written (over = 1) but pos keeps growing,
 * so the caller learns the size the frame would have had. */
typedef struct {
    unsigned char *buf;
    size_t cap;
    size_t pos;
    int over;
} writer;

/* n bytes of output at the writer's position, or NULL (and the writer
 * marked over) if they do not fit; the position grows either way. */
static unsigned char *reserve(writer *w, size_t n)
{
    unsigned char *p = NULL;
    if (!w->over && n <= w->cap - w->pos)
        p = w->buf + w->pos;
    else
        w->over = 1;
    w->pos += n;
    return p;
}

/* n bytes of the MAC buffer, or NULL if n > MB_SIZE. */
static unsigned char *mb_reserve(mac_buf *b, size_t n)
{
    unsigned char *p;
    if (n > MB_SIZE)
        return NULL;
    if (n > MB_SIZE - b->n)
        mb_flush(b);
    p = b->buf + b->n;
    b->n += n;
    return p;
}

static void emit(writer *w, mac_buf *m, const void *src, size_t n)
{
    if (n == 0)
        return;
    if (w != NULL) {
        unsigned char *p = reserve(w, n);
        if (p != NULL)
            memcpy(p, src, n);
    }
    if (m != NULL)
        mb_put(m, src, n);
}

static size_t dec_digits(size_t v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

static size_t dec_width(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Bytes of one field in classic form, and as a netstring item. */
static size_t classic_size(size_t nl, int type, size_t vl)
{
    return type == 1 ? 3 + nl + 1 + 4 * ((vl + 2) / 3) + 1 : nl + 1 + vl + 1;
}

static size_t ns_size(size_t nl, size_t vl)
{
    size_t payload = 3 + nl + 1 + vl;
    return dec_width(payload) + 1 + payload + 1;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static unsigned char *put_bytes(unsigned char *p, const void *src, size_t n)
{
    if (n > 0)
        memcpy(p, src, n);
    return p + n;
}

/* Standard base64 of v[0..vl) at p: exactly 4 * ((vl + 2) / 3) bytes. */
static unsigned char *b64_raw(unsigned char *p, const unsigned char *v, size_t vl)
{
    size_t i = 0;
    for (; i + 3 <= vl; i += 3) {
        uint32_t x = ((uint32_t)v[i] << 16) | ((uint32_t)v[i + 1] << 8) | v[i + 2];
        *p++ = (unsigned char)b64chars[(x >> 18) & 63];
        *p++ = (unsigned char)b64chars[(x >> 12) & 63];
        *p++ = (unsigned char)b64chars[(x >> 6) & 63];
        *p++ = (unsigned char)b64chars[x & 63];
    }
    if (vl - i == 1) {
        uint32_t x = (uint32_t)v[i] << 16;
        *p++ = (unsigned char)b64chars[(x >> 18) & 63];
        *p++ = (unsigned char)b64chars[(x >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (vl - i == 2) {
        uint32_t x = ((uint32_t)v[i] << 16) | ((uint32_t)v[i + 1] << 8);
        *p++ = (unsigned char)b64chars[(x >> 18) & 63];
        *p++ = (unsigned char)b64chars[(x >> 12) & 63];
        *p++ = (unsigned char)b64chars[(x >> 6) & 63];
        *p++ = '=';
    }
    return p;
}

/* One field in classic form at p, exactly classic_size() bytes:
 * "name=value\n" ('\n' as 0x13) or "(1)name=BASE64\n". */
static void classic_raw(unsigned char *p, const unsigned char *name, size_t nl, int type,
                        const unsigned char *v, size_t vl)
{
    if (type == 1) {
        *p++ = '(';
        *p++ = '1';
        *p++ = ')';
    }
    p = put_bytes(p, name, nl);
    *p++ = '=';
    if (type == 0) {
        put_bytes(p, v, vl);
        for (size_t i = 0; i < vl; i++) {
            if (p[i] == '\n')
                p[i] = 0x13;
        }
        p += vl;
    } else {
        p = b64_raw(p, v, vl);
    }
    *p = '\n';
}

/* One netstring item "<len>:(T)name=value," at p, exactly ns_size() bytes. */
static void ns_raw(unsigned char *p, const unsigned char *name, size_t nl, int type,
                   const unsigned char *v, size_t vl)
{
    p += dec_digits(3 + nl + 1 + vl, (char *)p);
    *p++ = ':';
    *p++ = '(';
    *p++ = (unsigned char)('0' + type);
    *p++ = ')';
    p = put_bytes(p, name, nl);
    *p++ = '=';
    p = put_bytes(p, v, vl);
    *p = ',';
}

/* A classic field too large for the MAC buffer, fed to m piece by piece.
 * nl <= HB_MAX_NAME (checked before). */
static void classic_stream(mac_buf *m, const unsigned char *name, size_t nl, int type,
                           const unsigned char *v, size_t vl)
{
    unsigned char head[3 + HB_MAX_NAME + 1];
    size_t h = 0;
    if (type == 1) {
        memcpy(head, "(1)", 3);
        h = 3;
    }
    memcpy(head + h, name, nl);
    h += nl;
    head[h++] = '=';
    mb_put(m, head, h);
    if (type == 0) {
        size_t start = 0;
        const unsigned char *nlp;
        while (start < vl && (nlp = memchr(v + start, '\n', vl - start)) != NULL) {
            size_t i = (size_t)(nlp - v);
            mb_put(m, v + start, i - start);
            mb_put(m, "\x13", 1);
            start = i + 1;
        }
        mb_put(m, v + start, vl - start);
    } else {
        /* 48 input bytes -> 64 output bytes at a time. */
        for (size_t i = 0; i < vl; i += 48) {
            unsigned char chunk[64];
            size_t take = vl - i < 48 ? vl - i : 48;
            mb_put(m, chunk, (size_t)(b64_raw(chunk, v + i, take) - chunk));
        }
    }
    mb_put(m, "\n", 1);
}

/* A netstring item too large for the MAC buffer, piece by piece. */
static void ns_stream(mac_buf *m, const unsigned char *name, size_t nl, int type,
                      const unsigned char *v, size_t vl)
{
    unsigned char head[24 + 3 + HB_MAX_NAME + 1];
    size_t k = dec_digits(3 + nl + 1 + vl, (char *)head);
    head[k++] = ':';
    head[k++] = '(';
    head[k++] = (unsigned char)('0' + type);
    head[k++] = ')';
    memcpy(head + k, name, nl);
    k += nl;
    head[k++] = '=';
    mb_put(m, head, k);
    mb_put(m, v, vl);
    mb_put(m, ",", 1);
}

/* One field, in classic form or as a netstring item, to the output w
 * and/or the MAC m (either may be NULL). */
static void put_field(writer *w, mac_buf *m, int classic, const unsigned char *name, size_t nl,
                      int type, const unsigned char *v, size_t vl)
{
    size_t n = classic ? classic_size(nl, type, vl) : ns_size(nl, vl);
    unsigned char *p;
    if (w != NULL && (p = reserve(w, n)) != NULL) {
        if (classic)
            classic_raw(p, name, nl, type, v, vl);
        else
            ns_raw(p, name, nl, type, v, vl);
    }
    if (m == NULL)
        return;
    p = mb_reserve(m, n);
    if (p != NULL && classic)
        classic_raw(p, name, nl, type, v, vl);
    else if (p != NULL)
        ns_raw(p, name, nl, type, v, vl);
    else if (classic)
        classic_stream(m, name, nl, type, v, vl);
    else
        ns_stream(m, name, nl, type, v, vl);
}

/* "<N> <hex>" for the signing key over what m has seen. */
static size_t make_sig(mac_buf *m, int index, char *sig)
{
    size_t k = dec_digits((size_t)index, sig);
    mb_flush(m);
    sig[k++] = ' ';
    return k + (size_t)mac_hex(&m->mac, sig + k);
}

/* "<len>:N hex," */
static void emit_trailer(writer *w, const char *sig, size_t sl)
{
    char head[24];
    size_t k = dec_digits(sl, head);
    head[k++] = ':';
    emit(w, NULL, head, k);
    emit(w, NULL, sig, sl);
    emit(w, NULL, ",", 1);
}

/* The i-th int32 of an unaligned native-endian array. */
static int32_t get_len(const char *lens, int32_t i)
{
    int32_t v;
    memcpy(&v, lens + (size_t)i * sizeof(v), sizeof(v));
    return v;
}

/* Whether a value of vl bytes is too long to encode: in classic form a
 * binary value is written as base64, and the decoder limits what is written,
 * so the encoder must limit the base64 length too (both sides agree). */
static int value_too_long(int classic, int type, size_t vl)
{
    if (vl > HB_MAX_VALUE)
        return 1;
    return classic && type == 1 && (vl + 2) / 3 * 4 > HB_MAX_VALUE;
}

/* The checks of one field to encode, in contract order (its index is
 * already known to be within the field limit). */
static int check_field(int classic, const unsigned char *name, size_t nl, int type,
                       const unsigned char *v, size_t vl)
{
    int rc;
    if (type > 1)
        return HB_UNSUPPORTED_TYPE;
    rc = check_name(name, nl);
    if (rc == HB_OK && is_auth_name(name, nl))
        rc = HB_BAD_NAME;
    if (rc != HB_OK)
        return rc;
    if (value_too_long(classic, type, vl))
        return HB_VALUE_TOO_LONG;
    if (type == 0 && bad_string(v, vl))
        return HB_BAD_VALUE;
    return HB_OK;
}

/* Argument and field checks shared by hb_encode and hb_template_new.
 * Sets *key (NULL: unsigned). Returns HB_OK or the error (also in e). */
static int check_message(int form, const char *names, size_t names_total, const char *values,
                         size_t values_total, const char *lens_raw, const unsigned char *types,
                         int32_t nfields, const hb_keyring *kr, hb_error *e, const hb_key **key)
{
    const unsigned char *N = U8(names), *V = U8(values);
    size_t noff = 0, voff = 0, limit;
    *key = NULL;
    if ((form != HB_FORM_CLASSIC && form != HB_FORM_NETSTRING) || nfields < 0 ||
        nfields > HB_MAX_FRAME || (nfields > 0 && (lens_raw == NULL || types == NULL)) ||
        (names_total > 0 && names == NULL) || (values_total > 0 && values == NULL))
        return fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
    if (kr != NULL) {
        if (kr->signing < 0 || kr->signing >= HB_MAX_KEYS || !kr->keys[kr->signing].present)
            return fail(e, HB_BAD_KEYRING, -1, -1, -1, -1);
        *key = &kr->keys[kr->signing];
    }
    limit = *key != NULL ? HB_MAX_FIELDS - 1 : HB_MAX_FIELDS;
    for (int32_t i = 0; i < nfields; i++) {
        int32_t nl = get_len(lens_raw, i), vl = get_len(lens_raw, nfields + i);
        int rc;
        if ((size_t)i >= limit)
            return fail(e, HB_TOO_MANY_FIELDS, -1, i, -1, -1);
        if (nl < 0 || vl < 0 || (size_t)nl > names_total - noff ||
            (size_t)vl > values_total - voff)
            return fail(e, HB_BAD_ARGUMENT, -1, i, -1, -1);
        rc = check_field(form == HB_FORM_CLASSIC, N + noff, (size_t)nl, types[i], V + voff,
                         (size_t)vl);
        if (rc != HB_OK)
            return fail(e, rc, -1, i, (long)noff, nl);
        noff += (size_t)nl;
        voff += (size_t)vl;
    }
    if (noff != names_total || voff != values_total)
        return fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
    return HB_OK;
}

/* The final size checks of an encoded frame. */
static int32_t finish(const writer *w, hb_error *e)
{
    if (w->pos > HB_MAX_FRAME)
        return -fail(e, HB_TOO_LARGE, -1, -1, -1, -1);
    if (w->over)
        return -fail(e, HB_NO_SPACE, -1, -1, -1, -1);
    return (int32_t)w->pos;
}

int32_t hb_encode(int form, const char *names, size_t names_total, const char *values,
                  size_t values_total, const char *lens_raw, const char *types_raw,
                  int32_t nfields, const hb_keyring *kr, int inner_auth, char *out,
                  size_t out_cap, hb_error *err)
{
    const unsigned char *types = U8(types_raw);
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    const unsigned char *N = U8(names), *V = U8(values);
    const hb_key *key;
    size_t noff, voff, sl;
    writer w;
    mac_ctx start;
    mac_buf mb, inner;
    char sig[8 + HB_HEX_SIZE];
    int rc;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (out == NULL)
        return -fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
    rc = check_message(form, names, names_total, values, values_total, lens_raw, types, nfields,
                       kr, e, &key);
    if (rc != HB_OK)
        return -rc;
    if (key != NULL)
        mac_begin(&start, key);

    /* Fields first; the MAC of the signed bytes comes from the output in
     * one span afterwards (or, if the output did not fit, from rendering
     * the fields once more into the MAC alone). */
    w.buf = (unsigned char *)out;
    w.cap = out_cap;
    w.pos = 0;
    w.over = 0;
    if (form == HB_FORM_CLASSIC) {
        emit(&w, NULL, ">>>\n", 4);
        noff = voff = 0;
        for (int32_t i = 0; i < nfields; i++) {
            size_t nl = (size_t)get_len(lens_raw, i), vl = (size_t)get_len(lens_raw, nfields + i);
            put_field(&w, NULL, 1, N + noff, nl, types[i], V + voff, vl);
            noff += nl;
            voff += vl;
        }
        if (key != NULL) {
            mb_start(&mb, &start);
            if (!w.over) {
                mac_update(&mb.mac, out + 4, w.pos - 4);
            } else {
                noff = voff = 0;
                for (int32_t i = 0; i < nfields; i++) {
                    size_t nl = (size_t)get_len(lens_raw, i);
                    size_t vl = (size_t)get_len(lens_raw, nfields + i);
                    put_field(NULL, &mb, 1, N + noff, nl, types[i], V + voff, vl);
                    noff += nl;
                    voff += vl;
                }
            }
            sl = make_sig(&mb, kr->signing, sig);
            emit(&w, NULL, "auth=", 5);
            emit(&w, NULL, sig, sl);
            emit(&w, NULL, "\n", 1);
        }
        emit(&w, NULL, "<<<\n", 4);
        return finish(&w, e);
    }

    inner_auth = key != NULL && inner_auth;
    if (inner_auth)
        mb_start(&inner, &start);
    emit(&w, NULL, "###\n", 4);
    noff = voff = 0;
    for (int32_t i = 0; i < nfields; i++) {
        size_t nl = (size_t)get_len(lens_raw, i), vl = (size_t)get_len(lens_raw, nfields + i);
        put_field(&w, NULL, 0, N + noff, nl, types[i], V + voff, vl);
        if (inner_auth)
            put_field(NULL, &inner, 1, N + noff, nl, types[i], V + voff, vl);
        noff += nl;
        voff += vl;
    }
    if (inner_auth) {
        sl = make_sig(&inner, kr->signing, sig);
        put_field(&w, NULL, 0, U8("auth"), 4, 0, U8(sig), sl);
    }
    emit(&w, NULL, "%%%\n", 4);
    if (key != NULL) {
        char outer[8 + HB_HEX_SIZE];
        mb_start(&mb, &start);
        if (!w.over) {
            mac_update(&mb.mac, out, w.pos);
        } else {
            emit(NULL, &mb, "###\n", 4);
            noff = voff = 0;
            for (int32_t i = 0; i < nfields; i++) {
                size_t nl = (size_t)get_len(lens_raw, i);
                size_t vl = (size_t)get_len(lens_raw, nfields + i);
                put_field(NULL, &mb, 0, N + noff, nl, types[i], V + voff, vl);
                noff += nl;
                voff += vl;
            }
            if (inner_auth)
                put_field(NULL, &mb, 0, U8("auth"), 4, 0, U8(sig), sl);
            emit(NULL, &mb, "%%%\n", 4);
        }
        emit_trailer(&w, outer, make_sig(&mb, kr->signing, outer));
    }
    return finish(&w, e);
}

/* ------------------------------------------------------------------ */
/* Templates: a message whose fields are fixed but for a few variable   */
/* values ("slots"). The constant fields are checked and rendered once  */
/* (in the wire form, and in classic form for the inner signature), and */
/* the MAC states after the constant prefix are kept, so an encode only */
/* renders the slots and hashes what follows the prefix.                */

struct hb_template {
    int form;
    int inner;                  /* netstring: add the inner auth item */
    int signing;                /* key index, or -1: unsigned */
    hb_key key;                 /* copy of the signing key */
    int32_t nslots;
    int32_t slot_field[HB_TEMPLATE_SLOTS];
    int32_t slot_name_off[HB_TEMPLATE_SLOTS];  /* in the names given to hb_template_new */
    unsigned char slot_type[HB_TEMPLATE_SLOTS];
    unsigned char slot_name_len[HB_TEMPLATE_SLOTS];
    unsigned char slot_name[HB_TEMPLATE_SLOTS][HB_MAX_NAME];
    /* Constant renderings between slots, in data[]: wseg in the wire form
     * (wseg 0 starts with ">>>\n" or "###\n"), cseg in classic form (for
     * the inner signature of a netstring frame). */
    size_t wseg_off[HB_TEMPLATE_SLOTS + 1], wseg_len[HB_TEMPLATE_SLOTS + 1];
    size_t cseg_off[HB_TEMPLATE_SLOTS + 1], cseg_len[HB_TEMPLATE_SLOTS + 1];
    mac_ctx pre;                /* signed bytes' MAC after the constant prefix */
    mac_ctx inner_pre;          /* netstring inner signature's, likewise */
    size_t data_len;
    unsigned char data[];
};

hb_template *hb_template_new(int form, const char *names, size_t names_total, const char *values,
                             size_t values_total, const char *lens_raw, const char *types_raw,
                             int32_t nfields, const hb_keyring *kr, int inner_auth,
                             const char *variable, hb_error *err)
{
    const unsigned char *types = U8(types_raw), *var = U8(variable);
    const unsigned char *N = U8(names), *V = U8(values);
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    const hb_key *key;
    hb_template *t;
    size_t wsize[HB_TEMPLATE_SLOTS + 1] = {0}, csize[HB_TEMPLATE_SLOTS + 1] = {0};
    size_t noff, voff, wtotal = 0, ctotal = 0, at;
    int32_t slot;
    int rc, want_classic;
    writer w, c;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (nfields > 0 && variable == NULL)
        return fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1), NULL;
    rc = check_message(form, names, names_total, values, values_total, lens_raw, types, nfields,
                       kr, e, &key);
    if (rc != HB_OK)
        return NULL;
    want_classic = form == HB_FORM_NETSTRING && key != NULL && inner_auth;

    /* Sizes of the constant segments. */
    wsize[0] = 4;
    slot = 0;
    noff = voff = 0;
    for (int32_t i = 0; i < nfields; i++) {
        size_t nl = (size_t)get_len(lens_raw, i), vl = (size_t)get_len(lens_raw, nfields + i);
        if (var[i]) {
            if (slot == HB_TEMPLATE_SLOTS)
                return fail(e, HB_BAD_ARGUMENT, -1, i, (long)noff, (long)nl), NULL;
            slot++;
        } else {
            wsize[slot] += form == HB_FORM_CLASSIC ? classic_size(nl, types[i], vl)
                                                   : ns_size(nl, vl);
            if (want_classic)
                csize[slot] += classic_size(nl, types[i], vl);
        }
        noff += nl;
        voff += vl;
    }
    for (int32_t s = 0; s <= slot; s++) {
        wtotal += wsize[s];
        ctotal += csize[s];
    }
    /* Every frame built from it would be too large. */
    if (wtotal > HB_MAX_FRAME)
        return fail(e, HB_TOO_LARGE, -1, -1, -1, -1), NULL;

    t = calloc(1, sizeof(*t) + wtotal + ctotal);
    if (t == NULL)
        return fail(e, HB_NO_MEMORY, -1, -1, -1, -1), NULL;
    t->form = form;
    t->signing = key != NULL ? kr->signing : -1;
    t->inner = want_classic;
    if (key != NULL)
        t->key = *key;
    t->nslots = slot;
    t->data_len = wtotal + ctotal;
    at = 0;
    for (int32_t s = 0; s <= slot; s++) {
        t->wseg_off[s] = at;
        t->wseg_len[s] = wsize[s];
        at += wsize[s];
    }
    for (int32_t s = 0; s <= slot; s++) {
        t->cseg_off[s] = at;
        t->cseg_len[s] = csize[s];
        at += csize[s];
    }

    /* Render them. */
    w.buf = t->data;
    w.cap = wtotal;
    w.pos = 0;
    w.over = 0;
    c.buf = t->data + wtotal;
    c.cap = ctotal;
    c.pos = 0;
    c.over = 0;
    emit(&w, NULL, form == HB_FORM_CLASSIC ? ">>>\n" : "###\n", 4);
    slot = 0;
    noff = voff = 0;
    for (int32_t i = 0; i < nfields; i++) {
        size_t nl = (size_t)get_len(lens_raw, i), vl = (size_t)get_len(lens_raw, nfields + i);
        if (var[i]) {
            t->slot_field[slot] = i;
            t->slot_name_off[slot] = (int32_t)noff;
            t->slot_type[slot] = types[i];
            t->slot_name_len[slot] = (unsigned char)nl;
            memcpy(t->slot_name[slot], N + noff, nl);
            slot++;
        } else if (form == HB_FORM_CLASSIC) {
            put_field(&w, NULL, 1, N + noff, nl, types[i], V + voff, vl);
        } else {
            put_field(&w, NULL, 0, N + noff, nl, types[i], V + voff, vl);
            if (want_classic)
                put_field(&c, NULL, 1, N + noff, nl, types[i], V + voff, vl);
        }
        noff += nl;
        voff += vl;
    }
    if (w.over || c.over || w.pos != wtotal || c.pos != ctotal) {
        /* The size computation and the rendering disagree: a bug, never
         * a reason to write out of bounds. */
        hb_template_free(t);
        return fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1), NULL;
    }

    /* MAC states after the constant prefix (segment 0). */
    if (key != NULL) {
        mac_begin(&t->pre, &t->key);
        if (form == HB_FORM_CLASSIC)
            mac_update(&t->pre, t->data + 4, t->wseg_len[0] - 4);
        else
            mac_update(&t->pre, t->data, t->wseg_len[0]);
        if (want_classic) {
            mac_begin(&t->inner_pre, &t->key);
            mac_update(&t->inner_pre, t->data + t->cseg_off[0], t->cseg_len[0]);
        }
    }
    return t;
}

void hb_template_free(hb_template *t)
{
    if (t == NULL)
        return;
    OPENSSL_cleanse(t, sizeof(*t));
    free(t);
}

/* Writes slot i's field in the template's wire form (or classic form
 * when classic is set) to w/m. */
static void tpl_slot(const hb_template *t, int32_t i, int classic, writer *w, mac_buf *m,
                     const unsigned char *v, size_t vl)
{
    put_field(w, m, classic, t->slot_name[i], t->slot_name_len[i], t->slot_type[i], v, vl);
}

int32_t hb_template_encode(const hb_template *t, const char *v0, size_t n0, const char *v1,
                           size_t n1, const char *v2, size_t n2, const char *v3, size_t n3,
                           char *out, size_t out_cap, hb_error *err)
{
    const unsigned char *v[HB_TEMPLATE_SLOTS] = {U8(v0), U8(v1), U8(v2), U8(v3)};
    const size_t vl[HB_TEMPLATE_SLOTS] = {n0, n1, n2, n3};
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    const unsigned char *D;
    int classic;
    size_t sl = 0, signed_from;
    writer w;
    mac_buf mb;
    char sig[8 + HB_HEX_SIZE];

    fail(e, HB_OK, -1, -1, -1, -1);
    if (t == NULL || out == NULL)
        return -fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
    D = t->data;
    classic = t->form == HB_FORM_CLASSIC;
    for (int32_t i = 0; i < t->nslots; i++) {
        int rc = HB_OK;
        if (v[i] == NULL && vl[i] > 0)
            return -fail(e, HB_BAD_ARGUMENT, -1, t->slot_field[i], -1, -1);
        if (value_too_long(classic, t->slot_type[i], vl[i]))
            rc = HB_VALUE_TOO_LONG;
        else if (t->slot_type[i] == 0 && bad_string(v[i], vl[i]))
            rc = HB_BAD_VALUE;
        if (rc != HB_OK)
            return -fail(e, rc, -1, t->slot_field[i], t->slot_name_off[i], t->slot_name_len[i]);
    }

    w.buf = (unsigned char *)out;
    w.cap = out_cap;
    w.pos = 0;
    w.over = 0;
    emit(&w, NULL, D + t->wseg_off[0], t->wseg_len[0]);
    for (int32_t i = 0; i < t->nslots; i++) {
        tpl_slot(t, i, classic, &w, NULL, v[i], vl[i]);
        emit(&w, NULL, D + t->wseg_off[i + 1], t->wseg_len[i + 1]);
    }
    signed_from = t->wseg_len[0];

    if (classic) {
        if (t->signing >= 0) {
            mb_start(&mb, &t->pre);
            if (!w.over) {
                mac_update(&mb.mac, out + signed_from, w.pos - signed_from);
            } else {
                for (int32_t i = 0; i < t->nslots; i++) {
                    tpl_slot(t, i, 1, NULL, &mb, v[i], vl[i]);
                    mb_put(&mb, D + t->wseg_off[i + 1], t->wseg_len[i + 1]);
                }
            }
            sl = make_sig(&mb, t->signing, sig);
            emit(&w, NULL, "auth=", 5);
            emit(&w, NULL, sig, sl);
            emit(&w, NULL, "\n", 1);
        }
        emit(&w, NULL, "<<<\n", 4);
        return finish(&w, e);
    }

    if (t->inner) {
        mb_start(&mb, &t->inner_pre);
        for (int32_t i = 0; i < t->nslots; i++) {
            tpl_slot(t, i, 1, NULL, &mb, v[i], vl[i]);
            mb_put(&mb, D + t->cseg_off[i + 1], t->cseg_len[i + 1]);
        }
        sl = make_sig(&mb, t->signing, sig);
        put_field(&w, NULL, 0, U8("auth"), 4, 0, U8(sig), sl);
    }
    emit(&w, NULL, "%%%\n", 4);
    if (t->signing >= 0) {
        char outer[8 + HB_HEX_SIZE];
        mb_start(&mb, &t->pre);
        if (!w.over) {
            mac_update(&mb.mac, out + signed_from, w.pos - signed_from);
        } else {
            for (int32_t i = 0; i < t->nslots; i++) {
                tpl_slot(t, i, 0, NULL, &mb, v[i], vl[i]);
                mb_put(&mb, D + t->wseg_off[i + 1], t->wseg_len[i + 1]);
            }
            if (t->inner)
                put_field(NULL, &mb, 0, U8("auth"), 4, 0, U8(sig), sl);
            mb_put(&mb, "%%%\n", 4);
        }
        emit_trailer(&w, outer, make_sig(&mb, t->signing, outer));
    }
    return finish(&w, e);
}

/* ------------------------------------------------------------------ */
/* Batched receive: recvmmsg into preallocated slots, checked in place. */

struct hb_rx {
    int32_t batch;
    size_t slot;
    int32_t npeers;
    uint32_t peers[HB_RX_MAX_PEERS];
    /* batch slots of `slot` bytes, then HB_RX_BIG + slot bytes where the
     * one datagram of a call longer than a slot is put back together. */
    unsigned char *arena;
    size_t arena_size;
    unsigned char *overflow; /* HB_RX_BIG bytes: tails past a slot */
    struct mmsghdr *msgs;
    struct iovec *iov; /* two per slot: the slot, then the overflow */
    struct sockaddr_in *from;
    hb_rx_frame *frames;
    hb_rx_reject *rejects;
};

void hb_rx_free(hb_rx *rx)
{
    if (rx == NULL)
        return;
    free(rx->arena);
    free(rx->overflow);
    free(rx->msgs);
    free(rx->iov);
    free(rx->from);
    free(rx->frames);
    free(rx->rejects);
    free(rx);
}

hb_rx *hb_rx_new(int32_t batch, int32_t slot, hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    hb_rx *rx;
    size_t n;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (batch < 1 || batch > HB_RX_MAX_BATCH || slot < HB_RX_MIN_SLOT || slot > HB_RX_MAX_SLOT) {
        fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
        return NULL;
    }
    rx = calloc(1, sizeof(*rx));
    if (rx == NULL) {
        fail(e, HB_NO_MEMORY, -1, -1, -1, -1);
        return NULL;
    }
    n = (size_t)batch;
    rx->batch = batch;
    rx->slot = (size_t)slot;
    rx->arena_size = n * rx->slot + HB_RX_BIG + rx->slot;
    rx->arena = malloc(rx->arena_size);
    rx->overflow = malloc(HB_RX_BIG);
    rx->msgs = calloc(n, sizeof(*rx->msgs));
    rx->iov = calloc(2 * n, sizeof(*rx->iov));
    rx->from = calloc(n, sizeof(*rx->from));
    rx->frames = calloc(n, sizeof(*rx->frames));
    rx->rejects = calloc(n, sizeof(*rx->rejects));
    if (rx->arena == NULL || rx->overflow == NULL || rx->msgs == NULL || rx->iov == NULL ||
        rx->from == NULL || rx->frames == NULL || rx->rejects == NULL) {
        hb_rx_free(rx);
        fail(e, HB_NO_MEMORY, -1, -1, -1, -1);
        return NULL;
    }
    /* Touch every page now (mlockall'd workers lock them at once anyway). */
    memset(rx->arena, 0, rx->arena_size);
    memset(rx->overflow, 0, HB_RX_BIG);
    for (size_t i = 0; i < n; i++) {
        rx->iov[2 * i].iov_base = rx->arena + i * rx->slot;
        rx->iov[2 * i].iov_len = rx->slot;
        rx->iov[2 * i + 1].iov_base = rx->overflow;
        rx->iov[2 * i + 1].iov_len = HB_RX_BIG;
        rx->msgs[i].msg_hdr.msg_iov = &rx->iov[2 * i];
        rx->msgs[i].msg_hdr.msg_iovlen = 2;
        rx->msgs[i].msg_hdr.msg_name = &rx->from[i];
    }
    return rx;
}

int hb_rx_set_peers(hb_rx *rx, const uint32_t *addrs, int32_t n)
{
    if (rx == NULL || n < 0 || n > HB_RX_MAX_PEERS || (n > 0 && addrs == NULL))
        return HB_BAD_ARGUMENT;
    for (int32_t i = 0; i < n; i++)
        rx->peers[i] = addrs[i];
    rx->npeers = n;
    return HB_OK;
}

const hb_rx_frame *hb_rx_frames(const hb_rx *rx)
{
    return rx != NULL ? rx->frames : NULL;
}

const hb_rx_reject *hb_rx_rejects(const hb_rx *rx)
{
    return rx != NULL ? rx->rejects : NULL;
}

const char *hb_rx_arena(const hb_rx *rx)
{
    return rx != NULL ? (const char *)rx->arena : NULL;
}

size_t hb_rx_arena_size(const hb_rx *rx)
{
    return rx != NULL ? rx->arena_size : 0;
}

static int rx_from_peer(const hb_rx *rx, uint32_t addr)
{
    if (rx->npeers == 0)
        return 1;
    for (int32_t i = 0; i < rx->npeers; i++)
        if (rx->peers[i] == addr)
            return 1;
    return 0;
}

/* Counts one refused datagram under (code, source); e (may be NULL) is
 * its error record, its name span pointing into data[0 .. len). */
static void rx_refuse(hb_rx *rx, hb_rx_result *res, int code, uint32_t addr, int32_t port,
                      const hb_error *e, const unsigned char *data, size_t len)
{
    hb_rx_reject *r = NULL;
    int32_t nl = -1;
    for (int32_t i = 0; i < res->nrejects; i++) {
        hb_rx_reject *c = &rx->rejects[i];
        if (c->code == code && c->addr == addr && c->port == port) {
            r = c;
            break;
        }
    }
    if (r == NULL) {
        /* At most one record per datagram read: never past `batch`. */
        r = &rx->rejects[res->nrejects++];
        r->code = code;
        r->count = 0;
        r->addr = addr;
        r->port = port;
    }
    r->count++;
    res->refused++;
    if (e == NULL) {
        fail(&r->err, code, -1, -1, -1, -1);
        return;
    }
    r->err = *e;
    if (e->name_offset >= 0 && e->name_length >= 0 && (size_t)e->name_offset <= len &&
        (size_t)e->name_length <= len - (size_t)e->name_offset) {
        nl = e->name_length < (int32_t)sizeof(r->name) ? e->name_length
                                                       : (int32_t)sizeof(r->name);
        memcpy(r->name, data + e->name_offset, (size_t)nl);
    }
    r->err.name_offset = nl >= 0 ? 0 : -1;
    r->err.name_length = nl;
}

int32_t hb_rx_read(hb_rx *rx, int fd, const hb_keyring *kr, int32_t limit, hb_rx_result *res,
                   hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    int n, last_big = -1;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (rx == NULL || res == NULL || fd < 0)
        return -fail(e, HB_BAD_ARGUMENT, -1, -1, -1, -1);
    memset(res, 0, sizeof(*res));
    if (limit <= 0 || limit > rx->batch)
        limit = rx->batch;
    for (int32_t i = 0; i < limit; i++) {
        rx->msgs[i].msg_len = 0;
        rx->msgs[i].msg_hdr.msg_namelen = sizeof(rx->from[i]);
        rx->msgs[i].msg_hdr.msg_flags = 0;
        rx->msgs[i].msg_hdr.msg_control = NULL;
        rx->msgs[i].msg_hdr.msg_controllen = 0;
    }
    do {
        n = recvmmsg(fd, rx->msgs, (unsigned int)limit, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -fail(e, HB_RECV_FAILED, errno, -1, -1, -1);
    }
    res->received = n;
    for (int i = 0; i < n; i++)
        if (rx->msgs[i].msg_len > rx->slot)
            last_big = i;
    for (int i = 0; i < n; i++) {
        const struct msghdr *h = &rx->msgs[i].msg_hdr;
        const struct sockaddr_in *sa = &rx->from[i];
        size_t len = rx->msgs[i].msg_len;
        unsigned char *data = rx->arena + (size_t)i * rx->slot;
        uint32_t addr = 0;
        int32_t port = 0, info;
        hb_error fe;

        if (h->msg_namelen >= sizeof(*sa) && sa->sin_family == AF_INET) {
            addr = ntohl(sa->sin_addr.s_addr);
            port = ntohs(sa->sin_port);
        }
        if (!rx_from_peer(rx, addr)) {
            rx_refuse(rx, res, HB_NOT_FROM_PEER, addr, port, NULL, NULL, 0);
            continue;
        }
        if (len > rx->slot) {
            /* Its tail is in the overflow buffer only if no later datagram
             * of this call overflowed too (nor was cut by the kernel). */
            if (i != last_big || (h->msg_flags & MSG_TRUNC) || len > HB_RX_BIG) {
                rx_refuse(rx, res, HB_OVERSIZE_DATAGRAM, addr, port, NULL, NULL, 0);
                continue;
            }
            unsigned char *big = rx->arena + (size_t)rx->batch * rx->slot;
            memcpy(big, data, rx->slot);
            memcpy(big + rx->slot, rx->overflow, len - rx->slot);
            data = big;
        }
        info = hb_verify((const char *)data, len, kr, &fe);
        if (info < 0) {
            rx_refuse(rx, res, -info, addr, port, &fe, data, len);
            continue;
        }
        rx->frames[res->accepted].offset = (int32_t)(data - rx->arena);
        rx->frames[res->accepted].length = (int32_t)len;
        rx->frames[res->accepted].info = info;
        rx->frames[res->accepted].addr = addr;
        rx->frames[res->accepted].port = port;
        res->accepted++;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Keepalive ticker: the link worker's keepalive thread (hb_ticker_*).  */
/*                                                                      */
/* The sequence board (hbeat/ipc/seqboard.py) is read and written here  */
/* with the same layout: a header of magic and eight little-endian      */
/* int64 (t0_ns, interval_ns, next_seq, claimed_tick, claimed_seq,      */
/* lease_ns, generation, status_seq, msg_seq, claimed_msg), sent_count, */
/* then HB_BOARD_RING                                                   */
/* entries of (seq, ts, tick: int64, content_key: uint64, ld length:    */
/* one byte, ld: HB_LD_MAX bytes). Every read-modify-write holds an OFD */
/* lock on the whole file (F_OFD_SETLKW): it conflicts with the         */
/* supervisor's lockf (a classic POSIX lock), as two lockf would.       */
/*                                                                      */
/* Locks: tk->mu guards the template, schedule, report ring and stop   */
/* flag (taken before the board lock, never after it); tk->wmu is held  */
/* for every write to the medium and guards msg_written (tk->wcv       */
/* signals it). The tick path allocates nothing.                       */

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define BD_MAGIC "HBSEQBD4"
#define BD_T0 8
#define BD_INTERVAL 16
#define BD_NEXT_SEQ 24
#define BD_CLAIMED_TICK 32
#define BD_CLAIMED_SEQ 40
#define BD_LEASE 48
#define BD_GENERATION 56
#define BD_STATUS_SEQ 64
#define BD_MSG_SEQ 72
#define BD_CLAIMED_MSG 80
#define BD_COUNT 88
#define BD_RING 96
#define BD_ENTRY 128
#if BD_RING + HB_BOARD_RING * BD_ENTRY != HB_BOARD_SIZE
#error "sequence board size"
#endif

#ifdef __SANITIZE_ADDRESS__
#define TK_STACK (1024 * 1024)
#else
#define TK_STACK (64 * 1024)
#endif
#define TK_MAPS_BUF (4 * 1024 * 1024)

struct hb_ticker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t wmu;
    pthread_cond_t wcv;         /* msg_written moved (with wmu) */
    int64_t msg_written;        /* highest supervisor message written (wmu) */
    unsigned char *board;
    int board_fd;
    int medium_fd;
    int kind;
    struct sockaddr_in dest;
    int ld_fd;
    int event_fd;
    int report_all;
    int locked;                 /* hb_ticker_lock_memory succeeded */
    hb_template *tpl;           /* our own copy (tpl_size bytes, mmap'd) */
    size_t tpl_size;
    int64_t content_seq;
    uint64_t content_key;
    uint64_t content_gen;       /* bumped by every set_template */
    int64_t t0_ns, interval_ns;
    uint64_t sched_gen;         /* bumped by every reschedule */
    int stop, running, ready;
    pthread_t thread;
    int32_t fifo_prio;
    int64_t slice_ns;
    hb_ticker_timing timing;
    unsigned char *stack;       /* TK_STACK + a guard page, mmap'd */
    size_t stack_size;
    uint32_t ev_head, ev_count;
    int64_t ev_overrun;
    hb_tick_report events[HB_TK_EVENTS];
    int32_t last_len;
    int64_t made;  /* keepalives copied to last: read without the lock */
    char last[HB_TK_FRAME];
    char frame[HB_TK_FRAME];
};

static int lock_range(uintptr_t start, uintptr_t end, int onfault, size_t *total);

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static size_t round_pages(size_t n)
{
    size_t p = page_size();
    return (n + p - 1) / p * p;
}

static void *map_anon(size_t n)
{
    void *p = mmap(NULL, round_pages(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int64_t bd_get(const unsigned char *b, size_t at)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[at + (size_t)i];
    return (int64_t)v;
}

static void bd_put(unsigned char *b, size_t at, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        b[at + (size_t)i] = (unsigned char)(v & 0xff);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_to_ts(int64_t ns)
{
    struct timespec ts;
    if (ns < 0)
        ns = 0;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* The whole board, excluding every other lock holder. 0 or an errno. */
static int bd_lock(int fd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    while (fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

static int tk_error(hb_error *e, int code, long errnum)
{
    return fail(e, code, errnum, -1, -1, -1);
}

/* Opens a board file the supervisor made (the sequence board, a heard
 * board) and checks its size: the descriptor, or -1 with HB_BOARD_OPEN
 * (errno in the offset) or HB_BOARD_INVALID in *e. */
static int open_board(const char *path, off_t size, hb_error *e)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        tk_error(e, HB_BOARD_OPEN, errno);
        return -1;
    }
    if (fstat(fd, &st) != 0 || st.st_size != size) {
        close(fd);
        tk_error(e, HB_BOARD_INVALID, -1);
        return -1;
    }
    return fd;
}

hb_ticker *hb_ticker_new(const char *board_path, int medium_fd, int kind, uint32_t dest_addr,
                         int32_t dest_port, int report_all, const char *loadavg_path,
                         hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    hb_ticker *tk;
    pthread_condattr_t ca;
    int fd;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (board_path == NULL || loadavg_path == NULL || medium_fd < 0
        || (kind != HB_TK_UDP && kind != HB_TK_SERIAL)
        || (kind == HB_TK_UDP && (dest_port <= 0 || dest_port > 65535)))
        return tk_error(e, HB_BAD_ARGUMENT, -1), NULL;
    fd = open_board(board_path, HB_BOARD_SIZE, e);
    if (fd < 0)
        return NULL;
    tk = map_anon(sizeof(*tk));
    if (tk == NULL) {
        close(fd);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    tk->board_fd = fd;
    tk->ld_fd = tk->event_fd = -1;
    tk->board = mmap(NULL, HB_BOARD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (tk->board == MAP_FAILED) {
        tk->board = NULL;
        hb_ticker_free(tk);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    if (memcmp(tk->board, BD_MAGIC, 8) != 0 || bd_get(tk->board, BD_GENERATION) < 0
        || bd_get(tk->board, BD_INTERVAL) <= 0) {
        hb_ticker_free(tk);
        return tk_error(e, HB_BOARD_INVALID, -1), NULL;
    }
    tk->t0_ns = bd_get(tk->board, BD_T0);
    tk->interval_ns = bd_get(tk->board, BD_INTERVAL);
    tk->medium_fd = medium_fd;
    tk->kind = kind;
    tk->dest.sin_family = AF_INET;
    tk->dest.sin_addr.s_addr = htonl(dest_addr);
    tk->dest.sin_port = htons((uint16_t)dest_port);
    tk->report_all = report_all != 0;
    tk->content_seq = INT64_MIN;
    tk->ld_fd = open(loadavg_path, O_RDONLY | O_CLOEXEC);  /* -1: ld "n/a" */
    tk->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (tk->event_fd < 0) {
        int saved = errno;
        hb_ticker_free(tk);
        return tk_error(e, HB_OPEN_FAILED, saved), NULL;
    }
    tk->stack_size = TK_STACK + page_size();
    tk->stack = map_anon(tk->stack_size);
    if (tk->stack == NULL) {
        hb_ticker_free(tk);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    mprotect(tk->stack, page_size(), PROT_NONE);  /* guard page: the stack grows down */
    pthread_mutex_init(&tk->mu, NULL);
    pthread_mutex_init(&tk->wmu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tk->cv, &ca);
    pthread_cond_init(&tk->wcv, &ca);
    pthread_condattr_destroy(&ca);
    tk->ready = 1;  /* the mutexes exist: free destroys them */
    return tk;
}

void hb_ticker_free(hb_ticker *tk)
{
    if (tk == NULL)
        return;
    if (tk->ready) {
        hb_ticker_stop(tk);
        pthread_cond_destroy(&tk->cv);
        pthread_cond_destroy(&tk->wcv);
        pthread_mutex_destroy(&tk->mu);
        pthread_mutex_destroy(&tk->wmu);
    }
    if (tk->tpl != NULL) {
        OPENSSL_cleanse(tk->tpl, tk->tpl_size);
        munmap(tk->tpl, round_pages(tk->tpl_size));
    }
    if (tk->stack != NULL)
        munmap(tk->stack, round_pages(tk->stack_size));
    if (tk->board != NULL)
        munmap(tk->board, HB_BOARD_SIZE);
    if (tk->event_fd >= 0)
        close(tk->event_fd);
    if (tk->ld_fd >= 0)
        close(tk->ld_fd);
    close(tk->board_fd);
    OPENSSL_cleanse(tk->last, sizeof(tk->last));
    OPENSSL_cleanse(tk->frame, sizeof(tk->frame));
    munmap(tk, round_pages(sizeof(*tk)));
}

int hb_ticker_set_template(hb_ticker *tk, const hb_template *t, int64_t content_seq,
                           uint64_t content_key)
{
    hb_template *copy, *old;
    size_t size, old_size;

    if (tk == NULL || t == NULL)
        return HB_BAD_ARGUMENT;
    size = sizeof(*t) + t->data_len;
    copy = map_anon(size);
    if (copy == NULL)
        return HB_NO_MEMORY;
    memcpy(copy, t, size);
    /* The MAC states point at their key: at the copy's own. */
    if (t->pre.key == &t->key)
        copy->pre.key = &copy->key;
    if (t->inner_pre.key == &t->key)
        copy->inner_pre.key = &copy->key;
    if (tk->locked) {
        size_t ignored = 0;  /* best effort: the tick path reads it */
        lock_range((uintptr_t)copy, (uintptr_t)copy + round_pages(size), 0, &ignored);
    }
    pthread_mutex_lock(&tk->mu);
    old = tk->tpl;
    old_size = tk->tpl_size;
    tk->tpl = copy;
    tk->tpl_size = size;
    tk->content_seq = content_seq;
    tk->content_key = content_key;
    tk->content_gen++;
    pthread_cond_broadcast(&tk->cv);
    pthread_mutex_unlock(&tk->mu);
    /* No tick uses old now: a tick holds tk->mu from the claim to the
     * end of the encode. */
    if (old != NULL) {
        OPENSSL_cleanse(old, old_size);
        munmap(old, round_pages(old_size));
    }
    return HB_OK;
}

int hb_ticker_reschedule(hb_ticker *tk)
{
    int rc;
    if (tk == NULL)
        return HB_BAD_ARGUMENT;
    pthread_mutex_lock(&tk->mu);
    rc = bd_lock(tk->board_fd, F_WRLCK);
    if (rc == 0) {
        int64_t t0 = bd_get(tk->board, BD_T0), iv = bd_get(tk->board, BD_INTERVAL);
        bd_lock(tk->board_fd, F_UNLCK);
        if (iv > 0) {
            tk->t0_ns = t0;
            tk->interval_ns = iv;
            tk->sched_gen++;
            pthread_cond_broadcast(&tk->cv);
        }
    }
    pthread_mutex_unlock(&tk->mu);
    return rc == 0 ? HB_OK : HB_BOARD_LOCK;
}

/* Medium write, tk->wmu held by the caller. HB_OK or a write code. */
static int medium_write(hb_ticker *tk, const char *frame, size_t len, int32_t *errnum)
{
    *errnum = 0;
    if (tk->kind == HB_TK_UDP) {
        for (;;) {
            ssize_t n = sendto(tk->medium_fd, frame, len, 0, (const struct sockaddr *)&tk->dest,
                               sizeof(tk->dest));
            if (n >= 0)
                return HB_OK;
            if (errno != EINTR)
                break;
        }
        *errnum = errno;
        return HB_WRITE_FAILED;
    }
    while (len > 0) {
        ssize_t n = write(tk->medium_fd, frame, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *errnum = errno;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* No room on the line (no cable, or nobody reading):
                 * drop what is queued rather than send it late, and
                 * never leave half a frame behind. */
                tcflush(tk->medium_fd, TCOFLUSH);
                return HB_WRITE_TIMEOUT;
            }
            return HB_WRITE_FAILED;
        }
        frame += n;
        len -= (size_t)n;
    }
    return HB_OK;
}

/* The supervisor's messages up to seq are written (or never will be
 * here), tk->wmu held: wake a keepalive waiting for them. */
static void messages_done(hb_ticker *tk, int64_t seq)
{
    if (seq > tk->msg_written) {
        tk->msg_written = seq;
        pthread_cond_broadcast(&tk->wcv);
    }
}

int hb_ticker_write(hb_ticker *tk, const char *frame, size_t len, int64_t seq,
                    int32_t *errno_out)
{
    int32_t dummy;
    int32_t *errnum = errno_out != NULL ? errno_out : &dummy;
    int rc;
    *errnum = 0;
    if (tk == NULL || (frame == NULL && len > 0))
        return HB_BAD_ARGUMENT;
    pthread_mutex_lock(&tk->wmu);
    rc = medium_write(tk, frame, len, errnum);
    messages_done(tk, seq);
    pthread_mutex_unlock(&tk->wmu);
    return rc;
}

int hb_ticker_messages_before(hb_ticker *tk, int64_t seq)
{
    if (tk == NULL)
        return HB_BAD_ARGUMENT;
    pthread_mutex_lock(&tk->wmu);
    messages_done(tk, seq);
    pthread_mutex_unlock(&tk->wmu);
    return HB_OK;
}

static size_t hex64(uint64_t v, char *out)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hexdigits[v & 15];
        v >>= 4;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Claim `tick` on the board, tk->mu held. HB_OK with *seq, *taken and
 * *after (the supervisor's highest message number below *seq: the
 * keepalive goes out after it) set, or why nothing may be sent. The
 * taker logs the keepalive in the same critical section. */
static int bd_claim(hb_ticker *tk, int64_t tick, int64_t ts, const char *ld, size_t ld_len,
                    int64_t *seq, int *taken, int64_t *after, int32_t *errnum)
{
    unsigned char *b = tk->board;
    int64_t now, next, count;
    size_t at;
    int rc = bd_lock(tk->board_fd, F_WRLCK);
    if (rc != 0) {
        *errnum = rc;
        return HB_BOARD_LOCK;
    }
    now = mono_ns();
    if (now >= bd_get(b, BD_LEASE)) {
        rc = HB_LEASE_EXPIRED;
    } else if (tk->content_seq < bd_get(b, BD_STATUS_SEQ)) {
        rc = HB_STALE_CONTENT;
    } else if (tick == bd_get(b, BD_CLAIMED_TICK)) {
        *seq = bd_get(b, BD_CLAIMED_SEQ);
        *after = bd_get(b, BD_CLAIMED_MSG);
        *taken = 0;
        rc = HB_OK;
    } else if (tick < bd_get(b, BD_CLAIMED_TICK)) {
        rc = HB_TICK_PASSED;
    } else {
        next = bd_get(b, BD_NEXT_SEQ);
        bd_put(b, BD_NEXT_SEQ, (uint64_t)next + 1);
        bd_put(b, BD_CLAIMED_TICK, (uint64_t)tick);
        bd_put(b, BD_CLAIMED_SEQ, (uint64_t)next);
        *after = bd_get(b, BD_MSG_SEQ);
        bd_put(b, BD_CLAIMED_MSG, (uint64_t)*after);
        count = bd_get(b, BD_COUNT);
        at = BD_RING + (size_t)((uint64_t)count % HB_BOARD_RING) * BD_ENTRY;
        bd_put(b, at, (uint64_t)next);
        bd_put(b, at + 8, (uint64_t)ts);
        bd_put(b, at + 16, (uint64_t)tick);
        bd_put(b, at + 24, tk->content_key);
        b[at + 32] = (unsigned char)ld_len;
        memset(b + at + 33, 0, HB_LD_MAX);
        memcpy(b + at + 33, ld, ld_len);
        bd_put(b, BD_COUNT, (uint64_t)count + 1);
        *seq = next;
        *taken = 1;
        rc = HB_OK;
    }
    bd_lock(tk->board_fd, F_UNLCK);
    return rc;
}

/* Push a report to the ring and wake the reader. tk->mu held. */
static void push_event(hb_ticker *tk, const hb_tick_report *r)
{
    uint64_t one = 1;
    if (tk->ev_count == HB_TK_EVENTS) {
        tk->ev_head = (tk->ev_head + 1) % HB_TK_EVENTS;  /* drop the oldest */
        tk->ev_count--;
        tk->ev_overrun++;
    }
    tk->events[(tk->ev_head + tk->ev_count) % HB_TK_EVENTS] = *r;
    tk->ev_count++;
    if (write(tk->event_fd, &one, sizeof(one)) < 0) {
        /* the counter is full of unread wake-ups: the reader will come */
    }
}

/* One keepalive: claim, encode, write. `wait` (the thread): on stale
 * content, wait up to HB_TK_CONTENT_WAIT_NS for a newer template, and
 * before the write, up to HB_TK_ORDER_WAIT_NS for the supervisor's
 * messages numbered below the keepalive to be written; else return
 * HB_STALE_CONTENT at once and do not wait for messages. Takes and
 * releases tk->mu, then tk->wmu. */
static int tick_once(hb_ticker *tk, int64_t tick, int64_t due, int64_t ts, const char *ld,
                     size_t ld_len, int wait, hb_tick_report *r)
{
    char seqhex[16], tshex[16];
    size_t seqn, tsn;
    int64_t seq = 0, after = 0;
    int taken = 0, rc;
    int32_t size;
    hb_error fe;
    int64_t deadline = 0;

    memset(r, 0, sizeof(*r));
    r->tick = tick;
    r->ts = ts;
    r->ld_len = (int32_t)ld_len;
    memcpy(r->ld, ld, ld_len);
    pthread_mutex_lock(&tk->mu);
    for (;;) {
        if (tk->tpl == NULL) {
            rc = HB_NO_TEMPLATE;
        } else {
            rc = bd_claim(tk, tick, ts, ld, ld_len, &seq, &taken, &after, &r->err);
        }
        if (rc != HB_STALE_CONTENT || !wait || tk->stop)
            break;
        /* The supervisor sent a status message newer than our content:
         * its new template follows within microseconds. */
        if (deadline == 0)
            deadline = mono_ns() + HB_TK_CONTENT_WAIT_NS;
        uint64_t gen = tk->content_gen;
        struct timespec until = ns_to_ts(deadline);
        while (gen == tk->content_gen && !tk->stop && mono_ns() < deadline)
            pthread_cond_timedwait(&tk->cv, &tk->mu, &until);
        if (gen == tk->content_gen)
            break;  /* none came: skip this tick */
    }
    if (rc != HB_OK) {
        pthread_mutex_unlock(&tk->mu);
        r->code = rc;
        return rc;
    }
    r->content_key = tk->content_key;  /* the template's, under the same lock */
    seqn = hex64((uint64_t)seq, seqhex);
    tsn = hex64((uint64_t)ts, tshex);
    size = hb_template_encode(tk->tpl, seqhex, seqn, tshex, tsn, ld, ld_len, NULL, 0, tk->frame,
                              sizeof(tk->frame), &fe);
    if (size >= 0) {
        memcpy(tk->last, tk->frame, (size_t)size);
        tk->last_len = size;
        __atomic_store_n(&tk->made, tk->made + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&tk->mu);
    r->seq = seq;
    r->taken = taken;
    if (size < 0) {
        r->code = -size;
        return HB_OK;
    }
    pthread_mutex_lock(&tk->wmu);
    if (wait && tk->msg_written < after) {
        /* The supervisor took a lower number for a message that is on its
         * way to this worker's Python thread: the peers must see it
         * first, or they count a lost packet. It comes within
         * microseconds unless that thread is held up. */
        int64_t until_ns = mono_ns() + HB_TK_ORDER_WAIT_NS;
        struct timespec until = ns_to_ts(until_ns);
        while (tk->msg_written < after && !__atomic_load_n(&tk->stop, __ATOMIC_RELAXED)
               && mono_ns() < until_ns)
            pthread_cond_timedwait(&tk->wcv, &tk->wmu, &until);
        if (tk->msg_written < after) {
            if (!__atomic_load_n(&tk->stop, __ATOMIC_RELAXED))
                r->ahead_of = after;  /* (stopping: the worker is going, no news) */
            tk->msg_written = after;  /* given up: the next keepalive does not wait for it */
        }
    }
    r->late_us = (mono_ns() - due) / 1000;
    rc = medium_write(tk, tk->frame, (size_t)size, &r->err);
    pthread_mutex_unlock(&tk->wmu);
    r->written = rc == HB_OK;
    r->code = rc;
    return HB_OK;
}

int hb_ticker_tick(hb_ticker *tk, int64_t tick, int64_t ts, const char *ld, size_t ld_len,
                   hb_tick_report *report)
{
    int running;
    int64_t due;
    if (tk == NULL || report == NULL || (ld == NULL && ld_len > 0) || ld_len > HB_LD_MAX)
        return HB_BAD_ARGUMENT;
    pthread_mutex_lock(&tk->mu);
    running = tk->running;
    due = tk->t0_ns + tick * tk->interval_ns;
    pthread_mutex_unlock(&tk->mu);
    if (running)
        return HB_TICKER_RUNNING;
    return tick_once(tk, tick, due, ts, ld != NULL ? ld : "", ld_len, 0, report);
}

/* ts and ld for a keepalive due at `due` (monotonic): the wall clock at
 * the tick, whole seconds, and /proc/loadavg's first line. */
static void prepare(hb_ticker *tk, int64_t due, int64_t *ts, char *ld, size_t *ld_len)
{
    struct timespec wall;
    int64_t ahead = due - mono_ns();
    ssize_t n = -1;
    clock_gettime(CLOCK_REALTIME, &wall);
    *ts = ((int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec + (ahead > 0 ? ahead : 0))
          / 1000000000;
    if (tk->ld_fd >= 0)
        n = pread(tk->ld_fd, ld, HB_LD_MAX, 0);
    if (n <= 0) {
        memcpy(ld, "n/a", 3);
        *ld_len = 3;
        return;
    }
    *ld_len = (size_t)n;
    for (ssize_t i = 0; i < n; i++) {
        if (ld[i] == '\n') {
            *ld_len = (size_t)i;
            break;
        }
    }
}

static int64_t next_tick_at(int64_t t0, int64_t iv, int64_t now)
{
    if (now <= t0)
        return 0;
    return (now - t0 + iv - 1) / iv;
}

static void *ticker_main(void *arg)
{
    hb_ticker *tk = arg;
    hb_tick_report r;
    char ld[HB_LD_MAX];
    size_t ld_len = 0;
    int64_t tick, ts = 0, due, wake, now;
    int prepared = 0;
    uint64_t gen;
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);  /* signals are the Python thread's */
    prctl(PR_SET_NAME, (unsigned long)"hb-ticker", 0, 0, 0);
    tk->timing.slack = prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) == 0 ? 0 : errno;
    tk->timing.fifo = 0;
    tk->timing.slice = 0;
    if (tk->fifo_prio > 0) {
        struct sched_param sp;
        memset(&sp, 0, sizeof(sp));
        sp.sched_priority = tk->fifo_prio;
        tk->timing.fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    }
    if ((tk->fifo_prio <= 0 || tk->timing.fifo != 0) && tk->slice_ns > 0) {
#ifdef SYS_sched_setattr
        /* struct sched_attr (Linux >= 3.14): size, policy, flags, nice,
         * priority, runtime, deadline, period. */
        struct {
            uint32_t size, policy;
            uint64_t flags;
            int32_t nice;
            uint32_t priority;
            uint64_t runtime, deadline, period;
        } sa;
        memset(&sa, 0, sizeof(sa));
        sa.size = sizeof(sa);
        sa.policy = SCHED_OTHER;
        errno = 0;
        sa.nice = getpriority(PRIO_PROCESS, 0);
        sa.runtime = (uint64_t)tk->slice_ns;
        tk->timing.slice = syscall(SYS_sched_setattr, 0, &sa, 0) == 0 ? 0 : errno;
#else
        tk->timing.slice = ENOSYS;
#endif
    }
    pthread_mutex_lock(&tk->mu);
    tk->running = 2;  /* started: hb_ticker_start may return */
    pthread_cond_broadcast(&tk->cv);
    tick = next_tick_at(tk->t0_ns, tk->interval_ns, mono_ns());
    gen = tk->sched_gen;
    while (!tk->stop) {
        if (gen != tk->sched_gen) {  /* rescheduled: tick numbers go on */
            gen = tk->sched_gen;
            prepared = 0;
        }
        due = tk->t0_ns + tick * tk->interval_ns;
        wake = due - HB_TK_SPIN_NS;
        now = mono_ns();
        if (!prepared) {
            /* Before the last sleep, so the wake-up only claims, signs
             * and sends. */
            pthread_mutex_unlock(&tk->mu);
            prepare(tk, due, &ts, ld, &ld_len);
            pthread_mutex_lock(&tk->mu);
            prepared = 1;
            continue;
        }
        if (now < wake) {
            /* Two sleeps: to HB_TK_PREWAKE_NS before the tick, then to
             * HB_TK_SPIN_NS before it. Straight from a second's sleep an
             * idle CPU (a halted vCPU) wakes tens to hundreds of µs late;
             * after a 2 ms sleep it does not (bench/README.md). */
            int64_t stage = due - HB_TK_PREWAKE_NS;
            struct timespec until = ns_to_ts(now < stage ? stage : wake);
            pthread_cond_timedwait(&tk->cv, &tk->mu, &until);
            continue;
        }
        pthread_mutex_unlock(&tk->mu);
        while (mono_ns() < due) {
            /* spin: the last HB_TK_SPIN_NS */
        }
        if (tick_once(tk, tick, due, ts, ld, ld_len, 1, &r) == HB_OK
            && (r.code != HB_OK || tk->report_all || r.ahead_of != 0)) {
            pthread_mutex_lock(&tk->mu);
            push_event(tk, &r);
            pthread_mutex_unlock(&tk->mu);
        }
        pthread_mutex_lock(&tk->mu);
        now = next_tick_at(tk->t0_ns, tk->interval_ns, mono_ns());
        tick = tick + 1 > now ? tick + 1 : now;
        prepared = 0;
    }
    pthread_mutex_unlock(&tk->mu);
    return NULL;
}

int hb_ticker_start(hb_ticker *tk, int32_t fifo_prio, int64_t slice_ns, hb_ticker_timing *timing,
                    hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    pthread_attr_t attr;
    size_t guard;
    int rc;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (tk == NULL)
        return tk_error(e, HB_BAD_ARGUMENT, -1);
    pthread_mutex_lock(&tk->mu);
    if (tk->running) {
        pthread_mutex_unlock(&tk->mu);
        return tk_error(e, HB_TICKER_RUNNING, -1);
    }
    tk->stop = 0;
    tk->fifo_prio = fifo_prio;
    tk->slice_ns = slice_ns;
    tk->running = 1;
    guard = page_size();
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, tk->stack + guard, tk->stack_size - guard);
    rc = pthread_create(&tk->thread, &attr, ticker_main, tk);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        tk->running = 0;
        pthread_mutex_unlock(&tk->mu);
        return tk_error(e, HB_THREAD_FAILED, rc);
    }
    while (tk->running != 2)
        pthread_cond_wait(&tk->cv, &tk->mu);
    if (timing != NULL)
        *timing = tk->timing;
    pthread_mutex_unlock(&tk->mu);
    return HB_OK;
}

int hb_ticker_stop(hb_ticker *tk)
{
    if (tk == NULL)
        return HB_BAD_ARGUMENT;
    pthread_mutex_lock(&tk->mu);
    if (!tk->running) {
        pthread_mutex_unlock(&tk->mu);
        return HB_OK;
    }
    __atomic_store_n(&tk->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&tk->cv);
    pthread_mutex_unlock(&tk->mu);
    pthread_mutex_lock(&tk->wmu);  /* a tick waiting for a message wakes */
    pthread_cond_broadcast(&tk->wcv);
    pthread_mutex_unlock(&tk->wmu);
    pthread_join(tk->thread, NULL);
    pthread_mutex_lock(&tk->mu);
    tk->running = 0;
    tk->stop = 0;
    pthread_mutex_unlock(&tk->mu);
    return HB_OK;
}

int hb_ticker_event_fd(const hb_ticker *tk)
{
    return tk != NULL ? tk->event_fd : -1;
}

int32_t hb_ticker_events(hb_ticker *tk, hb_tick_report *out, int32_t max, int64_t *overrun)
{
    uint64_t counter;
    int32_t n = 0;
    if (tk == NULL || (out == NULL && max > 0))
        return -HB_BAD_ARGUMENT;
    if (read(tk->event_fd, &counter, sizeof(counter)) < 0) {
        /* EAGAIN: nothing signalled; the ring is read anyway */
    }
    pthread_mutex_lock(&tk->mu);
    while (n < max && tk->ev_count > 0) {
        out[n++] = tk->events[tk->ev_head];
        tk->ev_head = (tk->ev_head + 1) % HB_TK_EVENTS;
        tk->ev_count--;
    }
    if (overrun != NULL)
        *overrun = tk->ev_overrun;
    tk->ev_overrun = 0;
    if (tk->ev_count > 0) {  /* left for the next call: stay readable */
        counter = 1;
        if (write(tk->event_fd, &counter, sizeof(counter)) < 0) {
            /* full: already readable */
        }
    }
    pthread_mutex_unlock(&tk->mu);
    return n;
}

int64_t hb_ticker_made(const hb_ticker *tk)
{
    return tk == NULL ? -1 : __atomic_load_n(&tk->made, __ATOMIC_ACQUIRE);
}

int32_t hb_ticker_last(hb_ticker *tk, char *out, size_t cap)
{
    int32_t n;
    if (tk == NULL || (out == NULL && cap > 0))
        return -HB_BAD_ARGUMENT;
    pthread_mutex_lock(&tk->mu);
    n = tk->last_len;
    if ((size_t)n > cap)
        n = -HB_NO_SPACE;
    else
        memcpy(out, tk->last, (size_t)n);
    pthread_mutex_unlock(&tk->mu);
    return n;
}

/* ---- Memory locking: only what the tick path touches. ---- */

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

/* mlock2 as a system call (Linux >= 4.4): also where a sanitizer's runtime
 * makes the libc functions do nothing. */
static int lock_range(uintptr_t start, uintptr_t end, int onfault, size_t *total)
{
    int rc;
#ifdef SYS_mlock2
    rc = (int)syscall(SYS_mlock2, (void *)start, (size_t)(end - start),
                      onfault ? MLOCK_ONFAULT : 0);
#else
    (void)onfault;
    rc = mlock((void *)start, end - start);
#endif
    if (rc != 0)
        return errno;
    *total += end - start;
    return 0;
}

static uintptr_t parse_hex(const char **p, const char *end)
{
    uintptr_t v = 0;
    while (*p < end) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            break;
        v = v << 4 | (uintptr_t)d;
        (*p)++;
    }
    return v;
}

/* Locks every mapping of the file mapped at `addr` (its code on fault,
 * its data at once) but the one at file offset 0 when it is not code
 * (ELF headers and symbol tables: read by the dynamic linker at load
 * time, never by the tick). `maps` is /proc/self/maps. */
static int lock_object(const char *maps, size_t len, const void *addr, size_t *total)
{
    const char *p = maps, *end = maps + len, *path = NULL;
    size_t path_len = 0;
    uintptr_t a = (uintptr_t)addr;

    for (int pass = 0; pass < 2; pass++) {
        p = maps;
        while (p < end) {
            const char *line = p, *eol = memchr(p, '\n', (size_t)(end - p));
            const char *perms, *name;
            uintptr_t start, stop, offset;
            if (eol == NULL)
                eol = end;
            p = eol + 1;
            start = parse_hex(&line, eol);
            if (line >= eol || *line != '-')
                continue;
            line++;
            stop = parse_hex(&line, eol);
            if (line + 5 >= eol)
                continue;
            perms = line + 1;
            line += 6;
            offset = parse_hex(&line, eol);
            /* dev, inode, then the path after spaces */
            for (int field = 0; field < 2; field++) {
                while (line < eol && *line == ' ')
                    line++;
                while (line < eol && *line != ' ')
                    line++;
            }
            while (line < eol && *line == ' ')
                line++;
            name = line;
            if (name >= eol || *name != '/')
                continue;
            if (pass == 0) {
                if (a >= start && a < stop) {
                    path = name;
                    path_len = (size_t)(eol - name);
                    break;
                }
                continue;
            }
            if ((size_t)(eol - name) != path_len || memcmp(name, path, path_len) != 0)
                continue;
            if (offset == 0 && perms[2] != 'x')
                continue;
            int rc = lock_range(start, stop, perms[2] == 'x' || perms[1] != 'w', total);
            if (rc != 0)
                return rc;
        }
        if (path == NULL)
            return ENOENT;
    }
    return 0;
}

int hb_ticker_lock_memory(hb_ticker *tk, hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    size_t total = 0, len = 0;
    const void *objects[3];
    char *maps;
    int fd, rc;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (tk == NULL)
        return tk_error(e, HB_BAD_ARGUMENT, -1);
    /* Code the tick runs: this module, libc (and its pthreads), libcrypto. */
    objects[0] = (const void *)&hb_ticker_lock_memory;
    objects[1] = (const void *)&clock_gettime;
    objects[2] = (const void *)&SHA1_Update;
    /* /proc/self/maps, read into a scratch mapping freed at the end (its
     * pages are touched only as far as the text goes). */
    maps = map_anon(TK_MAPS_BUF);
    if (maps == NULL)
        return tk_error(e, HB_NO_MEMORY, -1);
    fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno;
        munmap(maps, TK_MAPS_BUF);
        return tk_error(e, HB_OPEN_FAILED, rc);
    }
    for (;;) {
        ssize_t n = read(fd, maps + len, TK_MAPS_BUF - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == TK_MAPS_BUF - 1)
            break;
    }
    close(fd);
    rc = lock_range((uintptr_t)tk, (uintptr_t)tk + round_pages(sizeof(*tk)), 0, &total);
    if (rc == 0)
        rc = lock_range((uintptr_t)tk->stack + page_size(),
                        (uintptr_t)tk->stack + round_pages(tk->stack_size), 0, &total);
    if (rc == 0)
        rc = lock_range((uintptr_t)tk->board, (uintptr_t)tk->board + round_pages(HB_BOARD_SIZE),
                        0, &total);
    pthread_mutex_lock(&tk->mu);
    if (rc == 0 && tk->tpl != NULL)
        rc = lock_range((uintptr_t)tk->tpl, (uintptr_t)tk->tpl + round_pages(tk->tpl_size), 0,
                        &total);
    tk->locked = 1;
    pthread_mutex_unlock(&tk->mu);
    for (int i = 0; rc == 0 && i < 3; i++)
        rc = lock_object(maps, len, objects[i], &total);
    munmap(maps, TK_MAPS_BUF);
    if (rc != 0)
        tk_error(e, HB_MLOCK_FAILED, rc);
    e->field_index = (int32_t)(total / 1024);
    return rc != 0 ? HB_MLOCK_FAILED : HB_OK;
}

/* ------------------------------------------------------------------ */
/* Quiet keepalives (hb_quiet_*): a keepalive that only repeats a peer's */
/* last status (its model) with the next seq is verified and recorded   */
/* on the heard board here, without waking the link worker's Python     */
/* thread. The frame is parsed once, by the decoder above, with a       */
/* quiet_ctx that either learns a model's fields (hb_quiet_set_model)   */
/* or compares a frame's fields with every candidate model at once,     */
/* on the raw wire bytes of names and values. Heard board slots are     */
/* written under a seqlock (odd while written); this process is their  */
/* only writer. Nothing is allocated after hb_quiet_new. Use one        */
/* hb_quiet from one thread at a time.                                  */

#include <poll.h>

#define HD_MAGIC "HBHEARD1"
#define HD_RX_BEFORE 8
#define HD_FIRST 16
#define HD_LAST 24
#define HD_TS 32
#define HD_HEARD 40
#define HD_COUNT 48
#define HD_SRC_LEN 56
#define HD_SRC 57
#if HD_SRC + HB_QUIET_SRC > HB_HEARD_SLOT \
    || HB_HEARD_SLOT0 + HB_QUIET_PEERS * HB_HEARD_SLOT > HB_HEARD_SIZE \
    || HB_QUIET_MODEL > 65535 || HB_QUIET_PEERS > 32
#error "heard board layout"
#endif
#define QW_MAX_FDS 30
#define QW_BURST 64 /* datagrams handled per wake of poll: then the fds again */

/* One field of a model: where its name and raw value are in the copy. */
typedef struct {
    uint16_t name_at, name_len, value_at, value_len;
    uint8_t type, variable; /* variable: seq, ts or ld, type 0 */
} quiet_ref;

typedef struct {
    int active;
    int form;
    size_t src_len;
    char src[HB_QUIET_SRC];
    size_t len;
    int32_t nfields;
    int inner;                /* the model has a netstring inner auth */
    uint32_t addr;            /* UDP source of the model (serial: 0, 0) */
    int32_t port;
    int64_t gap_ns;
    int64_t last_seq;         /* highest seq of the peer seen here */
    int64_t last_heard_ns;    /* when its last frame was heard */
    hb_quiet_run run;         /* as on the board */
    quiet_ref fields[HB_QUIET_FIELDS];
    unsigned char model[HB_QUIET_MODEL];
} quiet_slot;

struct hb_quiet {
    int kind;
    int board_fd;
    unsigned char *board;
    int64_t rx_posted;
    quiet_slot slots[HB_QUIET_PEERS];
    size_t sused;   /* serial bytes buffered */
    int pending;    /* ... and handed back to Python */
    unsigned char sbuf[HB_QUIET_SBUF];
    unsigned char ubuf[HB_QUIET_MODEL + 1];
};

/* Learn (learn != NULL: the model being parsed is learn->model) or
 * compare (cand: the slots the frame may still be quiet for). */
struct quiet_ctx {
    hb_quiet *q;
    quiet_slot *learn;
    uint32_t cand;
    int32_t idx;       /* fields seen (auth excluded) */
    int too_many;
    int nseq, nts, nld;
    int bad;           /* a seq or ts that is not hex, an ld too long */
    int64_t seq, ts;
};

/* 1 seq, 2 ts, 3 ld (type 0 only), else 0. */
static int quiet_var(const unsigned char *name, size_t nl, int type)
{
    if (type != 0)
        return 0;
    if (nl == 3 && memcmp(name, "seq", 3) == 0)
        return 1;
    if (nl == 2 && memcmp(name, "ts", 2) == 0)
        return 2;
    if (nl == 2 && memcmp(name, "ld", 2) == 0)
        return 3;
    return 0;
}

/* 1..16 hex digits, either case, whose value fits an int64. */
static int quiet_hex(const unsigned char *v, size_t n, int64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 16)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return 0;
        x = x << 4 | d;
    }
    if (x > (uint64_t)INT64_MAX)
        return 0;
    *out = (int64_t)x;
    return 1;
}

/* The decoder's call for every field but auth: name and RAW value bytes
 * as on the wire (no 0x13 conversion, no base64 decoding). */
static void quiet_field(struct quiet_ctx *c, const unsigned char *name, size_t nl, int type,
                        const unsigned char *value, size_t vl)
{
    int var = quiet_var(name, nl, type);
    int32_t i = c->idx++;
    switch (var) {
    case 1:
        c->nseq++;
        if (!quiet_hex(value, vl, &c->seq))
            c->bad = 1;
        break;
    case 2:
        c->nts++;
        if (!quiet_hex(value, vl, &c->ts))
            c->bad = 1;
        break;
    case 3:
        c->nld++;
        if (vl > HB_LD_MAX)
            c->bad = 1;
        break;
    default:
        break;
    }
    if (c->learn != NULL) {
        quiet_slot *s = c->learn;
        quiet_ref *r;
        if (i >= HB_QUIET_FIELDS) {
            c->too_many = 1;
            return;
        }
        /* name and value lie in s->model (at most HB_QUIET_MODEL bytes) */
        r = &s->fields[i];
        r->name_at = (uint16_t)(name - s->model);
        r->name_len = (uint16_t)nl;
        r->value_at = (uint16_t)(value - s->model);
        r->value_len = (uint16_t)vl;
        r->type = (uint8_t)type;
        r->variable = var != 0;
        return;
    }
    for (int k = 0; k < HB_QUIET_PEERS; k++) {
        const quiet_slot *s;
        const quiet_ref *r;
        if (!(c->cand & (1u << k)))
            continue;
        s = &c->q->slots[k];
        if (i >= s->nfields) {
            c->cand &= ~(1u << k);
            continue;
        }
        r = &s->fields[i];
        if (r->name_len != nl || r->type != type || memcmp(s->model + r->name_at, name, nl) != 0
            || (!r->variable
                && (r->value_len != vl || memcmp(s->model + r->value_at, value, vl) != 0)))
            c->cand &= ~(1u << k);
    }
}

static uint64_t hd_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

static unsigned char *hd_slot(const hb_quiet *q, int32_t k)
{
    return q->board + HB_HEARD_SLOT0 + (size_t)k * HB_HEARD_SLOT;
}

/* Seqlock: the slot's lock odd while its fields are written. Returns the
 * even value it had (an odd one, left by a writer that died, counts as
 * the next even one: this process is the board's only writer). */
static uint64_t hd_begin(unsigned char *slot)
{
    uint64_t *lock = (uint64_t *)(void *)slot;
    uint64_t v = hd_le64(__atomic_load_n(lock, __ATOMIC_RELAXED));
    v += v & 1;
    __atomic_store_n(lock, hd_le64(v + 1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return v;
}

static void hd_end(unsigned char *slot, uint64_t v)
{
    __atomic_store_n((uint64_t *)(void *)slot, hd_le64(v + 2), __ATOMIC_RELEASE);
}

static void hd_put_run(unsigned char *slot, const hb_quiet_run *r)
{
    bd_put(slot, HD_RX_BEFORE, (uint64_t)r->rx_before);
    bd_put(slot, HD_FIRST, (uint64_t)r->first_seq);
    bd_put(slot, HD_LAST, (uint64_t)r->last_seq);
    bd_put(slot, HD_TS, (uint64_t)r->last_ts);
    bd_put(slot, HD_HEARD, (uint64_t)r->heard_ns);
    bd_put(slot, HD_COUNT, (uint64_t)r->count);
}

static void hd_write_run(hb_quiet *q, int32_t k)
{
    unsigned char *slot = hd_slot(q, k);
    uint64_t v = hd_begin(slot);
    hd_put_run(slot, &q->slots[k].run);
    hd_end(slot, v);
}

static void hd_write_src(hb_quiet *q, int32_t k, const char *src, size_t n)
{
    unsigned char *slot = hd_slot(q, k);
    uint64_t v = hd_begin(slot);
    slot[HD_SRC_LEN] = (unsigned char)n;
    memset(slot + HD_SRC, 0, HB_QUIET_SRC);
    if (n > 0)
        memcpy(slot + HD_SRC, src, n);
    hd_end(slot, v);
}

void hb_quiet_free(hb_quiet *q)
{
    if (q == NULL)
        return;
    if (q->board != NULL)
        munmap(q->board, HB_HEARD_SIZE);
    close(q->board_fd);
    munmap(q, round_pages(sizeof(*q)));
}

hb_quiet *hb_quiet_new(const char *heard_path, int kind, hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    hb_quiet *q;
    int fd;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (heard_path == NULL || (kind != HB_TK_UDP && kind != HB_TK_SERIAL))
        return tk_error(e, HB_BAD_ARGUMENT, -1), NULL;
    fd = open_board(heard_path, HB_HEARD_SIZE, e);
    if (fd < 0)
        return NULL;
    q = map_anon(sizeof(*q));
    if (q == NULL) {
        close(fd);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    q->board_fd = fd;
    q->kind = kind;
    q->board = mmap(NULL, HB_HEARD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (q->board == MAP_FAILED) {
        q->board = NULL;
        hb_quiet_free(q);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    if (memcmp(q->board, HD_MAGIC, 8) != 0 || bd_get(q->board, 8) != HB_QUIET_PEERS) {
        hb_quiet_free(q);
        return tk_error(e, HB_BOARD_INVALID, -1), NULL;
    }
    /* A new worker starts with an empty board: no run, no src. */
    for (int32_t k = 0; k < HB_QUIET_PEERS; k++) {
        hd_write_run(q, k);
        hd_write_src(q, k, NULL, 0);
    }
    return q;
}

int hb_quiet_set_model(hb_quiet *q, int32_t slot, const char *src, size_t src_len,
                       const char *frame, size_t len, int64_t seq, int64_t heard_ns,
                       uint32_t addr, int32_t port, int64_t gap_ns)
{
    struct quiet_ctx c;
    quiet_slot *s;
    dec_state d;
    verdict v;
    hb_error e;
    int form, rc;

    if (q == NULL || slot < 0 || slot >= HB_QUIET_PEERS || src == NULL || src_len == 0
        || src_len > HB_QUIET_SRC || (frame == NULL && len > 0) || seq < 0 || heard_ns < 0
        || gap_ns <= 0 || (q->kind == HB_TK_UDP && (port <= 0 || port > 65535)))
        return HB_BAD_ARGUMENT;
    s = &q->slots[slot];
    if (s->run.first_seq != 0)
        return HB_BAD_ARGUMENT; /* take the run first */
    s->active = 0;
    if (len > HB_QUIET_MODEL)
        return HB_TOO_LARGE;
    form = frame_form(frame, len, &e);
    if (form < 0)
        return -form;
    memcpy(s->model, frame, len);
    s->len = len;
    memset(&c, 0, sizeof(c));
    c.q = q;
    c.learn = s;
    memset(&d, 0, sizeof(d));
    d.e = &e;
    d.q = &c;
    rc = parse_verify(s->model, len, form, NULL, &d, &v);
    if (rc != HB_OK)
        return rc;
    if (c.too_many)
        return HB_TOO_MANY_FIELDS;
    if (c.bad || c.nseq != 1 || c.nts > 1 || c.nld > 1)
        return HB_BAD_VALUE;
    s->form = form;
    s->nfields = c.idx;
    s->inner = v.inner_at >= 0;
    s->addr = q->kind == HB_TK_UDP ? addr : 0;
    s->port = q->kind == HB_TK_UDP ? port : 0;
    s->gap_ns = gap_ns;
    s->last_seq = seq;
    s->last_heard_ns = heard_ns;
    memcpy(s->src, src, src_len);
    s->src_len = src_len;
    hd_write_src(q, slot, src, src_len);
    s->active = 1;
    return HB_OK;
}

int hb_quiet_forget(hb_quiet *q, int32_t slot)
{
    if (q == NULL || slot < 0 || slot >= HB_QUIET_PEERS || q->slots[slot].run.first_seq != 0)
        return HB_BAD_ARGUMENT;
    q->slots[slot].active = 0;
    return HB_OK;
}

int hb_quiet_set_gap(hb_quiet *q, int64_t gap_ns)
{
    if (q == NULL || gap_ns <= 0)
        return HB_BAD_ARGUMENT;
    for (int k = 0; k < HB_QUIET_PEERS; k++)
        q->slots[k].gap_ns = gap_ns;
    return HB_OK;
}

int hb_quiet_saw(hb_quiet *q, int32_t slot, int64_t seq, int64_t heard_ns)
{
    quiet_slot *s;
    if (q == NULL || slot < 0 || slot >= HB_QUIET_PEERS || seq < 0 || heard_ns < 0)
        return HB_BAD_ARGUMENT;
    s = &q->slots[slot];
    if (seq > s->last_seq)
        s->last_seq = seq;
    s->last_heard_ns = heard_ns;
    return HB_OK;
}

int hb_quiet_take(hb_quiet *q, int32_t slot, hb_quiet_run *run)
{
    quiet_slot *s;
    if (q == NULL || slot < 0 || slot >= HB_QUIET_PEERS || run == NULL)
        return HB_BAD_ARGUMENT;
    s = &q->slots[slot];
    *run = s->run;
    if (s->run.first_seq != 0 || s->run.count != 0) {
        memset(&s->run, 0, sizeof(s->run));
        hd_write_run(q, slot);
    }
    return HB_OK;
}

void hb_quiet_posted(hb_quiet *q)
{
    if (q != NULL)
        q->rx_posted++;
}

/* The slot the frame is quiet for (its seq and ts in *seq, *ts), or -1.
 * One parse, verifying with kr and comparing with every candidate. */
static int quiet_find(hb_quiet *q, const unsigned char *f, size_t len, const hb_keyring *kr,
                      uint32_t addr, int32_t port, int64_t now, int64_t *seq, int64_t *ts)
{
    struct quiet_ctx c;
    dec_state d;
    verdict v;
    hb_error e;
    uint32_t cand = 0;
    int form;

    if (len > HB_QUIET_MODEL)
        return -1;
    form = frame_form((const char *)f, len, &e);
    if (form < 0)
        return -1;
    for (int k = 0; k < HB_QUIET_PEERS; k++) {
        const quiet_slot *s = &q->slots[k];
        if (!s->active || s->form != form || s->last_seq == INT64_MAX)
            continue;
        if (q->kind == HB_TK_UDP && (s->addr != addr || s->port != port))
            continue;
        if (now < s->last_heard_ns || now - s->last_heard_ns > s->gap_ns)
            continue;
        cand |= 1u << k;
    }
    if (cand == 0)
        return -1;
    memset(&c, 0, sizeof(c));
    c.q = q;
    c.cand = cand;
    memset(&d, 0, sizeof(d));
    d.e = &e;
    d.q = &c;
    if (parse_verify(f, len, form, kr, &d, &v) != HB_OK)
        return -1;
    if (c.bad || c.nseq != 1 || c.nts > 1 || c.nld > 1)
        return -1;
    for (int k = 0; k < HB_QUIET_PEERS; k++) {
        const quiet_slot *s = &q->slots[k];
        if (!(c.cand & (1u << k)) || s->nfields != c.idx || c.seq != s->last_seq + 1)
            continue;
        /* A netstring inner auth is the fields' classic signature: it
         * changes with seq, and nothing reads it (the trailer covers it). */
        if ((v.inner_at >= 0) != s->inner)
            continue;
        *seq = c.seq;
        *ts = c.nts ? c.ts : 0;
        return k;
    }
    return -1;
}

/* Quiet test and, when quiet, the record on the board. 1 or 0. */
static int quiet_take(hb_quiet *q, const unsigned char *f, size_t len, const hb_keyring *kr,
                      uint32_t addr, int32_t port, int64_t now)
{
    int64_t seq = 0, ts = 0;
    int k = quiet_find(q, f, len, kr, addr, port, now, &seq, &ts);
    quiet_slot *s;
    if (k < 0)
        return 0;
    s = &q->slots[k];
    if (s->run.first_seq == 0) {
        s->run.rx_before = q->rx_posted;
        s->run.first_seq = seq;
        s->run.count = 0;
    }
    s->run.last_seq = seq;
    s->run.last_ts = ts;
    s->run.heard_ns = now;
    s->run.count++;
    s->last_seq = seq;
    s->last_heard_ns = now;
    hd_write_run(q, k);
    return 1;
}

int32_t hb_quiet_check(hb_quiet *q, const char *frame, size_t len, const hb_keyring *kr,
                       uint32_t addr, int32_t port, int64_t now_ns)
{
    if (q == NULL || kr == NULL || (frame == NULL && len > 0))
        return -HB_BAD_ARGUMENT;
    if (now_ns < 0 || frame == NULL)
        return 0;
    return quiet_take(q, U8(frame), len, kr, addr, port, now_ns);
}

/* UDP: peek each waiting datagram; consume the quiet ones. 0 (all quiet:
 * back to poll) or the wait's flags. */
static int32_t quiet_udp(hb_quiet *q, const hb_keyring *kr, int fd, hb_quiet_result *res)
{
    for (int k = 0; k < QW_BURST; k++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        uint32_t addr = 0;
        int32_t port = 0;
        unsigned char one;
        ssize_t n;

        memset(&from, 0, sizeof(from));
        n = recvfrom(fd, q->ubuf, sizeof(q->ubuf), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC,
                     (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            res->err = errno;
            return HB_QW_MEDIUM | HB_QW_ERROR;
        }
        if ((size_t)n > HB_QUIET_MODEL)
            return HB_QW_MEDIUM;
        if (fl >= sizeof(from) && from.sin_family == AF_INET) {
            addr = ntohl(from.sin_addr.s_addr);
            port = ntohs(from.sin_port);
        }
        if (!quiet_take(q, q->ubuf, (size_t)n, kr, addr, port, mono_ns()))
            return HB_QW_MEDIUM;
        if (recv(fd, &one, 1, MSG_DONTWAIT | MSG_TRUNC) < 0) {
            /* only this thread reads the socket: the peeked datagram is there */
        }
        res->quiet++;
    }
    return 0;
}

/* Serial: the buffer as a frame ">>>\n" ... "<<<\n" (lines as the serial
 * framer of workers/serialframer.py sees them). Returns the length of a
 * whole frame at its start; 0 when it is empty or may still become one;
 * -1 when it cannot (does not start with ">>>\n", a line inside starts
 * with ">>>", a line starting with "<<<" is not exactly "<<<", CR or an
 * 8-bit byte: the framer would not see these bytes as they are). */
static long serial_frame(const unsigned char *b, size_t n)
{
    size_t pos = 4;
    if (n < 4)
        return memcmp(b, ">>>\n", n) == 0 ? 0 : -1;
    if (memcmp(b, ">>>\n", 4) != 0)
        return -1;
    while (pos < n) {
        const unsigned char *nl = memchr(b + pos, '\n', n - pos);
        size_t end = nl != NULL ? (size_t)(nl - b) : n;
        for (size_t i = pos; i < end; i++)
            if (b[i] == '\r' || b[i] > 0x7f)
                return -1;
        if (end - pos >= 3 && memcmp(b + pos, "<<<", 3) == 0) {
            if (end - pos > 3)
                return -1;
            return nl != NULL ? (long)(end + 1) : 0;
        }
        if (end - pos >= 3 && memcmp(b + pos, ">>>", 3) == 0)
            return -1;
        if (nl == NULL)
            return 0;
        pos = end + 1;
    }
    return 0;
}

static int32_t serial_hand_back(hb_quiet *q, int32_t flags)
{
    q->pending = q->sused > 0;
    return flags;
}

static int32_t quiet_serial(hb_quiet *q, const hb_keyring *kr, int fd, short revents,
                            hb_quiet_result *res)
{
    ssize_t n;
    long flen;
    if (revents & POLLNVAL) {
        res->err = EBADF;
        return serial_hand_back(q, HB_QW_MEDIUM | HB_QW_ERROR);
    }
    do {
        n = read(fd, q->sbuf + q->sused, HB_QUIET_SBUF - q->sused);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        res->err = errno;
        return serial_hand_back(q, HB_QW_MEDIUM | HB_QW_ERROR);
    }
    if (n == 0) {
        /* Nothing, on a tty; but a hang-up would wake poll for ever:
         * Python's own read sees what it is. */
        return (revents & (POLLHUP | POLLERR)) ? serial_hand_back(q, HB_QW_MEDIUM) : 0;
    }
    q->sused += (size_t)n;
    while ((flen = serial_frame(q->sbuf, q->sused)) > 0) {
        if (!quiet_take(q, q->sbuf, (size_t)flen, kr, 0, 0, mono_ns()))
            break;
        q->sused -= (size_t)flen;
        memmove(q->sbuf, q->sbuf + flen, q->sused);
        res->quiet++;
    }
    if (q->sused == 0 || (flen == 0 && q->sused < HB_QUIET_SBUF))
        return 0; /* all quiet, or the start of a frame: read on */
    return serial_hand_back(q, HB_QW_MEDIUM);
}

int32_t hb_quiet_wait(hb_quiet *q, const hb_keyring *kr, int medium_fd, const int32_t *fds,
                      int32_t nfds, int32_t timeout_ms, hb_quiet_result *res)
{
    struct pollfd pfd[QW_MAX_FDS + 1];
    int64_t deadline = -1;

    if (res != NULL)
        memset(res, 0, sizeof(*res));
    if (q == NULL || kr == NULL || res == NULL || medium_fd < 0 || nfds < 0
        || nfds > QW_MAX_FDS || (nfds > 0 && fds == NULL))
        return -HB_BAD_ARGUMENT;
    if (q->pending) {
        res->flags = HB_QW_MEDIUM;
        return res->flags;
    }
    pfd[0].fd = medium_fd;
    pfd[0].events = POLLIN;
    for (int32_t i = 0; i < nfds; i++) {
        pfd[i + 1].fd = fds[i];
        pfd[i + 1].events = POLLIN;
    }
    if (timeout_ms >= 0)
        deadline = mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int wait_ms = -1, n;
        if (deadline >= 0) {
            int64_t left = deadline - mono_ns();
            wait_ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        }
        for (int32_t i = 0; i <= nfds; i++)
            pfd[i].revents = 0;
        n = poll(pfd, (nfds_t)nfds + 1, wait_ms);
        if (n < 0) {
            if (errno == EINTR) {
                res->flags = HB_QW_INTR;
            } else {
                res->flags = HB_QW_ERROR;
                res->err = errno;
            }
            return res->flags;
        }
        if (n == 0) {
            res->flags = HB_QW_TIMEOUT;
            return res->flags;
        }
        for (int32_t i = 0; i < nfds; i++)
            if (pfd[i + 1].revents != 0)
                res->ready |= (int32_t)(1u << i);
        if (pfd[0].revents != 0) {
            if (q->kind == HB_TK_UDP)
                res->flags |= quiet_udp(q, kr, medium_fd, res);
            else
                res->flags |= quiet_serial(q, kr, medium_fd, pfd[0].revents, res);
        }
        if (res->ready != 0)
            res->flags |= HB_QW_FDS;
        if (res->flags != 0)
            return res->flags;
        if (deadline >= 0 && mono_ns() >= deadline) {
            res->flags = HB_QW_TIMEOUT;
            return res->flags;
        }
    }
}

int32_t hb_quiet_pending(hb_quiet *q, char *out, size_t cap)
{
    int32_t n;
    if (q == NULL || (out == NULL && cap > 0))
        return -HB_BAD_ARGUMENT;
    if (!q->pending)
        return 0;
    if (q->sused > cap)
        return -HB_NO_SPACE;
    n = (int32_t)q->sused;
    if (n > 0)
        memcpy(out, q->sbuf, q->sused);
    q->sused = 0;
    q->pending = 0;
    return n;
}

/* -------------------------------------------------------------------- */
/* Waiting with a lease (hb_lease_*): the supervisor's loop sleeps here */
/* and the lease on its sequence board is renewed while it does. The   */
/* renewal is the board write the supervisor's own turns make (an OFD  */
/* lock on the whole file around the 8 bytes). Nothing allocated after */
/* hb_lease_new.                                                       */

struct hb_lease {
    unsigned char *board;
    size_t size;
    int fd;
    size_t lease_at;
    long count_at;              /* -1: nothing watched */
};

void hb_lease_free(hb_lease *l)
{
    if (l == NULL)
        return;
    if (l->board != NULL)
        munmap(l->board, l->size);
    close(l->fd);
    munmap(l, round_pages(sizeof(*l)));
}

hb_lease *hb_lease_new(const char *path, int64_t size, const char *magic, size_t magic_len,
                       int64_t lease_at, int64_t count_at, hb_error *err)
{
    hb_error dummy;
    hb_error *e = err != NULL ? err : &dummy;
    hb_lease *l;
    int fd;

    fail(e, HB_OK, -1, -1, -1, -1);
    if (path == NULL || magic == NULL || magic_len == 0 || magic_len > 8 || size < 16
        || size > (int64_t)1 << 30 || lease_at < (int64_t)magic_len || lease_at % 8 != 0
        || lease_at + 8 > size || count_at < -1 || (count_at >= 0 && (count_at % 8 != 0
        || count_at < (int64_t)magic_len || count_at + 8 > size || count_at == lease_at)))
        return tk_error(e, HB_BAD_ARGUMENT, -1), NULL;
    fd = open_board(path, (off_t)size, e);
    if (fd < 0)
        return NULL;
    l = map_anon(sizeof(*l));
    if (l == NULL) {
        close(fd);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    l->fd = fd;
    l->size = (size_t)size;
    l->lease_at = (size_t)lease_at;
    l->count_at = (long)count_at;
    l->board = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (l->board == MAP_FAILED) {
        l->board = NULL;
        hb_lease_free(l);
        return tk_error(e, HB_NO_MEMORY, -1), NULL;
    }
    if (memcmp(l->board, magic, magic_len) != 0) {
        hb_lease_free(l);
        return tk_error(e, HB_BOARD_INVALID, -1), NULL;
    }
    return l;
}

int hb_lease_renew(hb_lease *l, int64_t until_ns, int32_t *errnum)
{
    int rc;
    if (l == NULL)
        return HB_BAD_ARGUMENT;
    rc = bd_lock(l->fd, F_WRLCK);
    if (rc != 0) {
        if (errnum != NULL)
            *errnum = rc;
        return HB_BOARD_LOCK;
    }
    bd_put(l->board, l->lease_at, (uint64_t)until_ns);
    bd_lock(l->fd, F_UNLCK);
    return HB_OK;
}

int64_t hb_lease_until(hb_lease *l)
{
    int64_t v;
    if (l == NULL || bd_lock(l->fd, F_RDLCK) != 0)
        return -1;
    v = bd_get(l->board, l->lease_at);
    bd_lock(l->fd, F_UNLCK);
    return v;
}

/* The watched count, read without the lock: one aligned 8-byte load
 * (a hint; the caller reads the board under the lock). */
static int64_t lease_count(const hb_lease *l)
{
    uint64_t raw = __atomic_load_n((const uint64_t *)(const void *)(l->board + l->count_at),
                                   __ATOMIC_ACQUIRE);
    unsigned char b[8];
    memcpy(b, &raw, 8);
    return bd_get(b, 0);
}

int32_t hb_lease_poll(hb_lease *l, const int32_t *fds, int32_t nfds, int32_t timeout_ms,
                      hb_lease_plan *plan, hb_lease_result *res)
{
    struct pollfd pfd[HB_LP_MAX_FDS];
    int64_t start, end, alive, now, until, wait_ns;
    int n, ms, rc;
    int32_t errnum = 0;

    if (l == NULL || plan == NULL || res == NULL || nfds < 0 || nfds > HB_LP_MAX_FDS
        || (fds == NULL && nfds > 0) || plan->lease_ns <= 0 || plan->every_ns <= 0
        || plan->stall_ns <= 0)
        return -HB_BAD_ARGUMENT;
    memset(res, 0, sizeof(*res));
    for (int32_t i = 0; i < nfds; i++) {
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN;
        pfd[i].revents = 0;
    }
    start = alive = mono_ns();
    res->started_ns = start;
    end = timeout_ms < 0 ? INT64_MAX : start + (int64_t)timeout_ms * 1000000;
    for (now = start;;) {
        if (l->count_at >= 0 && lease_count(l) >= plan->count_at_least) {
            res->flags |= HB_LP_COUNT;
            break;
        }
        if (now >= plan->next_renew_ns) {
            rc = hb_lease_renew(l, now + plan->lease_ns, &errnum);
            if (rc != HB_OK) {
                res->flags |= HB_LP_LEASE;
                res->err = errnum;
                break;
            }
            plan->next_renew_ns = now + plan->every_ns;
            res->renewals++;
        }
        until = plan->next_renew_ns < end ? plan->next_renew_ns : end;
        wait_ns = until - now;
        /* Rounded up: a poll that ends before the renewal or the timeout
         * is due would only come back to sleep again. */
        if (wait_ns <= 0)
            ms = 0;
        else if (wait_ns >= (int64_t)INT32_MAX * 1000000)
            ms = INT32_MAX;
        else
            ms = (int)((wait_ns + 999999) / 1000000);
        n = poll(pfd, (nfds_t)nfds, ms);
        if (n < 0)
            errnum = errno;
        now = mono_ns();
        if (now - alive > plan->stall_ns) {
            /* Asleep far longer than asked: this process was stopped or
             * starved. Say so before renewing anything. */
            res->flags |= HB_LP_STALL;
            res->alive_ns = alive;
        } else {
            alive = now;
        }
        if (n < 0) {
            if (errnum == EINTR) {
                res->flags |= HB_LP_INTR;
            } else {
                res->flags |= HB_LP_ERROR;
                res->err = errnum;
            }
            break;
        }
        if (n > 0) {
            for (int32_t i = 0; i < nfds; i++)
                if (pfd[i].revents != 0)
                    res->ready |= (int32_t)1 << i;
            res->flags |= HB_LP_FDS;
            break;
        }
        if (res->flags & HB_LP_STALL)
            break;
        if (now >= end) {
            res->flags |= HB_LP_TIMEOUT;
            break;
        }
    }
    if (!(res->flags & HB_LP_STALL))
        res->alive_ns = alive;
    return res->flags;
}
