#!/usr/bin/env bats
# fio --verify=crc32c over loopns devices, LOOPNS_FIO_VOLUME_MIB (default
# 8192) in total across backings (tmpfs, ext4 on the virtio disk), loopns
# buffered and direct I/O, fio buffered and O_DIRECT, 4 KiB, 64 KiB and
# 1 MiB blocks, in a memory cgroup smaller than every device
# (tests/stress/fio-volume.sh).

load ../../bats/helpers

@test "fio verify: ${LOOPNS_FIO_VOLUME_MIB:-8192} MiB written and verified over loopns, under memory pressure, 0 errors" {
	skip_unless_root
	run bash "$TESTS_DIR/stress/fio-volume.sh" "${LOOPNS_FIO_VOLUME_MIB:-8192}"
	echo "$output"
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" -eq 0 ]
	[[ ${lines[-1]} == "fio-volume: PASS"* ]]
}
