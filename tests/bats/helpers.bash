# shellcheck shell=bash
# Shared helpers for the loopns Bats suites. In a .bats file:
#     load helpers
#
# Environment provided by the VM harness (tests/guest/init):
#   LOOPNS_SCRATCH  ext4 scratch directory on a virtio disk (/mnt/scratch)
#   LOOPNS_TMP      tmpfs directory (/tmp)
#   TESTS_DIR       the repository's tests/ tree inside the guest
#   HELPERS_DIR     compiled tests/helpers/*.c programs (in PATH)
#   LOOPNS_KVER     running kernel release
#   LOOPNS_DRIVER   loopns (default) or loop: which driver the parity
#                   tests exercise; lns_mount/lns_umount adapt to it.
#   LOOPNS_IN_VM=1  set only inside the harness VM

LOOPNS_DRIVER=${LOOPNS_DRIVER:-loopns}
LOOPNS_SCRATCH=${LOOPNS_SCRATCH:-${BATS_RUN_TMPDIR:-/tmp}}
LOOPNS_TMP=${LOOPNS_TMP:-/tmp}
TESTS_DIR=${TESTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
HELPERS_DIR=${HELPERS_DIR:-/usr/local/bin}
LNS_ENTER=$HELPERS_DIR/lns-enter

# Bats runs a DEBUG trap before every command of a test and of every
# function the test calls, to know the line where a test failed. Under
# TCG that bookkeeping costs more than most commands it watches (the ABI
# suites spent two thirds of their time in user space, most of it there).
# Keep it for the commands of the @test body itself, where a failure is
# reported (a failing helper is reported at the line that called it), and
# skip it everywhere else. Pass/fail is unchanged: the ERR trap and
# errexit decide that, not the DEBUG trap.
#
# Bats sets its trap just before it calls the test; the first time it
# fires, it is narrowed to the test body, calling a copy of bats's own
# handler (which counts its callers' frames, so a copy does the same).
if declare -F bats_debug_trap >/dev/null && ! declare -F lns_bats_debug_trap >/dev/null; then
	_lns_src=$(declare -f bats_debug_trap)
	eval "lns_bats_debug_trap${_lns_src#bats_debug_trap}"
	unset _lns_src
	bats_debug_trap() {
		# shellcheck disable=SC2016
		trap '[[ ${FUNCNAME[0]-} != "$BATS_TEST_NAME" ]] || lns_bats_debug_trap "$BASH_SOURCE"' DEBUG
	}
fi

# Instances mounted through lns_mount, unmounted by lns_cleanup.
LNS_MOUNTED=()

# loopns_loaded: whether the module is loaded and live (no exec: under
# TCG every exec costs tens of milliseconds, and every test asks).
loopns_loaded() {
	local state
	read -r state 2>/dev/null </sys/module/loopns/initstate && [[ $state == live ]]
}

# load_loopns [PARAM=VALUE...]: make sure the module is loaded. With
# parameters, reload it so that they take effect.
load_loopns() {
	if loopns_loaded; then
		(($#)) || return 0
		rmmod loopns || return
	fi
	modprobe loopns "$@"
}

# unload_loopns: rmmod loopns if it is loaded.
unload_loopns() {
	loopns_loaded || return 0
	rmmod loopns
}

# skip_unless_driver DRIVER: skip unless LOOPNS_DRIVER is DRIVER.
skip_unless_driver() {
	[[ $LOOPNS_DRIVER == "$1" ]] || skip "needs LOOPNS_DRIVER=$1 (is $LOOPNS_DRIVER)"
}

# skip_unless_cmd CMD...: skip when a program is missing.
skip_unless_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "needs $c"
	done
}

# skip_unless_root: most loopns tests need real root.
skip_unless_root() {
	((EUID == 0)) || skip "needs root"
}

# lns_mount DIR [MOUNT-OPTIONS]: a fresh private instance at DIR (created
# if missing). With LOOPNS_DRIVER=loop, DIR instead becomes a view of the
# global /dev (loop-control and loopN of the in-kernel driver), so tests
# written against DIR/loop-control and DIR/loopN run on both drivers.
lns_mount() {
	local dir=$1 opts=${2:-}
	mkdir -p "$dir" || return
	if [[ $LOOPNS_DRIVER == loop ]]; then
		modprobe loop || return
		mount --bind /dev "$dir" || return
	else
		load_loopns || return
		mount -t loopns ${opts:+-o "$opts"} loopns "$dir" || return
	fi
	LNS_MOUNTED+=("$dir")
}

# lns_umount DIR: unmount an instance mounted by lns_mount.
lns_umount() {
	local dir=$1 i
	umount "$dir" || return
	for i in "${!LNS_MOUNTED[@]}"; do
		[[ ${LNS_MOUNTED[$i]} == "$dir" ]] && unset "LNS_MOUNTED[$i]"
	done
	return 0
}

# lns_cleanup: lazily unmount whatever lns_mount left behind (teardown).
lns_cleanup() {
	local dir
	for dir in "${LNS_MOUNTED[@]}"; do
		umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
	done
	LNS_MOUNTED=()
}

# lns_dev DIR N: path of device N of the instance at DIR.
lns_dev() {
	printf '%s/loop%s\n' "$1" "$2"
}

# lns_enter DIR CMD...: run CMD in a private mount namespace whose /dev
# holds the instance's loop-control and loopN nodes (/dev/loop/N and
# /dev/loopN), so unmodified losetup/mount -o loop use the instance.
lns_enter() {
	"$LNS_ENTER" "$@"
}

# lns_losetup DIR ARGS...: unmodified losetup against the instance at DIR.
lns_losetup() {
	local dir=$1
	shift
	"$LNS_ENTER" "$dir" losetup "$@"
}

# make_image PATH SIZE: sparse backing file (emptied first).
make_image() {
	: >"$1" && truncate -s "$2" "$1"
}

# umount_under DIR: unmount everything mounted below DIR, innermost first
# (lazily when busy). An empty DIR or "/" does nothing: a teardown after
# a setup that skipped early must not unmount the guest's own filesystems.
# /proc/mounts lists a mount after the one it sits on: read backwards.
umount_under() {
	local t=${1%/} dev m rest i
	local -a below=()
	[[ -n $t ]] || return 0
	while read -r dev m rest; do
		[[ $m == "$t"/* ]] && below+=("$m")
	done </proc/mounts
	for ((i = ${#below[@]} - 1; i >= 0; i--)); do
		umount "${below[i]}" 2>/dev/null || umount -l "${below[i]}" 2>/dev/null || true
	done
}

# soak N: the size of a soak-like scenario (seconds of racing workers,
# rounds of a race regression, the stress smoke's duration): N in
# `make check`, LOOPNS_SOAK_SCALE times N in `make check-debug` and in a
# `make check SLOW=1` run.
soak() {
	echo $(($1 * ${LOOPNS_SOAK_SCALE:-1}))
}

# kmsg_mark TEXT: put a marker in the kernel log (helps reading console logs).
kmsg_mark() {
	echo "loopns-test: $*" >/dev/kmsg 2>/dev/null || true
}

# lns_disk NODE: global gendisk name (loopnsM) of an instance's device node,
# found through its dev_t: stat -> /sys/dev/block/MAJ:MIN -> block/<name>.
lns_disk() {
	local mm target
	mm=$(stat -c '%t:%T' "$1") || return
	target=$(readlink "/sys/dev/block/$((16#${mm%:*})):$((16#${mm#*:}))") || return
	echo "${target##*/}"
}

# lns_disk_count: number of loopns gendisks in /sys/block.
lns_disk_count() {
	local d n=0
	for d in /sys/block/loopns*; do
		[[ -e $d ]] && n=$((n + 1))
	done
	echo "$n"
}

# waits_in PID: print where PID's first child sleeps in the kernel.
waits_in() {
	cat "/proc/$(pgrep -P "$1" | head -n 1)/stack" 2>/dev/null || true
}

# exits_within SECS PID: PID (a child of this shell) exits within SECS
# seconds. Not scaled by LOOPNS_TIME_SCALE: for bounds that are the point
# of a test (something must not wait for a stalled server).
exits_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$2" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds; fails
# when SECONDS have passed.
wait_for() {
	local end=$((SECONDS + $1 * ${LOOPNS_TIME_SCALE:-1}))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}
