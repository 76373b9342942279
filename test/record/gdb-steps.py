# Steps a program from its first instruction with gdb's stepi and writes the
# registers after each step as faultline's JSON Lines trace (traces/FORMAT.md,
# "JSON Lines"), independently of faultline's own code.
# Use: gdb -batch -nx -ex 'py STEPS=N; OUT="file.jsonl"' -x gdb-steps.py --args PROGRAM
import gdb, json, time

NAMES = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
         'eflags', 'cs', 'ss', 'ds', 'es', 'fs', 'gs', 'fs_base', 'gs_base']
TRACE_NAMES = ['efl' if n == 'eflags' else n for n in NAMES]

gdb.execute('set startup-with-shell off')
gdb.execute('set pagination off')
gdb.execute('unset environment LINES')
gdb.execute('unset environment COLUMNS')
gdb.execute('starti', to_string=True)

def state():
    frame = gdb.selected_frame()
    return {t: int(frame.read_register(n)) & 0xffffffffffffffff for n, t in zip(NAMES, TRACE_NAMES)}, int(frame.read_register('rip'))

arch = gdb.selected_frame().architecture()
before, pc = state()
with open(OUT, 'w') as out:
    out.write(json.dumps({'type': 'header', 'version': 1, 'arch': 'x64', 'source': 'gdb stepi', 'registers': TRACE_NAMES,
                          'startRegisters': dict({k: hex(v) for k, v in before.items()}, rip=hex(pc))}) + '\n')
    started = time.time()
    done = 0
    for index in range(STEPS):
        insn = arch.disassemble(pc)[0]
        try:
            gdb.execute('stepi', to_string=True)
            after, next_pc = state()
        except gdb.error:
            break
        changed = {k: hex(v) for k, v in after.items() if before[k] != v}
        line = {'type': 'instruction', 'index': index, 'pc': hex(pc), 'size': insn['length']}
        if changed:
            line['registers'] = changed
        out.write(json.dumps(line) + '\n')
        before, pc = after, next_pc
        done += 1
    elapsed = time.time() - started
print('gdb-steps: %d steps in %.3f s' % (done, elapsed))
