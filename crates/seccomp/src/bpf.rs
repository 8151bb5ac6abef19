//! A small classic-BPF assembler for seccomp programs.
//!
//! Classic BPF only jumps forward, so the program is emitted back to front: every jump target
//! already exists when the jump is written, and a [`Label`] (a position counted from the end)
//! never moves. Conditional jumps have 8-bit offsets; a target further away gets a `ja`
//! trampoline (32-bit offset) right after the jump.

use libc::sock_filter;

const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_ALU: u16 = 0x04;
const BPF_AND: u16 = 0x50;
const BPF_K: u16 = 0x00;
const BPF_JMP: u16 = 0x05;
const BPF_JA: u16 = 0x00;
const BPF_RET: u16 = 0x06;

/// Conditional jump kinds (`A <op> k`), all unsigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jmp {
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
    Set = 0x40,
}

/// Offsets into `struct seccomp_data`.
pub(crate) const OFF_NR: u32 = 0;
pub(crate) const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// Offsets of the low and high 32-bit words of `seccomp_data.args[index]`.
fn arg_words(index: u32) -> (u32, u32) {
    let base = OFF_ARGS + 8 * index;
    if cfg!(target_endian = "little") {
        (base, base + 4)
    } else {
        (base + 4, base)
    }
}

/// A position in the program, counted from its last instruction (which is label 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// A jump offset that leaves room for the two trampolines one jump may add in front of its
/// targets.
const MAX_SHORT: usize = u8::MAX as usize - 2;

/// Argument comparison operators (OCI `SCMP_CMP_*`), on unsigned 64-bit values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == (value_two & value)`.
    MaskedEq,
}

/// One argument condition of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cmp {
    pub index: u32,
    pub op: CmpOp,
    pub value: u64,
    pub value_two: u64,
}

#[derive(Default)]
pub(crate) struct Builder {
    /// Instructions in reverse program order.
    rev: Vec<sock_filter>,
    /// Return instructions already emitted, shared by every jump that needs the same value.
    rets: Vec<(u32, Label)>,
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

impl Builder {
    /// The distance a jump placed next would have to travel to reach `target`.
    fn dist(&self, target: Label) -> usize {
        self.rev.len() - target.0 - 1
    }

    fn push(&mut self, ins: sock_filter) -> Label {
        self.rev.push(ins);
        Label(self.rev.len() - 1)
    }

    /// Number of instructions emitted so far.
    pub(crate) fn len(&self) -> usize {
        self.rev.len()
    }

    /// `ret #value`. A copy already in short-jump reach is reused; otherwise a new one is
    /// emitted, which costs the same one instruction as a trampoline to a far copy and saves
    /// the jump.
    pub(crate) fn ret(&mut self, value: u32) -> Label {
        let cached = self.rets.iter().position(|(v, _)| *v == value);
        if let Some(i) = cached {
            if self.dist(self.rets[i].1) <= MAX_SHORT {
                return self.rets[i].1;
            }
        }
        let l = self.push(insn(BPF_RET | BPF_K, 0, 0, value));
        match cached {
            Some(i) => self.rets[i].1 = l,
            None => self.rets.push((value, l)),
        }
        l
    }

    /// `target`, or a nearby copy of it when it is a far `ret`.
    fn near(&mut self, target: Label) -> Label {
        let ins = self.rev[target.0];
        if ins.code == BPF_RET | BPF_K && self.dist(target) > MAX_SHORT {
            self.ret(ins.k)
        } else {
            target
        }
    }

    /// `ld [offset]` (a 32-bit word of seccomp_data).
    pub(crate) fn load(&mut self, offset: u32) -> Label {
        self.push(insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset))
    }

    fn and(&mut self, mask: u32) -> Label {
        self.push(insn(BPF_ALU | BPF_AND | BPF_K, 0, 0, mask))
    }

    /// `ja target`; returns `target` itself when it is the next instruction anyway.
    pub(crate) fn goto(&mut self, target: Label) -> Label {
        let d = self.dist(target);
        if d == 0 {
            return target;
        }
        // Offsets are bounded by BPF_MAXINSNS, checked on the finished program.
        self.push(insn(BPF_JMP | BPF_JA, 0, 0, d as u32))
    }

    /// `if (A <op> k) goto jt else goto jf`.
    pub(crate) fn jump(&mut self, op: Jmp, k: u32, jt: Label, jf: Label) -> Label {
        if jt == jf {
            return self.goto(jt);
        }
        let jf = self.near(jf);
        let jt = self.near(jt);
        let jf = if self.dist(jf) > MAX_SHORT {
            self.push(insn(BPF_JMP | BPF_JA, 0, 0, self.dist(jf) as u32))
        } else {
            jf
        };
        let jt = if self.dist(jt) > MAX_SHORT {
            self.push(insn(BPF_JMP | BPF_JA, 0, 0, self.dist(jt) as u32))
        } else {
            jt
        };
        let (t, f) = (self.dist(jt) as u8, self.dist(jf) as u8);
        self.push(insn(BPF_JMP | op as u16 | BPF_K, t, f, k))
    }

    /// Code that goes to `on_true` when the condition holds for the syscall's argument and to
    /// `on_false` otherwise. `wide` is false for 32-bit ABIs, whose arguments are compared as
    /// their low word zero-extended (the high word of seccomp_data is not ABI there).
    pub(crate) fn cmp(&mut self, wide: bool, c: Cmp, on_true: Label, on_false: Label) -> Label {
        let (lo_off, hi_off) = arg_words(c.index);
        let (v_lo, v_hi) = (c.value as u32, (c.value >> 32) as u32);

        let masked = c.op == CmpOp::MaskedEq;
        let d = c.value_two & c.value;
        let (d_lo, d_hi) = (d as u32, (d >> 32) as u32);
        // Where the high-word comparison goes when the argument's high word is below / above
        // the value's; equal high words continue with the low word.
        let (if_less, if_greater) = match c.op {
            CmpOp::Eq | CmpOp::MaskedEq => (on_false, on_false),
            CmpOp::Ne => (on_true, on_true),
            CmpOp::Gt | CmpOp::Ge => (on_false, on_true),
            CmpOp::Lt | CmpOp::Le => (on_true, on_false),
        };
        if !wide {
            // The argument's high word is zero, so the high-word test is decided here.
            let hi_equal = if masked { d_hi == 0 } else { v_hi == 0 };
            if !hi_equal {
                return if_less;
            }
        }

        // Low word: decides once the high words are equal.
        let lo = match c.op {
            CmpOp::Eq => self.jump(Jmp::Eq, v_lo, on_true, on_false),
            CmpOp::Ne => self.jump(Jmp::Eq, v_lo, on_false, on_true),
            CmpOp::Gt => self.jump(Jmp::Gt, v_lo, on_true, on_false),
            CmpOp::Ge => self.jump(Jmp::Ge, v_lo, on_true, on_false),
            CmpOp::Lt => self.jump(Jmp::Ge, v_lo, on_false, on_true),
            CmpOp::Le => self.jump(Jmp::Gt, v_lo, on_false, on_true),
            // A zero mask matches every argument.
            CmpOp::MaskedEq if v_lo == 0 => on_true,
            CmpOp::MaskedEq => {
                let j = self.jump(Jmp::Eq, d_lo, on_true, on_false);
                if v_lo == u32::MAX {
                    j
                } else {
                    self.and(v_lo)
                }
            }
        };
        let lo = if lo == on_true || lo == on_false {
            // Folded into a plain jump: no need to load the word.
            lo
        } else {
            self.load(lo_off)
        };
        if !wide || (masked && v_hi == 0) {
            return lo;
        }

        // High word.
        if masked {
            self.jump(Jmp::Eq, d_hi, lo, on_false);
            if v_hi != u32::MAX {
                self.and(v_hi);
            }
            return self.load(hi_off);
        }
        let eq = self.jump(Jmp::Eq, v_hi, lo, if_less);
        if if_less != if_greater {
            self.jump(Jmp::Gt, v_hi, if_greater, eq);
        }
        self.load(hi_off)
    }

    /// The finished program in execution order.
    pub(crate) fn finish(mut self) -> Vec<sock_filter> {
        self.rev.reverse();
        self.rev
    }
}

pub(crate) mod interp {
    //! A classic-BPF evaluator for the subset the builder emits (`ld [k]` of seccomp_data,
    //! `and #k`, `ja`, `jeq/jgt/jge/jset #k`, `ret #k`).
    //!
    //! It answers "which return values can this program reach for this syscall?", with some
    //! arguments left unknown: a conditional jump on a value read from an unknown argument
    //! takes both branches. That over-approximates (it may explore paths no single value
    //! follows, e.g. through a high and a low word), which is the safe side for a caller that
    //! asks whether every reachable outcome is acceptable. The unit tests use it as a
    //! concrete interpreter (no unknown argument).
    //!
    //! Nothing here panics on a malformed program: an instruction outside the subset, a read
    //! outside seccomp_data, a jump past the end or more than [`BUDGET`] steps in all make
    //! [`explore`] return false.
    use super::*;

    /// The syscall the program is evaluated for.
    pub(crate) struct Data {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    /// Steps (instructions executed, summed over all explored paths) before giving up.
    pub(crate) const BUDGET: usize = 1 << 16;

    /// The accumulator: a value, or anything (read from an unknown argument).
    #[derive(Clone, Copy)]
    enum Acc {
        Known(u32),
        Any,
    }

    /// The 32-bit word of seccomp_data at `off`; `Any` for the instruction pointer and for
    /// the arguments whose bit is set in `unknown`. None when `off` is not a word of it.
    fn word(d: &Data, unknown: u8, off: u32) -> Option<Acc> {
        if off % 4 != 0 || off >= 64 {
            return None;
        }
        Some(match off {
            OFF_NR => Acc::Known(d.nr),
            OFF_ARCH => Acc::Known(d.arch),
            8 | 12 => Acc::Any,
            _ => {
                let index = ((off - OFF_ARGS) / 8) as usize;
                if unknown & (1 << index) != 0 {
                    return Some(Acc::Any);
                }
                let bytes = d.args[index].to_ne_bytes();
                let at = ((off - OFF_ARGS) % 8) as usize;
                Acc::Known(u32::from_ne_bytes([
                    bytes[at],
                    bytes[at + 1],
                    bytes[at + 2],
                    bytes[at + 3],
                ]))
            }
        })
    }

    /// Calls `visit` with the value of every `ret` the program reaches for `d`, where
    /// argument `i` ranges over all values when bit `i` of `unknown` is set. Returns true when
    /// the whole program was explored and `visit` accepted every value; false as soon as
    /// `visit` returns false or the program leaves the subset (see the module docs).
    pub(crate) fn explore(
        prog: &[sock_filter],
        d: &Data,
        unknown: u8,
        visit: &mut dyn FnMut(u32) -> bool,
    ) -> bool {
        let mut pending = vec![(0usize, Acc::Known(0))];
        let mut steps = 0usize;
        while let Some((mut pc, mut a)) = pending.pop() {
            loop {
                steps += 1;
                if steps > BUDGET {
                    return false;
                }
                let Some(&i) = prog.get(pc) else {
                    return false;
                };
                let next = pc + 1;
                match i.code {
                    c if c == BPF_LD | BPF_W | BPF_ABS => match word(d, unknown, i.k) {
                        Some(w) => a = w,
                        None => return false,
                    },
                    c if c == BPF_ALU | BPF_AND | BPF_K => {
                        if let Acc::Known(v) = a {
                            a = Acc::Known(v & i.k);
                        }
                    }
                    c if c == BPF_RET | BPF_K => {
                        if !visit(i.k) {
                            return false;
                        }
                        break;
                    }
                    c if c == BPF_JMP | BPF_JA => {
                        pc = next + i.k as usize;
                        continue;
                    }
                    c if c & 0x07 == BPF_JMP && c & 0x08 == BPF_K => {
                        let taken = |v: u32| match c & 0xf0 {
                            0x10 => Some(v == i.k),
                            0x20 => Some(v > i.k),
                            0x30 => Some(v >= i.k),
                            0x40 => Some(v & i.k != 0),
                            _ => None,
                        };
                        // The opcode must be one of the four even when A is unknown.
                        let Some(t) = taken(match a {
                            Acc::Known(v) => v,
                            Acc::Any => 0,
                        }) else {
                            return false;
                        };
                        match a {
                            Acc::Known(_) => {
                                pc = next + if t { i.jt } else { i.jf } as usize;
                            }
                            Acc::Any => {
                                pending.push((next + i.jf as usize, a));
                                pc = next + i.jt as usize;
                            }
                        }
                        continue;
                    }
                    _ => return false,
                }
                pc = next;
            }
        }
        true
    }

    /// The one value the program returns for fully known data (tests: panics otherwise).
    #[cfg(test)]
    pub(crate) fn run(prog: &[sock_filter], d: &Data) -> u32 {
        let mut ret = None;
        assert!(
            explore(prog, d, 0, &mut |v| {
                assert!(ret.is_none(), "a concrete run reaches one ret");
                ret = Some(v);
                true
            }),
            "the program left the supported subset"
        );
        ret.expect("a ret")
    }
}

#[cfg(test)]
mod tests {
    use super::interp::{run, Data};
    use super::*;

    const YES: u32 = 1;
    const NO: u32 = 2;

    fn eval(wide: bool, c: Cmp, arg: u64) -> bool {
        let mut b = Builder::default();
        let no = b.ret(NO);
        let yes = b.ret(YES);
        let start = b.cmp(wide, c, yes, no);
        b.goto(start);
        let prog = b.finish();
        let mut args = [0; 6];
        args[c.index as usize] = arg;
        run(
            &prog,
            &Data {
                nr: 0,
                arch: 0,
                args,
            },
        ) == YES
    }

    fn reference(c: Cmp, arg: u64) -> bool {
        match c.op {
            CmpOp::Ne => arg != c.value,
            CmpOp::Lt => arg < c.value,
            CmpOp::Le => arg <= c.value,
            CmpOp::Eq => arg == c.value,
            CmpOp::Ge => arg >= c.value,
            CmpOp::Gt => arg > c.value,
            CmpOp::MaskedEq => arg & c.value == c.value_two & c.value,
        }
    }

    #[test]
    fn every_operator_on_64_bit_edges() {
        let vals = [
            0,
            1,
            5,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0005,
            0x7fff_ffff_ffff_ffff,
            0x8000_0000_0000_0000,
            u64::MAX,
        ];
        let ops = [
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Eq,
            CmpOp::Ge,
            CmpOp::Gt,
            CmpOp::MaskedEq,
        ];
        for op in ops {
            for &value in &vals {
                for &value_two in &[0, 5, 0x1_0000_0000, u64::MAX] {
                    let c = Cmp {
                        index: 3,
                        op,
                        value,
                        value_two,
                    };
                    for &arg in &vals {
                        assert_eq!(
                            eval(true, c, arg),
                            reference(c, arg),
                            "{op:?} value={value:#x} two={value_two:#x} arg={arg:#x}"
                        );
                        // 32-bit ABI: the argument is its low word, zero-extended.
                        let arg32 = arg & 0xffff_ffff;
                        assert_eq!(eval(false, c, arg), reference(c, arg32), "32-bit {op:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn far_targets_get_trampolines() {
        // A far `ret` is copied near; any other far target needs a trampoline.
        let mut b = Builder::default();
        let miss = b.ret(9);
        b.ret(7);
        let hit = b.load(OFF_NR);
        let mut next = miss;
        for k in 0..600u32 {
            next = b.jump(Jmp::Eq, k, hit, next);
        }
        b.load(OFF_NR);
        let prog = b.finish();
        assert!(prog.iter().any(|i| i.code == BPF_JMP | BPF_JA));
        for nr in [0, 1, 300, 599] {
            assert_eq!(
                run(
                    &prog,
                    &Data {
                        nr,
                        arch: 0,
                        args: [0; 6]
                    }
                ),
                7
            );
        }
        assert_eq!(
            run(
                &prog,
                &Data {
                    nr: 598,
                    arch: 0,
                    args: [0; 6]
                }
            ),
            7
        );
        assert_eq!(
            run(
                &prog,
                &Data {
                    nr: 600,
                    arch: 0,
                    args: [0; 6]
                }
            ),
            9
        );
    }
}
