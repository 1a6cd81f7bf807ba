# shellcheck shell=bash
# Common functions of the loopns VM test harness. Sourced, never run.
#
# Environment understood here (all optional):
#   KVERS            space-separated kernel releases to test (default: every
#                    /lib/modules/*/build of the Debian cloud flavours)
#   KVER             test only this kernel (wins over KVERS)
#   LOOPNS_MAKE_DIR  directory whose Makefile has the `modules` target
#                    (default: repository root); the module is expected at
#                    $LOOPNS_MAKE_DIR/build/<kver>/loopns.ko
#   LOOPNS_CACHE     cache root for base initramfs archives
#                    (default /var/cache/loopns)
#   LOOPNS_KVM=1     use KVM instead of TCG (hangs on this project's machines)
#   LOOPNS_SMP, LOOPNS_MEM  guest CPUs (default 2) and memory in MiB (1024)
#   LOOPNS_SCRATCH_SIZE     scratch disk size (default 2G)
#   LOOPNS_SID=1     also test the Debian sid kernel that
#                    tests/harness/sid-kernel.sh prepared (it has no
#                    /lib/modules/<kver>/build: loopns.ko is built in a chroot)

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HARNESS_DIR/../.." && pwd)
LOOPNS_MAKE_DIR=${LOOPNS_MAKE_DIR:-$REPO_ROOT}
LOOPNS_CACHE=${LOOPNS_CACHE:-/var/cache/loopns}
BUILD_DIR=${LOOPNS_BUILD_DIR:-$REPO_ROOT/build}

log()  { printf '[harness] %s\n' "$*" >&2; }
warn() { printf '[harness] warning: %s\n' "$*" >&2; }
die()  { printf '[harness] error: %s\n' "$*" >&2; exit 2; }

# Kernel releases to test, one per line.
harness_kvers() {
	local d k
	if [[ -n ${KVER:-} ]]; then
		# An exact release, or a unique prefix of one ("6.12").
		if [[ ! -d /lib/modules/$KVER ]]; then
			local -a m=()
			for d in /lib/modules/"$KVER"[.+-]*-cloud-amd64/build; do
				[[ -e $d ]] && m+=("$(basename "$(dirname "$d")")")
			done
			d=$(harness_sid_kver) && [[ $d == "$KVER"[.+-]* ]] && m+=("$d")
			if ((${#m[@]} == 1)); then
				printf '%s\n' "${m[0]}"
				return
			fi
		fi
		printf '%s\n' "$KVER"
		return
	fi
	if [[ -n ${KVERS:-} ]]; then
		printf '%s\n' $KVERS
		return
	fi
	# The two Debian cloud flavours: 6.1.0-N-cloud-amd64 and
	# 6.12.N+debNN-cloud-amd64 (and whatever later bookworm backports
	# ship under the same -cloud-amd64 suffix).
	for d in /lib/modules/*/build; do
		[[ -e $d/Makefile ]] || continue
		k=${d#/lib/modules/}
		k=${k%/build}
		[[ $k == *-cloud-amd64 ]] || continue
		printf '%s\n' "$k"
	done | sort -V
	if [[ ${LOOPNS_SID:-0} == 1 ]]; then
		harness_sid_kver || warn "LOOPNS_SID=1 but no sid kernel: run tests/harness/sid-kernel.sh prepare"
	fi
}

# The sid kernel tests/harness/sid-kernel.sh prepared, if any.
harness_sid_kver() {
	local k
	k=$("$HARNESS_DIR/sid-kernel.sh" kver 2>/dev/null) && "$HARNESS_DIR/sid-kernel.sh" has "$k" &&
		printf '%s\n' "$k"
}

harness_vmlinuz() {
	local k=$1 f
	for f in "/boot/vmlinuz-$k" "/lib/modules/$k/vmlinuz" "/usr/lib/modules/$k/vmlinuz"; do
		[[ -r $f ]] && { printf '%s\n' "$f"; return 0; }
	done
	return 1
}

harness_module_path() {
	printf '%s\n' "$LOOPNS_MAKE_DIR/build/$1/loopns.ko"
}

# Build loopns.ko for one kernel through the project's Makefile.
harness_build_module() {
	local k=$1 logf=$2
	local -a mk=(make -C "$LOOPNS_MAKE_DIR")
	local where=
	# Kernels without host headers (sid's need sid's gcc): the sid chroot.
	if [[ ! -e /lib/modules/$k/build ]] && "$HARNESS_DIR/sid-kernel.sh" has "$k"; then
		mk=("$HARNESS_DIR/sid-kernel.sh" make "$LOOPNS_MAKE_DIR")
		where=" (in the sid chroot)"
	fi
	log "building loopns.ko for $k$where"
	if ! "${mk[@]}" modules KVER="$k" >"$logf" 2>&1; then
		tail -n 40 "$logf" >&2
		warn "module build failed for $k (full log: $logf)"
		return 1
	fi
	if [[ ! -f $(harness_module_path "$k") ]]; then
		warn "make succeeded but $(harness_module_path "$k") is missing"
		return 1
	fi
}

# Compile tests/helpers/*.c into build/helpers/ (once per run):
#   cc -O2 -Wall -o build/helpers/<name> tests/helpers/<name>.c [LIBS]
# where LIBS come from an optional line "// helper-ldlibs: -lkmod" in the
# source.
# Whether helper binary $2 is older than its source $1 or anything the
# source includes (from the dependency file cc -MMD wrote last time).
helper_stale() {
	local dep
	[[ -x $2 && -f $2.d && ! $1 -nt $2 ]] || return 0
	for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$2.d"); do
		[[ ! -e $dep || $dep -nt $2 ]] && return 0
	done
	return 1
}

harness_build_helpers() {
	local src out rc=0 libs
	[[ -d $REPO_ROOT/tests/helpers ]] || return 0
	mkdir -p "$BUILD_DIR/helpers"
	for src in "$REPO_ROOT"/tests/helpers/*.c; do
		[[ -e $src ]] || continue
		out=$BUILD_DIR/helpers/$(basename "$src" .c)
		if helper_stale "$src" "$out"; then
			libs=$(sed -n 's|^// *helper-ldlibs: *||p' "$src" | head -n 1)
			log "cc ${src#"$REPO_ROOT"/}${libs:+ $libs}"
			# shellcheck disable=SC2086
			cc -O2 -Wall -MMD -MF "$out.d" -o "$out" "$src" $libs || { warn "helper $src failed to compile"; rc=1; }
		fi
	done
	return $rc
}

# qemu accelerator arguments.
harness_accel_args() {
	if [[ ${LOOPNS_KVM:-0} == 1 ]]; then
		printf '%s\n' -accel kvm -cpu host
	else
		printf '%s\n' -accel tcg,thread=multi -cpu max
	fi
}

# Kernel command line shared by every boot. loglevel=6 so that pr_warn
# (WARNING:, lockdep, hung task) reaches the console log we scan;
# sysrq_always_enabled so that the watchdog's Alt-SysRq-W/T/L (sent as
# keys through QEMU's monitor) dumps the guest's tasks. norandmaps:
# TCG keys translated code by virtual address, so with address space
# randomisation every exec translates ld.so, libc and the program anew;
# without it an exec costs about half as much (measured: 100 execs of
# /bin/true 21.4 s with, 12.1 s without, same host load).
HARNESS_CMDLINE="console=ttyS0,115200 loglevel=6 panic=-1 mitigations=off rdinit=/init sysrq_always_enabled norandmaps"

# Extended regex of console-log lines that fail a run: kernel warnings,
# BUGs, oopses, lockdep reports, hung tasks, KASAN/UBSAN, panics.
harness_kernel_issues() {
	printf '%s\n' 'WARNING:|BUG:|Oops|possible circular locking|INFO: |lockdep|hung task|hung_task|blocked for more than|KASAN|UBSAN|Call Trace|Kernel panic|general protection fault|kernel BUG|refcount_t:|list_(add|del) corruption|stack-protector|kmemleak'
}

# harness_console_issues FILE: the lines of console log FILE that match
# harness_kernel_issues, as "LINE:text" (grep -n's format). The call
# trace of an OOM kill that a memory cgroup's limit caused is left out:
# tests set such limits on purpose (the stress suite's memcg worker), and
# the kernel reports every such kill with a stack dump ("Call Trace:"
# between "invoked oom-killer:" and "Memory cgroup out of memory: Killed
# process"; the rest of the report is below the console's loglevel).
# Everything else in that report, and a system-wide OOM ("Out of memory:
# Killed process", or no victim at all), still counts.
harness_console_issues() {
	tr -d '\r' <"$1" | awk -v re="$(harness_kernel_issues)" '
	function settle(keep, i) {
		for (i = 1; i <= held; i++)
			if (keep)
				hit[heldno[i]] = heldline[i]
		held = 0
	}
	/ invoked oom-killer: / { settle(1); oom = 1 }
	$0 ~ re {
		if (oom && /Call Trace:/) {
			held++
			heldno[held] = NR
			heldline[held] = $0
		} else {
			hit[NR] = $0
		}
	}
	oom && /Out of memory: Killed process / { settle(1); oom = 0 }
	oom && /Memory cgroup out of memory: Killed process / { settle(0); oom = 0 }
	END {
		settle(1)
		for (i = 1; i <= NR; i++)
			if (i in hit)
				print i ":" hit[i]
	}'
}

# Create a fresh sparse ext4 scratch disk image.
harness_scratch_disk() {
	local img=$1
	rm -f "$img"
	truncate -s "${LOOPNS_SCRATCH_SIZE:-2G}" "$img"
	mkfs.ext4 -q -F -L scratch -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$img"
}

# harness_prepare KVER VMDIR LOGDIR RUN_ENV
# Build loopns.ko, the initramfs (cached base + payload) and a fresh scratch
# disk for one boot. Leaves VMDIR/initrd.img and VMDIR/scratch.img. On
# failure writes the reason to LOGDIR/prepare.err and returns 1. With
# LOOPNS_ALLOW_NO_MODULE=1 a failed module build still yields a bootable
# image (without loopns.ko) for debugging.
harness_prepare() {
	local k=$1 vm=$2 logs=$3 env=$4 base ko
	mkdir -p "$vm" "$logs"
	rm -f "$vm/initrd.img" "$logs/prepare.err"
	if ! harness_vmlinuz "$k" >/dev/null; then
		echo "no vmlinuz for $k" >"$logs/prepare.err"
		return 1
	fi
	ko=$(harness_module_path "$k")
	if ! harness_build_module "$k" "$logs/build.log"; then
		if [[ ${LOOPNS_ALLOW_NO_MODULE:-0} == 1 ]]; then
			warn "booting without loopns.ko"
			ko=
		else
			echo "module build failed (see $logs/build.log)" >"$logs/prepare.err"
			return 1
		fi
	fi
	if ! base=$("$HARNESS_DIR/mkinitramfs.sh" base "$k") ||
		! "$HARNESS_DIR/mkinitramfs.sh" payload "$k" "$vm/payload.cpio" "$env" $ko; then
		echo "initramfs build failed" >"$logs/prepare.err"
		return 1
	fi
	cat "$base/base.cpio" "$vm/payload.cpio" >"$vm/initrd.img"
	harness_scratch_disk "$vm/scratch.img"
}

# harness_qemu KVER VMDIR QEMU-ARGS...
# Run qemu on VMDIR/initrd.img with the scratch disk; the caller adds the
# serial ports (first = console, second = results) and any -display.
harness_qemu() {
	local k=$1 vm=$2
	shift 2
	local -a accel
	mapfile -t accel < <(harness_accel_args)
	qemu-system-x86_64 \
		-name "loopns-$k" -machine pc "${accel[@]}" \
		-m "${LOOPNS_MEM:-1024}" -smp "${LOOPNS_SMP:-2}" \
		-no-reboot -nic none \
		-kernel "$(harness_vmlinuz "$k")" -initrd "$vm/initrd.img" \
		-append "$HARNESS_CMDLINE ${LOOPNS_CMDLINE:-}" \
		-drive "file=$vm/scratch.img,if=virtio,format=raw,cache=unsafe,discard=unmap" \
		"$@"
}

# harness_run_env FILE MODE: write the guest's /etc/loopns/run.env with
# LOOPNS_MODE=MODE and the variables passed through to the guest.
harness_run_env() {
	{
		printf 'LOOPNS_MODE=%q\n' "$2"
		printf 'LOOPNS_DRIVER=%q\n' "${LOOPNS_DRIVER:-loopns}"
		printf 'LOOPNS_GUEST_ENV=%q\n' "${LOOPNS_GUEST_ENV:-}"
	} >"$1"
}
