package model

import "github.com/vlbert/vlbert/internal/heads"

func headLinear(p *Params, prefix string) heads.Linear {
	l := linearOf(p, prefix)
	return heads.Linear{W: l.w.w, B: l.b.w, GW: l.w.g, GB: l.b.g, In: l.in, Out: l.out}
}

func headLN(p *Params, prefix string) *heads.LayerNorm {
	l := lnOf(p, prefix)
	return &heads.LayerNorm{W: l.w.w, B: l.b.w, GW: l.w.g, GB: l.b.g, C: len(l.w.w)}
}

// taskHeads are the heads of the configured module.
type taskHeads struct {
	vqa  heads.VQA
	ref  heads.Grounding
	rel  heads.Linear
	mlm  heads.MLM
	mvrc heads.MVRC
}

func bindHeads(p *Params, c *Config) taskHeads {
	var h taskHeads
	switch c.Task {
	case TaskVQA:
		h.vqa = heads.VQA{
			Transform:  heads.Transform{Dense: headLinear(p, "final_mlp.0.dense"), LN: headLN(p, "final_mlp.0.LayerNorm")},
			Classifier: headLinear(p, "final_mlp.2"),
		}
	case TaskRefCOCO:
		h.ref = heads.Grounding{
			Transform: heads.Transform{Dense: headLinear(p, "final_mlp.0.dense")},
			Cls:       headLinear(p, "final_mlp.2"),
		}
	case TaskPretrain, TaskPretrainMultitask:
		if c.WithRelLoss {
			h.rel = headLinear(p, "vlbert.relationsip_head.caption_image_relationship")
		}
		if c.WithMLMLoss {
			word := pv(p, "vlbert.word_embeddings.weight")
			bias := pv(p, "vlbert.mlm_head.predictions.bias")
			h.mlm = heads.MLM{
				Transform: heads.Transform{Dense: headLinear(p, "vlbert.mlm_head.predictions.transform.dense"),
					LN: headLN(p, "vlbert.mlm_head.predictions.transform.LayerNorm")},
				Decoder: heads.Linear{W: word.w, B: bias.w, GW: word.g, GB: bias.g, In: c.HiddenSize, Out: c.VocabSize},
			}
		}
		if c.WithMVRCLoss {
			h.mvrc = heads.MVRC{
				Transform: heads.Transform{Dense: headLinear(p, "vlbert.mvrc_head.transform.dense")},
				Cls:       headLinear(p, "vlbert.mvrc_head.region_cls_pred"),
			}
		}
	}
	return h
}
