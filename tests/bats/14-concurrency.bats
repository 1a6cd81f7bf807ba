#!/usr/bin/env bats
# Concurrency: for a bounded time, background workers mount and unmount
# instances (also lazily and through the new mount API), add, remove,
# LOOP_CTL_GET_FREE + LOOP_SET_FD + LOOP_CLR_FD on a shared instance and on
# private ones, and reconfigure max=, all at once. Afterwards nothing may
# have leaked: the loopns gendisks are back to the baseline and rmmod
# succeeds. (Kernel warnings and lockdep reports fail the run through the
# harness's console check.)

load helpers

DURATION=${LOOPNS_STRESS_SECONDS:-$(soak 6)}

setup() {
	skip_unless_root
	load_loopns
	T=$(mktemp -d /tmp/lns14.XXXXXX)
	S=$T/shared BK=$T/backing
	mkdir -p "$S" "$BK"
	mount -t tmpfs -o size=64M lns14bk "$BK"
	local i
	for i in 0 1 2 3 4 5 6 7; do
		make_image "$BK/img$i" 1M
	done
	BASE=$(lns_disk_count)
	PIDS=()
}

teardown() {
	local p m
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	[[ -n ${WATCHDOG:-} ]] && kill "$WATCHDOG" 2>/dev/null
	umount_under "$T"
	lns_cleanup
	rm -rf "$T"
	modprobe loopns 2>/dev/null || true
}

# baseline: the number of loopns gendisks is back to what setup saw.
baseline() {
	[ "$(lns_disk_count)" -eq "$BASE" ]
}

# err WHO MSG: record an unexpected result.
err() {
	echo "$1: $2" >>"$T/errors"
}

# ok_out OUT ALLOWED...: OUT is a number or one of the ALLOWED errno names.
ok_out() {
	local out=$1 a
	shift
	[[ $out =~ ^-?[0-9]+$ ]] && return 0
	for a in "$@"; do
		[[ $out == "$a" ]] && return 0
	done
	return 1
}

# lio WHO NODE ARGS... ALLOWED-ERRNOS via $ALLOW: loopioctl with checking;
# prints its output.
lio() {
	local who=$1 out
	shift
	out=$(loopioctl "$@" 2>/dev/null)
	# A node that vanished under us (removed by another worker).
	[[ -z $out ]] && out=ENOENT
	# shellcheck disable=SC2086
	ok_out "$out" $ALLOW || err "$who" "loopioctl $* -> $out"
	echo "$out"
}

# Shared instance: GET_FREE, bind my own file, check that the device is
# mine, unbind. Races with the other binders are expected (EBUSY).
w_binder() {
	set +e
	local id=$1 img=$BK/img$1 n out ino end=$((SECONDS + DURATION)) it=0
	local ALLOW="EBUSY ENXIO ENODEV ENOENT ENOSPC"
	ino=$(stat -c %i "$img")
	while ((SECONDS < end)); do
		n=$(lio "binder$id" "$S/loop-control" ctl-get-free)
		[[ $n =~ ^[0-9]+$ ]] || continue
		out=$(lio "binder$id" "$S/loop$n" set-fd "$img")
		if [[ $out == 0 ]]; then
			out=$(loopioctl "$S/loop$n" get-status64 2>&1)
			[[ " $out " == *" inode=$ino "* ]] ||
				err "binder$id" "loop$n bound to my file shows: $out"
			lio "binder$id" "$S/loop$n" clr >/dev/null
		fi
		((it++))
	done
	echo "$it" >"$T/iter.binder$id"
}

# Shared instance: add and remove a few fixed indexes.
w_adder() {
	set +e
	local id=$1 k end=$((SECONDS + DURATION)) it=0
	local ALLOW="EEXIST EBUSY ENODEV ENOSPC"
	while ((SECONDS < end)); do
		k=$((RANDOM % 6))
		lio "adder$id" "$S/loop-control" ctl-add "$k" >/dev/null
		lio "adder$id" "$S/loop-control" ctl-remove $(((k + 3) % 6)) >/dev/null
		if ((it % 5 == 0)); then
			# unlink races with binders and LOOP_CTL_REMOVE.
			rm -f "$S/loop$(((k + 1) % 6))" 2>/dev/null
		fi
		((it++))
	done
	echo "$it" >"$T/iter.adder$id"
}

# Shared instance: flip max= with remount.
w_remount() {
	set +e
	local end=$((SECONDS + DURATION)) it=0 m
	while ((SECONDS < end)); do
		if ((it % 2)); then m=4; else m=1024; fi
		mount -o remount,max=$m "$S" || err remount "remount,max=$m failed"
		sleep 0.2
		((it++))
	done
	mount -o remount,max=1024 "$S"
	echo "$it" >"$T/iter.remount"
}

# Private instances: mount, use, umount (plain, with an open device, lazy).
w_private() {
	set +e
	local id=$1 d=$T/p$1 n m end=$((SECONDS + DURATION)) it=0 fd
	local ALLOW="EBUSY ENOSPC"
	mkdir -p "$d"
	while ((SECONDS < end)); do
		mount -t loopns loopns "$d" || { err "private$id" "mount failed"; continue; }
		n=$(lio "private$id" "$d/loop-control" ctl-get-free)
		lio "private$id" "$d/loop$n" set-fd "$BK/img$((4 + id))" >/dev/null
		m=$(lio "private$id" "$d/loop-control" ctl-add -1)
		case $((it % 3)) in
		0)
			umount "$d" || err "private$id" "umount failed"
			;;
		1)
			# Keep a device open across the umount (through devtmpfs:
			# an fd opened in the instance would pin the mount).
			exec {fd}<"/dev/$(lns_disk "$d/loop$n")"
			umount "$d" || err "private$id" "umount (open device) failed"
			head -c 512 <&$fd >/dev/null || err "private$id" "read of orphan failed"
			exec {fd}<&-
			;;
		2)
			exec {fd}<>"$d/loop-control"
			umount -l "$d" || err "private$id" "umount -l failed"
			lio "private$id" "/proc/self/fd/$fd" ctl-remove "$m" >/dev/null
			exec {fd}>&-
			;;
		esac
		((it++))
	done
	echo "$it" >"$T/iter.private$id"
}

# Detached instances through the new mount API.
w_newmount() {
	set +e
	local end=$((SECONDS + DURATION)) it=0 out
	while ((SECONDS < end)); do
		out=$(fsmount new max=16 get-free bind 0 "$BK/img6" add -1 get-free \
			'?remove' 0 remove 1 clr 0 remove 0 2>&1) ||
			err newmount "fsmount failed: $(tr '\n' ' ' <<<"$out")"
		((it++))
	done
	echo "$it" >"$T/iter.newmount"
}

# dump_stuck: where every process that is not plain idle waits.
dump_stuck() {
	local p
	ps -eo pid,ppid,stat,wchan:32,args | grep -vE ' (\[.*\]|-?bash .*/bats)' || true
	for p in /proc/[0-9]*; do
		case $(cat "$p/comm" 2>/dev/null) in
		loopioctl | fsmount | mount | umount | rm | head)
			echo "--- ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline")"
			cat "$p/stack" 2>/dev/null
			;;
		esac
	done
	kmsg_mark "stuck workers; dumping blocked tasks"
	echo w >/proc/sysrq-trigger 2>/dev/null || true
}

@test "parallel mount/add/remove/GET_FREE/SET_FD/CLR_FD/umount for ${DURATION}s leaks nothing" {
	lns_mount "$S"
	local w
	WATCHDOG=
	w_binder 0 3>&- &
	PIDS+=($!)
	w_binder 1 3>&- &
	PIDS+=($!)
	w_binder 2 3>&- &
	PIDS+=($!)
	w_adder 0 3>&- &
	PIDS+=($!)
	w_remount 3>&- &
	PIDS+=($!)
	w_private 0 3>&- &
	PIDS+=($!)
	w_private 1 3>&- &
	PIDS+=($!)
	w_newmount 3>&- &
	PIDS+=($!)
	# Workers stop by themselves after DURATION; give them a margin, then
	# report whatever is stuck, and where.
	local end=$((SECONDS + DURATION + 90)) alive
	while :; do
		alive=
		for w in "${PIDS[@]}"; do
			kill -0 "$w" 2>/dev/null && alive+=" $w"
		done
		[[ -z $alive ]] && break
		if ((SECONDS >= end)); then
			echo "workers still running after $((DURATION + 90))s:$alive"
			dump_stuck
			false
		fi
		sleep 1
	done
	for w in "${PIDS[@]}"; do
		wait "$w"
	done
	PIDS=()
	echo "iterations:"
	grep . "$T"/iter.* | sed "s|$T/iter.||"
	if [[ -s $T/errors ]]; then
		echo "unexpected results:"
		sort "$T/errors" | uniq -c | head -n 40
		false
	fi
	# Every worker finished and made progress.
	[ "$(ls "$T"/iter.* | wc -l)" -eq 8 ]
	for w in "$T"/iter.*; do
		[ "$(cat "$w")" -gt 0 ]
	done
	# The shared instance is consistent: every node is a live gendisk.
	for w in "$S"/loop[0-9]*; do
		[[ -e $w ]] || continue
		[ -e "/sys/block/$(lns_disk "$w")" ]
	done
	# If cleaning up blocks, say where.
	(sleep 120 && echo "cleanup blocked for 120s" && dump_stuck) 3>&- &
	WATCHDOG=$!
	echo "step: umount shared"
	lns_umount "$S"
	echo "step: umount private"
	umount "$T/p0" 2>/dev/null || true
	umount "$T/p1" 2>/dev/null || true
	echo "step: baseline"
	wait_for 15 baseline
	# No backing file is still held.
	echo "step: umount backing"
	umount "$BK"
	echo "step: rmmod"
	wait_for 15 rmmod loopns
	kill "$WATCHDOG"
	WATCHDOG=
}
