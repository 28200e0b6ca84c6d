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
 *   PUT_BLOCK   a block frame (frame.h): (tag, u16 block, data) -> no reply
 *   RUN         (u8 tag, u32 input_crc)    -> as INFER, or ERROR INCOMPLETE (arg0 = first missing
 *                                              block, arg1 = bit i set: block arg0 + i missing)
 *   LAYER_CRC   (u16 first layer)          -> (u32 input_crc, u16 layers, u16 first, u16 count,
 *                                              u32 crc32[count]) of each layer's output, from a
 *                                              rerun of the input as it is (see protocol.c)
 *   LAYER_OUTPUT (u16 layer, u32 offset, u16 length <= 256) -> bytes of that layer's output
 *   ERROR                                  <- (u8 code, u32 arg0, u32 arg1)
 *
 * How an input crosses a damaged line (version 2; the host side is link/protocol.py):
 * the host sends the input as block frames back to back, without waiting, each covering whole
 * 16-byte blocks (the last may end with the input). The device writes each intact one and marks
 * its blocks in a bitmap; a frame with a new tag starts a new input (bitmap cleared). Then RUN
 * asks: if every block of that tag arrived and the CRC-32 of the input is the host's, the model
 * runs (once: asked again for the same input, the device resends the cached result, so a lost
 * reply costs a resend, not an inference); otherwise the device names the missing blocks in a
 * 32-block window and the host resends only those. A wrong CRC with every block present (a
 * damaged frame that passed the CRC-16) clears the bitmap: everything is sent again.
 * A block frame with one flipped bit is repaired (frame.c). Damaged block frames get no error
 * frame (nor does one damaged in its COBS code byte, recognised by its marker): on silicon the polled UART cannot receive while it
 * sends, and an answer in the middle of a burst would cost the next frames too.
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
    MCD_MSG_PUT_BLOCK = 0x07,
    MCD_MSG_RUN = 0x08,
    MCD_MSG_LAYER_CRC = 0x09,
    MCD_MSG_LAYER_OUTPUT = 0x0A,
    MCD_MSG_ERROR = 0x7F,
    MCD_MSG_REPLY = 0x80,
};

void mcd_protocol_poll(void);
void mcd_protocol_fault(unsigned exception);

#endif
