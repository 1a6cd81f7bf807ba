# shellcheck shell=bash
# Helpers of the namespace suites (40-43): host users and long-lived
# "containers" (a user + mount namespace made by a host user, as a
# rootless runtime makes them). The suites load it after helpers.bash,
# start with PIDS=() and keep their files under $T.

# as_user UID CMD...: CMD with real and effective uid/gid UID, no groups.
as_user() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}

# userns UID CMD...: CMD as root of a new user + mount namespace made by
# host user UID.
userns() {
	local u=$1
	shift
	as_user "$u" unshare -Urm "$@"
}

# hold NAME UID SCRIPT: run the bash SCRIPT as root of a new user + mount
# namespace of host user UID, in the background; once it has succeeded the
# process stays alive, holding the namespaces. Sets PID_<NAME>.
hold() {
	local name=$1 u=$2 script=$3 pid
	# exec: $! must be the namespace's process, not a subshell.
	(exec setpriv --reuid="$u" --regid="$u" --clear-groups unshare -Urm bash -ec "$script
touch $T/$name.ready
exec sleep 3600") >"$T/$name.log" 2>&1 3>&- &
	pid=$!
	PIDS+=("$pid")
	if ! wait_for 30 test -e "$T/$name.ready"; then
		cat "$T/$name.log"
		return 1
	fi
	printf -v "PID_$name" %s "$pid"
}

# in_ns PID CMD...: CMD as root, with all capabilities, of the user and
# mount namespaces of PID (nsenter, like `docker exec`).
in_ns() {
	local pid=$1
	shift
	nsenter -t "$pid" -U -m -- "$@"
}

# drop NAME: kill holder NAME; its namespaces and instances go away.
drop() {
	local var=PID_$1
	kill -9 "${!var}"
	wait "${!var}" 2>/dev/null || true
}

# end_tenants: teardown of tests whose tenants may have a FUSE server
# stopped ($FUSE_PID): it continues, then every process in PIDS is killed
# and reaped.
end_tenants() {
	[[ -n ${FUSE_PID:-} ]] && kill -CONT "$FUSE_PID" 2>/dev/null
	kill_pids
}

# kill_pids: kill every process in PIDS and reap it (teardown).
kill_pids() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
