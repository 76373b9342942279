# The lab's fault injector, run inside gdb (native gdb, or gdb-multiarch
# attached to qemu-user's gdbstub). It reads a case spec (JSON), runs the
# program to a chosen dynamic instance of an instruction, injects one fault
# the way faulty hardware would, single-steps until the program takes a
# signal (or gives up after `maxSteps`), records what happened as JSON, and
# lets the signal kill the program so that the kernel or qemu writes its core.
#
# Usage: gdb -batch -nx -ex 'python SPEC="spec.json"' -x inject.py --args PROGRAM ARGS
#
# Fault models (the label each case gets comes only from what is done here):
#   branch-target  the transfer runs, then one bit of the pc flips
#   loaded-value   a load runs, then one bit of its destination register flips
#   memory         one bit of the value a load (or call/jmp [mem], ret) reads flips in memory first
#   code           one bit of one byte of an instruction flips in memory before it runs
#   skip           one instruction is not executed
#   data-address   the effective address of a load or store is one bit off (the
#                  registers stay intact: the base register is moved for the
#                  faulting access and put back before the core is written)
import json
import random
import re
import shlex

import gdb

spec = json.load(open(SPEC))  # noqa: F821 (set by -ex before this script)
rng = random.Random(spec["seed"])
arch = spec["arch"]
result = {"ok": False}

PTR = {"x64": 8, "x86": 4, "arm64": 8}[arch]
PC = {"x64": "rip", "x86": "eip", "arm64": "pc"}[arch]
SP = {"x64": "rsp", "x86": "esp", "arm64": "sp"}[arch]
# Bits a flipped pc may take: user-space addresses (a non-canonical pc would
# fault at the branch itself on x86-64, which ptrace cannot reproduce).
PC_BITS = {"x64": 47, "x86": 32, "arm64": 48}[arch]


HEX_FIELDS = ("address", "expected", "observed", "restore", "pc", "sp", "siAddr")


def hexify(record):
    """Addresses and values as hex strings: JSON numbers lose 64-bit precision in JavaScript."""
    for key, value in list(record.items()):
        if isinstance(value, dict):
            hexify(value)
        elif key in HEX_FIELDS and isinstance(value, int):
            record[key] = "0x%x" % value
        elif key == "trace":
            record[key] = ["0x%x" % v for v in value]
    return record


def finish(reason=None):
    if reason:
        result["reason"] = reason
    hexify(result)
    with open(spec["result"], "w") as out:
        json.dump(result, out)


def run(command):
    return gdb.execute(command, to_string=True)


def reg(name):
    return int(gdb.parse_and_eval("$" + name)) & ((1 << (PTR * 8)) - 1)


def set_reg(name, value):
    run("set $%s = %d" % (name, value))


def read_memory(address, size):
    return bytes(gdb.selected_inferior().read_memory(address, size))


def mapped(address):
    try:
        read_memory(address, 1)
        return True
    except gdb.MemoryError:
        return False


def to_int(data):
    return int.from_bytes(data, "little")


# ---------------------------------------------------------------- stopping

stops = []


def on_stop(event):
    if isinstance(event, gdb.SignalEvent):
        stops.append(event.stop_signal)


exited = []
gdb.events.stop.connect(on_stop)
gdb.events.exited.connect(lambda event: exited.append(getattr(event, "exit_code", None)))


def alive():
    return not exited and gdb.selected_inferior().pid != 0


# ---------------------------------------------------------------- disassembly

LINE = re.compile(r"^\s*(?:=>\s*)?0x([0-9a-f]+) <\+(\d+)>:\s*(.*)$")


def function_instructions(name):
    """The instructions of `name` as (address, length, text), in address order."""
    out = []
    for line in run("disassemble %s" % name).splitlines():
        m = LINE.match(line)
        if m:
            out.append([int(m.group(1), 16), 0, m.group(3).split("//")[0].strip()])
    for i in range(len(out) - 1):
        out[i][1] = out[i + 1][0] - out[i][0]
    if out:
        last = gdb.selected_frame().architecture().disassemble(out[-1][0])[0]
        out[-1][1] = last["length"]
    return [tuple(i) for i in out]


def mnemonic(text):
    parts = text.split()
    while parts and parts[0] in ("notrack", "bnd", "rep", "repz", "repnz", "lock", "cs", "ds"):
        parts = parts[1:]
    return parts[0] if parts else ""


def operands(text):
    m = mnemonic(text)
    rest = text[text.index(m) + len(m):].strip() if m else ""
    return rest.split("#")[0].strip() if arch != "arm64" else rest


X86_NO_WRITE = {"cmp", "test", "push", "call", "jmp", "bt", "nop", "ret", "leave", "ucomiss", "ucomisd", "comiss", "comisd"}


def is_transfer(text):
    m = mnemonic(text)
    if arch == "arm64":
        return m in ("bl", "blr", "br", "ret", "b")
    return m in ("call", "jmp", "ret")


def is_conditional(text):
    m = mnemonic(text)
    if arch == "arm64":
        return m.startswith("b.") or m in ("cbz", "cbnz", "tbz", "tbnz")
    return m.startswith("j") and m != "jmp"


# x86 (Intel syntax) memory operands: SIZE PTR [expr] or seg:abs
X86_MEM = re.compile(r"(?:(BYTE|WORD|DWORD|QWORD|XMMWORD|TBYTE|FWORD) PTR )?(?:[a-z]s:)?\[([^\]]+)\]")
X86_ABS = re.compile(r"(?:(BYTE|WORD|DWORD|QWORD) PTR )?ds:(0x[0-9a-f]+)")
SIZES = {"BYTE": 1, "WORD": 2, "DWORD": 4, "QWORD": 8, "XMMWORD": 16, "TBYTE": 10, "FWORD": 6}
# x86-64 register names → (the 64-bit register, bits the name covers).
X86_REG64 = {}
for full, (r32, r16, r8) in {
    "rax": ("eax", "ax", "al"), "rbx": ("ebx", "bx", "bl"), "rcx": ("ecx", "cx", "cl"), "rdx": ("edx", "dx", "dl"),
    "rsi": ("esi", "si", "sil"), "rdi": ("edi", "di", "dil"), "rbp": ("ebp", "bp", "bpl"), "rsp": ("esp", "sp", "spl"),
}.items():
    X86_REG64.update({full: (full, 64), r32: (full, 32), r16: (full, 16), r8: (full, 8)})
for i in range(8, 16):
    X86_REG64.update({"r%d" % i: ("r%d" % i, 64), "r%dd" % i: ("r%d" % i, 32), "r%dw" % i: ("r%d" % i, 16), "r%db" % i: ("r%d" % i, 8)})


def full_register(name):
    """The architectural register a (sub)register name belongs to, and the bits it covers."""
    if arch == "arm64":
        if re.fullmatch(r"w\d+", name):
            return "x" + name[1:], 32
        if re.fullmatch(r"x\d+", name) or name in ("sp", "x29", "x30"):
            return name, 64
        return None, 0
    if arch == "x86":
        e = {"ax": "eax", "bx": "ebx", "cx": "ecx", "dx": "edx", "si": "esi", "di": "edi", "bp": "ebp", "sp": "esp"}
        if name in e.values():
            return name, 32
        return None, 0
    return X86_REG64.get(name, (None, 0))


def memory_operand(text, at):
    """(effective address, size, base register or None, scale of the register moved) of the explicit memory operand, or None."""
    m = mnemonic(text)
    if arch == "arm64":
        return arm64_memory(text, at)
    if m in ("lea", "nop", "push", "pop") or m.startswith("prefetch"):
        return None
    ops = operands(text)
    am = X86_ABS.search(ops)
    if am:
        return int(am.group(2), 16), SIZES.get(am.group(1) or "", PTR), None, 0
    mm = X86_MEM.search(ops)
    if not mm:
        return None
    size = SIZES.get(mm.group(1) or "", PTR)
    expr = mm.group(2).replace(" ", "")
    if "rip" in expr:
        comment = re.search(r"#\s*0x([0-9a-f]+)", text)
        return (int(comment.group(1), 16), size, None, 0) if comment else None
    terms = re.findall(r"[+-]?[^+-]+", expr)
    address = 0
    base = None
    index = None
    for term in terms:
        sign = -1 if term.startswith("-") else 1
        term = term.lstrip("+-")
        if "*" in term:
            r, s = term.split("*")
            index = (r, int(s, 0))
            address += sign * reg(r) * int(s, 0)
        elif re.fullmatch(r"0x[0-9a-f]+|\d+", term):
            address += sign * int(term, 0)
        else:
            base = term
            address += sign * reg(term)
    address &= (1 << (PTR * 8)) - 1
    if base:
        return address, size, base, 1
    if index:
        return address, size, index[0], index[1]
    return address, size, None, 0


ARM_MEM = re.compile(r"\[([a-z0-9]+)(?:,\s*([^\]]+))?\](!?)(?:,\s*#?(-?0x[0-9a-f]+|-?\d+))?")


def arm64_memory(text, at):
    m = mnemonic(text)
    if not (m.startswith("ld") or m.startswith("st")) or m.startswith("ldx") or m.startswith("stx") or m.startswith("ldax") or m.startswith("stlx"):
        return None
    ops = operands(text)
    mm = ARM_MEM.search(ops)
    if not mm:
        return None
    base = mm.group(1)
    address = reg(base)
    post = mm.group(4) is not None and not mm.group(2)
    if mm.group(2) and not post:
        parts = [p.strip() for p in mm.group(2).split(",")]
        first = parts[0]
        if first.startswith("#"):
            address += int(first[1:], 0)
        else:
            value = reg("x" + first[1:]) if first[0] in "xw" else 0
            if first.startswith("w"):
                value &= 0xFFFFFFFF
                if len(parts) > 1 and parts[1].startswith("sxtw") and value & 0x80000000:
                    value -= 1 << 32
            shift = 0
            if len(parts) > 1:
                sm = re.search(r"#(\d+)", parts[1])
                shift = int(sm.group(1)) if sm else 0
            address += value << shift
    address &= (1 << 64) - 1
    dest = ops.split(",")[0].strip()
    width = 8 if dest.startswith("x") else 4 if dest.startswith("w") else 16 if dest.startswith("q") else 8 if dest.startswith("d") else 4 if dest.startswith("s") else 8
    if m.endswith("b") or m in ("ldrsb", "ldurb", "sturb"):
        width = 1
    elif m.endswith("h") or m in ("ldrsh",):
        width = 2
    elif m in ("ldrsw",):
        width = 4
    if m in ("ldp", "stp", "ldnp", "stnp"):
        width *= 2
    return address, width, base, 1


def destinations(text):
    """Registers an instruction writes as its explicit destination (first operand), as full names."""
    m = mnemonic(text)
    ops = [o.strip() for o in operands(text).split(",")]
    if not ops or not ops[0]:
        return []
    if arch == "arm64":
        if m.startswith("st") or m in ("cmp", "cmn", "tst", "b", "bl", "br", "blr", "ret", "cbz", "cbnz", "tbz", "tbnz", "prfm") or m.startswith("b."):
            return []
        names = [ops[0]] + ([ops[1]] if m in ("ldp", "ldnp", "ldpsw") and len(ops) > 1 else [])
        return [full_register(n)[0] for n in names if full_register(n)[0]]
    if m in X86_NO_WRITE or m.startswith("j"):
        return []
    name = ops[0].split()[-1] if ops[0] else ""
    full, _ = full_register(name)
    return [full] if full else []


def transfer_register(text):
    """The register a `call reg` / `jmp reg` / `blr` / `br` / arm64 `ret` takes its target from."""
    m = mnemonic(text)
    ops = operands(text)
    if arch == "arm64":
        if m in ("blr", "br"):
            return ops.split(",")[0].strip()
        if m == "ret":
            return ops.strip() or "x30"
        return None
    if m in ("call", "jmp") and "[" not in ops and not re.match(r"0x[0-9a-f]+", ops):
        return full_register(ops.split()[-1])[0]
    return None


def is_load(text, at):
    mem = memory_operand(text, at) if arch != "arm64" else None
    m = mnemonic(text)
    if arch == "arm64":
        return m.startswith("ld") and not m.startswith("ldx") and not m.startswith("ldax")
    return mem is not None and bool(destinations(text)) and not m.startswith("st") and m not in ("lea",)


# ---------------------------------------------------------------- sites


def site_candidates(model, instructions):
    """Instructions of the chosen function where `model` can be injected, with what it needs."""
    found = []
    for i, (address, length, text) in enumerate(instructions):
        m = mnemonic(text)
        if model == "branch-target":
            if is_transfer(text) and not is_conditional(text):
                found.append({"index": i})
        elif model in ("loaded-value", "memory"):
            if model == "memory" and arch != "arm64" and (m == "ret" or (m in ("call", "jmp") and "[" in text)):
                found.append({"index": i, "kind": "transfer-slot"})
                continue
            if m in ("push", "pop", "leave", "lea") or "[" not in text and arch != "arm64":
                continue
            if arch == "arm64" and not (m.startswith("ldr") or m.startswith("ldp")):
                continue
            dests = destinations(text)
            if not dests:
                continue
            # A value the program uses as an address or a branch target: pointer-sized loads.
            ops = operands(text)
            if arch == "x64" and "QWORD PTR" not in ops and "DWORD PTR" not in ops:
                continue
            if arch == "arm64" and not ops.startswith("x") and not ops.startswith("w"):
                continue
            found.append({"index": i, "kind": "load"})
        elif model == "code":
            found.append({"index": i})
        elif model == "skip":
            if not is_transfer(text):
                found.append({"index": i})
        elif model == "data-address":
            if m in ("push", "pop", "leave", "lea", "call", "ret", "jmp", "nop") or m.startswith("nop"):
                continue
            if arch != "arm64" and "[" not in text and "ds:" not in text:
                continue
            if arch == "arm64" and not (m.startswith("ld") or m.startswith("st")):
                continue
            if arch == "arm64" and ("]!" in text or re.search(r"\],\s*#", text)):
                continue  # write-back forms change the base register themselves
            if "rip" in text:
                continue
            found.append({"index": i})
    return found


def register_names(full):
    """Every name of the architectural register `full` (rax, eax, ax, al; x1, w1)."""
    if arch == "arm64":
        return {full, "w" + full[1:]} if full.startswith("x") else {full}
    if arch == "x86":
        return {full, full[1:]}
    return {n for n, (f, _) in X86_REG64.items() if f == full}


def feeds_address(instructions, index, full):
    """True when the value loaded into `full` is soon used as an address or a branch target."""
    names = register_names(full)
    for _, _, text in instructions[index + 1:index + 10]:
        if transfer_register(text) in names or (arch == "arm64" and mnemonic(text) in ("blr", "br") and operands(text).strip() in names):
            return True
        bracket = re.search(r"\[([^\]]*)\]", text)
        if bracket and names & set(re.findall(r"[a-z][a-z0-9]*", bracket.group(1))):
            return True
        if full in destinations(text):
            return False
    return False


def weight(model, instructions, candidate):
    """Prefer the shape's characteristic instructions: indirect transfers and the loads that feed addresses and targets."""
    index = candidate["index"]
    text = instructions[index][2]
    if model == "branch-target":
        return 4 if transfer_register(text) or "[" in text or mnemonic(text) == "ret" else 1
    if model in ("loaded-value", "memory") and candidate.get("kind") == "load":
        return 6 if any(feeds_address(instructions, index, d) for d in destinations(text)) else 1
    if model == "memory":
        return 4
    return 1


def choose(model, instructions, earliest):
    candidates = [c for c in site_candidates(model, instructions) if instructions[c["index"]][0] >= earliest]
    if not candidates:
        return None
    weights = [weight(model, instructions, c) for c in candidates]
    return rng.choices(candidates, weights=weights, k=1)[0]


def in_loop(instructions, address):
    """True when a backward branch of the function encloses `address` (the site runs once per iteration)."""
    for at, _, text in instructions:
        if not (is_conditional(text) or mnemonic(text) in ("jmp", "b")):
            continue
        m = re.search(r"(0x[0-9a-f]+)\s*<", text)
        if m and int(m.group(1), 16) <= address <= at:
            return True
    return False


# ---------------------------------------------------------------- injection


def flip_bit(value, bit):
    return value ^ (1 << bit)


def step():
    """One instruction; returns the signal the program took, or None."""
    before = len(stops)
    try:
        run("stepi")
    except gdb.error as error:
        result["stepError"] = str(error)
        return "exited"
    if not alive():
        return "exited"
    return stops[before] if len(stops) > before else None


def inject(model, site, instructions):
    address, length, text = instructions[site["index"]]
    info = {"model": model, "site": {"address": address, "length": length, "text": text, "bytes": read_memory(address, length).hex()}}
    if model == "branch-target":
        sig = step()
        if sig:
            return None, "the transfer itself faulted (%s)" % sig
        target = reg(PC)
        bits = [b for b in range(PC_BITS)]
        bit = rng.choice(bits)
        observed = flip_bit(target, bit)
        set_reg(PC, observed)
        info.update(bit=bit, expected=target, observed=observed, register=PC)
        return info, None
    if model == "loaded-value":
        dests = destinations(text)
        mem = memory_operand(text, address)
        sig = step()
        if sig:
            return None, "the load itself faulted (%s)" % sig
        name = rng.choice(dests)
        width = full_register(name)[1] if arch != "x86" else 32
        # Only the bits the load wrote (a 32-bit load on x86-64 zero-extends).
        size = mem[1] if mem else PTR
        ops = operands(text)
        if arch == "arm64" and ops.startswith("w"):
            width = 32
        elif arch == "x64":
            width = full_register(ops.split(",")[0].strip())[1] or 64
        bits = min(width, PTR * 8)
        bit = rng.randrange(bits)
        value = reg(name)
        set_reg(name, flip_bit(value, bit))
        info.update(bit=bit, expected=value, observed=flip_bit(value, bit), register=name, address=mem[0] if mem else None, size=size)
        return info, None
    if model == "memory":
        if site.get("kind") == "transfer-slot":
            if mnemonic(text) == "ret":
                slot, size = reg(SP), PTR
            else:
                mem = memory_operand(text, address)
                if not mem:
                    return None, "no memory operand"
                slot, size = mem[0], mem[1]
        else:
            mem = memory_operand(text, address)
            if not mem:
                return None, "no memory operand"
            slot, size = mem[0], mem[1]
            dests = destinations(text)
            # ldp x29, x30, [sp]: pick one of the two slots.
            if len(dests) == 2:
                half = size // 2
                pick = rng.randrange(2)
                slot, size = slot + pick * half, half
        if size not in (4, 8):
            return None, "a %d-byte load" % size
        original = to_int(read_memory(slot, size))
        bit = rng.randrange(size * 8 if not (arch == "x64" and size == 8) else 48)
        flipped = flip_bit(original, bit)
        gdb.selected_inferior().write_memory(slot, flipped.to_bytes(size, "little"))
        info.update(bit=bit, expected=original, observed=flipped, address=slot, size=size)
        return info, None
    if model == "code":
        index = rng.randrange(length)
        bit = rng.randrange(8)
        original = read_memory(address + index, 1)[0]
        flipped = flip_bit(original, bit)
        if spec.get("remote"):
            # qemu-user never dumps an executable mapping that starts with an ELF header (a kernel dumps any
            # code page once written): a flip there would not be in the core at all.
            if read_memory((address + index) & ~0xFFF, 4) == b"\x7fELF":
                return None, "qemu would not dump this code page (it starts with the ELF header)"
            # qemu's gdbstub cannot write code pages: the program flips the byte itself.
            if int(gdb.parse_and_eval("(int)lab_flip_code(0x%x, 0x%x)" % (address + index, 1 << bit))) != 0:
                return None, "the program could not flip its code"
        else:
            gdb.selected_inferior().write_memory(address + index, bytes([flipped]))
        if read_memory(address + index, 1)[0] != flipped:
            return None, "the code byte did not change"
        info.update(bit=bit, expected=original, observed=flipped, address=address + index, byteIndex=index)
        return info, None
    if model == "skip":
        set_reg(PC, address + length)
        info.update(address=address)
        return info, None
    if model == "data-address":
        mem = memory_operand(text, address)
        if not mem or not mem[2]:
            return None, "no register-based memory operand"
        ea, size, base, scale = mem
        full, _ = full_register(base) if arch != "arm64" else (("x" + base[1:]) if base.startswith("w") else base, 64)
        width = 47 if arch == "x64" else 32 if arch == "x86" else 48
        bits = list(range(width))
        rng.shuffle(bits)
        for bit in bits:
            target = flip_bit(ea, bit)
            delta = target - ea
            if delta % scale:
                continue
            if mapped(target) or mapped(target + size - 1):
                continue
            original = reg(full)
            set_reg(full, (original + delta // scale) & ((1 << (PTR * 8)) - 1))
            info.update(bit=bit, expected=ea, observed=target, address=address, register=full, restore=original, size=size)
            return info, None
        return None, "every one-bit neighbour of the address is mapped"
    return None, "unknown model %s" % model


# ---------------------------------------------------------------- main


def start():
    run("set pagination off")
    run("set confirm off")
    run("set breakpoint pending on")
    run("set print thread-events off")
    if arch != "arm64":
        run("set disassembly-flavor intel")
    if spec.get("sysroot"):
        run("set sysroot %s" % spec["sysroot"])
    if spec.get("remote"):
        run("target remote %s" % spec["remote"])
    run("break %s" % spec["function"])
    if spec.get("remote"):
        run("continue")
    else:
        # Arguments given to `run` replace --args, so the redirection carries them too.
        args = " ".join(shlex.quote(a) for a in spec.get("args", []))
        run("run %s > /dev/null 2>&1" % args)


def crash_record(sig):
    record = {"signal": sig, "pc": reg(PC), "sp": reg(SP)}
    try:
        record["siAddr"] = int(gdb.parse_and_eval("$_siginfo._sifields._sigfault.si_addr")) & ((1 << (PTR * 8)) - 1)
        record["siCode"] = int(gdb.parse_and_eval("$_siginfo.si_code"))
    except gdb.error:
        pass
    return record


def main():
    start()
    if not alive() or not gdb.selected_inferior().threads():
        return finish("the program did not reach %s" % spec["function"])
    instructions = function_instructions(spec["function"])
    result["function"] = spec["function"]
    model = spec["model"]
    # `break FUNCTION` stops after the prologue: in a function entered once, what lies before has run.
    earliest = 0 if spec.get("repeated") else reg(PC)
    site = choose(model, instructions, earliest)
    if site is None:
        return finish("no %s site in %s" % (model, spec["function"]))
    address = instructions[site["index"]][0]
    run("delete")
    run("tbreak *0x%x" % address)
    # A function entered once (the run_* loops) reaches code outside its loop once.
    instance = spec["instance"] if spec.get("repeated") or in_loop(instructions, address) else 1
    result["instance"] = instance
    if instance > 1:
        run("ignore $bpnum %d" % (instance - 1))
    run("continue")
    if not alive() or reg(PC) != address:
        return finish("instance %d of 0x%x was not reached" % (instance, address))
    run("delete")
    info, why = inject(model, site, instructions)
    if info is None:
        return finish(why)
    result["injection"] = info
    trace = [reg(PC)]
    sig = None
    for _ in range(spec["maxSteps"]):
        sig = step()
        if sig:
            break
        trace.append(reg(PC))
    result["trace"] = trace
    if sig is None:
        return finish("no signal within %d instructions" % spec["maxSteps"])
    if sig == "exited":
        return finish("the program exited")
    result["crash"] = crash_record(sig)
    result["crash"]["steps"] = len(trace)
    if model == "data-address":
        set_reg(info["register"], info["restore"])
    result["ok"] = True
    finish()
    # Deliver the signal: the program dies of it and its core is written.
    try:
        run("signal %s" % sig)
    except gdb.error:
        pass


try:
    main()
except Exception as error:  # noqa: BLE001 - any failure is a discarded case with its reason
    result["ok"] = False
    finish("injector error: %s" % error)
    try:
        run("kill")
    except gdb.error:
        pass
