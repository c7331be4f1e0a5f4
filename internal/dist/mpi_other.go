//go:build !((linux || darwin) && (amd64 || arm64))

package dist

import (
	"errors"
	"runtime"
)

func openMPI(o Options) (Comm, error) {
	return nil, errors.New("no MPI support on " + runtime.GOOS + "/" + runtime.GOARCH)
}
