// Command mpitest exercises package dist under mpirun. The tests of package dist
// build it and run it with `mpirun -np 2`; it can also be run by hand:
//
//	go build -o /tmp/mpitest ./internal/dist/internal/mpitest
//	mpirun --allow-run-as-root --oversubscribe -np 2 /tmp/mpitest -mode bench -floats 115000000
//
// Modes: check (collectives and Reducer on rank-dependent data), sgd (data-parallel
// SGD on a tiny MLP, final weights written by rank 0), kill (rank 1 SIGKILLs itself
// between collectives), hang (rank 1 stops taking part), uneven (rank 1 issues one collective fewer), bench
// (all-reduce bandwidth), overlap (Reducer.Ready during synthetic backward work),
// nil (a nil dereference after MPI_Init must still be a recoverable Go panic).
// It prints "mpitest: OK" from every rank that finishes, and exits 1 on a failed check.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/vlbert/vlbert/internal/dist"
)

func main() {
	mode := flag.String("mode", "check", "check, sgd, kill, hang or bench")
	batch := flag.Int("batch", 4, "sgd: samples per rank per step")
	steps := flag.Int("steps", 5, "sgd: SGD steps")
	out := flag.String("out", "", "sgd: file for the final weights (rank 0)")
	floats := flag.Float64("floats", 25e6, "bench: floats per all-reduce")
	runs := flag.Int("runs", 5, "bench: timed all-reduces")
	bucketMB := flag.Float64("bucket", 4, "bench: Reducer bucket size in MB (2^20 bytes)")
	flag.Parse()

	c, err := dist.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mpitest:", err)
		os.Exit(2)
	}
	if c.Rank() == 0 {
		fmt.Println("mpitest:", dist.Describe(c), "threads per rank", dist.ThreadsPerRank())
	}
	switch *mode {
	case "check":
		err = check(c)
	case "sgd":
		err = sgd(c, *batch, *steps, *out)
	case "kill":
		err = kill(c)
	case "hang":
		err = hang(c)
	case "bench":
		err = bench(c, int(*floats), *runs, int(*bucketMB*(1<<20)))
	case "uneven":
		err = uneven(c)
	case "overlap":
		err = overlap(c, int(*floats), *runs, int(*bucketMB*(1<<20)))
	case "nil":
		err = nilDeref()
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mpitest: rank %d: %v\n", c.Rank(), err)
		os.Exit(1)
	}
	if err := c.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "mpitest: rank %d: %v\n", c.Rank(), err)
		os.Exit(1)
	}
	fmt.Printf("mpitest: OK rank %d of %d\n", c.Rank(), c.Size())
}

// check runs every collective on data whose expected result is exact in float32.
func check(c dist.Comm) error {
	rank, size := c.Rank(), c.Size()
	rankSum := float32(size * (size + 1) / 2) // Σ (r+1)
	for _, n := range []int{0, 1, 7, 1000, 100003, 1 << 20} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rank+1) * float32(i%97)
		}
		if err := c.AllReduceSumF32(x); err != nil {
			return err
		}
		for i, v := range x {
			if want := rankSum * float32(i%97); v != want {
				return fmt.Errorf("AllReduceSumF32 n=%d: x[%d] = %v, want %v", n, i, v, want)
			}
		}
		for i := range x {
			x[i] = float32(rank*4) + float32(i%5)
		}
		if err := c.AllReduceMeanF32(x); err != nil {
			return err
		}
		for i, v := range x {
			if want := float32(2*(size-1)) + float32(i%5); v != want {
				return fmt.Errorf("AllReduceMeanF32 n=%d: x[%d] = %v, want %v", n, i, v, want)
			}
		}
		y := make([]float64, n)
		for i := range y {
			y[i] = float64(rank+1) * (float64(i) + 0.25)
		}
		if err := c.AllReduceSumF64(y); err != nil {
			return err
		}
		for i, v := range y {
			if want := float64(rankSum) * (float64(i) + 0.25); v != want {
				return fmt.Errorf("AllReduceSumF64 n=%d: y[%d] = %v, want %v", n, i, v, want)
			}
		}
		for i := range y {
			y[i] = float64(rank * 2)
		}
		if err := c.AllReduceMeanF64(y); err != nil {
			return err
		}
		for i, v := range y {
			if want := float64(size - 1); v != want {
				return fmt.Errorf("AllReduceMeanF64 n=%d: y[%d] = %v, want %v", n, i, v, want)
			}
		}
		for i := range x {
			x[i] = float32(i) * 0.5
			if rank != 0 {
				x[i] = -1
			}
		}
		if err := c.BroadcastF32(x); err != nil {
			return err
		}
		for i, v := range x {
			if want := float32(i) * 0.5; v != want {
				return fmt.Errorf("BroadcastF32 n=%d: x[%d] = %v, want %v", n, i, v, want)
			}
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + 3)
			if rank != 0 {
				b[i] = 0
			}
		}
		if err := c.BroadcastBytes(b); err != nil {
			return err
		}
		for i, v := range b {
			if want := byte(i*7 + 3); v != want {
				return fmt.Errorf("BroadcastBytes n=%d: b[%d] = %v, want %v", n, i, v, want)
			}
		}
		if err := c.Barrier(); err != nil {
			return err
		}
	}
	blob := []byte(fmt.Sprintf(`{"best_val": 0.75, "from": %d}`, rank))
	got, err := dist.BroadcastBlob(c, blob)
	if err != nil {
		return err
	}
	if want := `{"best_val": 0.75, "from": 0}`; string(got) != want {
		return fmt.Errorf("BroadcastBlob = %q, want %q", got, want)
	}
	return checkReducer(c)
}

// checkReducer reduces arenas whose length is not a multiple of the bucket, with
// Ready calls at arbitrary offsets (as a backward pass would make), for two steps.
func checkReducer(c dist.Comm) error {
	rank, size := c.Rank(), c.Size()
	for _, n := range []int{0, 5, 16, 1003, 300001} {
		for _, bucketBytes := range []int{4, 64, 4000, 0} {
			if n/max(bucketBytes/4, 1) > 1000 {
				continue // thousands of tiny collectives only cost time
			}
			g := make([]float32, n)
			r := dist.NewReducer(c, g, bucketBytes)
			for step := range 2 {
				for i := range g {
					g[i] = float32(rank*2+step) + float32(i%11)
				}
				for _, lo := range []int{n - n/7, n / 2, n / 3, n / 3} {
					r.Ready(lo)
				}
				if err := r.Wait(); err != nil {
					return err
				}
				for i, v := range g {
					if want := float32(size-1+step) + float32(i%11); v != want {
						return fmt.Errorf("Reducer n=%d bucket=%dB step %d: g[%d] = %v, want %v", n, bucketBytes, step, i, v, want)
					}
				}
			}
			for i := range g {
				g[i] = float32(rank * 2)
			}
			if err := r.ReduceAll(); err != nil {
				return err
			}
			for i, v := range g {
				if want := float32(size - 1); v != want {
					return fmt.Errorf("Reducer.ReduceAll n=%d: g[%d] = %v, want %v", n, i, v, want)
				}
			}
		}
	}
	return nil
}

// nilDeref checks that a nil dereference is still a Go panic after MPI_Init (Open
// MPI must not have taken SIGSEGV from the Go runtime).
func nilDeref() (err error) {
	defer func() {
		if r := recover(); r == nil {
			err = fmt.Errorf("nil dereference did not panic")
		}
	}()
	var p *int
	*p = 1
	return nil
}

// kill makes rank 1 kill itself with SIGKILL while rank 0 is in a loop of
// all-reduces; the job must end with a non-zero status.
func kill(c dist.Comm) error {
	x := make([]float32, 1<<18)
	for i := range 200 {
		if i == 5 && c.Rank() == 1 {
			fmt.Fprintln(os.Stderr, "mpitest: rank 1 kills itself")
			self, _ := os.FindProcess(os.Getpid())
			self.Kill() // SIGKILL on Unix
		}
		if err := c.AllReduceMeanF32(x); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// uneven gives rank 1 one all-reduce fewer than rank 0 (uneven data shards): rank 1
// reaches Close (MPI_Finalize) while rank 0 waits in its last all-reduce. Both wait
// for each other; the watchdogs must end the job.
func uneven(c dist.Comm) error {
	x := make([]float32, 1000)
	for range 4 - c.Rank() {
		if err := c.AllReduceMeanF32(x); err != nil {
			return err
		}
	}
	return nil
}

// hang makes rank 1 stop taking part in collectives (a deadlocked or wedged rank);
// rank 0's watchdog must end the job.
func hang(c dist.Comm) error {
	x := make([]float32, 1000)
	for i := range 200 {
		if i == 3 && c.Rank() == 1 {
			fmt.Fprintln(os.Stderr, "mpitest: rank 1 hangs")
			time.Sleep(time.Hour)
		}
		if err := c.AllReduceMeanF32(x); err != nil {
			return err
		}
	}
	return nil
}

// bench times the mean all-reduce of n floats, as one Reducer (what training does)
// and as one AllReduceSumF32 call over the whole arena.
func bench(c dist.Comm, n, runs, bucketBytes int) error {
	g := make([]float32, n)
	for i := range g {
		g[i] = float32(i%100) * 0.01
	}
	r := dist.NewReducer(c, g, bucketBytes)
	if err := r.ReduceAll(); err != nil { // warm-up: connections, page faults
		return err
	}
	ways := []struct {
		name string
		run  func() error
	}{
		{fmt.Sprintf("Reducer (mean, %d buckets of %.3g MB)", r.Buckets(), float64(bucketBytes)/(1<<20)), r.ReduceAll},
		{"one AllReduceSumF32 call", func() error { return c.AllReduceSumF32(g) }},
	}
	for _, way := range ways {
		times := make([]float64, runs)
		for k := range times {
			if err := c.Barrier(); err != nil {
				return err
			}
			t0 := time.Now()
			if err := way.run(); err != nil {
				return err
			}
			times[k] = time.Since(t0).Seconds()
		}
		// Every rank reports its own timing; report the mean over ranks.
		if err := c.AllReduceMeanF64(times); err != nil {
			return err
		}
		if c.Rank() == 0 {
			slices.Sort(times)
			bytes := float64(n) * 4
			busFactor := 2 * float64(c.Size()-1) / float64(c.Size())
			fmt.Printf("bench: %s: %d ranks, %d floats (%.1f MB), %d runs\n", way.name, c.Size(), n, bytes/1e6, runs)
			for _, s := range []struct {
				name string
				t    float64
			}{{"min", times[0]}, {"median", times[len(times)/2]}, {"max", times[len(times)-1]}} {
				fmt.Printf("bench:   %-6s %8.3f s  algbw %6.2f GB/s  busbw %6.2f GB/s\n", s.name, s.t, bytes/s.t/1e9, bytes/s.t/1e9*busFactor)
			}
		}
	}
	return nil
}

// overlap compares a step of 12 "layers" of synthetic backward work followed by
// ReduceAll with the same step calling Ready after each layer (all-reduce overlapped
// with the remaining layers). The work per layer is a few passes over 1 MB, sized
// so that compute and communication take similar time.
func overlap(c dist.Comm, n, runs, bucketBytes int) error {
	const layers = 12
	g := make([]float32, n)
	r := dist.NewReducer(c, g, bucketBytes)
	work := make([]float32, 1<<18)
	compute := func(layer int) {
		for range 40 {
			for i := range work {
				work[i] = work[i]*0.999 + float32(layer)
			}
		}
	}
	var best [2]float64
	for mode := range 2 {
		best[mode] = math.Inf(1)
		for range runs {
			if err := c.Barrier(); err != nil {
				return err
			}
			t0 := time.Now()
			for l := layers - 1; l >= 0; l-- {
				compute(l)
				if mode == 1 {
					r.Ready(l * n / layers)
				}
			}
			if err := r.Wait(); err != nil {
				return err
			}
			best[mode] = min(best[mode], time.Since(t0).Seconds())
		}
	}
	t0 := time.Now()
	for l := range layers {
		compute(l)
	}
	computeOnly := time.Since(t0).Seconds()
	if c.Rank() == 0 {
		fmt.Printf("overlap: %d floats, %d buckets; best of %d: compute only %.3f s, compute then ReduceAll %.3f s, Ready per layer %.3f s\n",
			n, r.Buckets(), runs, computeOnly, best[0], best[1])
	}
	return nil
}

// The tiny MLP of the sgd mode: x[D] → tanh(W1·x + b1)[H] → W2·h + b2 [K] → softmax
// cross-entropy, mean over the batch. Parameters and gradients are flat arenas
// laid out W1, b1, W2, b2.
const (
	mlpD    = 5
	mlpH    = 7
	mlpK    = 3
	offB1   = mlpH * mlpD
	offW2   = offB1 + mlpH
	offB2   = offW2 + mlpK*mlpH
	nParams = offB2 + mlpK
)

// sample returns the i-th sample of a fixed data set, the same on every rank.
func sample(i int) ([]float32, int) {
	rng := rand.New(rand.NewPCG(42, uint64(i)))
	x := make([]float32, mlpD)
	for j := range x {
		x[j] = float32(rng.NormFloat64())
	}
	label := 0
	if x[0]+x[1] > 0.5 {
		label = 1
	} else if x[2]-x[3] > 0 {
		label = 2
	}
	return x, label
}

// sgd trains the MLP with global batch batch·size: rank r takes samples
// [step·B + r·batch, step·B + (r+1)·batch). Rank r initialises the weights with its own
// seed, so only the broadcast from rank 0 makes the ranks agree.
func sgd(c dist.Comm, batch, steps int, out string) error {
	rank, size := c.Rank(), c.Size()
	const lr = 0.5
	params := make([]float32, nParams)
	rng := rand.New(rand.NewPCG(7, uint64(rank)))
	for i := range params {
		params[i] = float32(rng.NormFloat64() * 0.5)
	}
	if err := c.BroadcastF32(params); err != nil {
		return err
	}
	grads := make([]float32, nParams)
	red := dist.NewReducer(c, grads, 16) // 4-float buckets: many buckets, and overlap
	var lossLog []float64
	h := make([]float32, mlpH)
	z := make([]float32, mlpK)
	dh := make([]float32, mlpH)
	for step := range steps {
		clear(grads)
		metric := []float64{0, 0} // Σ loss, samples
		// Forward and backward sample by sample; the loss is the mean over the local
		// batch, so the rank mean of the gradients is the gradient of the global mean.
		var pending [][]float32
		for s := range batch {
			x, label := sample(step*batch*size + rank*batch + s)
			for j := range mlpH {
				a := params[offB1+j]
				for i := range mlpD {
					a += params[j*mlpD+i] * x[i]
				}
				h[j] = float32(math.Tanh(float64(a)))
			}
			zmax := float32(math.Inf(-1))
			for k := range mlpK {
				a := params[offB2+k]
				for j := range mlpH {
					a += params[offW2+k*mlpH+j] * h[j]
				}
				z[k] = a
				zmax = max(zmax, a)
			}
			var sum float64
			for k := range z {
				sum += math.Exp(float64(z[k] - zmax))
			}
			metric[0] += math.Log(sum) - float64(z[label]-zmax)
			metric[1]++
			dz := make([]float32, mlpK)
			for k := range z {
				dz[k] = float32(math.Exp(float64(z[k]-zmax))/sum) / float32(batch)
			}
			dz[label] -= 1 / float32(batch)
			pending = append(pending, append(append(x, h...), dz...))
		}
		// Layer 2 gradients first, then hand them to the Reducer while layer 1's are
		// computed, as a backward pass would.
		for _, p := range pending {
			hh, dz := p[mlpD:mlpD+mlpH], p[mlpD+mlpH:]
			for k := range mlpK {
				grads[offB2+k] += dz[k]
				for j := range mlpH {
					grads[offW2+k*mlpH+j] += dz[k] * hh[j]
				}
			}
		}
		red.Ready(offW2)
		for _, p := range pending {
			x, hh, dz := p[:mlpD], p[mlpD:mlpD+mlpH], p[mlpD+mlpH:]
			for j := range mlpH {
				var a float32
				for k := range mlpK {
					a += params[offW2+k*mlpH+j] * dz[k]
				}
				dh[j] = a * (1 - hh[j]*hh[j])
				grads[offB1+j] += dh[j]
				for i := range mlpD {
					grads[j*mlpD+i] += dh[j] * x[i]
				}
			}
		}
		if err := red.Wait(); err != nil {
			return err
		}
		for i := range params {
			params[i] -= lr * grads[i]
		}
		if err := c.AllReduceSumF64(metric); err != nil {
			return err
		}
		lossLog = append(lossLog, metric[0]/metric[1])
	}
	// Every rank must hold rank 0's weights bit for bit.
	ref := slices.Clone(params)
	if err := c.BroadcastF32(ref); err != nil {
		return err
	}
	if !slices.Equal(ref, params) {
		return fmt.Errorf("weights differ from rank 0's after %d steps", steps)
	}
	if rank == 0 {
		fmt.Printf("sgd: %d ranks x batch %d, losses %.6f\n", size, batch, lossLog)
		if out != "" {
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := binary.Write(f, binary.LittleEndian, params); err != nil {
				f.Close()
				return err
			}
			if err := binary.Write(f, binary.LittleEndian, lossLog); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	}
	return nil
}
