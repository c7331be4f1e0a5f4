// Package model is VL-BERT's network in the llm.c style: one flat parameter arena and
// one gradient arena with named views (the original PyTorch state_dict keys without
// "module."), explicit forward and backward passes, and an activation arena sized from
// the batch shape and reused across steps.
//
// It covers the visual path of FastRCNN after the CNN (box geometry embedding and
// obj_downsample, fed with precomputed bottom-up features or with RoI-head features
// from package visual) and VisualLinguisticBert (embedding with seamless compaction,
// post-LN encoder, pooler): together the Encoder, which every task module shares.
// Each task module of the original is one type embedding it, with its own heads,
// losses, Forward and Backward:
//
//	VQA                vqa/modules/resnet_vlbert_for_vqa.py, ResNetVLBERT (CLASSIFIER_TYPE mlm)
//	Pretrain           pretrain/modules/resnet_vlbert_for_pretraining.py, ResNetVLBERTForPretraining
//	PretrainMultitask  pretrain/modules/resnet_vlbert_for_pretraining_multitask.py, ResNetVLBERTForPretrainingMultitask
//	RefCOCO            refcoco/modules/resnet_vlbert_for_refcoco.py, ResNetVLBERT
//	VCR                vcr/modules/resnet_vlbert_for_vcr.py, ResNetVLBERT
//
// New(cfg) builds the module of cfg.Task (the only place that asks which task a
// config is, through the table in task.go) and returns it as a Module; NewVQA and
// the other typed constructors return the concrete type. Code that treats every
// task alike (optimizers, checkpoints, int8, inference replicas) works on
// Module.Base(), the *Encoder (also named Model). The text rows of each task are
// built by data.RowBuffers; encoderInput turns the visual outputs into the encoder's
// input for every task. The heads' layer math lives in package heads.
//
// A training step:
//
//	m, _ := model.NewVQA(cfg)               // or model.New(cfg) for any task
//	_ = m.LoadCheckpoint(path)              // or m.InitWeights(seed)
//	m.Train, m.Seed = true, runSeed
//	for step := ... {
//		m.Step = uint64(step)               // dropout masks are a function of (Seed, Step, site)
//		m.ZeroGrad()                        // or once per accumulation window
//		out, err := m.Forward(batch)        // a *VQABatch; each module takes its own batch type
//		m.Backward(1 / float32(accum))      // d(total loss); gradients accumulate
//		optimizer.Step(m.Params.Data, m.Params.Grad)   // one flat slice each
//	}
//
// Params.List gives each tensor's name, shape and offset in the original module's
// named_parameters() order (the index order of the original optimizer state); the tied
// MLM decoder is an Alias of the word embeddings, not a separate tensor.
//
// Shape letters: B batch, Lt text length, Lo object (box) slots, L concatenated sequence
// length (max_b(n_text+n_obj)+1), H hidden, V visual size (== H), NH heads, I intermediate,
// A answers, W vocabulary, R region classes.
//
// Buffers: gradients accumulate (+=) across Backward calls until ZeroGrad; every
// activation and output slice returned by a Forward is a view into the model's
// activation arena and is overwritten by the next Forward. After the batch shape stops
// growing, Forward and Backward allocate nothing themselves. A Model is not safe for
// concurrent use.
package model
