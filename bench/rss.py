"""Peak RSS of this process, as the kernel tracks it for the current program.

Not `ru_maxrss`: Linux keeps that across fork and exec, so a child reports at least its
parent's peak (a 13 MB child of a 300 MB parent reads 313 MB). VmHWM belongs to the program
that is running now.
"""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
