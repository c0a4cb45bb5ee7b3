/* hbeat link layer: heartbeat 3.0.6 frame codec (C side).
 *
 * Declarations shared by _frame.c and by cffi (build_ext.py feeds this
 * file to ffibuilder.cdef, so it holds only integer #defines, structs and
 * prototypes; _frame.c includes <stdint.h> and <stddef.h> first).
 * The rules, check order and error codes are docs/wire-format.md.
 */

#define HB_MAX_FRAME 262144
#define HB_MAX_FIELDS 128
#define HB_MAX_NAME 64
#define HB_MAX_VALUE 65536
#define HB_MAX_KEYS 16

/* Error codes: docs/wire-format.md, "Error codes". */
#define HB_OK 0
#define HB_EMPTY 1
#define HB_TOO_LARGE 2
#define HB_UNKNOWN_FORM 3
#define HB_TRUNCATED 4
#define HB_TRAILING_DATA 5
#define HB_TOO_MANY_FIELDS 6
#define HB_BAD_TYPE 7
#define HB_UNSUPPORTED_TYPE 8
#define HB_NO_EQUALS 9
#define HB_BAD_NAME 10
#define HB_NAME_TOO_LONG 11
#define HB_VALUE_TOO_LONG 12
#define HB_BAD_VALUE 13
#define HB_BAD_BASE64 14
#define HB_NS_BAD_LENGTH 15
#define HB_NS_NO_COMMA 16
#define HB_NS_NO_TYPE 17
#define HB_DUPLICATE_AUTH 18
#define HB_AUTH_MISSING 19
#define HB_AUTH_MALFORMED 20
#define HB_AUTH_UNKNOWN_KEY 21
#define HB_AUTH_MISMATCH 22
#define HB_NO_SPACE 23
#define HB_BAD_KEYRING 24
/* Not frame errors: a bad argument to a function of this API, and an
 * allocation failure (hb_template_new only). */
#define HB_BAD_ARGUMENT 25
#define HB_NO_MEMORY 26
/* Batched receive (hb_rx_*): why a datagram was refused before or instead
 * of the frame checks, and the one failure of the receive call itself. */
#define HB_NOT_FROM_PEER 27
#define HB_OVERSIZE_DATAGRAM 28
#define HB_RECV_FAILED 29

#define HB_METHOD_NONE 0
#define HB_METHOD_SHA1 1
#define HB_METHOD_MD5 2
#define HB_METHOD_CRC 3

#define HB_FORM_CLASSIC 1
#define HB_FORM_NETSTRING 2

/* Bytes a decode scratch buffer needs: the frame length plus this. */
#define HB_SCRATCH_EXTRA 16
/* Size of hb_decoded.fmt. */
#define HB_FMT_SIZE 4096
/* Longest hex digest (sha1) plus NUL. */
#define HB_HEX_SIZE 41
/* Variable fields a template may have. */
#define HB_TEMPLATE_SLOTS 4

typedef struct hb_keyring hb_keyring;

/* Where an error was found: code, byte offset (-1: none), field index
 * (-1: none) and, when known, the field name's place in the input. */
typedef struct {
    int32_t code;
    int32_t offset;
    int32_t field_index;
    int32_t name_offset;
    int32_t name_length;
} hb_error;

/* Result of hb_decode.
 *
 * On success the scratch buffer holds, back to back: a 6-byte header
 * (form, key index or -1, method, has signature, has inner auth as signed
 * bytes, then the field count as an unsigned byte), then per field (auth
 * excluded) its name, its type as one byte and its value, then the
 * signature and the inner auth value when present. `fmt` is the matching
 * Python struct format ("=5bB" then "<n>sB<m>s" per field, then "<k>s"...),
 * NUL-terminated, so one struct.unpack_from turns the scratch into Python
 * objects. */
typedef struct {
    hb_error err;
    int32_t form;
    int32_t nfields;
    int32_t key_index;
    int32_t method;
    int32_t sig_offset;
    int32_t sig_length;
    int32_t inner_offset;
    int32_t inner_length;
    int32_t scratch_used;
    char fmt[4096];
} hb_decoded;

/* Keyring: every key authkeys defines, with precomputed HMAC states.
 * The only allocating calls. */
hb_keyring *hb_keyring_new(void);
void hb_keyring_free(hb_keyring *kr);
int hb_keyring_add(hb_keyring *kr, int index, int method, const char *secret, size_t secret_len);
int hb_keyring_set_signing(hb_keyring *kr, int index);

/* Parse (kr == NULL) or parse and verify a frame. Returns HB_OK or an
 * error code (also in out->err). scratch must hold at least
 * len + HB_SCRATCH_EXTRA bytes, else HB_NO_SPACE. Never allocates. */
int hb_decode(const char *frame, size_t len, const hb_keyring *kr, hb_decoded *out,
              char *scratch, size_t scratch_cap);

/* Parse (kr == NULL) or parse and verify a frame, recording nothing:
 * the checks and results of hb_decode without its field output. Returns,
 * on success, form | method << 2 | (key index + 1) << 4 (key index -1:
 * none found; method HB_METHOD_NONE when parse-only), else minus the
 * error code, with the details in *err when err is not NULL. Never
 * allocates, never writes anything but *err. */
int32_t hb_verify(const char *frame, size_t len, const hb_keyring *kr, hb_error *err);

/* Encode fields (names and values each concatenated, names_total and
 * values_total bytes long; lens holds the n name lengths then the n value
 * lengths as native int32; types one byte per field).
 * kr == NULL: unsigned. form: HB_FORM_*. inner_auth: netstring only.
 * Returns the frame length (>= 0) or minus an error code (also in err). */
int32_t hb_encode(int form, const char *names, size_t names_total, const char *values,
                  size_t values_total, const char *lens, const char *types,
                  int32_t nfields, const hb_keyring *kr, int inner_auth, char *out,
                  size_t out_cap, hb_error *err);

/* Digest of data as the method computes it, keyed with key (ignored for
 * crc), as lowercase hex into hex (HB_HEX_SIZE bytes). Returns the hex
 * length, or -HB_BAD_ARGUMENT for an unknown method. */
int hb_digest_hex(int method, const char *key, size_t key_len, const char *data, size_t len,
                  char *hex);

/* Template: a message whose fields are fixed but for at most
 * HB_TEMPLATE_SLOTS variable values. Arguments as hb_encode, plus
 * variable[i] != 0 for each variable field (whose given value is checked
 * like the others but not kept). Every field is checked once, here, with
 * hb_encode's codes; the signing key is copied, so kr may be freed after.
 * Returns NULL with the error in *err (HB_NO_MEMORY if allocation
 * failed; HB_BAD_ARGUMENT with field_index set for too many variable
 * fields; HB_TOO_LARGE if the constant fields alone exceed HB_MAX_FRAME).
 * The only allocating template call. */
typedef struct hb_template hb_template;
hb_template *hb_template_new(int form, const char *names, size_t names_total, const char *values,
                             size_t values_total, const char *lens, const char *types,
                             int32_t nfields, const hb_keyring *kr, int inner_auth,
                             const char *variable, hb_error *err);
void hb_template_free(hb_template *t);

/* Encode the template with value vK (nK bytes) for its K-th variable
 * field, in field order (unused slots: NULL, 0). The frame is byte for
 * byte what hb_encode makes of the same fields; errors likewise (only the
 * variable values can fail: VALUE_TOO_LONG, BAD_VALUE; then TOO_LARGE,
 * NO_SPACE). Returns the frame length or minus an error code. */
int32_t hb_template_encode(const hb_template *t, const char *v0, size_t n0, const char *v1,
                           size_t n1, const char *v2, size_t n2, const char *v3, size_t n3,
                           char *out, size_t out_cap, hb_error *err);

/* Batched receive: up to `batch` datagrams per recvmmsg() from a
 * non-blocking IPv4 UDP socket into buffers allocated once (hb_rx_new),
 * each checked in the same call: the source filter (hb_rx_set_peers),
 * then hb_verify with the keyring. Nothing is allocated per datagram and
 * no refused datagram leaves C but as a count: the accepted ones are
 * listed in hb_rx_frames() (their bytes in hb_rx_arena()), the refused
 * ones summed per (code, source) in hb_rx_rejects(), each with the last
 * one's error record. docs/wire-format.md, "Batched receive". */
#define HB_RX_MAX_BATCH 256
#define HB_RX_MIN_SLOT 64
#define HB_RX_MAX_SLOT 65536
#define HB_RX_MAX_PEERS 64
/* Longest UDP payload over IPv4 is 65507; the overflow buffer holds any. */
#define HB_RX_BIG 65536

typedef struct hb_rx hb_rx;

/* An accepted frame: its bytes are hb_rx_arena()[offset .. offset+length);
 * info is hb_verify's result; the source is addr (IPv4, host byte order)
 * and port. */
typedef struct {
    int32_t offset;
    int32_t length;
    int32_t info;
    uint32_t addr;
    int32_t port;
} hb_rx_frame;

/* Datagrams refused for one reason from one source in one call: code is
 * a frame error code (HB_EMPTY..HB_AUTH_MISMATCH), HB_NOT_FROM_PEER or
 * HB_OVERSIZE_DATAGRAM; err is the last one's error record, whose field
 * name (when known) is copied to name[0 .. err.name_length), with
 * err.name_offset 0 (-1 when none). */
typedef struct {
    int32_t code;
    int32_t count;
    uint32_t addr;
    int32_t port;
    hb_error err;
    char name[64];
} hb_rx_reject;

/* What one hb_rx_read did. */
typedef struct {
    int32_t received;
    int32_t accepted;
    int32_t refused;
    int32_t nrejects;
} hb_rx_result;

/* Buffers for `batch` (1..HB_RX_MAX_BATCH) datagrams of up to `slot`
 * (HB_RX_MIN_SLOT..HB_RX_MAX_SLOT) bytes each; a longer datagram's tail
 * goes to one shared HB_RX_BIG overflow buffer, so the last such datagram
 * of a call is kept whole and any earlier one in the same call is refused
 * as HB_OVERSIZE_DATAGRAM. Returns NULL with HB_BAD_ARGUMENT or
 * HB_NO_MEMORY in *err. The only allocating receive call. */
hb_rx *hb_rx_new(int32_t batch, int32_t slot, hb_error *err);
void hb_rx_free(hb_rx *rx);

/* Accept datagrams only from these n IPv4 addresses (host byte order;
 * n == 0: from anywhere); the others are refused as HB_NOT_FROM_PEER
 * without being parsed. Returns HB_OK, or HB_BAD_ARGUMENT for n outside
 * 0..HB_RX_MAX_PEERS (the filter is then unchanged). */
int hb_rx_set_peers(hb_rx *rx, const uint32_t *addrs, int32_t n);

/* Reads up to `limit` datagrams (limit <= 0 or > batch: batch) from fd
 * without blocking and checks each: source filter, size, then hb_verify
 * with kr (NULL: parse only). Returns the number of datagrams read (0 when
 * none was waiting), with the counts in *res; or -HB_RECV_FAILED (errno
 * in err->offset) or -HB_BAD_ARGUMENT, the error also in *err. The
 * results stay valid until the next call. */
int32_t hb_rx_read(hb_rx *rx, int fd, const hb_keyring *kr, int32_t limit, hb_rx_result *res,
                   hb_error *err);

/* The call's results: frames[0 .. res.accepted), rejects[0 .. res.nrejects),
 * and the bytes the frames point into (hb_rx_arena_size() bytes). */
const hb_rx_frame *hb_rx_frames(const hb_rx *rx);
const hb_rx_reject *hb_rx_rejects(const hb_rx *rx);
const char *hb_rx_arena(const hb_rx *rx);
size_t hb_rx_arena_size(const hb_rx *rx);

/* Keepalive ticker (hb_ticker_*): a thread that sends a link worker's
 * keepalives on the sequence board's schedule (tick k due at
 * t0_ns + k * interval_ns, CLOCK_MONOTONIC): it sleeps to
 * HB_TK_PREWAKE_NS before the tick, then to HB_TK_SPIN_NS before it, spins to it, claims the tick's seq on
 * the board as hbeat/ipc/seqboard.py `SeqBoard.claim` does (same layout,
 * same checks, an OFD lock on the whole file, which excludes the
 * supervisor's lockf), fills the current template (seq, ts, ld) and
 * writes the frame to the medium. Every write to the medium (the
 * ticker's and hb_ticker_write's) holds one mutex. docs/processes.md,
 * "How a link worker meets its tick". */
#define HB_BOARD_SIZE 32864
#define HB_BOARD_RING 256
#define HB_LD_MAX 95
#define HB_TK_FRAME 16384
#define HB_TK_EVENTS 64
#define HB_TK_SPIN_NS 30000
#define HB_TK_PREWAKE_NS 2000000
#define HB_TK_CONTENT_WAIT_NS 5000000
#define HB_TK_ORDER_WAIT_NS 5000000
#define HB_TK_UDP 1
#define HB_TK_SERIAL 2
/* Ticker error and outcome codes (errno, where one applies, in the
 * hb_error's offset or the report's err). */
#define HB_BOARD_OPEN 30
#define HB_BOARD_INVALID 31
#define HB_BOARD_LOCK 32
#define HB_THREAD_FAILED 33
#define HB_TICKER_RUNNING 34
#define HB_LEASE_EXPIRED 35
#define HB_STALE_CONTENT 36
#define HB_TICK_PASSED 37
#define HB_NO_TEMPLATE 38
#define HB_WRITE_FAILED 39
#define HB_WRITE_TIMEOUT 40
#define HB_MLOCK_FAILED 41
#define HB_OPEN_FAILED 42

typedef struct hb_ticker hb_ticker;

/* One keepalive (or a failure to write one): code HB_OK when it was
 * claimed and encoded (written: it reached the medium; else the write's
 * code, HB_WRITE_FAILED or HB_WRITE_TIMEOUT, with err the errno), or the
 * encode's frame error code. taken: this ticker took the seq (and logged
 * it on the board). late_us: from the tick's due time to the write.
 * content_key: that of the template the frame was built from (as given
 * to hb_ticker_set_template; 0 when nothing was claimed). ahead_of: the
 * supervisor's message, numbered below seq, that this keepalive went
 * out before because it was not handed to hb_ticker_write within
 * HB_TK_ORDER_WAIT_NS (0: every earlier message was written first). */
typedef struct {
    int64_t seq;
    int64_t ts;
    int64_t tick;
    int64_t late_us;
    int64_t ahead_of;
    uint64_t content_key;
    int32_t code;
    int32_t written;
    int32_t taken;
    int32_t err;
    int32_t ld_len;
    char ld[96];
} hb_tick_report;

/* What hb_ticker_start could not get for the thread (errno, 0: done). */
typedef struct {
    int32_t fifo;
    int32_t slice;
    int32_t slack;
} hb_ticker_timing;

/* A ticker for the board file at board_path (opened here: its own open
 * file description, for its own lock), writing to medium_fd (kind
 * HB_TK_UDP: sendto dest_addr:dest_port, IPv4 host order; HB_TK_SERIAL:
 * write, EAGAIN flushing the output and failing HB_WRITE_TIMEOUT).
 * report_all: every keepalive is reported (hb_ticker_events), not only
 * write failures. loadavg_path: read for each keepalive's ld. Returns
 * NULL with the error in *err. The only allocating calls are this one
 * and hb_ticker_set_template. */
hb_ticker *hb_ticker_new(const char *board_path, int medium_fd, int kind, uint32_t dest_addr,
                         int32_t dest_port, int report_all, const char *loadavg_path,
                         hb_error *err);
/* Stops the thread if it runs, then frees everything. */
void hb_ticker_free(hb_ticker *tk);
/* The keepalive from now on: a copy of t (which the caller keeps and may
 * free), made for status content_seq, whose content key is content_key.
 * HB_OK, HB_NO_MEMORY, HB_BAD_ARGUMENT (t NULL). */
int hb_ticker_set_template(hb_ticker *tk, const hb_template *t, int64_t content_seq,
                           uint64_t content_key);
/* Re-read t0 and interval from the board (the supervisor moved them). */
int hb_ticker_reschedule(hb_ticker *tk);
/* One keepalive now, on the calling thread (only while the thread is not
 * running: HB_TICKER_RUNNING), for tick with ts and ld (ld_len <=
 * HB_LD_MAX). Returns HB_OK (report filled, written or not), or
 * HB_LEASE_EXPIRED, HB_STALE_CONTENT (no waiting here), HB_TICK_PASSED,
 * HB_NO_TEMPLATE, HB_BOARD_LOCK (errno in report->err): nothing sent. */
int hb_ticker_tick(hb_ticker *tk, int64_t tick, int64_t ts, const char *ld, size_t ld_len,
                   hb_tick_report *report);
/* Start the thread: SCHED_FIFO at fifo_prio when > 0 (else, or when
 * refused, SCHED_OTHER with a slice_ns slice when > 0), timer slack 1 ns;
 * what it could not get is in *timing. HB_OK, HB_TICKER_RUNNING,
 * HB_THREAD_FAILED (errno in err->offset). */
int hb_ticker_start(hb_ticker *tk, int32_t fifo_prio, int64_t slice_ns, hb_ticker_timing *timing,
                    hb_error *err);
/* Stop the thread and wait for it (prompt: its sleeps wake for this).
 * HB_OK also when it was not running. */
int hb_ticker_stop(hb_ticker *tk);
/* Write a frame to the medium under the write mutex: the supervisor's
 * message number seq (0: a message without one, or a retransmission).
 * A keepalive numbered above a message the supervisor took a number for
 * waits for that message to be written here first, up to
 * HB_TK_ORDER_WAIT_NS (the thread only; hb_ticker_tick does not wait),
 * so that every medium carries a node's numbers in order. HB_OK,
 * HB_WRITE_FAILED or HB_WRITE_TIMEOUT (errno in *errno_out); a failed
 * write counts as handled. */
int hb_ticker_write(hb_ticker *tk, const char *frame, size_t len, int64_t seq,
                    int32_t *errno_out);
/* Messages numbered up to seq count as written (ones this worker will
 * never be handed: sent before it started): keepalives do not wait for
 * them. HB_OK, HB_BAD_ARGUMENT. */
int hb_ticker_messages_before(hb_ticker *tk, int64_t seq);
/* The descriptor (an eventfd) that becomes readable when reports wait. */
int hb_ticker_event_fd(const hb_ticker *tk);
/* Takes up to max waiting reports into out (oldest first); *overrun:
 * reports lost since the last call because the ring was full. Returns
 * how many. */
int32_t hb_ticker_events(hb_ticker *tk, hb_tick_report *out, int32_t max, int64_t *overrun);
/* A copy of the last keepalive frame the ticker made. Returns its length
 * (0: none yet) or -HB_NO_SPACE when cap is too small. */
int32_t hb_ticker_last(hb_ticker *tk, char *out, size_t cap);
/* How many keepalives the ticker has made (each one replaces the copy
 * hb_ticker_last returns): one atomic read, no lock, so a reader can
 * fetch the copy only when it changed. -1 for NULL. */
int64_t hb_ticker_made(const hb_ticker *tk);
/* Lock in memory what the tick path touches: the thread's stack, the
 * ticker's state and buffers, the board, the templates (from now on),
 * and the code and data of this module, libc and libcrypto (their text
 * on fault). Returns HB_OK or HB_MLOCK_FAILED (errno in err->offset,
 * the address space locked in err->field_index, KiB). */
int hb_ticker_lock_memory(hb_ticker *tk, hb_error *err);

/* Quiet keepalives (hb_quiet_*): a link worker's Python thread waits in
 * hb_quiet_wait instead of its poll. A keepalive from a peer that differs
 * from the last status frame the worker forwarded from that peer (its
 * model) only in the values of seq (the next one), ts and ld, arriving
 * within the model's gap of the peer's previous frame on this medium, from
 * the model's source, and verified with the keyring, is recorded on the
 * link's heard board (hbeat/ipc/heardboard.py: same layout) instead of
 * waking Python; the supervisor reads the board on its own turns. Anything
 * else makes the wait return so that Python handles it as before: UDP
 * input is peeked and left in the socket; serial bytes are read here and
 * handed back (hb_quiet_pending). docs/processes.md, "Quiet keepalives".
 *
 * The heard board is a file of HB_HEARD_SIZE bytes, little-endian:
 * 0 magic "HBHEARD1"; 8 u64 slot count (HB_QUIET_PEERS); slot i at
 * HB_HEARD_SLOT0 + i * HB_HEARD_SLOT: +0 u64 seqlock (odd while written),
 * +8 i64 rx_before (the Rx messages the worker had posted when the run
 * began), +16 i64 first_seq (0: no run), +24 i64 last_seq, +32 i64
 * last_ts, +40 i64 heard_ns (CLOCK_MONOTONIC, of last_seq), +48 i64 count,
 * +56 u8 src length, +57 src (HB_QUIET_SRC bytes). */
#define HB_HEARD_SIZE 4096
#define HB_HEARD_SLOT0 64
#define HB_HEARD_SLOT 128
#define HB_QUIET_PEERS 8
#define HB_QUIET_SRC 64
#define HB_QUIET_MODEL 4096
#define HB_QUIET_FIELDS 48
#define HB_QUIET_SBUF 16384
/* hb_quiet_wait's outcome flags. */
#define HB_QW_MEDIUM 1
#define HB_QW_FDS 2
#define HB_QW_TIMEOUT 4
#define HB_QW_INTR 8
#define HB_QW_ERROR 16
/* Kinds: HB_TK_UDP, HB_TK_SERIAL (the ticker's). */

typedef struct hb_quiet hb_quiet;

/* What one hb_quiet_wait did: flags (HB_QW_*); ready, bit i set for each
 * fds[i] found readable (HB_QW_FDS); err, the errno of a failed poll,
 * peek or read (HB_QW_ERROR; for the medium, also HB_QW_MEDIUM: Python's
 * own read reports it); quiet, keepalives recorded during the call. */
typedef struct {
    int32_t flags;
    int32_t ready;
    int32_t err;
    int32_t quiet;
} hb_quiet_result;

/* A slot's run of quietly recorded keepalives (first_seq 0: none). */
typedef struct {
    int64_t rx_before;
    int64_t first_seq;
    int64_t last_seq;
    int64_t last_ts;
    int64_t heard_ns;
    int64_t count;
} hb_quiet_run;

/* Map the heard board at heard_path (created and sized by the supervisor;
 * checked: size, magic, slot count) for a medium of kind HB_TK_UDP or
 * HB_TK_SERIAL, and clear its slots (no run, no src: a new worker starts
 * with an empty board). NULL with HB_BOARD_OPEN (errno in err->offset) or
 * HB_BOARD_INVALID, HB_BAD_ARGUMENT, HB_NO_MEMORY in *err. The only
 * allocating quiet call. One hb_quiet is used from one thread at a time. */
hb_quiet *hb_quiet_new(const char *heard_path, int kind, hb_error *err);
void hb_quiet_free(hb_quiet *q);
/* Slot (0..HB_QUIET_PEERS-1) now follows src (its node name, at most
 * HB_QUIET_SRC bytes) with model frame (at most HB_QUIET_MODEL bytes,
 * HB_QUIET_FIELDS fields, parsed here without a keyring) whose seq is seq
 * (the slot's last seq from now on), heard at heard_ns from source
 * addr:port (UDP, host order, port 1..65535; serial: ignored, 0, 0);
 * a keepalive later than gap_ns after the slot's previous frame is never
 * quiet. The slot's run must have been taken (HB_BAD_ARGUMENT otherwise,
 * and for a bad slot, src, seq < 0, heard_ns < 0, gap <= 0 or UDP port).
 * A frame that cannot be a model (too long, too many fields, unparsable,
 * not exactly one type-0 seq of 1..16 hex digits, or more than one ts or
 * ld, a ts not hex, an ld over HB_LD_MAX bytes) leaves the slot without
 * one: HB_TOO_LARGE, HB_TOO_MANY_FIELDS, the parse error, or HB_BAD_VALUE.
 * A quiet keepalive has the model's fields in the same order with the
 * same names, types and raw wire values, but for the type-0 seq, ts and
 * ld (seq and ts 1..16 hex digits of either case fitting an int64, ld at
 * most HB_LD_MAX bytes); auth is not compared (it is verified), nor a
 * netstring inner auth's value (only whether there is one). */
int hb_quiet_set_model(hb_quiet *q, int32_t slot, const char *src, size_t src_len,
                       const char *frame, size_t len, int64_t seq, int64_t heard_ns,
                       uint32_t addr, int32_t port, int64_t gap_ns);
/* Every slot's gap becomes gap_ns (> 0, else HB_BAD_ARGUMENT): the
 * supervisor's timers changed (a reload). */
int hb_quiet_set_gap(hb_quiet *q, int64_t gap_ns);
/* The slot follows no one (its run must have been taken). */
int hb_quiet_forget(hb_quiet *q, int32_t slot);
/* A frame of the slot's peer that the worker forwarded and that is not a
 * model: numbered seq (0: none), heard at heard_ns. The next quiet one
 * must be numbered max(seq seen) + 1 and come within the gap. */
int hb_quiet_saw(hb_quiet *q, int32_t slot, int64_t seq, int64_t heard_ns);
/* Takes the slot's run into *run (first_seq 0: there was none) and
 * clears it on the board. Returns HB_OK or HB_BAD_ARGUMENT. */
int hb_quiet_take(hb_quiet *q, int32_t slot, hb_quiet_run *run);
/* One more Rx message posted to the supervisor (the next run's rx_before). */
void hb_quiet_posted(hb_quiet *q);
/* Whether frame (verified here with kr, which must not be NULL) from
 * addr:port (serial: ignored), received at now_ns, is quiet for some slot
 * (the first, in slot order): then it is recorded on the board (returns
 * 1); else nothing changes (0). A frame longer than HB_QUIET_MODEL is
 * never quiet. -HB_BAD_ARGUMENT for q or kr NULL. */
int32_t hb_quiet_check(hb_quiet *q, const char *frame, size_t len, const hb_keyring *kr,
                       uint32_t addr, int32_t port, int64_t now_ns);
/* Wait until one of fds[0..nfds) (at most 30) is readable, the medium has
 * input that is not quiet, timeout_ms passes (< 0: no timeout), or a
 * signal interrupts; quiet keepalives on medium_fd are recorded on the
 * way, without returning. UDP: each datagram is peeked (MSG_PEEK) and,
 * when quiet, consumed; the first one that is not stays in the socket
 * (at most 64 are handled per wake of poll, then the fds are polled
 * again). Serial: bytes are read into a buffer of HB_QUIET_SBUF bytes;
 * whole frames ">>>\n" .. "<<<\n" at its start that are quiet are consumed
 * (the end is the first line starting with "<<<", which must be exactly
 * "<<<"; no line between may start with ">>>"); anything else (junk, a
 * frame that is not quiet, CR or 8-bit bytes, a full buffer, a read error,
 * a hang-up) makes every buffered byte pending for Python
 * (hb_quiet_pending) and the wait return HB_QW_MEDIUM; while bytes are
 * pending the wait returns HB_QW_MEDIUM at once. An fd hung up or invalid
 * counts as readable. A failed poll is HB_QW_ERROR alone (err: its errno),
 * EINTR HB_QW_INTR. Returns res->flags, or -HB_BAD_ARGUMENT (nothing done:
 * q, kr or res NULL, medium_fd < 0, nfds outside 0..30, fds NULL). */
int32_t hb_quiet_wait(hb_quiet *q, const hb_keyring *kr, int medium_fd, const int32_t *fds,
                      int32_t nfds, int32_t timeout_ms, hb_quiet_result *res);
/* Serial: the bytes handed back to Python (copied into out, then
 * forgotten here). Returns their number, or -HB_NO_SPACE when cap is too
 * small (nothing is forgotten then). */
int32_t hb_quiet_pending(hb_quiet *q, char *out, size_t cap);

/* Waiting with a lease (hb_lease_*): the supervisor's loop sleeps in
 * hb_lease_poll, which keeps the supervisor's lease on the sequence board
 * renewed while the loop is inside it. The lease proves that the loop
 * either waits for input here or has been away from here for less than a
 * lease (docs/processes.md, "The lease kept while waiting"). The board
 * is a file the supervisor made: exactly `size` bytes, starting with the
 * 8-byte magic; the lease is the little-endian int64 at lease_at
 * (CLOCK_MONOTONIC ns), written under an OFD lock on the whole file as the
 * ticker's claims are; count_at (-1: none) is an int64 the poll watches. */
#define HB_LP_MAX_FDS 30
/* hb_lease_poll's outcome flags. */
#define HB_LP_FDS 1
#define HB_LP_TIMEOUT 2
#define HB_LP_INTR 4
#define HB_LP_ERROR 8
#define HB_LP_COUNT 16
#define HB_LP_STALL 32
#define HB_LP_LEASE 64

typedef struct hb_lease hb_lease;

/* What the poll keeps and watches. A renewal sets the lease to now +
 * lease_ns once now >= next_renew_ns, and next_renew_ns to now +
 * every_ns (in and out: the caller's own renewals move it too). The poll
 * returns HB_LP_COUNT once the board's int64 at count_at is >= count_at_least,
 * and HB_LP_STALL when it wakes more than stall_ns after its previous wake
 * (the process was stopped or starved: it sleeps at most every_ns at a
 * time). All > 0 but next_renew_ns and count_at_least. */
typedef struct {
    int64_t lease_ns;
    int64_t every_ns;
    int64_t next_renew_ns;
    int64_t count_at_least;
    int64_t stall_ns;
} hb_lease_plan;

/* What one hb_lease_poll did: flags (HB_LP_*); ready, bit i set for each
 * fds[i] readable, hung up or invalid (HB_LP_FDS); err, the errno of a
 * failed poll (HB_LP_ERROR) or board lock (HB_LP_LEASE); renewals made;
 * started_ns, when the call began; alive_ns, when the poll last woke
 * before a stall (HB_LP_STALL), else when it returned. */
typedef struct {
    int32_t flags;
    int32_t ready;
    int32_t err;
    int32_t renewals;
    int64_t started_ns;
    int64_t alive_ns;
} hb_lease_result;

/* Map the board at path (checked: exactly size bytes, magic of
 * magic_len <= 8 bytes at offset 0, lease_at and count_at 8-byte fields
 * inside it). NULL with HB_BOARD_OPEN (errno in err->offset),
 * HB_BOARD_INVALID, HB_BAD_ARGUMENT or HB_NO_MEMORY in *err. */
hb_lease *hb_lease_new(const char *path, int64_t size, const char *magic, size_t magic_len,
                       int64_t lease_at, int64_t count_at, hb_error *err);
void hb_lease_free(hb_lease *l);
/* Sets the lease to until_ns under the board lock: HB_OK, or
 * HB_BOARD_LOCK with the errno in *errnum. */
int hb_lease_renew(hb_lease *l, int64_t until_ns, int32_t *errnum);
/* The lease as it stands (read under the board lock; -1 if it fails). */
int64_t hb_lease_until(hb_lease *l);
/* Wait until one of fds[0..nfds) (at most HB_LP_MAX_FDS) is readable,
 * timeout_ms passes (< 0: no timeout), a signal interrupts (HB_LP_INTR),
 * the watched count is reached, or a stall is seen, renewing the lease on
 * the way as *plan says (a renewal that fails ends the wait: HB_LP_LEASE).
 * A signal outside poll(2) (during a renewal) does not end the wait: give
 * it the descriptor the signal handler writes to. Nothing is allocated.
 * Returns res->flags, or -HB_BAD_ARGUMENT (nothing
 * done: l, plan or res NULL, nfds outside 0..HB_LP_MAX_FDS, fds NULL
 * with nfds > 0, a plan field <= 0 that must be > 0). */
int32_t hb_lease_poll(hb_lease *l, const int32_t *fds, int32_t nfds, int32_t timeout_ms,
                      hb_lease_plan *plan, hb_lease_result *res);
