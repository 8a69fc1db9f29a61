/* SPDX-License-Identifier: MIT */
/* QoS limits to rte_meter parameters (qos_params.c); dp.h has the rest. */
#ifndef DP_QOS_PARAMS_H
#define DP_QOS_PARAMS_H

#include <rte_meter.h>

#include "dp.h"

/* The srTCM parameters of a limit with a rate: CIR bytes per second, CBS
 * the burst, EBS 0. -EINVAL for no rate or a limit dp_qos_check() refuses. */
int dp_qos_srtcm_params(const struct dp_qos_limit *l, struct rte_meter_srtcm_params *out);

#endif
