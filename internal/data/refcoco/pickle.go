package refcoco

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/pickle"
)

// unpickle decodes one pickle (any protocol 0–5) with gopickle after normalizepickle has
// checked and rewritten it; a panic inside gopickle becomes an error.
func unpickle(data []byte) (v any, err error) {
	norm, err := normalizePickle(data)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(norm))
	return u.Load()
}

// normalizePickle walks the opcode stream of data up to STOP and returns an equivalent
// stream that gopickle decodes safely and correctly:
//   - every counted argument is checked against the bytes left, so a corrupt length
//     cannot make gopickle allocate gigabytes (it allocates before reading);
//   - FRAME opcodes are dropped (frames only group opcodes; their contents stay inline);
//   - protocol-0 STRING ('S', Python escapes) and UNICODE ('V', raw-unicode-escape)
//     arguments, which gopickle keeps undecoded, and Python 2 byte strings ('T', 'U') are
//     decoded and re-emitted as BINUNICODE; byte strings that are not valid UTF-8 are read
//     as Latin-1 (Python's encoding="latin1");
//   - a zero-length LONG1/LONG4 (the integer 0, which gopickle indexes out of range)
//     becomes BININT1 0.
func normalizePickle(data []byte) ([]byte, error) {
	out := make([]byte, 0, len(data)+len(data)/8)
	pos := 0
	need := func(n uint64) ([]byte, error) {
		if n > uint64(len(data)-pos) {
			return nil, fmt.Errorf("pickle truncated at byte %d (opcode needs %d more bytes, %d left)", pos, n, len(data)-pos)
		}
		b := data[pos : pos+int(n)]
		pos += int(n)
		return b, nil
	}
	line := func() ([]byte, error) {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return nil, fmt.Errorf("pickle truncated at byte %d (unterminated line argument)", pos)
		}
		b := data[pos : pos+i]
		pos += i + 1
		return b, nil
	}
	emitUnicode := func(s []byte) {
		out = append(out, 'X')
		out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	for {
		if pos >= len(data) {
			return nil, errors.New("pickle ends without STOP")
		}
		start := pos
		op := data[pos]
		pos++
		var err error
		switch op {
		case '.': // STOP
			return append(out, op), nil
		case '(', '0', '1', '2', 'N', 'R', 'Q', 'a', 'b', 'd', '}', ']', 'e', 'l', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
			out = append(out, op)
		case 'F', 'I', 'L', 'P', 'g', 'p':
			_, err = line()
			out = append(out, data[start:pos]...)
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if _, err = line(); err == nil {
				_, err = line()
			}
			out = append(out, data[start:pos]...)
		case 'S':
			var arg, s []byte
			if arg, err = line(); err == nil {
				if s, err = decodePyString(arg); err == nil {
					emitUnicode(latin1IfInvalid(s))
				}
			}
		case 'V':
			var arg []byte
			if arg, err = line(); err == nil {
				emitUnicode(decodeRawUnicodeEscape(arg))
			}
		case 'K', 'h', 'q', 0x80, 0x82:
			_, err = need(1)
			out = append(out, data[start:pos]...)
		case 'M', 0x83:
			_, err = need(2)
			out = append(out, data[start:pos]...)
		case 'J', 'j', 'r', 0x84:
			_, err = need(4)
			out = append(out, data[start:pos]...)
		case 'G':
			_, err = need(8)
			out = append(out, data[start:pos]...)
		case 0x95: // FRAME: drop it, keep its contents inline
			var n []byte
			if n, err = need(8); err == nil && binary.LittleEndian.Uint64(n) > uint64(len(data)-pos) {
				err = fmt.Errorf("pickle frame at byte %d longer than the data", start)
			}
		case 'U', 'C', 0x8a, 0x8c: // 1-byte length
			var n, arg []byte
			if n, err = need(1); err == nil {
				if arg, err = need(uint64(n[0])); err == nil {
					switch {
					case op == 'U':
						emitUnicode(latin1IfInvalid(arg))
					case op == 0x8a && len(arg) == 0:
						out = append(out, 'K', 0)
					default:
						out = append(out, data[start:pos]...)
					}
				}
			}
		case 'T', 'X', 'B', 0x8b: // 4-byte length
			var n, arg []byte
			if n, err = need(4); err == nil {
				if arg, err = need(uint64(binary.LittleEndian.Uint32(n))); err == nil {
					switch {
					case op == 'T':
						emitUnicode(latin1IfInvalid(arg))
					case op == 0x8b && len(arg) == 0:
						out = append(out, 'K', 0)
					default:
						out = append(out, data[start:pos]...)
					}
				}
			}
		case 0x8d, 0x8e, 0x96: // 8-byte length
			var n []byte
			if n, err = need(8); err == nil {
				_, err = need(binary.LittleEndian.Uint64(n))
				out = append(out, data[start:pos]...)
			}
		default:
			return nil, fmt.Errorf("unknown pickle opcode 0x%02x at byte %d", op, start)
		}
		if err != nil {
			return nil, err
		}
	}
}

// decodePyString undoes the quoting of a protocol-0 STRING argument ('...' or "..."
// holding Python 2 repr escapes), as Python's codecs.escape_decode.
func decodePyString(arg []byte) ([]byte, error) {
	arg = bytes.TrimRight(arg, "\r") // pickles written in text mode on Windows
	if len(arg) < 2 || arg[0] != arg[len(arg)-1] || (arg[0] != '\'' && arg[0] != '"') {
		return nil, fmt.Errorf("pickle STRING argument %.40q is not quoted", arg)
	}
	s := arg[1 : len(arg)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			out = append(out, c)
			continue
		}
		i++
		switch e := s[i]; e {
		case '\n':
		case '\\', '\'', '"':
			out = append(out, e)
		case 'a':
			out = append(out, 7)
		case 'b':
			out = append(out, 8)
		case 't':
			out = append(out, 9)
		case 'n':
			out = append(out, 10)
		case 'v':
			out = append(out, 11)
		case 'f':
			out = append(out, 12)
		case 'r':
			out = append(out, 13)
		case 'x':
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				v, _ := strconv.ParseUint(string(s[i+1:i+3]), 16, 8)
				out = append(out, byte(v))
				i += 2
			} else {
				return nil, fmt.Errorf("pickle STRING: invalid \\x escape")
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := 0, 0
			for n < 3 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '7' {
				v = v*8 + int(s[i+n]-'0')
				n++
			}
			out = append(out, byte(v))
			i += n - 1
		default:
			out = append(out, '\\', e)
		}
	}
	return out, nil
}

// decodeRawUnicodeEscape decodes Python's raw-unicode-escape: \uXXXX and \UXXXXXXXX are
// code points, every other byte is a Latin-1 character.
func decodeRawUnicodeEscape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n <= len(s) {
				if v, err := strconv.ParseUint(string(s[i+2:i+2+n]), 16, 32); err == nil {
					r := rune(v)
					if !utf8.ValidRune(r) {
						r = utf8.RuneError
					}
					out = utf8.AppendRune(out, r)
					i += 1 + n
					continue
				}
			}
		}
		out = utf8.AppendRune(out, rune(s[i]))
	}
	return out
}

// latin1IfInvalid returns s unchanged if it is valid UTF-8, else s read as Latin-1.
func latin1IfInvalid(s []byte) []byte {
	if utf8.Valid(s) {
		return s
	}
	out := make([]byte, 0, 2*len(s))
	for _, c := range s {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
