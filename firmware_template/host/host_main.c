/* Host harness: runs the generated engine on samples from a file, for bit-exactness tests on
 * the development machine. usage: host_run INPUT.bin OUTPUT.bin [LAYERS.bin]
 * INPUT.bin holds N * MCD_INPUT_BYTES int8 samples; OUTPUT.bin gets N * MCD_OUTPUT_BYTES.
 * Built with -DMCD_LAYER_HOOK, LAYERS.bin gets every layer's output of every sample, layer after
 * layer (the host twin of the firmware's LAYER_OUTPUT, for `validate --layers` on the host). */
#include <stdio.h>
#include "model.h"

#ifdef MCD_LAYER_HOOK
static FILE *fl;
static const int8_t *cur_out;

void mcd_layer_hook(int index);
void mcd_layer_hook(int index)
{
    uint32_t n;
    const int8_t *p;
    if (!fl || index <= 0) return;
    p = mcd_layer_output(index - 1, cur_out, &n);
    if (fwrite(p, 1, n, fl) != n) fl = NULL;
}
#endif

int main(int argc, char **argv)
{
    static int8_t in[MCD_INPUT_BYTES], out[MCD_OUTPUT_BYTES];
    FILE *fi, *fo;
    long n = 0;
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s INPUT.bin OUTPUT.bin [LAYERS.bin]\n", argv[0]);
        return 2;
    }
    fi = fopen(argv[1], "rb");
    fo = fopen(argv[2], "wb");
    if (!fi || !fo) {
        perror("open");
        return 2;
    }
    if (argc == 4) {
#ifdef MCD_LAYER_HOOK
        fl = fopen(argv[3], "wb");
        cur_out = out;
        if (!fl) {
            perror("open");
            return 2;
        }
#else
        fprintf(stderr, "LAYERS.bin needs a build with -DMCD_LAYER_HOOK\n");
        return 2;
#endif
    }
    while (fread(in, 1, MCD_INPUT_BYTES, fi) == MCD_INPUT_BYTES) {
        mcd_model_run(in, out);
        if (fwrite(out, 1, MCD_OUTPUT_BYTES, fo) != MCD_OUTPUT_BYTES) return 1;
        n++;
    }
    fclose(fi);
    fclose(fo);
#ifdef MCD_LAYER_HOOK
    if (fl) fclose(fl);
#endif
    fprintf(stderr, "%ld samples\n", n);
    return 0;
}
