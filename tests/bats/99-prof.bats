#!/usr/bin/env bats
sc() { bench-attach scale /tmp/ps$1 $2 4 /tmp/pimg | grep -o '"add_s":[0-9.]*\|"teardown_s":[0-9.]*' | tr '\n' ' '; }
lo() { bench-attach mem /dev/loop-control /dev/loop 1000 $1 /tmp/pimg | grep -o '"add_s":[0-9.]*\|"teardown_s":[0-9.]*' | tr '\n' ' '; }
@test "prof loopns teardown" {
	truncate -s 1M /tmp/pimg
	modprobe loop
	rmmod loopns || true
	modprobe loopns max_devices=16384 max_devices_per_user=16384
	echo "loopns 500x4 $(sc a 500)  loop 2000 $(lo 2000)" >&3
	echo "loop 2000 $(lo 2000)  loopns 500x4 $(sc b 500)" >&3
}
