package atomicfile

import (
	"bufio"
	"io"
)

func newBufferedWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 1<<20) }
