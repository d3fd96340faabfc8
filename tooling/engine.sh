#!/usr/bin/env bash
# Makes a real Docker engine, a loopback OCI registry (127.0.0.1:5000), the two seed
# images ws builds from and an sshd program (for tests of ssh:// engines) available on this
# machine. Idempotent: a rerun only checks.
#
#   tooling/engine.sh [up]   start what is missing (the default)
#   tooling/engine.sh stop   stop the dockerd and registry this script started
#   tooling/engine.sh env    print the export lines a shell needs to reach the engine
#
# Environment: WS_ENGINE_STATE (state dir, default /var/tmp/ws-engine), WS_ENGINE_TIMEOUT
# (seconds to wait for a daemon, default 60), UV_BIN (uv binary to put in the uv image).
#
# No image comes from a public registry: the Python image is bootstrapped from Debian
# packages, the uv image is the binary of the uv wheel ws depends on. tooling/seed_image.py
# pushes both with digests that depend only on their files, so the pins committed in
# pyproject.toml hold on every machine that gets the same packages and CA bundle.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${WS_ENGINE_STATE:-/var/tmp/ws-engine}"
TIMEOUT="${WS_ENGINE_TIMEOUT:-60}"
REGISTRY_ADDR="127.0.0.1:5000"
REGISTRY_URL="http://${REGISTRY_ADDR}"
PYTHON_REPO="python"
PYTHON_TAG="3.11-slim"
SUITE="bookworm" # Debian 12: its python3 is 3.11
CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"
IMAGE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MANIFEST_TYPES="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
MANIFEST_TYPES+=",application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES+=",application/vnd.docker.distribution.manifest.v2+json"
ROOTFS_BUILD="" # set while a rootfs is being built, so an exit can clean its mounts
# The seed images' time (2026-11-01 UTC): their config says it, and every later mtime in
# their files is clamped to it, so the digest does not depend on the day they were made.
SEED_EPOCH=1793491200

say() { printf 'engine.sh: %s\n' "$*"; }
die() {
	printf 'engine.sh: error: %s\n' "$*" >&2
	exit 1
}
# Shows the end of a log after a failure: the reason is almost always in the last lines.
die_log() {
	local log="$1"
	shift
	printf 'engine.sh: error: %s\n--- last lines of %s ---\n' "$*" "$log" >&2
	tail -n 25 "$log" >&2 || true
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "'$*' needs root and sudo is not installed"
	fi
}

# ---------------------------------------------------------------- packages

APT_UPDATED=0
# ensure_cmds CMD:PACKAGE... installs the packages whose command is missing.
ensure_cmds() {
	local pair missing=()
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	command -v apt-get >/dev/null || die "missing ${missing[*]} and apt-get is not available: install them"
	say "installing ${missing[*]} with apt-get (log: $STATE/apt.log)"
	if [ "$APT_UPDATED" -eq 0 ]; then
		as_root apt-get update >>"$STATE/apt.log" 2>&1 || die_log "$STATE/apt.log" "apt-get update failed"
		APT_UPDATED=1
	fi
	# A policy-rc.d that says 101 keeps the package from starting a default (bridged)
	# dockerd under systemd; this script starts its own without a bridge.
	local policy=/usr/sbin/policy-rc.d made_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
		as_root chmod 0755 "$policy"
		made_policy=1
	fi
	local rc=0
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
		>>"$STATE/apt.log" 2>&1 || rc=$?
	[ "$made_policy" -eq 1 ] && as_root rm -f "$policy"
	[ "$rc" -eq 0 ] || die_log "$STATE/apt.log" "apt-get install ${missing[*]} failed"
}

# ---------------------------------------------------------------- helpers

# pid_alive PIDFILE PATTERN: prints the pid when it runs and its command line matches
# PATTERN, so a pid reused by another program is never mistaken for ours.
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid="$(tr -dc '0-9' <"$1")"
	proc_is "$pid" "$2" || return 1
	echo "$pid"
}

# proc_is PID PATTERN: a zombie has an empty command line, so it counts as gone.
proc_is() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

server_version() { timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null; }

# The loopback registry must never be reached through an HTTP proxy.
http_code() {
	curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true
}

# manifest_digest REPO TAG: prints the digest when the registry holds REPO:TAG.
manifest_digest() {
	local headers
	headers="$(curl --noproxy '*' -s -I --max-time 10 -H "Accept: $MANIFEST_TYPES" \
		"$REGISTRY_URL/v2/$1/manifests/$2")" || return 1
	head -n 1 <<<"$headers" | grep -q ' 200' || return 1
	sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *\([^[:space:]]*\).*/\1/p' <<<"$headers"
}

seed_python() {
	if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

# push_seed DIR REPO TAG [seed_image.py options]: pushes DIR as REPO:TAG, remembers the
# digest in $STATE, and says whether it is the one pyproject.toml pins under KEY.
push_seed() {
	local dir="$1" repo="$2" tag="$3" digest
	shift 3
	digest="$("$(seed_python)" "$ROOT/tooling/seed_image.py" push "$dir" "$REGISTRY_ADDR" \
		"$repo:$tag" --epoch "$SEED_EPOCH" --arch "$(dpkg --print-architecture 2>/dev/null || echo amd64)" \
		"$@" 2>"$STATE/push.log")" || die_log "$STATE/push.log" "pushing $repo:$tag failed"
	echo "$digest" >"$(pushed_file "$repo" "$tag")"
	say "pushed localhost:5000/$repo:$tag ($digest)"
	check_pin "$repo:$tag" "$digest"
}

pushed_file() { echo "$STATE/${1//\//-}-$2.pushed"; }

# seeded REPO TAG: true when the registry serves the digest this script last pushed there.
seeded() {
	local digest
	digest="$(manifest_digest "$1" "$2")" || return 1
	[ "$digest" = "$(cat "$(pushed_file "$1" "$2")" 2>/dev/null)" ] || return 1
	say "$1:$2 is in the registry ($digest)"
	check_pin "$1:$2" "$digest"
}

# check_pin REPO:TAG DIGEST: a note when pyproject.toml pins another digest for it.
check_pin() {
	local pinned
	pinned="$(grep -o "localhost:5000/$1@sha256:[0-9a-f]*" "$ROOT/pyproject.toml" 2>/dev/null | head -n 1)"
	pinned="${pinned##*@}"
	if [ -n "$pinned" ] && [ "$pinned" != "$2" ]; then
		say "note: pyproject.toml pins $1 to $pinned, but its inputs here (Debian packages,"
		say "  CA bundle, uv wheel) made $2: 'ws docker pin && ws docker generate' re-pins"
	fi
	return 0
}

# ---------------------------------------------------------------- engine

wait_engine() {
	local deadline=$((SECONDS + TIMEOUT)) version
	until version="$(server_version)"; do
		proc_is "$1" dockerd ||
			die_log "$STATE/dockerd.log" "dockerd exited during start-up"
		[ "$SECONDS" -lt "$deadline" ] ||
			die_log "$STATE/dockerd.log" "the Docker engine did not answer within ${TIMEOUT}s"
		sleep 0.5
	done
	echo "$version"
}

ensure_engine() {
	local version pid fresh=""
	if version="$(server_version)"; then
		say "engine: using the running Docker engine $version"
		if docker network ls -q --filter driver=bridge 2>/dev/null | grep -q .; then
			say "engine: note: it has a bridge network; ws only uses host/none networking"
		fi
		return 0
	fi
	ensure_cmds docker:docker.io dockerd:docker.io docker-compose:docker-compose
	if pid="$(pid_alive "$STATE/dockerd.pid" dockerd)"; then
		say "engine: dockerd (pid $pid) is starting; waiting"
	elif pid="$(pgrep -x dockerd | head -n 1)"; then
		die "a dockerd (pid $pid) runs but does not answer 'docker version': fix or stop it"
	else
		# setsid: Ctrl-C in make must not take the engine down; 9>&- frees the lock.
		setsid dockerd --bridge=none --iptables=false --ip6tables=false \
			--pidfile "$STATE/dockerd.pid" </dev/null >>"$STATE/dockerd.log" 2>&1 9>&- &
		pid=$!
		fresh=1
	fi
	version="$(wait_engine "$pid")"
	say "engine: started dockerd $version without a bridge (pid $pid, log $STATE/dockerd.log)"
	if [ -n "${fresh:-}" ]; then
		forget_build_cache
	fi
}

# A dockerd this script starts follows one that was killed, not stopped: these machines
# are stopped without shutting the engine down, and BuildKit's records then outlive files
# they point at ("index pointing to missing record" in the log; later builds fail with
# "failed to prepare ...: open /var/lib/docker/overlay2/.../committed: no such file or
# directory", seen in CI). Its build cache is only a cache: empty it before any build.
forget_build_cache() {
	local freed
	freed="$(docker builder prune --all --force 2>&1 | tail -n 1)" ||
		die "could not empty the engine's build cache: $freed"
	say "engine: emptied the build cache a previous engine left ($freed)"
}

# ---------------------------------------------------------------- registry

write_registry_config() {
	mkdir -p "$STATE/registry"
	cat >"$STATE/registry.yml" <<EOF
# Generated by tooling/engine.sh: the loopback registry ws pushes to and builds from.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
}

ensure_registry() {
	local code pid deadline
	code="$(http_code "$REGISTRY_URL/v2/")"
	if [ "$code" = 200 ]; then
		say "registry: answering on $REGISTRY_URL"
		return 0
	fi
	[ "$code" = 000 ] || die "something else answers on $REGISTRY_ADDR (HTTP $code to /v2/): free the port"
	ensure_cmds docker-registry:docker-registry curl:curl
	if ! pid="$(pid_alive "$STATE/registry.pid" docker-registry)"; then
		write_registry_config
		setsid docker-registry serve "$STATE/registry.yml" \
			</dev/null >>"$STATE/registry.log" 2>&1 9>&- &
		pid=$!
		echo "$pid" >"$STATE/registry.pid"
	fi
	deadline=$((SECONDS + TIMEOUT))
	until [ "$(http_code "$REGISTRY_URL/v2/")" = 200 ]; do
		pid_alive "$STATE/registry.pid" docker-registry >/dev/null ||
			die_log "$STATE/registry.log" "docker-registry exited during start-up"
		[ "$SECONDS" -lt "$deadline" ] ||
			die_log "$STATE/registry.log" "the registry did not answer within ${TIMEOUT}s"
		sleep 0.2
	done
	say "registry: started docker-registry on $REGISTRY_URL (pid $pid, data $STATE/registry)"
}

# ---------------------------------------------------------------- python image

# Unmounts whatever debootstrap left mounted under DIR (it mounts /proc and /sys, and may
# bind /dev): deleting DIR must never reach into the host's files.
unmount_under() {
	local mnt
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
}

remove_rootfs() {
	[ -e "$1" ] || return 0
	unmount_under "$1"
	rm -rf --one-file-system "$1"
}

cleanup() { [ -z "$ROOTFS_BUILD" ] || remove_rootfs "$ROOTFS_BUILD"; }
trap cleanup EXIT

# Debootstrap from the host's own Debian mirror (the first deb822 or one-line source
# that serves the suite), so it goes wherever apt on this machine already goes.
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] && cat "$f" && echo
	done | awk -v s="$SUITE" '
		/^$/ { if (ok && uri) { print uri; found = 1; exit } ok = 0; uri = "" }
		/^URIs:/ { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
		END { if (!found && ok && uri) print uri }' || true
	awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true
}

# Trims what a base image does not need and keeps later package installs as lean.
slim_rootfs() {
	local r="$1"
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
		"$r"/var/cache/debconf/*-old "$r"/usr/share/doc/* "$r"/usr/share/man/* \
		"$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/lintian "$r"/tmp/*
	find "$r/var/log" -type f -delete
	cat >"$r/etc/dpkg/dpkg.cfg.d/ws-slim" <<'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
	# The host bundle carries the CA of the proxy builds reach package indexes through.
	cp "$CA_BUNDLE" "$r$CA_BUNDLE"
	ln -sf /usr/bin/python3 "$r/usr/local/bin/python"
	# What differs from one bootstrap to the next: the engine provides the first two at
	# run time, ldconfig's aux-cache records inodes, and shadow the day of the install.
	rm -f "$r/etc/hostname" "$r/etc/resolv.conf" "$r/var/cache/ldconfig/aux-cache"
	sed -i -E "s/^([^:]*:[^:]*:)[0-9]+:/\1$((SEED_EPOCH / 86400)):/" "$r/etc/shadow"
	rm -f "$r/etc/shadow-"
}

# build_python_rootfs DIR: a slim Debian with python3 in DIR, kept as the cache.
build_python_rootfs() {
	local rootfs="$1" mirror proxy=""
	ensure_cmds debootstrap:debootstrap
	[ -r "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE to copy into the Python image"
	mirror="$(host_mirror)" || true
	mirror="${mirror%%$'\n'*}"
	eval "$(apt-config shell proxy Acquire::http::Proxy 2>/dev/null || true)"
	ROOTFS_BUILD="$rootfs.build"
	remove_rootfs "$ROOTFS_BUILD"
	mkdir -p "$STATE/debs"
	say "python image: debootstrap $SUITE (about 70 s, log $STATE/debootstrap.log)"
	http_proxy="${http_proxy:-$proxy}" debootstrap --variant=minbase \
		--include=python3,ca-certificates --cache-dir="$STATE/debs" \
		"$SUITE" "$ROOTFS_BUILD" ${mirror:+"$mirror"} >"$STATE/debootstrap.log" 2>&1 ||
		die_log "$STATE/debootstrap.log" "debootstrap failed"
	unmount_under "$ROOTFS_BUILD"
	slim_rootfs "$ROOTFS_BUILD"
	remove_rootfs "$rootfs"
	mv "$ROOTFS_BUILD" "$rootfs"
	ROOTFS_BUILD=""
}

ensure_python_image() {
	local rootfs="$STATE/python-rootfs-$SUITE"
	seeded "$PYTHON_REPO" "$PYTHON_TAG" && return 0
	if [ -x "$rootfs/usr/bin/python3" ]; then
		say "python image: reusing the cached rootfs $rootfs"
	else
		build_python_rootfs "$rootfs"
	fi
	push_seed "$rootfs" "$PYTHON_REPO" "$PYTHON_TAG" --exclude dev --exclude proc --exclude sys \
		--env "PATH=$IMAGE_PATH" --env "SSL_CERT_FILE=$CA_BUNDLE" --env LANG=C.UTF-8 \
		--cmd '["python3"]' --comment "ws seed: Debian $SUITE minbase with python3"
}

# ---------------------------------------------------------------- uv image

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | tail -c 3)" = ELF ]; }

# The real uv binary of the wheel ws depends on: a pyenv shim named uv is a script,
# so every candidate must be an ELF file.
find_uv_bin() {
	local py cand
	if [ -n "${UV_BIN:-}" ]; then
		is_elf "$UV_BIN" || die "UV_BIN=$UV_BIN is not a uv binary"
		echo "$UV_BIN"
		return 0
	fi
	for py in "$ROOT/.venv/bin/python" python3; do
		command -v "$py" >/dev/null || continue
		cand="$("$py" -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" || continue
		is_elf "$cand" && echo "$cand" && return 0
	done
	die "no uv binary found: run 'uv sync' in $ROOT (or install the uv wheel), or set UV_BIN"
}

ensure_uv_image() {
	local bin version pinned tmp
	bin="$(find_uv_bin)"
	version="$("$bin" --version | awk '{ print $2 }')"
	[ -n "$version" ] || die "'$bin --version' printed no version"
	pinned="$(sed -n 's/^uv-image *= *"[^"@]*:\([^"@]*\)\(@[^"]*\)\{0,1\}".*/\1/p' "$ROOT/pyproject.toml" 2>/dev/null || true)"
	if [ -n "$pinned" ] && [ "$pinned" != "$version" ]; then
		say "uv image: note: pyproject.toml pins uv-image to $pinned, the uv here is $version"
	fi
	seeded astral-sh/uv "$version" && return 0
	tmp="$(mktemp -d "$STATE/uv.XXXXXX")"
	install -m 0755 "$bin" "$tmp/uv"
	if is_elf "$(dirname "$bin")/uvx"; then install -m 0755 "$(dirname "$bin")/uvx" "$tmp/uvx"; fi
	touch -d "@$SEED_EPOCH" "$tmp"/* # the wheel's install time must not reach the digest
	# Like the official image: FROM scratch holding /uv and /uvx, nothing else.
	push_seed "$tmp" astral-sh/uv "$version" --root-owned --entrypoint '["/uv"]' \
		--comment "ws seed: uv $version from the uv wheel"
	rm -rf "$tmp"
}

# ---------------------------------------------------------------- commands

stop_daemon() {
	local name="$1" pidfile="$2" pid i
	if ! pid="$(pid_alive "$pidfile" "$name")"; then
		say "stop: no $name started by this script is running"
		rm -f "$pidfile"
		return 0
	fi
	kill -TERM "$pid"
	for ((i = 0; i < 60; i++)); do
		[ -d "/proc/$pid" ] || break
		sleep 0.5
	done
	[ ! -d "/proc/$pid" ] || kill -KILL "$pid" 2>/dev/null || true
	rm -f "$pidfile"
	say "stop: stopped $name (pid $pid)"
}

lock() {
	exec 9>"$STATE/lock"
	if ! flock -n 9; then
		say "waiting for another tooling/engine.sh to finish"
		flock -w 1800 9 || die "timed out waiting for the lock $STATE/lock"
	fi
}

# The tests reach the engine through ssh:// as well: an sshd they start on loopback, which
# needs its privilege-separation folder (made by the service's start, which never runs here).
ensure_sshd() {
	ensure_cmds ssh:openssh-client ssh-keygen:openssh-client /usr/sbin/sshd:openssh-server
	[ -d /run/sshd ] || as_root install -d -m 0755 /run/sshd
}

cmd_up() {
	lock
	ensure_engine
	ensure_registry
	ensure_python_image
	ensure_uv_image
	ensure_sshd
	say "ready in ${SECONDS}s"
}

cmd_env() {
	if [ -n "${DOCKER_HOST:-}" ]; then
		echo "export DOCKER_HOST=$DOCKER_HOST"
	elif pid_alive "$STATE/dockerd.pid" dockerd >/dev/null; then
		echo "export DOCKER_HOST=unix:///var/run/docker.sock"
	fi
}

main() {
	local cmd="${1:-up}"
	case "$cmd" in
	up | stop) mkdir -p "$STATE" ;;
	esac
	case "$cmd" in
	up) cmd_up ;;
	stop)
		lock
		stop_daemon docker-registry "$STATE/registry.pid"
		stop_daemon dockerd "$STATE/dockerd.pid"
		;;
	env) cmd_env ;;
	-h | --help | help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" ;;
	*) die "unknown command '$cmd' (use: up, stop, env)" ;;
	esac
}

main "$@"
