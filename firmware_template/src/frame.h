/* Link framing, firmware side (the host twin is mcudeploy/link/framing.py).
 *
 * A frame on the wire is COBS(body) followed by a 0x00 delimiter (sent twice: an empty frame is
 * ignored by both sides, and the spare ends the frame if the line drops the first), where
 *     body = version (1) | seq (1) | type (1) | payload (0..MCD_LINK_MAX_PAYLOAD) | crc32 (4, LE)
 * and crc32 is zlib's CRC-32 of everything before it. Responses echo the request's seq.
 *
 * Input block frames (version 2) carry input bytes from host to device with 7 bytes of overhead
 * instead of 10-11, and are never answered (the host sends many back to back, then asks RUN which
 * blocks arrived, see protocol.h):
 *     body = 0xB0 | tag (1) | block (2, LE) | data (1..) | crc16 (2, LE: the low half of the CRC-32)
 * A damaged block frame that still shows its marker is dropped silently; a CRC-16 lets about one
 * damaged frame in 65536 through, which the end-to-end CRC-32 of the whole input (RUN) catches.
 *
 *     mcd_frame f;
 *     int err = mcd_frame_receive(&f);             blocks until a delimiter; never overruns
 *     mcd_frame_begin(f.seq, type);                  then stream the payload in pieces:
 *     mcd_frame_put(header, n); mcd_frame_put(output, m);
 *     mcd_frame_end();
 */
#ifndef MCD_FRAME_H
#define MCD_FRAME_H

#include <stdint.h>

#define MCD_LINK_VERSION 2u
#define MCD_LINK_MAX_PAYLOAD 1024u
#define MCD_FRAME_OVERHEAD 7u /* version, seq, type, crc32 */
#define MCD_BLOCK_MARK 0xB0u  /* first body byte of an input block frame, ORed with a 4-bit tag */
#define MCD_BLOCK_OVERHEAD 5u /* marker, block, crc16 */
#define MCD_BLOCK_BYTES 16u   /* input blocks: what a block frame's index counts */

/* Error codes carried by an error frame (type MCD_MSG_ERROR). For the damage codes (CRC, LENGTH,
 * COBS) arg0 is the frame's wire length before its delimiter (0xFFFFFFFF: overlong): the seq of a
 * damaged frame is a guess, and a host waiting for its reply ignores reports about frames of
 * another length (a damaged input block frame sent just before). */
enum {
    MCD_ERR_NONE = 0,
    MCD_ERR_CRC = 1,        /* CRC mismatch */
    MCD_ERR_LENGTH = 2,     /* frame shorter than its header or longer than the maximum */
    MCD_ERR_COBS = 3,       /* malformed COBS encoding */
    MCD_ERR_VERSION = 4,    /* arg0: the firmware's protocol version */
    MCD_ERR_COMMAND = 5,    /* unknown message type */
    MCD_ERR_ARGS = 6,       /* bad offset / length: arg0, arg1 say what was asked */
    MCD_ERR_FAULT = 7,      /* the firmware took a fault; arg0 = exception number */
    MCD_ERR_INCOMPLETE = 8, /* RUN: input blocks missing; arg0 = first, arg1 = bitmap from it */
    MCD_ERR_QUIET = 9,      /* internal: a damaged block frame, not answered */
};

/* An ordinary frame; a block frame is returned as type MCD_MSG_PUT_BLOCK, seq 0, with the payload
 * starting at its marker byte (marker, block, data). */
typedef struct {
    uint8_t version, seq, type;
    const uint8_t *payload;
    uint32_t len;
    uint32_t wire_len; /* bytes received before the delimiter: carried by a damage report (arg0) so
                          the host can tell its request's damage from a block frame's */
} mcd_frame;

uint32_t mcd_crc32(uint32_t crc, const uint8_t *p, uint32_t n);
int mcd_frame_receive(mcd_frame *f);
void mcd_frame_begin(uint8_t seq, uint8_t type);
void mcd_frame_put(const void *data, uint32_t n);
void mcd_frame_end(void);

#endif
