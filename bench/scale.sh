#!/bin/bash
# bench/scale.sh - 200 containers running at once, created by 8 parallel clients
#
# usage: sudo bench/scale.sh [options]
#
#   For each runtime one after the other (onggi, runc, crun): C containers running
#   `sleep 1000` (busybox), each its own bundle dir (config.json only, one shared
#   rootfs) and cgroup, brought up by P clients in parallel with `create --pid-file`
#   + `start`. Reports:
#     - wall time until all C run, and the median/p90 of create+start per container
#     - runtime processes left behind (exe = the runtime binary) and their RSS
#     - memory per running container, kernel's view, all divided by C:
#         memcg   growth of our own memory cgroup's usage_in_bytes (the runtime's
#                 and, where the cgroup is below ours, the containers' charges incl.
#                 kernel memory), plus the usage of container cgroups that are not
#                 below ours (crun puts relative cgroupsPaths at the hierarchy root)
#         kmem    the kernel-memory part of it (memory.kmem.usage_in_bytes)
#         avail   drop of MemAvailable in /proc/meminfo (machine-wide: noisy when
#                 other work runs)
#     - wall time of `delete --force` of all C by the P clients
#   Everything is deleted before the next runtime starts, and at exit (also Ctrl-C).
#   crun runs its whole phase in a private mount namespace without the hybrid
#   cgroup2 mount (crun 1.8 refuses hybrid cgroups).
#
# options:
#   -c C               containers (default 200)
#   -p P               parallel clients (default 8)
#   --runtimes LIST    comma-separated names or name=path (default onggi,runc,crun)
#   --onggi PATH       onggi-runtime binary (default as run.sh)
#   --tmpdir DIR       bundles and state (default $TMPDIR or /tmp)
#   -h, --help         this text
set -uo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
SELF=$BENCH_DIR/scale.sh

memcg_dir() {  # our memory cgroup's directory
    local p
    p=$(awk -F: '{n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == "memory") print $3}' /proc/self/cgroup)
    local mnt
    mnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ {print $2; exit}' /proc/self/mounts)
    [ -n "$mnt" ] && echo "$mnt${p%/}"
}
meminfo() { awk -v k="$1:" '$1 == k {printf "%.0f\n", $2 * 1024}' /proc/meminfo; }

# ============================================================================
# phase: one runtime, run inside its own process (crun: in the private mount ns)
# ============================================================================
phase_main() {  # NAME BIN HIDE
    NAME=$1 BIN=$2 HIDE=$3
    [ "$HIDE" = 1 ] && hide_unified
    RT=("$BIN" --root "$WORK/state-$NAME")
    PREFIX="os$TAG-$NAME"
    P_DIR=$WORK/p-$NAME; mkdir -p "$P_DIR"
    trap 'exit 130' INT TERM
    trap phase_cleanup EXIT
    local mcg k t0 t1 t2 t3 i
    mcg=$(memcg_dir)
    sleep 1; sync
    local use0 kmem0 avail0
    use0=$(cat "$mcg/memory.usage_in_bytes") kmem0=$(cat "$mcg/memory.kmem.usage_in_bytes" 2>/dev/null || echo 0)
    avail0=$(meminfo MemAvailable)

    t0=${EPOCHREALTIME/[.,]/}
    for ((k = 0; k < CLIENTS; k++)); do client_up "$k" & done
    wait
    t1=${EPOCHREALTIME/[.,]/}
    local nup nfail
    nup=$(cat "$P_DIR"/up.* 2>/dev/null | wc -l)
    nfail=$(cat "$P_DIR"/fail.* 2>/dev/null | wc -l)

    sleep 1
    # runtime processes left behind: exe is the runtime binary
    local left=0 left_rss=0 pid exe
    for pid in /proc/[0-9]*; do
        exe=$(readlink "$pid/exe" 2>/dev/null) || continue
        [ "$exe" = "$BIN" ] || continue
        left=$((left + 1))
        left_rss=$((left_rss + $(awk '/^VmRSS:/ {print $2}' "$pid/status" 2>/dev/null || echo 0)))
    done
    # container cgroups not below ours (their usage is not in ours)
    local use1 kmem1 avail1 outside=0 outside_k=0 sleep_rss=0 cg p
    use1=$(cat "$mcg/memory.usage_in_bytes") kmem1=$(cat "$mcg/memory.kmem.usage_in_bytes" 2>/dev/null || echo 0)
    avail1=$(meminfo MemAvailable)
    local mmnt; mmnt=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ {print $2; exit}' /proc/self/mounts)
    for p in $(cat "$P_DIR"/up.* 2>/dev/null | cut -d' ' -f2); do
        [ -r "/proc/$p/status" ] || continue
        sleep_rss=$((sleep_rss + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")))
        cg=$(awk -F: '{n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == "memory") print $3}' "/proc/$p/cgroup")
        case "$mmnt$cg/" in "$mcg"/*) ;; *)
            outside=$((outside + $(cat "$mmnt$cg/memory.usage_in_bytes" 2>/dev/null || echo 0)))
            outside_k=$((outside_k + $(cat "$mmnt$cg/memory.kmem.usage_in_bytes" 2>/dev/null || echo 0))) ;;
        esac
    done

    t2=${EPOCHREALTIME/[.,]/}
    for ((k = 0; k < CLIENTS; k++)); do client_down "$k" & done
    wait
    t3=${EPOCHREALTIME/[.,]/}
    local nleft ndf df1
    nleft=$("${RT[@]}" list -q 2>/dev/null | wc -l)
    ndf=$(cat "$P_DIR"/downfail.* 2>/dev/null | wc -l)
    df1=$(cat "$P_DIR"/downfail.* 2>/dev/null | head -n1)

    local lat
    [ "$nleft" -gt 0 ] && delete_all   # a second try, before the report
    lat=$(cat "$P_DIR"/up.* 2>/dev/null | cut -d' ' -f1 | stats_ms)
    awk -v n="$NAME" -v up="$nup" -v c="$COUNT" -v f="$nfail" -v t="$((t1 - t0))" -v td="$((t3 - t2))" \
        -v lat="$lat" -v left="$left" -v lrss="$left_rss" \
        -v du="$((use1 - use0 + outside))" -v dk="$((kmem1 - kmem0 + outside_k))" -v da="$((avail0 - avail1))" \
        -v out="$outside" -v srss="$sleep_rss" -v nleft="$nleft" -v ndf="$ndf" -v df1="$df1" '
        BEGIN { split(lat, L, " ")
            printf "%-7s %3d/%d up %s fail  %7.0f ms total  %5.2f ms/container  create+start median %6.2f p90 %6.2f ms  delete -f all %6.0f ms\n",
                n, up, c, f, t / 1000, t / 1000 / c, L[1], L[2], td / 1000
            printf "        runtime processes left: %d (%d KiB RSS)   per container: memcg %.0f KiB (kmem %.0f KiB)  MemAvailable drop %.0f KiB  [RSS of each sleep %.0f KiB]%s\n",
                left, lrss, du / c / 1024, dk / c / 1024, da / c / 1024, srss / (up ? up : 1),
                (out > 0) ? sprintf("  (%.0f KiB/container in cgroups outside ours)", out / c / 1024) : ""
            if (ndf > 0) printf "        %d delete --force calls failed, first: %s\n", ndf, df1
            if (nleft > 0) printf "        WARNING: %d containers still listed after delete -f\n", nleft
        }' >"$P_DIR/report"
}

client_up() {  # K: containers K, K+P, K+2P, ...
    local k=$1 i id a b
    for ((i = k; i < COUNT; i += CLIENTS)); do
        id=$PREFIX-$i
        a=${EPOCHREALTIME/[.,]/}
        if "${RT[@]}" create --bundle "$WORK/b/$i" --pid-file "$P_DIR/pid.$i" "$id" </dev/null >/dev/null 2>"$P_DIR/err.$k" \
            && "${RT[@]}" start "$id" </dev/null >/dev/null 2>>"$P_DIR/err.$k"; then
            b=${EPOCHREALTIME/[.,]/}
            echo "$((b - a)) $(cat "$P_DIR/pid.$i")" >>"$P_DIR/up.$k"
        else
            echo "$id" >>"$P_DIR/fail.$k"
            [ -s "$P_DIR/fail.$k" ] && [ "$(wc -l <"$P_DIR/fail.$k")" = 1 ] \
                && echo "scale.sh: $NAME: $id failed: $(head -c 300 "$P_DIR/err.$k" | tr '\n' ' ')" >&2
        fi
    done
}
client_down() {
    local k=$1 i
    for ((i = k; i < COUNT; i += CLIENTS)); do
        if ! "${RT[@]}" delete --force "$PREFIX-$i" </dev/null >/dev/null 2>"$P_DIR/derr.$k"; then
            echo "$PREFIX-$i: $(head -n1 "$P_DIR/derr.$k" | cut -c1-200)" >>"$P_DIR/downfail.$k"
        fi
    done
}
delete_all() {
    local id
    for id in $("${RT[@]}" list -q 2>/dev/null); do "${RT[@]}" delete --force "$id" >/dev/null 2>&1; done
}
phase_cleanup() {
    trap - EXIT INT TERM
    delete_all
    [ "$HIDE" = 1 ] && unified_tmpfs_cleanup "$CGTAG"
}

if [ "${1:-}" = __phase ]; then
    phase_main "$2" "$3" "$4" </dev/null
    exit 0
fi
[ "${1:-}" = __phase ] && exit 1   # (an error that abandoned the block above)

# ============================================================================
# driver
# ============================================================================
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
COUNT=200 CLIENTS=8 tmpbase=${TMPDIR:-/tmp} runtimes=onggi,runc,crun onggi_bin=
while [ $# -gt 0 ]; do
    case $1 in
        -c) COUNT=$2; shift 2 ;;
        -p) CLIENTS=$2; shift 2 ;;
        --runtimes) runtimes=$2; shift 2 ;;
        --onggi) onggi_bin=$2; shift 2 ;;
        --tmpdir) tmpbase=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
for v in "$COUNT" "$CLIENTS"; do case $v in ''|*[!0-9]*|0) die "-c and -p must be positive integers" ;; esac; done
[ "$(id -u)" = 0 ] || die "run as root (sudo bench/scale.sh)"
for t in jq unshare; do command -v "$t" >/dev/null || die "$t not found"; done
[ -n "$(memcg_dir)" ] || die "no cgroup v1 memory controller mounted (scale.sh reads memory.usage_in_bytes)"

parse_runtimes "$runtimes"

TAG=$$ CGTAG="onggi-bench-$$"
WORK=$(mktemp -d "$tmpbase/onggi-scale.XXXXXX") || die "mktemp failed in $tmpbase"
export TAG CGTAG WORK COUNT CLIENTS
PHASE=
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$PHASE" ]; then kill -TERM "$PHASE" 2>/dev/null; wait "$PHASE" 2>/dev/null; fi
    cgroup_cleanup "$CGTAG"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "scale.sh: interrupted, cleaning up" >&2; exit 130' INT TERM

spec_tools=()
for i in "${!names[@]}"; do [ "${names[$i]}" = onggi ] && spec_tools+=("${bins[$i]}"); done
spec_tools+=("$(command -v runc || true)" "$(command -v crun || true)")
make_bundle "$WORK/bundle" '["/bin/sleep","1000"]' "$CGTAG/x" "${spec_tools[@]}"
for ((i = 0; i < COUNT; i++)); do
    derive_bundle "$WORK/bundle" "$WORK/b/$i" '.linux.cgroupsPath = $cg' --arg cg "$CGTAG/s$i"
done

echo "# onggi scale benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r), $(nproc) cpus"
echo "# $COUNT containers (busybox sleep 1000) running at once, $CLIENTS parallel clients (create + start), one runtime after the other"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!names[@]}"; do
    note=
    [ "${hides[$i]}" = 1 ] && note="  [private mount ns, $(hybrid_v2_mounts | tr '\n' ' ')unmounted]"
    printf '# %-6s %s: %s%s\n' "${names[$i]}" "${bins[$i]}" "$(runtime_version "${bins[$i]}")" "$note"
done
echo
for i in "${!names[@]}"; do
    mkdir -p "$WORK/state-${names[$i]}"
    if [ "${hides[$i]}" = 1 ]; then
        env --default-signal=INT,QUIT unshare --mount --propagation private -- \
            "$BASH" "$SELF" __phase "${names[$i]}" "${bins[$i]}" 1 &
    else
        env --default-signal=INT,QUIT "$BASH" "$SELF" __phase "${names[$i]}" "${bins[$i]}" 0 &
    fi
    PHASE=$!
    wait "$PHASE"; PHASE=
    cat "$WORK/p-${names[$i]}/report" 2>/dev/null || echo "${names[$i]}: phase failed"
    cgroup_cleanup "$CGTAG"
done
echo
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
