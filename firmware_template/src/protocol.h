/* The firmware side of the link protocol (the host twin is mcudeploy/link/protocol.py).
 *
 *     for (;;) mcd_protocol_poll();    receive one frame, answer it (or send an error frame)
 *
 * Messages (request type -> response type | 0x80; any failure -> MCD_MSG_ERROR), little endian:
 *   INFO        ()                         -> see protocol.c, info_reply()
 *   SET_INPUT   (u32 offset, bytes)        -> (u32 offset, u32 length)
 *   INFER       ()                         -> (u64 total, u32 input_crc, u32 stack_high_water,
 *                                              u16 layers, u16 inline_output, u32 layer[layers],
 *                                              output[inline_output])
 *   GET_OUTPUT  (u32 offset, u16 length)   -> bytes
 *   LAYER_NAME  (u16 index)                -> name bytes
 *   CALIBRATE   (u32 iterations)           -> (u64 count) of a 2-instruction loop, see protocol.c
 *   ERROR                                  <- (u8 code, u32 arg0, u32 arg1)
 */
#ifndef MCD_PROTOCOL_H
#define MCD_PROTOCOL_H

enum {
    MCD_MSG_INFO = 0x01,
    MCD_MSG_SET_INPUT = 0x02,
    MCD_MSG_INFER = 0x03,
    MCD_MSG_GET_OUTPUT = 0x04,
    MCD_MSG_LAYER_NAME = 0x05,
    MCD_MSG_CALIBRATE = 0x06,
    MCD_MSG_ERROR = 0x7F,
    MCD_MSG_REPLY = 0x80,
};

void mcd_protocol_poll(void);
void mcd_protocol_fault(unsigned exception);

#endif
