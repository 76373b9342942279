/*
 * faultline's benchmark workload: freestanding x86-64 C (no libc, no
 * syscalls) that the bench compiles, links at 0x401000 and loads as raw
 * bytes. Each round fills an array from a linear congruential generator,
 * sorts it with a recursive quicksort, checks the order and folds an FNV-1a
 * hash into the result: calls, loops, loads and stores in a fixed mix.
 * `_start` leaves the result in rax and stops at `bench_end` (a hlt the
 * bench uses as its end address). N and ROUNDS give about 20.5 M
 * instructions with gcc 12 -O1; the bench counts them exactly each time.
 * Built with BENCH_HOST_CHECK, the stub is left out so a host program can
 * call `workload` and print the result every emulated run must match.
 */
typedef unsigned int u32;
typedef unsigned long u64;

#define N 1024
#define ROUNDS 120
#define BENCH_SEED "0x2545f491"

static u32 data[N];
static u32 seed;

static u32 next_random(void) {
  seed = seed * 1103515245u + 12345u;
  return seed >> 8;
}

static void fill(u32 *a, int n) {
  for (int i = 0; i < n; i++) a[i] = next_random();
}

static void swap(u32 *a, int i, int j) {
  u32 t = a[i];
  a[i] = a[j];
  a[j] = t;
}

static void quicksort(u32 *a, int lo, int hi) {
  while (lo < hi) {
    u32 pivot = a[lo + (hi - lo) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) swap(a, i++, j--);
    }
    /* Recurse into the smaller side so the stack stays shallow. */
    if (j - lo < hi - i) {
      quicksort(a, lo, j);
      lo = i;
    } else {
      quicksort(a, i, hi);
      hi = j;
    }
  }
}

static u64 fnv1a(const u32 *a, int n) {
  u64 h = 0xcbf29ce484222325ul;
  for (int i = 0; i < n; i++) {
    h ^= a[i];
    h *= 0x100000001b3ul;
  }
  return h;
}

static int sorted(const u32 *a, int n) {
  for (int i = 1; i < n; i++)
    if (a[i - 1] > a[i]) return 0;
  return 1;
}

/* noinline keeps one real call per round however gcc inlines the rest. */
__attribute__((noinline)) u64 workload(u32 first_seed) {
  u64 result = 0;
  seed = first_seed;
  for (int round = 0; round < ROUNDS; round++) {
    fill(data, N);
    quicksort(data, 0, N - 1);
    if (!sorted(data, N)) return 0;
    result = (result << 7 | result >> 57) ^ fnv1a(data, N) ^ (u64)round;
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
