package dist

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Comm is a communicator over the ranks of one job. All collectives work in place and
// return only after the buffer holds the result on this rank. A Comm is safe for use
// by several goroutines, but the order in which collectives are issued must be the
// same on every rank (see the package doc).
type Comm interface {
	// Rank is this process's index in [0, Size).
	Rank() int
	// Size is the number of ranks in the job (1 for the single-process communicator).
	Size() int

	// AllReduceSumF32 replaces x on every rank by the element-wise sum over ranks.
	AllReduceSumF32(x []float32) error
	// AllReduceSumF64 is AllReduceSumF32 for float64 (metric sums and counts).
	AllReduceSumF64(x []float64) error
	// AllReduceMeanF32 replaces x by the element-wise mean over ranks. Like PyTorch's
	// DistributedDataParallel it divides by Size before summing.
	AllReduceMeanF32(x []float32) error
	// AllReduceMeanF64 is AllReduceMeanF32 for float64.
	AllReduceMeanF64(x []float64) error

	// BroadcastF32 copies rank 0's x into x on every other rank. len(x) must agree.
	BroadcastF32(x []float32) error
	// BroadcastBytes copies rank 0's b into b on every other rank. len(b) must agree.
	BroadcastBytes(b []byte) error

	// Barrier returns when every rank has entered it.
	Barrier() error

	// Close ends the communicator (MPI_Finalize). It is collective: every rank calls
	// it, on success only. A rank that fails should exit with a non-zero status
	// without Close: mpirun then ends the other ranks at once, whereas Close would
	// wait for them (until the watchdog fires). Collectives after Close return
	// ErrClosed.
	Close() error
}

// ErrClosed is returned by collectives called after Close.
var ErrClosed = errors.New("dist: communicator is closed")

// ExitTimeout is the exit status of a rank whose collective ran past its deadline.
const ExitTimeout = 124

// DefaultTimeout is the deadline of one collective when neither Options.Timeout nor
// VLBERT_DIST_TIMEOUT says otherwise. It must cover the longest stretch of work that
// some ranks do while others already wait (rank 0 writing a checkpoint, a slow batch).
const DefaultTimeout = 120 * time.Second

// Options configure Open.
type Options struct {
	// Timeout is the deadline of each collective; 0 means DefaultTimeout and a
	// negative value disables the watchdog.
	Timeout time.Duration
	// Library is the MPI shared library to load; empty tries libmpi.so.40, libmpi.so
	// (and the macOS names), in that order.
	Library string
	// Single forces the single-process communicator even under mpirun.
	Single bool
}

// OptionsFromEnv reads the options from the environment:
//
//	VLBERT_DIST_TIMEOUT  deadline of one collective: a Go duration ("90s", "5m") or
//	                     seconds ("120"); 0 or negative disables the watchdog
//	VLBERT_MPI_LIB       path or name of the MPI library to load
func OptionsFromEnv() (Options, error) {
	var o Options
	if s := strings.TrimSpace(os.Getenv("VLBERT_DIST_TIMEOUT")); s != "" {
		d, err := parseTimeout(s)
		if err != nil {
			return o, fmt.Errorf("dist: VLBERT_DIST_TIMEOUT=%q: %w", s, err)
		}
		o.Timeout = d
		if d == 0 {
			o.Timeout = -1
		}
	}
	o.Library = os.Getenv("VLBERT_MPI_LIB")
	return o, nil
}

func parseTimeout(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs > 1e9 || secs < -1e9 {
			return 0, errors.New("out of range")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// UnderMPI reports whether the environment says this process was started by Open
// MPI's mpirun (or another PMIx launcher), and the world size it announces (0 when
// unknown).
func UnderMPI() (bool, int) {
	for _, k := range []string{"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK"} {
		if _, ok := os.LookupEnv(k); ok {
			n, _ := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_SIZE"))
			return true, n
		}
	}
	return false, 0
}

// Init is Open with the options from the environment (OptionsFromEnv).
func Init() (Comm, error) {
	o, err := OptionsFromEnv()
	if err != nil {
		return nil, err
	}
	return Open(o)
}

// Open returns the MPI communicator of MPI_COMM_WORLD when the process runs under
// mpirun, and the single-process communicator otherwise. Under mpirun, failing to
// load or initialise the MPI library is an error (never a silent fallback to one
// process, which would train N independent copies).
func Open(o Options) (Comm, error) {
	under, n := UnderMPI()
	if o.Single {
		return Single{}, nil
	}
	if !under {
		// MPICH's and Intel MPI's launchers set PMI_RANK; their library has another ABI.
		// Running as N independent single processes would silently train N copies.
		if _, ok := os.LookupEnv("PMI_RANK"); ok {
			return nil, errors.New("dist: started by a PMI launcher (MPICH or Intel MPI mpirun?), but vlbert supports only Open MPI's mpirun")
		}
		return Single{}, nil
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	c, err := openMPI(o)
	if err != nil {
		return nil, fmt.Errorf("dist: started by mpirun (world size %d) but MPI is unusable: %w", n, err)
	}
	return c, nil
}

// Single is the communicator of a job with one process: every collective leaves its
// buffer unchanged.
type Single struct{}

func (Single) Rank() int                          { return 0 }
func (Single) Size() int                          { return 1 }
func (Single) AllReduceSumF32(x []float32) error  { return nil }
func (Single) AllReduceSumF64(x []float64) error  { return nil }
func (Single) AllReduceMeanF32(x []float32) error { return nil }
func (Single) AllReduceMeanF64(x []float64) error { return nil }
func (Single) BroadcastF32(x []float32) error     { return nil }
func (Single) BroadcastBytes(b []byte) error      { return nil }
func (Single) Barrier() error                     { return nil }
func (Single) Close() error                       { return nil }

// Describe names the communicator for logs: "single process", or the MPI library
// with this rank and the world size.
func Describe(c Comm) string {
	if v, ok := c.(interface{ Version() string }); ok {
		return fmt.Sprintf("rank %d of %d, %s", c.Rank(), c.Size(), strings.TrimSpace(strings.SplitN(v.Version(), ",", 2)[0]))
	}
	if c.Size() == 1 {
		return "single process"
	}
	return fmt.Sprintf("rank %d of %d", c.Rank(), c.Size())
}

// AnyRank reports whether local is true on at least one rank. Decisions that change
// which collectives come next (stop after an interrupt, skip a step) must be taken
// by all ranks together, or the ranks fall out of step and the watchdog ends the job.
func AnyRank(c Comm, local bool) (bool, error) {
	v := []float64{0}
	if local {
		v[0] = 1
	}
	if err := c.AllReduceSumF64(v); err != nil {
		return false, err
	}
	return v[0] > 0, nil
}

// BroadcastBlob sends rank 0's blob, of any length, to every rank and returns it
// (the argument is ignored on other ranks). It is for small things such as the
// validation monitor's best values; it costs two broadcasts.
func BroadcastBlob(c Comm, blob []byte) ([]byte, error) {
	if c.Size() == 1 {
		return blob, nil
	}
	n := []float64{float64(len(blob))}
	if c.Rank() != 0 {
		n[0] = 0
	}
	// The length travels as a sum (all other ranks contribute 0), which needs no
	// separate integer broadcast.
	if err := c.AllReduceSumF64(n); err != nil {
		return nil, fmt.Errorf("dist: broadcast length: %w", err)
	}
	buf := make([]byte, int(n[0]))
	if c.Rank() == 0 {
		copy(buf, blob)
	}
	if err := c.BroadcastBytes(buf); err != nil {
		return nil, err
	}
	return buf, nil
}
