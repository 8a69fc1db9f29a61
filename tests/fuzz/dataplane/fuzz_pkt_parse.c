/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the packet parser (dataplane/pkt_parse.c). Byte 0:
 * bit 0 parses with PKT_PARSE_VXLAN, bit 1 hands over only the first
 * byte-1 bytes of the frame (the headers of a segmented frame); the frame
 * is the rest. The bytes handed over are copied to a buffer of exactly
 * that size, so ASan sees any read past them. Checked: the verdict is
 * known; what it reports lies inside the frame (headers inside the bytes
 * given, the IP datagram inside the frame); L2_ONLY names its reason and
 * OK has none; a prefix agrees with the whole frame or stops short
 * (L2_ONLY, PKT_F_BEYOND); the same bytes give the same answer; a VXLAN
 * frame's inner frame parses too; pkt_fast_ok() is true only for frames
 * the parser finds OK.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkt_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define L2_REASONS (PKT_F_QINQ | PKT_F_IP_OPTIONS | PKT_F_FRAGMENT | PKT_F_EXT_DEPTH | PKT_F_BEYOND)

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_info(enum pkt_verdict v, const struct pkt_info *pi, size_t len, size_t frame_len)
{
	check(v < PKT_VERDICT_N);
	check(pkt_verdict_names[v] != NULL);
	if (v == PKT_L2_ONLY)
		check((pi->flags & L2_REASONS) != 0);
	if (v == PKT_OK)
		check((pi->flags & L2_REASONS) == 0);
	if (v != PKT_OK && v != PKT_L2_ONLY)
		return;
	/* 0 when the bytes given end inside the Ethernet header */
	check(pi->l3_off <= len && (pi->l3_off >= 14 || (v == PKT_L2_ONLY && pi->l3_off == 0)));
	if (pi->flags & (PKT_F_IPV4 | PKT_F_IPV6)) {
		check(pi->l3_off + pi->ip_len <= frame_len);
		check(pi->l4_off <= pi->l3_off + pi->ip_len);
	}
	/* the upper-layer header's fixed part was read; TCP options lie in
	 * the datagram, maybe past the bytes given */
	if (pi->flags & PKT_F_L4) {
		check(pi->l4_off + (pi->l4_len == 4 ? 4 : 8) <= len);
		check(pi->l4_off + pi->l4_len <= pi->l3_off + pi->ip_len);
	}
	if (pi->flags & PKT_F_VXLAN) {
		check(pi->inner_off + 14 <= len || (pi->flags & PKT_F_BEYOND));
		check(pi->vni < (1u << 24));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_info pi, again, whole;
	enum pkt_verdict v, vw;
	unsigned int flags;
	size_t frame_len, len;
	uint8_t *buf;

	if (size < 2)
		return 0;
	flags = data[0] & 1 ? PKT_PARSE_VXLAN : 0;
	frame_len = size - 2;
	len = data[0] & 2 ? (data[1] < frame_len ? data[1] : frame_len) : frame_len;
	buf = malloc(len ? len : 1);
	check(buf != NULL);
	memcpy(buf, data + 2, len);

	v = pkt_parse(buf, len, frame_len, flags, &pi);
	check_info(v, &pi, len, frame_len);
	/* the switch's shortcut never says OK where the parser does not */
	check(!pkt_fast_ok(buf, len, frame_len, flags) || v == PKT_OK);
	check(pkt_parse(buf, len, frame_len, flags, &again) == v);
	check(memcmp(&pi, &again, sizeof(pi)) == 0);

	vw = pkt_parse(data + 2, frame_len, frame_len, flags, &whole);
	check_info(vw, &whole, frame_len, frame_len);
	if (len < frame_len)
		check(v == vw || (v == PKT_L2_ONLY && (pi.flags & PKT_F_BEYOND)));
	check(!(whole.flags & PKT_F_BEYOND));

	if (v == PKT_OK && (pi.flags & PKT_F_VXLAN)) {
		size_t in = pi.inner_off;

		v = pkt_parse(buf + in, len - in, len - in, 0, &again);
		check_info(v, &again, len - in, len - in);
	}
	free(buf);
	return 0;
}
