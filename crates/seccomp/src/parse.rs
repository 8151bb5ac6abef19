//! Parsing `linux.seccomp` JSON with errors that name the unknown action, operator,
//! architecture or flag and where it is (oci-spec's own enums reject them with a generic
//! serde message).

use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

use crate::Error;

const ARCHS: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// Parses the `linux.seccomp` object of a config.json.
pub fn parse_seccomp(json: &[u8]) -> Result<LinuxSeccomp, Error> {
    let v: Value = serde_json::from_slice(json)?;
    check_names(&v)?;
    Ok(serde_json::from_value(v)?)
}

fn check_names(v: &Value) -> Result<(), Error> {
    let actions = crate::supported_actions();
    let operators = crate::supported_operators();
    let flags = crate::supported_flags();
    let unknown = |s: &Value, known: &[&str]| match s.as_str() {
        Some(name) if !known.contains(&name) => Some(name.to_string()),
        _ => None,
    };
    if let Some(name) = v.get("defaultAction").and_then(|a| unknown(a, &actions)) {
        let field = "linux.seccomp.defaultAction".to_string();
        return Err(Error::UnknownAction { name, field });
    }
    for a in v
        .get("architectures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = unknown(a, ARCHS) {
            return Err(Error::UnknownArch { name });
        }
    }
    for f in v
        .get("flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = unknown(f, &flags) {
            return Err(Error::UnknownFlag { name });
        }
    }
    let rules = v.get("syscalls").and_then(Value::as_array);
    for (ri, rule) in rules.into_iter().flatten().enumerate() {
        if let Some(name) = rule.get("action").and_then(|a| unknown(a, &actions)) {
            let field = format!("linux.seccomp.syscalls[{ri}].action");
            return Err(Error::UnknownAction { name, field });
        }
        let args = rule.get("args").and_then(Value::as_array);
        for (ai, arg) in args.into_iter().flatten().enumerate() {
            if let Some(name) = arg.get("op").and_then(|o| unknown(o, &operators)) {
                let field = format!("linux.seccomp.syscalls[{ri}].args[{ai}].op");
                return Err(Error::UnknownOperator { name, field });
            }
        }
    }
    Ok(())
}
