/**
 * Where a window's search looks first: the faithful path's index nearest
 * the state the dump recorded, which the fault models' tasks are ordered
 * by distance from.
 *
 * @example
 * ```ts
 * const focus = focusIndex(ctx); // the first pass through the trap's pc most like the dump
 * ```
 */
import { pointerSize, registerMask, spRegister, type RegisterName } from '../../emu/registers.ts';
import type { SearchContext } from './families.ts';
import { faithfulLanes } from './unknown-branch.ts';

/**
 * The faithful path's index nearest the state the dump recorded: the
 * faulting instruction itself or a jump anchor; for a call anchor, the pass
 * through the trap's pc most like the dump when its stack is still the callee's,
 * else the instruction that returns from that call (the dump's stack is the
 * caller's again) or, when the code as written never returns, the path's end.
 */
export function focusIndex(ctx: SearchContext): number {
  const { window } = ctx;
  const path = window.faithful.path;
  const last = Math.max(0, path.length - 1);
  if (window.anchor.kind === 'fault') return Math.min(window.anchorIndex, last);
  const call = window.anchor.instruction;
  // A jump or return anchor is where the dump's state was left: the state just after it.
  if (call.kind === 'jump' || call.kind === 'conditional' || call.kind === 'return') return Math.min(window.anchorIndex, last);
  if (call.kind !== 'call') return last;
  // The dump's stack just as the call left it (its return address on top): the fault is where the call went.
  const sp = ctx.site.context?.registers[spRegister(ctx.dump.arch)];
  const pushed = ctx.dump.arch === 'arm64' ? 0n : BigInt(pointerSize(ctx.dump.arch));
  const slot = (window.anchor.sp - pushed) & registerMask(ctx.dump.arch);
  if (sp !== undefined && sp === slot) return Math.min(window.anchorIndex, last);
  // Below it, the call had not returned: the fault is in what it called, where the path comes to the trap's pc.
  const visit = sp !== undefined && sp < slot ? likeliestVisit(ctx) : -1;
  if (visit > 0) return visit;
  const back = path.indexOf(call.address + BigInt(call.size), window.anchorIndex + 1);
  return back > 0 ? back - 1 : last;
}

/**
 * Of the faithful path's passes through the trap's pc after the anchor, the
 * one whose registers (as every lane has them) agree with the most the dump
 * recorded: a loop's fourth pass has the fourth pass's counter. The first
 * when they tie; -1 when the path never passes there.
 */
function likeliestVisit(ctx: SearchContext): number {
  const { window, site } = ctx;
  const path = window.faithful.path;
  const visits = path.flatMap((pc, i) => (pc === site.pc && i > window.anchorIndex ? [i] : []));
  if (visits.length <= 1) return visits[0] ?? -1;
  const recorded = site.context?.registers ?? {};
  const unknown = new Set(site.context?.unknown ?? []);
  const lanes = faithfulLanes(ctx);
  let best = visits[0]!;
  let bestAgree = -1;
  for (const v of visits) {
    let agree = 0;
    for (const [name, value] of Object.entries(recorded) as Array<[RegisterName, bigint | undefined]>) {
      if (value === undefined || unknown.has(name)) continue;
      const seen = lanes.map((lane) => lane.steps[v]?.before[name]);
      if (seen.every((x) => x === value)) agree++;
    }
    if (agree > bestAgree) {
      best = v;
      bestAgree = agree;
    }
  }
  return best;
}
