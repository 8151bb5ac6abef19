#!/usr/bin/env python3
"""Writes tests/data/docker_like.json: a profile shaped like container engines' defaults
(default ERRNO, ~350 allowed names over x86_64/x86/x32, a few argument rules), built from our
own syscall tables minus a deny list. Used by the timing test; not a security policy."""
import json
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
names = set()
for t in ("x86_64", "x86"):
    with open(os.path.join(here, "..", "src", "tables", t + ".rs")) as f:
        names |= set(re.findall(r'\("(\w+)", \d+\)', f.read()))

DENY = """acct add_key bpf clock_adjtime clock_settime create_module delete_module finit_module
get_kernel_syms get_mempolicy init_module ioperm iopl kcmp kexec_file_load kexec_load keyctl
lookup_dcookie mbind mount move_pages name_to_handle_at nfsservctl open_by_handle_at
perf_event_open pivot_root process_vm_readv process_vm_writev ptrace query_module quotactl
quotactl_fd reboot request_key set_mempolicy set_mempolicy_home_node setns settimeofday stime
swapon swapoff sysfs _sysctl umount umount2 unshare uselib userfaultfd ustat vm86 vm86old
fsconfig fsmount fsopen fspick move_mount open_tree open_tree_attr mount_setattr syslog
personality clone clone3 socket afs_syscall tuxcall security vserver putpmsg getpmsg
lsm_set_self_attr chroot""".split()
allowed = sorted(n for n in names if n not in DENY and not n.startswith("_"))

rules = [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
for persona in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
    rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]})
# clone without new namespaces (CLONE_NEW* bits).
rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
              "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]})
rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
rules.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
              "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]})

profile = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": rules,
}
out = os.path.join(here, "..", "tests", "data", "docker_like.json")
with open(out, "w") as f:
    json.dump(profile, f, indent=1)
    f.write("\n")
print(len(allowed), "allowed names")
