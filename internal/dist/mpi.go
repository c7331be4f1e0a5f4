//go:build (linux || darwin) && (amd64 || arm64)

package dist

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
)

// mpiLib holds the Open MPI entry points and handles. Handles are the addresses of
// Open MPI's predefined objects (MPI_COMM_WORLD is &ompi_mpi_comm_world, and so on),
// which is why this only works with Open MPI's ABI (libmpi.so.40).
type mpiLib struct {
	name string

	initThread  func(argc, argv unsafe.Pointer, required int32, provided *int32) int32
	initialized func(flag *int32) int32
	finalize    func() int32
	commRank    func(comm uintptr, rank *int32) int32
	commSize    func(comm uintptr, size *int32) int32
	allreduce   func(sendbuf uintptr, recvbuf unsafe.Pointer, count int32, dtype, op, comm uintptr) int32
	bcast       func(buf unsafe.Pointer, count int32, dtype uintptr, root int32, comm uintptr) int32
	barrier     func(comm uintptr) int32
	errorString func(code int32, buf *byte, n *int32) int32
	libVersion  func(buf *byte, n *int32) int32

	commWorld, float, double, byte_, opSum uintptr
}

// mpiLibraryNames are tried in order when Options.Library is empty.
var mpiLibraryNames = map[string][]string{
	"linux":  {"libmpi.so.40", "libmpi.so"},
	"darwin": {"libmpi.40.dylib", "/opt/homebrew/lib/libmpi.40.dylib", "/usr/local/lib/libmpi.40.dylib"},
}

const (
	mpiSuccess       = 0
	mpiThreadFunnel  = 1 // MPI_THREAD_FUNNELED in Open MPI's mpi.h
	mpiInPlace       = 1 // MPI_IN_PLACE is ((void *) 1) in Open MPI
	mpiMaxErrString  = 256
	mpiMaxLibVersion = 256
	// maxCount keeps one MPI call's count inside the C int of the MPI-3 interface.
	maxCount = 1 << 28
)

func loadMPI(library string) (*mpiLib, error) {
	names := mpiLibraryNames[runtime.GOOS]
	if library != "" {
		names = []string{library}
	}
	var errs []error
	for _, name := range names {
		// RTLD_GLOBAL: Open MPI dlopens its components (mca_*.so), which resolve
		// libmpi's symbols from the global scope.
		h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lib := &mpiLib{name: name}
		if err := lib.register(h); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (only Open MPI is supported)", name, err))
			continue
		}
		return lib, nil
	}
	return nil, fmt.Errorf("cannot load the Open MPI library (install libopenmpi-dev/openmpi-bin or set VLBERT_MPI_LIB): %w", errors.Join(errs...))
}

func (l *mpiLib) register(h uintptr) (err error) {
	defer func() {
		// purego.RegisterLibFunc panics on a missing symbol.
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	purego.RegisterLibFunc(&l.initThread, h, "MPI_Init_thread")
	purego.RegisterLibFunc(&l.initialized, h, "MPI_Initialized")
	purego.RegisterLibFunc(&l.finalize, h, "MPI_Finalize")
	purego.RegisterLibFunc(&l.commRank, h, "MPI_Comm_rank")
	purego.RegisterLibFunc(&l.commSize, h, "MPI_Comm_size")
	purego.RegisterLibFunc(&l.allreduce, h, "MPI_Allreduce")
	purego.RegisterLibFunc(&l.bcast, h, "MPI_Bcast")
	purego.RegisterLibFunc(&l.barrier, h, "MPI_Barrier")
	purego.RegisterLibFunc(&l.errorString, h, "MPI_Error_string")
	purego.RegisterLibFunc(&l.libVersion, h, "MPI_Get_library_version")
	for _, s := range []struct {
		dst  *uintptr
		name string
	}{
		{&l.commWorld, "ompi_mpi_comm_world"},
		{&l.float, "ompi_mpi_float"},
		{&l.double, "ompi_mpi_double"},
		{&l.byte_, "ompi_mpi_byte"},
		{&l.opSum, "ompi_mpi_op_sum"},
	} {
		p, err := purego.Dlsym(h, s.name)
		if err != nil {
			return err
		}
		*s.dst = p
	}
	return nil
}

func (l *mpiLib) errString(code int32) string {
	buf := make([]byte, mpiMaxErrString)
	var n int32
	if l.errorString(code, &buf[0], &n) != mpiSuccess || n <= 0 || int(n) > len(buf) {
		return fmt.Sprintf("MPI error %d", code)
	}
	return string(buf[:n])
}

// mpiComm runs every MPI call on one goroutine locked to one OS thread, the thread
// that initialised MPI (MPI_THREAD_FUNNELED). Callers hand it closures through ops
// and wait for the answer; the channel also fixes the order of collectives.
type mpiComm struct {
	lib        *mpiLib
	rank, size int
	timeout    time.Duration
	version    string

	mu     sync.Mutex // guards closed and sending on ops
	closed bool
	ops    chan mpiOp
}

type mpiOp struct {
	run  func() int32
	done chan int32
}

func openMPI(o Options) (*mpiComm, error) {
	lib, err := loadMPI(o.Library)
	if err != nil {
		return nil, err
	}
	// Open MPI by default installs handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE,
	// which would take them from the Go runtime (nil dereferences would kill the
	// process with an MPI stack dump instead of panicking). The variable is read by
	// MPI_Init; the user can still set it.
	if _, ok := os.LookupEnv("OMPI_MCA_opal_signal"); !ok {
		os.Setenv("OMPI_MCA_opal_signal", "")
	}
	c := &mpiComm{lib: lib, timeout: o.Timeout, ops: make(chan mpiOp)}
	initDone := make(chan error, 1)
	stop := c.watch("MPI_Init_thread", 0) // before serve starts writing rank and size
	go c.serve(initDone)
	err = <-initDone
	stop()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// serve is the MPI thread: it initialises MPI, then runs ops until Close.
func (c *mpiComm) serve(initDone chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	l := c.lib
	var flag, provided, rank, size int32
	if rc := l.initialized(&flag); rc != mpiSuccess {
		initDone <- fmt.Errorf("MPI_Initialized: %s", l.errString(rc))
		return
	}
	if flag != 0 {
		initDone <- errors.New("MPI is already initialised in this process")
		return
	}
	if rc := l.initThread(nil, nil, mpiThreadFunnel, &provided); rc != mpiSuccess {
		initDone <- fmt.Errorf("MPI_Init_thread: %s", l.errString(rc))
		return
	}
	if rc := l.commRank(l.commWorld, &rank); rc != mpiSuccess {
		initDone <- fmt.Errorf("MPI_Comm_rank: %s", l.errString(rc))
		return
	}
	if rc := l.commSize(l.commWorld, &size); rc != mpiSuccess {
		initDone <- fmt.Errorf("MPI_Comm_size: %s", l.errString(rc))
		return
	}
	buf := make([]byte, mpiMaxLibVersion)
	var n int32
	if l.libVersion(&buf[0], &n) == mpiSuccess && n > 0 && int(n) <= len(buf) {
		c.version = string(buf[:n])
	}
	c.rank, c.size = int(rank), int(size)
	initDone <- nil
	for op := range c.ops {
		op.done <- op.run()
	}
}

// watch arms the deadline of one collective; the returned function disarms it.
func (c *mpiComm) watch(name string, n int) (stop func()) {
	if c.timeout <= 0 {
		return func() {}
	}
	start := time.Now()
	who := fmt.Sprintf("rank %d of %d", c.rank, c.size)
	if c.size == 0 { // MPI_Init
		who = "rank " + os.Getenv("OMPI_COMM_WORLD_RANK")
	}
	t := time.AfterFunc(c.timeout, func() {
		// The other ranks cannot be told directly (this thread is not the MPI thread
		// and MPI may be wedged); exiting makes mpirun terminate the job.
		fmt.Fprintf(os.Stderr, "dist: %s: %s of %d elements did not finish within %v (started %s): another rank died, hung or is far behind; aborting the job (exit %d). Set VLBERT_DIST_TIMEOUT to change the limit.\n",
			who, name, n, c.timeout, start.UTC().Format(time.RFC3339), ExitTimeout)
		os.Exit(ExitTimeout)
	})
	return func() { t.Stop() }
}

// do runs one MPI call on the MPI thread under the watchdog.
func (c *mpiComm) do(name string, n int, run func() int32) error {
	op := mpiOp{run: run, done: make(chan int32, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	stop := c.watch(name, n)
	c.ops <- op
	c.mu.Unlock()
	rc := <-op.done
	stop()
	if rc != mpiSuccess {
		return fmt.Errorf("dist: rank %d: %s of %d elements: %s", c.rank, name, n, c.lib.errString(rc))
	}
	return nil
}

func (c *mpiComm) Rank() int { return c.rank }
func (c *mpiComm) Size() int { return c.size }

// Version is the MPI library's version string (MPI_Get_library_version).
func (c *mpiComm) Version() string { return c.version }

func (c *mpiComm) allreduceSum(name string, p unsafe.Pointer, n, elemSize int, dtype uintptr) error {
	for lo := 0; lo < n; lo += maxCount {
		cnt := min(n-lo, maxCount)
		q := unsafe.Add(p, lo*elemSize)
		err := c.do(name, cnt, func() int32 {
			return c.lib.allreduce(mpiInPlace, q, int32(cnt), dtype, c.lib.opSum, c.lib.commWorld)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *mpiComm) AllReduceSumF32(x []float32) error {
	if len(x) == 0 {
		return c.Barrier() // keep every rank's sequence of collectives aligned
	}
	err := c.allreduceSum("MPI_Allreduce(float32, sum)", unsafe.Pointer(&x[0]), len(x), 4, c.lib.float)
	runtime.KeepAlive(x)
	return err
}

func (c *mpiComm) AllReduceSumF64(x []float64) error {
	if len(x) == 0 {
		return c.Barrier()
	}
	err := c.allreduceSum("MPI_Allreduce(float64, sum)", unsafe.Pointer(&x[0]), len(x), 8, c.lib.double)
	runtime.KeepAlive(x)
	return err
}

func (c *mpiComm) AllReduceMeanF32(x []float32) error {
	inv := float32(c.size)
	for i := range x {
		x[i] /= inv
	}
	return c.AllReduceSumF32(x)
}

func (c *mpiComm) AllReduceMeanF64(x []float64) error {
	inv := float64(c.size)
	for i := range x {
		x[i] /= inv
	}
	return c.AllReduceSumF64(x)
}

func (c *mpiComm) bcast(name string, p unsafe.Pointer, n, elemSize int, dtype uintptr) error {
	for lo := 0; lo < n; lo += maxCount {
		cnt := min(n-lo, maxCount)
		q := unsafe.Add(p, lo*elemSize)
		err := c.do(name, cnt, func() int32 {
			return c.lib.bcast(q, int32(cnt), dtype, 0, c.lib.commWorld)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *mpiComm) BroadcastF32(x []float32) error {
	if len(x) == 0 {
		return c.Barrier()
	}
	err := c.bcast("MPI_Bcast(float32)", unsafe.Pointer(&x[0]), len(x), 4, c.lib.float)
	runtime.KeepAlive(x)
	return err
}

func (c *mpiComm) BroadcastBytes(b []byte) error {
	if len(b) == 0 {
		return c.Barrier()
	}
	err := c.bcast("MPI_Bcast(byte)", unsafe.Pointer(&b[0]), len(b), 1, c.lib.byte_)
	runtime.KeepAlive(b)
	return err
}

func (c *mpiComm) Barrier() error {
	return c.do("MPI_Barrier", 0, func() int32 { return c.lib.barrier(c.lib.commWorld) })
}

func (c *mpiComm) Close() error {
	err := c.do("MPI_Finalize", 0, func() int32 { return c.lib.finalize() })
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.ops)
	}
	c.mu.Unlock()
	return err
}
