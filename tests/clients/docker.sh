#!/usr/bin/env bash
# Docker driving onggi-runtime: a private dockerd (--add-runtime onggi=PATH,
# cgroupfs, its own data-root, exec-root, socket, pidfile and managed
# containerd; iptables and masquerading off) in a private network namespace,
# so its default bridge (docker0) lives and dies there. Some results are
# compared with runc (dockerd's default runtime) through the same daemon.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_enter_ns "$@"
lib_init docker

D=$WORK/docker
mkdir -p "$D"/{data,exec,client}
SOCK=$D/docker.sock
echo '{}' >"$D/daemon.json"
# onggi-wa: onggi-runtime behind a wrapper that drops the
# linux.resources.blockIO.weight 0 that dockerd writes into every spec (see
# run-plain); the other tests use it while plain onggi fails on that.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/onggi-wa" <<WRAP
#!/bin/sh
prev=
for a in "\$@"; do [ "\$prev" = --bundle ] && b=\$a; prev=\$a; done
if [ -n "\${b:-}" ] && jq -e '.linux.resources.blockIO.weight == 0' "\$b/config.json" >/dev/null 2>&1; then
	jq 'del(.linux.resources.blockIO.weight)' "\$b/config.json" >"\$b/config.json.wa" && mv "\$b/config.json.wa" "\$b/config.json"
fi
exec $ONGGI "\$@"
WRAP
chmod +x "$WORK/bin/onggi-wa"
dockerd --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/exec" \
	-H "unix://$SOCK" --pidfile "$D/docker.pid" \
	--add-runtime "onggi=$ONGGI" --add-runtime "onggi-wa=$WORK/bin/onggi-wa" --exec-opt native.cgroupdriver=cgroupfs \
	--cgroup-parent "$CG_PARENT" --iptables=false --ip-masq=false --ip6tables=false \
	--userland-proxy=false --storage-driver overlay2 --log-level debug \
	>"$D/dockerd.log" 2>&1 &
DOCKERD_PID=$!
on_exit "kill $DOCKERD_PID; for i in \$(seq 50); do kill -0 $DOCKERD_PID || break; sleep 0.2; done; kill -9 $DOCKERD_PID"
export DOCKER_CONFIG=$D/client
dk() { timeout -k 5 ${DK_TIMEOUT:-60} docker -H "unix://$SOCK" "$@"; }
for i in $(seq 150); do dk version >/dev/null 2>&1 && break; sleep 0.2; done
dk version >/dev/null || { tail -n 30 "$D/dockerd.log" >&2; die "dockerd did not come up"; }
on_exit 'dk rm -f $(dk ps -aq)'

IMG=localhost/onggi-busybox:latest
# dr RUNTIME ARGS...: docker run with a runtime name (onggi or runc)
dr() { local rt=$1; shift; dk run --runtime "$rt" "$@"; }
ONGGI_RT=onggi
do_() { dr $ONGGI_RT "$@"; }

# The runtime's --log file of a container (json lines), from the shim's bundle
runtime_log() {
	local id
	id=$(dk inspect --format '{{.Id}}' "$1" 2>/dev/null) || return 0
	cat "$D/exec/containerd/daemon/io.containerd.runtime.v2.task/moby/$id/log.json" 2>/dev/null
}

test_import() {
	make_rootfs_tar "$WORK/rootfs.tar"
	dk import --change 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$IMG"
	dk images
	dk info --format '{{json .Runtimes}} cgroup driver {{.CgroupDriver}} v{{.CgroupVersion}}'
}

# docker run as it comes, with the runtime as it is
test_run_plain() {
	local out
	out=$(dr onggi --rm "$IMG" echo plain 2>&1) || { echo "$out"; die "docker run --runtime onggi failed"; }
	expect_eq "stdout" "$out" plain
}

# While plain onggi fails on dockerd's blockIO.weight 0, the other tests use
# onggi-wa, so that they test the rest.
pick_runtime() {
	local out
	dk image inspect "$IMG" >/dev/null 2>&1 || return 0
	if ! out=$(dr onggi --rm "$IMG" true 2>&1) && [[ $out == *blkio*weight* ]]; then
		ONGGI_RT=onggi-wa
		echo "note: the other docker tests use onggi-wa (drops blockIO.weight 0), see run-plain" >>"$WORK/notes"
	fi
}

test_run_output() {
	local out rc
	out=$(do_ --rm "$IMG" echo hello from onggi)
	expect_eq "stdout" "$out" "hello from onggi"
	out=$(do_ --rm "$IMG" sh -c 'echo to-stderr >&2' 2>&1 >/dev/null)
	expect_eq "stderr" "$out" "to-stderr"
	set +e
	do_ --rm "$IMG" sh -c 'exit 3'
	rc=$?
	set -e
	expect_eq "exit code" "$rc" 3
	out=$(echo piped | do_ --rm -i "$IMG" cat)
	expect_eq "stdin" "$out" piped
	out=$(do_ --rm -e FOO=bar -w /tmp --hostname onggi-host --user 65534:65534 "$IMG" sh -c 'echo $FOO $(pwd) $(hostname) $(id -u)')
	expect_eq "env/cwd/hostname/user" "$out" "bar /tmp onggi-host 65534"
	# -t: docker wants no terminal of ours for a non-interactive -t run
	out=$(do_ --rm -t "$IMG" tty | tr -d '\r')
	expect_match "tty" "$out" "/dev/pts/[0-9]+"
}

test_detached_lifecycle() {
	local c=lc out pid
	do_ -d --name $c "$IMG" sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.2; done'
	retry 25 sh -c "docker -H unix://$SOCK logs $c | grep -q started" || die "logs: no 'started'"
	expect_eq "status" "$(dk inspect --format '{{.State.Status}}' $c)" running
	expect_eq "runtime" "$(dk inspect --format '{{.HostConfig.Runtime}}' $c)" $ONGGI_RT
	pid=$(dk inspect --format '{{.State.Pid}}' $c)
	expect_match "cgroup" "$(cat /proc/$pid/cgroup)" "$CG_PARENT"
	out=$(dk exec $c echo exec-ok)
	expect_eq "exec" "$out" exec-ok
	out=$(dk exec -e X=1 -w /tmp -u 65534 $c sh -c 'echo $X $(pwd) $(id -u)')
	expect_eq "exec env/cwd/user" "$out" "1 /tmp 65534"
	set +e
	dk exec $c sh -c 'exit 7'
	local rc=$?
	set -e
	expect_eq "exec exit code" "$rc" 7
	out=$(dk exec -t $c tty | tr -d '\r')
	expect_match "exec -t" "$out" "/dev/pts/[0-9]+"
	# docker top: dockerd asks containerd for the pids (the shim runs
	# onggi-runtime ps --format json), then runs ps on the host
	out=$(dk top $c)
	echo "$out"
	expect_match "top" "$out" "sh -c echo started"
	dk ps --filter name=$c | grep -q $c || die "ps does not list $c"
	dk stats --no-stream $c
	dk stop -t 10 $c
	expect_eq "status after stop" "$(dk inspect --format '{{.State.Status}}' $c)" exited
	expect_eq "exit code after stop" "$(dk inspect --format '{{.State.ExitCode}}' $c)" 0
	dk logs $c | grep -q got-term || die "logs: no got-term after stop"
	dk start $c
	expect_eq "status after start" "$(dk inspect --format '{{.State.Status}}' $c)" running
	dk restart -t 2 $c
	expect_eq "status after restart" "$(dk inspect --format '{{.State.Status}}' $c)" running
	dk kill $c
	expect_eq "exit code after kill" "$(dk wait $c)" 137
	dk rm $c
	! dk inspect $c >/dev/null 2>&1 || die "$c still exists"
}

# docker rm -f of a running container, and docker kill of one that has
# just exited
test_rm_force() {
	do_ -d --name rmf "$IMG" sleep 1000
	dk rm -f rmf || { runtime_log rmf; die "rm -f of a running container"; }
	do_ -d --name rmf2 "$IMG" true
	dk wait rmf2
	dk rm -f rmf2 || { runtime_log rmf2; die "rm -f of an exited container"; }
}

# quick execs, 20 times (at most 3 failures): docker exec waits for the exit the shim (a
# subreaper) must see
exec_fast_case() {
	local rt=$1 c=fx-$1 i bad=0
	dr "$rt" -d --name $c "$IMG" sleep 1000
	for i in $(seq 20); do
		DK_TIMEOUT=3 dk exec $c true || { echo "exec $i: rc $? (124: no exit after 3 s)"; bad=$((bad + 1)); }
		[ $bad -lt 3 ] || break
	done
	dk rm -f $c
	[ $bad = 0 ] || die "$bad of $i quick execs failed or never returned"
}
test_exec_fast_exit() { exec_fast_case $ONGGI_RT; }

test_pause_resume() {
	local c=pr pid n1 n2
	do_ -d --name $c "$IMG" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done'
	sleep 0.3
	pid=$(dk inspect --format '{{.State.Pid}}' $c)
	dk pause $c
	expect_eq "status" "$(dk inspect --format '{{.State.Status}}' $c)" paused
	expect_eq "freezer.state" "$(cat "$(cg_of_pid "$pid" freezer)/freezer.state")" FROZEN
	n1=$(cat /proc/$pid/root/tmp/n); sleep 0.5; n2=$(cat /proc/$pid/root/tmp/n)
	expect_eq "counter while paused" "$n2" "$n1"
	dk unpause $c
	expect_eq "status" "$(dk inspect --format '{{.State.Status}}' $c)" running
	sleep 0.5
	n2=$(cat /proc/$pid/root/tmp/n)
	[ "$n2" -gt "$n1" ] || die "counter did not move after unpause"
	dk rm -f $c
}

oom_case() {
	local rt=$1 c=oom-$1 rc
	set +e
	dr "$rt" --name $c --memory 16m "$IMG" dd if=/dev/zero of=/dev/null bs=64M count=1
	rc=$?
	set -e
	dk inspect --format '{{.State.OOMKilled}}' $c >"$WORK/oom-$1"
	echo "rc=$rc OOMKilled=$(cat "$WORK/oom-$1")"
	expect_eq "exit code" "$rc" 137
	dk rm $c
}
test_oom() { oom_case $ONGGI_RT; }

test_limits_update() {
	local c=lim pid cg out cur
	do_ -d --name $c --memory 32m --pids-limit 10 "$IMG" sleep 1000
	pid=$(dk inspect --format '{{.State.Pid}}' $c)
	expect_eq "memory.limit_in_bytes" "$(cat "$(cg_of_pid "$pid" memory)/memory.limit_in_bytes")" 33554432
	cg=$(cg_of_pid "$pid" pids)
	expect_eq "pids.max" "$(cat "$cg/pids.max")" 10
	out=$(dk exec $c sh -c 'for i in $(seq 20); do sleep 30 & done' 2>&1) || true
	echo "$out"
	expect_match "fork failure" "$out" "(fork|Resource temporarily unavailable)"
	cur=$(cat "$cg/pids.current")
	echo "pids.current=$cur"
	[ "$cur" -ge 8 ] && [ "$cur" -le 10 ] || die "pids.current $cur with pids.max 10"
	# dockerd puts cpu.shares 0 in every spec: it must mean "unset" (1024)
	expect_eq "cpu.shares" "$(cat "$(cg_of_pid "$pid" cpu)/cpu.shares")" 1024
	dk rm -f $c
}

test_update() {
	local c=upd pid cg
	do_ -d --name $c --memory 32m --pids-limit 10 "$IMG" sleep 1000
	pid=$(dk inspect --format '{{.State.Pid}}' $c)
	cg=$(cg_of_pid "$pid" pids)
	# docker update: the shim runs onggi-runtime update --resources
	dk update --memory 48m --memory-swap 96m --pids-limit 20 $c || { runtime_log $c; die "docker update failed"; }
	expect_eq "memory.limit_in_bytes after update" "$(cat "$(cg_of_pid "$pid" memory)/memory.limit_in_bytes")" 50331648
	expect_eq "pids.max after update" "$(cat "$cg/pids.max")" 20
	dk rm -f $c
}

net_none_case() {
	local out
	out=$(dr "$1" --rm --network none "$IMG" sh -c 'ip -o link; ip -o -4 addr')
	echo "$out"
	expect_eq "interfaces" "$(echo "$out" | grep -E '^[0-9]+: [a-z0-9@]+:' | awk -F': ' '{print $2}' | tr '\n' ' ')" "lo "
	expect_match "lo up with 127.0.0.1" "$out" "lo +inet 127\.0\.0\.1"
}
test_network_none() { net_none_case $ONGGI_RT; }

net_default_case() {
	local out
	out=$(dr "$1" --rm "$IMG" sh -c 'ip -o -4 addr; ip route; ping -c1 -W2 $(ip route | awk "/default/ {print \$3}") >/dev/null && echo gw-reachable')
	echo "$out"
	expect_match "lo" "$out" "lo +inet 127\.0\.0\.1"
	expect_match "eth0" "$out" "eth0 +inet 172\.17\."
	expect_match "gateway" "$out" "gw-reachable"
}
test_network_default() { net_default_case $ONGGI_RT; }

test_runc_compare() {
	# the same cases with runc first: they must pass
	oom_case runc
	# dockerd 20.10 sets OOMKilled from containerd's OOM event racing the
	# exit event: with runc here it says true about half the time. So it
	# is reported, not asserted (containerd.sh asserts the OOM event).
	echo "note: OOMKilled of a 137 exit: onggi $(cat "$WORK/oom-$ONGGI_RT" 2>/dev/null), runc $(cat "$WORK/oom-runc") (racy in dockerd 20.10)" >>"$WORK/notes"
	exec_fast_case runc
	net_none_case runc
	net_default_case runc
	local a b
	a=$(do_ --rm --network none "$IMG" sh -c "$ENV_PROBE")
	b=$(dr runc --rm --network none "$IMG" sh -c "$ENV_PROBE")
	compare_env "$b" "$a"
}

if [ -n "${CLIENTS_DEBUG:-}" ]; then source "$CLIENTS_DEBUG"; exit; fi

t import test_import
t run-plain test_run_plain
pick_runtime
t run-output test_run_output
t detached-lifecycle test_detached_lifecycle
t rm-force test_rm_force
t exec-fast-exit test_exec_fast_exit
t pause-resume test_pause_resume
t oom-kill test_oom
t limits test_limits_update
t update test_update
t network-none test_network_none
t network-default test_network_default
t runc-compare test_runc_compare
lib_summary
