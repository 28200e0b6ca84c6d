/* MLPerf Tiny performance-mode text protocol: see mlperf_protocol.h for the session it serves.
 *
 * Written for this firmware from the protocol's published message texts; no printf (newlib-nano
 * prints no floats without pulling in ~10 KB), numbers are formatted by hand below.
 */
#include "mlperf_protocol.h"

#include <stdint.h>
#include <string.h>
#ifdef MCD_MLPERF_RESULT_SOFTMAX
#include <math.h>
#endif

#include "counter.h"
#include "model.h"
#include "port.h"
#include "stack.h"

#ifndef MCD_BOARD_NAME
#define MCD_BOARD_NAME "unknown"
#endif
#ifndef MCD_MLPERF_MODEL
#define MCD_MLPERF_MODEL "unknown"
#endif
#ifndef MCD_MLPERF_CMD_BYTES
#define MCD_MLPERF_CMD_BYTES 512u /* the reference firmware takes 80; longer `db` lines load faster */
#endif

#define FW_VERSION "MLPerf Tiny Firmware V0.1.0"

#if defined(MCD_MLPERF_INPUT_MAP) || defined(MCD_MLPERF_INPUT_F32)
/* written by the host (mlperf_suite.py): mcd_mlperf_input_map[256], or MCD_MLPERF_INPUT_SCALE_D,
 * the input scale as a double literal that equals the host's float64 scale */
#include "mlperf_input.h"
#endif
#if defined(MCD_MLPERF_INPUT_MAP)
#define DB_BYTES MCD_INPUT_BYTES
#elif defined(MCD_MLPERF_INPUT_F32)
#define DB_BYTES (4u * MCD_INPUT_BYTES)
#else
#define DB_BYTES MCD_INPUT_BYTES
#endif

/* The engine's input. In "engine" mode `db` writes straight into it, so the firmware holds the
 * input once; in "map" and "f32" mode the runner's bytes stay in their own buffer, as the
 * reference firmware keeps them: `db print` shows what was sent, and ad's score reads the floats. */
static int8_t input[MCD_INPUT_BYTES] __attribute__((aligned(8)));
#if defined(MCD_MLPERF_INPUT_F32) || defined(MCD_MLPERF_INPUT_MAP)
static uint8_t db_buf[DB_BYTES] __attribute__((aligned(8)));
#else
#define db_buf ((uint8_t *)input)
#endif
static int8_t output[MCD_OUTPUT_BYTES] __attribute__((aligned(8)));
static uint32_t db_size, db_pos;
static int input_ready; /* the load completed and `input` holds the engine's bytes */
static char cmd[MCD_MLPERF_CMD_BYTES + 1];

/* The engine is compiled with MCD_LAYER_HOOK for the framed protocol's per-layer counts; here
 * only whole runs are timed, so the hook does nothing. */
void mcd_layer_hook(int index);
void mcd_layer_hook(int index) { (void)index; }

/* ---- output ---------------------------------------------------------------------------- */
static void put(const char *s)
{
    while (*s) uart_putc((uint8_t)*s++);
}

static void put_u64(uint64_t v)
{
    char b[21];
    int n = 0;
    do {
        b[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    while (n) uart_putc((uint8_t)b[--n]);
}

static void put_hex2(uint8_t v)
{
    static const char digits[] = "0123456789abcdef";
    uart_putc((uint8_t)digits[v >> 4]);
    uart_putc((uint8_t)digits[v & 15u]);
}

/* Fixed point with 6 decimals, rounded half away from zero (exact for |x| < 9e12). */
static void put_fixed6(double x)
{
    uint64_t u, frac;
    int i;
    char d[6];
    if (x < 0) {
        uart_putc('-');
        x = -x;
    }
    u = (uint64_t)(x * 1e6 + 0.5);
    put_u64(u / 1000000u);
    uart_putc('.');
    frac = u % 1000000u;
    for (i = 5; i >= 0; i--) {
        d[i] = (char)('0' + (int)(frac % 10u));
        frac /= 10u;
    }
    for (i = 0; i < 6; i++) uart_putc((uint8_t)d[i]);
}

static void line(const char *a, const char *b, const char *c)
{
    put(a);
    if (b) put(b);
    if (c) put(c);
    put("\r\n");
}

/* ---- time: the firmware's counter, in microseconds of the board clock ------------------- */
/* Silicon: DWT/SysTick cycles / MHz. QEMU: emulated instructions / MHz, i.e. the time the run
 * would take at one instruction per cycle - a stand-in for the runner, not a measurement. */
static void timestamp(void)
{
    const uint64_t units = mcd_counter_units(mcd_counter_read());
    put("m-lap-us-");
    put_u64(units * 1000000u / port_clock_hz());
    put("\r\n");
}

/* ---- input --------------------------------------------------------------------------- */
static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A decimal >= 0, or -1 if `s` is not one (or would overflow 2^31). */
static long parse_uint(const char *s)
{
    long v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 214748363L) return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* Turn the completed `db` bytes into the engine's int8 input. */
static void finish_load(void)
{
#if defined(MCD_MLPERF_INPUT_MAP)
    uint32_t i;
    for (i = 0; i < MCD_INPUT_BYTES; i++) input[i] = mcd_mlperf_input_map[db_buf[i]];
#elif defined(MCD_MLPERF_INPUT_F32)
    /* q = clamp(round_half_even(x / scale) + zp) as quantize.quantize_tensor computes it: in
     * double, with the host's double scale, so that every quotient (ties included) is the same. */
    uint32_t i;
    for (i = 0; i < MCD_INPUT_BYTES; i++) {
        float xf;
        double r, fl;
        long q;
        memcpy(&xf, db_buf + 4u * i, 4);
        r = (double)xf / MCD_MLPERF_INPUT_SCALE_D;
        fl = (double)(long long)r;
        if (fl > r) fl -= 1.0; /* floor */
        q = (long)fl;
        if (r - fl > 0.5 || (r - fl == 0.5 && (q & 1))) q++;
        q += MCD_INPUT_ZERO_POINT;
        input[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
    }
#endif
    input_ready = 1;
}

/* `db print [N=16] [offset=0]` (the runner's help text): N bytes of the buffer from offset, in the
 * reference firmware's lines of up to 8 bytes, "m-buffer-0a-1b-ff". Only bytes loaded so far are
 * printed. */
static void db_print(char *args)
{
    char *second = args ? strchr(args, ' ') : 0;
    long n = 16, off = 0;
    uint32_t i, end;
    if (second) *second++ = '\0';
    if (args && *args) n = parse_uint(args);
    if (second && *second) off = parse_uint(second);
    if (n < 0 || off < 0) {
        line("e-[db print takes [N] [offset], decimal numbers of bytes]", 0, 0);
        return;
    }
    end = (uint32_t)off + (uint32_t)n;
    if (end > db_pos) end = db_pos;
    for (i = (uint32_t)off; i < end; i++) {
        if ((i - (uint32_t)off) % 8u == 0u) put("m-buffer-");
        put_hex2(db_buf[i]);
        put(((i - (uint32_t)off) % 8u == 7u || i + 1u == end) ? "\r\n" : "-");
    }
}

static void db_command(char *args)
{
    char *sub = args;
    char *rest = strchr(args, ' ');
    if (rest) *rest++ = '\0';
    if (*sub == '\0') {
        line("e-[Command 'db' requires a subcommand]", 0, 0);
    } else if (strcmp(sub, "load") == 0) {
        const long n = parse_uint(rest);
        if (n <= 0) {
            line("e-[Command 'db load' requires a number of bytes > 0]", 0, 0);
        } else if ((uint32_t)n > DB_BYTES) {
            put("e-[db load ");
            put_u64((uint64_t)n);
            put(" exceeds the input's ");
            put_u64(DB_BYTES);
            line(" bytes]", 0, 0);
        } else {
            db_size = (uint32_t)n;
            db_pos = 0;
            input_ready = 0;
            put("m-[Expecting ");
            put_u64(db_size);
            line(" bytes]", 0, 0);
        }
    } else if (strcmp(sub, "print") == 0) {
        db_print(rest);
    } else {
        /* hex digits; a byte past the announced size is ignored, as the reference does */
        const uint32_t len = (uint32_t)strlen(sub);
        uint32_t i;
        if (len & 1u) {
            line("e-[Odd number of hex digits]", 0, 0);
            return;
        }
        for (i = 0; i < len; i += 2u) {
            const int hi = hexval(sub[i]), lo = hexval(sub[i + 1u]);
            if (hi < 0 || lo < 0) {
                line("e-[Invalid hex digit]", 0, 0);
                return;
            }
            if (db_pos < db_size) {
                db_buf[db_pos++] = (uint8_t)((hi << 4) | lo);
                if (db_pos == db_size) {
                    if (db_size == DB_BYTES) finish_load();
                    line("m-load-done", 0, 0);
                }
            }
        }
    }
}

/* ---- inference ------------------------------------------------------------------------- */
static uint32_t input_hash(void)
{
    uint32_t h = 2166136261u, i; /* FNV-1a */
    for (i = 0; i < MCD_INPUT_BYTES; i++) h = (h ^ (uint8_t)input[i]) * 16777619u;
    return h;
}

/* What the reference firmware prints after an inference: a classifier's class probabilities
 * (its int8 model ends with a softmax; the engine's graph may leave it out, then it is applied
 * here to the dequantized logits, in double), or ad's anomaly score. Six decimals where the
 * reference prints three: the same `m-results-[...]` line, finer. */
static void results(void)
{
    uint32_t i;
    put("m-results-[");
#if defined(MCD_MLPERF_RESULT_MSE)
    {
        /* mean((y - x)^2) over the dequantized output y and the input x: the runner's float32
         * values when it sent them (f32), as the reference does, else the engine's own input */
        double sum = 0;
        for (i = 0; i < MCD_OUTPUT_BYTES && i < MCD_INPUT_BYTES; i++) {
            const double y = (double)MCD_OUTPUT_SCALE * (double)(output[i] - MCD_OUTPUT_ZERO_POINT);
#ifdef MCD_MLPERF_INPUT_F32
            float xf;
            double x;
            memcpy(&xf, db_buf + 4u * i, 4);
            x = (double)xf;
#else
            const double x = (double)MCD_INPUT_SCALE * (double)(input[i] - MCD_INPUT_ZERO_POINT);
#endif
            sum += (y - x) * (y - x);
        }
        put_fixed6(sum / (double)MCD_OUTPUT_BYTES);
    }
#elif defined(MCD_MLPERF_RESULT_SOFTMAX)
    {
        /* exp(l - max) keeps every term in (0, 1]: no overflow, the sum is >= 1 */
        double sum = 0, mx = -1e300;
        for (i = 0; i < MCD_OUTPUT_BYTES; i++) {
            const double l = (double)MCD_OUTPUT_SCALE * (double)(output[i] - MCD_OUTPUT_ZERO_POINT);
            if (l > mx) mx = l;
        }
        for (i = 0; i < MCD_OUTPUT_BYTES; i++)
            sum += exp((double)MCD_OUTPUT_SCALE * (double)(output[i] - MCD_OUTPUT_ZERO_POINT) - mx);
        for (i = 0; i < MCD_OUTPUT_BYTES; i++) {
            if (i) uart_putc(',');
            put_fixed6(exp((double)MCD_OUTPUT_SCALE * (double)(output[i] - MCD_OUTPUT_ZERO_POINT) - mx) / sum);
        }
    }
#else
    for (i = 0; i < MCD_OUTPUT_BYTES; i++) {
        if (i) uart_putc(',');
        put_fixed6((double)MCD_OUTPUT_SCALE * (double)(output[i] - MCD_OUTPUT_ZERO_POINT));
    }
#endif
    line("]", 0, 0);
}

static void infer(long n, long w)
{
    uint32_t before;
    long k;
    if (!input_ready) {
        put("e-[No input: load ");
        put_u64(DB_BYTES);
        line(" bytes with db load / db first]", 0, 0);
        return;
    }
    before = input_hash();
    put("m-warmup-start-");
    put_u64((uint64_t)w);
    put("\r\n");
    for (k = 0; k < w; k++) mcd_model_run(input, output);
    line("m-warmup-done", 0, 0);
    put("m-infer-start-");
    put_u64((uint64_t)n);
    put("\r\n");
    timestamp();
    for (k = 0; k < n; k++) mcd_model_run(input, output);
    timestamp();
    line("m-infer-done", 0, 0);
    if (input_hash() != before) line("e-[input changed during inference]", 0, 0);
    results();
}

static void infer_command(char *args)
{
    long n = 1, w = 10; /* the reference's defaults */
    char *second = strchr(args, ' ');
    if (second) *second++ = '\0';
    if (*args) {
        n = parse_uint(args);
        if (n <= 0) {
            line("e-[Inference iterations must be >0]", 0, 0);
            return;
        }
        if (second && *second) {
            w = parse_uint(second);
            if (w < 0) {
                line("e-[Inference warmup must be >=0]", 0, 0);
                return;
            }
        }
    }
    infer(n, w);
}

/* ---- dispatch -------------------------------------------------------------------------- */
static void dispatch(char *c)
{
    char *args;
    while (*c == ' ' || *c == '\r' || *c == '\n') c++; /* a line ending left from the last one */
    args = strchr(c, ' ');
    if (args) {
        *args++ = '\0';
        while (*args == ' ') args++;
    } else {
        args = c + strlen(c);
    }
    if (strcmp(c, "name") == 0) {
        line("m-name-dut-[", MCD_BOARD_NAME, "]");
    } else if (strcmp(c, "profile") == 0) {
        line("m-profile-[", FW_VERSION, "]");
        line("m-model-[", MCD_MLPERF_MODEL, "]");
    } else if (strcmp(c, "timestamp") == 0) {
        timestamp();
    } else if (strcmp(c, "db") == 0) {
        db_command(args);
    } else if (strcmp(c, "infer") == 0) {
        infer_command(args);
    } else if (strcmp(c, "results") == 0) {
        results();
    } else {
        line("e-[Unknown command: ", c, "]");
    }
    line("m-ready", 0, 0);
}

void mcd_mlperf_serve(void)
{
    uint32_t n = 0;
    line("m-timestamp-mode-performance", 0, 0);
    timestamp();
    line("m-init-done", 0, 0);
    line("m-ready", 0, 0);
    for (;;) {
        const char ch = (char)uart_getc();
        if (ch == '%') {
            cmd[n] = '\0';
            dispatch(cmd);
            n = 0;
        } else if (n < MCD_MLPERF_CMD_BYTES) {
            cmd[n++] = ch; /* an over-long command is cut, and then fails as a command */
        }
    }
}

int main(void)
{
    mcd_stack_paint();
    port_init();
    mcd_counter_init();
    mcd_mlperf_serve();
    return 0;
}

void mcd_fault_handler(void)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    put("\r\ne-[fault: exception ");
    put_u64(ipsr & 0x1FFu);
    line("]", 0, 0);
    for (;;) {
    }
}
