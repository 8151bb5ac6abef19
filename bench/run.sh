#!/bin/bash
# bench/run.sh - onggi-runtime beside runc and crun, alternating, on one busybox bundle
#
# usage: sudo bench/run.sh [options]
#
#   For each runtime, N containers of each kind, one per round, the runtimes taking
#   turns within every round, the order turning by one each round (onggi, runc,
#   crun, then runc, crun, onggi, then crun, onggi, runc, ...):
#     run   `RUNTIME run --bundle B ID`, /bin/true, foreground
#     csd   `create --pid-file`, `start`, wait for the init to exit (polling /proc,
#           no runtime call), `delete`; each step timed on its own
#   then the peak RSS of the runtime (`/usr/bin/time -f %M` of `run` and of
#   `create`), then the smallest memory limit under which `run /bin/true` still
#   succeeds (bisection to 16 KiB), then medians, p90s and the ratios onggi/crun,
#   onggi/runc. Load average at start and end.
#
#   Every runtime is driven by a worker shell of its own that times its calls; the
#   crun worker lives in a private mount namespace (entered once) in which the
#   hybrid cgroup2 mount /sys/fs/cgroup/unified is unmounted (crun 1.8 refuses
#   hybrid cgroups). Each container has a unique id; each runtime a private --root.
#   All is removed at exit, also on Ctrl-C.
#
# options:
#   -n N               containers per runtime and kind (default 400; 1-3 min by load)
#   --runtimes LIST    comma-separated names or name=path (default onggi,runc,crun);
#                      a name starting with "crun" gets the private mount namespace
#   --onggi PATH       onggi-runtime binary (default $ONGGI, else
#                      <repo>/target/x86_64-unknown-linux-gnu/release/onggi-runtime, else PATH)
#   --warmup K         untimed containers per runtime and kind first (default 3)
#   --rss K            measured `run`s and `create`s per runtime for peak RSS (default 10)
#   --minmem-tries K   runs per probed limit, all must pass (default 3; 0 = skip)
#   --tmpdir DIR       bundle, state and results (default $TMPDIR or /tmp)
#   --keep             keep the results directory (raw per-container timings)
#   -h, --help         this text
set -uo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
SELF=$BENCH_DIR/run.sh

# ============================================================================
# worker: runs one runtime's containers on command; results into files in $W
# ============================================================================
worker_main() {  # NAME BIN HIDE
    local name=$1 bin=$2 hide=$3
    W=$WORK/w-$name
    RT=("$bin" --root "$WORK/state-$name")
    PREFIX="ob$TAG-$name"
    cur=
    [ "$hide" = 1 ] && hide_unified
    exec {IN}<"$W/cmd" {OUT}>"$W/ack"
    exec {SLEEPFD}<> <(:)
    trap 'exit 130' INT TERM
    trap worker_cleanup EXIT
    local cmd arg
    while read -r cmd arg <&"$IN"; do
        case $cmd in
            run)    repeat "$arg" one_run ;;
            csd)    repeat "$arg" one_csd ;;
            warm)   W_WARM=1 repeat "$arg" one_run; W_WARM=1 repeat "$arg" one_csd ;;
            rss)    repeat "$arg" one_rss ;;
            minmem) minmem "$arg" ;;
            quit)   echo ok >&"$OUT"; break ;;
        esac
        echo ok >&"$OUT"
    done
}

worker_cleanup() {
    trap - EXIT INT TERM
    [ -n "${cur:-}" ] && "${RT[@]}" delete -f "$cur" >/dev/null 2>&1
    local id
    for id in $("${RT[@]}" list -q 2>/dev/null); do "${RT[@]}" delete -f "$id" >/dev/null 2>&1; done
    [ "${HIDE:-0}" = 1 ] && unified_tmpfs_cleanup "$CGTAG"
}

nap() { read -r -t "$1" -u "$SLEEPFD" _ || true; }
now() { echo "${EPOCHREALTIME/[.,]/}"; }
seq_no=0
next_id() { seq_no=$((seq_no + 1)); cur="$PREFIX-$1$seq_no"; }
note_fail() {  # what: first lines of the error, once per kind
    echo "$1 $cur" >>"$W/fail"
    if [ ! -e "$W/fail-shown-$1" ]; then
        : >"$W/fail-shown-$1"
        echo "run.sh: $NAME: $1 failed (id $cur): $(head -c 300 "$W/err" | tr '\n' ' ')" >&2
    fi
}
repeat() { local i; for ((i = 0; i < $1; i++)); do "$2"; done; }

# wait until the init (pid) has exited: gone, or a zombie not yet reaped
wait_exit() {
    local pid=$1 st i=0 line
    while [ -r "/proc/$pid/stat" ]; do
        read -r line <"/proc/$pid/stat" 2>/dev/null || break
        st=${line##*) }; st=${st%% *}
        [ "$st" = Z ] || [ "$st" = X ] && break
        i=$((i + 1))
        if [ $i -lt 50 ]; then nap 0.0002; else nap 0.002; fi
        [ $i -gt 5000 ] && return 1
    done
    return 0
}

one_run() {
    local a b
    next_id r
    a=${EPOCHREALTIME/[.,]/}
    if "${RT[@]}" run --bundle "$BUNDLE" "$cur" </dev/null >/dev/null 2>"$W/err"; then
        b=${EPOCHREALTIME/[.,]/}
        [ -n "${W_WARM:-}" ] || echo $((b - a)) >>"$W/run"
    else
        [ -n "${W_WARM:-}" ] || note_fail run
        "${RT[@]}" delete -f "$cur" >/dev/null 2>&1
    fi
    cur=
}

one_csd() {
    local a b c d e pid
    next_id c
    a=${EPOCHREALTIME/[.,]/}
    "${RT[@]}" create --bundle "$BUNDLE" --pid-file "$W/pid" "$cur" </dev/null >/dev/null 2>"$W/err" \
        || { [ -n "${W_WARM:-}" ] || note_fail create; "${RT[@]}" delete -f "$cur" >/dev/null 2>&1; cur=; return; }
    b=${EPOCHREALTIME/[.,]/}
    "${RT[@]}" start "$cur" </dev/null >/dev/null 2>"$W/err" \
        || { [ -n "${W_WARM:-}" ] || note_fail start; "${RT[@]}" delete -f "$cur" >/dev/null 2>&1; cur=; return; }
    c=${EPOCHREALTIME/[.,]/}
    read -r pid <"$W/pid"
    wait_exit "$pid" || echo "run.sh: $NAME: $cur still running after 10 s" >&2
    d=${EPOCHREALTIME/[.,]/}
    "${RT[@]}" delete "$cur" </dev/null >/dev/null 2>"$W/err" \
        || { [ -n "${W_WARM:-}" ] || note_fail delete; "${RT[@]}" delete -f "$cur" >/dev/null 2>&1; cur=; return; }
    e=${EPOCHREALTIME/[.,]/}
    cur=
    [ -n "${W_WARM:-}" ] || echo "$((e - a)) $((b - a)) $((c - b)) $((d - c)) $((e - d))" >>"$W/csd"
}

# peak RSS (KiB) of `run` and of `create` (wait4 rusage via GNU time: the largest of
# the runtime process and the descendants it reaped; `create`'s init is not reaped
# by it, so that is the create process alone)
one_rss() {
    local pid
    next_id m
    /usr/bin/time -f %M -o "$W/t" "${RT[@]}" run --bundle "$BUNDLE" "$cur" </dev/null >/dev/null 2>"$W/err" \
        && cat "$W/t" >>"$W/rss-run" || note_fail rss-run
    "${RT[@]}" delete -f "$cur" >/dev/null 2>&1
    next_id m
    if /usr/bin/time -f %M -o "$W/t" "${RT[@]}" create --bundle "$BUNDLE" --pid-file "$W/pid" "$cur" \
            </dev/null >/dev/null 2>"$W/err"; then
        cat "$W/t" >>"$W/rss-create"
        "${RT[@]}" start "$cur" >/dev/null 2>&1
        read -r pid <"$W/pid"; wait_exit "$pid"
    else
        note_fail rss-create
    fi
    "${RT[@]}" delete -f "$cur" >/dev/null 2>&1
    cur=
}

# smallest linux.resources.memory.limit under which TRIES runs of `run /bin/true`
# in a row exit 0: 256K, then doubling up (or halving down) to the first change,
# then bisection to 16K
minmem() {
    local tries=$1 lo hi mid step=16384 mmb=$W/mm
    mkdir -p "$mmb"
    : >"$W/minmem.log"
    probe() {
        local i rc
        jq --argjson m "$1" '.linux.resources.memory.limit = $m' "$BUNDLE/config.json" >"$mmb/config.json"
        jq --arg r "$BUNDLE/rootfs" '.root.path = $r' "$mmb/config.json" >"$mmb/c" && mv "$mmb/c" "$mmb/config.json"
        for ((i = 0; i < tries; i++)); do
            next_id k
            "${RT[@]}" run --bundle "$mmb" "$cur" </dev/null >/dev/null 2>"$W/err"; rc=$?
            "${RT[@]}" delete -f "$cur" >/dev/null 2>&1; cur=
            if [ $rc -ne 0 ]; then
                echo "$(($1 / 1024))K:FAIL(rc=$rc)" >>"$W/minmem.log"
                [ -s "$W/minmem.why" ] || { echo "at $(($1 / 1024))K: rc=$rc $(head -c 200 "$W/err" | tr '\n' ' ')" >"$W/minmem.why"; }
                return 1
            fi
        done
        echo "$(($1 / 1024))K:ok" >>"$W/minmem.log"
        return 0
    }
    lo=0 hi=$((256 * 1024))
    if probe $hi; then
        lo=$((hi / 2))
        while [ $lo -ge $step ] && probe $lo; do hi=$lo; lo=$((lo / 2)); done
        [ $lo -lt $step ] && lo=0
    else
        lo=$hi; hi=$((hi * 2))
        while ! probe $hi; do
            lo=$hi; hi=$((hi * 2))
            [ $hi -gt $((256 * 1048576)) ] && { echo "none $lo" >"$W/minmem"; return; }
        done
    fi
    while [ $((hi - lo)) -gt $step ]; do
        mid=$(( (lo + hi) / 2 / step * step ))
        [ $mid -le $lo ] && break
        if probe $mid; then hi=$mid; else lo=$mid; fi
    done
    echo "$hi $lo" >"$W/minmem"
}

if [ "${1:-}" = __worker ]; then
    NAME=$2 HIDE=$4
    worker_main "$2" "$3" "$4" </dev/null
    exit 0
fi
[ "${1:-}" = __worker ] && exit 1   # (an error that abandoned the block above)

# ============================================================================
# driver
# ============================================================================
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
N=400 warmup=3 rssk=10 mmtries=3 tmpbase=${TMPDIR:-/tmp} keep=0
runtimes=onggi,runc,crun onggi_bin=
while [ $# -gt 0 ]; do
    case $1 in
        -n) N=$2; shift 2 ;;
        --runtimes) runtimes=$2; shift 2 ;;
        --onggi) onggi_bin=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --rss) rssk=$2; shift 2 ;;
        --minmem-tries) mmtries=$2; shift 2 ;;
        --tmpdir) tmpbase=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
for v in "$N" "$warmup" "$rssk" "$mmtries"; do
    case $v in ''|*[!0-9]*) die "counts must be non-negative integers" ;; esac
done
[ "$N" -gt 0 ] || die "-n must be > 0"
[ "$(id -u)" = 0 ] || die "run as root (sudo bench/run.sh)"
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5"
for t in jq unshare /usr/bin/time; do command -v "$t" >/dev/null || die "$t not found"; done

# runtimes: name or name=path
parse_runtimes "$runtimes"
nrt=${#names[@]}

TAG=$$
export TAG CGTAG="onggi-bench-$$"
WORK=$(mktemp -d "$tmpbase/onggi-bench.XXXXXX") || die "mktemp failed in $tmpbase"
export WORK
BUNDLE=$WORK/bundle
export BUNDLE
WPIDS=() CMDFD=() ACKFD=()
cleanup() {
    trap - EXIT INT TERM
    local i
    for i in "${!WPIDS[@]}"; do kill -TERM "${WPIDS[$i]}" 2>/dev/null; done
    for i in "${!WPIDS[@]}"; do wait "${WPIDS[$i]}" 2>/dev/null; done
    cgroup_cleanup "$CGTAG"
    if [ $keep = 1 ]; then echo "# results kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted, cleaning up" >&2; exit 130' INT TERM

# the bundle: config from `onggi-runtime spec` (else runc/crun spec)
spec_tools=()
for i in "${!names[@]}"; do [ "${names[$i]}" = onggi ] && spec_tools+=("${bins[$i]}"); done
spec_tools+=("$(command -v runc || true)" "$(command -v crun || true)")
make_bundle "$BUNDLE" '["/bin/true"]' "$CGTAG/ct" "${spec_tools[@]}"

send() {  # INDEX COMMAND: one command to a worker, wait for its ok
    local i=$1 reply
    echo "$2" >&"${CMDFD[$i]}"
    while ! read -r -t 5 reply <&"${ACKFD[$i]}"; do
        kill -0 "${WPIDS[$i]}" 2>/dev/null || die "worker ${names[$i]} died"
    done
}
for i in "${!names[@]}"; do
    w=$WORK/w-${names[$i]}
    mkdir -p "$w" "$WORK/state-${names[$i]}" && mkfifo "$w/cmd" "$w/ack" || die "mkfifo failed"
    if [ "${hides[$i]}" = 1 ]; then
        env --default-signal=INT,QUIT unshare --mount --propagation private -- \
            "$BASH" "$SELF" __worker "${names[$i]}" "${bins[$i]}" 1 &
    else
        env --default-signal=INT,QUIT "$BASH" "$SELF" __worker "${names[$i]}" "${bins[$i]}" 0 &
    fi
    WPIDS[$i]=$!   # background jobs of a script ignore SIGINT: env undoes that, so Ctrl-C reaches the workers too
    exec {fd}<>"$w/cmd"; CMDFD[$i]=$fd
    exec {fd}<>"$w/ack"; ACKFD[$i]=$fd
done

load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$SECONDS
echo "# onggi-runtime benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "# load average at start: $load0"
for i in "${!names[@]}"; do
    note=
    [ "${hides[$i]}" = 1 ] && note="  [private mount ns, $(hybrid_v2_mounts | tr '\n' ' ')unmounted]"
    printf '# %-6s %s: %s%s\n' "${names[$i]}" "${bins[$i]}" "$(runtime_version "${bins[$i]}")" "$note"
done
echo "# bundle: $("$BUNDLE/rootfs/bin/busybox" 2>&1 | head -n1 | cut -d' ' -f1-2) (static) /bin/true, config from '$(basename "$SPEC_USED") spec', cgroupsPath $CGTAG/ct"
echo "# N=$N per runtime and kind, one per round in turn ($(IFS=,; echo "${names[*]}"), the order turning each round), warmup $warmup"

# warmup, then the rounds: run for every runtime, then csd for every runtime.
# The order turns by one runtime each round, so each runtime comes first,
# second, ... equally often and follows each other one: a fixed order made
# one runtime always start right after another's mostly idle delete (a cold
# CPU; measured here: a run after 18 ms of idle takes ~1.5 ms longer).
for i in "${!names[@]}"; do send "$i" "warm $warmup"; done
for ((r = 0; r < N; r++)); do
    for ((k = 0; k < nrt; k++)); do send $(((k + r) % nrt)) "run 1"; done
    for ((k = 0; k < nrt; k++)); do send $(((k + r) % nrt)) "csd 1"; done
done
t_lat=$SECONDS
for ((r = 0; r < rssk; r++)); do
    for i in "${!names[@]}"; do send "$i" "rss 1"; done
done
if [ "$mmtries" -gt 0 ]; then
    for i in "${!names[@]}"; do send "$i" "minmem $mmtries"; done
fi
for i in "${!names[@]}"; do send "$i" quit; wait "${WPIDS[$i]}" 2>/dev/null; done
WPIDS=()
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
declare -A RUNMED CSDMED
echo
printf '%-26s %8s %8s %8s %6s\n' "run /bin/true, ms" median p90 mean ok/fail
for i in "${!names[@]}"; do
    w=$WORK/w-${names[$i]}
    read -r med p90 mean n < <(stats_ms <"$w/run" 2>/dev/null || echo nan nan nan 0)
    nf=$(grep -c '^run ' "$w/fail" 2>/dev/null); nf=${nf:-0}
    RUNMED[$i]=$med
    printf '  %-24s %8s %8s %8s %6s\n' "${names[$i]}" "$med" "$p90" "$mean" "$n/$nf"
done
echo
printf '%-26s %8s %8s %8s %6s | %7s %7s %7s %7s  (medians)\n' "create+start+delete, ms" median p90 mean ok/fail create start wait delete
for i in "${!names[@]}"; do
    w=$WORK/w-${names[$i]}
    read -r med p90 mean n < <(cut -d' ' -f1 "$w/csd" 2>/dev/null | stats_ms)
    steps=()
    for k in 2 3 4 5; do steps+=("$(cut -d' ' -f$k "$w/csd" 2>/dev/null | stats_ms | cut -d' ' -f1)"); done
    nf=$(grep -cE '^(create|start|delete) ' "$w/fail" 2>/dev/null); nf=${nf:-0}
    CSDMED[$i]=$med
    printf '  %-24s %8s %8s %8s %6s | %7s %7s %7s %7s\n' "${names[$i]}" "$med" "$p90" "$mean" "$n/$nf" "${steps[@]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "n/a"}'; }
o=-1
for i in "${!names[@]}"; do [ "${names[$i]}" = onggi ] && o=$i; done
if [ $o -ge 0 ]; then
    echo
    echo "ratios of medians (onggi / other; < 1 = onggi faster):"
    for i in "${!names[@]}"; do
        [ "$i" = "$o" ] && continue
        printf '  onggi/%-6s run %s   create+start+delete %s\n' "${names[$i]}" \
            "$(ratio "${RUNMED[$o]}" "${RUNMED[$i]}")" "$(ratio "${CSDMED[$o]}" "${CSDMED[$i]}")"
    done
fi

echo
printf '%-26s %10s %10s %12s %10s\n' "peak RSS, KiB ($rssk each)" "run med" "run max" "create med" "create max"
declare -A RSS
for i in "${!names[@]}"; do
    w=$WORK/w-${names[$i]}
    rm= rx= cm= cx=
    if [ -s "$w/rss-run" ]; then rm=$(median <"$w/rss-run"); rx=$(sort -n "$w/rss-run" | tail -n1); fi
    if [ -s "$w/rss-create" ]; then cm=$(median <"$w/rss-create"); cx=$(sort -n "$w/rss-create" | tail -n1); fi
    RSS[$i]=$rm
    printf '  %-24s %10s %10s %12s %10s\n' "${names[$i]}" "${rm:-n/a}" "${rx:-n/a}" "${cm:-n/a}" "${cx:-n/a}"
done

declare -A MM
if [ "$mmtries" -gt 0 ]; then
    echo
    echo "smallest memory limit for run /bin/true ($mmtries runs in a row per probe, 16K steps):"
    for i in "${!names[@]}"; do
        w=$WORK/w-${names[$i]}
        read -r ok bad <"$w/minmem" 2>/dev/null || ok=none
        MM[$i]=$ok
        printf '  %-8s min_ok=%-6s max_fail=%-6s  probes: %s\n' "${names[$i]}" "$(human_bytes "$ok")" \
            "$(human_bytes "$bad")" "$(tr '\n' ' ' <"$w/minmem.log" 2>/dev/null)"
        [ -s "$w/minmem.why" ] && printf '           first failure %s\n' "$(cut -c1-150 "$w/minmem.why")"
    done
fi

if [ $o -ge 0 ]; then
    c=-1; for i in "${!names[@]}"; do [ "${names[$i]}" = crun ] && c=$i; done
    echo
    echo "targets (issue): "
    chk() { awk -v v="$2" -v l="$3" -v what="$1" 'BEGIN {
        if (v == "" || v == "nan" || v == "n/a" || l == "" || l == "nan") printf "  %-44s n/a\n", what
        else printf "  %-44s %s (%s vs %s)\n", what, (v + 0 <= l + 0) ? "PASS" : "FAIL", v, l }'; }
    if [ $c -ge 0 ]; then
        chk "run <= 0.5 x crun (ms)" "${RUNMED[$o]}" "$(awk -v x="${RUNMED[$c]}" 'BEGIN {print x / 2}')"
        chk "create+start+delete <= 0.5 x crun (ms)" "${CSDMED[$o]}" "$(awk -v x="${CSDMED[$c]}" 'BEGIN {print x / 2}')"
    fi
    chk "peak RSS of run <= 3 MiB (KiB)" "${RSS[$o]:-}" 3072
    [ "$mmtries" -gt 0 ] && chk "smallest memory limit <= 224 KiB (bytes)" "${MM[$o]:-}" 229376
fi

echo
echo "# load average at end: $load1 (start: $load0); $((t_lat - t0)) s timing rounds, $((SECONDS - t0)) s in all"
