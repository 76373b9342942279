/*
 * faultline-stepper: runs a program under ptrace single-step and writes
 * what the CPU did, instruction by instruction, to a file
 * (src/record/stepper.ts reads it and writes the .fltrace).
 *
 *   faultline-stepper OUT MAX_INSTRUCTIONS PROGRAM [ARGS...]
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
 *
 * Instruction bytes are read once per address and re-read after every
 * system call (which may map or change code); code that rewrites itself
 * without one is recorded with the bytes first seen.
 */
#define _GNU_SOURCE
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

static void fail(const char *what) {
  fprintf(stderr, "faultline-stepper: %s: %s\n", what, strerror(errno));
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

static void end(int32_t kind, int32_t value) {
  put("E", 1);
  put(&kind, 4);
  put(&value, 4);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: faultline-stepper OUT MAX_INSTRUCTIONS PROGRAM [ARGS...]\n");
    return 2;
  }
  uint64_t budget = strtoull(argv[2], NULL, 10);
  out = fopen(argv[1], "wb");
  if (!out) fail(argv[1]);
  static char buffer[1 << 20];
  setvbuf(out, buffer, _IOFBF, sizeof buffer);
  code = calloc(CODE_SLOTS, sizeof *code);
  if (!code) fail("out of memory");

  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    fclose(out);
    personality(ADDR_NO_RANDOMIZE);
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) {
      fprintf(stderr, "faultline-stepper: ptrace(PTRACE_TRACEME): %s\n", strerror(errno));
      _exit(126);
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "faultline-stepper: cannot run %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }

  int status;
  if (waitpid(pid, &status, 0) < 0) fail("waitpid");
  if (!WIFSTOPPED(status)) {
    /* The exec failed: the child said why on stderr. */
    return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
  }
  ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL);

  uint64_t regs[NREGS], next[NREGS];
  if (ptrace(PTRACE_GETREGS, pid, 0, regs) != 0) fail("ptrace(PTRACE_GETREGS)");
  put("FLSTEP1", 8);
  uint32_t nregs = NREGS;
  put(&nregs, 4);
  put(regs, sizeof regs);

  const int RIP = offsetof(struct user_regs_struct, rip) / 8;
  uint64_t executed = 0;
  int signal_to_deliver = 0;
  for (;;) {
    if (executed >= budget) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      end(2, 0);
      break;
    }
    uint64_t pc = regs[RIP];
    const struct code_slot *slot = note_code(pid, pc);
    int syscall = is_syscall(slot);
    int delivering = signal_to_deliver;
    if (ptrace(PTRACE_SINGLESTEP, pid, 0, (void *)(long)signal_to_deliver) != 0) fail("ptrace(PTRACE_SINGLESTEP)");
    signal_to_deliver = 0;
    if (waitpid(pid, &status, 0) < 0) fail("waitpid");
    if (WIFEXITED(status)) {
      /* exit_group: the last instruction never completed. */
      end(0, WEXITSTATUS(status));
      break;
    }
    if (WIFSIGNALED(status)) {
      end(1, WTERMSIG(status));
      break;
    }
    if (ptrace(PTRACE_GETREGS, pid, 0, next) != 0) fail("ptrace(PTRACE_GETREGS)");
    int sig = WSTOPSIG(status);
    if (sig == SIGTRAP && delivering) {
      /* The kernel entered a signal handler: registers changed, no instruction ran. */
      int32_t s = delivering;
      put("H", 1);
      put(&s, 4);
      put(&pc, 8);
      put_regs(regs, next);
    } else if (sig == SIGTRAP) {
      put("I", 1);
      put(&pc, 8);
      put_regs(regs, next);
      executed++;
      if (syscall) generation++;
    } else {
      /* A signal stopped it before the step finished (a fault at pc, or one sent from outside): deliver it on the next step. */
      int32_t s = sig;
      put("S", 1);
      put(&s, 4);
      put(&pc, 8);
      put_regs(regs, next);
      signal_to_deliver = sig;
    }
    memcpy(regs, next, sizeof regs);
  }
  if (fclose(out) != 0) fail("cannot write the recording");
  return 0;
}
