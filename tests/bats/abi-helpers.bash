# shellcheck shell=bash
# Parity helpers for the loop-ABI suites (tests/bats/2*.bats). In a .bats
# file:
#     load helpers
#     load abi-helpers
#
# A "scenario" is a shell function that drives the current driver only
# through the variables and functions below and prints a transcript
# (errno names, flags, sizes, sysfs values, checksums). `parity SCENARIO
# [ARGS]` runs it once against the in-kernel loop driver (/dev/loopN,
# /dev/loop-control) and once against a fresh loopns instance, in the same
# VM, normalises device names (norm) and fails with a unified diff when
# the two transcripts differ; $output is then the loopns transcript, for
# explicit assertions (expect_line). Scenarios run without errexit: a
# failing step shows up in the transcript, not as an abort.
#
#   drv_setup loop|loopns   select a driver: sets DRV, DRV_DIR (directory
#                           holding loop-control and loopN) and CTL
#   $DRV_DIR/loopN          node of device N
#   drv_disk N              gendisk name in /sys/block (loopN / loopnsM)
#   drv_sys N               /sys/block/<disk>
#   drv_get N               create device N if missing, print its node
#   drv_free                LOOP_CTL_GET_FREE; prints the index
#   drv_run CMD...          CMD where /dev/loop-control and /dev/loopN are
#                           the driver's (loopns: lns-enter's namespace)
#   drv_losetup ARGS...     unmodified losetup through drv_run
#   drv_teardown            unmount scenario mounts (ABI_TMP/mnt*,
#                           ABI_SCRATCH/mnt*), detach every device of the
#                           driver, unmount the instance
#   io N CMD ARGS...        loopioctl on device N; prints "CMD ARGS: RESULT"
#   ioc CMD ARGS...         loopioctl on the control node
#   st N / flags N          GET_STATUS64 without number/rdevice; lo_flags
#   sysval N ATTR           /sys/block/<disk>/ATTR or "-"
#   norm                    filter: device names -> DEVn/DISKn
#   abi_cleanup             bats teardown: undo whatever is left
#
# Everything that execs costs tens of milliseconds under TCG: helpers
# prefer builtins and cache what they look up.

ABI_TMP=${LOOPNS_TMP:-/tmp}/abi
ABI_SCRATCH=${LOOPNS_SCRATCH:-/tmp}/abi
# 8 MiB of random bytes, made once per boot by the scenarios that need it.
ABI_PATTERN=${LOOPNS_TMP:-/tmp}/abi-pattern.img

DRV=
DRV_DIR=
CTL=
DRV_USED=()	# device indexes touched by the current scenario
# Every loop/loopns device the file touched (for teardown after a
# failure in the middle of a parity run).
ABI_INSTANCES=()

# drv_setup DRIVER: select the driver the following commands talk to.
drv_setup() {
	DRV=$1
	DRV_USED=()
	mkdir -p "$ABI_TMP" "$ABI_SCRATCH"
	case $DRV in
	loop)
		[[ -e /dev/loop-control ]] || modprobe loop || return
		DRV_DIR=/dev
		;;
	loopns)
		[[ -d /sys/module/loopns ]] || load_loopns || return
		ABI_SEQ=$((${ABI_SEQ:-0} + 1))
		DRV_DIR=$ABI_TMP/inst$ABI_SEQ
		mkdir -p "$DRV_DIR" || return
		mount -t loopns loopns "$DRV_DIR" || return
		ABI_INSTANCES+=("$DRV_DIR")
		;;
	*)
		echo "drv_setup: unknown driver $DRV" >&2
		return 2
		;;
	esac
	CTL=$DRV_DIR/loop-control
}

# _disk_r N: set R to the gendisk name of device N, from the node's
# device number (cached: every exec costs tens of milliseconds under TCG;
# io() warms the cache in the test's shell, so that $(...) users hit it).
declare -gA ABI_DISK_CACHE=()
_disk_r() {
	local node mm line
	if [[ $DRV == loop ]]; then
		R=loop$1
		return 0
	fi
	node=$DRV_DIR/loop$1
	if [[ -z ${ABI_DISK_CACHE[$node]:-} ]]; then
		mm=$(stat -Lc '%Hr:%Lr' "$node" 2>/dev/null) || return 1
		while read -r line; do
			[[ $line == DEVNAME=* ]] && ABI_DISK_CACHE[$node]=${line#DEVNAME=}
		done <"/sys/dev/block/$mm/uevent"
	fi
	R=${ABI_DISK_CACHE[$node]:-}
	[[ -n $R ]]
}

drv_disk() {
	local R
	_disk_r "$1" || return
	printf '%s\n' "$R"
}

drv_sys() {
	local R
	_disk_r "$1" || return
	printf '/sys/block/%s\n' "$R"
}

# drv_devnode N: the global node in the host /dev (devtmpfs) of device N.
drv_devnode() {
	printf '/dev/%s\n' "$(drv_disk "$1")"
}

_drv_remember() {
	local i
	for i in "${DRV_USED[@]}"; do
		[[ $i == "$1" ]] && return 0
	done
	DRV_USED+=("$1")
}

# drv_get N: make sure device N exists; print its node.
drv_get() {
	local node
	node=$DRV_DIR/loop$1
	[[ -e $node ]] || loopioctl "$CTL" ctl-add "$1" >/dev/null || return
	_drv_remember "$1"
	printf '%s\n' "$node"
}

# drv_free: LOOP_CTL_GET_FREE (the device is remembered for teardown).
drv_free() {
	local n
	n=$(loopioctl "$CTL" ctl-get-free) || { echo "$n"; return 1; }
	_drv_remember "$n"
	printf '%s\n' "$n"
}

# drv_run CMD...: run CMD where /dev/loop-control and /dev/loopN are the
# current driver's.
#
# For loopns this is lns-enter's namespace plus /dev/loopnsM symlinks to
# the host's devtmpfs nodes: losetup -l/-j/-a and mount's overlap check
# scan /sys/block/loop* and then stat /dev/<disk>, which must exist.
drv_run() {
	if [[ $DRV == loopns ]]; then
		LNS_ENTER_HOST_DISKS=512 lns_enter "$DRV_DIR" "$@"
	else
		"$@"
	fi
}

drv_losetup() {
	drv_run losetup "$@"
}

# io N CMD ARGS...: one loopioctl call on device N, transcript line.
io() {
	local n=$1 out
	shift
	_drv_remember "$n"
	out=$(loopioctl "$DRV_DIR/loop$n" "$@" 2>/dev/null) || true
	printf '%s: %s\n' "$*" "$out"
	_disk_r "$n" 2>/dev/null || true
}

# ioc CMD ARGS...: one loopioctl call on the control node.
ioc() {
	local out
	out=$(loopioctl "$CTL" "$@" 2>/dev/null) || true
	printf '%s: %s\n' "$*" "$out"
}

# st N: device N's GET_STATUS64 without the fields that name the driver
# (number, rdevice) - for transcripts.
st() {
	{ loopioctl "$DRV_DIR/loop$1" get-status64 2>/dev/null || true; } |
		sed -E 's/number=[0-9]+ //; s/rdevice=[0-9]+ //'
}

# flags N: lo_flags of device N (or the errno name).
flags() {
	local out
	out=$(loopioctl "$DRV_DIR/loop$1" get-status64 2>/dev/null) || true
	if [[ $out == *flags=* ]]; then
		out=${out#*flags=}
		echo "${out%% *}"
	else
		echo "$out"
	fi
}

# sysval N ATTR: /sys/block/<disk>/ATTR of device N, or "-" if absent.
sysval() {
	local V
	sysval_r "$@"
	printf '%s\n' "$V"
}

# sysval_r N ATTR: the same into V, without a subshell.
sysval_r() {
	local R f
	V=-
	_disk_r "$1" || return 0
	f=/sys/block/$R/$2
	if [[ -r $f ]]; then
		read -r V <"$f" 2>/dev/null || V="?"
	fi
	return 0
}

# bsize NODE: blockdev --getsize64
bsize() {
	blockdev --getsize64 "$1" 2>&1
}

# norm: filter replacing the current driver's device names with symbolic
# ones: device N's nodes (DRV_DIR/loopN, /dev/loopN, the global
# /dev/<disk>) become DEVN, its gendisk name DISKN; partitions keep their
# pM suffix. Runs of blanks shrink to one (losetup pads columns to the
# longest name).
norm() {
	local args=() node n disk R
	if [[ $DRV == loopns ]]; then
		for node in "$DRV_DIR"/loop*; do
			n=${node##*/loop}
			[[ $n =~ ^[0-9]+$ ]] || continue
			_disk_r "$n" 2>/dev/null || continue
			disk=$R
			args+=(-e "s#/dev/${disk}(p[0-9]+)?\\b#DEV$n\\1#g")
			args+=(-e "s#\\b${disk}(p[0-9]+)?\\b#DISK$n\\1#g")
		done
		args+=(-e "s#${DRV_DIR}/loop([0-9]+)#DEV\\1#g")
		args+=(-e "s#/dev/\\.lns/loop([0-9]+)#DEV\\1#g")
	fi
	args+=(-e "s#/dev/loop([0-9]+)#DEV\\1#g")
	args+=(-e "s#\\bloop([0-9]+)(p[0-9]+)?\\b#DISK\\1\\2#g")
	[[ $DRV == loopns ]] && args+=(-e "s#${DRV_DIR}#DIR#g")
	sed -E "${args[@]}" -e 's/[[:blank:]]+/ /g'
}

# detach_all: LOOP_CLR_FD on every device of the current driver, then wait
# until their loop/ groups are gone (6.12 detaches at the last close).
detach_all() {
	local node n i R bound=()
	for node in "$DRV_DIR"/loop*; do
		n=${node##*/loop}
		[[ $n =~ ^[0-9]+$ && -b $node ]] || continue
		_disk_r "$n" && [[ -e /sys/block/$R/loop ]] || continue
		loopioctl "$node" clr >/dev/null 2>&1 || true
		bound+=("$n")
	done
	for n in "${bound[@]}"; do
		wait_unbound "$n" || echo "detach_all: device $n still bound" >&2
	done
	return 0
}

# abi_umount_all: unmount every filesystem mounted under the ABI scratch
# directories (but not loopns instances), innermost first.
abi_umount_all() {
	local m
	awk '{print $5}' /proc/self/mountinfo | grep -E "^($ABI_TMP|$ABI_SCRATCH)/mnt" |
		sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	return 0
}

drv_teardown() {
	abi_umount_all
	[[ -n $DRV ]] && detach_all
	if [[ $DRV == loopns && -n $DRV_DIR ]]; then
		umount "$DRV_DIR" 2>/dev/null || umount -l "$DRV_DIR" 2>/dev/null || true
		rmdir "$DRV_DIR" 2>/dev/null || true
	fi
	DRV= DRV_DIR= CTL=
	DRV_USED=()
	ABI_DISK_CACHE=()
}

# abi_sleep SECONDS: sleep without an exec.
abi_sleep() {
	[[ -n ${ABI_SLEEP_FD:-} ]] || exec {ABI_SLEEP_FD}<> <(:)
	read -rt "$1" -u "$ABI_SLEEP_FD" || true
}

# abi_cleanup: teardown of a test: whatever a failed scenario left behind.
abi_cleanup() {
	local d
	abi_umount_all
	# Global loop devices left bound by a failed scenario.
	losetup -D 2>/dev/null || true
	drv_teardown 2>/dev/null || true
	for d in "${ABI_INSTANCES[@]}"; do
		mountpoint -q "$d" || continue
		umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true
	done
	ABI_INSTANCES=()
	rm -rf "$ABI_TMP" "$ABI_SCRATCH" || true
}

# parity SCENARIO [ARGS...]: run SCENARIO against loop then loopns; both
# transcripts end up in $PARITY_LOOP / $PARITY_LOOPNS and in $output (the
# loopns one). Fails with a unified diff when they differ.
parity() {
	local d
	PARITY_LOOP= PARITY_LOOPNS=
	for d in loop loopns; do
		drv_setup "$d" || { echo "drv_setup $d failed"; return 1; }
		kmsg_mark "parity $1 on $d"
		# Scenarios are transcripts: a failing step is recorded, not
		# fatal (no errexit, no bats ERR trap).
		(
			set +eE
			trap - ERR
			"$@"
		) >"$ABI_TMP/parity.raw" 2>&1 || true
		norm <"$ABI_TMP/parity.raw" >"$ABI_TMP/parity.out"
		drv_teardown
		if [[ $d == loop ]]; then
			PARITY_LOOP=$(<"$ABI_TMP/parity.out")
		else
			PARITY_LOOPNS=$(<"$ABI_TMP/parity.out")
		fi
	done
	output=$PARITY_LOOPNS
	if [[ $PARITY_LOOP != "$PARITY_LOOPNS" ]]; then
		echo "parity $1: loop (---) and loopns (+++) transcripts differ:"
		diff -u --label loop --label loopns <(printf '%s\n' "$PARITY_LOOP") <(printf '%s\n' "$PARITY_LOOPNS")
		return 1
	fi
	printf '%s\n' "$PARITY_LOOPNS"
}

# expect_line TEXT: $output contains the exact line TEXT.
expect_line() {
	grep -qxF -- "$1" <<<"$output" || {
		echo "expected line: $1"
		echo "in transcript:"
		printf '%s\n' "$output"
		return 1
	}
}

# wait_unbound N: wait until device N of the current driver is detached.
wait_unbound() {
	local i sys R
	_disk_r "$1" || return 0
	sys=/sys/block/$R
	for ((i = 0; i < 100; i++)); do
		[[ -e $sys/loop ]] || return 0
		abi_sleep 0.05
	done
	return 1
}

# try_write NODE [DD-FLAGS...]: write one 4 KiB block at the start of NODE;
# prints "rc=N" and the error text of dd's first line, if any.
try_write() {
	local node=$1 out rc
	shift
	out=$(dd if=/dev/zero of="$node" bs=4096 count=1 conv=notrunc "$@" 2>&1)
	rc=$?
	out=${out%%$'\n'*}
	if ((rc)); then
		echo "rc=$rc ${out##*: }"
	else
		echo "rc=0"
	fi
}
