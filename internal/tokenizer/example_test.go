package tokenizer_test

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

func ExampleTokenizer_Encode() {
	tok := tokenizer.Default(true) // bert-base-uncased, as VL-BERT
	// A special token survives only as a whole whitespace-separated word: "[MASK]!" is
	// lower-cased and split like any other text.
	tokens, ids := tok.Encode("Unaffable café [MASK] [MASK]!")
	fmt.Println(tokens)
	fmt.Println(ids)
	// Output:
	// [una ##ffa ##ble cafe [MASK] [ mask ] !]
	// [14477 20961 3468 7668 103 1031 7308 1033 999]
}
