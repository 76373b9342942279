/*
 * The floor under `npm run bench:replay`: the same window replays with no
 * JavaScript at all. The workload image is loaded as bench/modes.ts's
 * loadWorkload loads it, run to the snapshot point, and then each replay is
 * one ft_run of `window` instructions (Unicorn's count, the native watchdog)
 * and one ft_snapshot_restore (context and the pages the dirty tracker saw
 * written), as emu/ makes them. What is left above this floor in the bench
 * is the emulator's JavaScript and the foreign calls; what is in it is
 * Unicorn's and the native hooks'.
 *
 * bench/replay.ts builds it with the system compiler against the Unicorn
 * faultline loads, and reads the one JSON line it prints:
 *   replay-floor IMAGE BASE ENTRY SNAPSHOT_AT WINDOW SECONDS
 *   {"replays":…,"cpuSeconds":…,"windowEnd":…}
 */
#include "../emu/native/recorder.c"
#include <inttypes.h>
#include <stdio.h>

extern uc_err uc_open(int arch, int mode, uc_engine **uc);
extern uc_err uc_close(uc_engine *uc);
extern uc_err uc_mem_map(uc_engine *uc, uint64_t address, size_t size, uint32_t perms);
extern uc_err uc_reg_write(uc_engine *uc, int regid, const void *value);
extern uc_err uc_context_alloc(uc_engine *uc, void **context);
extern uc_err uc_context_save(uc_engine *uc, void *context);
extern const char *uc_strerror(uc_err code);

#define UC_ARCH_X86 4
#define UC_MODE_64 8
#define UC_PROT_ALL 7
#define UC_X86_REG_RIP 41
#define UC_X86_REG_RSP 44
/* bench/modes.ts: STACK_TOP, STACK_SIZE */
#define STACK_TOP 0x7ff00000ull
#define STACK_SIZE 0x10000ull

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, uc_err status) {
  fprintf(stderr, "replay-floor: %s failed: %s\n", what, status ? uc_strerror(status) : "no detail");
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: replay-floor IMAGE BASE ENTRY SNAPSHOT_AT WINDOW SECONDS\n");
    return 2;
  }
  uint64_t base = strtoull(argv[2], NULL, 0), entry = strtoull(argv[3], NULL, 0);
  uint64_t snapshot_at = strtoull(argv[4], NULL, 0), window = strtoull(argv[5], NULL, 0);
  double seconds = strtod(argv[6], NULL);

  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END);
  long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *image = malloc((size_t)length);
  if (!image || fread(image, 1, (size_t)length, f) != (size_t)length) { fclose(f); return fail("reading the image", 0); }
  fclose(f);

  uc_engine *uc;
  uc_err status = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
  if (status) return fail("uc_open", status);
  size_t mapped = ((size_t)length + PAGE - 1) & ~(size_t)(PAGE - 1);
  if ((status = uc_mem_map(uc, base, mapped, UC_PROT_ALL)) || (status = uc_mem_write(uc, base, image, (size_t)length))) return fail("mapping the image", status);
  uint64_t sp = STACK_TOP - 0x100;
  if ((status = uc_mem_map(uc, STACK_TOP - STACK_SIZE, STACK_SIZE, UC_PROT_ALL)) || (status = uc_reg_write(uc, UC_X86_REG_RSP, &sp))) return fail("mapping the stack", status);

  ft_watchdog *watchdog = ft_watchdog_new(uc);
  if (!watchdog) return fail("ft_watchdog_new", 0);
  uint64_t out[2];
  if ((status = ft_run(watchdog, entry, UINT64_MAX, snapshot_at, 1, 0, UC_X86_REG_RIP, out))) return fail("the run to the snapshot", status);
  uint64_t start = out[0];
  /* emu/snapshot.ts: the dirty tracker starts with the snapshot. */
  ft_dirty *dirty = ft_dirty_new(uc);
  void *context;
  if (!dirty || (status = uc_context_alloc(uc, &context)) || (status = uc_context_save(uc, context))) return fail("the snapshot", status);

  if ((status = ft_run(watchdog, start, UINT64_MAX, window, 1, 0, UC_X86_REG_RIP, out))) return fail("the first window", status);
  uint64_t window_end = out[0];
  if (ft_snapshot_restore(dirty, context) < 0) return fail("the first restore", 0);

  uint64_t replays = 0;
  double begun = cpu_seconds(), now = begun;
  while (now - begun < seconds) {
    for (int i = 0; i < 256; i++) {
      if ((status = ft_run(watchdog, start, UINT64_MAX, window, 1, 0, UC_X86_REG_RIP, out))) return fail("a replay", status);
      if (out[0] != window_end) {
        fprintf(stderr, "replay-floor: replay %" PRIu64 " ended at 0x%" PRIx64 ", not 0x%" PRIx64 "\n", replays, out[0], window_end);
        return 1;
      }
      if (ft_snapshot_restore(dirty, context) < 0) return fail("a restore", 0);
      replays++;
    }
    now = cpu_seconds();
  }
  printf("{\"replays\":%" PRIu64 ",\"cpuSeconds\":%.6f,\"windowEnd\":%" PRIu64 "}\n", replays, now - begun, window_end);
  ft_dirty_free(dirty);
  ft_watchdog_free(watchdog);
  uc_close(uc);
  free(image);
  return 0;
}
