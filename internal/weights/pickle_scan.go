package weights

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// scanPickle walks one pickle stream opcode by opcode, without building any
// objects, and returns its length in bytes (up to and including STOP). It
// checks that every length-prefixed argument fits in the limit bytes that
// remain, so the unpickler that runs afterwards on exactly these bytes can
// never be asked to allocate more than the stream holds. It exists because
// gopickle allocates a BINUNICODE/BINBYTES buffer from the length field
// before reading it.
func scanPickle(r *bufio.Reader, limit int64) (int64, error) {
	var pos int64
	need := func(n int64) error {
		if n < 0 || n > limit-pos {
			return fmt.Errorf("pickle: argument of %d bytes at offset %d runs past the end of the data", n, pos)
		}
		return nil
	}
	skip := func(n int64) error {
		if err := need(n); err != nil {
			return err
		}
		if _, err := r.Discard(int(n)); err != nil {
			return fmt.Errorf("pickle: offset %d: %w", pos, unexpectedEOF(err))
		}
		pos += n
		return nil
	}
	fixed := func(n int) ([]byte, error) {
		if err := need(int64(n)); err != nil {
			return nil, err
		}
		b, err := r.Peek(n)
		if err != nil {
			return nil, fmt.Errorf("pickle: offset %d: %w", pos, unexpectedEOF(err))
		}
		r.Discard(n)
		pos += int64(n)
		return b, nil
	}
	line := func() error {
		for {
			if pos >= limit {
				return fmt.Errorf("pickle: unterminated text argument at offset %d", pos)
			}
			b, err := r.ReadByte()
			if err != nil {
				return fmt.Errorf("pickle: offset %d: %w", pos, unexpectedEOF(err))
			}
			pos++
			if b == '\n' {
				return nil
			}
		}
	}
	for {
		if pos >= limit {
			return 0, fmt.Errorf("pickle: no STOP opcode within %d bytes (file truncated?)", limit)
		}
		op, err := r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("pickle: offset %d: %w", pos, unexpectedEOF(err))
		}
		pos++
		var argErr error
		switch op {
		case '.': // STOP
			return pos, nil
		case '(', '0', '1', '2', 'Q', 'R', 'N', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
			// no argument
		case 0x80, 'K', 'h', 'q', 0x82: // PROTO, BININT1, BINGET, BINPUT, EXT1
			_, argErr = fixed(1)
		case 'M', 0x83: // BININT2, EXT2
			_, argErr = fixed(2)
		case 'J', 'j', 'r', 0x84: // BININT, LONG_BINGET, LONG_BINPUT, EXT4
			_, argErr = fixed(4)
		case 'G': // BINFLOAT
			_, argErr = fixed(8)
		case 0x95: // FRAME: its payload is more opcodes, scanned in turn
			var b []byte
			if b, argErr = fixed(8); argErr == nil {
				argErr = need(int64(min(binary.LittleEndian.Uint64(b), 1<<62)))
			}
		case 0x8a, 'U', 'C', 0x8c: // LONG1, SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			var b []byte
			if b, argErr = fixed(1); argErr == nil {
				argErr = skip(int64(b[0]))
			}
		case 0x8b, 'T', 'X', 'B': // LONG4, BINSTRING, BINUNICODE, BINBYTES
			var b []byte
			if b, argErr = fixed(4); argErr == nil {
				n := int64(binary.LittleEndian.Uint32(b))
				if op == 0x8b || op == 'T' {
					n = int64(int32(binary.LittleEndian.Uint32(b)))
				}
				argErr = skip(n)
			}
		case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
			var b []byte
			if b, argErr = fixed(8); argErr == nil {
				argErr = skip(int64(min(binary.LittleEndian.Uint64(b), 1<<62)))
			}
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p', 'P': // text-line arguments (protocol 0)
			argErr = line()
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if argErr = line(); argErr == nil {
				argErr = line()
			}
		default:
			return 0, fmt.Errorf("pickle: invalid opcode 0x%02x at offset %d", op, pos-1)
		}
		if argErr != nil {
			return 0, argErr
		}
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
