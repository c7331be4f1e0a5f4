package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// InitWeights draws every parameter as the original modules do when no weights are
// loaded: Linear and Embedding weights N(0, initializer_range), biases 0, LayerNorm
// 1/0 except the visual LayerNorm gammas (visual_scale_{text,object}_init, 0.0 in all
// shipped configs), object_mask_visual_embedding 0, and task-head (final_mlp) Linear weights
// Xavier-uniform. The draw is a pure function of seed (not of PyTorch's RNG).
func (m *Encoder) InitWeights(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	std := float64(m.Cfg.InitializerRange)
	for _, p := range m.Params.List {
		w := m.Params.Data[p.Offset : p.Offset+p.Size]
		switch p.init {
		case initZero:
			clear(w)
		case initOne:
			for i := range w {
				w[i] = 1
			}
		case initVisualLNText, initVisualLNObject:
			g := m.Cfg.VisualScaleTextInit
			if p.init == initVisualLNObject {
				g = m.Cfg.VisualScaleObjectInit
			}
			for i := range w {
				w[i] = g
			}
		case initStdNormal:
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
		case initNormal:
			if strings.HasPrefix(p.Name, "final_mlp.") {
				a := math.Sqrt(6 / float64(p.Shape[0]+p.Shape[1]))
				for i := range w {
					w[i] = float32((2*rng.Float64() - 1) * a)
				}
				continue
			}
			for i := range w {
				w[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	m.copySpecialWords()
}

// copySpecialWords sets special_word_embeddings to the first 1000 rows of
// word_embeddings, as VisualLinguisticBert.__init__ does after loading the language
// model (word_embedding_frozen). The pretraining modules re-draw every Embedding
// after that copy (VisualLinguisticBertForPretraining.__init__ applies init_weights
// again), so for them the rows stay as drawn. It reports whether it copied.
func (m *Encoder) copySpecialWords() bool {
	if !m.Cfg.WordEmbeddingFrozen || m.Cfg.Task == TaskPretrain || m.Cfg.Task == TaskPretrainMultitask {
		return false
	}
	cp := m.Cfg.corePrefix()
	copy(m.Params.View(cp+"special_word_embeddings.weight"), m.Params.View(cp+"word_embeddings.weight"))
	return true
}

// InitClassifierFromAnswers sets row a of the weight of final_mlp's last Linear to
// the mean of the word embeddings of answer a's wordpiece ids (CLASSIFIER_PRETRAINED,
// vqa/function/train.py), after the word embeddings are loaded. answers has one id
// list per answer. The original assigns an [A, hidden_size] tensor to
// final_mlp[-1].weight, so with 2fc it only works when CLASSIFIER_HIDDEN_SIZE equals
// hidden_size (otherwise its first forward fails on the shapes); so it fails here.
func (m *VQA) InitClassifierFromAnswers(answers [][]int) error {
	A, H, V := m.Cfg.AnswerVocabSize, m.Cfg.HiddenSize, m.Cfg.VocabSize
	if len(answers) != A {
		return fmt.Errorf("model: %d answers for ANSWER_VOCAB_SIZE %d", len(answers), A)
	}
	last := finalMLPLast(&m.Cfg)
	if q := m.Params.must(last + ".weight"); q.Shape[1] != H {
		return fmt.Errorf("model: NETWORK.CLASSIFIER_PRETRAINED: %s.weight is [%d, %d], the word-embedding means are [%d, %d] (with CLASSIFIER_TYPE 2fc the original's assignment only works when CLASSIFIER_HIDDEN_SIZE equals hidden_size)", last, q.Shape[0], q.Shape[1], A, H)
	}
	word := m.Params.View("vlbert.word_embeddings.weight")
	w := m.Params.View(last + ".weight")
	for a, ids := range answers {
		if len(ids) == 0 {
			return fmt.Errorf("model: answer %d has no wordpieces", a)
		}
		row := w[a*H : (a+1)*H]
		clear(row)
		for _, id := range ids {
			if id < 0 || id >= V {
				return fmt.Errorf("model: answer %d: wordpiece id %d outside [0,%d)", a, id, V)
			}
			for i := range row {
				row[i] += word[id*H+i]
			}
		}
		for i := range row {
			row[i] /= float32(len(ids))
		}
	}
	return nil
}
