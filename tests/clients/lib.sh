# Shared helpers of the client tests (tests/clients/*.sh), sourced, bash.
#
# Each client script runs in a private mount and network namespace of its
# own (lib_enter_ns): the daemons, their bridges, netns files, CNI/IPAM state
# and mounts stay inside it and vanish with it. Cgroups are not namespaced:
# every container goes below a cgroup parent of ours inside our own memory
# cgroup, and lib_cleanup kills what is left there and removes it.

CLIENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$CLIENTS_DIR/../.." && pwd)
ONGGI=${ONGGI_RUNTIME:-$REPO/target/x86_64-unknown-linux-gnu/release/onggi-runtime}
RUNC=${RUNC:-$(command -v runc || true)}
BUSYBOX=${BUSYBOX:-/bin/busybox}

# ONGGI_TRACE=1: the clients get a wrapper that logs each runtime command
# line to $WORK/runtime-argv.log and keeps a copy of each created bundle's
# config.json in $WORK/bundles/, then execs onggi-runtime (debugging aid;
# the tests otherwise hand the clients the real binary).
lib_trace_wrapper() {
	[ -n "${ONGGI_TRACE:-}" ] || return 0
	local real=$ONGGI
	ONGGI=$WORK/bin/onggi-runtime
	mkdir -p "$WORK/bin" "$WORK/bundles"
	cat >"$ONGGI" <<WRAP
#!/bin/sh
echo "\$(date +%T.%N) \$*" >>$WORK/runtime-argv.log
prev= last=
for a in "\$@"; do
	[ "\$prev" = --bundle ] && b=\$a
	prev=\$a last=\$a
done
[ -n "\${b:-}" ] && cp "\$b/config.json" "$WORK/bundles/\$last.json" 2>/dev/null
exec $real "\$@"
WRAP
	chmod +x "$ONGGI"
}

PASS=0 FAIL=0 SKIP=0
FAILED=()

say() { printf '%s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ----------------------------------------------------------------------------
# Namespaces and the work dir
# ----------------------------------------------------------------------------

# Re-exec the calling script in a private mount + network namespace, once.
lib_enter_ns() {
	if [ -z "${ONGGI_CLIENTS_NS:-}" ]; then
		export ONGGI_CLIENTS_NS=1
		exec unshare --mount --net --propagation private -- bash "$0" "$@"
	fi
	ip link set lo up
	# State that clients keep at fixed host paths: shadow it with tmpfs
	# in this mount namespace so nothing lands on the host. A fresh /run
	# (netns files, runtime state, shim sockets, xtables lock, no systemd
	# or dbus), and the dirs below; one that does not exist is made for
	# the mount and removed afterwards.
	mount -t tmpfs -o mode=0755 tmpfs /run
	SHADOW_MADE=$(mktemp /tmp/onggi-clients-shadow.XXXXXX)
	local d
	for d in /var/lib/cni /etc/cni/net.d /etc/containerd /var/lib/containerd /etc/docker /var/lib/docker; do
		shadow_dir "$d"
	done
}

# shadow_dir DIR: a tmpfs over DIR in our mount namespace (DIR made, and
# removed at the end, if it does not exist; noted in a file, as tests call
# this from subshells).
shadow_dir() {
	local d=$1 p=$1 top=
	while [ ! -d "$p" ]; do top=$p p=$(dirname "$p"); done
	if [ -n "$top" ]; then
		mkdir -p "$d" || return 1
		echo "$top" >>"$SHADOW_MADE"
	fi
	mount -t tmpfs -o mode=0755 tmpfs "$d"
}

lib_unshadow() {
	local d
	[ -f "${SHADOW_MADE:-}" ] || return 0
	sort -u "$SHADOW_MADE" | while read -r d; do
		grep -F " $d" /proc/self/mountinfo | awk '{print $5}' | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null; done
		# only the (empty) dirs we made
		find "$d" -depth -type d -empty -delete 2>/dev/null
	done
	rm -f "$SHADOW_MADE"
}

# WORK: the client's scratch dir; LOGS: per-test logs.
lib_init() {
	CLIENT=$1
	WORK=$(mktemp -d "/tmp/onggi-clients-$CLIENT.XXXXXX")
	chmod 0711 "$WORK"
	LOGS=$WORK/logs
	mkdir -p "$LOGS"
	# the clients' helpers may drop files in their cwd (conmon its "oom")
	cd "$WORK" || exit 1
	lib_cgroup_init
	lib_trace_wrapper
	trap lib_cleanup EXIT
	trap 'exit 130' INT TERM
	CLEANUPS=()
	say "== $CLIENT (work dir $WORK)"
}

# Register a cleanup command (run in reverse order, errors ignored).
on_exit() { CLEANUPS+=("$*"); }

lib_cleanup() {
	local rc=$? __k
	set +eu
	trap - EXIT INT TERM
	for ((__k = ${#CLEANUPS[@]} - 1; __k >= 0; __k--)); do
		eval "${CLEANUPS[__k]}" >/dev/null 2>&1 || true
	done
	lib_kill_ns_procs
	lib_cgroup_cleanup
	lib_unshadow
	# Overlay and other mounts under WORK die with the namespace, but
	# unmount them now so rm can remove the dirs.
	grep -F " $WORK" /proc/self/mountinfo | awk '{print $5}' | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	if [ -n "${KEEP_WORK:-}" ] && [ "$FAIL" -gt 0 ]; then
		say "kept $WORK"
	else
		rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK" 2>/dev/null; } || say "warning: could not remove all of $WORK"
	fi
	exit $rc
}

# Kill every process left in our network or mount namespace but us
# (daemons, shims, conmon). Containers are killed through their cgroups.
lib_kill_ns_procs() {
	local myns mymnt p n
	myns=$(readlink /proc/self/ns/net) mymnt=$(readlink /proc/self/ns/mnt)
	for n in 1 2 3; do
		local left=0
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
			if [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$myns" ] ||
				[ "$(readlink /proc/$p/ns/mnt 2>/dev/null)" = "$mymnt" ]; then
				# our own pipeline helpers die by themselves
				[ "$(cut -d' ' -f4 /proc/$p/stat 2>/dev/null)" = $$ ] && continue
				kill -TERM "$p" 2>/dev/null && left=1
			fi
		done
		[ $left = 0 ] && return
		sleep 1
	done
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		if [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$myns" ]; then
			kill -KILL "$p" 2>/dev/null
		fi
	done
}

# ----------------------------------------------------------------------------
# Cgroups (v1 hybrid here, v2 works the same with one hierarchy)
# ----------------------------------------------------------------------------

# CG_PARENT: an absolute cgroup path below our own memory cgroup (v1) or
# our own cgroup (v2), for the clients' --cgroup-parent. Its dirs in the
# other v1 hierarchies do not exist yet: we create them through the
# runtime and remove them (and the intermediate dirs we made) afterwards.
lib_cgroup_init() {
	local own
	own=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	[ -n "$own" ] || own=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
	own=${own%/}
	CG_PARENT="$own/onggi-clients-$CLIENT-$$"
	CG_PREEXIST=()
	local mnt rel
	for mnt in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		[ -e "$mnt/cgroup.procs" ] || continue
		rel=$own
		while [ -n "$rel" ] && [ "$rel" != / ]; do
			[ -d "$mnt/$rel" ] && CG_PREEXIST+=("${mnt%/}$rel")
			rel=$(dirname "$rel")
		done
	done
}

# All dirs of CG_PARENT, in every hierarchy, that exist now.
cg_dirs() {
	local mnt
	for mnt in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		[ -d "${mnt%/}$CG_PARENT" ] && printf '%s\n' "${mnt%/}$CG_PARENT"
	done
}

cg_rm_tree() {
	local dir=$1 sub p i
	[ -d "$dir" ] || return 0
	for sub in "$dir"/*/; do
		[ -d "$sub" ] && cg_rm_tree "${sub%/}"
	done
	for i in $(seq 50); do
		if [ -f "$dir/freezer.state" ]; then echo THAWED >"$dir/freezer.state" 2>/dev/null; fi
		for p in $(cat "$dir/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		rmdir "$dir" 2>/dev/null && return 0
		[ -d "$dir" ] || return 0
		sleep 0.1
	done
	say "warning: could not remove cgroup $dir"
}

lib_cgroup_cleanup() {
	local d mnt rel pre keep
	for d in $(cg_dirs); do
		cg_rm_tree "$d"
	done
	# intermediate dirs (our own path in hierarchies where it did not
	# exist) that the runtime created for CG_PARENT: remove if empty
	for mnt in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		[ -e "$mnt/cgroup.procs" ] || continue
		rel=$(dirname "$CG_PARENT")
		while [ -n "$rel" ] && [ "$rel" != / ]; do
			d=${mnt%/}$rel keep=
			for pre in "${CG_PREEXIST[@]}"; do [ "$pre" = "$d" ] && keep=1; done
			[ -n "$keep" ] && break
			[ -d "$d" ] && { rmdir "$d" 2>/dev/null || break; }
			rel=$(dirname "$rel")
		done
	done
}

# The v1 dir of `controller` (or the v2 dir) of process PID.
cg_of_pid() {
	local pid=$1 ctrl=$2 line path
	line=$(grep -E "^[0-9]+:([^:]*,)?$ctrl(,[^:]*)?:" /proc/$pid/cgroup)
	if [ -n "$line" ]; then
		path=${line#*:*:}
		local mnt
		for mnt in /sys/fs/cgroup/$ctrl /sys/fs/cgroup/*$ctrl*; do
			[ -d "$mnt$path" ] && { echo "$mnt$path"; return; }
		done
	fi
	path=$(awk -F: '$1 == "0" { print $3 }' /proc/$pid/cgroup)
	echo "/sys/fs/cgroup$path"
}

# ----------------------------------------------------------------------------
# The test image: a busybox rootfs
# ----------------------------------------------------------------------------

# make_rootfs DIR: /bin/busybox, its applets, /etc/passwd|group, mount points
make_rootfs() {
	local dir=$1 a
	mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root,var,run}
	cp "$BUSYBOX" "$dir/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
	done
	mkdir -p "$dir/usr" && ln -s ../bin "$dir/usr/bin" && ln -s bin "$dir/sbin"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
	chmod 1777 "$dir/tmp"
}

# make_rootfs_tar TAR: the rootfs above as a plain tar (podman/docker import)
make_rootfs_tar() {
	local tar=$1 dir
	dir=$(mktemp -d "$WORK/rootfs.XXXXXX")
	make_rootfs "$dir"
	tar -C "$dir" --numeric-owner -cf "$tar" .
	rm -rf "$dir"
}

# ----------------------------------------------------------------------------
# Running tests
# ----------------------------------------------------------------------------

# t NAME FUNC [ARGS...]: run FUNC in a subshell with set -e, output to
# $LOGS/NAME.log; print ok/FAIL with the time; on failure show the log.
t() {
	local name=$1 fn=$2 start rc
	shift 2
	if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
	start=$(now)
	(
		set -eo pipefail
		"$fn" "$@"
	) >"$LOGS/$name.log" 2>&1 </dev/null
	rc=$?
	if [ $rc = 0 ]; then
		PASS=$((PASS + 1))
		say "ok   $CLIENT/$name ($(elapsed "$start")s)"
	elif [ $rc = 77 ]; then
		SKIP=$((SKIP + 1))
		say "skip $CLIENT/$name: $(tail -n1 "$LOGS/$name.log")"
	else
		FAIL=$((FAIL + 1))
		FAILED+=("$CLIENT/$name")
		say "FAIL $CLIENT/$name ($(elapsed "$start")s, rc $rc); log:"
		sed 's/^/    | /' "$LOGS/$name.log" | tail -n 60 >&2
	fi
}

skip() { echo "$*"; exit 77; }

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || die "$1: got '$2', want '$3'"; }
# expect_match WHAT GOT REGEX
expect_match() { [[ $2 =~ $3 ]] || die "$1: '$2' does not match /$3/"; }

# retry N CMD...: until CMD succeeds, N tries 0.2 s apart
retry() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# A container's view of itself, for comparing runtimes: capabilities,
# seccomp, no_new_privs, /dev, mounts (where, type, ro/rw), nofile, links.
ENV_PROBE='grep -E "^(Cap(Eff|Bnd)|Seccomp|NoNewPrivs)" /proc/self/status; ls /dev | tr "\n" " "; echo; mount | sed -E "s/^[^ ]+ on ([^ ]+) type ([^ ]+) \((r[wo]).*/\1 \2 \3/" | sort; ulimit -n; ip -o link | cut -d" " -f2-3'
# Differences from runc that are known and accepted (noted, not failed):
# onggi mounts the cgroup2 of a v1 hybrid host at /sys/fs/cgroup/unified
# and keeps the /sys/fs/cgroup tmpfs read-only, where runc 1.1 leaves the
# tmpfs rw and does not mount the unified hierarchy.
KNOWN_DIFFS='^(> /sys/fs/cgroup/unified cgroup2 ro|< /sys/fs/cgroup tmpfs rw|> /sys/fs/cgroup tmpfs ro)$'

# compare_env RUNC_OUTPUT ONGGI_OUTPUT: die on an unknown difference
compare_env() {
	local d
	d=$(diff <(echo "$1") <(echo "$2") | grep '^[<>]' || true)
	[ -n "$d" ] || return 0
	echo "runc (<) vs onggi (>):"
	echo "$d"
	if echo "$d" | grep -Ev "$KNOWN_DIFFS" >/dev/null; then
		die "container environment differs from runc"
	fi
	echo "$d" | sed 's/^/note: differs from runc (known): /' >>"$WORK/notes"
}

lib_summary() {
	[ -s "$WORK/notes" ] && sed "s|^|$CLIENT: |" "$WORK/notes" >&2
	say "== $CLIENT: $PASS passed, $FAIL failed, $SKIP skipped"
	[ ${#FAILED[@]} = 0 ] || say "   failed: ${FAILED[*]}"
	echo "$PASS $FAIL $SKIP" >"${RESULT_FILE:-/dev/null}"
	[ "$FAIL" = 0 ]
}
