#!/bin/bash
# Mutual TLS on every channel of the agent, with the real programs: the
# agent (--dataplane fake) serves the API, a read-only API, events and the
# host channel on tls+tcp://; nicvisorctl and the shim daemon connect with
# certificates made here with openssl (four CAs: the admin clients' and
# the agent's own, the read-only clients', the hosts', and a rogue one).
#
#   admin certificate    --api: changes accepted
#   read-only cert       --api-read-only: lists served, changes refused
#                        (PERMISSION_DENIED); --api: refused at the handshake
#   no certificate       refused by nicvisorctl itself, with the reason
#   rogue certificate    refused at the handshake, on every endpoint
#   host certificate     the shim registers over --southbound; with an
#                        admin certificate instead it never does
#   events               a read-only client receives them over TLS
# and: ipc:// sockets are mode 0600; plain tcp:// is logged as
# unauthenticated.
set -eu
export NV_TEST_NAME=${NV_TEST_NAME:-security-mtls}
# shellcheck source-path=SCRIPTDIR source=../lib/nv-test.sh
. "$(dirname "$0")/../lib/nv-test.sh"

nv_require_cmd openssl
dpu=${NICVISOR_DPU:?} ctl=${NICVISORCTL:?} shim=${NICVISOR_SHIM:?}
[ -e /dev/kvm ] || nv_skip "no /dev/kvm for the shim daemon"

# ---- certificates ------------------------------------------------------
pki=$NV_TMP/pki
mkdir -p "$pki"
mkca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$pki/$1-ca.key" -out "$pki/$1-ca.crt" -days 2 -subj "/CN=nicvisor test $1 CA" \
		2>/dev/null
}
mkcert() { # NAME CA CN [SAN]
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$3" 2>/dev/null
	printf '%s\n' "${4:+subjectAltName=$4}" >"$pki/$1.ext"
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2-ca.crt" -CAkey "$pki/$2-ca.key" \
		-CAcreateserial -days 2 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
}
for ca in admin ro host rogue; do mkca $ca; done
mkcert agent admin localhost DNS:localhost
mkcert alice admin alice
mkcert rita ro rita
mkcert h1 host h1
mkcert mallory rogue mallory

p_api=$(nv_free_port)
p_ro=$(nv_free_port)
p_ev=$(nv_free_port)
p_south=$(nv_free_port)
api=tls+tcp://localhost:$p_api
ro=tls+tcp://localhost:$p_ro
events=tls+tcp://localhost:$p_ev
south=tls+tcp://localhost:$p_south

nv_bg agent "$dpu" --dataplane fake --state-dir "$NV_TMP/state" --api "$api" \
	--api-read-only "$ro" --events "$events" --southbound "$south" \
	--tls-cert "$pki/agent.crt" --tls-key "$pki/agent.key" --tls-ca "$pki/admin-ca.crt" \
	--tls-read-only-ca "$pki/ro-ca.crt" --tls-host-ca "$pki/host-ca.crt" \
	--vhost-dir "$NV_TMP/vhost" --heartbeat-ms 300
agent=$NV_BG_PID
nv_wait_log "$NV_TMP/agent.log" 'ready' 10 "$agent" || nv_die "the agent did not start"

as() { # WHO URL ARGS...: nicvisorctl with WHO's certificate on URL
	local who=$1 url=$2
	shift 2
	timeout 20 "$ctl" --api "$url" --events "$events" --tls-cert "$pki/$who.crt" \
		--tls-key "$pki/$who.key" --tls-ca "$pki/admin-ca.crt" "$@"
}

# Admin: changes go through.
as alice "$api" network create blue --vlan 7 >/dev/null || nv_die "admin: network create failed"
as alice "$api" network list | grep -q blue || nv_die "admin: blue is not listed"
nv_log "admin certificate: a change accepted"

# Read-only: reads only, and only on its endpoint.
as rita "$ro" network list | grep -q blue || nv_die "read-only: cannot list networks"
if as rita "$ro" network create red >"$NV_TMP/ro.out" 2>"$NV_TMP/ro.err"; then
	nv_die "read-only: a change was accepted"
fi
grep -q 'read-only' "$NV_TMP/ro.err" && grep -q 'permission_denied' "$NV_TMP/ro.err" ||
	nv_die "read-only: not refused as a permission: $(cat "$NV_TMP/ro.err")"
as alice "$api" network list | grep -q red && nv_die "read-only: red exists after all"
if as rita "$api" network list >/dev/null 2>&1; then
	nv_die "a read-only certificate reached the admin endpoint"
fi
nv_log "read-only certificate: lists served, a change refused (PERMISSION_DENIED), admin endpoint refused"

# No certificate, or one nobody trusts.
if "$ctl" --api "$api" network list >/dev/null 2>"$NV_TMP/nocert.err"; then
	nv_die "no certificate: admitted"
fi
grep -q 'TLS needs a certificate' "$NV_TMP/nocert.err" ||
	nv_die "no certificate: unclear error: $(cat "$NV_TMP/nocert.err")"
for url in "$api" "$ro"; do
	if as mallory "$url" network list >/dev/null 2>&1; then
		nv_die "a rogue certificate was admitted on $url"
	fi
done
nv_log "no certificate: refused with the reason; a rogue certificate: refused at the handshake"

# Events over TLS, to a read-only client, while a host registers.
nv_bg events timeout 30 "$ctl" --api "$ro" --events "$events" --tls-cert "$pki/rita.crt" \
	--tls-key "$pki/rita.key" --tls-ca "$pki/admin-ca.crt" events
sleep 0.5
# A host with a certificate of the wrong CA never registers.
nv_bg badhost "$shim" --agent "$south" --host-id h0 --tls-cert "$pki/alice.crt" \
	--tls-key "$pki/alice.key" --tls-ca "$pki/admin-ca.crt"
nv_bg host "$shim" --agent "$south" --host-id h1 --tls-cert "$pki/h1.crt" \
	--tls-key "$pki/h1.key" --tls-ca "$pki/admin-ca.crt"
for _ in $(seq 1 50); do
	as alice "$api" hosts | grep -q '^h1 ' && break
	sleep 0.2
done
as alice "$api" hosts | grep -q '^h1 ' || nv_die "the shim with a host certificate did not register"
nv_wait_log "$NV_TMP/events.log" 'h1' 10 || nv_die "the read-only client saw no event over TLS"
sleep 1
as alice "$api" hosts | grep -q '^h0 ' && nv_die "a host with an admin certificate registered"
nv_log "host certificate: the shim registered over TLS; a host without one did not; events reached a read-only client"

# The local and the plain channels.
nv_stop "$agent"
nv_bg agent2 "$dpu" --dataplane fake --state-dir "$NV_TMP/state2" \
	--api "ipc://$NV_TMP/run/api.sock" --events "ipc://$NV_TMP/run/ev.sock" \
	--southbound "tcp://127.0.0.1:$(nv_free_port)" --vhost-dir "$NV_TMP/vhost2"
nv_wait_log "$NV_TMP/agent2.log" 'ready' 10 "$NV_BG_PID" || nv_die "agent 2 did not start"
[ "$(stat -c %a "$NV_TMP/run/api.sock")" = 600 ] || nv_die "the ipc:// API socket is not 0600"
grep -q 'host channel on tcp://.* is unauthenticated' "$NV_TMP/agent2.log" ||
	nv_die "plain tcp:// was not logged as unauthenticated"
nv_log "ipc:// sockets are 0600; plain tcp:// is logged as unauthenticated"
nv_log "ok"
