#!/usr/bin/env bats
# Last file of a check-debug boot: nothing leaked since 00-debug-baseline.
# loopns is unloaded first so that its objects are either freed or leaked.

KML=/sys/kernel/debug/kmemleak

@test "kmemleak: no unreferenced objects after the run" {
	local report
	[ -w "$KML" ]
	grep -q '^loopns ' /proc/modules && { rmmod loopns || echo "rmmod loopns failed (refcnt $(cat /sys/module/loopns/refcnt))"; }
	sync
	echo 3 >/proc/sys/vm/drop_caches
	# An object is reported once it was unreferenced in two scans, and
	# older than 5 s.
	echo scan >"$KML"
	sleep 6
	echo scan >"$KML"
	echo scan >"$KML"
	report=$(cat "$KML")
	if [ -n "$report" ]; then
		echo "kmemleak report:"
		echo "$report"
		false
	fi
}
