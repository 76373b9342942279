/*
 * The lab's workload: loops with the control-flow and data shapes real
 * crashes have. Run as `shapes SHAPE ITERATIONS`; without a fault it prints
 * a checksum and exits 0. The lab injects faults into it with gdb; the
 * functions named run_* and the ones they call are the injection sites.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOINLINE __attribute__((noinline))

/* Targets of the indirect calls: real functions, each different. */
NOINLINE int add_one(int x) { return x + 1; }
NOINLINE int twice(int x) { return x * 2; }
NOINLINE int square_mod(int x) { return (x * x) % 1009; }
NOINLINE int negate_xor(int x) { return -x ^ 0x5a; }

static int (*const choices[4])(int) = { add_one, twice, square_mod, negate_xor };

/* 1. A global function pointer, reloaded from memory on every call. */
int (*volatile global_handler)(int);

NOINLINE long run_fnptr_global(int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += global_handler(i);
  return sum;
}

/* 2. A function pointer in a struct member. */
struct op {
  int k;
  int (*fn)(struct op *, int);
};
NOINLINE int op_scale(struct op *o, int x) { return o->k * x; }
NOINLINE int op_offset(struct op *o, int x) { return o->k + x; }

NOINLINE long run_fnptr_struct(struct op *ops, int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) {
    struct op *o = &ops[i & 3];
    sum += o->fn(o, i);
  }
  return sum;
}

/* 3. A function pointer passed as an argument. */
NOINLINE int apply(int (*fn)(int), int x) { return fn(x) + 1; }

NOINLINE long run_fnptr_arg(int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += apply(choices[i & 3], i);
  return sum;
}

/* 4. A virtual call: object → vtable → method. */
struct shape;
struct vtable {
  int (*area)(const struct shape *);
  int (*perimeter)(const struct shape *);
};
struct shape {
  const struct vtable *vt;
  int w, h;
};
NOINLINE int rect_area(const struct shape *s) { return s->w * s->h; }
NOINLINE int rect_perimeter(const struct shape *s) { return 2 * (s->w + s->h); }
NOINLINE int tri_area(const struct shape *s) { return s->w * s->h / 2; }
NOINLINE int tri_perimeter(const struct shape *s) { return s->w + s->h + (s->w > s->h ? s->w : s->h); }
static const struct vtable rect_vt = { rect_area, rect_perimeter };
static const struct vtable tri_vt = { tri_area, tri_perimeter };

NOINLINE long run_virtual(struct shape **shapes, int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) {
    struct shape *s = shapes[i & 7];
    sum += s->vt->area(s) + s->vt->perimeter(s);
  }
  return sum;
}

/* 5. A switch dense enough for a jump table. */
NOINLINE int classify(int x) {
  switch (x % 12) {
  case 0: return x + 3;
  case 1: return x * 5;
  case 2: return x - 11;
  case 3: return x ^ 0x33;
  case 4: return x << 2;
  case 5: return x / 3;
  case 6: return x | 0x100;
  case 7: return x * x;
  case 8: return x >> 1;
  case 9: return x % 7;
  case 10: return 100 - x;
  default: return ~x;
  }
}

NOINLINE long run_jumptable(int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += classify(i * 7 + 1);
  return sum;
}

/* 6. A tail call through a pointer (a jmp at -O2). */
NOINLINE int dispatch(int x) { return choices[(x >> 1) & 3](x); }

NOINLINE long run_tailcall(int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += dispatch(i);
  return sum;
}

/* 7. Returns: a non-leaf callee whose return address sits in memory. */
NOINLINE int mix(int a, int b) { return (a * 31) ^ b; }
NOINLINE int leaf_chain(int x) {
  int y = mix(x, x + 1);
  return mix(y, x) + 1;
}

NOINLINE long run_return(int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += leaf_chain(i);
  return sum;
}

/* 8. A loaded pointer dereferenced: a linked list. */
struct node {
  long value;
  struct node *next;
};

NOINLINE long run_data_pointer(struct node *head, int n) {
  long sum = 0;
  for (int i = 0; i < n; i++)
    for (struct node *p = head; p; p = p->next) sum += p->value;
  return sum;
}

/* 9. An array walk through an index array. */
NOINLINE long run_array_walk(const int *values, const int *index, int count, int n) {
  long sum = 0;
  for (int r = 0; r < n; r++)
    for (int i = 0; i < count; i++) sum += values[index[i]];
  return sum;
}

/* 10. A callback several frames deep. */
NOINLINE int level3(int (*cb)(int), int x) { return cb(x) + 3; }
NOINLINE int level2(int (*cb)(int), int x) { return level3(cb, x + 1) * 2; }
NOINLINE int level1(int (*cb)(int), int x) { return level2(cb, x ^ 5) - 1; }

NOINLINE long run_callbacks_deep(int n) {
  long sum = 0;
  for (int i = 0; i < n; i++) sum += level1(choices[(i + 1) & 3], i);
  return sum;
}

/*
 * Called by the lab's injector (gdb `call`) under qemu-user, whose gdbstub
 * cannot write code pages: flips `mask` in the code byte at `address` from
 * inside the guest, so qemu drops the code it translated from that page.
 * The page stays writable: qemu dumps only writable mappings of a file, and
 * a kernel likewise dumps a code page once it has been written (copied on
 * write), so the core holds the flipped byte as a real one would.
 */
int lab_flip_code(unsigned long address, unsigned int mask) {
  void *page = (void *)(address & ~4095UL);
  if (mprotect(page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC)) return -1;
  *(volatile unsigned char *)address ^= (unsigned char)mask;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: shapes SHAPE ITERATIONS\n");
    return 2;
  }
  const char *shape = argv[1];
  int n = atoi(argv[2]);
  long sum = 0;
  global_handler = choices[n & 3];
  if (!strcmp(shape, "fnptr-global")) sum = run_fnptr_global(n);
  else if (!strcmp(shape, "fnptr-struct")) {
    struct op *ops = malloc(4 * sizeof *ops);
    for (int i = 0; i < 4; i++) ops[i] = (struct op){ i + 2, (i & 1) ? op_offset : op_scale };
    sum = run_fnptr_struct(ops, n);
  } else if (!strcmp(shape, "fnptr-arg")) sum = run_fnptr_arg(n);
  else if (!strcmp(shape, "virtual")) {
    struct shape *shapes[8];
    for (int i = 0; i < 8; i++) {
      shapes[i] = malloc(sizeof *shapes[i]);
      *shapes[i] = (struct shape){ (i & 1) ? &tri_vt : &rect_vt, i + 1, 9 - i };
    }
    sum = run_virtual(shapes, n);
  } else if (!strcmp(shape, "jumptable")) sum = run_jumptable(n);
  else if (!strcmp(shape, "tailcall")) sum = run_tailcall(n);
  else if (!strcmp(shape, "return")) sum = run_return(n);
  else if (!strcmp(shape, "data-pointer")) {
    struct node *head = 0;
    for (int i = 0; i < 6; i++) {
      struct node *node = malloc(sizeof *node);
      *node = (struct node){ i * 10 + 1, head };
      head = node;
    }
    sum = run_data_pointer(head, n);
  } else if (!strcmp(shape, "array-walk")) {
    int *values = malloc(64 * sizeof *values), *index = malloc(16 * sizeof *index);
    for (int i = 0; i < 64; i++) values[i] = i * 3 + 1;
    for (int i = 0; i < 16; i++) index[i] = (i * 13) & 63;
    sum = run_array_walk(values, index, 16, n);
  } else if (!strcmp(shape, "callbacks-deep")) sum = run_callbacks_deep(n);
  else {
    fprintf(stderr, "unknown shape %s\n", shape);
    return 2;
  }
  printf("%ld\n", sum);
  return 0;
}
