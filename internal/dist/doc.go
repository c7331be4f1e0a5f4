// Package dist is the data-parallel layer of vlbert: a communicator between the
// processes ("ranks") of one training job, and a bucketed gradient all-reduce on top
// of it.
//
// A job is started with Open MPI's launcher, `mpirun -np N vlbert train ...`. Open
// loads the system's Open MPI library (libmpi.so.40) at run time with purego, so a
// default build needs neither cgo nor MPI headers; a process that was not started by
// mpirun gets the single-process communicator, for which every collective is the
// identity. Only Open MPI is supported: its handles (MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM, ...) are addresses of global symbols that Open reads with dlsym.
//
// Invariants a caller must keep, as with any MPI program:
//   - Every rank issues the same collectives, in the same order, with the same lengths.
//     A Reducer's asynchronous all-reduces count as issued in Reducer.Wait's place, so
//     Wait before calling another collective.
//   - Buffers are reduced or broadcast in place; a collective owns its buffer until it
//     returns (for a Reducer: from Ready until Wait).
//
// Failure: every collective runs under a deadline (Options.Timeout, environment
// variable VLBERT_DIST_TIMEOUT, default 120 s). When a rank dies or hangs, the others
// are left waiting inside a collective; when the deadline passes, the waiting rank
// prints which operation timed out and exits with status ExitTimeout, and mpirun then
// terminates the whole job. A rank that exits or is killed is noticed by mpirun
// itself, which also terminates the job.
//
// Not in this package: sharding the data by rank (the sampler does that), and deciding
// which rank writes checkpoints (rank 0, the training loop decides).
package dist
