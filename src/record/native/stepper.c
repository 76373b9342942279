/*
 * faultline-stepper: runs a program under ptrace single-step and writes
 * what the CPU did, instruction by instruction, to a file
 * (src/record/stepper.ts reads it and writes the .fltrace).
 *
 *   faultline-stepper OUT MAX_INSTRUCTIONS MASK_CPUID PROGRAM [ARGS...]
 *
 * MASK_CPUID 1: `cpuid` is not stepped but answered by the helper (the same
 * CPU's answer) with the AVX, AVX2, AVX-512, FMA, F16C, XSAVE and TSX
 * feature bits cleared, so that libraries choose code an emulator runs; the
 * program's registers are set as if it had executed it.
 *
 * Linux x86-64 only. Address-space randomisation is turned off for the
 * program (as gdb does), so a recording and a debugger session of the same
 * program see the same addresses.
 *
 * The file (host byte order, little-endian on x86-64):
 *   "FLSTEP1\0", u32 register count (27: struct user_regs_struct), u64 x 27 start registers
 *   then records, each starting with a one-byte tag:
 *   'I' u64 pc, u32 mask, u64 x popcount(mask)   one instruction: pc before it, registers it changed (after)
 *   'C' u64 address, u8 n, n bytes                 the bytes at address (first seen, or changed since)
 *   'S' i32 signal, u64 pc, u32 mask, u64 x k      a signal stopped the program at pc (no instruction ran;
 *                                                  the registers that changed, usually none)
 *   'H' i32 signal, u64 pc, u32 mask, u64 x k      the signal was delivered to its handler: the registers the
 *                                                  kernel set to enter it (no instruction ran)
 *   'E' i32 kind, i32 value                        end: kind 0 exited with value, 1 killed by signal value,
 *                                                  2 instruction budget reached (the program was killed)
 *   'M' u64 start, u64 length, u32 prot            a mapping appeared (prot: 1 read, 2 write, 4 execute), zero-filled
 *                                                  unless 'W' records follow
 *   'U' u64 start, u64 length                      a mapping went away (or changed: an 'M' follows)
 *   'W' u64 address, u32 n, n bytes                memory the kernel wrote (or the mapping's content)
 *
 * Memory: right after the start registers, every readable mapping of the
 * program ('M', then 'W' for its pages that are not zero): the initial
 * image. After each system call and each signal delivered to a handler
 * (the kernel writes the frame), the mappings that changed ('U', 'M', 'W')
 * and the pages of writable mappings the kernel changed ('W', compared
 * with a copy taken before the step). They follow the 'I' or 'H' record
 * they belong to. Memory the program writes itself is not recorded.
 *
 * Instruction bytes are read once per address and re-read after every
 * system call (which may map or change code); code that rewrites itself
 * without one is recorded with the bytes first seen.
 *
 * Served mode (the fast recorder, src/record/fast-record.ts):
 *
 *   faultline-stepper --serve REPLY_FIFO COMMAND_FIFO MASK_CPUID PROGRAM [ARGS...]
 *
 * The same records go to REPLY_FIFO, but the program runs only as far as it
 * is told. Commands (9 bytes: a tag, u64 address) from COMMAND_FIFO:
 *   'G' address   run natively (PTRACE_SYSCALL) until an int3 put at
 *                 address stops it (before the instruction there runs);
 *                 when the program is at address already, one instruction
 *                 is stepped first (not recorded)
 *   'T' 0         step one instruction and record it as in the file mode
 *                 ('I', 'S', 'H', memory changes, 'E')
 *   'K' 0         kill the program ('E' kind 2) and end
 * Every reply ends with 'Z', u64 x 27: the registers now. Besides the file
 * mode's records a reply may hold
 *   'Y' u64 pc                                     'G' stopped at a system call at pc that was not
 *                                                  the breakpoint (the emulator did not predict it)
 *   '!' u32 n, n bytes                              the helper failed (the message); nothing follows
 * The header, the start registers and the initial image come first, then a 'Z'.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define NREGS 27
#define CODE_SLOTS (1u << 16)
#define CODE_BYTES 16

struct code_slot {
  uint64_t pc;
  uint32_t generation;
  uint8_t length;
  uint8_t bytes[CODE_BYTES];
};

static struct code_slot *code;
static uint32_t generation = 1;
static FILE *out;
static int serving;

/* In served mode the reader learns why from a '!' record (it is blocked on the FIFO, not on stderr). */
static void fail_record(const char *message) {
  if (!serving || !out) return;
  uint32_t n = (uint32_t)strlen(message);
  fwrite("!", 1, 1, out);
  fwrite(&n, 4, 1, out);
  fwrite(message, 1, n, out);
  fflush(out);
}

static void fail(const char *what) {
  char message[512];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  fprintf(stderr, "faultline-stepper: %s\n", message);
  fail_record(message);
  exit(3);
}

static void put(const void *data, size_t size) {
  if (fwrite(data, 1, size, out) != size) fail("cannot write the recording");
}

static void put_regs(const uint64_t *before, const uint64_t *after) {
  uint32_t mask = 0;
  for (int i = 0; i < NREGS; i++) if (before[i] != after[i]) mask |= 1u << i;
  put(&mask, 4);
  for (int i = 0; i < NREGS; i++) if (mask & (1u << i)) put(&after[i], 8);
}

/* Up to CODE_BYTES bytes at pc, stopping at an unreadable page. */
static uint8_t read_code(pid_t pid, uint64_t pc, uint8_t *bytes) {
  uint64_t page_end = (pc | 4095) + 1;
  size_t first = page_end - pc < CODE_BYTES ? (size_t)(page_end - pc) : CODE_BYTES;
  struct iovec local = {bytes, first}, remote = {(void *)pc, first};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n != (ssize_t)first) return n > 0 ? (uint8_t)n : 0;
  if (first == CODE_BYTES) return CODE_BYTES;
  struct iovec local2 = {bytes + first, CODE_BYTES - first}, remote2 = {(void *)page_end, CODE_BYTES - first};
  ssize_t m = process_vm_readv(pid, &local2, 1, &remote2, 1, 0);
  return (uint8_t)(first + (m > 0 ? (size_t)m : 0));
}

/* Writes a 'C' record when the bytes at pc were not seen in this generation and differ from the last ones written. */
static const struct code_slot *note_code(pid_t pid, uint64_t pc) {
  struct code_slot *slot = &code[(pc ^ (pc >> 16)) & (CODE_SLOTS - 1)];
  if (slot->pc == pc && slot->generation == generation) return slot;
  uint8_t bytes[CODE_BYTES];
  uint8_t length = read_code(pid, pc, bytes);
  int same = slot->pc == pc && slot->generation != 0 && slot->length == length && memcmp(slot->bytes, bytes, length) == 0;
  slot->pc = pc;
  slot->generation = generation;
  slot->length = length;
  memcpy(slot->bytes, bytes, length);
  if (!same) {
    put("C", 1);
    put(&pc, 8);
    put(&length, 1);
    put(bytes, length);
  }
  return slot;
}

static int is_syscall(const struct code_slot *slot) {
  return slot->length >= 2 && slot->bytes[0] == 0x0f && slot->bytes[1] == 0x05;
}

/* ---- memory ---------------------------------------------------------------- */

#define MAX_REGIONS 4096
#define PAGE 4096

struct region {
  uint64_t start, end;
  uint32_t prot;
  uint8_t *copy; /* writable and readable regions: their bytes when last recorded */
};

static struct region regions[MAX_REGIONS], fresh[MAX_REGIONS];
static int nregions;

/* Reads /proc/PID/maps into out (user-space mappings only: not [vsyscall]). */
static int read_maps(pid_t pid, struct region *out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) fail("cannot read the program's /proc/PID/maps");
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f) && n < MAX_REGIONS) {
    unsigned long long start, end;
    char perms[8];
    if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3) continue;
    if (start >= 0x800000000000ull) continue;
    out[n].start = start;
    out[n].end = end;
    out[n].prot = (perms[0] == 'r' ? 1 : 0) | (perms[1] == 'w' ? 2 : 0) | (perms[2] == 'x' ? 4 : 0);
    out[n].copy = NULL;
    n++;
  }
  fclose(f);
  return n;
}

/* Reads [address, address+length) page by page; unreadable pages read as zero. */
static void read_memory(pid_t pid, uint64_t address, uint64_t length, uint8_t *into) {
  struct iovec local = {into, length}, remote = {(void *)address, length};
  if (process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)length) return;
  for (uint64_t at = 0; at < length; at += PAGE) {
    struct iovec l = {into + at, PAGE}, r = {(void *)(address + at), PAGE};
    if (process_vm_readv(pid, &l, 1, &r, 1, 0) != PAGE) memset(into + at, 0, PAGE);
  }
}

static void put_write(uint64_t address, const uint8_t *bytes, uint32_t length) {
  put("W", 1);
  put(&address, 8);
  put(&length, 4);
  put(bytes, length);
}

/* 'W' records for the runs of pages of `now` that differ from `before` (or are not zero, without `before`). */
static void put_changed_pages(uint64_t start, uint64_t length, const uint8_t *now, const uint8_t *before) {
  static const uint8_t zero[PAGE];
  uint64_t run = 0;
  int in_run = 0;
  for (uint64_t at = 0; at <= length; at += PAGE) {
    int changed = at < length && memcmp(now + at, before ? before + at : zero, PAGE) != 0;
    if (changed && !in_run) { run = at; in_run = 1; }
    if (!changed && in_run) {
      put_write(start + run, now + run, (uint32_t)(at - run));
      in_run = 0;
    }
  }
}

/* Records a new mapping and its content; keeps a copy of a writable one. */
static void put_region(pid_t pid, struct region *r) {
  uint64_t length = r->end - r->start;
  put("M", 1);
  put(&r->start, 8);
  put(&length, 8);
  put(&r->prot, 4);
  if (!(r->prot & 1)) return;
  uint8_t *bytes = malloc(length);
  if (!bytes) fail("out of memory");
  read_memory(pid, r->start, length, bytes);
  put_changed_pages(r->start, length, bytes, NULL);
  if (r->prot & 2) r->copy = bytes;
  else free(bytes);
}

/* The initial image: every mapping and its content. */
static void put_image(pid_t pid) {
  nregions = read_maps(pid, regions);
  for (int i = 0; i < nregions; i++) put_region(pid, &regions[i]);
}

/* Before a step that enters the kernel: the copies to compare with are the program's memory now. */
static void refresh_copies(pid_t pid) {
  for (int i = 0; i < nregions; i++)
    if (regions[i].copy) read_memory(pid, regions[i].start, regions[i].end - regions[i].start, regions[i].copy);
}

/* After it: mappings that changed, and pages the kernel wrote. */
static void put_memory_changes(pid_t pid) {
  int n = read_maps(pid, fresh);
  for (int i = 0; i < nregions; i++) {
    struct region *old = &regions[i];
    int kept = 0;
    for (int j = 0; j < n && !kept; j++)
      if (fresh[j].start == old->start && fresh[j].end == old->end && fresh[j].prot == old->prot) kept = 1;
    if (kept) continue;
    uint64_t length = old->end - old->start;
    put("U", 1);
    put(&old->start, 8);
    put(&length, 8);
    free(old->copy);
    old->copy = NULL;
    old->end = old->start; /* gone */
  }
  for (int j = 0; j < n; j++) {
    struct region *now = &fresh[j];
    struct region *old = NULL;
    for (int i = 0; i < nregions && !old; i++)
      if (regions[i].start == now->start && regions[i].end == now->end && regions[i].prot == now->prot) old = &regions[i];
    if (!old) {
      put_region(pid, now);
      continue;
    }
    now->copy = old->copy;
    old->copy = NULL;
    if (now->copy) {
      uint64_t length = now->end - now->start;
      uint8_t *bytes = malloc(length);
      if (!bytes) fail("out of memory");
      read_memory(pid, now->start, length, bytes);
      put_changed_pages(now->start, length, bytes, now->copy);
      free(now->copy);
      now->copy = bytes;
    }
  }
  for (int i = 0; i < nregions; i++) free(regions[i].copy);
  memcpy(regions, fresh, sizeof(struct region) * (size_t)n);
  nregions = n;
}

/* The CPU's answer to cpuid(leaf, subleaf) without the features Unicorn does not emulate. */
static void masked_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  uint32_t a, b, c, d;
  __cpuid_count(leaf, subleaf, a, b, c, d);
  if (leaf == 1) c &= ~((1u << 12) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29)); /* FMA XSAVE OSXSAVE AVX F16C */
  if (leaf == 7 && subleaf == 0) {
    b &= ~((1u << 4) | (1u << 5) | (1u << 11) | (1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31)); /* HLE AVX2 RTM AVX-512 */
    c &= ~((1u << 1) | (1u << 6) | (1u << 9) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 14)); /* AVX-512 VBMI.., VAES, VPCLMULQDQ */
    d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23)); /* AVX-512 4VNNIW 4FMAPS VP2INTERSECT FP16 */
  }
  if (leaf == 7 && subleaf == 1) a &= ~((1u << 4) | (1u << 5)); /* AVX-VNNI AVX512_BF16 */
  if (leaf == 0xd) a = b = c = d = 0;
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
}

static void end(int32_t kind, int32_t value) {
  put("E", 1);
  put(&kind, 4);
  put(&value, 4);
}

static pid_t pid;
static uint64_t regs[NREGS];
static int mask_cpuid;
static int signal_to_deliver;

/* Reports a signal that stopped the tracee at `pc` before an instruction completed, and keeps it to deliver on the next step. */
static void report_signal(int sig, uint64_t pc, uint64_t *regs, uint64_t *next) {
  int32_t s = sig;
  put("S", 1);
  put(&s, 4);
  put(&pc, 8);
  put_regs(regs, next);
  signal_to_deliver = sig;
}
#define RIP ((int)(offsetof(struct user_regs_struct, rip) / 8))

/*
 * Steps the instruction at the program's pc (or answers a masked `cpuid`, or
 * delivers the pending signal) and records it. Returns 1 when an instruction
 * ran, 0 when none did (a signal), -1 when the program ended ('E' written).
 */
static int step_once(void) {
  uint64_t next[NREGS];
  int status;
  uint64_t pc = regs[RIP];
  const struct code_slot *slot = note_code(pid, pc);
  int syscall = is_syscall(slot);
  if (mask_cpuid && !signal_to_deliver && slot->length >= 2 && slot->bytes[0] == 0x0f && slot->bytes[1] == 0xa2) {
    const int RAX = offsetof(struct user_regs_struct, rax) / 8, RBX = offsetof(struct user_regs_struct, rbx) / 8;
    const int RCX = offsetof(struct user_regs_struct, rcx) / 8, RDX = offsetof(struct user_regs_struct, rdx) / 8;
    uint32_t answer[4];
    masked_cpuid((uint32_t)regs[RAX], (uint32_t)regs[RCX], answer);
    memcpy(next, regs, sizeof next);
    next[RAX] = answer[0];
    next[RBX] = answer[1];
    next[RCX] = answer[2];
    next[RDX] = answer[3];
    next[RIP] = pc + 2;
    if (ptrace(PTRACE_SETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_SETREGS)");
    put("I", 1);
    put(&pc, 8);
    put_regs(regs, next);
    memcpy(regs, next, sizeof regs);
    return 1;
  }
  if (!signal_to_deliver && slot->length >= 2 && slot->bytes[0] == 0x0f && slot->bytes[1] == 0xa2) {
    /* `cpuid` exits to the hypervisor, which may lose the single-step trap after it (the CPU then runs one
       instruction more before stopping): it runs to an int3 after it instead. */
    uint64_t after = pc + 2;
    errno = 0;
    long original = ptrace(PTRACE_PEEKTEXT, pid, (void *)after, 0);
    if (errno == 0 && ptrace(PTRACE_POKETEXT, pid, (void *)after, (void *)((original & ~0xffL) | 0xcc)) == 0) {
      if (ptrace(PTRACE_CONT, pid, 0, 0) != 0) fail("ptrace(PTRACE_CONT)");
      if (waitpid(pid, &status, 0) < 0) fail("waitpid");
      if (WIFEXITED(status)) { end(0, WEXITSTATUS(status)); return -1; }
      if (WIFSIGNALED(status)) { end(1, WTERMSIG(status)); return -1; }
      if (ptrace(PTRACE_POKETEXT, pid, (void *)after, (void *)original) != 0) fail("ptrace(PTRACE_POKETEXT) restoring the byte after cpuid");
      if (ptrace(PTRACE_GETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_GETREGS)");
      if (WSTOPSIG(status) == SIGTRAP && next[RIP] == after + 1) {
        next[RIP] = after;
        if (ptrace(PTRACE_SETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_SETREGS)");
        put("I", 1);
        put(&pc, 8);
        put_regs(regs, next);
        memcpy(regs, next, sizeof regs);
        return 1;
      }
      /* A signal stopped it first: no instruction completed. */
      report_signal(WSTOPSIG(status), pc, regs, next);
      memcpy(regs, next, sizeof regs);
      return 0;
    }
  }
  int delivering = signal_to_deliver;
  if (syscall || delivering) refresh_copies(pid);
  if (ptrace(PTRACE_SINGLESTEP, pid, 0, (void *)(long)signal_to_deliver) != 0) fail("ptrace(PTRACE_SINGLESTEP)");
  signal_to_deliver = 0;
  if (waitpid(pid, &status, 0) < 0) fail("waitpid");
  if (WIFEXITED(status)) {
    /* exit_group: the last instruction never completed. */
    end(0, WEXITSTATUS(status));
    return -1;
  }
  if (WIFSIGNALED(status)) {
    end(1, WTERMSIG(status));
    return -1;
  }
  if (ptrace(PTRACE_GETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_GETREGS)");
  int sig = WSTOPSIG(status);
  int ran = 0;
  if (sig == SIGTRAP && delivering) {
    /* The kernel entered a signal handler: registers changed, no instruction ran. */
    int32_t s = delivering;
    put("H", 1);
    put(&s, 4);
    put(&pc, 8);
    put_regs(regs, next);
    put_memory_changes(pid);
  } else if (sig == SIGTRAP) {
    put("I", 1);
    put(&pc, 8);
    put_regs(regs, next);
    ran = 1;
    if (syscall) {
      generation++;
      put_memory_changes(pid);
    }
  } else {
    /* A signal stopped it before the step finished (a fault at pc, or one sent from outside): deliver it on the next step. */
    report_signal(sig, pc, regs, next);
  }
  memcpy(regs, next, sizeof regs);
  return ran;
}

/* ---- served mode ------------------------------------------------------------ */

/* Steps one instruction without recording it (the emulator has it). Returns 0, or -1 when the program ended. */
static int step_silently(void) {
  int status;
  if (ptrace(PTRACE_SINGLESTEP, pid, 0, (void *)(long)signal_to_deliver) != 0) fail("ptrace(PTRACE_SINGLESTEP)");
  signal_to_deliver = 0;
  if (waitpid(pid, &status, 0) < 0) fail("waitpid");
  if (WIFEXITED(status)) { end(0, WEXITSTATUS(status)); return -1; }
  if (WIFSIGNALED(status)) { end(1, WTERMSIG(status)); return -1; }
  if (ptrace(PTRACE_GETREGS, pid, 0, regs) != 0) fail("ptrace(PTRACE_GETREGS)");
  if (WSTOPSIG(status) != SIGTRAP) signal_to_deliver = WSTOPSIG(status);
  return 0;
}

/*
 * Runs the program natively until the instruction at `address` is about to
 * run: an `int3` there (this VM's debug registers accept execution
 * breakpoints but never fire them), the original byte put back at every stop.
 * Returns 0, or -1 when the program ended.
 */
static int go(uint64_t address) {
  uint64_t next[NREGS];
  int status;
  if (regs[RIP] == address) {
    int r = step_silently();
    if (r != 0) return r;
  }
  errno = 0;
  long original = ptrace(PTRACE_PEEKTEXT, pid, (void *)address, 0);
  if (errno != 0) fail("ptrace(PTRACE_PEEKTEXT) at the breakpoint");
  if (ptrace(PTRACE_POKETEXT, pid, (void *)address, (void *)((original & ~0xffL) | 0xcc)) != 0) fail("ptrace(PTRACE_POKETEXT) of the breakpoint");
  if (ptrace(PTRACE_SYSCALL, pid, 0, (void *)(long)signal_to_deliver) != 0) fail("ptrace(PTRACE_SYSCALL)");
  signal_to_deliver = 0;
  if (waitpid(pid, &status, 0) < 0) fail("waitpid");
  if (WIFEXITED(status)) { end(0, WEXITSTATUS(status)); return -1; }
  if (WIFSIGNALED(status)) { end(1, WTERMSIG(status)); return -1; }
  if (ptrace(PTRACE_POKETEXT, pid, (void *)address, (void *)original) != 0) fail("ptrace(PTRACE_POKETEXT) restoring the breakpoint's byte");
  if (ptrace(PTRACE_GETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_GETREGS)");
  int sig = WSTOPSIG(status);
  if (sig == (SIGTRAP | 0x80)) {
    /* A system call the emulator did not stop at: the kernel is at its entry, rip after the instruction. */
    uint64_t at = next[RIP] - 2;
    put("Y", 1);
    put(&at, 8);
    memcpy(regs, next, sizeof regs);
    return 0;
  }
  if (sig == SIGTRAP && next[RIP] == address + 1) {
    next[RIP] = address;
    if (ptrace(PTRACE_SETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_SETREGS)");
    memcpy(regs, next, sizeof regs);
    return 0;
  }
  /* A signal first (sent from outside, or a fault the emulator did not predict): reported, delivered on the next step. */
  report_signal(sig, next[RIP], regs, next);
  memcpy(regs, next, sizeof regs);
  return 0;
}

static void put_state(void) {
  put("Z", 1);
  put(regs, sizeof regs);
  if (fflush(out) != 0) fail("cannot write to the reply FIFO");
}

static void serve(FILE *commands) {
  int ended = 0;
  put_state();
  for (;;) {
    uint8_t command[9];
    if (fread(command, 1, 9, commands) != 9) break;
    uint64_t address;
    memcpy(&address, command + 1, 8);
    if (command[0] == 'K') {
      if (!ended) {
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        end(2, 0);
      }
      put_state();
      break;
    }
    if (!ended) {
      if (command[0] == 'G') ended = go(address) < 0;
      else if (command[0] == 'T') ended = step_once() < 0;
    }
    put_state();
  }
}

int main(int argc, char **argv) {
  serving = argc > 1 && strcmp(argv[1], "--serve") == 0;
  if (argc < (serving ? 6 : 5)) {
    fprintf(stderr, "usage: faultline-stepper OUT MAX_INSTRUCTIONS MASK_CPUID PROGRAM [ARGS...]\n"
                    "       faultline-stepper --serve REPLY_FIFO COMMAND_FIFO MASK_CPUID PROGRAM [ARGS...]\n");
    return 2;
  }
  FILE *commands = NULL;
  uint64_t budget = UINT64_MAX;
  int first_arg;
  if (serving) {
    out = fopen(argv[2], "wb");
    if (!out) fail(argv[2]);
    commands = fopen(argv[3], "rb");
    if (!commands) fail(argv[3]);
    mask_cpuid = atoi(argv[4]);
    first_arg = 5;
  } else {
    budget = strtoull(argv[2], NULL, 10);
    mask_cpuid = atoi(argv[3]);
    out = fopen(argv[1], "wb");
    if (!out) fail(argv[1]);
    first_arg = 4;
  }
  static char buffer[1 << 20];
  setvbuf(out, buffer, _IOFBF, sizeof buffer);
  code = calloc(CODE_SLOTS, sizeof *code);
  if (!code) fail("out of memory");

  pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    int reply = serving ? fileno(out) : -1;
    personality(ADDR_NO_RANDOMIZE);
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) {
      fprintf(stderr, "faultline-stepper: ptrace(PTRACE_TRACEME): %s\n", strerror(errno));
      _exit(126);
    }
    if (commands) fcntl(fileno(commands), F_SETFD, FD_CLOEXEC);
    if (reply >= 0) fcntl(reply, F_SETFD, FD_CLOEXEC);
    else fclose(out);
    execvp(argv[first_arg], argv + first_arg);
    char message[512];
    snprintf(message, sizeof message, "cannot run %s: %s", argv[first_arg], strerror(errno));
    fprintf(stderr, "faultline-stepper: %s\n", message);
    if (reply >= 0) {
      uint32_t n = (uint32_t)strlen(message);
      if (write(reply, "!", 1) != 1 || write(reply, &n, 4) != 4 || write(reply, message, n) != (ssize_t)n) _exit(127);
    }
    _exit(127);
  }

  int status;
  if (waitpid(pid, &status, 0) < 0) fail("waitpid");
  if (!WIFSTOPPED(status)) {
    /* The exec failed: the child said why on stderr (and in a '!' record when serving). */
    return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
  }
  ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | (serving ? PTRACE_O_TRACESYSGOOD : 0));

  if (ptrace(PTRACE_GETREGS, pid, 0, regs) != 0) fail("ptrace(PTRACE_GETREGS)");
  put("FLSTEP1", 8);
  uint32_t nregs = NREGS;
  put(&nregs, 4);
  put(regs, sizeof regs);
  put_image(pid);

  if (serving) {
    serve(commands);
  } else {
    uint64_t executed = 0;
    for (;;) {
      if (executed >= budget) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        end(2, 0);
        break;
      }
      int r = step_once();
      if (r < 0) break;
      executed += (uint64_t)r;
    }
  }
  if (fclose(out) != 0) fail("cannot write the recording");
  return 0;
}
