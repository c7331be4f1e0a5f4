package tokenizer

import "unicode/utf8"

// WordPiece splits text (normally one basic token; several whitespace-separated words are
// handled one by one) into vocabulary pieces, greedily taking the longest prefix in the
// vocabulary and marking non-initial pieces with "##". A word longer than
// MaxInputCharsPerWord code points, or one that cannot be covered, becomes [UNK].
func (t *Tokenizer) WordPiece(text string) []string {
	var out []string
	for _, word := range pyFields(text) {
		out = t.appendWordPiece(out, word)
	}
	return out
}

// appendWordPiece appends the pieces of one whitespace-free word to out.
func (t *Tokenizer) appendWordPiece(out []string, word string) []string {
	n := utf8.RuneCountInString(word)
	if n > MaxInputCharsPerWord {
		return append(out, UnkToken)
	}
	// bounds[k] is the byte offset of the k-th code point; bounds[n] = len(word).
	var boundsBuf [MaxInputCharsPerWord + 1]int
	bounds := boundsBuf[:0]
	for i := range word {
		bounds = append(bounds, i)
	}
	bounds = append(bounds, len(word))

	mark := len(out)
	var buf []byte // "##" + candidate, reused; map lookups on string(buf) do not allocate
	for start := 0; start < n; {
		end := n
		found := ""
		for ; start < end; end-- {
			sub := word[bounds[start]:bounds[end]]
			if start == 0 {
				if _, ok := t.v.ids[sub]; ok {
					found = sub
					break
				}
				continue
			}
			buf = append(append(buf[:0], "##"...), sub...)
			if _, ok := t.v.ids[string(buf)]; ok {
				found = string(buf)
				break
			}
		}
		if end == start { // no prefix of the rest is in the vocabulary
			return append(out[:mark], UnkToken)
		}
		out = append(out, found)
		start = end
	}
	return out
}
