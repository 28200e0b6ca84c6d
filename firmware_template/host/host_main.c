/* Host harness: runs the generated engine on samples from a file, for bit-exactness tests on
 * the development machine. usage: host_run INPUT.bin OUTPUT.bin
 * INPUT.bin holds N * MCD_INPUT_BYTES int8 samples; OUTPUT.bin gets N * MCD_OUTPUT_BYTES. */
#include <stdio.h>
#include "model.h"

int main(int argc, char **argv)
{
    static int8_t in[MCD_INPUT_BYTES], out[MCD_OUTPUT_BYTES];
    FILE *fi, *fo;
    long n = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT.bin OUTPUT.bin\n", argv[0]);
        return 2;
    }
    fi = fopen(argv[1], "rb");
    fo = fopen(argv[2], "wb");
    if (!fi || !fo) {
        perror("open");
        return 2;
    }
    while (fread(in, 1, MCD_INPUT_BYTES, fi) == MCD_INPUT_BYTES) {
        mcd_model_run(in, out);
        if (fwrite(out, 1, MCD_OUTPUT_BYTES, fo) != MCD_OUTPUT_BYTES) return 1;
        n++;
    }
    fclose(fi);
    fclose(fo);
    fprintf(stderr, "%ld samples\n", n);
    return 0;
}
