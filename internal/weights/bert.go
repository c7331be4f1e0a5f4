package weights

import (
	"fmt"
	"strings"
)

// BERTImport is a BERT (or RoBERTa) pytorch_model.bin state dict renamed to
// VL-BERT keys, as load_language_pretrained_model does (spec §1.5).
type BERTImport struct {
	// Tensors uses vlbert keys without "module.": vlbert.word_embeddings.weight,
	// vlbert.position_embeddings.weight, vlbert.embedding_LayerNorm.*,
	// vlbert.encoder.*, vlbert.pooler.*, vlbert.mlm_head.predictions.* and
	// vlbert.relationsip_head.caption_image_relationship.* [sic].
	// The token-type table is not among them: see TokenType.
	Tensors map[string]*Tensor
	// TokenType is embeddings.token_type_embeddings.weight as stored
	// ([2,H] for BERT, [1,H] for RoBERTa), nil if absent. FillTokenType
	// copies it into vlbert's 3-row table.
	TokenType *Tensor
	// Unexpected lists source keys that map to nothing, in sorted order.
	Unexpected []string
}

// ImportBERT renames a BERT state dict: strip "bert." or "roberta.",
// gamma→weight and beta→bias, encoder.* → vlbert.encoder.*, the embedding
// tables and LayerNorm to their vlbert names, pooler.* → vlbert.pooler.*,
// cls.predictions.* → vlbert.mlm_head.predictions.*, cls.seq_relationship.*
// → the relationship head. Tensors are shared with sd, not copied.
func ImportBERT(sd map[string]*Tensor) (*BERTImport, error) {
	imp := &BERTImport{Tensors: map[string]*Tensor{}}
	put := func(k string, t *Tensor) {
		imp.Tensors[k] = t
	}
	for _, src := range sortedKeys(sd) {
		t := sd[src]
		k := src
		var isCls bool
		switch {
		case strings.HasPrefix(k, "bert."):
			k = k[len("bert."):]
		case strings.HasPrefix(k, "roberta."):
			k = k[len("roberta."):]
		case strings.HasPrefix(k, "cls."):
			isCls = true
			k = k[len("cls."):]
		default:
			imp.Unexpected = append(imp.Unexpected, src)
			continue
		}
		// The original replaces the substrings anywhere in the key.
		k = strings.ReplaceAll(k, "gamma", "weight")
		k = strings.ReplaceAll(k, "beta", "bias")
		if isCls {
			switch {
			case strings.HasPrefix(k, "predictions."):
				put("vlbert.mlm_head."+k, t)
			case strings.HasPrefix(k, "seq_relationship."):
				put("vlbert.relationsip_head.caption_image_relationship."+k[len("seq_relationship."):], t)
			default:
				imp.Unexpected = append(imp.Unexpected, src)
			}
			continue
		}
		switch {
		case strings.HasPrefix(k, "encoder."):
			put("vlbert."+k, t)
		case k == "embeddings.word_embeddings.weight":
			put("vlbert.word_embeddings.weight", t)
		case k == "embeddings.position_embeddings.weight":
			put("vlbert.position_embeddings.weight", t)
		case k == "embeddings.token_type_embeddings.weight":
			if len(t.Shape) != 2 || !t.IsFloat() {
				return nil, fmt.Errorf("weights: BERT %s has shape %v (%s), want [types, hidden] floats", src, t.Shape, t.DType)
			}
			imp.TokenType = t
		case strings.HasPrefix(k, "embeddings.LayerNorm."):
			put("vlbert.embedding_LayerNorm."+k[len("embeddings.LayerNorm."):], t)
		case strings.HasPrefix(k, "pooler."):
			put("vlbert."+k, t)
		default:
			imp.Unexpected = append(imp.Unexpected, src)
		}
	}
	return imp, nil
}

// FillTokenType copies the BERT token-type rows into table, vlbert's
// [3, H] token_type_embeddings.weight, and returns the rows it wrote: rows 0
// and 1 for BERT (row 2 keeps its random init), all three from row 0 for a
// one-row RoBERTa table, as the original does. table is overwritten in
// those rows only.
func (b *BERTImport) FillTokenType(table *Tensor) ([]int, error) {
	src := b.TokenType
	if src == nil {
		return nil, nil
	}
	if len(table.Shape) != 2 || table.F32 == nil {
		return nil, fmt.Errorf("weights: token-type table has shape %v, want [rows, hidden] floats", table.Shape)
	}
	rows, h := src.Shape[0], src.Shape[1]
	if h != table.Shape[1] || rows > table.Shape[0] {
		return nil, fmt.Errorf("weights: BERT token-type table %v does not fit into %v", src.Shape, table.Shape)
	}
	var filled []int
	for r := range rows {
		copy(table.F32[r*h:(r+1)*h], src.F32[r*h:(r+1)*h])
		filled = append(filled, r)
	}
	if rows == 1 { // RoBERTa: one type; the original copies it to rows 1 and 2
		for r := 1; r < min(3, table.Shape[0]); r++ {
			copy(table.F32[r*h:(r+1)*h], src.F32[:h])
			filled = append(filled, r)
		}
	}
	return filled, nil
}
