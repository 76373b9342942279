// A decoder plug-in for `faultline decode-check` tests: it knows one encoding,
// REX.W 89 /r with a register operand (`mov r64, r64`, 3 bytes: 48 89 c7),
// and gets its length wrong (2). Everything else it does not decode.
export function decode(bytes, address, arch) {
  if (arch !== 'x64' || bytes[0] !== 0x48 || bytes[1] !== 0x89 || bytes[2] < 0xc0) return undefined;
  return { length: 2, mnemonic: 'mov', branch: false };
}
