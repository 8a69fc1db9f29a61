/* SPDX-License-Identifier: MIT */
/* nicvisor-shim: the daemon, a VM's child (`vm`), or a local VM (`run`). */
#include <string.h>

#include "shim.h"

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "vm") == 0)
		return shim_child_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return shim_run_main(argc - 1, argv + 1);
	return shim_daemon_main(argc, argv);
}
