/**
 * Virtual and physical addresses of a kernel dump as distinct types, so a
 * physical address can never be passed where a virtual one is meant (the
 * page walk is the only way from one to the other).
 *
 * @example
 * ```ts
 * const dtb = pa(0x1ad000n);
 * const pc = va(0xfffff8047b58334cn);
 * walker.translate(pc); // Pa | undefined
 * ```
 */

/** A guest-virtual address. */
export type Va = bigint & { readonly __address: 'virtual' };
/** A guest-physical address. */
export type Pa = bigint & { readonly __address: 'physical' };

/** `value` as a virtual address. */
export function va(value: bigint): Va {
  return value as Va;
}

/** `value` as a physical address. */
export function pa(value: bigint): Pa {
  return value as Pa;
}

export const PAGE_SIZE = 0x1000;
export const PAGE_SHIFT = 12n;

/** `0x…` for messages. */
export function hexOf(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}
