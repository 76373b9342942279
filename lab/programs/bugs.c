/*
 * The lab's genuine software bugs: each crashes the way real programs do,
 * with no injected fault. Run as `bugs BUG [VARIANT]`. A case of this
 * program is never labelled hardware.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

struct widget;
struct widget_ops {
  int (*draw)(struct widget *, int);
  int (*size)(struct widget *);
};
struct widget {
  char name[16]; /* glibc's tcache keeps its links here once freed */
  int (*on_event)(struct widget *, int);
  const struct widget_ops *ops;
  long data[4];
};

NOINLINE int widget_draw(struct widget *w, int x) { return (int)w->data[0] + x; }
NOINLINE int widget_size(struct widget *w) { return (int)sizeof *w + (int)w->data[1]; }
NOINLINE int widget_event(struct widget *w, int x) { return w->name[0] + x; }
static const struct widget_ops default_ops = { widget_draw, widget_size };

NOINLINE struct widget *widget_new(const char *name) {
  struct widget *w = malloc(sizeof *w);
  memset(w, 0, sizeof *w);
  strncpy(w->name, name, sizeof w->name - 1);
  w->on_event = widget_event;
  w->ops = &default_ops;
  return w;
}

/* A debug allocator's free: fills the block with a 32-bit pattern first. */
NOINLINE void debug_free(void *p, size_t size, uint32_t pattern) {
  for (size_t i = 0; i + 4 <= size; i += 4) memcpy((char *)p + i, &pattern, 4);
  free(p);
}

NOINLINE int dispatch_event(struct widget *w, int x) { return w->on_event(w, x); }
NOINLINE int draw(struct widget *w, int x) { return w->ops->draw(w, x); }

/*
 * Use after free: glibc fills freed memory with MALLOC_PERTURB_'s byte (on
 * the paths past its thread cache: run with glibc.malloc.tcache_count=0).
 */
NOINLINE int bug_uaf_perturb(void) {
  struct widget *w = widget_new("perturb");
  int r = dispatch_event(w, 1);
  free(w);
  return r + dispatch_event(w, 2);
}

/* Use after free with a debug allocator's fill pattern. */
NOINLINE int bug_uaf_pattern(uint32_t pattern) {
  struct widget *w = widget_new("pattern");
  int r = draw(w, 1);
  debug_free(w, sizeof *w, pattern);
  return r + draw(w, 2);
}

NOINLINE int bug_null_vtable(void) {
  struct widget *w = widget_new("no-ops");
  w->ops = NULL;
  return draw(w, 3);
}

NOINLINE int bug_null_fnptr(void) {
  struct widget *w = widget_new("no-handler");
  w->on_event = NULL;
  return dispatch_event(w, 4);
}

/* An uninitialised local: it holds what an earlier call left in that stack slot. */
NOINLINE long leave_garbage(long seed) {
  volatile long slots[8];
  for (int i = 0; i < 8; i++) slots[i] = seed * (i + 3) + 0x1000 * i;
  return slots[seed & 7];
}
NOINLINE int use_uninitialised(int x) {
  volatile long slots[8];
  int (*volatile handler)(int);
  memcpy((void *)&handler, (const void *)&slots[x & 7], sizeof handler);
  return handler(x);
}
NOINLINE int bug_uninit_fnptr(long seed) {
  leave_garbage(seed);
  return use_uninitialised((int)seed);
}

/* A pointer from nowhere: computed from a bad index. */
NOINLINE long bug_wild_pointer(unsigned long address) {
  volatile long *p = (volatile long *)address;
  return *p + 1;
}

NOINLINE long bug_wild_write(unsigned long address) {
  volatile long *p = (volatile long *)address;
  *p = 42;
  return 0;
}

NOINLINE long bug_noncanonical(void) {
  /* Linux's list poison style: a pointer no CPU can use. */
  volatile long *p = (volatile long *)(uintptr_t)0xdead000000000100ull;
  return *p;
}

NOINLINE long recurse(long depth) {
  volatile char frame[512];
  frame[depth & 511] = (char)depth;
  return recurse(depth + 1) + frame[(depth * 7) & 511];
}

NOINLINE int bug_assert(int value) {
  assert(value > 0 && "value must be positive");
  return value;
}

NOINLINE void release(char *p) { free(p); }

NOINLINE int bug_double_free(void) {
  char *volatile p = malloc(32);
  strcpy(p, "twice");
  release(p);
  release(p);
  return 0;
}

NOINLINE int divide(int a, int b) { return a / b; }

NOINLINE int bug_trap(int x) {
  if (x >= 0) __builtin_trap();
  return x;
}

/* Like DbgBreakPoint: a function whose only job is to stop in a debugger. */
NOINLINE void debug_break(void) {
#if defined(__aarch64__)
  __asm__ volatile("brk #0");
#else
  __asm__ volatile("int3");
#endif
}

NOINLINE int bug_breakpoint(int x) {
  if (x >= 0) debug_break();
  return x;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bugs BUG [VALUE]\n");
    return 2;
  }
  const char *bug = argv[1];
  unsigned long value = argc > 2 ? strtoul(argv[2], 0, 0) : 0;
  long r = 0;
  if (!strcmp(bug, "uaf-perturb")) r = bug_uaf_perturb();
  else if (!strcmp(bug, "uaf-pattern")) r = bug_uaf_pattern((uint32_t)value);
  else if (!strcmp(bug, "null-vtable")) r = bug_null_vtable();
  else if (!strcmp(bug, "null-fnptr")) r = bug_null_fnptr();
  else if (!strcmp(bug, "uninit-fnptr")) r = bug_uninit_fnptr((long)value);
  else if (!strcmp(bug, "wild-pointer")) r = bug_wild_pointer(value);
  else if (!strcmp(bug, "wild-write")) r = bug_wild_write(value);
  else if (!strcmp(bug, "noncanonical")) r = bug_noncanonical();
  else if (!strcmp(bug, "stack-overflow")) r = recurse((long)value);
  else if (!strcmp(bug, "assert")) r = bug_assert(-(int)value);
  else if (!strcmp(bug, "double-free")) r = bug_double_free();
  else if (!strcmp(bug, "divide-by-zero")) r = divide((int)value + 7, (int)(value - value));
  else if (!strcmp(bug, "trap")) r = bug_trap((int)value);
  else if (!strcmp(bug, "breakpoint")) r = bug_breakpoint((int)value);
  else {
    fprintf(stderr, "unknown bug %s\n", bug);
    return 2;
  }
  printf("%ld\n", r);
  return 0;
}
