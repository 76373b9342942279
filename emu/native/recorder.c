/*
 * faultline's native trace recorder and dirty-page tracker for Unicorn 2.
 *
 * Why native: a JavaScript callback through koffi costs about 250 ns, so a
 * per-instruction JS hook caps tracing near 4 M instructions/s before it does
 * any work. These hooks only copy what happened into buffers that JavaScript
 * owns (typed arrays) and call back into JavaScript once per full batch.
 * Nothing here emulates: Unicorn does, this file records.
 *
 * Built by scripts/find-unicorn.mjs at install time; emu/native-recorder.ts
 * loads it through koffi and falls back to JavaScript hooks without it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct uc_struct uc_engine;
typedef size_t uc_hook;
typedef int uc_err;
extern uc_err uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback, void *user_data, uint64_t begin, uint64_t end, ...);
extern uc_err uc_hook_del(uc_engine *uc, uc_hook hh);
extern uc_err uc_reg_read_batch(uc_engine *uc, int *regs, void **vals, int count);
extern uc_err uc_mem_read(uc_engine *uc, uint64_t address, void *bytes, size_t size);
extern uc_err uc_mem_write(uc_engine *uc, uint64_t address, const void *bytes, size_t size);
extern uc_err uc_emu_stop(uc_engine *uc);
extern uc_err uc_emu_start(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count);
extern uc_err uc_reg_read(uc_engine *uc, int regid, void *value);
extern uc_err uc_context_restore(uc_engine *uc, void *context);

#define UC_HOOK_CODE (1 << 2)
#define UC_HOOK_MEM_READ (1 << 10)
#define UC_HOOK_MEM_WRITE (1 << 11)
#define UC_HOOK_MEM_READ_AFTER (1 << 13)
#define UC_HOOK_BLOCK_RECORD (1 << 3)
#define UC_MEM_WRITE 17
#define PAGE 4096u
#define MAX_REGS 64
#define MAX_INSN 16

/*
 * Batch buffers: one allocation; JavaScript views it through koffi.view and
 * finds each array with ft_recorder_offset (the field order of ft_buffers).
 */
typedef struct {
  uint64_t *pc;          /* [capacity] */
  uint8_t *size;         /* [capacity] */
  uint32_t *reg_start;   /* [capacity + 1] */
  uint8_t *reg_index;    /* [reg_capacity] */
  uint64_t *reg_value;   /* [reg_capacity] */
  uint32_t *mem_start;   /* [capacity + 1] */
  uint8_t *mem_kind;     /* [mem_capacity] */
  uint64_t *mem_address; /* [mem_capacity] */
  uint8_t *mem_size;     /* [mem_capacity] */
  uint64_t *mem_value;   /* [mem_capacity] */
  uint32_t capacity, reg_capacity, mem_capacity;
  /* Written by C, read by JS: [0] instructions, [1] register changes, [2] memory accesses. */
  uint32_t *counts;
} ft_buffers;

typedef void (*ft_flush_fn)(uint32_t reason);

typedef struct {
  uc_engine *uc;
  ft_buffers b;
  ft_flush_fn flush;
  int reg_ids[MAX_REGS];
  /* Two register states, alternately the current and the previous one. */
  void *reg_ptrs[2][MAX_REGS];
  uint64_t values[2][MAX_REGS];
  int current;
  int nregs;
  uint64_t mask;
  bool have_prev, want_regs, want_mem;
  uint64_t executed, limit; /* limit 0 = none */
  uint32_t stopped_by_limit;
  uc_hook code_hook, read_hook, write_hook;
} ft_recorder;

static void flush_if_needed(ft_recorder *r, bool force) {
  ft_buffers *b = &r->b;
  if (force || b->counts[0] >= b->capacity || b->counts[1] + (uint32_t)r->nregs > b->reg_capacity ||
      b->counts[2] + 64 > b->mem_capacity) {
    if (b->counts[0] > 0) r->flush(0);
    b->counts[0] = b->counts[1] = b->counts[2] = 0;
    b->reg_start[0] = 0;
    b->mem_start[0] = 0;
  }
}

/*
 * Register changes of the previous instruction: the state now minus the state
 * before it. The two states alternate between two arrays (no copy), and the
 * comparison builds a bit mask without branches, so the loop over every
 * register neither mispredicts nor stores; only changed registers are visited.
 */
static void diff_registers(ft_recorder *r) {
  ft_buffers *b = &r->b;
  const uint64_t *now = r->values[r->current], *prev = r->values[r->current ^ 1];
  uc_reg_read_batch(r->uc, r->reg_ids, r->reg_ptrs[r->current], r->nregs);
  uint32_t n = b->counts[1];
  if (r->have_prev && b->counts[0] > 0) {
    uint64_t changed = 0;
    for (int i = 0; i < r->nregs; i++) changed |= (uint64_t)(((now[i] ^ prev[i]) & r->mask) != 0) << i;
    while (changed) {
      int i = __builtin_ctzll(changed);
      changed &= changed - 1;
      b->reg_index[n] = (uint8_t)i;
      b->reg_value[n] = now[i] & r->mask;
      n++;
    }
  }
  r->current ^= 1;
  r->have_prev = true;
  b->counts[1] = n;
  b->reg_start[b->counts[0]] = n;
}

static void on_code(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  ft_recorder *r = user;
  ft_buffers *b = &r->b;
  if (r->limit && r->executed >= r->limit) {
    r->stopped_by_limit = 1;
    uc_emu_stop(uc);
    return;
  }
  r->executed++;
  /* An undecodable instruction arrives with size 0xf1f1f1f1: record it as 0 (unknown). */
  if (size > MAX_INSN) size = 0;
  if (r->want_regs) diff_registers(r);
  else b->reg_start[b->counts[0]] = b->counts[1];
  flush_if_needed(r, false);
  uint32_t i = b->counts[0];
  b->pc[i] = address;
  b->size[i] = (uint8_t)size;
  b->mem_start[i] = b->counts[2];
  b->counts[0] = i + 1;
  b->reg_start[i + 1] = b->counts[1];
  b->mem_start[i + 1] = b->counts[2];
}

static void on_memory(uc_engine *uc __attribute__((unused)), int type, uint64_t address, int size, int64_t value, void *user) {
  ft_recorder *r = user;
  ft_buffers *b = &r->b;
  uint32_t n = b->counts[2];
  if (n >= b->mem_capacity || b->counts[0] == 0) return;
  b->mem_kind[n] = type == UC_MEM_WRITE ? 1 : 0;
  b->mem_address[n] = address;
  b->mem_size[n] = (uint8_t)size;
  uint64_t v = (uint64_t)value;
  if (size < 8) v &= (((uint64_t)1) << (size * 8)) - 1;
  b->mem_value[n] = v;
  b->counts[2] = n + 1;
  b->mem_start[b->counts[0]] = n + 1;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Lays out the arrays of ft_buffers in one block; with base NULL only measures it. */
static size_t layout(ft_buffers *b, uint8_t *base, uint32_t cap, uint32_t rcap, uint32_t mcap) {
  size_t at = 0;
#define PLACE(field, type, n) b->field = (type *)(base ? base + at : NULL); at = align8(at + sizeof(type) * (size_t)(n));
  PLACE(pc, uint64_t, cap)
  PLACE(size, uint8_t, cap)
  PLACE(reg_start, uint32_t, cap + 1)
  PLACE(reg_index, uint8_t, rcap)
  PLACE(reg_value, uint64_t, rcap)
  PLACE(mem_start, uint32_t, cap + 1)
  PLACE(mem_kind, uint8_t, mcap)
  PLACE(mem_address, uint64_t, mcap)
  PLACE(mem_size, uint8_t, mcap)
  PLACE(mem_value, uint64_t, mcap)
  PLACE(counts, uint32_t, 4)
#undef PLACE
  b->capacity = cap; b->reg_capacity = rcap; b->mem_capacity = mcap;
  return at;
}

ft_recorder *ft_recorder_new(uc_engine *uc, const int *reg_ids, int nregs, uint64_t mask, uint32_t capacity,
                             ft_flush_fn flush, int want_regs, int want_mem) {
  if (nregs > MAX_REGS || capacity == 0) return NULL;
  ft_recorder *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  uint32_t rcap = capacity * (uint32_t)nregs, mcap = capacity * 4 + 64;
  size_t total = layout(&r->b, NULL, capacity, rcap, mcap);
  uint8_t *base = calloc(1, total);
  if (!base) { free(r); return NULL; }
  layout(&r->b, base, capacity, rcap, mcap);
  r->uc = uc;
  r->flush = flush;
  r->nregs = nregs;
  r->mask = mask;
  r->want_regs = want_regs != 0;
  r->want_mem = want_mem != 0;
  for (int i = 0; i < nregs; i++) {
    r->reg_ids[i] = reg_ids[i];
    r->reg_ptrs[0][i] = &r->values[0][i];
    r->reg_ptrs[1][i] = &r->values[1][i];
  }
  r->b.counts[0] = r->b.counts[1] = r->b.counts[2] = 0;
  r->b.reg_start[0] = r->b.mem_start[0] = 0;
  if (uc_hook_add(uc, &r->code_hook, UC_HOOK_CODE, (void *)on_code, r, 1, 0) != 0) goto fail;
  if (r->want_mem) {
    if (uc_hook_add(uc, &r->read_hook, UC_HOOK_MEM_READ_AFTER, (void *)on_memory, r, 1, 0) != 0) goto fail;
    if (uc_hook_add(uc, &r->write_hook, UC_HOOK_MEM_WRITE, (void *)on_memory, r, 1, 0) != 0) goto fail;
  }
  return r;
fail:
  if (r->code_hook) uc_hook_del(uc, r->code_hook);
  if (r->read_hook) uc_hook_del(uc, r->read_hook);
  free(r->b.pc);
  free(r);
  return NULL;
}

/* The block holding the batch arrays, its size, and the offset of array i in ft_buffers order. */
void *ft_recorder_base(ft_recorder *r) { return r->b.pc; }
size_t ft_recorder_block_size(ft_recorder *r) {
  ft_buffers scratch;
  return layout(&scratch, NULL, r->b.capacity, r->b.reg_capacity, r->b.mem_capacity);
}
size_t ft_recorder_offset(ft_recorder *r, int field) {
  void *fields[] = {r->b.pc, r->b.size, r->b.reg_start, r->b.reg_index, r->b.reg_value, r->b.mem_start,
                    r->b.mem_kind, r->b.mem_address, r->b.mem_size, r->b.mem_value, r->b.counts};
  if (field < 0 || field >= (int)(sizeof fields / sizeof fields[0])) return (size_t)-1;
  return (size_t)((uint8_t *)fields[field] - (uint8_t *)r->b.pc);
}

/* Starts a run: forget the previous register state, set the instruction limit (0 = none). */
void ft_recorder_begin(ft_recorder *r, uint64_t limit) {
  r->have_prev = false;
  r->executed = 0;
  r->limit = limit;
  r->stopped_by_limit = 0;
}

/* Ends a run: record the last instruction's register changes and flush everything. */
void ft_recorder_finish(ft_recorder *r) {
  if (r->want_regs && r->b.counts[0] > 0) diff_registers(r);
  flush_if_needed(r, true);
}

uint64_t ft_recorder_executed(ft_recorder *r) { return r->executed; }
uint32_t ft_recorder_stopped_by_limit(ft_recorder *r) { return r->stopped_by_limit; }

void ft_recorder_free(ft_recorder *r) {
  if (!r) return;
  uc_hook_del(r->uc, r->code_hook);
  if (r->read_hook) uc_hook_del(r->uc, r->read_hook);
  if (r->write_hook) uc_hook_del(r->uc, r->write_hook);
  free(r->b.pc);
  free(r);
}

/*
 * Block recorder: the fast full trace. A block hook appends the id of each
 * executed basic block (ids are given out once per distinct pc and size;
 * JavaScript decodes a new block once and returns its instruction count),
 * the memory hooks append every access, and registers are read only at
 * checkpoints: when a batch starts and when it ends. Per-instruction pcs and
 * register changes are rebuilt when the trace is read, by replaying a batch
 * from its start registers over the memory its reads recorded
 * (traces/replay.ts). No per-instruction hook: Unicorn translates blocks
 * without a helper call per instruction, which is where the speed comes from.
 */
typedef uint32_t (*ft_new_block_fn)(uint32_t id, uint64_t pc, uint32_t size);

/*
 * Compact columns (traces/FORMAT.md, version 2): block ids as LEB128
 * varints; each memory access as a byte (bit 0 write, bits 1-7 size), the
 * zigzag varint of its address minus the previous access's, and the varint
 * of its value. Accesses cluster and values are mostly small, so an access
 * takes about 5 bytes instead of 18, and encoding here costs a few
 * nanoseconds where JavaScript would pay a call per access.
 */
typedef struct {
  uint8_t *blocks;       /* [block_bytes] */
  uint8_t *mem;          /* [mem_bytes] */
  uint64_t *start_regs;  /* [MAX_REGS] registers before the batch's first block */
  uint64_t *end_regs;    /* [MAX_REGS] registers after its last instruction */
  /* [0] blocks, [1] memory accesses, [2] instructions, [3] flags (1: memory overflowed, 2: out of memory),
   * [4] bytes of blocks, [5] bytes of mem. */
  uint32_t *counts;
  uint32_t capacity, mem_capacity;
  uint64_t previous_address;
} ft_block_buffers;

#define VARINT_MAX 10
static inline uint32_t put_varint(uint8_t *out, uint64_t v) {
  uint32_t n = 0;
  while (v >= 0x80) { out[n++] = (uint8_t)(v | 0x80); v >>= 7; }
  out[n++] = (uint8_t)v;
  return n;
}

typedef struct {
  uc_engine *uc;
  ft_block_buffers b;
  ft_flush_fn flush;
  ft_new_block_fn new_block;
  int reg_ids[MAX_REGS];
  void *reg_ptrs[2][MAX_REGS];
  int nregs;
  uint64_t mask;
  bool want_mem, tail;
  uint64_t executed, limit; /* limit 0 = none */
  uint64_t owed;            /* instructions still to run when a block would have passed the limit */
  uint64_t stop_pc;         /* the block not run then: Unicorn's pc lags in a block hook */
  uint32_t stop_size;
  uint64_t tail_left;       /* instructions the tail hook still lets run */
  uc_hook tail_hook;
  uint32_t stopped_by_limit;
  /* Distinct blocks: open addressing over (pc, size) -> id; icount[id] instructions. */
  uint64_t *key_pc;
  uint32_t *key_size, *key_id;
  uint32_t table_capacity, blocks;
  uint32_t *icount;
  uint32_t icount_capacity;
  uint32_t last_id;
  uc_hook block_hook, read_hook, write_hook, sync_hook;
} ft_blocks;

/* Room kept free in the memory stream at a block's start: one block's accesses fit in it. */
#define MEM_SLACK (1u << 20)
#define ACCESS_MAX (1 + 2 * VARINT_MAX)

static uint32_t hash_block(uint64_t pc, uint32_t size) {
  uint64_t h = (pc ^ ((uint64_t)size << 48)) * 0x9e3779b97f4a7c15ull;
  return (uint32_t)(h >> 32);
}

static bool grow_table(ft_blocks *r) {
  uint32_t cap = r->table_capacity ? r->table_capacity * 2 : 4096;
  uint64_t *pcs = calloc(cap, sizeof *pcs);
  uint32_t *sizes = calloc(cap, sizeof *sizes), *ids = calloc(cap, sizeof *ids);
  if (!pcs || !sizes || !ids) { free(pcs); free(sizes); free(ids); return false; }
  for (uint32_t i = 0; i < r->table_capacity; i++) {
    if (!r->key_id[i]) continue;
    uint32_t slot = hash_block(r->key_pc[i], r->key_size[i]) & (cap - 1);
    while (ids[slot]) slot = (slot + 1) & (cap - 1);
    pcs[slot] = r->key_pc[i]; sizes[slot] = r->key_size[i]; ids[slot] = r->key_id[i];
  }
  free(r->key_pc); free(r->key_size); free(r->key_id);
  r->key_pc = pcs; r->key_size = sizes; r->key_id = ids; r->table_capacity = cap;
  return true;
}

/* The id of block (pc, size), 0 when out of memory; a new block is decoded by JavaScript (new_block). */
static uint32_t block_id(ft_blocks *r, uint64_t pc, uint32_t size) {
  uint32_t mask = r->table_capacity - 1, slot = hash_block(pc, size) & mask;
  while (r->key_id[slot]) {
    if (r->key_pc[slot] == pc && r->key_size[slot] == size) return r->key_id[slot] - 1;
    slot = (slot + 1) & mask;
  }
  if ((r->blocks + 1) * 2 > r->table_capacity) {
    if (!grow_table(r)) return UINT32_MAX;
    return block_id(r, pc, size);
  }
  if (r->blocks == r->icount_capacity) {
    uint32_t cap = r->icount_capacity * 2;
    uint32_t *icount = realloc(r->icount, cap * sizeof *icount);
    if (!icount) return UINT32_MAX;
    r->icount = icount; r->icount_capacity = cap;
  }
  uint32_t id = r->blocks++;
  r->key_pc[slot] = pc; r->key_size[slot] = size; r->key_id[slot] = id + 1;
  uint32_t n = r->new_block(id, pc, size);
  r->icount[id] = n ? n : 1;
  return id;
}

/*
 * Reads the checkpoint registers. The pc is the last of them; in a block
 * hook Unicorn's pc may lag (it is kept exact only where a hook needs it), so
 * there the block's address replaces it (`pc` not UINT64_MAX).
 */
static void read_checkpoint(ft_blocks *r, uint64_t *into, uint64_t pc) {
  uc_reg_read_batch(r->uc, r->reg_ids, r->reg_ptrs[into == r->b.end_regs], r->nregs);
  for (int i = 0; i < r->nregs; i++) into[i] &= r->mask;
  if (pc != UINT64_MAX) into[r->nregs - 1] = pc & r->mask;
}

/* Hands the batch to JavaScript with its end registers (the state now, at `pc`) and starts the next from them. */
static void flush_blocks(ft_blocks *r, uint64_t pc) {
  ft_block_buffers *b = &r->b;
  if (b->counts[0] == 0) return;
  read_checkpoint(r, b->end_regs, pc);
  r->flush(0);
  memcpy(b->start_regs, b->end_regs, sizeof(uint64_t) * (size_t)r->nregs);
  b->counts[0] = b->counts[1] = b->counts[2] = b->counts[3] = b->counts[4] = b->counts[5] = 0;
  b->previous_address = 0;
}

static void on_block_record(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  ft_blocks *r = user;
  ft_block_buffers *b = &r->b;
  uint32_t id = block_id(r, address, size);
  if (id == UINT32_MAX) { b->counts[3] |= 2; uc_emu_stop(uc); return; }
  uint32_t n = r->icount[id];
  if (r->limit && !r->tail && r->executed + n > r->limit) {
    /* Stopped before the block runs; the caller runs the instructions owed with Unicorn's exact count. */
    r->owed = r->limit - r->executed;
    r->stop_pc = address;
    r->stop_size = size;
    r->stopped_by_limit = 1;
    uc_emu_stop(uc);
    return;
  }
  if (b->counts[0] >= b->capacity || b->counts[5] + MEM_SLACK > b->mem_capacity) flush_blocks(r, address);
  if (b->counts[0] == 0) read_checkpoint(r, b->start_regs, address);
  b->counts[4] += put_varint(b->blocks + b->counts[4], id);
  b->counts[0]++;
  b->counts[2] += n;
  r->executed += n;
  r->last_id = id;
}

static void on_block_memory(uc_engine *uc, int type, uint64_t address, int size, int64_t value, void *user) {
  ft_blocks *r = user;
  ft_block_buffers *b = &r->b;
  uint32_t at = b->counts[5];
  if (at + ACCESS_MAX > b->mem_capacity || b->counts[0] == 0) {
    if (b->counts[0]) { b->counts[3] |= 1; uc_emu_stop(uc); }
    return;
  }
  uint8_t *out = b->mem + at;
  uint32_t n = 0;
  out[n++] = (uint8_t)(((uint32_t)size << 1) | (type == UC_MEM_WRITE ? 1u : 0u));
  uint64_t delta = address - b->previous_address;
  n += put_varint(out + n, (delta << 1) ^ (uint64_t)((int64_t)delta >> 63));
  b->previous_address = address;
  uint64_t v = (uint64_t)value;
  if (size < 8) v &= (((uint64_t)1) << (size * 8)) - 1;
  n += put_varint(out + n, v);
  b->counts[5] = at + n;
  b->counts[1]++;
}

/* Does nothing: a UC_HOOK_MEM_READ makes Unicorn keep the pc exact before each load, so a fault names its instruction. */
static void on_block_sync(uc_engine *uc __attribute__((unused)), int type __attribute__((unused)), uint64_t address __attribute__((unused)),
                          int size __attribute__((unused)), int64_t value __attribute__((unused)), void *user __attribute__((unused))) {}

static size_t block_layout(ft_block_buffers *b, uint8_t *base, uint32_t cap, uint32_t mcap) {
  size_t at = 0;
#define PLACE(field, type, n) b->field = (type *)(base ? base + at : NULL); at = align8(at + sizeof(type) * (size_t)(n));
  PLACE(blocks, uint8_t, (size_t)cap * 5)
  PLACE(mem, uint8_t, mcap)
  PLACE(start_regs, uint64_t, MAX_REGS)
  PLACE(end_regs, uint64_t, MAX_REGS)
  PLACE(counts, uint32_t, 8)
#undef PLACE
  b->capacity = cap; b->mem_capacity = mcap;
  return at;
}

/* `capacity` blocks and `mem_capacity` bytes of memory accesses per batch. */
ft_blocks *ft_blocks_new(uc_engine *uc, const int *reg_ids, int nregs, uint64_t mask, uint32_t capacity, uint32_t mem_capacity,
                         ft_flush_fn flush, ft_new_block_fn new_block, int want_mem) {
  if (nregs > MAX_REGS || capacity == 0) return NULL;
  ft_blocks *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  uint32_t mcap = mem_capacity + MEM_SLACK;
  size_t total = block_layout(&r->b, NULL, capacity, mcap);
  uint8_t *base = calloc(1, total);
  r->icount_capacity = 1024;
  r->icount = calloc(r->icount_capacity, sizeof *r->icount);
  if (!base || !r->icount || !grow_table(r)) goto fail;
  block_layout(&r->b, base, capacity, mcap);
  r->uc = uc;
  r->flush = flush;
  r->new_block = new_block;
  r->nregs = nregs;
  r->mask = mask;
  r->want_mem = want_mem != 0;
  for (int i = 0; i < nregs; i++) {
    r->reg_ids[i] = reg_ids[i];
    r->reg_ptrs[0][i] = &r->b.start_regs[i];
    r->reg_ptrs[1][i] = &r->b.end_regs[i];
  }
  if (uc_hook_add(uc, &r->block_hook, UC_HOOK_BLOCK_RECORD, (void *)on_block_record, r, 1, 0) != 0) goto fail;
  if (r->want_mem) {
    if (uc_hook_add(uc, &r->read_hook, UC_HOOK_MEM_READ_AFTER, (void *)on_block_memory, r, 1, 0) != 0) goto fail;
    if (uc_hook_add(uc, &r->write_hook, UC_HOOK_MEM_WRITE, (void *)on_block_memory, r, 1, 0) != 0) goto fail;
  }
  if (uc_hook_add(uc, &r->sync_hook, UC_HOOK_MEM_READ, (void *)on_block_sync, r, 1, 0) != 0) goto fail;
  return r;
fail:
  if (r->block_hook) uc_hook_del(uc, r->block_hook);
  if (r->read_hook) uc_hook_del(uc, r->read_hook);
  free(base);
  free(r->icount); free(r->key_pc); free(r->key_size); free(r->key_id);
  free(r);
  return NULL;
}

void *ft_blocks_base(ft_blocks *r) { return r->b.blocks; }
size_t ft_blocks_block_size(ft_blocks *r) {
  ft_block_buffers scratch;
  return block_layout(&scratch, NULL, r->b.capacity, r->b.mem_capacity);
}
size_t ft_blocks_offset(ft_blocks *r, int field) {
  void *fields[] = {r->b.blocks, r->b.mem, r->b.start_regs, r->b.end_regs, r->b.counts};
  if (field < 0 || field >= (int)(sizeof fields / sizeof fields[0])) return (size_t)-1;
  return (size_t)((uint8_t *)fields[field] - (uint8_t *)r->b.blocks);
}

/* Starts a run with an instruction limit (0 = none). */
void ft_blocks_begin(ft_blocks *r, uint64_t limit) {
  r->executed = 0;
  r->limit = limit;
  r->owed = 0;
  r->tail = false;
  r->stopped_by_limit = 0;
}

/* The instructions owed after a stop before a block that would pass the limit; from now on blocks are recorded unchecked. */
/* Counts the owed instructions of the cut block and stops before the first one past them. */
static void on_tail_code(uc_engine *uc, uint64_t address __attribute__((unused)), uint32_t size __attribute__((unused)), void *user) {
  ft_blocks *r = user;
  if (r->tail_left == 0) { uc_emu_stop(uc); return; }
  r->tail_left--;
}

/* Where the run stopped before a block for the limit (valid when ft_blocks_stopped_by_limit). */
uint64_t ft_blocks_stop_pc(ft_blocks *r) { return r->stop_pc; }

/*
 * The instructions owed, with a code hook over the cut block only that lets
 * exactly that many run (the caller drops translated blocks so it takes
 * effect); from now on blocks are recorded unchecked.
 */
uint64_t ft_blocks_take_owed(ft_blocks *r) {
  uint64_t owed = r->owed;
  r->owed = 0;
  if (!owed) return 0;
  r->tail = true;
  r->tail_left = owed;
  if (uc_hook_add(r->uc, &r->tail_hook, UC_HOOK_CODE, (void *)on_tail_code, r, r->stop_pc, r->stop_pc + r->stop_size - 1) != 0) {
    r->tail_hook = 0;
    return 0;
  }
  return owed;
}

/* Ends a run: the last block's instruction count as resolved by JavaScript, then the final flush. */
void ft_blocks_finish(ft_blocks *r, uint32_t last_count) {
  ft_block_buffers *b = &r->b;
  if (r->tail_hook) { uc_hook_del(r->uc, r->tail_hook); r->tail_hook = 0; }
  if (b->counts[0] > 0) {
    uint32_t full = r->icount[r->last_id];
    b->counts[2] = b->counts[2] - full + last_count;
    r->executed = r->executed - full + last_count;
  }
  flush_blocks(r, UINT64_MAX);
}

uint64_t ft_blocks_executed(ft_blocks *r) { return r->executed; }
uint32_t ft_blocks_stopped_by_limit(ft_blocks *r) { return r->stopped_by_limit; }
/* The last block recorded in the current batch (valid when counts[0] > 0). */
uint32_t ft_blocks_last(ft_blocks *r) { return r->last_id; }

void ft_blocks_free(ft_blocks *r) {
  if (!r) return;
  uc_hook_del(r->uc, r->block_hook);
  if (r->read_hook) uc_hook_del(r->uc, r->read_hook);
  if (r->write_hook) uc_hook_del(r->uc, r->write_hook);
  if (r->sync_hook) uc_hook_del(r->uc, r->sync_hook);
  free(r->b.blocks);
  free(r->icount); free(r->key_pc); free(r->key_size); free(r->key_id);
  free(r);
}

/*
 * Dirty pages: the first write to a page since ft_dirty_clear saves the page's
 * bytes as they were, so a restore rewrites only what runs touched. A restore
 * returns each page to its saved bytes, so the copies stay valid across
 * restores: a page written again after one is not read again, and a restore
 * rewrites only the span of each page written since the last one. The host's
 * own writes (uc_mem_write, which fires no hook) are reported through
 * ft_dirty_host_write and keep the rule of a copy taken at the first write
 * after each restore: a page a run wrote before the host write is rewritten
 * whole, one it had not written keeps the host's bytes.
 */
#define NO_PAGE UINT64_MAX
#define NO_SLOT UINT32_MAX

typedef struct {
  uc_engine *uc;
  uc_hook hook;
  uint64_t *pages;   /* the page each slot saves; NO_PAGE: a free slot */
  uint8_t *saved;    /* PAGE bytes per slot */
  uint16_t *lo, *hi; /* the span [lo, hi) of a slot's page written since the last restore; hi == 0: none */
  uint32_t *written; /* the slots written since the last restore, nwritten of them */
  uint32_t count, capacity, nwritten;
  uint64_t last_page; /* a page written since the last restore, and its slot: most writes land there */
  uint32_t last_slot;
  uint32_t overflow;
} ft_dirty;

static bool grow_dirty(ft_dirty *d) {
  uint32_t cap = d->capacity ? d->capacity * 2 : 16;
  uint64_t *pages = realloc(d->pages, cap * sizeof *pages);
  if (!pages) return false;
  d->pages = pages;
  uint8_t *saved = realloc(d->saved, (size_t)cap * PAGE);
  if (!saved) return false;
  d->saved = saved;
  uint16_t *lo = realloc(d->lo, cap * sizeof *lo);
  if (!lo) return false;
  d->lo = lo;
  uint16_t *hi = realloc(d->hi, cap * sizeof *hi);
  if (!hi) return false;
  d->hi = hi;
  uint32_t *written = realloc(d->written, cap * sizeof *written);
  if (!written) return false;
  d->written = written;
  d->capacity = cap;
  return true;
}

static uint32_t find_slot(ft_dirty *d, uint64_t page) {
  for (uint32_t i = d->count; i-- > 0;)
    if (d->pages[i] == page) return i;
  return NO_SLOT;
}

/* The slot saving `page`, made from memory when there is none; NO_SLOT when the page is unmapped or memory ran out. */
static uint32_t slot_of(ft_dirty *d, uint64_t page) {
  uint32_t slot = find_slot(d, page);
  if (slot != NO_SLOT) return slot;
  slot = find_slot(d, NO_PAGE);
  if (slot == NO_SLOT) {
    if (d->count == d->capacity && !grow_dirty(d)) { d->overflow = 1; return NO_SLOT; }
    slot = d->count;
  }
  /* An unmapped page is saved by ft_dirty_save when the lazy mapper maps it. */
  if (uc_mem_read(d->uc, page, d->saved + (size_t)slot * PAGE, PAGE) != 0) return NO_SLOT;
  if (slot == d->count) d->count++;
  d->pages[slot] = page;
  d->hi[slot] = 0;
  return slot;
}

/* Notes bytes [from, to) of `page` (0 <= from < to <= PAGE) as written since the last restore. */
static void note_written(ft_dirty *d, uint64_t page, uint32_t from, uint32_t to) {
  uint32_t slot = page == d->last_page ? d->last_slot : slot_of(d, page);
  if (slot == NO_SLOT) return;
  if (d->hi[slot] == 0) {
    d->written[d->nwritten++] = slot;
    d->lo[slot] = (uint16_t)from;
    d->hi[slot] = (uint16_t)to;
  } else {
    if (from < d->lo[slot]) d->lo[slot] = (uint16_t)from;
    if (to > d->hi[slot]) d->hi[slot] = (uint16_t)to;
  }
  d->last_page = page;
  d->last_slot = slot;
}

static void on_write(uc_engine *uc __attribute__((unused)), int type __attribute__((unused)), uint64_t address, int size,
                     int64_t value __attribute__((unused)), void *user) {
  ft_dirty *d = user;
  uint64_t end = address + (uint64_t)(size > 0 ? size : 1);
  uint64_t first = address & ~(uint64_t)(PAGE - 1);
  uint64_t last = (end - 1) & ~(uint64_t)(PAGE - 1);
  note_written(d, first, (uint32_t)(address - first), last == first ? (uint32_t)(end - first) : PAGE);
  if (last != first) note_written(d, last, 0, (uint32_t)(end - last));
}

ft_dirty *ft_dirty_new(uc_engine *uc) {
  ft_dirty *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->uc = uc;
  d->last_page = NO_PAGE;
  if (uc_hook_add(uc, &d->hook, UC_HOOK_MEM_WRITE, (void *)on_write, d, 1, 0) != 0) { free(d); return NULL; }
  return d;
}

/* Saves a page now, to be rewritten whole at the restore (the lazy mapper calls this right after mapping one). */
int ft_dirty_save(ft_dirty *d, uint64_t page) {
  if (slot_of(d, page) == NO_SLOT) return -1;
  note_written(d, page, 0, PAGE);
  return 0;
}

/*
 * The host wrote, mapped or unmapped [address, address + length): a page a
 * run wrote since the last restore is rewritten whole at the restore, as
 * when its copy was taken at that run's first write; the copy of a page no
 * run wrote since is dropped, so the next write saves the host's bytes.
 */
void ft_dirty_host_write(ft_dirty *d, uint64_t address, uint64_t length) {
  if (length == 0) return;
  uint64_t first = address & ~(uint64_t)(PAGE - 1);
  uint64_t last = (address + length - 1) & ~(uint64_t)(PAGE - 1);
  for (uint32_t i = 0; i < d->count; i++) {
    uint64_t page = d->pages[i];
    if (page == NO_PAGE || page < first || page > last) continue;
    if (d->hi[i] != 0) {
      d->lo[i] = 0;
      d->hi[i] = PAGE;
    } else {
      d->pages[i] = NO_PAGE;
    }
  }
}

/* Forget saved pages: the current memory becomes the state restore returns to. */
void ft_dirty_clear(ft_dirty *d) {
  d->count = 0;
  d->nwritten = 0;
  d->last_page = NO_PAGE;
  d->overflow = 0;
}

/* Rewrite what runs wrote since the last restore; returns how many pages, or -1 if tracking overflowed. */
int ft_dirty_restore(ft_dirty *d) {
  for (uint32_t k = 0; k < d->nwritten; k++) {
    uint32_t slot = d->written[k];
    uint32_t lo = d->lo[slot], hi = d->hi[slot];
    uc_mem_write(d->uc, d->pages[slot] + lo, d->saved + (size_t)slot * PAGE + lo, hi - lo);
    d->hi[slot] = 0;
  }
  int n = (int)d->nwritten;
  d->nwritten = 0;
  d->last_page = NO_PAGE;
  if (d->overflow) {
    ft_dirty_clear(d);
    return -1;
  }
  return n;
}

/*
 * A snapshot restore in one foreign call: the CPU context, then the pages
 * written since the last restore. Returns the pages rewritten, -1 when
 * tracking overflowed, or -(1000 + status) when Unicorn refused the context.
 */
int ft_snapshot_restore(ft_dirty *d, void *context) {
  uc_err status = uc_context_restore(d->uc, context);
  if (status != 0) return -(1000 + (int)status);
  return ft_dirty_restore(d);
}

uint32_t ft_dirty_count(ft_dirty *d) { return d->nwritten; }

void ft_dirty_free(ft_dirty *d) {
  if (!d) return;
  uc_hook_del(d->uc, d->hook);
  free(d->pages);
  free(d->saved);
  free(d->lo);
  free(d->hi);
  free(d->written);
  free(d);
}

/*
 * Watchdog: Unicorn 2.0.1's own timeout is coarse (a 100 ms budget stops
 * after about a second) and leaves the engine's instruction counting broken
 * afterwards, so the wall-time budget is enforced here from a block hook.
 */
#include <time.h>
#define UC_HOOK_BLOCK (1 << 3)

typedef struct {
  uc_engine *uc;
  uc_hook hook;
  uint64_t deadline_ns; /* 0 = disarmed */
  uint32_t blocks;
  uint32_t timed_out;
} ft_watchdog;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_block(uc_engine *uc, uint64_t address __attribute__((unused)), uint32_t size __attribute__((unused)), void *user) {
  ft_watchdog *w = user;
  if (!w->deadline_ns || (++w->blocks & 63) != 0) return;
  if (now_ns() >= w->deadline_ns) {
    w->timed_out = 1;
    uc_emu_stop(uc);
  }
}

ft_watchdog *ft_watchdog_new(uc_engine *uc) {
  ft_watchdog *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->uc = uc;
  if (uc_hook_add(uc, &w->hook, UC_HOOK_BLOCK, (void *)on_block, w, 1, 0) != 0) { free(w); return NULL; }
  return w;
}

/* Arms the watchdog for a run of at most timeout_us microseconds (0 disarms). */
void ft_watchdog_arm(ft_watchdog *w, uint64_t timeout_us) {
  if (timeout_us == 0) { w->deadline_ns = 0; return; }
  w->timed_out = 0;
  w->blocks = 0;
  w->deadline_ns = timeout_us ? now_ns() + timeout_us * 1000u : 0;
}

uint32_t ft_watchdog_timed_out(ft_watchdog *w) { return w->timed_out; }

/*
 * One uc_emu_start as the emulator makes it, in one foreign call instead of
 * four (arm, start, disarm, read the pc): arms the watchdog for timeout_us
 * when `arm` (0 µs: no time budget) or keeps its deadline (a run resumed),
 * runs, and leaves the pc in out[0] and whether the watchdog stopped the
 * run in out[1]. The deadline stays set after the run; the next run arms
 * again. Returns Unicorn's status.
 */
uc_err ft_run(ft_watchdog *w, uint64_t begin, uint64_t until, uint64_t count, int arm, uint64_t timeout_us, int pc_reg, uint64_t *out) {
  if (arm) ft_watchdog_arm(w, timeout_us);
  uc_err status = uc_emu_start(w->uc, begin, until, 0, (size_t)count);
  out[0] = 0;
  uc_reg_read(w->uc, pc_reg, &out[0]);
  out[1] = w->timed_out;
  return status;
}

void ft_watchdog_free(ft_watchdog *w) {
  if (!w) return;
  uc_hook_del(w->uc, w->hook);
  free(w);
}

/*
 * Known-bytes checker, for pages a dump holds only in part (debugger
 * transcripts, small minidump regions): stops the run before an instruction
 * fetches, or a load reads, a byte the dump lacks; bytes a run writes are
 * known from then on, until ft_fetch_restore forgets them. Hooks in C cost
 * ~20 ns; the same checks in JavaScript cost ~250 ns per instruction or read.
 */
typedef struct {
  uint64_t page;
  uint8_t known[PAGE / 8]; /* bit per byte */
} ft_known_page;

typedef struct {
  uc_engine *uc;
  uc_hook hook, read_hook, write_hook;
  int pc_reg;
  ft_known_page *pages;
  uint32_t count, capacity;
  /* Bits set by writes since the baseline: (page index, offset) pairs. */
  uint32_t *undo;
  uint32_t undo_count, undo_capacity;
  uint64_t missing; /* first unknown byte, valid when stopped */
  uint64_t missing_pc;
  uint32_t stopped; /* 0 = no, 1 = fetch, 2 = read */
  uint32_t reads_allowed; /* unknown bytes hold a fill the caller chose: only fetches stop */
} ft_fetch;

static ft_known_page *find_page(ft_fetch *c, uint64_t page) {
  for (uint32_t i = 0; i < c->count; i++)
    if (c->pages[i].page == page) return &c->pages[i];
  return NULL;
}

/* The first unknown byte of [address, address+size) in a registered page, or UINT64_MAX. */
static uint64_t first_unknown(ft_fetch *c, uint64_t address, uint32_t size) {
  ft_known_page *p = NULL;
  for (uint32_t i = 0; i < size; i++) {
    uint64_t at = address + i, page = at & ~(uint64_t)(PAGE - 1);
    if (!p || p->page != page) p = find_page(c, page);
    if (!p) continue;
    uint32_t off = (uint32_t)(at & (PAGE - 1));
    if (!(p->known[off >> 3] & (1u << (off & 7)))) return at;
  }
  return UINT64_MAX;
}

static void stop_at(ft_fetch *c, uc_engine *uc, uint64_t missing, uint64_t pc, uint32_t kind) {
  if (c->stopped) return;
  c->missing = missing;
  c->missing_pc = pc;
  c->stopped = kind;
  uc_emu_stop(uc);
}

static void on_fetch(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  ft_fetch *c = user;
  if (c->count == 0) return;
  /* Unicorn passes size 0xf1f1f1f1 for an instruction it cannot decode: check its first byte. */
  if (size > MAX_INSN) size = 1;
  uint64_t at = first_unknown(c, address, size);
  if (at != UINT64_MAX) stop_at(c, uc, at, address, 1);
}

static void on_read(uc_engine *uc, int type __attribute__((unused)), uint64_t address, int size,
                    int64_t value __attribute__((unused)), void *user) {
  ft_fetch *c = user;
  if (c->count == 0 || c->reads_allowed) return;
  uint64_t at = first_unknown(c, address, (uint32_t)size);
  if (at == UINT64_MAX) return;
  uint64_t pc = 0;
  uc_reg_read_batch(uc, &c->pc_reg, (void *[]){&pc}, 1);
  stop_at(c, uc, at, pc, 2);
}

static void mark_written(ft_fetch *c, uint64_t address, uint32_t size) {
  ft_known_page *p = NULL;
  for (uint32_t i = 0; i < size; i++) {
    uint64_t at = address + i, page = at & ~(uint64_t)(PAGE - 1);
    if (!p || p->page != page) p = find_page(c, page);
    if (!p) continue;
    uint32_t off = (uint32_t)(at & (PAGE - 1));
    if (p->known[off >> 3] & (1u << (off & 7))) continue;
    if (c->undo_count + 2 > c->undo_capacity) {
      uint32_t cap = c->undo_capacity ? c->undo_capacity * 2 : 256;
      uint32_t *undo = realloc(c->undo, cap * sizeof *undo);
      if (!undo) return; /* the byte stays unknown: a later read stops, never reads garbage */
      c->undo = undo;
      c->undo_capacity = cap;
    }
    p->known[off >> 3] |= (uint8_t)(1u << (off & 7));
    c->undo[c->undo_count++] = (uint32_t)(p - c->pages);
    c->undo[c->undo_count++] = off;
  }
}

static void on_known_write(uc_engine *uc __attribute__((unused)), int type __attribute__((unused)), uint64_t address, int size,
                           int64_t value __attribute__((unused)), void *user) {
  ft_fetch *c = user;
  if (c->count) mark_written(c, address, (uint32_t)size);
}

ft_fetch *ft_fetch_new(uc_engine *uc, int pc_reg) {
  ft_fetch *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->uc = uc;
  c->pc_reg = pc_reg;
  if (uc_hook_add(uc, &c->hook, UC_HOOK_CODE, (void *)on_fetch, c, 1, 0) != 0) goto fail;
  if (uc_hook_add(uc, &c->read_hook, UC_HOOK_MEM_READ, (void *)on_read, c, 1, 0) != 0) goto fail;
  if (uc_hook_add(uc, &c->write_hook, UC_HOOK_MEM_WRITE, (void *)on_known_write, c, 1, 0) != 0) goto fail;
  return c;
fail:
  if (c->hook) uc_hook_del(uc, c->hook);
  if (c->read_hook) uc_hook_del(uc, c->read_hook);
  free(c);
  return NULL;
}

/* Registers the pages of [address, address+length) and marks known the bytes where mask[i] != 0. */
int ft_fetch_mark(ft_fetch *c, uint64_t address, const uint8_t *mask, uint32_t length) {
  ft_known_page *p = NULL;
  for (uint32_t i = 0; i < length; i++) {
    uint64_t at = address + i, page = at & ~(uint64_t)(PAGE - 1);
    if (!p || p->page != page) p = find_page(c, page);
    if (!p) {
      if (c->count == c->capacity) {
        uint32_t cap = c->capacity ? c->capacity * 2 : 8;
        ft_known_page *pages = realloc(c->pages, cap * sizeof *pages);
        if (!pages) return -1;
        c->pages = pages;
        c->capacity = cap;
      }
      p = &c->pages[c->count++];
      memset(p, 0, sizeof *p);
      p->page = page;
    }
    if (mask[i]) {
      uint32_t off = (uint32_t)(at & (PAGE - 1));
      p->known[off >> 3] |= (uint8_t)(1u << (off & 7));
    }
  }
  return 0;
}

/* A write the lazy mapper let through (the access that mapped the page): its bytes are known from now on. */
void ft_fetch_write(ft_fetch *c, uint64_t address, uint32_t size) { mark_written(c, address, size); }

/* Bytes written so far stay known: ft_fetch_restore returns here (a snapshot was taken). */
void ft_fetch_baseline(ft_fetch *c) { c->undo_count = 0; }

/* Bytes written since the baseline are unknown again (the snapshot was restored). */
void ft_fetch_restore(ft_fetch *c) {
  for (uint32_t i = 0; i + 1 < c->undo_count; i += 2) {
    ft_known_page *p = &c->pages[c->undo[i]];
    uint32_t off = c->undo[i + 1];
    p->known[off >> 3] &= (uint8_t)~(1u << (off & 7));
  }
  c->undo_count = 0;
}

/* How the last run was stopped on an unknown byte (0 not, 1 fetch, 2 read), and where; clears it. */
uint32_t ft_fetch_stopped(ft_fetch *c, uint64_t *missing, uint64_t *pc) {
  uint32_t s = c->stopped;
  *missing = c->missing;
  *pc = c->missing_pc;
  c->stopped = 0;
  return s;
}

/* Reads of unknown bytes stop the run (0, the default) or read the fill the pages hold (1); fetches always stop. */
void ft_fetch_allow_reads(ft_fetch *c, uint32_t allowed) { c->reads_allowed = allowed; }

/* Whether the last run stopped on an unknown byte, without clearing (cheap to call after every run). */
uint32_t ft_fetch_flag(ft_fetch *c) { return c->stopped; }

void ft_fetch_free(ft_fetch *c) {
  if (!c) return;
  uc_hook_del(c->uc, c->hook);
  uc_hook_del(c->uc, c->read_hook);
  uc_hook_del(c->uc, c->write_hook);
  free(c->pages);
  free(c->undo);
  free(c);
}

/*
 * A file writer on its own thread, so a trace's bytes reach the file while
 * the emulation goes on: the caller copies each message into the chunk being
 * filled; once a message ends past WRITER_CHUNK bytes the chunk goes to the
 * thread (waiting only while the thread still writes the one before) and
 * the other chunk is filled. Chunks end at message boundaries, so a run
 * killed mid-way leaves whole messages. A failed write is kept (its errno)
 * and returned by the next call.
 */
#define WRITER_CHUNK (4u << 20)
/* A chunk also goes once it is this old, so a reader following the file sees a slow run's progress. */
#define WRITER_AGE_NS 200000000ull

typedef struct {
  uint8_t *data;
  size_t len, cap;
} ft_chunk;

typedef struct {
  int fd;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  ft_chunk chunk[2];
  int filling;  /* the chunk the caller fills; the other is the thread's */
  bool busy;    /* the thread has the other chunk to write */
  bool stop;
  int error;
  uint64_t handed_at;  /* when the last chunk went to the thread (CLOCK_MONOTONIC, ns) */
} ft_writer;

static uint64_t writer_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *writer_main(void *arg) {
  ft_writer *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->busy && !w->stop) pthread_cond_wait(&w->cond, &w->lock);
    if (!w->busy) break;
    ft_chunk *c = &w->chunk[1 - w->filling];
    pthread_mutex_unlock(&w->lock);
    int error = 0;
    size_t done = 0;
    while (done < c->len) {
      ssize_t n = write(w->fd, c->data + done, c->len - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        error = errno;
        break;
      }
      done += (size_t)n;
    }
    pthread_mutex_lock(&w->lock);
    c->len = 0;
    if (error && !w->error) w->error = error;
    w->busy = false;
    pthread_cond_broadcast(&w->cond);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Gives the filled chunk to the thread once it is free (and nothing when the chunk is empty). */
static void writer_hand_off(ft_writer *w) {
  pthread_mutex_lock(&w->lock);
  while (w->busy) pthread_cond_wait(&w->cond, &w->lock);
  w->handed_at = writer_now();
  if (w->chunk[w->filling].len > 0) {
    w->filling = 1 - w->filling;
    w->busy = true;
    pthread_cond_broadcast(&w->cond);
  }
  pthread_mutex_unlock(&w->lock);
}

ft_writer *ft_writer_new(int fd) {
  ft_writer *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->fd = fd;
  w->handed_at = writer_now();
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->cond, NULL);
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
    return NULL;
  }
  return w;
}

/* Appends bytes to the current message; 0, or the errno of an earlier failed write (ENOMEM when out of memory). */
int ft_writer_write(ft_writer *w, const uint8_t *data, size_t len) {
  ft_chunk *c = &w->chunk[w->filling];
  if (c->len + len > c->cap) {
    size_t cap = c->cap ? c->cap : WRITER_CHUNK + (WRITER_CHUNK >> 1);
    while (cap < c->len + len) cap *= 2;
    uint8_t *grown = realloc(c->data, cap);
    if (!grown) return ENOMEM;
    c->data = grown;
    c->cap = cap;
  }
  memcpy(c->data + c->len, data, len);
  c->len += len;
  pthread_mutex_lock(&w->lock);
  int error = w->error;
  pthread_mutex_unlock(&w->lock);
  return error;
}

/* Ends a message: the chunk goes to the thread once it holds WRITER_CHUNK bytes or is WRITER_AGE_NS old. */
int ft_writer_end_message(ft_writer *w) {
  size_t len = w->chunk[w->filling].len;
  if (len >= WRITER_CHUNK || (len > 0 && writer_now() - w->handed_at >= WRITER_AGE_NS)) writer_hand_off(w);
  pthread_mutex_lock(&w->lock);
  int error = w->error;
  pthread_mutex_unlock(&w->lock);
  return error;
}

/* Writes out everything appended and waits for it; 0 or the errno of a failed write. */
int ft_writer_flush(ft_writer *w) {
  writer_hand_off(w);
  pthread_mutex_lock(&w->lock);
  while (w->busy) pthread_cond_wait(&w->cond, &w->lock);
  int error = w->error;
  pthread_mutex_unlock(&w->lock);
  return error;
}

/* Flushes, stops the thread and frees the writer (the descriptor stays open); 0 or an errno as ft_writer_flush. */
int ft_writer_free(ft_writer *w) {
  if (!w) return 0;
  int error = ft_writer_flush(w);
  pthread_mutex_lock(&w->lock);
  w->stop = true;
  pthread_cond_broadcast(&w->cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->cond);
  free(w->chunk[0].data);
  free(w->chunk[1].data);
  free(w);
  return error;
}
