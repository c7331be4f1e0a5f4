package dist

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOptionsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
		bad  bool
	}{
		{"", 0, false},
		{"90s", 90 * time.Second, false},
		{"120", 120 * time.Second, false},
		{"2.5", 2500 * time.Millisecond, false},
		{"0", -1, false},
		{"-1", -time.Second, false},
		{"soon", 0, true},
		{"1e300", 0, true},
	} {
		t.Setenv("VLBERT_DIST_TIMEOUT", tc.env)
		o, err := OptionsFromEnv()
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "VLBERT_DIST_TIMEOUT") {
				t.Errorf("%q: err = %v, want an error naming the variable", tc.env, err)
			}
			continue
		}
		if err != nil || o.Timeout != tc.want {
			t.Errorf("%q: Timeout = %v, %v; want %v", tc.env, o.Timeout, err, tc.want)
		}
	}
}

func TestOpenSingleOutsideMPI(t *testing.T) {
	if under, _ := UnderMPI(); under {
		t.Skip("running under mpirun")
	}
	c, err := Open(Options{Library: "libvlbert-no-such-mpi.so"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rank() != 0 || c.Size() != 1 {
		t.Fatalf("rank %d size %d, want 0 1", c.Rank(), c.Size())
	}
	x := []float32{1, 2, 3}
	if err := c.AllReduceMeanF32(x); err != nil || x[0] != 1 || x[2] != 3 {
		t.Fatalf("single all-reduce changed data: %v %v", x, err)
	}
	blob, err := BroadcastBlob(c, []byte("abc"))
	if err != nil || string(blob) != "abc" {
		t.Fatalf("BroadcastBlob = %q, %v", blob, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Under mpirun a missing library must be an error, not a silent single process.
func TestOpenUnderMPIWithoutLibrary(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	t.Setenv("OMPI_COMM_WORLD_RANK", "0")
	_, err := Open(Options{Library: "libvlbert-no-such-mpi.so"})
	if err == nil {
		t.Fatal("Open succeeded without an MPI library")
	}
	for _, want := range []string{"mpirun", "world size 2", "libvlbert-no-such-mpi.so"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Open(Options{Library: "libvlbert-no-such-mpi.so", Single: true}); err != nil {
		t.Errorf("Options.Single: %v", err)
	}
}

func TestOpenUnderMPICH(t *testing.T) {
	if under, _ := UnderMPI(); under {
		t.Skip("running under mpirun")
	}
	t.Setenv("PMI_RANK", "0")
	if _, err := Open(Options{}); err == nil || !strings.Contains(err.Error(), "Open MPI") {
		t.Fatalf("Open under an MPICH launcher: err = %v", err)
	}
}

// runRanks runs fn on every rank of a LocalGroup and fails the test when it does not
// finish in time (a collective issued by some ranks only).
func runRanks(t *testing.T, n int, fn func(c Comm) error) {
	t.Helper()
	comms := LocalGroup(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = fn(c) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ranks did not finish: collectives out of step")
	}
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

func TestLocalGroupCollectives(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		runRanks(t, n, func(c Comm) error {
			r := c.Rank()
			x := []float32{float32(r), 1, float32(r * r)}
			if err := c.AllReduceSumF32(x); err != nil {
				return err
			}
			var s0, s2 float32
			for k := range n {
				s0 += float32(k)
				s2 += float32(k * k)
			}
			if x[0] != s0 || x[1] != float32(n) || x[2] != s2 {
				t.Errorf("n=%d rank %d: sum %v", n, r, x)
			}
			m := []float64{float64(r), 3}
			if err := c.AllReduceMeanF64(m); err != nil {
				return err
			}
			if want := float64(n-1) / 2; m[0] < want-1e-12 || m[0] > want+1e-12 || m[1] != 3 {
				t.Errorf("n=%d rank %d: mean %v", n, r, m)
			}
			b := []float32{float32(r + 5), float32(r)}
			if err := c.BroadcastF32(b); err != nil {
				return err
			}
			if b[0] != 5 || b[1] != 0 {
				t.Errorf("n=%d rank %d: broadcast %v", n, r, b)
			}
			blob, err := BroadcastBlob(c, []byte(strings.Repeat("x", r+2)))
			if err != nil {
				return err
			}
			if string(blob) != "xx" {
				t.Errorf("n=%d rank %d: blob %q", n, r, blob)
			}
			any0, err := AnyRank(c, false)
			if err != nil {
				return err
			}
			anyLast, err := AnyRank(c, r == n-1)
			if err != nil {
				return err
			}
			if any0 || !anyLast {
				t.Errorf("n=%d rank %d: AnyRank(false) = %v, AnyRank(last rank) = %v", n, r, any0, anyLast)
			}
			return c.Close()
		})
	}
}

// The Reducer must give the plain mean for every arena length, bucket size and
// pattern of Ready calls, over several steps.
func TestReducerLocal(t *testing.T) {
	const n = 3
	for _, length := range []int{0, 1, 5, 16, 17, 1000} {
		for _, bucketBytes := range []int{4, 12, 64, 0} {
			data := make([][]float32, n)
			for r := range data {
				rng := rand.New(rand.NewPCG(uint64(r), uint64(length)))
				data[r] = make([]float32, length)
				for i := range data[r] {
					data[r][i] = float32(rng.IntN(64)) // sums and /3 stay exact enough
				}
			}
			want := make([]float32, length)
			for i := range want {
				for r := range n {
					want[i] += data[r][i] / n
				}
			}
			runRanks(t, n, func(c Comm) error {
				g := make([]float32, length)
				red := NewReducer(c, g, bucketBytes)
				for step := range 3 {
					copy(g, data[c.Rank()])
					switch step {
					case 0:
						if err := red.ReduceAll(); err != nil {
							return err
						}
					default:
						for _, lo := range []int{length, length * 3 / 4, length / 2, length / 2, length / 5} {
							red.Ready(lo)
						}
						if err := red.Wait(); err != nil {
							return err
						}
					}
					for i := range g {
						if g[i] != want[i] {
							t.Errorf("len %d bucket %dB step %d rank %d: g[%d] = %v, want %v", length, bucketBytes, step, c.Rank(), i, g[i], want[i])
							return nil
						}
					}
				}
				return nil
			})
		}
	}
}

func TestReducerBuckets(t *testing.T) {
	for _, tc := range []struct{ length, bucketBytes, want int }{
		{0, 0, 0}, {1, 0, 1}, {1 << 20, 0, 1}, {1<<20 + 1, 0, 2}, {10, 8, 5}, {10, 3, 10},
	} {
		r := NewReducer(Single{}, make([]float32, tc.length), tc.bucketBytes)
		if got := r.Buckets(); got != tc.want {
			t.Errorf("len %d bucket %dB: %d buckets, want %d", tc.length, tc.bucketBytes, got, tc.want)
		}
	}
}

func TestCountCPUList(t *testing.T) {
	for s, want := range map[string]int{"0": 1, "0-1": 2, "0-3,8,10-11": 7, "": 0, "3-1": 0, "x": 0, "0-": 0} {
		if got := countCPUList(s); got != want {
			t.Errorf("countCPUList(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestThreadsPerRank(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1")
	one := ThreadsPerRank()
	if one < 1 {
		t.Fatalf("ThreadsPerRank = %d", one)
	}
	t.Setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "1000000")
	if got := ThreadsPerRank(); got != 1 && got != one {
		t.Errorf("with a million local ranks ThreadsPerRank = %d", got)
	}
	t.Setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "bad")
	if LocalSize() != 1 {
		t.Errorf("LocalSize with a bad variable = %d, want 1", LocalSize())
	}
}
