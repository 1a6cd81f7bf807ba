#!/usr/bin/env bats
# Second boot of the crash test (tests/crash/crash.sh wrote, fsync'ed and
# reset the VM; the harness booted again on the same disk). For each
# configuration: the image is bound again to the same driver, ext4 mounts
# (its journal replays through the driver), every fsync'ed file has the
# content it had when fsync returned, the unmount is clean and e2fsck -fn
# finds nothing. loopns and loop must agree.

load ../bats/helpers
. "$TESTS_DIR/crash/crash.bash"

setup_file() {
	crash_setup_drivers
}

teardown_file() {
	umount_under "$CRASH_MNT"
	umount "$CRASH_INST" 2>/dev/null || umount -l "$CRASH_INST" 2>/dev/null
	losetup -D 2>/dev/null || true
}

# check_config NAME DRIVER FLAGS: the transcript of configuration NAME in
# $CRASH_DIR/NAME.out (one line per check; "ok" when all is well), and
# how many of the unsynced files survived in NAME.unsynced.
check_config() {
	local name=$1 drv=$2 img=$CRASH_DIR/$1.img m=$CRASH_MNT/$1 dev f sum dio
	local -A want=() got=() lost=()
	local n=0
	{
		[[ -f $CRASH_DIR/manifest && -f $img ]] || { echo "first boot: no manifest or image"; return; }
		while read -r sum f; do want[$f]=$sum; done <"$CRASH_DIR/manifest"
		dio=$(cat "$CRASH_DIR/$name.dio")
		if [[ $dio == $(($3 == 16)) ]]; then
			echo "direct I/O when written: ok"
		else
			echo "direct I/O when written: wanted $(($3 == 16)), was $dio"
		fi
		dev=$(crash_bind "$drv" "$img" 0) || { echo "bind: failed"; return; }
		mkdir -p "$m"
		if ! mount -t ext4 "$dev" "$m"; then
			echo "mount: failed"
			loopioctl "$dev" clr >/dev/null
			return
		fi
		echo "mount: ok"
		while read -r sum f; do got[$f]=$sum; done < <(cd "$m" && sha256sum -- "${CRASH_SYNCED[@]}" "${CRASH_UNSYNCED[@]}" 2>/dev/null)
		for f in "${CRASH_SYNCED[@]}"; do
			if [[ -z ${got[$f]:-} ]]; then
				echo "$f: missing"
			elif [[ ${got[$f]} != "${want[$f]}" ]]; then
				echo "$f: differs"
			else
				echo "$f: ok"
			fi
		done
		while read -r sum f; do lost[$f]=$sum; done <"$CRASH_DIR/unsynced"
		for f in "${CRASH_UNSYNCED[@]}"; do [[ ${got[$f]:-} == "${lost[$f]:-}" ]] && n=$((n + 1)); done
		echo "$n of ${#CRASH_UNSYNCED[@]}" >"$CRASH_DIR/$name.unsynced"
		umount "$m" && echo "umount: ok" || echo "umount: failed"
		loopioctl "$dev" clr >/dev/null
		e2fsck -fn "$img" >"$CRASH_DIR/$name.fsck" 2>&1 && echo "e2fsck -fn: clean" ||
			echo "e2fsck -fn: exit $?"
	} >"$CRASH_DIR/$name.out"
}

# crash_test NAME DRIVER FLAGS: check_config, print the transcript, fail on
# anything but "ok" and "clean".
crash_test() {
	check_config "$1" "$2" "$3"
	cat "$CRASH_DIR/$1.out"
	[[ -f $CRASH_DIR/$1.fsck ]] && sed 's/^/  e2fsck: /' "$CRASH_DIR/$1.fsck"
	printf '# %s: unsynced files that survived: %s\n' "$1" "$(cat "$CRASH_DIR/$1.unsynced" 2>/dev/null)" >&3
	# (errexit ignores a negated command: test the output instead)
	[ -z "$(grep -vE ': (ok|clean)$' "$CRASH_DIR/$1.out")" ]
	[ "$(wc -l <"$CRASH_DIR/$1.out")" -eq $((${#CRASH_SYNCED[@]} + 4)) ]
}

@test "crash: the first boot was reset without a sync (unsynced data on the virtio disk is lost)" {
	[ -f "$CRASH_DIR/manifest" ]
	[ "$(cat "$CRASH_DIR/canary" 2>/dev/null)" != "$CRASH_CANARY_TEXT" ]
}

@test "crash: ext4 on loopns, buffered: journal replays, fsync'ed files intact, e2fsck -fn clean" {
	crash_test loopns-buffered loopns 0
}

@test "crash: ext4 on loopns, direct I/O: journal replays, fsync'ed files intact, e2fsck -fn clean" {
	crash_test loopns-dio loopns 16
}

@test "crash: ext4 on loop, buffered: journal replays, fsync'ed files intact, e2fsck -fn clean" {
	crash_test loop-buffered loop 0
}

@test "crash: ext4 on loop, direct I/O: journal replays, fsync'ed files intact, e2fsck -fn clean" {
	crash_test loop-dio loop 16
}

@test "crash: loopns and loop agree, buffered and direct I/O" {
	diff -u "$CRASH_DIR/loop-buffered.out" "$CRASH_DIR/loopns-buffered.out"
	diff -u "$CRASH_DIR/loop-dio.out" "$CRASH_DIR/loopns-dio.out"
}
