#!/usr/bin/env bash
# Install what onggi's build, quickstart and tests need on Debian 12, as root.
# Idempotent; CI runs it on a fresh machine.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -q -o APT::Sandbox::User=root "$@"; }

# qemu for the cgroup v2 VM comes from bookworm-backports (the machine's
# qemu-utils does, and Debian 12's own qemu-system conflicts with it).
if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt_get update
# musl-dev: onggi-runtime links musl's libc (build.rs: a faster start than
# glibc's).
# busybox-static: the test rootfs; runc: behaviour comparisons; jq: bundle
# edits in scripts; skopeo, umoci, docker-registry, apache2-utils: image and
# registry tests; iproute2: network namespaces in tests.
# podman, containerd, docker.io (+ conmon, CNI plugins, iptables): the
# client tests drive onggi-runtime through them.
apt_get install -y --no-install-recommends \
	musl-dev busybox-static runc crun jq skopeo umoci docker-registry apache2-utils iproute2 \
	ca-certificates git gcc pkg-config xz-utils zstd curl \
	podman conmon containernetworking-plugins containerd docker.io iptables util-linux bsdutils
apt_get install -y --no-install-recommends -t bookworm-backports qemu-system-x86 ||
	echo "install-deps: qemu-system-x86 from bookworm-backports failed; the cgroup v2 VM tests will be skipped" >&2
