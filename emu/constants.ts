/**
 * Unicorn 2 constants faultline uses (unicorn/unicorn.h, 2.0.1), named as in
 * the header.
 */
export const UC_ARCH = { x86: 4, arm64: 2 } as const;
export const UC_MODE = { m32: 1 << 2, m64: 1 << 3, arm: 0 } as const;

export const UC_ERR_OK = 0;
export const UC_ERR_READ_UNMAPPED = 6;
export const UC_ERR_WRITE_UNMAPPED = 7;
export const UC_ERR_FETCH_UNMAPPED = 8;
export const UC_ERR_INSN_INVALID = 10;
export const UC_ERR_READ_PROT = 13;
export const UC_ERR_WRITE_PROT = 12;
export const UC_ERR_FETCH_PROT = 14;

export const UC_HOOK = {
  INTR: 1 << 0,
  INSN: 1 << 1,
  CODE: 1 << 2,
  BLOCK: 1 << 3,
  MEM_READ_UNMAPPED: 1 << 4,
  MEM_WRITE_UNMAPPED: 1 << 5,
  MEM_FETCH_UNMAPPED: 1 << 6,
  MEM_READ_PROT: 1 << 7,
  MEM_WRITE_PROT: 1 << 8,
  MEM_FETCH_PROT: 1 << 9,
  MEM_READ: 1 << 10,
  MEM_WRITE: 1 << 11,
  MEM_FETCH: 1 << 12,
  MEM_READ_AFTER: 1 << 13,
  INSN_INVALID: 1 << 14,
} as const;

export const UC_HOOK_MEM_UNMAPPED = UC_HOOK.MEM_READ_UNMAPPED | UC_HOOK.MEM_WRITE_UNMAPPED | UC_HOOK.MEM_FETCH_UNMAPPED;
export const UC_HOOK_MEM_PROT = UC_HOOK.MEM_READ_PROT | UC_HOOK.MEM_WRITE_PROT | UC_HOOK.MEM_FETCH_PROT;

/** uc_mem_type values passed to memory hooks. */
export const UC_MEM = {
  READ: 16, WRITE: 17, FETCH: 18,
  READ_UNMAPPED: 19, WRITE_UNMAPPED: 20, FETCH_UNMAPPED: 21,
  WRITE_PROT: 22, READ_PROT: 23, FETCH_PROT: 24, READ_AFTER: 25,
} as const;

export const UC_PROT = { NONE: 0, READ: 1, WRITE: 2, EXEC: 4, ALL: 7 } as const;

/** UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0): drop every translated block. */
export const UC_CTL_TB_FLUSH = 0x4000000a;
/** UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE, 2): drop translations of [begin, end). */
export const UC_CTL_TB_REMOVE_CACHE = 0x48000009;
/** UC_CTL_WRITE(UC_CTL_UC_USE_EXITS, 1): stop at a set of addresses (UC_CTL_EXITS) instead of uc_emu_start's one. */
export const UC_CTL_USE_EXITS = 0x44000004;
/** UC_CTL_WRITE(UC_CTL_UC_EXITS, 2): the addresses translation stops before. */
export const UC_CTL_EXITS = 0x48000006;

export const UC_X86_INS = { SYSCALL: 699, SYSENTER: 700 } as const;
