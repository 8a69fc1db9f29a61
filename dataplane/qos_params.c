/* SPDX-License-Identifier: MIT */
/*
 * QoS limits as numbers: checking them and turning them into rte_meter's
 * srTCM parameters. Pure (no EAL), unit tested.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "qos_params.h"

int
dp_qos_check(const struct dp_qos_limit *l, char *err, size_t errlen)
{
	if (l->bits_per_second == 0) {
		if (l->burst_bytes != 0) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen,
					 "burst_bytes %" PRIu64 " without bits_per_second: a burst "
					 "needs a rate",
					 l->burst_bytes);
			return -EINVAL;
		}
		return 0;
	}
	if (l->bits_per_second < DP_QOS_MIN_RATE || l->bits_per_second > DP_QOS_MAX_RATE) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen,
				 "bits_per_second %" PRIu64 " is out of range: 0 (no limit) or "
				 "%llu..%llu",
				 l->bits_per_second, (unsigned long long)DP_QOS_MIN_RATE,
				 (unsigned long long)DP_QOS_MAX_RATE);
		return -EINVAL;
	}
	if (l->burst_bytes != 0 &&
	    (l->burst_bytes < DP_QOS_MIN_BURST || l->burst_bytes > DP_QOS_MAX_BURST)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen,
				 "burst_bytes %" PRIu64
				 " is out of range: 0 (default) or %llu..%llu "
				 "(a burst holds at least two of the largest frames)",
				 l->burst_bytes, (unsigned long long)DP_QOS_MIN_BURST,
				 (unsigned long long)DP_QOS_MAX_BURST);
		return -EINVAL;
	}
	return 0;
}

uint64_t
dp_qos_burst(const struct dp_qos_limit *l)
{
	uint64_t b;

	if (l->bits_per_second == 0)
		return 0;
	if (l->burst_bytes != 0)
		return l->burst_bytes;
	b = l->bits_per_second / 8 / 1000 * DP_QOS_BURST_MS;
	if (b < DP_QOS_MIN_BURST)
		b = DP_QOS_MIN_BURST;
	return b > DP_QOS_MAX_BURST ? DP_QOS_MAX_BURST : b;
}

int
dp_qos_srtcm_params(const struct dp_qos_limit *l, struct rte_meter_srtcm_params *out)
{
	if (l->bits_per_second == 0 || dp_qos_check(l, NULL, 0) < 0)
		return -EINVAL;
	out->cir = l->bits_per_second / 8;
	out->cbs = dp_qos_burst(l);
	/* No excess bucket: a frame is green or red, never yellow. */
	out->ebs = 0;
	return 0;
}
