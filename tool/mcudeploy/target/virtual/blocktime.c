/* The virtual board's block hook in C: charge each translated block its cost from a table the
 * host fills (the timing model of cycles.py), +2 cycles after a taken branch.
 *
 * Why: Unicorn calls the block hook ~110,000 times per LeNet-5 inference; through Python that
 * cost ~2/3 of the run time. Here a miss (a block seen for the first time) still goes to Python,
 * which computes the block's cost once and inserts it; every later entry stays in C.
 * Built at first use with the host C compiler (native.py); without one, the Python hook is used.
 */
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    uint64_t key;          /* (address << 8) | size; 0 = empty */
    uint32_t cycles, insns;
    uint32_t branch, selfloop;
} mcd_entry;

typedef void (*mcd_miss_fn)(void *uc, uint64_t addr, uint32_t size);
typedef int (*mcd_stop_fn)(void *uc);

typedef struct {
    uint64_t cycles, instructions;
    uint64_t prev_end;
    uint64_t selfloop_pc;    /* set when the firmware parks in `b .`; the run is stopped */
    uint32_t prev_branch, count, mask, pad;
    mcd_entry *table;
    mcd_miss_fn miss;
    mcd_stop_fn stop;
} mcd_state;

static mcd_entry *find(mcd_state *s, uint64_t key)
{
    uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> 20;
    for (;; i++) {
        mcd_entry *e = &s->table[i & s->mask];
        if (e->key == key || e->key == 0) return e;
    }
}

int mcd_init(mcd_state *s, mcd_miss_fn miss, mcd_stop_fn stop)
{
    s->mask = (1u << 14) - 1;
    s->table = calloc(s->mask + 1u, sizeof(mcd_entry));
    s->miss = miss;
    s->stop = stop;
    return s->table == 0;
}

int mcd_insert(mcd_state *s, uint64_t addr, uint32_t size, uint32_t cycles, uint32_t insns, uint32_t branch,
               uint32_t selfloop)
{
    mcd_entry *e;
    if (2u * (s->count + 1u) > s->mask) {  /* keep the table at most half full: grow and rehash */
        mcd_state old = *s;
        s->mask = 2u * old.mask + 1u;
        s->table = calloc(s->mask + 1u, sizeof(mcd_entry));
        if (!s->table) { *s = old; return 1; }
        for (uint32_t i = 0; i <= old.mask; i++)
            if (old.table[i].key) *find(s, old.table[i].key) = old.table[i];
        free(old.table);
    }
    e = find(s, (addr << 8) | size);
    if (!e->key) s->count++;
    e->key = (addr << 8) | size;
    e->cycles = cycles;
    e->insns = insns;
    e->branch = branch;
    e->selfloop = selfloop;
    return 0;
}

void mcd_block(void *uc, uint64_t addr, uint32_t size, void *user)
{
    mcd_state *s = user;
    mcd_entry *e = find(s, (addr << 8) | size);
    uint32_t c;
    if (!e->key) {
        s->miss(uc, addr, size);
        e = find(s, (addr << 8) | size);
        if (!e->key) return;
    }
    c = e->cycles;
    if (s->prev_branch && addr != s->prev_end) c += 2;  /* taken branch: pipeline refill */
    s->cycles += c;
    s->instructions += e->insns;
    s->prev_end = addr + size;
    s->prev_branch = e->branch;
    if (e->selfloop) {
        s->selfloop_pc = addr;
        s->stop(uc);
    }
}
