package dist

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// LocalRank and LocalSize are this process's index among the ranks on its machine
// and their number, from Open MPI's environment (0 and 1 outside mpirun).
func LocalRank() int { return envInt("OMPI_COMM_WORLD_LOCAL_RANK", 0) }

// LocalSize: see LocalRank.
func LocalSize() int { return max(envInt("OMPI_COMM_WORLD_LOCAL_SIZE", 1), 1) }

func envInt(key string, def int) int {
	n, err := strconv.Atoi(os.Getenv(key))
	if err != nil || n < 0 {
		return def
	}
	return n
}

// ThreadsPerRank suggests how many compute threads this rank should use
// (parallel.SetThreads). When mpirun bound the process to a set of cores (Open MPI
// binds each rank to one core when it starts at most 2 ranks, and with --map-by
// ...:PE=n to n cores), that set is the answer: Go's runtime.NumCPU counts the
// cores the process may run on. An unbound rank (--bind-to none) shares the machine
// with the other ranks on it, so it gets its share of the cores.
func ThreadsPerRank() int {
	n := runtime.NumCPU()
	if online := onlineCPUs(); online > 0 && n < online {
		return max(n, 1)
	}
	return max(n/LocalSize(), 1)
}

// onlineCPUs counts the machine's online CPUs from /sys (Linux), 0 when unknown.
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	return countCPUList(strings.TrimSpace(string(b)))
}

// countCPUList counts the CPUs of a kernel CPU list such as "0-3,8,10-11"; 0 when it
// does not parse.
func countCPUList(s string) int {
	total := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		total += b - a + 1
	}
	return total
}
