/* Command dispatch: one function per message, each validating its arguments before touching a
 * buffer. A request that cannot be honoured gets an error frame; nothing here can block except
 * the wait for the next frame. */
#include "protocol.h"

#include <string.h>

#include "counter.h"
#include "frame.h"
#include "model.h"
#include "port.h"
#include "run.h"
#include "stack.h"

#ifndef MCD_BOARD_NAME
#define MCD_BOARD_NAME "unknown"
#endif
#ifndef MCD_INPUT_H
#define MCD_INPUT_H 1
#define MCD_INPUT_W 1
#define MCD_INPUT_C MCD_INPUT_BYTES
#endif

static int8_t input[MCD_INPUT_BYTES] __attribute__((aligned(8)));
static int8_t output[MCD_OUTPUT_BYTES] __attribute__((aligned(8)));

/* The block transfer (protocol.h): which 16-byte blocks of the input arrived under which tag, and
 * whether `output` and `counts` still belong to the input as it is. */
#define NBLOCKS ((MCD_INPUT_BYTES + MCD_BLOCK_BYTES - 1u) / MCD_BLOCK_BYTES)
static uint8_t have[(NBLOCKS + 7u) / 8u];
static uint32_t tag = 0xFFFFFFFFu;  /* none yet */
static int result_valid;
static mcd_run_counts counts;

/* Little-endian writer over a small local buffer */
typedef struct {
    uint8_t b[160];
    uint32_t n;
} buf;

static void put8(buf *w, uint32_t v) { w->b[w->n++] = (uint8_t)v; }
static void put16(buf *w, uint32_t v) { put8(w, v); put8(w, v >> 8); }
static void put32(buf *w, uint32_t v) { put16(w, v); put16(w, v >> 16); }
static void put64(buf *w, uint64_t v) { put32(w, (uint32_t)v); put32(w, (uint32_t)(v >> 32)); }
static void putf(buf *w, float f) { uint32_t v; memcpy(&v, &f, 4); put32(w, v); }
static void putstr(buf *w, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    if (n > 48u) n = 48u;  /* info holds two strings: 56 fixed bytes + 2 * 49 < sizeof b */
    put8(w, n);
    memcpy(w->b + w->n, s, n);
    w->n += n;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static void send_error(uint8_t seq, uint8_t code, uint32_t arg0, uint32_t arg1)
{
    buf w = {{0}, 0};
    put8(&w, code);
    put32(&w, arg0);
    put32(&w, arg1);
    mcd_frame_begin(seq, MCD_MSG_ERROR);
    mcd_frame_put(w.b, w.n);
    mcd_frame_end();
}

static void reply(const mcd_frame *f, const void *p, uint32_t n)
{
    mcd_frame_begin(f->seq, (uint8_t)(f->type | MCD_MSG_REPLY));
    mcd_frame_put(p, n);
    mcd_frame_end();
}

static void info_reply(const mcd_frame *f)
{
    buf w = {{0}, 0};
    put8(&w, MCD_LINK_VERSION);
#ifdef MCD_EMULATED
    put8(&w, 1u);                               /* flags: bit 0 = emulated */
#else
    put8(&w, 0u);
#endif
    put16(&w, MCD_LINK_MAX_PAYLOAD);
    put32(&w, MCD_MODEL_HASH);
    put32(&w, port_clock_hz());
    put32(&w, MCD_INPUT_BYTES);
    put32(&w, MCD_OUTPUT_BYTES);
    put16(&w, MCD_INPUT_H);
    put16(&w, MCD_INPUT_W);
    put16(&w, MCD_INPUT_C);
    put16(&w, MCD_NUM_LAYERS);
    putf(&w, MCD_INPUT_SCALE);
    put32(&w, (uint32_t)(int32_t)(MCD_INPUT_ZERO_POINT));
    putf(&w, MCD_OUTPUT_SCALE);
    put32(&w, (uint32_t)(int32_t)(MCD_OUTPUT_ZERO_POINT));
    put32(&w, MCD_ARENA_BYTES);
    put32(&w, mcd_stack_size());
    put32(&w, mcd_stack_high_water());
    putstr(&w, MCD_BOARD_NAME);
    putstr(&w, mcd_counter_kind);
    reply(f, w.b, w.n);
}

static void set_input(const mcd_frame *f)
{
    uint32_t off, n;
    buf w = {{0}, 0};
    if (f->len < 4u) {
        send_error(f->seq, MCD_ERR_ARGS, f->len, 4u);
        return;
    }
    off = get32(f->payload);
    n = f->len - 4u;
    /* Written so that no sum can wrap around: off <= size first, then n <= size - off. */
    if (off > MCD_INPUT_BYTES || n > MCD_INPUT_BYTES - off) {
        send_error(f->seq, MCD_ERR_ARGS, off, n);
        return;
    }
    memcpy(input + off, f->payload + 4, n);
    result_valid = 0;
    put32(&w, off);
    put32(&w, n);
    reply(f, w.b, w.n);
}

/* A block frame: payload = marker | tag, u16 block, data. Bad bounds are ignored (no reply to a
 * block frame): the blocks stay missing and RUN says so. */
static void put_block(const mcd_frame *f)
{
    uint32_t b, off, n, last;
    if (f->len < 4u) return;
    b = get16(f->payload + 1);
    off = b * MCD_BLOCK_BYTES;
    n = f->len - 3u;
    if (off >= MCD_INPUT_BYTES || n > MCD_INPUT_BYTES - off) return;
    if (n % MCD_BLOCK_BYTES != 0u && off + n != MCD_INPUT_BYTES) return;  /* whole blocks only */
    if ((uint32_t)(f->payload[0] & 0x0Fu) != tag) {
        tag = f->payload[0] & 0x0Fu;
        memset(have, 0, sizeof have);
    }
    memcpy(input + off, f->payload + 3, n);
    result_valid = 0;
    last = (off + n + MCD_BLOCK_BYTES - 1u) / MCD_BLOCK_BYTES;
    for (; b < last; b++) have[b / 8u] |= (uint8_t)(1u << (b % 8u));
}

static void send_result(const mcd_frame *f);

static void run(const mcd_frame *f)
{
    uint32_t b, first = NBLOCKS, window = 0;
    if (f->len != 5u) {
        send_error(f->seq, MCD_ERR_ARGS, f->len, 5u);
        return;
    }
    if (f->payload[0] != tag) {
        send_error(f->seq, MCD_ERR_INCOMPLETE, 0, 0xFFFFFFFFu);  /* another input: nothing of it here */
        return;
    }
    for (b = 0; b < NBLOCKS; b++) {
        if (have[b / 8u] & (1u << (b % 8u))) continue;
        if (first == NBLOCKS) first = b;
        if (b - first < 32u) window |= 1u << (b - first);
    }
    if (first == NBLOCKS && mcd_crc32(0, (const uint8_t *)input, MCD_INPUT_BYTES) != get32(f->payload + 1)) {
        memset(have, 0, sizeof have);  /* a damaged block passed its CRC-16: start over */
        first = 0;
        window = 0xFFFFFFFFu;
    }
    if (first != NBLOCKS) {
        send_error(f->seq, MCD_ERR_INCOMPLETE, first, window);
        return;
    }
    if (!result_valid) {
        mcd_run_measured(input, output, &counts);
        result_valid = 1;
    }
    send_result(f);
}

static void infer(const mcd_frame *f)
{
    mcd_run_measured(input, output, &counts);
    result_valid = 1;
    send_result(f);
}

static void send_result(const mcd_frame *f)
{
    const mcd_run_counts *c = &counts;
    buf w = {{0}, 0};
    uint32_t i, inline_out;

    inline_out = MCD_OUTPUT_BYTES;
    if (24u + 4u * MCD_NUM_LAYERS + inline_out > MCD_LINK_MAX_PAYLOAD) inline_out = 0;  /* GET_OUTPUT */
    put64(&w, c->total);
    put32(&w, mcd_crc32(0, (const uint8_t *)input, MCD_INPUT_BYTES));
    put32(&w, mcd_stack_high_water());
    put16(&w, MCD_NUM_LAYERS);
    put16(&w, inline_out);
    mcd_frame_begin(f->seq, (uint8_t)(f->type | MCD_MSG_REPLY));
    mcd_frame_put(w.b, w.n);
    for (i = 0; i < MCD_NUM_LAYERS; i++) {
        w.n = 0;
        put32(&w, c->layer[i]);
        mcd_frame_put(w.b, w.n);
    }
    mcd_frame_put(output, inline_out);
    mcd_frame_end();
}

static void get_output(const mcd_frame *f)
{
    uint32_t off, n;
    if (f->len != 6u) {
        send_error(f->seq, MCD_ERR_ARGS, f->len, 6u);
        return;
    }
    off = get32(f->payload);
    n = get16(f->payload + 4);
    if (off > MCD_OUTPUT_BYTES || n > MCD_OUTPUT_BYTES - off || n > MCD_LINK_MAX_PAYLOAD) {
        send_error(f->seq, MCD_ERR_ARGS, off, n);
        return;
    }
    reply(f, output + off, n);
}

static void layer_name(const mcd_frame *f)
{
    uint32_t i;
    if (f->len != 2u || (i = get16(f->payload)) >= MCD_NUM_LAYERS) {
        send_error(f->seq, MCD_ERR_ARGS, f->len == 2u ? get16(f->payload) : f->len, MCD_NUM_LAYERS);
        return;
    }
    reply(f, mcd_layer_names[i], (uint32_t)strlen(mcd_layer_names[i]));
}

/* Layer by layer (validate --layers): each request reruns the model on the input as it is, with
 * a tap after every layer (run.h), so nothing the size of an activation is kept. LAYER_CRC sends
 * one CRC-32 per layer; LAYER_OUTPUT then reads the first layer whose CRC differs from the host's,
 * MCD_TAP_BYTES at a time. */
#define MCD_TAP_BYTES 256u
static uint32_t layer_crc[MCD_NUM_LAYERS];
static uint8_t tap_buf[MCD_TAP_BYTES];
static int tap_layer;
static uint32_t tap_off, tap_n;

static void crc_tap(int layer, const int8_t *data, uint32_t bytes)
{
    layer_crc[layer] = mcd_crc32(0, (const uint8_t *)data, bytes);
}

static void copy_tap(int layer, const int8_t *data, uint32_t bytes)
{
    if (layer == tap_layer && tap_off <= bytes && tap_n <= bytes - tap_off) memcpy(tap_buf, data + tap_off, tap_n);
}

static void layer_crcs(const mcd_frame *f)
{
    uint32_t first, count, i;
    buf w = {{0}, 0};
    if (f->len != 2u || (first = get16(f->payload)) >= MCD_NUM_LAYERS) {
        send_error(f->seq, MCD_ERR_ARGS, f->len == 2u ? get16(f->payload) : f->len, MCD_NUM_LAYERS);
        return;
    }
    count = MCD_NUM_LAYERS - first;
    if (count > (MCD_LINK_MAX_PAYLOAD - 10u) / 4u) count = (MCD_LINK_MAX_PAYLOAD - 10u) / 4u;
    mcd_run_tapped(input, output, crc_tap);
    put32(&w, mcd_crc32(0, (const uint8_t *)input, MCD_INPUT_BYTES));
    put16(&w, MCD_NUM_LAYERS);
    put16(&w, first);
    put16(&w, count);
    mcd_frame_begin(f->seq, (uint8_t)(f->type | MCD_MSG_REPLY));
    mcd_frame_put(w.b, w.n);
    for (i = first; i < first + count; i++) {
        w.n = 0;
        put32(&w, layer_crc[i]);
        mcd_frame_put(w.b, w.n);
    }
    mcd_frame_end();
}

static void layer_output(const mcd_frame *f)
{
    uint32_t layer, bytes;
    if (f->len != 8u || (layer = get16(f->payload)) >= MCD_NUM_LAYERS) {
        send_error(f->seq, MCD_ERR_ARGS, f->len == 8u ? get16(f->payload) : f->len, MCD_NUM_LAYERS);
        return;
    }
    tap_off = get32(f->payload + 2);
    tap_n = get16(f->payload + 6);
    (void)mcd_layer_output((int)layer, output, &bytes);
    if (tap_off > bytes || tap_n > bytes - tap_off || tap_n > MCD_TAP_BYTES) {
        send_error(f->seq, MCD_ERR_ARGS, tap_off, tap_n);
        return;
    }
    tap_layer = (int)layer;
    mcd_run_tapped(input, output, copy_tap);
    reply(f, tap_buf, tap_n);
}

/* A loop of exactly two instructions per iteration (subs, bne): under QEMU the count must grow
 * by exactly 2 per iteration, which tests tie the counter's unit to. On silicon it gives the
 * cycles of a taken branch loop (M4: 1 + 2..4). */
static void calibrate(const mcd_frame *f)
{
    uint32_t n;
    uint64_t t0, t1;
    buf w = {{0}, 0};
    if (f->len != 4u || (n = get32(f->payload)) == 0u) {
        send_error(f->seq, MCD_ERR_ARGS, f->len, 4u);
        return;
    }
    mcd_counter_restart();
    t0 = mcd_counter_read();
#if defined(__arm__) || defined(__thumb__)
    /* GCC wraps Thumb-1 inline asm in divided syntax; ask for unified so one text fits all cores */
    __asm volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#else
    n &= 0xFFu;  /* host builds (the protocol fuzzer): a short loop, so a fuzzed count cannot stall */
    while (n--) __asm volatile("");
#endif
    t1 = mcd_counter_read();
    put64(&w, mcd_counter_units(t1 - t0));
    reply(f, w.b, w.n);
}

void mcd_protocol_poll(void)
{
    mcd_frame f;
    const int err = mcd_frame_receive(&f);
    if (err == MCD_ERR_VERSION) {
        send_error(f.seq, MCD_ERR_VERSION, MCD_LINK_VERSION, f.version);
        return;
    }
    if (err == MCD_ERR_QUIET) return;
    if (err != MCD_ERR_NONE) {
        send_error(f.seq, (uint8_t)err, f.wire_len, 0);
        return;
    }
    switch (f.type) {
    case MCD_MSG_INFO: info_reply(&f); break;
    case MCD_MSG_SET_INPUT: set_input(&f); break;
    case MCD_MSG_INFER: infer(&f); break;
    case MCD_MSG_GET_OUTPUT: get_output(&f); break;
    case MCD_MSG_LAYER_NAME: layer_name(&f); break;
    case MCD_MSG_CALIBRATE: calibrate(&f); break;
    case MCD_MSG_PUT_BLOCK: put_block(&f); break;
    case MCD_MSG_RUN: run(&f); break;
    case MCD_MSG_LAYER_CRC: layer_crcs(&f); break;
    case MCD_MSG_LAYER_OUTPUT: layer_output(&f); break;
    default: send_error(f.seq, MCD_ERR_COMMAND, f.type, 0); break;
    }
}

void mcd_protocol_fault(unsigned exception)
{
    uart_putc(0);  /* end whatever frame was half sent, so the host resynchronises */
    send_error(0xFFu, MCD_ERR_FAULT, exception, 0);
}
