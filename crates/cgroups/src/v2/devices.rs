//! v2 device control: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) built
//! from the rules and attached with BPF_PROG_ATTACH.
//!
//! Semantics, as for v1's ordered devices.allow/deny writes: the last rule
//! that mentions an access bit decides that bit; a request is allowed only if
//! every bit it asks for is allowed; anything no rule mentions is denied. The
//! program walks the rules from last to first, keeping the bits still to be
//! decided in r6.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use super::bpf::{
    self, Insn, ALU_AND_K, ALU_MOV_K, ALU_MOV_X, ALU_RSH_K, JMP_EXIT, JMP_JEQ_K, JMP_JNE_K,
    LDX_MEM_W,
};
use crate::devices::{DevType, Rule, ACC_MKNOD, ACC_READ, ACC_WRITE};
use crate::error::{Error, Result};

// bpf_cgroup_dev_ctx.access_type: (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const BPF_ACC_MKNOD: u8 = 1;
const BPF_ACC_READ: u8 = 2;
const BPF_ACC_WRITE: u8 = 4;

fn bpf_access(a: u8) -> i32 {
    let mut out = 0;
    for (ours, theirs) in [
        (ACC_READ, BPF_ACC_READ),
        (ACC_WRITE, BPF_ACC_WRITE),
        (ACC_MKNOD, BPF_ACC_MKNOD),
    ] {
        if a & ours != 0 {
            out |= theirs;
        }
    }
    i32::from(out)
}

/// Build the program. Registers: r2 device type, r3 requested access,
/// r4 major, r5 minor, r6 access bits not decided yet, r1 scratch.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_MEM_W, 2, 1, 0, 0),
        Insn::new(ALU_MOV_X, 3, 2, 0, 0),
        Insn::new(ALU_AND_K, 2, 0, 0, 0xffff),
        Insn::new(ALU_RSH_K, 3, 0, 0, 16),
        Insn::new(LDX_MEM_W, 4, 1, 4, 0),
        Insn::new(LDX_MEM_W, 5, 1, 8, 0),
        Insn::new(ALU_MOV_X, 6, 3, 0, 0),
    ];
    for r in rules.iter().rev() {
        let acc = bpf_access(r.access);
        // Device numbers above i32::MAX cannot exist (majors have 12 bits,
        // minors 20), and the 64-bit compare would sign-extend them.
        let num = |v: Option<u32>| v.map(|v| i32::try_from(v).ok());
        let (major, minor) = (num(r.major), num(r.minor));
        if acc == 0 || major == Some(None) || minor == Some(None) {
            continue;
        }
        // Each block jumps to its end ("next") when the rule does not apply;
        // offsets are filled in once the block's length is known.
        let mut b: Vec<(Insn, bool)> = Vec::new();
        match r.typ {
            DevType::All => {}
            DevType::Block => b.push((Insn::new(JMP_JNE_K, 2, 0, 0, DEV_BLOCK), true)),
            DevType::Char => b.push((Insn::new(JMP_JNE_K, 2, 0, 0, DEV_CHAR), true)),
        }
        if let Some(Some(m)) = major {
            b.push((Insn::new(JMP_JNE_K, 4, 0, 0, m), true));
        }
        if let Some(Some(m)) = minor {
            b.push((Insn::new(JMP_JNE_K, 5, 0, 0, m), true));
        }
        b.push((Insn::new(ALU_MOV_X, 1, 6, 0, 0), false));
        b.push((Insn::new(ALU_AND_K, 1, 0, 0, acc), false));
        b.push((Insn::new(JMP_JEQ_K, 1, 0, 0, 0), true));
        if r.allow {
            b.push((Insn::new(ALU_AND_K, 6, 0, 0, !acc), false));
            b.push((Insn::new(JMP_JNE_K, 6, 0, 0, 0), true));
            b.push((Insn::new(ALU_MOV_K, 0, 0, 0, 1), false));
        } else {
            b.push((Insn::new(ALU_MOV_K, 0, 0, 0, 0), false));
        }
        b.push((Insn::new(JMP_EXIT, 0, 0, 0, 0), false));
        let len = b.len();
        for (i, (mut insn, jumps)) in b.into_iter().enumerate() {
            if jumps {
                insn.off = (len - i - 1) as i16;
            }
            p.push(insn);
        }
    }
    p.push(Insn::new(ALU_MOV_K, 0, 0, 0, 0));
    p.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    p
}

fn bpf_err<'a>(op: &'static str, dir: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Bpf {
        op,
        path: dir.to_path_buf(),
        source,
    }
}

pub(crate) fn apply(dir: &Path, devices: &[LinuxDeviceCgroup]) -> Result<()> {
    let rules = devices
        .iter()
        .map(|d| Rule::from_oci(d, &format!("{} (device program)", dir.display())))
        .collect::<Result<Vec<_>>>()?;
    let prog = bpf::load_device_prog(&program(&rules)).map_err(bpf_err("BPF_PROG_LOAD", dir))?;
    let cg = File::open(dir).map_err(|e| Error::Open {
        path: dir.to_path_buf(),
        source: e,
    })?;
    // Attach the new program before detaching the old ones: while both are
    // attached a device needs both to allow it, so no moment allows more than
    // either rule set.
    let old = bpf::query_device_progs(cg.as_fd()).map_err(bpf_err("BPF_PROG_QUERY", dir))?;
    bpf::attach(cg.as_fd(), prog.as_fd()).map_err(bpf_err("BPF_PROG_ATTACH", dir))?;
    for id in old {
        bpf::detach_id(cg.as_fd(), id).map_err(bpf_err("BPF_PROG_DETACH", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    /// A tiny interpreter for the instructions `program` emits.
    fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let mut next = pc + 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU_MOV_X => r[dst] = r[src] & 0xffff_ffff,
                ALU_MOV_K => r[dst] = u64::from(i.imm as u32),
                ALU_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                JMP_JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        next = pc + 1 + i.off as usize;
                    }
                }
                JMP_JEQ_K => {
                    if r[dst] == i.imm as i64 as u64 {
                        next = pc + 1 + i.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = next;
        }
    }

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        maj: Option<i64>,
        min: Option<i64>,
        acc: &str,
    ) -> Rule {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(acc);
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        Rule::from_oci(&b.build().unwrap(), "t").unwrap()
    }

    const R: u32 = BPF_ACC_READ as u32;
    const W: u32 = BPF_ACC_WRITE as u32;
    const M: u32 = BPF_ACC_MKNOD as u32;
    const CH: u32 = DEV_CHAR as u32;
    const BL: u32 = DEV_BLOCK as u32;

    #[test]
    fn default_deny_with_exceptions() {
        use LinuxDeviceType::*;
        let p = program(&[
            rule(false, A, None, None, "rwm"),
            rule(true, C, Some(1), Some(3), "rwm"),
            rule(true, C, Some(1), Some(5), "r"),
            rule(true, C, None, None, "m"),
        ]);
        assert_eq!(run(&p, CH, R | W, 1, 3), 1);
        assert_eq!(run(&p, CH, R, 1, 5), 1);
        assert_eq!(run(&p, CH, W, 1, 5), 0);
        assert_eq!(run(&p, CH, M, 200, 5), 1);
        assert_eq!(run(&p, BL, M, 8, 0), 0);
        assert_eq!(run(&p, CH, R, 1, 7), 0);
    }

    #[test]
    fn later_rules_win_per_bit() {
        use LinuxDeviceType::*;
        // allow all, then deny read of 1:3: write still allowed, read not.
        let p = program(&[
            rule(true, A, None, None, "rwm"),
            rule(false, C, Some(1), Some(3), "r"),
        ]);
        assert_eq!(run(&p, CH, W, 1, 3), 1);
        assert_eq!(run(&p, CH, R, 1, 3), 0);
        assert_eq!(run(&p, CH, R | W, 1, 3), 0);
        assert_eq!(run(&p, BL, R, 8, 0), 1);
        // Two allows for different bits add up.
        let p = program(&[
            rule(true, C, Some(1), Some(3), "r"),
            rule(true, C, Some(1), Some(3), "w"),
        ]);
        assert_eq!(run(&p, CH, R | W, 1, 3), 1);
        assert_eq!(run(&p, CH, M, 1, 3), 0);
        // No rules: everything denied.
        assert_eq!(run(&program(&[]), CH, R, 1, 3), 0);
    }
}
