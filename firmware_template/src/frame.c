/* COBS framing with CRC-32, streaming on transmit, bounded on receive. */
#include "frame.h"

#include "port.h"
#include "protocol.h"

#define MAX_BODY (MCD_LINK_MAX_PAYLOAD + MCD_FRAME_OVERHEAD)
#define MAX_ENCODED (MAX_BODY + MAX_BODY / 254u + 2u)

/* CRC-32 (reflected, polynomial 0xEDB88320, as zlib) with a 16-entry nibble table: 64 bytes of
 * flash instead of 1 KB, fast enough for a UART. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t mcd_crc32(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

static uint8_t rx[MAX_ENCODED];

/* Decode COBS in place (the output never overtakes the input). Returns the decoded length or -1. */
static int32_t cobs_decode(uint8_t *buf, uint32_t n)
{
    uint32_t in = 0, out = 0;
    while (in < n) {
        const uint32_t code = buf[in++];
        uint32_t i;
        if (code == 0u || in + code - 1u > n) return -1;
        for (i = 1; i < code; i++) buf[out++] = buf[in++];
        if (code != 0xFFu && in < n) buf[out++] = 0;
    }
    return (int32_t)out;
}

/* Repair one flipped bit in p[0..n) from the CRC-16 syndrome (computed CRC ^ received CRC), if
 * exactly one position explains it; returns whether the data are now right. Half the damage on a
 * noisy line is a flipped bit that keeps the frame's length: at 1% damage this saves ~40% of the
 * block frames otherwise resent. The CRC is linear: a bit flipped in byte j changes it by that
 * bit's register advanced over the bytes after it, which is what the loop walks (8 x n steps of
 * two nibbles, a few thousand cycles, only for damaged frames). A frame with more flips that
 * happens to match (~8n/65536 of them) is caught by RUN's CRC-32 of the whole input. */
static int repair_bit(uint8_t *p, uint32_t n, uint32_t syndrome)
{
    uint32_t b, j, reg, hits = 0, at = 0, bit = 0;
    if ((syndrome & (syndrome - 1u)) == 0u) hits = 1;  /* one bit of the CRC field itself */
    for (b = 0; b < 8u; b++) {
        reg = 1u << b;
        for (j = n; j-- > 0u;) {
            reg = (reg >> 4) ^ crc_nibble[reg & 15u];
            reg = (reg >> 4) ^ crc_nibble[reg & 15u];
            if ((reg & 0xFFFFu) == syndrome) {
                hits++;
                at = j;
                bit = b;
            }
        }
    }
    if (hits != 1u) return 0;
    if ((syndrome & (syndrome - 1u)) != 0u) p[at] ^= (uint8_t)(1u << bit);
    return 1;
}

/* An input block frame (see frame.h): checked by its CRC-16 (one flipped bit is repaired), never
 * answered when damaged. */
static int block_frame(mcd_frame *f, uint32_t len)
{
    uint32_t crc, syndrome;
    if (len < MCD_BLOCK_OVERHEAD + 1u) return MCD_ERR_QUIET;
    crc = (uint32_t)rx[len - 2] | ((uint32_t)rx[len - 1] << 8);
    syndrome = (mcd_crc32(0, rx, len - 2u) & 0xFFFFu) ^ crc;
    if (syndrome != 0u && !repair_bit(rx, len - 2u, syndrome)) return MCD_ERR_QUIET;
    if ((rx[0] & 0xF0u) != MCD_BLOCK_MARK) return MCD_ERR_QUIET;  /* repaired into another kind */
    f->version = MCD_LINK_VERSION;
    f->type = MCD_MSG_PUT_BLOCK;
    f->payload = rx;
    f->len = len - 2u;
    return MCD_ERR_NONE;
}

int mcd_frame_receive(mcd_frame *f)
{
    uint32_t n = 0, crc;
    uint8_t first;
    int overflow = 0;
    int32_t len;

    f->seq = 0;
    f->type = 0;
    f->len = 0;
    f->wire_len = 0;
    for (;;) {                     /* gather up to the delimiter; an empty frame is just resync */
        const uint8_t b = uart_getc();
        if (b == 0u) {
            if (n == 0u && !overflow) continue;
            break;
        }
        if (n < sizeof rx) rx[n++] = b;
        else overflow = 1;         /* keep reading until the delimiter, storing nothing */
    }
    f->wire_len = overflow ? 0xFFFFFFFFu : n;
    if (overflow) return MCD_ERR_LENGTH;
    first = (n >= 2u && rx[0] >= 2u) ? rx[1] : 0u;  /* the first body byte, before decoding moves it */
    len = cobs_decode(rx, n);
    if (len < 0) return (first & 0xF0u) == MCD_BLOCK_MARK ? MCD_ERR_QUIET : MCD_ERR_COBS;  /* a block frame's */
    if (len >= 1 && (rx[0] & 0xF0u) == MCD_BLOCK_MARK) return block_frame(f, (uint32_t)len);
    if (len >= 2) f->seq = rx[1];
    if ((uint32_t)len < MCD_FRAME_OVERHEAD || (uint32_t)len > MAX_BODY) return MCD_ERR_LENGTH;
    crc = (uint32_t)rx[len - 4] | ((uint32_t)rx[len - 3] << 8) | ((uint32_t)rx[len - 2] << 16) |
          ((uint32_t)rx[len - 1] << 24);
    if (mcd_crc32(0, rx, (uint32_t)len - 4u) != crc) return MCD_ERR_CRC;
    f->version = rx[0];
    f->type = rx[2];
    f->payload = rx + 3;
    f->len = (uint32_t)len - MCD_FRAME_OVERHEAD;
    return f->version == MCD_LINK_VERSION ? MCD_ERR_NONE : MCD_ERR_VERSION;
}

/* Streaming COBS encoder: bytes collect in `block` until a zero (or 254 non-zero bytes) closes
 * the block, which is then sent as its code byte followed by its data. */
static struct {
    uint8_t block[254];
    uint32_t n, crc;
} tx;

static void flush_block(uint8_t code)
{
    uint32_t i;
    uart_putc(code);
    for (i = 0; i < tx.n; i++) uart_putc(tx.block[i]);
    tx.n = 0;
}

static void put_byte(uint8_t b)
{
    if (b == 0u) {
        flush_block((uint8_t)(tx.n + 1u));
    } else {
        tx.block[tx.n++] = b;
        if (tx.n == 254u) flush_block(0xFFu);
    }
}

static void put_raw(const uint8_t *p, uint32_t n)
{
    while (n--) put_byte(*p++);
}

void mcd_frame_begin(uint8_t seq, uint8_t type)
{
    const uint8_t head[3] = {MCD_LINK_VERSION, seq, type};
    tx.n = 0;
    tx.crc = mcd_crc32(0, head, 3);
    put_raw(head, 3);
}

void mcd_frame_put(const void *data, uint32_t n)
{
    tx.crc = mcd_crc32(tx.crc, (const uint8_t *)data, n);
    put_raw((const uint8_t *)data, n);
}

void mcd_frame_end(void)
{
    const uint8_t c[4] = {(uint8_t)tx.crc, (uint8_t)(tx.crc >> 8), (uint8_t)(tx.crc >> 16),
                          (uint8_t)(tx.crc >> 24)};
    put_raw(c, 4);
    flush_block((uint8_t)(tx.n + 1u));  /* the final block; its implied zero is dropped */
    /* Two delimiters: the second is an empty frame the host ignores, but if the line dropped the
     * first, the frame still ends here (a CRC retry) instead of waiting for a timeout. */
    uart_putc(0);
    uart_putc(0);
}
