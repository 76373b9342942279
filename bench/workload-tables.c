/*
 * faultline's second benchmark workload, of another character than
 * workload.c: pointer chasing through a shuffled linked list and calls
 * through a table of function pointers (indirect calls and returns, short
 * blocks, loads that depend on loads). Freestanding x86-64 C built and
 * checked like workload.c (`_start` leaves the result in rax and stops at
 * `bench_end`; with BENCH_HOST_CHECK the host computes the same result).
 * N and ROUNDS give about 20 M instructions with gcc 12 -O1.
 */
typedef unsigned int u32;
typedef unsigned long u64;

#define N 4096
#define ROUNDS 256
#define BENCH_SEED "0x1b873593"

struct node {
  struct node *next;
  u32 value;
  u32 op;
};

static struct node nodes[N];
static u32 order[N];
static u32 seed;

static u32 next_random(void) {
  seed = seed * 1664525u + 1013904223u;
  return seed >> 8;
}

typedef u64 (*op_fn)(u64 acc, u32 value);
__attribute__((noinline)) static u64 op_add(u64 acc, u32 value) { return acc + value; }
__attribute__((noinline)) static u64 op_xor(u64 acc, u32 value) { return acc ^ ((u64)value << 13); }
__attribute__((noinline)) static u64 op_rot(u64 acc, u32 value) { return (acc << (value & 31)) | (acc >> (64 - (value & 31) - 1) >> 1); }
__attribute__((noinline)) static u64 op_mul(u64 acc, u32 value) { return acc * (value | 1); }
static op_fn const table[4] = {op_add, op_xor, op_rot, op_mul};

/* Links the nodes in a random order (a Fisher-Yates shuffle of their indexes). */
static void shuffle_links(void) {
  for (u32 i = 0; i < N; i++) order[i] = i;
  for (u32 i = N - 1; i > 0; i--) {
    u32 j = next_random() % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (u32 i = 0; i < N; i++) {
    struct node *n = &nodes[order[i]];
    n->next = i + 1 < N ? &nodes[order[i + 1]] : 0;
    n->value = next_random();
    n->op = next_random() & 3;
  }
}

__attribute__((noinline)) u64 workload(u32 first_seed) {
  u64 result = 0;
  seed = first_seed;
  for (int round = 0; round < ROUNDS; round++) {
    if (round % 8 == 0) shuffle_links();
    for (struct node *n = &nodes[order[0]]; n; n = n->next) result = table[n->op](result, n->value);
    result ^= (u64)round;
  }
  return result;
}

#ifndef BENCH_HOST_CHECK
__asm__(
  ".section .text.start,\"ax\"\n"
  ".globl _start\n"
  "_start:\n"
  "  mov $" BENCH_SEED ", %edi\n"
  "  call workload\n"
  ".globl bench_end\n"
  "bench_end:\n"
  "  hlt\n"
  ".text\n");
#endif
