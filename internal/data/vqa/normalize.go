package vqa

import (
	"strings"
	"unicode"
)

// punct is the punctuation list of the VQA evaluation script (and of VL-BERT's
// vqa.py, which copies it).
var punct = []string{";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-",
	">", "<", "@", "`", ",", "?", "!"}

var manualMap = map[string]string{"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3",
	"four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}

var articles = map[string]bool{"a": true, "an": true, "the": true}

// periodStripCount is the number of periods the evaluation strips at most: the
// script passes re.UNICODE (32) where re.sub expects count.
const periodStripCount = 32

// hasDigitCommaDigit reports whether s contains digit ',' digit (commaStrip).
func hasDigitCommaDigit(s string) bool {
	r := []rune(s)
	for i := 1; i+1 < len(r); i++ {
		if r[i] == ',' && unicode.IsDigit(r[i-1]) && unicode.IsDigit(r[i+1]) {
			return true
		}
	}
	return false
}

// ProcessPunctuation is the evaluation's processPunctuation: each punctuation
// mark is deleted if it touches a space somewhere in the input (or the input has
// a digit,digit comma), otherwise replaced by a space; then up to 32 periods not
// followed by a digit are deleted. Digits are Unicode digits (Python 3 \d).
func ProcessPunctuation(in string) string {
	out := in
	comma := hasDigitCommaDigit(in)
	for _, p := range punct {
		if comma || strings.Contains(in, p+" ") || strings.Contains(in, " "+p) {
			out = strings.ReplaceAll(out, p, "")
		} else {
			out = strings.ReplaceAll(out, p, " ")
		}
	}
	// periodStrip "(?!<=\d)(\.)(?!\d)": the first lookahead never fails where a '.'
	// matches, so this deletes '.' not followed by a digit.
	r := []rune(out)
	var b strings.Builder
	removed := 0
	for i, c := range r {
		if c == '.' && removed < periodStripCount && (i+1 == len(r) || !unicode.IsDigit(r[i+1])) {
			removed++
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ProcessDigitArticle is the evaluation's processDigitArticle: lower-case, split
// on whitespace, map number words to digits, drop articles, expand contractions,
// join with single spaces.
func ProcessDigitArticle(in string) string {
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(in), isPySpace) {
		if m, ok := manualMap[w]; ok {
			w = m
		}
		if articles[w] {
			continue
		}
		if c, ok := contractions[w]; ok {
			w = c
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// NormalizeVocabEntry is VL-BERT's processPunctuation applied to answer-vocab
// entries: the evaluation's, except that "<unk>" is kept.
func NormalizeVocabEntry(s string) string {
	if s == UNK {
		return s
	}
	return ProcessPunctuation(s)
}

// Accuracy is the official VQA accuracy of pred against the human answers: the
// mean over each answer g of min(1, #{other answers equal pred}/3). As the
// official script, the answers and pred are first cleaned of newlines/tabs and
// stripped, and, only when the answers disagree, normalised with
// ProcessPunctuation and ProcessDigitArticle.
func Accuracy(pred string, answers []string) float64 {
	clean := func(s string) string {
		s = strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
		return strings.TrimFunc(s, isPySpace)
	}
	gts := make([]string, len(answers))
	distinct := map[string]bool{}
	for i, a := range answers {
		gts[i] = clean(a)
		distinct[gts[i]] = true
	}
	pred = clean(pred)
	if len(distinct) > 1 {
		for i := range gts {
			gts[i] = ProcessDigitArticle(ProcessPunctuation(gts[i]))
		}
		pred = ProcessDigitArticle(ProcessPunctuation(pred))
	}
	if len(gts) == 0 {
		return 0
	}
	var sum float64
	for i := range gts {
		match := 0
		for j := range gts {
			if j != i && gts[j] == pred {
				match++
			}
		}
		sum += min(1, float64(match)/3)
	}
	return sum / float64(len(gts))
}

// isPySpace is Python's str.isspace: Unicode white space plus the separators
// U+001C..U+001F, which Go's unicode.IsSpace does not count.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }
