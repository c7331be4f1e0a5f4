package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// BasicTokenize is BERT's BasicTokenizer: drop NUL, U+FFFD and control characters, map
// whitespace to spaces, surround CJK ideographs with spaces, split on whitespace, then
// (when lower-casing, and unless the token is one of [UNK] [SEP] [PAD] [CLS] [MASK])
// lower-case, NFD-normalise and drop nonspacing marks, and finally split off every
// punctuation character as its own token.
func (t *Tokenizer) BasicTokenize(text string) []string {
	text = cjkSpaces(cleanText(text))
	var out []string
	for _, tok := range pyFields(text) {
		if t.lowerCase && !neverSplit[tok] {
			tok = stripAccents(pyLower(tok))
		}
		// The original re-splits the joined pieces on whitespace; pieces are already free
		// of spaces except where NFD or lower-casing could introduce Python whitespace.
		for _, piece := range splitOnPunct(tok) {
			out = append(out, pyFields(piece)...)
		}
	}
	return out
}

// cleanText drops NUL, U+FFFD and control characters (category C* including unassigned,
// except \t \n \r) and replaces whitespace (\t \n \r, space, Zs) with a space.
func cleanText(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		switch {
		case r == 0 || r == 0xFFFD || isControl(r):
		case isWhitespace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cjkSpaces puts a space on each side of every CJK ideograph so each becomes a word.
func cjkSpaces(text string) string {
	n := 0
	for _, r := range text {
		if isCJK(r) {
			n++
		}
	}
	if n == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 2*n)
	for _, r := range text {
		if isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripAccents NFD-normalises s and removes nonspacing marks (category Mn).
func stripAccents(s string) string {
	if isASCII(s) {
		return s
	}
	s = norm.NFD.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

// splitOnPunct splits s so that each punctuation character is a token of its own; the
// never-split specials are returned whole.
func splitOnPunct(s string) []string {
	if neverSplit[s] {
		return []string{s}
	}
	var out []string
	start := -1 // byte offset of the current non-punctuation run, -1 if none
	for i, r := range s {
		if isPunct(r) {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			out = append(out, string(r))
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// pyFields splits on Python's str.split() whitespace and drops empty fields.
func pyFields(s string) []string { return strings.FieldsFunc(s, isPySpace) }

// pyLower is Python 3's str.lower(): the simple lower-case mapping plus the full mapping of
// U+0130 and the Final_Sigma rule for U+03A3, which Go's strings.ToLower lacks.
func pyLower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch r {
		case 0x130: // LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE
			b.WriteString("i\u0307")
		case 0x3A3: // GREEK CAPITAL SIGMA
			if finalSigma(s, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the sigma at byte offset i of s is in the Final_Sigma context:
// preceded by a cased letter (skipping case-ignorables) and not followed by one.
func finalSigma(s string, i int) bool {
	before := []rune(s[:i])
	j := len(before) - 1
	for j >= 0 && isCaseIgnorable(before[j]) {
		j--
	}
	if j < 0 || !isCased(before[j]) {
		return false
	}
	for _, r := range s[i+len("Σ"):] {
		if !isCaseIgnorable(r) {
			return !isCased(r)
		}
	}
	return true
}

// isCased is the Unicode Cased property.
func isCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// isCaseIgnorable is the Unicode Case_Ignorable property: Mn, Me, Cf, Lm, Sk and the
// Word_Break classes MidLetter, MidNumLet and Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// isWhitespace is BERT's _is_whitespace: space, \t, \n, \r or category Zs.
func isWhitespace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}
	return unicode.Is(unicode.Zs, r)
}

// isControl is BERT's _is_control: category C* (Cc, Cf, Co, Cs and unassigned Cn) except
// \t, \n and \r, which count as whitespace.
func isControl(r rune) bool {
	if r < 0x80 {
		return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7F
	}
	if unicode.Is(unicode.C, r) {
		return true
	}
	// Unassigned code points (Cn) belong to no category table.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isPunct is BERT's _is_punctuation: all non-alphanumeric printable ASCII plus category P*.
func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return r >= 0x80 && unicode.Is(unicode.P, r)
}

// isCJK is BERT's _is_chinese_char: the CJK Unified Ideographs blocks and extensions A–E
// and the compatibility ideographs (not Hangul, Hiragana or Katakana).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// isPySpace is Python's str.isspace(), which str.split() and str.strip() use.
func isPySpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r >= 0x1C && r <= 0x20, r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
